/* The quota endpoints (routes_quota.h): request parsing, the bearer token
 * and Idempotency-Key checks and the JSON answers, over quota's plain
 * reservation API. A reservation whose write is still in flight is
 * answered later through a deferred response. */
#include "http/routes_quota.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "quota/quota.h"
#include "util/clock.h"
#include "util/utf8.h"

#define API_PREFIX "/api/v1/quota/"
#define MAX_KEY_LEN 128
#define MAX_INSTANCE_LEN 253

static void json_reply(struct http_response *resp, int status, struct json_object *doc)
{
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    if (!doc || buf_adds(&resp->body, json_object_to_json_string_ext(
                                          doc, JSON_C_TO_STRING_PLAIN |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE)) ||
        buf_addc(&resp->body, '\n')) {
        resp->status = 500;
        buf_reset(&resp->body);
    }
    json_object_put(doc);
}

static void error_reply(struct http_response *resp, int status, const char *code,
                        const char *msg)
{
    struct json_object *o = json_object_new_object();
    if (o) {
        json_object_object_add(o, "error", json_object_new_string(code));
        json_object_object_add(o, "message", json_object_new_string(msg));
    }
    json_reply(resp, status, o);
}

static void on_get(void *data, const struct http_request *req, struct http_response *resp)
{
    (void)req;
    struct quota *q = data;
    struct quota_answer a;
    if (!quota_current(q, &a)) {
        (void)http_response_header(resp, "Retry-After", "1");
        error_reply(resp, a.status, a.error, a.message);
        return;
    }
    struct json_object *doc = quota_json(q);
    if (!doc) {
        error_reply(resp, 503, "out_of_memory", "cannot build the quota document");
        return;
    }
    json_reply(resp, 200, doc);
    resp->allow_gzip = true;
}

static bool valid_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] == 0x7f || s[i] == '/')
            return false;
    return utf8_valid(s, n);
}

static int random_id(char *out, size_t n)
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < sizeof(b) && 2 * i + 2 < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

static struct json_object *ts_json(int64_t t)
{
    char s[32];
    clock_format_rfc3339(t, s, sizeof(s));
    return json_object_new_string(s);
}

static struct json_object *answer_json(const char *id, const struct quota_answer *a)
{
    struct json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "reservation", id ? json_object_new_string(id) : NULL);
    json_object_object_add(o, "instance", json_object_new_string(a->instance));
    json_object_object_add(o, "operation", json_object_new_string(acct_op_name(a->op)));
    json_object_object_add(o, "used", json_object_new_int64(a->used));
    json_object_object_add(o, "limit", json_object_new_int64(a->limit));
    json_object_object_add(o, "remaining", json_object_new_int64(a->remaining));
    json_object_object_add(o, "resets_at", ts_json(a->resets_at));
    return o;
}

/* quota's answer as HTTP: 200 with the reservation, 429 quota_exhausted
 * with the figures, or an error document; Retry-After when quota gives one. */
static void reply(struct http_response *resp, const struct quota_answer *a)
{
    if (a->status == 200) {
        if (a->replayed)
            http_response_header(resp, "Idempotent-Replayed", "true");
        json_reply(resp, 200, answer_json(a->reservation, a));
        return;
    }
    if (a->retry_after > 0) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%lld", (long long)a->retry_after);
        http_response_header(resp, "Retry-After", ra);
    }
    if (a->status == 429) {
        struct json_object *o = answer_json(NULL, a);
        if (o)
            json_object_object_add(o, "error", json_object_new_string(a->error));
        json_reply(resp, 429, o);
        return;
    }
    error_reply(resp, a->status, a->error, a->message);
}

/* One request waiting for the write that carries its reservation. */
struct route_wait {
    struct quota_wait *w;
    struct http_deferred *d;
};

static void on_answer(void *data, const struct quota_answer *a)
{
    struct route_wait *rw = data;
    struct http_response resp;
    http_response_init(&resp);
    reply(&resp, a);
    http_deferred_finish(rw->d, &resp);
    buf_free(&resp.body);
    free(rw);
}

/* The server closes before the answer: the client is told nothing was
 * counted, so nothing is (the other waiters get the same answer). */
static void on_cancel(void *data, struct http_response *resp)
{
    struct route_wait *rw = data;
    quota_wait_cancel(rw->w, true);
    free(rw);
    resp->extra_headers[0] = '\0';
    struct quota_answer a;
    quota_answer_not_saved(&a);
    reply(resp, &a);
}

/* req NULL (tests): the answer is never deferred. */
static void post(struct quota *q, const struct http_request *req, const char *path,
                 const char *authorization, const char *idempotency_key,
                 struct http_response *resp)
{
    if (!quota_write_enabled(q)) {
        error_reply(resp, 404, "not_found", "the write API is disabled (api.token_file is empty)");
        return;
    }
    /* /api/v1/quota/{instance}/{op} */
    const char *rest = strncmp(path, API_PREFIX, strlen(API_PREFIX)) == 0
                           ? path + strlen(API_PREFIX) : NULL;
    const char *slash = rest ? strrchr(rest, '/') : NULL;
    if (!quota_authorized(q, authorization)) {
        resp->status = 401;
        http_response_header(resp, "WWW-Authenticate", "Bearer");
        error_reply(resp, 401, "unauthorized",
                    "an Authorization: Bearer header matching api.token_file is required");
        return;
    }
    /* 404 is kept for a disabled write API: a malformed path is a bad
     * request (an empty instance or no operation). */
    if (!rest || !slash || slash == rest) {
        error_reply(resp, 400, "bad_request",
                    "expected POST /api/v1/quota/{instance}/{backup|restore} with a non-empty "
                    "instance");
        return;
    }
    char inst[MAX_INSTANCE_LEN + 2];
    size_t ilen = (size_t)(slash - rest);
    if (ilen > MAX_INSTANCE_LEN) {
        error_reply(resp, 400, "bad_instance", "the backup instance name is too long");
        return;
    }
    memcpy(inst, rest, ilen);
    inst[ilen] = '\0';
    enum acct_op op;
    if (acct_op_parse(slash + 1, &op)) {
        error_reply(resp, 400, "bad_operation", "the operation must be backup or restore");
        return;
    }
    if (!utf8_instance_name_ok(inst)) {
        error_reply(resp, 400, "bad_instance",
                    "the backup instance must be valid UTF-8 (percent-decoded) without control "
                    "characters, spaces or '/'");
        return;
    }
    /* Any well-formed instance may be reserved (404 is kept for a disabled
     * write API): the pipeline may reserve before the first CR of a new
     * backup instance exists. New names are bounded by the vault's own
     * limit of backup instances, so a caller cannot grow the ledger and
     * the metric series without bound. */
    if (!quota_instance_room(q, inst)) {
        error_reply(resp, 400, "too_many_instances",
                    "the ledger already tracks as many backup instances as a vault can hold");
        return;
    }
    char id[MAX_KEY_LEN + 1];
    if (idempotency_key) {
        if (!valid_text(idempotency_key, MAX_KEY_LEN)) {
            error_reply(resp, 400, "bad_idempotency_key",
                        "Idempotency-Key must be 1-128 printable characters without spaces or '/'");
            return;
        }
        snprintf(id, sizeof(id), "%s", idempotency_key);
    } else if (random_id(id, sizeof(id))) {
        error_reply(resp, 503, "no_randomness", "cannot generate a reservation id");
        return;
    }
    struct route_wait *rw = req ? calloc(1, sizeof(*rw)) : NULL;
    struct quota_answer a;
    struct quota_wait *w = quota_reserve(q, inst, op, id, rw != NULL, on_answer, rw, &a);
    if (!w) {
        free(rw);
        reply(resp, &a);
        return;
    }
    rw->w = w;
    rw->d = http_request_defer(req, on_cancel, rw);
    if (!rw->d) {
        /* Cannot wait: a new reservation is dropped, a retry keeps it. */
        quota_wait_cancel(w, !a.replayed);
        free(rw);
        quota_answer_not_saved(&a);
        reply(resp, &a);
    }
}

void quota_handle_post(struct quota *q, const char *path, const char *authorization,
                       const char *idempotency_key, struct http_response *resp)
{
    post(q, NULL, path, authorization, idempotency_key, resp);
}

void quota_handle_post_req(struct quota *q, const struct http_request *req,
                           struct http_response *resp)
{
    post(q, req, req->path, http_request_header(req, "Authorization"),
         http_request_header(req, "Idempotency-Key"), resp);
}

static void on_post(void *data, const struct http_request *req, struct http_response *resp)
{
    quota_handle_post_req(data, req, resp);
}

int quota_register_routes(struct quota *q, struct http_server *s)
{
    int rc = http_server_route(s, "GET", "/api/v1/quota", on_get, q);
    if (!rc)
        rc = http_server_route(s, "POST", API_PREFIX, on_post, q);
    return rc;
}
