/* Test helper for the kube/ loop tests: starts tests/kubesim (next to the
 * test binary in the build tree, or $KUBESIM_BIN) on free ports with TLS,
 * posts to its control endpoint, and writes kubeconfigs for it. */
#ifndef ABC_TESTS_KUBESIM_PROC_H
#define ABC_TESTS_KUBESIM_PROC_H

#include <check.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct ksproc {
    pid_t pid;
    char dir[128];
    char api[128];
    char control[128];
    char kubeconfig[256]; /* written by kubesim: server, CA data, token t0 */
    char ca[256];         /* CA file */
};

static inline void ksproc_bin(char *out, size_t n)
{
    const char *e = getenv("KUBESIM_BIN");
    if (e && *e) {
        snprintf(out, n, "%s", e);
        return;
    }
    char self[512];
    ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
    ck_assert_int_gt(l, 0);
    self[l] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(out, n, "%s/../kubesim/kubesim", self); /* build/tests/unit -> build/tests/kubesim */
}

/* extra: NULL-terminated extra arguments (may be NULL). */
static inline void ksproc_start(struct ksproc *k, const char *const *extra)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->dir, sizeof(k->dir), "/tmp/abc-kt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(k->dir));
    snprintf(k->kubeconfig, sizeof(k->kubeconfig), "%s/kubeconfig", k->dir);
    snprintf(k->ca, sizeof(k->ca), "%s/tls/ca.crt", k->dir);
    char bin[600], tls[200], log[200];
    ksproc_bin(bin, sizeof(bin));
    snprintf(tls, sizeof(tls), "%s/tls", k->dir);
    snprintf(log, sizeof(log), "%s/kubesim.log", k->dir);
    const char *argv[64] = {bin, "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0", "--tls-dir", tls,
                            "--kubeconfig-out", k->kubeconfig};
    int n = 9;
    for (int i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = posix_spawn(&k->pid, bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    ck_assert_msg(rc == 0, "cannot start %s", bin);
    FILE *f = fdopen(fds[0], "r");
    char line[512] = "";
    ck_assert_msg(fgets(line, sizeof(line), f) != NULL, "kubesim printed nothing (see %s)", log);
    fclose(f);
    char *a = strstr(line, "\"api\":\""), *c = strstr(line, "\"control\":\"");
    ck_assert(a && c);
    a += 7;
    c += 11;
    snprintf(k->api, sizeof(k->api), "%.*s", (int)(strchr(a, '"') - a), a);
    snprintf(k->control, sizeof(k->control), "%.*s", (int)(strchr(c, '"') - c), c);
}

static inline void ksproc_stop(struct ksproc *k)
{
    if (k->pid > 0) {
        kill(k->pid, SIGTERM);
        waitpid(k->pid, NULL, 0);
        k->pid = 0;
    }
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", k->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", k->dir);
}

static size_t ksproc_sink(char *p, size_t s, size_t n, void *u)
{
    struct { char *b; size_t len, cap; } *o = u;
    size_t t = s * n;
    if (o && o->len + t < o->cap) {
        memcpy(o->b + o->len, p, t);
        o->len += t;
        o->b[o->len] = '\0';
    }
    return t;
}

/* Blocking control call (method GET when body is NULL). Returns the HTTP
 * code; the answer goes to out (may be NULL). */
static inline long ksproc_control(struct ksproc *k, const char *path, const char *body, char *out, size_t n)
{
    struct { char *b; size_t len, cap; } o = {out, 0, n};
    if (out && n)
        out[0] = '\0';
    char url[300];
    snprintf(url, sizeof(url), "%s%s", k->control, path);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ksproc_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out ? (void *)&o : NULL);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    long code = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    return code;
}

/* Writes DIR/name as a kubeconfig for this kubesim with the given user
 * block (YAML lines indented by 4, e.g. "    token: t0\n") and cluster
 * extras ("    insecure-skip-tls-verify: true\n"); ca: include the CA. */
static inline const char *ksproc_kubeconfig(struct ksproc *k, const char *name, const char *cluster_extra,
                                            const char *user, int ca)
{
    static char path[300];
    snprintf(path, sizeof(path), "%s/%s", k->dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "clusters:\n- name: c\n  cluster:\n    server: %s\n", k->api);
    if (ca)
        fprintf(f, "    certificate-authority: %s\n", k->ca);
    fputs(cluster_extra ? cluster_extra : "", f);
    fprintf(f, "users:\n- name: u\n  user:\n%s", user && *user ? user : "    {}\n");
    fputs("contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n", f);
    fclose(f);
    return path;
}

static inline void ksproc_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

#endif
