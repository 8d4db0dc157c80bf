/* libFuzzer: the HTTP request path without sockets. The input's first byte
 * holds flags, the rest is newline-separated fields: request target,
 * method, Accept-Encoding, Authorization, Idempotency-Key, then the readyz
 * "only" name and exclude names. Runs the server's path decoding and header
 * helpers, readyz_http and quota_handle_post (the POST reservation logic,
 * with a real token file), then checks the answers' basic invariants. */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health/readyz.h"
#include "http/http_util.h"
#include "metrics/metrics.h"
#include "http/routes_quota.h"
#include "http/server.h"
#include "model/acct.h"
#include "quota/quota.h"
#include "util/buf.h"
#include "util/log.h"

#define TOKEN "fuzz-token-0123456789abcdefghijkl"
#define MAX_FIELDS 12

static char token_path[64];
static struct model_type *src_backup, *src_restore;

static int64_t fixed_now(void)
{
    return 1773500400000LL; /* 2026-03-14T15:00:00Z */
}

static struct model_type *src_type(enum acct_op op)
{
    struct acct_source_opts so = {
        .name = op == ACCT_OP_BACKUP ? "velero-backups" : "velero-restores",
        .operation = op, .group = "velero.io", .version = "v1",
        .resource = op == ACCT_OP_BACKUP ? "backups" : "restores",
        .on_demand = "always", .instance = "constant:default"};
    struct model_type *t = NULL;
    if (acct_type_new(&so, &t, NULL, 0))
        abort();
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_setup(LOG_ERROR, LOG_FORMAT_TEXT); /* quiet: logging is not under test */
    snprintf(token_path, sizeof(token_path), "/tmp/fuzz_http_token_XXXXXX");
    int fd = mkstemp(token_path);
    if (fd < 0)
        abort();
    const char tok[] = "  " TOKEN "\n";
    if (write(fd, tok, sizeof(tok) - 1) != (ssize_t)(sizeof(tok) - 1))
        abort();
    close(fd);
    src_backup = src_type(ACCT_OP_BACKUP);
    src_restore = src_type(ACCT_OP_RESTORE);
    return 0;
}

static bool check_cb(void *data, char *reason, size_t reason_len)
{
    const char *name = data;
    if (name[0] == 'f') {
        snprintf(reason, reason_len, "%s is failing for a long, long reason that is cut %0200d", name,
                 0);
        return false;
    }
    return true;
}

static void run_readyz(unsigned flags, char **f, size_t nf)
{
    static const char *const names[] = {"synced", "apiserver", "extension", "failing"};
    struct readyz *r = readyz_new();
    if (!r)
        return;
    size_t nreg = 1 + (flags >> 5) % 4;
    for (size_t i = 0; i < nreg; i++)
        if (readyz_register(r, names[i], check_cb, (void *)names[i]))
            abort();
    const char *only = nf > 5 && (flags & 4) ? f[5] : NULL;
    const char *ex[MAX_FIELDS];
    size_t nex = 0;
    for (size_t i = 6; i < nf; i++)
        ex[nex++] = f[i];
    struct buf out;
    buf_init(&out, 0);
    int code = readyz_http(r, only, ex, nex, flags & 8, &out);
    if (code != 200 && code != 503 && code != 404)
        __builtin_trap();
    /* kube-apiserver's bodies: "ok"; verbose lines ending "readyz check
     * passed/failed"; for one check "[-]name failed: reason". */
    const char *body = out.data ? out.data : "";
    bool verbose = flags & 8;
    if (code == 200 && strcmp(body, "ok") != 0 &&
        (only || !verbose || !strstr(body, "readyz check passed\n")))
        __builtin_trap();
    if (code == 503 && (only ? strncmp(body, "[-]", 3) != 0 : !strstr(body, "readyz check failed\n")))
        __builtin_trap();
    buf_free(&out);
    readyz_free(r);
}

static void post(struct quota *q, const char *path, const char *authz, const char *key)
{
    struct http_response resp = {.status = 200};
    buf_init(&resp.body, 0);
    quota_handle_post(q, path, authz, key, &resp);
    int s = resp.status;
    if (s != 200 && s != 400 && s != 401 && s != 404 && s != 429 && s != 503)
        __builtin_trap();
    /* Every answer is one JSON object. */
    struct json_object *o = json_tokener_parse(resp.body.data ? resp.body.data : "");
    if (!o || !json_object_is_type(o, json_type_object))
        __builtin_trap();
    json_object_put(o);
    if (memchr(resp.extra_headers, '\0', sizeof(resp.extra_headers)) == NULL)
        __builtin_trap();
    buf_free(&resp.body);
}

static void run_quota(unsigned flags, char **f, size_t nf, const char *path)
{
    struct quota_opts o = {.backup_limit = 2, .restore_limit = 1, .warn_ratio = 0.8,
                           .day_boundary = "UTC", .tolerance_minutes = 30,
                           .state_file = NULL, .token_file = token_path, .now_ms = fixed_now};
    struct quota *q;
    if (quota_init(&q, NULL, &o))
        return;
    if (flags & 16) {
        struct store_consumer c;
        if (quota_add_source(q, src_backup, &c) || quota_add_source(q, src_restore, &c))
            abort();
    }
    char authz[512];
    const char *a = nf > 3 ? f[3] : NULL;
    if (flags & 1) {
        snprintf(authz, sizeof(authz), "Bearer %s%s", TOKEN, a ? a : "");
        a = authz;
    }
    const char *key = nf > 4 && !(flags & 2) ? f[4] : NULL;
    /* Three tries: a replay, then (limit 2) a 429 once the day is used up. */
    for (int i = 0; i < 3; i++)
        post(q, path, a, key);
    post(q, path, a, NULL);
    struct buf doc;
    buf_init(&doc, 0);
    if (quota_json_append(q, &doc) == 0) {
        struct json_object *d = json_tokener_parse(doc.data ? doc.data : "");
        if (!d)
            __builtin_trap();
        json_object_put(d);
    }
    buf_free(&doc);
    quota_close(q, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384)
        return 0;
    unsigned flags = data[0];
    char *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    /* Label escaping of the whole input (newlines included). */
    struct buf esc;
    buf_init(&esc, 0);
    if (metrics_escape_label(&esc, copy) == 0 && esc.data && strchr(esc.data, '\n'))
        __builtin_trap();
    buf_free(&esc);
    char *f[MAX_FIELDS];
    size_t nf = 0;
    char *p = copy;
    while (nf < MAX_FIELDS) {
        f[nf++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }

    char path[2048];
    int drc = http_decode_path(f[0], path, sizeof(path));
    if (drc == 0) {
        if (strlen(path) >= sizeof(path) || path[0] != '/')
            __builtin_trap();
    } else {
        snprintf(path, sizeof(path), "%s", f[0]);
    }
    (void)http_known_method(nf > 1 ? f[1] : "");
    (void)http_accepts_gzip(nf > 2 ? f[2] : NULL);

    run_readyz(flags, f, nf);
    run_quota(flags, f, nf, path);
    free(copy);
    return 0;
}
