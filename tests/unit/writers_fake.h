/* A tiny in-memory API server behind struct write_transport for the
 * writers' unit tests (test_admission.c, test_events.c): one ConfigMap
 * with resourceVersion semantics (GET/POST/PUT, 404/409) and core/v1
 * Events keyed by name (POST, 409 AlreadyExists). Calls are answered from
 * a 1 ms timer, never before request() returns; scripted failures answer
 * the next matching calls with a given status. */
#ifndef ABC_TEST_WRITERS_FAKE_H
#define ABC_TEST_WRITERS_FAKE_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <uv.h>

#include "util/write_transport.h"
#include "model/records.h"
#include "rules/engine.h"

#define FAKE_LOG_MAX 4096

struct fake_call {
    char method[8];
    char path[512];
    char *body;
    write_done_cb done;
    void *data;
    struct fake_call *next;
};

struct fake_log {
    char method[8];
    char path[512];
    int status;
};

struct fake_api {
    struct fake_call *head, *tail;
    size_t pending, max_pending;
    size_t cancelled;
    /* the ConfigMap */
    json_object *cm;          /* NULL = absent */
    unsigned long rv;
    bool bump_rv_after_get;   /* simulate another writer between GET and PUT (once) */
    /* Events by name */
    json_object *events;
    /* scripted answers: the next `count` calls with method (and path
     * containing `path`) get `status` */
    struct { char method[8]; char path[64]; int status; int count; } fail[8];
    size_t nfail;
    struct fake_log log[FAKE_LOG_MAX];
    size_t nlog;
    bool hold;                /* do not answer (requests stay in flight) */
};

static inline int fake_request(void *ctx, const char *method, const char *path,
                               const char *content_type, const char *body, size_t len,
                               write_done_cb done, void *data, void **call)
{
    struct fake_api *f = ctx;
    (void)content_type;
    struct fake_call *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    snprintf(c->method, sizeof(c->method), "%s", method);
    snprintf(c->path, sizeof(c->path), "%s", path);
    if (body) {
        c->body = malloc(len + 1);
        memcpy(c->body, body, len);
        c->body[len] = '\0';
    }
    c->done = done;
    c->data = data;
    if (f->tail)
        f->tail->next = c;
    else
        f->head = c;
    f->tail = c;
    if (++f->pending > f->max_pending)
        f->max_pending = f->pending;
    *call = c;
    return 0;
}

static inline void fake_cancel(void *ctx, void *call)
{
    struct fake_api *f = ctx;
    for (struct fake_call **pp = &f->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp != call)
            continue;
        struct fake_call *c = *pp;
        *pp = c->next;
        if (f->tail == c)
            f->tail = prev;
        f->pending--;
        f->cancelled++;
        free(c->body);
        free(c);
        return;
    }
    ck_abort_msg("cancel of an unknown call");
}

/* with_cancel false: a transport without cancel (answers are dropped). */
static inline struct write_transport fake_transport_ex(struct fake_api *f, bool with_cancel)
{
    struct write_transport t = {.request = fake_request, .cancel = with_cancel ? fake_cancel : NULL,
                                 .ctx = f};
    return t;
}

static inline struct write_transport fake_transport(struct fake_api *f)
{
    return fake_transport_ex(f, true);
}

static inline void fake_init(struct fake_api *f)
{
    memset(f, 0, sizeof(*f));
    f->events = json_object_new_object();
    f->rv = 100;
}

static inline void fake_fail(struct fake_api *f, const char *method, const char *path, int status,
                             int count)
{
    ck_assert(f->nfail < 8);
    snprintf(f->fail[f->nfail].method, 8, "%s", method);
    snprintf(f->fail[f->nfail].path, 64, "%s", path ? path : "");
    f->fail[f->nfail].status = status;
    f->fail[f->nfail].count = count;
    f->nfail++;
}

static inline const char *fake_name(json_object *o)
{
    json_object *md = NULL, *n = NULL;
    if (!json_object_object_get_ex(o, "metadata", &md) || !json_object_object_get_ex(md, "name", &n))
        return NULL;
    return json_object_get_string(n);
}

static inline void fake_set_rv(json_object *o, unsigned long rv)
{
    json_object *md = NULL;
    ck_assert(json_object_object_get_ex(o, "metadata", &md));
    char s[32];
    snprintf(s, sizeof(s), "%lu", rv);
    json_object_object_add(md, "resourceVersion", json_object_new_string(s));
}

/* The server's answer to one call: status, and a body (static or owned by f). */
static inline int fake_answer(struct fake_api *f, const struct fake_call *c, const char **out)
{
    *out = NULL;
    for (size_t i = 0; i < f->nfail; i++)
        if (f->fail[i].count > 0 && strcmp(f->fail[i].method, c->method) == 0 &&
            strstr(c->path, f->fail[i].path)) {
            f->fail[i].count--;
            return f->fail[i].status;
        }
    bool events = strstr(c->path, "/events") != NULL;
    if (events) {
        ck_assert_str_eq(c->method, "POST");
        json_object *o = json_tokener_parse(c->body);
        ck_assert_ptr_nonnull(o);
        const char *name = fake_name(o);
        ck_assert_ptr_nonnull(name);
        if (json_object_object_get_ex(f->events, name, NULL)) {
            json_object_put(o);
            return 409;
        }
        json_object_object_add(f->events, name, o);
        return 201;
    }
    if (strcmp(c->method, "GET") == 0) {
        if (!f->cm)
            return 404;
        *out = json_object_to_json_string_ext(f->cm, JSON_C_TO_STRING_PLAIN);
        if (f->bump_rv_after_get) {
            /* someone else writes after our read: the copy we serve is stale */
            static char stale[65536];
            snprintf(stale, sizeof(stale), "%s", *out);
            *out = stale;
            f->bump_rv_after_get = false;
            fake_set_rv(f->cm, ++f->rv);
        }
        return 200;
    }
    json_object *o = json_tokener_parse(c->body);
    ck_assert_ptr_nonnull(o);
    if (strcmp(c->method, "POST") == 0) {
        if (f->cm) {
            json_object_put(o);
            return 409;
        }
        f->cm = o;
        fake_set_rv(f->cm, ++f->rv);
        return 201;
    }
    ck_assert_str_eq(c->method, "PUT");
    if (!f->cm) {
        json_object_put(o);
        return 404;
    }
    json_object *md = NULL, *rv = NULL;
    char cur[32];
    snprintf(cur, sizeof(cur), "%lu", f->rv);
    if (!json_object_object_get_ex(o, "metadata", &md) ||
        !json_object_object_get_ex(md, "resourceVersion", &rv) ||
        strcmp(json_object_get_string(rv), cur) != 0) {
        json_object_put(o);
        return 409;
    }
    json_object_put(f->cm);
    f->cm = o;
    fake_set_rv(f->cm, ++f->rv);
    return 200;
}

/* Answers every call pending now (answers may queue new calls). */
static inline void fake_flush(struct fake_api *f)
{
    struct fake_call *c = f->head;
    f->head = f->tail = NULL;
    f->pending = 0;
    while (c) {
        struct fake_call *next = c->next;
        const char *body = NULL;
        int st = fake_answer(f, c, &body);
        if (f->nlog < FAKE_LOG_MAX) {
            struct fake_log *l = &f->log[f->nlog++];
            snprintf(l->method, sizeof(l->method), "%s", c->method);
            snprintf(l->path, sizeof(l->path), "%s", c->path);
            l->status = st;
        }
        c->done(c->data, st, body, body ? strlen(body) : 0);
        free(c->body);
        free(c);
        c = next;
    }
}

static inline size_t fake_count(const struct fake_api *f, const char *method, int status)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nlog; i++)
        if ((!method || strcmp(f->log[i].method, method) == 0) && (!status || f->log[i].status == status))
            n++;
    return n;
}

/* Frees calls never answered (their requests were abandoned). */
static inline void fake_free(struct fake_api *f)
{
    while (f->head) {
        struct fake_call *c = f->head;
        f->head = c->next;
        free(c->body);
        free(c);
    }
    json_object_put(f->cm);
    json_object_put(f->events);
}

/* Runs the loop, answering calls every ms, until cond(arg) or timeout_ms. */
struct fake_run {
    struct fake_api *f;
    bool (*cond)(void *arg);
    void *arg;
    int64_t left;
    bool met;
};

static inline void fake_tick(uv_timer_t *t)
{
    struct fake_run *r = t->data;
    if (!r->f->hold)
        fake_flush(r->f);
    if ((r->cond && r->cond(r->arg)) || --r->left <= 0) {
        r->met = r->cond && r->cond(r->arg);
        uv_timer_stop(t);
        uv_stop(t->loop);
    }
}

static inline bool fake_run(uv_loop_t *loop, struct fake_api *f, int64_t timeout_ms,
                            bool (*cond)(void *arg), void *arg)
{
    uv_timer_t t;
    struct fake_run r = {.f = f, .cond = cond, .arg = arg, .left = timeout_ms};
    uv_timer_init(loop, &t);
    t.data = &r;
    uv_timer_start(&t, fake_tick, 1, 1);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return r.met;
}

/* ---- engine input ---- */

static inline void *writers_rec(const struct model_type *t, const char *json)
{
    json_object *o = json_tokener_parse(json);
    ck_assert_msg(o != NULL, "bad json %s", json);
    void *rec = NULL;
    ck_assert_int_eq(t->extract(t, o, &rec), 0);
    json_object_put(o);
    return rec;
}

/* Adds or replaces StorageClass name. */
static inline void writers_class(struct engine *e, const char *name, const char *provisioner,
                                 bool is_default)
{
    char js[1024];
    snprintf(js, sizeof(js),
             "{\"apiVersion\":\"storage.k8s.io/v1\",\"kind\":\"StorageClass\",\"metadata\":{\"name\":"
             "\"%s\",\"uid\":\"u-%s\",\"resourceVersion\":\"1\"%s},\"provisioner\":\"%s\"}",
             name, name,
             is_default ? ",\"annotations\":{\"storageclass.kubernetes.io/is-default-class\":\"true\"}" : "",
             provisioner);
    void *rec = writers_rec(&model_storageclass_type, js);
    engine_apply(e, &model_storageclass_type, NULL, rec);
    model_storageclass_type.free(rec);
}

static inline void writers_class_delete(struct engine *e, const char *name)
{
    char js[512];
    snprintf(js, sizeof(js),
             "{\"metadata\":{\"name\":\"%s\",\"uid\":\"u-%s\",\"resourceVersion\":\"2\"},\"provisioner\":\"x\"}", name, name);
    void *rec = writers_rec(&model_storageclass_type, js);
    engine_apply(e, &model_storageclass_type, rec, NULL);
    model_storageclass_type.free(rec);
}

#endif
