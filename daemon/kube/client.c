/* Kubernetes API client (client.h): credentials from auth.c on each
 * request, one retry after a 401 with re-read or re-fetched credentials,
 * buffered requests and discovery on top of the streaming kube_http. */
#include "kube/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "kube/auth.h"
#include "kube/kubeconfig.h"
#include "util/buf.h"
#include "util/log.h"

struct kube_client {
    uv_loop_t *loop;
    const struct kube_config *cfg;
    struct kube_http *http;
    struct kube_auth *auth;
    struct kube_ccall *calls;
    kube_close_cb close_cb;
    void *close_data;
};

struct kube_ccall {
    struct kube_client *c;
    struct kube_ccall *prev, *next;
    struct kube_req req;    /* strings below are owned copies */
    char *method, *path, *verb, *ctype, *body;
    kube_chunk_cb on_chunk;
    kube_done_cb on_done;
    void *data;
    struct kube_call *call; /* in flight */
    struct kube_auth_wait wait;
    bool waiting;
    bool retried;
    /* buffered mode */
    kube_response_cb on_response;
    struct buf buf;
    bool own_data; /* data is this file's malloc'd context: freed when dropped uncalled */
};

int kube_client_new(uv_loop_t *loop, const struct kube_config *cfg, struct metrics *m,
                    struct kube_client **out, char *err, size_t errlen)
{
    struct kube_client *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->loop = loop;
    c->cfg = cfg;
    int rc = kube_http_new(loop, cfg, m, &c->http);
    if (rc != 0) {
        snprintf(err, errlen, "cannot set up the API client for %s: %s", cfg->server ? cfg->server : "(no server)",
                 rc == -EINVAL ? "invalid server URL" : strerror(-rc));
        free(c);
        return rc;
    }
    rc = kube_auth_new(loop, cfg, &c->auth);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory");
        kube_http_close(c->http, NULL, NULL);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int kube_client_set_user_agent_suffix(struct kube_client *c, const char *suffix)
{
    return kube_http_set_user_agent_suffix(c->http, suffix);
}

int64_t kube_client_last_success_ms(const struct kube_client *c)
{
    return kube_http_last_success_ms(c->http);
}

static void ccall_free(struct kube_ccall *cc)
{
    struct kube_client *c = cc->c;
    if (cc->prev)
        cc->prev->next = cc->next;
    else
        c->calls = cc->next;
    if (cc->next)
        cc->next->prev = cc->prev;
    free(cc->method);
    free(cc->path);
    free(cc->verb);
    free(cc->ctype);
    free(cc->body);
    buf_free(&cc->buf);
    free(cc);
}

static void on_http_done(void *data, const struct kube_status *st);

static int on_http_chunk(void *data, const char *p, size_t n)
{
    struct kube_ccall *cc = data;
    if (cc->on_response)
        return buf_add(&cc->buf, p, n) != 0 ? 1 : 0;
    return cc->on_chunk ? cc->on_chunk(cc->data, p, n) : 0;
}

/* Completes a call: frees it, then the consumer's callback. */
static void complete(struct kube_ccall *cc, const struct kube_status *st)
{
    if (cc->on_response) {
        struct kube_status s = *st;
        if (s.err == -ECANCELED) {
            s.err = -E2BIG;
            snprintf(s.reason, sizeof(s.reason), "response body larger than %u bytes", KUBE_BODY_MAX);
        }
        struct buf body = cc->buf;
        kube_response_cb cb = cc->on_response;
        void *d = cc->data;
        buf_init(&cc->buf, 0);
        ccall_free(cc);
        cb(d, &s, body.data, body.len);
        buf_free(&body);
        return;
    }
    kube_done_cb cb = cc->on_done;
    void *d = cc->data;
    ccall_free(cc);
    cb(d, st);
}

static void fail_now(struct kube_ccall *cc, int err, const char *why)
{
    struct kube_status st = {.err = err, .retry_after = -1};
    snprintf(st.reason, sizeof(st.reason), "%s", why);
    complete(cc, &st);
}

static int send_with(struct kube_ccall *cc, const char *token)
{
    struct kube_req r = cc->req;
    r.bearer = token;
    return kube_http_start(cc->c->http, &r, on_http_chunk, on_http_done, cc, &cc->call);
}

static void on_token(void *data, int err, const char *token)
{
    struct kube_ccall *cc = data;
    cc->waiting = false;
    if (err != 0) {
        fail_now(cc, err, "credential plugin failed");
        return;
    }
    int rc = send_with(cc, token);
    if (rc != 0)
        fail_now(cc, rc, "cannot start request");
}

/* Gets a token and sends: 0 (sent or waiting for the plugin) or -errno. */
static int dispatch(struct kube_ccall *cc)
{
    const char *token;
    int rc = kube_auth_get(cc->c->auth, &cc->wait, on_token, cc, &token);
    if (rc == -EINPROGRESS) {
        cc->waiting = true;
        return 0;
    }
    if (rc != 0)
        return rc;
    return send_with(cc, token);
}

static void on_http_done(void *data, const struct kube_status *st)
{
    struct kube_ccall *cc = data;
    cc->call = NULL;
    if (st->err == 0 && st->http == 401 && !cc->retried && kube_auth_invalidate(cc->c->auth)) {
        cc->retried = true;
        buf_reset(&cc->buf);
        log_kv(LOG_INFO, "API server answered 401; retrying once with fresh credentials", "path",
               cc->req.path, NULL);
        int rc = dispatch(cc);
        if (rc == 0)
            return;
    }
    complete(cc, st);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int ccall_new(struct kube_client *c, const struct kube_req *req, struct kube_ccall **out)
{
    struct kube_ccall *cc = calloc(1, sizeof(*cc));
    if (!cc)
        return -ENOMEM;
    cc->c = c;
    cc->req = *req;
    cc->method = dup_or_null(req->method ? req->method : "GET");
    cc->path = dup_or_null(req->path);
    cc->verb = dup_or_null(req->verb ? req->verb : "get");
    cc->ctype = dup_or_null(req->content_type);
    if (req->body) {
        cc->body = malloc(req->body_len + 1);
        if (cc->body) {
            memcpy(cc->body, req->body, req->body_len);
            cc->body[req->body_len] = '\0';
        }
    }
    buf_init(&cc->buf, KUBE_BODY_MAX);
    cc->next = c->calls;
    if (c->calls)
        c->calls->prev = cc;
    c->calls = cc;
    if (!cc->method || !cc->path || !cc->verb || (req->content_type && !cc->ctype) ||
        (req->body && !cc->body)) {
        ccall_free(cc);
        return -ENOMEM;
    }
    cc->req.method = cc->method;
    cc->req.path = cc->path;
    cc->req.verb = cc->verb;
    cc->req.content_type = cc->ctype;
    cc->req.body = cc->body;
    cc->req.bearer = NULL;
    *out = cc;
    return 0;
}

int kube_client_start(struct kube_client *c, const struct kube_req *req, kube_chunk_cb on_chunk,
                      kube_done_cb on_done, void *data, struct kube_ccall **out)
{
    struct kube_ccall *cc;
    int rc = ccall_new(c, req, &cc);
    if (rc != 0)
        return rc;
    cc->on_chunk = on_chunk;
    cc->on_done = on_done;
    cc->data = data;
    rc = dispatch(cc);
    if (rc != 0) {
        ccall_free(cc);
        return rc;
    }
    if (out)
        *out = cc;
    return 0;
}

void kube_client_cancel(struct kube_ccall *cc)
{
    if (!cc)
        return;
    if (cc->waiting)
        kube_auth_cancel(cc->c->auth, &cc->wait);
    if (cc->call)
        kube_http_cancel(cc->call);
    if (cc->own_data)
        free(cc->data); /* a discovery context whose callback will not run */
    ccall_free(cc);
}

void kube_client_resume(struct kube_ccall *cc)
{
    if (cc && cc->call)
        kube_http_resume(cc->call);
}

/* ---- buffered requests ---- */

int kube_request_ex(struct kube_client *c, const struct kube_req *req, kube_response_cb cb,
                    void *data, struct kube_ccall **out)
{
    struct kube_ccall *cc;
    struct kube_req r = *req;
    r.error_bodies = true;
    int rc = ccall_new(c, &r, &cc);
    if (rc != 0)
        return rc;
    cc->on_response = cb;
    cc->data = data;
    rc = dispatch(cc);
    if (rc != 0) {
        ccall_free(cc);
        return rc;
    }
    if (out)
        *out = cc;
    return 0;
}

const char *kube_verb_of(const char *method)
{
    if (strcmp(method, "POST") == 0)
        return "create";
    if (strcmp(method, "PUT") == 0)
        return "update";
    if (strcmp(method, "PATCH") == 0)
        return "patch";
    if (strcmp(method, "DELETE") == 0)
        return "delete";
    return "get";
}

int kube_request(struct kube_client *c, const char *method, const char *path,
                 const char *content_type, const char *body, size_t len, kube_response_cb cb,
                 void *data)
{
    struct kube_req r = {
        .method = method, .path = path, .verb = kube_verb_of(method), .content_type = content_type,
        .body = body, .body_len = len,
    };
    return kube_request_ex(c, &r, cb, data, NULL);
}

/* ---- discovery ---- */

struct version_ctx {
    kube_version_cb cb;
    void *data;
};

static void on_version(void *data, const struct kube_status *st, const char *body, size_t len)
{
    struct version_ctx *v = data;
    const char *gv = NULL;
    struct json_object *o = NULL, *g, *ma, *mi;
    struct kube_status s = *st;
    char synth[64];
    if (st->err == 0 && st->http == 200 && body) {
        o = json_tokener_parse(body);
        if (o && json_object_object_get_ex(o, "gitVersion", &g) && json_object_is_type(g, json_type_string) &&
            json_object_get_string_len(g) > 0) {
            gv = json_object_get_string(g);
        } else if (o && json_object_object_get_ex(o, "major", &ma) &&
                   json_object_object_get_ex(o, "minor", &mi) &&
                   json_object_is_type(ma, json_type_string) &&
                   json_object_is_type(mi, json_type_string) && json_object_get_string_len(ma) > 0 &&
                   json_object_get_string_len(mi) > 0) {
            /* no gitVersion: "v<major>.<minor>" (minor may carry a '+') */
            snprintf(synth, sizeof(synth), "v%.20s.%.20s", json_object_get_string(ma),
                     json_object_get_string(mi));
            gv = synth;
        } else {
            s.err = -EBADMSG;
            snprintf(s.reason, sizeof(s.reason), "/version answer has neither gitVersion nor major/minor");
        }
    }
    v->cb(v->data, &s, gv);
    json_object_put(o);
    free(v);
}

int kube_get_version(struct kube_client *c, kube_version_cb cb, void *data)
{
    struct version_ctx *v = malloc(sizeof(*v));
    if (!v)
        return -ENOMEM;
    v->cb = cb;
    v->data = data;
    struct kube_req r = {.method = "GET", .path = "/version", .verb = "get"};
    struct kube_ccall *cc;
    int rc = kube_request_ex(c, &r, on_version, v, &cc);
    if (rc != 0)
        free(v);
    else
        cc->own_data = true;
    return rc;
}

struct served_ctx {
    kube_served_cb cb;
    void *data;
};

static void on_served(void *data, const struct kube_status *st, const char *body, size_t len)
{
    struct served_ctx *v = data;
    v->cb(v->data, st, st->err == 0 && st->http == 200);
    free(v);
}

int kube_group_served(struct kube_client *c, const char *group, const char *version,
                      kube_served_cb cb, void *data)
{
    char path[512];
    if (group && *group)
        snprintf(path, sizeof(path), "/apis/%s/%s", group, version);
    else
        snprintf(path, sizeof(path), "/api/%s", version);
    struct served_ctx *v = malloc(sizeof(*v));
    if (!v)
        return -ENOMEM;
    v->cb = cb;
    v->data = data;
    struct kube_req r = {.method = "GET", .path = path, .verb = "get"};
    struct kube_ccall *cc;
    int rc = kube_request_ex(c, &r, on_served, v, &cc);
    if (rc != 0)
        free(v);
    else
        cc->own_data = true;
    return rc;
}

int kube_query_escape(char *out, size_t n, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = strlen(out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (o + (plain ? 1 : 3) + 1 > n)
            return -E2BIG;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

/* ---- close ---- */

static void on_http_closed(void *data)
{
    struct kube_client *c = data;
    kube_close_cb cb = c->close_cb;
    void *d = c->close_data;
    free(c);
    if (cb)
        cb(d);
}

void kube_client_close(struct kube_client *c, kube_close_cb cb, void *data)
{
    while (c->calls)
        kube_client_cancel(c->calls);
    kube_auth_free(c->auth);
    c->auth = NULL;
    c->close_cb = cb;
    c->close_data = data;
    kube_http_close(c->http, on_http_closed, c);
}

struct kube_http *kube_client_http(struct kube_client *c)
{
    return c->http;
}
