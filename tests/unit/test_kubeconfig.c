/* kubeconfig.c: good files (token, tokenFile, cert data and paths, exec,
 * explicit context), in-cluster, the resolution order, and bad files with
 * the exact line:col of what is wrong. */
#include <check.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/auth.h"
#include "kube/clientcert.h"
#include "kube/kubeconfig.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/abc-kc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* "-----BEGIN CERTIFICATE-----\nabc\n" */
#define PEM_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmFiYwo="
#define PEM_TXT "-----BEGIN CERTIFICATE-----\nabc\n"

START_TEST(token_and_ca_data)
{
    const char *p = write_file("config",
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- name: other\n"
        "  cluster:\n"
        "    server: https://other:1\n"
        "- name: c1\n"
        "  cluster:\n"
        "    server: https://127.0.0.1:6443/\n"
        "    certificate-authority-data: " PEM_B64 "\n"
        "    tls-server-name: kubernetes\n"
        "users:\n"
        "- name: u1\n"
        "  user:\n"
        "    token: s3cret\n"
        "contexts:\n"
        "- name: ctx\n"
        "  context: {cluster: c1, user: u1, namespace: team-a}\n"
        "current-context: ctx\n");
    struct kube_config c;
    struct kube_config_err e;
    ck_assert_int_eq(kube_config_load_file(p, NULL, &c, &e), 0);
    ck_assert_str_eq(c.server, "https://127.0.0.1:6443");
    ck_assert_str_eq(c.token, "s3cret");
    ck_assert_str_eq(c.ca_pem, PEM_TXT);
    ck_assert_uint_eq(c.ca_len, strlen(PEM_TXT));
    ck_assert_str_eq(c.tls_server_name, "kubernetes");
    ck_assert_str_eq(c.namespace_, "team-a");
    ck_assert_str_eq(c.context, "ctx");
    ck_assert_str_eq(c.source, p);
    ck_assert(!c.insecure);
    ck_assert_ptr_null(c.exec);
    ck_assert_ptr_null(c.token_file);
    kube_config_clear(&c);
}
END_TEST

START_TEST(token_file_certs_paths_and_context)
{
    write_file("ca.crt", PEM_TXT);
    write_file("client.crt", "CERT\n");
    write_file("client.key", "KEY\n");
    const char *p = write_file("config",
        "clusters:\n"
        "- name: c1\n"
        "  cluster:\n"
        "    server: https://a:1\n"
        "    certificate-authority: ca.crt\n"
        "    insecure-skip-tls-verify: true\n"
        "users:\n"
        "- name: u1\n"
        "  user:\n"
        "    tokenFile: tok\n"
        "- name: u2\n"
        "  user:\n"
        "    client-certificate: client.crt\n"
        "    client-key-data: S0VZCg==\n"
        "contexts:\n"
        "- name: one\n"
        "  context: {cluster: c1, user: u1}\n"
        "- name: two\n"
        "  context: {cluster: c1, user: u2}\n"
        "current-context: one\n");
    struct kube_config c;
    struct kube_config_err e;
    ck_assert_int_eq(kube_config_load_file(p, NULL, &c, &e), 0);
    char want[512];
    snprintf(want, sizeof(want), "%s/tok", dir);
    ck_assert_str_eq(c.token_file, want);
    ck_assert_str_eq(c.ca_pem, PEM_TXT);
    ck_assert(c.insecure);
    ck_assert_ptr_null(c.token);
    ck_assert_ptr_null(c.namespace_);
    kube_config_clear(&c);
    ck_assert_int_eq(kube_config_load_file(p, "two", &c, &e), 0);
    ck_assert_str_eq(c.cert_pem, "CERT\n");
    ck_assert_str_eq(c.key_pem, "KEY\n");
    ck_assert_uint_eq(c.key_len, 4);
    ck_assert_str_eq(c.context, "two");
    snprintf(want, sizeof(want), "%s/client.crt", dir);
    ck_assert_str_eq(c.cert_source, want);
    kube_config_clear(&c);
}
END_TEST

/* Self-signed, valid from 2026-12-07T16:20:02Z (1796660402) for 30 days. */
static const char CERT_30D[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBjDCCATOgAwIBAgIUdo8cNmQfSYiF/npg2vdtqxAs/R0wCgYIKoZIzj0EAwIw\n"
    "HDELMAkGA1UECgwCZzExDTALBgNVBAMMBHVuaXQwHhcNMjYxMjA3MTYyMDAyWhcN\n"
    "MjcwMTA2MTYyMDAyWjAcMQswCQYDVQQKDAJnMTENMAsGA1UEAwwEdW5pdDBZMBMG\n"
    "ByqGSM49AgEGCCqGSM49AwEHA0IABHnwG7walFe7FeR+8HVVnXhBm3MBiP4JvifN\n"
    "U2gTLYWvI+uRxqkMxizt/eH0O2YEACeJp0RNFLbs7dTrV3Xx5/GjUzBRMB0GA1Ud\n"
    "DgQWBBQOndHZF4upwnM6SeXn05TMKujqSjAfBgNVHSMEGDAWgBQOndHZF4upwnM6\n"
    "SeXn05TMKujqSjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIE0U\n"
    "82gaIKpbYUlsc/lI53PvjVx5iUDjZjt5ROx/vSY2AiAR789mOEjDoQ/kisIs6p0N\n"
    "R71SYoksHfkqJB9Kn51BAA==\n"
    "-----END CERTIFICATE-----\n";

/* clientcert.c: the certificate's validity window, checked before use, the
 * message naming where it came from. */
START_TEST(client_cert_validity)
{
    write_file("client.crt", CERT_30D);
    write_file("client.key", "KEY\n");
    const char *p = write_file("config",
        "clusters:\n- name: c1\n  cluster:\n    server: https://a:1\n"
        "users:\n- name: u1\n  user:\n    client-certificate: client.crt\n    client-key: client.key\n"
        "contexts:\n- name: one\n  context: {cluster: c1, user: u1}\ncurrent-context: one\n");
    struct kube_config c;
    struct kube_config_err e;
    char msg[1024] = "", want[512];
    ck_assert_int_eq(kube_config_load_file(p, NULL, &c, &e), 0);
    snprintf(want, sizeof(want), "%s/client.crt", dir);
    const int64_t nb = 1796660402, na = nb + 30 * 86400;
    ck_assert_int_eq(kube_client_cert_check(&c, nb + 10, msg, sizeof(msg)), 0);
    ck_assert_int_eq(kube_client_cert_check(&c, na, msg, sizeof(msg)), 0);
    ck_assert_int_eq(kube_client_cert_check(&c, na + 1, msg, sizeof(msg)), -EKEYEXPIRED);
    ck_assert_msg(strstr(msg, want) && strstr(msg, "expired at 2027-01-06T16:20:02Z"), "%s", msg);
    ck_assert_int_eq(kube_client_cert_check(&c, nb - 1, msg, sizeof(msg)), -EAGAIN);
    ck_assert_msg(strstr(msg, want) && strstr(msg, "not valid before 2026-12-07T16:20:02Z"), "%s", msg);
    kube_config_clear(&c);
    /* inline data: named by the kubeconfig and the user */
    p = write_file("config2",
        "clusters:\n- name: c1\n  cluster:\n    server: https://a:1\n"
        "users:\n- name: u1\n  user:\n    client-certificate-data: Tk9QRQo=\n    client-key-data: S0VZCg==\n"
        "contexts:\n- name: one\n  context: {cluster: c1, user: u1}\ncurrent-context: one\n");
    ck_assert_int_eq(kube_config_load_file(p, NULL, &c, &e), 0);
    ck_assert_int_eq(kube_client_cert_check(&c, nb, msg, sizeof(msg)), -EINVAL);
    ck_assert_msg(strstr(msg, "config2 (user u1, client-certificate-data): not a PEM X.509 certificate"), "%s",
                  msg);
    kube_config_clear(&c);
    /* no certificate: nothing to check */
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(kube_client_cert_check(&c, nb, msg, sizeof(msg)), 0);
}
END_TEST

/* kube/auth.c with a token file: cached for the TTL, re-read after a 401
 * (invalidate), the old token kept when a re-read fails, and a failed
 * re-read not retried on every request (it logs each time). */
START_TEST(token_file_reread)
{
    const char *tok = write_file("tok", "one\n");
    char path[512];
    snprintf(path, sizeof(path), "%s", tok);
    struct kube_config c;
    memset(&c, 0, sizeof(c));
    c.token_file = path;
    struct kube_auth *a;
    ck_assert_int_eq(kube_auth_new(NULL, &c, &a), 0);
    struct kube_auth_wait w;
    const char *t = NULL;
    ck_assert_int_eq(kube_auth_get(a, &w, NULL, NULL, &t), 0);
    ck_assert_str_eq(t, "one");
    write_file("tok", "two\n");
    ck_assert_int_eq(kube_auth_get(a, &w, NULL, NULL, &t), 0);
    ck_assert_str_eq(t, "one"); /* cached within the TTL */
    ck_assert(kube_auth_invalidate(a));
    ck_assert_int_eq(kube_auth_get(a, &w, NULL, NULL, &t), 0);
    ck_assert_str_eq(t, "two");
    ck_assert_int_eq(unlink(path), 0);
    ck_assert(kube_auth_invalidate(a));
    ck_assert_int_eq(kube_auth_get(a, &w, NULL, NULL, &t), 0);
    ck_assert_str_eq(t, "two"); /* re-read failed: old token kept */
    write_file("tok", "three\n");
    ck_assert_int_eq(kube_auth_get(a, &w, NULL, NULL, &t), 0);
    ck_assert_str_eq(t, "two"); /* no new attempt until the TTL or a 401 */
    ck_assert(kube_auth_invalidate(a));
    ck_assert_int_eq(kube_auth_get(a, &w, NULL, NULL, &t), 0);
    ck_assert_str_eq(t, "three");
    kube_auth_free(a);
}
END_TEST

/* Waiters of one plugin run: a callback may cancel a waiter not called
 * yet (its request is freed) or free the auth; neither is called after. */
struct waiter_fx;
struct waiter_ctx {
    struct waiter_fx *fx;
    int i;
};
struct waiter_fx {
    struct kube_auth *a;
    struct kube_auth_wait w[3];
    struct waiter_ctx ctx[3];
    int calls[3];
    char token[3][32];
    int cancel_idx;  /* waiter the first callback cancels, or -1 */
    bool free_auth;  /* the first callback frees the auth */
};

static void waiter_cb(void *data, int err, const char *token)
{
    struct waiter_ctx *wc = data;
    struct waiter_fx *fx = wc->fx;
    ck_assert_int_eq(err, 0);
    fx->calls[wc->i]++;
    snprintf(fx->token[wc->i], sizeof(fx->token[0]), "%s", token ? token : "");
    if (fx->cancel_idx >= 0) {
        kube_auth_cancel(fx->a, &fx->w[fx->cancel_idx]);
        memset(&fx->w[fx->cancel_idx], 0xa5, sizeof(fx->w[0])); /* as if freed */
        fx->cancel_idx = -1;
    }
    if (fx->free_auth) {
        kube_auth_free(fx->a);
        fx->free_auth = false;
    }
}

static void run_waiters(struct waiter_fx *fx, const struct kube_config *c)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(kube_auth_new(&loop, c, &fx->a), 0);
    for (int i = 0; i < 3; i++) {
        const char *t = NULL;
        fx->ctx[i] = (struct waiter_ctx){fx, i};
        ck_assert_int_eq(kube_auth_get(fx->a, &fx->w[i], waiter_cb, &fx->ctx[i], &t), -EINPROGRESS);
    }
    bool will_free = fx->free_auth;
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    if (!will_free)
        kube_auth_free(fx->a);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(exec_waiters_cancel_during_notify)
{
    const char *script = write_file("plugin.sh",
        "#!/bin/sh\n"
        "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"token\":\"tok-1\"}}'\n");
    ck_assert_int_eq(chmod(script, 0700), 0);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "%s", script);
    struct kube_exec ex = {.command = cmd, .api_version = "client.authentication.k8s.io/v1"};
    struct kube_config c;
    memset(&c, 0, sizeof(c));
    c.exec = &ex;

    /* Waiters are called newest first (w[2], w[1], w[0]); w[2]'s callback
     * cancels w[0], which must then not be called. */
    struct waiter_fx fx;
    memset(&fx, 0, sizeof(fx));
    fx.cancel_idx = 0;
    run_waiters(&fx, &c);
    ck_assert_int_eq(fx.calls[2], 1);
    ck_assert_int_eq(fx.calls[1], 1);
    ck_assert_int_eq(fx.calls[0], 0);
    ck_assert_str_eq(fx.token[1], "tok-1");

    /* The first callback frees the auth: nobody else is called. */
    memset(&fx, 0, sizeof(fx));
    fx.cancel_idx = -1;
    fx.free_auth = true;
    run_waiters(&fx, &c);
    ck_assert_int_eq(fx.calls[2] + fx.calls[1] + fx.calls[0], 1);
}
END_TEST

START_TEST(exec_plugin)
{
    const char *p = write_file("config",
        "clusters:\n"
        "- name: c1\n"
        "  cluster: {server: 'https://a:1'}\n"
        "users:\n"
        "- name: u1\n"
        "  user:\n"
        "    exec:\n"
        "      apiVersion: client.authentication.k8s.io/v1\n"
        "      command: kubelogin\n"
        "      args: [get-token, --login, azurecli]\n"
        "      env:\n"
        "      - name: AAD_LOGIN_METHOD\n"
        "        value: azurecli\n"
        "      installHint: install kubelogin\n"
        "      interactiveMode: Never\n"
        "contexts:\n"
        "- name: x\n"
        "  context: {cluster: c1, user: u1}\n"
        "current-context: x\n");
    struct kube_config c;
    struct kube_config_err e;
    ck_assert_int_eq(kube_config_load_file(p, NULL, &c, &e), 0);
    ck_assert_ptr_nonnull(c.exec);
    ck_assert_str_eq(c.exec->command, "kubelogin");
    ck_assert_uint_eq(c.exec->nargs, 3);
    ck_assert_str_eq(c.exec->args[2], "azurecli");
    ck_assert_uint_eq(c.exec->nenv, 1);
    ck_assert_str_eq(c.exec->env[0], "AAD_LOGIN_METHOD=azurecli");
    ck_assert_str_eq(c.exec->install_hint, "install kubelogin");
    ck_assert_str_eq(c.exec->api_version, "client.authentication.k8s.io/v1");
    kube_config_clear(&c);
}
END_TEST

struct bad_case {
    const char *text;
    const char *context;
    int line, col;
    const char *msg_part;
};

static const struct bad_case bad[] = {
    /* 0: YAML syntax */
    {"clusters:\n- name: c1\n  cluster: {server: https://a:1\n", NULL, 4, 1, "invalid YAML"},
    /* 1: no current-context */
    {"clusters: []\n", NULL, 1, 1, "current-context is not set"},
    /* 2: unknown context: points at the current-context value */
    {"contexts: []\ncurrent-context: nope\n", NULL, 2, 18, "context \"nope\" not found"},
    /* 3: cluster reference not found: points at the context's cluster value */
    {"contexts:\n- name: x\n  context:\n    cluster: missing\ncurrent-context: x\n", NULL, 4, 14,
     "cluster \"missing\" not found"},
    /* 4: server missing */
    {"clusters:\n- name: c\n  cluster:\n    insecure-skip-tls-verify: false\n"
     "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n", NULL, 4, 5,
     "server is missing"},
    /* 5: bad base64 */
    {"clusters:\n- name: c\n  cluster:\n    server: https://a\n    certificate-authority-data: '!!notb64'\n"
     "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n", NULL, 5, 33,
     "invalid base64"},
    /* 6: insecure not a boolean */
    {"clusters:\n- name: c\n  cluster:\n    server: https://a\n    insecure-skip-tls-verify: maybe\n"
     "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n", NULL, 5, 31,
     "expected true or false"},
    /* 7: exec with a wrong apiVersion */
    {"clusters:\n- name: c\n  cluster: {server: https://a}\nusers:\n- name: u\n  user:\n    exec:\n"
     "      apiVersion: client.authentication.k8s.io/v1alpha1\n      command: x\n"
     "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n", NULL, 8, 19,
     "exec.apiVersion"},
    /* 8: server is not a URL */
    {"clusters:\n- name: c\n  cluster: {server: a.example}\n"
     "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n", NULL, 3, 21,
     "http(s)://"},
    /* 9: root not a mapping */
    {"- a\n- b\n", NULL, 1, 1, "expected a mapping"},
    /* 10: explicit context not found */
    {"contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n", "y", 2, 1,
     "context \"y\" not found"},
    /* 11: missing CA file */
    {"clusters:\n- name: c\n  cluster:\n    server: https://a\n    certificate-authority: nofile.crt\n"
     "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n", NULL, 5, 28,
     "cannot read"},
};

START_TEST(bad_files)
{
    const struct bad_case *bc = &bad[_i];
    const char *p = write_file("bad", bc->text);
    char path[512];
    snprintf(path, sizeof(path), "%s", p);
    struct kube_config c;
    struct kube_config_err e;
    ck_assert_int_eq(kube_config_load_file(path, bc->context, &c, &e), -EINVAL);
    ck_assert_str_eq(e.file, path);
    ck_assert_msg(e.line == bc->line && e.col == bc->col, "case %d: got %d:%d (%s), want %d:%d", _i,
                  e.line, e.col, e.msg, bc->line, bc->col);
    ck_assert_msg(strstr(e.msg, bc->msg_part) != NULL, "case %d: %s", _i, e.msg);
    char out[1200], want[600];
    kube_config_err_format(&e, out, sizeof(out));
    snprintf(want, sizeof(want), "%s:%d:%d: ", path, bc->line, bc->col);
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s", out);
    ck_assert_ptr_null(c.server);
}
END_TEST

START_TEST(incluster_and_resolve)
{
    char sa[300];
    snprintf(sa, sizeof(sa), "%s/sa", dir);
    ck_assert_int_eq(mkdir(sa, 0700), 0);
    write_file("sa/token", "tok\n");
    write_file("sa/ca.crt", PEM_TXT);
    write_file("sa/namespace", "ops\n");
    setenv("ABC_SA_DIR", sa, 1);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    struct kube_config c;
    struct kube_config_err e;
    ck_assert_int_eq(kube_config_load_incluster(&c, &e), -ENOENT);
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    ck_assert_int_eq(kube_config_load_incluster(&c, &e), 0);
    ck_assert_str_eq(c.server, "https://10.0.0.1:443");
    ck_assert_str_eq(c.namespace_, "ops");
    ck_assert_str_eq(c.ca_pem, PEM_TXT);
    ck_assert_str_eq(c.source, "in-cluster");
    ck_assert_ptr_nonnull(strstr(c.token_file, "/sa/token"));
    kube_config_clear(&c);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    ck_assert_int_eq(kube_config_load_incluster(&c, &e), 0);
    ck_assert_str_eq(c.server, "https://[fd00::1]:443");
    kube_config_clear(&c);

    /* the flag wins over in-cluster */
    const char *p = write_file("flag", "clusters:\n- name: c\n  cluster: {server: 'http://f:1'}\n"
                                       "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n");
    char flag[512];
    snprintf(flag, sizeof(flag), "%s", p);
    ck_assert_int_eq(kube_config_resolve(flag, NULL, &c, &e), 0);
    ck_assert_str_eq(c.server, "http://f:1");
    kube_config_clear(&c);
    /* in-cluster wins over $KUBECONFIG */
    setenv("KUBECONFIG", flag, 1);
    ck_assert_int_eq(kube_config_resolve(NULL, NULL, &c, &e), 0);
    ck_assert_str_eq(c.source, "in-cluster");
    kube_config_clear(&c);
    /* then $KUBECONFIG (first of a list) */
    unsetenv("KUBERNETES_SERVICE_HOST");
    char list[1100];
    snprintf(list, sizeof(list), "%s:/nonexistent", flag);
    setenv("KUBECONFIG", list, 1);
    ck_assert_int_eq(kube_config_resolve(NULL, NULL, &c, &e), 0);
    ck_assert_str_eq(c.source, flag);
    kube_config_clear(&c);
    /* missing and empty entries are skipped, as kubectl does */
    snprintf(list, sizeof(list), "/nonexistent/a::/nonexistent/b:%s", flag);
    setenv("KUBECONFIG", list, 1);
    ck_assert_int_eq(kube_config_resolve(NULL, NULL, &c, &e), 0);
    ck_assert_str_eq(c.source, flag);
    kube_config_clear(&c);
    /* nothing: -ENOENT naming the places */
    setenv("KUBECONFIG", "/nonexistent/kc:/nonexistent/kc2", 1);
    setenv("HOME", dir, 1);
    ck_assert_int_eq(kube_config_resolve(NULL, NULL, &c, &e), -ENOENT);
    ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/kc:/nonexistent/kc2"));
    ck_assert_ptr_nonnull(strstr(e.msg, "/.kube/config"));
    ck_assert_ptr_nonnull(strstr(e.msg, "in-cluster"));
    /* ~/.kube/config */
    char kd[300];
    snprintf(kd, sizeof(kd), "%s/.kube", dir);
    mkdir(kd, 0700);
    write_file(".kube/config", "clusters:\n- name: c\n  cluster: {server: 'http://home:1'}\n"
                               "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n");
    ck_assert_int_eq(kube_config_resolve(NULL, NULL, &c, &e), 0);
    ck_assert_str_eq(c.server, "http://home:1");
    kube_config_clear(&c);
    /* an explicit --kubeconfig that does not exist is a usage error */
    ck_assert_int_eq(kube_config_resolve("/nonexistent/x", NULL, &c, &e), -EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kubeconfig");
    TCase *tc = tcase_create("good");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, token_and_ca_data);
    tcase_add_test(tc, token_file_certs_paths_and_context);
    tcase_add_test(tc, client_cert_validity);
    tcase_add_test(tc, token_file_reread);
    tcase_add_test(tc, exec_waiters_cancel_during_notify);
    tcase_add_test(tc, exec_plugin);
    tcase_add_test(tc, incluster_and_resolve);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, bad_files, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
