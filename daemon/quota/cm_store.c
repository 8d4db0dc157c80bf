/* The quota ledger in a ConfigMap with optimistic concurrency: a queue of
 * load/save operations served one at a time, consecutive saves coalesced
 * into one write, 409 answered by re-read + merge by UID + write again.
 * Requests go through struct write_transport; see cm_store.h. */
#include "quota/cm_store.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "quota/ledger.h"
#include "quota/state.h"
#include "util/container.h"
#include "util/log.h"
#include "util/clock.h"

#define CM_RV_MAX 64
#define CM_CORRUPT_KEY "ledger.json.corrupt"

enum op_kind { OP_LOAD, OP_SAVE };

struct cm_op {
    enum op_kind kind;
    cm_store_done_cb cb;
    void *data;
    struct cm_op *next;
};

enum phase { PH_IDLE, PH_READ, PH_WRITE, PH_BACKOFF };

struct cm_req {
    struct cm_store *owner; /* NULL once abandoned */
};

struct cm_store {
    uv_loop_t *loop;
    uv_timer_t timer;       /* request timeout or backoff */
    char name[256], ns[256], identity[256];
    struct write_transport tr;
    struct ledger *ledger;
    int max_attempts;
    int64_t timeout_ms;
    int64_t retry_ms;
    bool (*can_write)(void *data);
    void *can_write_data;
    bool retry_armed;       /* a save failed: write again after retry_ms */
    struct cm_qs *qs;       /* the quota_store adapter, while both live */
    bool save_failing;      /* the last save failed (logged once) */
    struct cm_op *queue, **tail; /* waiting operations */
    struct cm_op *batch;         /* the operation(s) being served */
    enum op_kind batch_kind;
    enum phase phase;
    int attempts;
    struct cm_req *cur;
    /* what we know of the server */
    bool known;             /* read or written at least once */
    bool exists;
    char rv[CM_RV_MAX];
    char *corrupt;          /* unreadable document seen; kept aside at the next write */
    unsigned long conflicts;
    bool closing;
    cm_store_close_cb close_cb;
    void *close_data;
};

struct cm_qs {
    struct cm_store *s; /* NULL once the store is freed */
};

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

int cm_store_path(char *out, size_t n, const char *namespace_, const char *name)
{
    int w = name ? snprintf(out, n, "/api/v1/namespaces/%s/configmaps/%s", namespace_, name)
                 : snprintf(out, n, "/api/v1/namespaces/%s/configmaps", namespace_);
    return (w < 0 || (size_t)w >= n) ? -ENAMETOOLONG : 0;
}

static int add(json_object *o, const char *k, json_object *v)
{
    if (!v)
        return -ENOMEM;
    return json_object_object_add(o, k, v) ? -ENOMEM : 0;
}

static char *render(const char *name, const char *namespace_, const char *identity,
                    const char *rv, const char *doc, const char *corrupt, size_t *len)
{
    json_object *root = json_object_new_object();
    json_object *md = json_object_new_object(), *labels = json_object_new_object(),
                *ann = json_object_new_object(), *data = json_object_new_object();
    char *out = NULL;
    int rc = 0;
    if (!root || !md || !labels || !ann || !data) {
        json_object_put(md);
        json_object_put(labels);
        json_object_put(ann);
        json_object_put(data);
        goto done;
    }
    rc |= add(root, "apiVersion", json_object_new_string("v1"));
    rc |= add(root, "kind", json_object_new_string("ConfigMap"));
    rc |= add(md, "name", json_object_new_string(name));
    rc |= add(md, "namespace", json_object_new_string(namespace_));
    if (rv && *rv)
        rc |= add(md, "resourceVersion", json_object_new_string(rv));
    rc |= add(labels, "app.kubernetes.io/name", json_object_new_string("aks-backup-companion"));
    rc |= add(md, "labels", labels);
    if (identity && *identity)
        rc |= add(ann, "aks-backup-companion/written-by", json_object_new_string(identity));
    rc |= add(md, "annotations", ann);
    rc |= add(root, "metadata", md);
    rc |= add(data, CM_STORE_KEY, json_object_new_string(doc));
    if (corrupt)
        rc |= add(data, CM_CORRUPT_KEY, json_object_new_string(corrupt));
    rc |= add(root, "data", data);
    if (rc)
        goto done;
    size_t l = 0;
    const char *s = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &l);
    if (s && (out = malloc(l + 1))) {
        memcpy(out, s, l + 1);
        if (len)
            *len = l;
    }
done:
    json_object_put(root);
    return out;
}

char *cm_store_render(const char *name, const char *namespace_, const char *identity,
                      const char *rv, const char *doc, size_t *len)
{
    return render(name, namespace_, identity, rv, doc, NULL, len);
}

static json_object *parse_obj(const char *body, size_t len)
{
    if (!body)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, body, (int)len);
    bool ok = json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!o || !ok || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

int cm_store_parse(const char *body, size_t len, char *rv, size_t rvlen, char **doc)
{
    *doc = NULL;
    if (rvlen)
        rv[0] = '\0';
    json_object *o = parse_obj(body, len), *md, *v, *data;
    if (!o)
        return -EINVAL;
    if (json_object_object_get_ex(o, "metadata", &md) &&
        json_object_object_get_ex(md, "resourceVersion", &v) &&
        json_object_is_type(v, json_type_string))
        copy_str(rv, rvlen, json_object_get_string(v));
    int rc = 0;
    if (json_object_object_get_ex(o, "data", &data) &&
        json_object_object_get_ex(data, CM_STORE_KEY, &v)) {
        if (json_object_is_type(v, json_type_string)) {
            *doc = strdup(json_object_get_string(v));
            if (!*doc)
                rc = -ENOMEM;
        } else {
            rc = -EINVAL;
        }
    }
    json_object_put(o);
    return rc;
}

int cm_store_init(struct cm_store **out, uv_loop_t *loop, const struct cm_store_opts *o)
{
    *out = NULL;
    if (!o || !o->name || !*o->name || !o->namespace_ || !*o->namespace_ || !o->ledger ||
        !o->transport.request || strlen(o->name) >= 254 || strlen(o->namespace_) >= 254)
        return -EINVAL;
    struct cm_store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->loop = loop;
    copy_str(s->name, sizeof(s->name), o->name);
    copy_str(s->ns, sizeof(s->ns), o->namespace_);
    copy_str(s->identity, sizeof(s->identity), o->identity);
    s->tr = o->transport;
    s->ledger = o->ledger;
    s->max_attempts = o->max_attempts > 0 ? o->max_attempts : 8;
    s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    s->retry_ms = o->retry_ms > 0 ? o->retry_ms : 2000;
    s->can_write = o->can_write;
    s->can_write_data = o->can_write_data;
    s->tail = &s->queue;
    int rc = uv_timer_init(loop, &s->timer);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void kick(struct cm_store *s);
static void after_batch(struct cm_store *s);
static void on_done(void *data, int status, const char *body, size_t len);
static void on_timer(uv_timer_t *t);

static void finish_batch(struct cm_store *s, int err, int http)
{
    struct cm_op *b = s->batch;
    if (b && s->batch_kind == OP_SAVE && err != -ECANCELED) {
        /* The store decides to retry, so it says so, once per streak. */
        if (err) {
            s->retry_armed = true;
            if (!s->save_failing) {
                char h[16];
                snprintf(h, sizeof(h), "%d", http);
                log_kv(LOG_ERROR,
                       "cannot write the quota ConfigMap; keeping counts in memory, retrying",
                       "configmap", s->name, "namespace", s->ns, "error", strerror(-err), "http",
                       h, NULL);
            }
            s->save_failing = true;
        } else if (s->save_failing) {
            log_kv(LOG_INFO, "quota ConfigMap written again", "configmap", s->name, NULL);
            s->save_failing = false;
        }
    }
    s->batch = NULL;
    s->phase = PH_IDLE;
    s->attempts = 0;
    uv_timer_stop(&s->timer);
    while (b) {
        struct cm_op *n = b->next;
        if (b->cb)
            b->cb(b->data, err, http);
        free(b);
        b = n;
    }
}

static int64_t now_s(void) { return clock_now_ms() / 1000; }

static void send_req(struct cm_store *s, const char *method, bool collection, const char *body,
                     size_t blen)
{
    char path[600];
    int rc = cm_store_path(path, sizeof(path), s->ns, collection ? NULL : s->name);
    struct cm_req *r = rc ? NULL : calloc(1, sizeof(*r));
    if (!rc && !r)
        rc = -ENOMEM;
    if (!rc) {
        r->owner = s;
        s->cur = r;
        rc = s->tr.request(s->tr.ctx, method, path, body ? "application/json" : NULL, body, blen,
                           on_done, r, NULL);
        if (rc) {
            s->cur = NULL;
            free(r);
        }
    }
    if (rc) {
        finish_batch(s, rc, 0);
        after_batch(s);
        return;
    }
    uv_timer_start(&s->timer, on_timer, (uint64_t)s->timeout_ms, 0);
}

static void start_read(struct cm_store *s)
{
    s->phase = PH_READ;
    send_req(s, "GET", false, NULL, 0);
}

static void start_write(struct cm_store *s)
{
    s->phase = PH_WRITE;
    s->attempts++;
    json_object *doc = ledger_to_json(s->ledger, now_s());
    const char *text = doc ? json_object_to_json_string_ext(
                                 doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                           : NULL;
    size_t blen = 0;
    char *body = text ? render(s->name, s->ns, s->identity, s->exists ? s->rv : "", text,
                               s->corrupt, &blen)
                      : NULL;
    json_object_put(doc);
    if (!body) {
        finish_batch(s, -ENOMEM, 0);
        after_batch(s);
        return;
    }
    send_req(s, s->exists ? "PUT" : "POST", !s->exists, body, blen);
    free(body);
}

/* Starts the next queued operation when idle. */
static void kick(struct cm_store *s)
{
    if (s->phase != PH_IDLE || !s->queue || s->closing)
        return;
    struct cm_op *b = s->queue;
    s->batch_kind = b->kind;
    struct cm_op **end = &b->next;
    if (b->kind == OP_SAVE)
        while (*end && (*end)->kind == OP_SAVE)
            end = &(*end)->next;
    s->queue = *end;
    *end = NULL;
    if (!s->queue)
        s->tail = &s->queue;
    s->batch = b;
    s->attempts = 0;
    if (b->kind == OP_SAVE)
        s->retry_armed = false; /* this write carries the failed one's content */
    if (b->kind == OP_LOAD || !s->known)
        start_read(s);
    else
        start_write(s);
}

/* Next queued operation, else the automatic retry of a failed save. */
static void after_batch(struct cm_store *s)
{
    kick(s);
    if (s->phase == PH_IDLE && s->retry_armed && !s->closing)
        uv_timer_start(&s->timer, on_timer, (uint64_t)s->retry_ms, 0);
}

/* A read answered: remember rv, merge the document. Returns 0, or the
 * error for the batch. */
static int take_read(struct cm_store *s, int status, const char *body, size_t len, bool *corrupt)
{
    *corrupt = false;
    if (status == 404) {
        s->known = true;
        s->exists = false;
        s->rv[0] = '\0';
        return 0;
    }
    if (status != 200)
        return status < 0 ? status : -EIO;
    char rv[CM_RV_MAX], *doc = NULL;
    int rc = cm_store_parse(body, len, rv, sizeof(rv), &doc);
    if (rc == -ENOMEM)
        return rc;
    s->known = true;
    s->exists = true;
    copy_str(s->rv, sizeof(s->rv), rv);
    if (rc == 0 && doc) {
        json_object *d = parse_obj(doc, strlen(doc));
        rc = d ? ledger_merge_json(s->ledger, d, now_s()) : -EINVAL;
        json_object_put(d);
        if (rc >= 0)
            rc = 0;
    }
    if (rc == -EINVAL) {
        /* Kept aside at the next write rather than silently overwritten. */
        free(s->corrupt);
        s->corrupt = doc ? doc : strdup("(ledger.json not a string)");
        doc = NULL;
        *corrupt = true;
    }
    free(doc);
    return rc;
}

static void backoff(struct cm_store *s)
{
    s->phase = PH_BACKOFF;
    /* 10-40 ms times the attempt: writers that collided spread out */
    uint64_t ms = (uint64_t)(10 + (clock_mono_ms() % 31)) * (uint64_t)s->attempts;
    uv_timer_start(&s->timer, on_timer, ms, 0);
}

static void on_done(void *data, int status, const char *body, size_t len)
{
    struct cm_req *r = data;
    struct cm_store *s = r->owner;
    free(r);
    if (!s)
        return;
    s->cur = NULL;
    uv_timer_stop(&s->timer);
    if (s->phase == PH_READ) {
        bool corrupt;
        int rc = take_read(s, status, body, len, &corrupt);
        if (s->batch_kind == OP_LOAD || (rc && !corrupt)) {
            finish_batch(s, rc, status);
            after_batch(s);
            return;
        }
        start_write(s); /* a save: the corrupt text goes aside in it */
        return;
    }
    /* PH_WRITE */
    if (status == 200 || status == 201) {
        char rv[CM_RV_MAX], *doc = NULL;
        if (cm_store_parse(body, len, rv, sizeof(rv), &doc) == 0 && rv[0]) {
            copy_str(s->rv, sizeof(s->rv), rv);
            s->exists = true;
            s->known = true;
        } else {
            s->known = false; /* unreadable answer: re-read before the next write */
        }
        free(doc);
        free(s->corrupt);
        s->corrupt = NULL;
        finish_batch(s, 0, status);
        after_batch(s);
        return;
    }
    if (status == 409 || status == 404) {
        /* 409: someone else wrote (or created) it; 404: it was deleted. */
        if (status == 409)
            s->conflicts++;
        if (s->attempts >= s->max_attempts) {
            s->known = false;
            finish_batch(s, -EAGAIN, status);
            after_batch(s);
            return;
        }
        if (status == 404) {
            s->exists = false;
            s->rv[0] = '\0';
            start_write(s);
            return;
        }
        backoff(s);
        return;
    }
    s->known = false; /* unsure what landed: re-read next time */
    finish_batch(s, status < 0 ? status : -EIO, status > 0 ? status : 0);
    after_batch(s);
}

static int enqueue(struct cm_store *s, enum op_kind k, cm_store_done_cb cb, void *data);

static void on_timer(uv_timer_t *t)
{
    struct cm_store *s = container_of(t, struct cm_store, timer);
    if (s->phase == PH_IDLE) {
        if (s->retry_armed && (!s->can_write || s->can_write(s->can_write_data)))
            (void)enqueue(s, OP_SAVE, NULL, NULL); /* on ENOMEM: next save */
        else
            s->retry_armed = false;
        return;
    }
    if (s->phase == PH_BACKOFF) {
        start_read(s);
        return;
    }
    if (s->cur) { /* request timed out: abandon it */
        s->cur->owner = NULL;
        s->cur = NULL;
        s->known = false;
        finish_batch(s, -ETIMEDOUT, 0);
        after_batch(s);
    }
}

static int enqueue(struct cm_store *s, enum op_kind k, cm_store_done_cb cb, void *data)
{
    if (s->closing)
        return -ECANCELED;
    struct cm_op *op = calloc(1, sizeof(*op));
    if (!op)
        return -ENOMEM;
    op->kind = k;
    op->cb = cb;
    op->data = data;
    *s->tail = op;
    s->tail = &op->next;
    kick(s);
    return 0;
}

int cm_store_load(struct cm_store *s, cm_store_done_cb cb, void *data)
{
    return enqueue(s, OP_LOAD, cb, data);
}

int cm_store_save(struct cm_store *s, cm_store_done_cb cb, void *data)
{
    return enqueue(s, OP_SAVE, cb, data);
}

size_t cm_store_pending(const struct cm_store *s)
{
    size_t n = 0;
    for (const struct cm_op *o = s->batch; o; o = o->next)
        n++;
    for (const struct cm_op *o = s->queue; o; o = o->next)
        n++;
    return n;
}

unsigned long cm_store_conflicts(const struct cm_store *s) { return s->conflicts; }

static void on_closed(uv_handle_t *h)
{
    struct cm_store *s = container_of((uv_timer_t *)h, struct cm_store, timer);
    cm_store_close_cb cb = s->close_cb;
    void *data = s->close_data;
    if (s->qs)
        s->qs->s = NULL;
    free(s->corrupt);
    free(s);
    if (cb)
        cb(data);
}

void cm_store_close(struct cm_store *s, cm_store_close_cb cb, void *data)
{
    if (s->closing)
        return;
    s->closing = true;
    s->close_cb = cb;
    s->close_data = data;
    if (s->cur) {
        s->cur->owner = NULL;
        s->cur = NULL;
    }
    finish_batch(s, -ECANCELED, 0);
    struct cm_op *q = s->queue;
    s->queue = NULL;
    s->tail = &s->queue;
    while (q) {
        struct cm_op *n = q->next;
        if (q->cb)
            q->cb(q->data, -ECANCELED, 0);
        free(q);
        q = n;
    }
    uv_close((uv_handle_t *)&s->timer, on_closed);
}

/* ---- quota_store adapter ------------------------------------------- */

static int qs_load(void *ctx, char **data, size_t *len)
{
    (void)ctx;
    *data = NULL;
    *len = 0;
    return -ENOENT;
}

static int qs_save(void *ctx, const char *data, size_t len)
{
    (void)data; /* rendered again from the ledger at write time */
    (void)len;
    struct cm_qs *q = ctx;
    struct cm_store *s = q->s;
    if (!s || s->closing || (s->can_write && !s->can_write(s->can_write_data)))
        return 0;
    int rc = cm_store_save(s, NULL, NULL);
    /* While writes fail, say so: quota then refuses reservations (503
     * state_not_saved) instead of answering ones that may never be stored.
     * The write queued here still goes out and ends the failing state. */
    return rc ? rc : s->save_failing ? -EIO : 0;
}

static int qs_save_wait(void *ctx, quota_store_done_cb done, void *data)
{
    struct cm_qs *q = ctx;
    struct cm_store *s = q->s;
    if (!s || s->closing)
        return -ECANCELED;
    if (s->can_write && !s->can_write(s->can_write_data))
        return -EPERM;
    /* Its own entry in the queue: it joins the next write to go out,
     * rendered from the ledger after this call, so the write that fires
     * done carries every change made before it. */
    return cm_store_save(s, done, data);
}

static void qs_free(void *ctx)
{
    struct cm_qs *q = ctx;
    if (q->s)
        q->s->qs = NULL;
    free(q);
}

static int qs_set_aside(void *ctx, int64_t now, char *where, size_t n)
{
    (void)ctx;
    (void)now;
    if (where && n)
        where[0] = '\0';
    return 0;
}

static const struct quota_store_ops cm_ops = {
    .name = "configmap",
    .load = qs_load,
    .save = qs_save,
    .set_aside = qs_set_aside,
    .free = qs_free,
    .save_wait = qs_save_wait,
};

int cm_store_quota_store(struct quota_store *out, struct cm_store *s)
{
    struct cm_qs *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    if (s->qs)
        s->qs->s = NULL; /* one adapter at a time */
    q->s = s;
    s->qs = q;
    out->ops = &cm_ops;
    out->ctx = q;
    return 0;
}
