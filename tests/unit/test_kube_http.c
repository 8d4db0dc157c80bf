/* kube/http.c + auth.c + client.c against a real kubesim over TLS:
 * version and discovery, Retry-After, 401 → token file re-read and one
 * retry, exec plugins (good and failing), wrong CA refused, insecure mode,
 * cancel and close leave no handle behind (uv_loop_close == 0). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <uv.h>

#include "metrics/metrics.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "kubesim_proc.h"
#include "util/clock.h"

static struct ksproc ks;

static void setup(void)
{
    static const char *const extra[] = {"--generate-pvs", "3", NULL};
    ksproc_start(&ks, extra);
}

static void teardown(void)
{
    ksproc_stop(&ks);
}

struct env {
    uv_loop_t loop;
    struct kube_config cfg;
    struct kube_client *c;
    struct metrics *m;
    int closed;
};

static void env_open(struct env *e, const char *kubeconfig)
{
    memset(e, 0, sizeof(*e));
    ck_assert_int_eq(uv_loop_init(&e->loop), 0);
    struct kube_config_err err;
    ck_assert_int_eq(kube_config_load_file(kubeconfig, NULL, &e->cfg, &err), 0);
    e->m = metrics_new();
    char msg[256];
    ck_assert_int_eq(kube_client_new(&e->loop, &e->cfg, e->m, &e->c, msg, sizeof(msg)), 0);
}

static void on_closed(void *d)
{
    ((struct env *)d)->closed++;
}

static void env_close(struct env *e)
{
    kube_client_close(e->c, on_closed, e);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(e->closed, 1);
    ck_assert_int_eq(uv_loop_close(&e->loop), 0);
    metrics_free(e->m);
    kube_config_clear(&e->cfg);
}

struct answer {
    int n;
    struct kube_status st;
    char body[4096];
    char version[64];
    bool served;
};

static void on_resp(void *d, const struct kube_status *st, const char *body, size_t len)
{
    struct answer *a = d;
    a->n++;
    a->st = *st;
    snprintf(a->body, sizeof(a->body), "%s", body ? body : "");
}

static void on_version(void *d, const struct kube_status *st, const char *gv)
{
    struct answer *a = d;
    a->n++;
    a->st = *st;
    snprintf(a->version, sizeof(a->version), "%s", gv ? gv : "");
}

static void on_served(void *d, const struct kube_status *st, bool served)
{
    struct answer *a = d;
    a->n++;
    a->st = *st;
    a->served = served;
}

static double counter(struct env *e, const char *verb, const char *code)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(metrics_render(e->m, false, &b), 0);
    char needle[128];
    snprintf(needle, sizeof(needle), "aks_backup_apiserver_requests_total{verb=\"%s\",code=\"%s\"} ", verb, code);
    const char *p = strstr(b.data, needle);
    double v = p ? strtod(p + strlen(needle), NULL) : 0;
    buf_free(&b);
    return v;
}

START_TEST(version_and_discovery)
{
    struct env e;
    env_open(&e, ks.kubeconfig);
    ck_assert_int_eq(kube_client_last_success_ms(e.c), 0);
    struct answer a = {0}, s1 = {0}, s2 = {0};
    ck_assert_int_eq(kube_get_version(e.c, on_version, &a), 0);
    ck_assert_int_eq(kube_group_served(e.c, "snapshot.storage.k8s.io", "v1", on_served, &s1), 0);
    ck_assert_int_eq(kube_group_served(e.c, "nope.example.com", "v1", on_served, &s2), 0);
    ck_assert_int_eq(a.n, 0); /* never before return */
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.n, 1);
    ck_assert_int_eq(a.st.err, 0);
    ck_assert_msg(a.st.http == 200, "http %ld err %d %s", a.st.http, a.st.err, a.st.reason);
    ck_assert_msg(a.version[0] == 'v', "gitVersion %s", a.version);
    ck_assert(s1.served);
    ck_assert(!s2.served);
    ck_assert_int_eq(s2.st.http, 404);
    int64_t last = kube_client_last_success_ms(e.c);
    ck_assert(last > 0 && last <= clock_mono_ms());
    ck_assert(counter(&e, "get", "200") == 3 - 1); /* /version and one served group */
    ck_assert(counter(&e, "get", "404") == 1);
    /* no gitVersion: major/minor stand in ("v1.22+"); neither: an error */
    ck_assert_int_eq(ksproc_control(&ks, "/version", "{\"major\":\"1\",\"minor\":\"22+\"}", NULL, 0),
                     200);
    struct answer b = {0};
    ck_assert_int_eq(kube_get_version(e.c, on_version, &b), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(b.st.err, 0);
    ck_assert_str_eq(b.version, "v1.22+");
    ck_assert_int_eq(ksproc_control(&ks, "/version", "{\"platform\":\"linux/amd64\"}", NULL, 0), 200);
    struct answer c = {0};
    ck_assert_int_eq(kube_get_version(e.c, on_version, &c), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(c.st.err, -EBADMSG);
    ck_assert_str_eq(c.version, "");
    ck_assert_int_eq(ksproc_control(&ks, "/version",
                                    "{\"major\":\"1\",\"minor\":\"30\",\"gitVersion\":\"v1.30.6\"}",
                                    NULL, 0),
                     200);
    env_close(&e);
}
END_TEST

START_TEST(retry_after_and_error_body)
{
    struct env e;
    env_open(&e, ks.kubeconfig);
    ck_assert_int_eq(ksproc_control(&ks, "/fail", "{\"count\":1,\"code\":429,\"retry_after\":7}", NULL, 0), 200);
    struct answer a = {0};
    ck_assert_int_eq(kube_request(e.c, "GET", "/api/v1/nodes", NULL, NULL, 0, on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.n, 1);
    ck_assert_int_eq(a.st.err, 0);
    ck_assert_int_eq(a.st.http, 429);
    ck_assert_int_eq(a.st.retry_after, 7);
    ck_assert_ptr_nonnull(strstr(a.body, "Status")); /* error bodies reach buffered callers */
    ck_assert(counter(&e, "get", "429") == 1);
    /* a write: POST a ConfigMap, then a conflict */
    const char *cm = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\",\"namespace\":\"default\"},\"data\":{\"a\":\"b\"}}";
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(kube_request(e.c, "POST", "/api/v1/namespaces/default/configmaps", "application/json", cm,
                                  strlen(cm), on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.st.http, 201);
    ck_assert_ptr_nonnull(strstr(a.body, "resourceVersion"));
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(kube_request(e.c, "POST", "/api/v1/namespaces/default/configmaps", "application/json", cm,
                                  strlen(cm), on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.st.http, 409);
    ck_assert(counter(&e, "create", "201") == 1);
    ck_assert(counter(&e, "create", "409") == 1);
    env_close(&e);
}
END_TEST

START_TEST(token_file_401_retry)
{
    char tok[300];
    snprintf(tok, sizeof(tok), "%s/token", ks.dir);
    ksproc_write(tok, "wrong\n");
    char user[400];
    snprintf(user, sizeof(user), "    tokenFile: %s\n", tok);
    struct env e;
    env_open(&e, ksproc_kubeconfig(&ks, "kc-tf", NULL, user, 1));
    struct answer a = {0};
    ck_assert_int_eq(kube_request(e.c, "GET", "/api/v1/nodes", NULL, NULL, 0, on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.st.http, 401);
    ck_assert(counter(&e, "get", "401") == 2); /* the request and its one retry */
    /* rotate the file: the next 401 re-reads it and the retry succeeds */
    ksproc_write(tok, "t0\n");
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(kube_request(e.c, "GET", "/api/v1/nodes", NULL, NULL, 0, on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_msg(a.st.http == 200, "http %ld err %d %s", a.st.http, a.st.err, a.st.reason);
    ck_assert(counter(&e, "get", "200") == 1);
    /* the server rotates to a new token; the file follows */
    ck_assert_int_eq(ksproc_control(&ks, "/tokens", "{\"valid\":[\"t1\"]}", NULL, 0), 200);
    ksproc_write(tok, "t1\n");
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(kube_request(e.c, "GET", "/api/v1/nodes", NULL, NULL, 0, on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_msg(a.st.http == 200, "http %ld err %d %s", a.st.http, a.st.err, a.st.reason);
    ck_assert(counter(&e, "get", "401") == 4);
    env_close(&e);
}
END_TEST

START_TEST(exec_plugin)
{
    char script[300], bad[300], count[300];
    snprintf(script, sizeof(script), "%s/cred.sh", ks.dir);
    snprintf(bad, sizeof(bad), "%s/bad.sh", ks.dir);
    snprintf(count, sizeof(count), "%s/runs", ks.dir);
    char text[1200];
    snprintf(text, sizeof(text),
             "#!/bin/sh\necho run >> %s\n"
             "[ \"$MYVAR\" = hello ] || { echo 'MYVAR missing' >&2; exit 1; }\n"
             "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
             "\"status\":{\"token\":\"'$1'\",\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}'\n",
             count);
    ksproc_write(script, text);
    ksproc_write(bad, "#!/bin/sh\necho 'login required: run az login' >&2\nexit 3\n");
    chmod(script, 0755);
    chmod(bad, 0755);
    char user[800];
    snprintf(user, sizeof(user),
             "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: %s\n"
             "      args: [t0]\n      env:\n      - name: MYVAR\n        value: hello\n",
             script);
    struct env e;
    env_open(&e, ksproc_kubeconfig(&ks, "kc-exec", NULL, user, 1));
    struct answer a = {0}, b = {0};
    /* two requests wait for one plugin run */
    ck_assert_int_eq(kube_request(e.c, "GET", "/api/v1/nodes", NULL, NULL, 0, on_resp, &a), 0);
    ck_assert_int_eq(kube_request(e.c, "GET", "/api/v1/pods", NULL, NULL, 0, on_resp, &b), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_msg(a.st.http == 200, "http %ld err %d %s", a.st.http, a.st.err, a.st.reason);
    ck_assert_int_eq(b.st.http, 200);
    /* cached: a third request does not run it again */
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(kube_request(e.c, "GET", "/api/v1/nodes", NULL, NULL, 0, on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_msg(a.st.http == 200, "http %ld err %d %s", a.st.http, a.st.err, a.st.reason);
    FILE *f = fopen(count, "r");
    ck_assert_ptr_nonnull(f);
    int runs = 0;
    char line[32];
    while (fgets(line, sizeof(line), f))
        runs++;
    fclose(f);
    ck_assert_int_eq(runs, 1);
    env_close(&e);

    snprintf(user, sizeof(user),
             "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: %s\n", bad);
    env_open(&e, ksproc_kubeconfig(&ks, "kc-bad", NULL, user, 1));
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(kube_request(e.c, "GET", "/api/v1/nodes", NULL, NULL, 0, on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.n, 1);
    ck_assert_int_ne(a.st.err, 0);
    ck_assert_int_eq(a.st.http, 0);
    env_close(&e);
    /* a command that does not exist fails at once */
    snprintf(user, sizeof(user),
             "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /nonexistent/kubelogin\n"
             "      installHint: install kubelogin\n");
    env_open(&e, ksproc_kubeconfig(&ks, "kc-missing", NULL, user, 1));
    ck_assert_int_eq(kube_request(e.c, "GET", "/api/v1/nodes", NULL, NULL, 0, on_resp, &a), -ENOENT);
    env_close(&e);
}
END_TEST

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = 0;
    char line[64];
    while (fgets(line, sizeof(line), f))
        n++;
    fclose(f);
    return n;
}

START_TEST(exec_token_refreshed_before_expiry)
{
    char script[300], count[300], text[1200], user[600];
    snprintf(script, sizeof(script), "%s/short.sh", ks.dir);
    snprintf(count, sizeof(count), "%s/short-runs", ks.dir);
    /* a token that expires in 20 s: inside the refresh margin, so every
     * request runs the plugin again */
    snprintf(text, sizeof(text),
             "#!/bin/sh\necho run >> %s\nexp=$(date -u -d '+20 seconds' +%%Y-%%m-%%dT%%H:%%M:%%SZ)\n"
             "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
             "\"status\":{\"token\":\"t0\",\"expirationTimestamp\":\"'$exp'\"}}'\n",
             count);
    ksproc_write(script, text);
    chmod(script, 0755);
    snprintf(user, sizeof(user),
             "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: %s\n", script);
    struct env e;
    env_open(&e, ksproc_kubeconfig(&ks, "kc-short", NULL, user, 1));
    for (int i = 0; i < 2; i++) {
        struct answer a = {0};
        ck_assert_int_eq(kube_request(e.c, "GET", "/api/v1/nodes", NULL, NULL, 0, on_resp, &a), 0);
        uv_run(&e.loop, UV_RUN_DEFAULT);
        ck_assert_msg(a.st.http == 200, "http %ld err %d %s", a.st.http, a.st.err, a.st.reason);
    }
    ck_assert_int_eq(count_lines(count), 2);
    env_close(&e);
}
END_TEST

START_TEST(tls_wrong_ca_and_insecure)
{
    /* a CA that did not sign the server certificate: the system store */
    struct env e;
    env_open(&e, ksproc_kubeconfig(&ks, "kc-noca", NULL, "    token: t0\n", 0));
    struct answer a = {0};
    ck_assert_int_eq(kube_request(e.c, "GET", "/version", NULL, NULL, 0, on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.st.err, -EPROTO);
    ck_assert_int_eq(a.st.http, 0);
    ck_assert(a.st.reason[0] != '\0');
    ck_assert(counter(&e, "get", "error") == 1);
    ck_assert_int_eq(kube_client_last_success_ms(e.c), 0);
    env_close(&e);
    env_open(&e, ksproc_kubeconfig(&ks, "kc-insecure", "    insecure-skip-tls-verify: true\n", "    token: t0\n", 0));
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(kube_request(e.c, "GET", "/version", NULL, NULL, 0, on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.st.err, 0);
    ck_assert_msg(a.st.http == 200, "http %ld err %d %s", a.st.http, a.st.err, a.st.reason);
    env_close(&e);
    /* tls-server-name: the certificate is checked against that name */
    env_open(&e, ksproc_kubeconfig(&ks, "kc-sni", "    tls-server-name: wrong.example.com\n", "    token: t0\n", 1));
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(kube_request(e.c, "GET", "/version", NULL, NULL, 0, on_resp, &a), 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.st.err, -EPROTO);
    env_close(&e);
}
END_TEST

struct streamctx {
    struct env *e;
    struct kube_ccall *call;
    uv_timer_t t;
    size_t bytes;
    int done;
    int64_t success_age_ms; /* now - last success, seen while the watch is open */
};

static int on_chunk(void *d, const char *p, size_t n)
{
    ((struct streamctx *)d)->bytes += n;
    return 0;
}

static void on_done(void *d, const struct kube_status *st)
{
    ((struct streamctx *)d)->done++;
}

static void on_cancel_timer(uv_timer_t *t)
{
    struct streamctx *s = t->data;
    s->success_age_ms = clock_mono_ms() - kube_client_last_success_ms(s->e->c);
    kube_client_cancel(s->call);
    uv_close((uv_handle_t *)t, NULL);
}

START_TEST(watch_cancel_and_close)
{
    struct env e;
    env_open(&e, ks.kubeconfig);
    struct streamctx s = {.e = &e};
    struct kube_req req = {.method = "GET", .path = "/api/v1/persistentvolumes?watch=true&allowWatchBookmarks=true",
                           .verb = "watch", .watch = true};
    ck_assert_int_eq(kube_client_start(e.c, &req, on_chunk, on_done, &s, &s.call), 0);
    uv_timer_init(&e.loop, &s.t);
    s.t.data = &s;
    uv_timer_start(&s.t, on_cancel_timer, 1500, 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(s.done, 0);   /* cancelled: no callback */
    ck_assert_uint_gt(s.bytes, 0); /* initial ADDED events arrived */
    /* a quiet open watch counts as a live API connection (readiness) */
    ck_assert_msg(s.success_age_ms < 200, "last success %lld ms ago", (long long)s.success_age_ms);
    ck_assert_int_gt(clock_mono_ms() - kube_client_last_success_ms(e.c), 0);
    /* a watch in flight when the client closes */
    struct streamctx s2 = {.e = &e};
    ck_assert_int_eq(kube_client_start(e.c, &req, on_chunk, on_done, &s2, &s2.call), 0);
    uv_run(&e.loop, UV_RUN_NOWAIT);
    env_close(&e);
    ck_assert_int_eq(s2.done, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kube_http");
    TCase *tc = tcase_create("kubesim");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, version_and_discovery);
    tcase_add_test(tc, retry_after_and_error_body);
    tcase_add_test(tc, token_file_401_retry);
    tcase_add_test(tc, exec_plugin);
    tcase_add_test(tc, exec_token_refreshed_before_expiry);
    tcase_add_test(tc, tls_wrong_ca_and_insecure);
    tcase_add_test(tc, watch_cancel_and_close);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
