/* The admission warnings ConfigMap writer: one sync at a time (GET, then
 * POST/PUT only when the content differs), coalesced class changes, 409
 * re-read and bounded retry, backoff after failures. See admission.h. */
#include "writers/admission.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/backoff.h"
#include "store/store.h"
#include "rules/engine.h"
#include "util/clock.h"
#include "util/log.h"

#define NAME_MAX_LEN 254
#define NOT_SYNCED_RETRY_MS 250

enum phase { PH_IDLE, PH_GET, PH_WRITE };

struct adm_req {
    struct admission_writer *owner; /* NULL once abandoned: the answer is dropped */
    void *call;                     /* the transport's handle */
};

struct admission_writer {
    uv_loop_t *loop;
    uv_timer_t timer;   /* debounce, not-synced poll, backoff */
    uv_timer_t resync;  /* periodic re-check */
    char name[NAME_MAX_LEN], ns[NAME_MAX_LEN];
    struct write_transport tr;
    const struct engine *engine;
    const struct store *classes;
    int64_t debounce_ms, resync_ms;
    int max_conflicts;
    struct backoff bo;
    bool leader;
    bool dirty;         /* a sync is needed */
    bool failing;       /* logged once until the next success */
    enum phase phase;
    int conflicts_now;  /* 409s in the current sync */
    struct adm_req *cur;
    struct admission_stats st;
    int closing;        /* handles still closing */
    void (*close_cb)(void *data);
    void *close_data;
};

static const char static_message[] =
    "a claim with storageClassName \"\" can only bind a pre-created volume, which AKS backup "
    "skips (static); use a StorageClass with provisioner disk.csi.azure.com so the volume is "
    "provisioned dynamically";

/* ---- desired content ------------------------------------------------ */

struct build {
    json_object *data;
    const char *def;    /* the default class */
    bool def_skipped;
    bool oom;
};

static void add_str(struct build *b, const char *key, const char *val)
{
    json_object *s = json_object_new_string(val);
    if (!s || json_object_object_add(b->data, key, s)) {
        json_object_put(s);
        b->oom = true;
    }
}

static void skipped_cb(void *data, const char *name, const char *provisioner, enum pv_reason reason,
                       const char *message, bool is_default)
{
    struct build *b = data;
    (void)provisioner;
    (void)is_default;
    char key[NAME_MAX_LEN + 16];
    snprintf(key, sizeof(key), "class.%s", name);
    add_str(b, key, pv_reason_code(reason));
    snprintf(key, sizeof(key), "message.%s", name);
    add_str(b, key, message);
    if (b->def && strcmp(b->def, name) == 0)
        b->def_skipped = true;
}

json_object *admission_desired_data(const struct engine *e)
{
    struct build b = {.data = json_object_new_object(), .def = engine_default_class(e)};
    if (!b.data)
        return NULL;
    engine_foreach_skipped_class(e, skipped_cb, &b);
    if (b.def_skipped)
        add_str(&b, "default", b.def);
    add_str(&b, "static-message", static_message);
    /* The edition the verdicts follow, and the namespaces it never backs up
     * (a claim created there is warned about too). */
    const struct matrix_edition *ed = engine_edition(e);
    add_str(&b, "edition", ed->name);
    if (ed->excluded_namespaces && ed->excluded_namespaces[0]) {
        char list[256] = "";
        size_t off = 0;
        for (const char *const *p = ed->excluded_namespaces; *p; p++) {
            int w = snprintf(list + off, sizeof(list) - off, "%s%s", off ? "," : "", *p);
            if (w > 0 && (size_t)w < sizeof(list) - off)
                off += (size_t)w;
        }
        add_str(&b, "excluded-namespaces", list);
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "claims in %s are never part of an AKS backup configuration "
                 "(excluded-namespace): %s",
                 list, pv_reason_remedy_ed(ed, PV_REASON_EXCLUDED_NAMESPACE));
        add_str(&b, "excluded-namespace-message", msg);
    }
    if (b.oom) {
        json_object_put(b.data);
        return NULL;
    }
    return b.data;
}

/* Same keys with the same string values. */
static bool data_equal(json_object *have, json_object *want)
{
    if (!have || !json_object_is_type(have, json_type_object))
        return json_object_object_length(want) == 0;
    if (json_object_object_length(have) != json_object_object_length(want))
        return false;
    struct json_object_iterator it = json_object_iter_begin(want);
    struct json_object_iterator end = json_object_iter_end(want);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        json_object *h = NULL;
        if (!json_object_object_get_ex(have, json_object_iter_peek_name(&it), &h) ||
            !json_object_is_type(h, json_type_string) ||
            strcmp(json_object_get_string(h),
                   json_object_get_string(json_object_iter_peek_value(&it))) != 0)
            return false;
    }
    return true;
}

static bool label_is(json_object *labels, const char *k)
{
    json_object *v = NULL;
    return labels && json_object_object_get_ex(labels, k, &v) &&
           json_object_is_type(v, json_type_string) &&
           strcmp(json_object_get_string(v), ADMISSION_LABEL_VALUE) == 0;
}

/* Ensures metadata.labels carries ours; false on ENOMEM. */
static bool set_labels(json_object *obj)
{
    json_object *meta = NULL, *labels = NULL;
    if (!json_object_object_get_ex(obj, "metadata", &meta) || !json_object_is_type(meta, json_type_object)) {
        meta = json_object_new_object();
        if (!meta || json_object_object_add(obj, "metadata", meta))
            return json_object_put(meta), false;
    }
    if (!json_object_object_get_ex(meta, "labels", &labels) ||
        !json_object_is_type(labels, json_type_object)) {
        labels = json_object_new_object();
        if (!labels || json_object_object_add(meta, "labels", labels))
            return json_object_put(labels), false;
    }
    const char *keys[] = {ADMISSION_LABEL_NAME, ADMISSION_LABEL_MANAGED};
    for (size_t i = 0; i < 2; i++) {
        json_object *v = json_object_new_string(ADMISSION_LABEL_VALUE);
        if (!v || json_object_object_add(labels, keys[i], v))
            return json_object_put(v), false;
    }
    return true;
}

/* ---- the sync state machine ----------------------------------------- */

static void on_timer(uv_timer_t *t);

static void arm_timer(struct admission_writer *w, int64_t ms)
{
    if (w->closing)
        return;
    uv_timer_start(&w->timer, on_timer, (uint64_t)(ms > 0 ? ms : 0), 0);
}

/* A change or a leader switch: sync within debounce_ms (not postponed by
 * further changes, so a stream of changes still syncs). */
static void kick(struct admission_writer *w)
{
    w->dirty = true;
    w->st.in_sync = false;
    if (w->phase == PH_IDLE && !uv_is_active((uv_handle_t *)&w->timer))
        arm_timer(w, w->debounce_ms);
}

static void on_answer(void *data, int status, const char *body, size_t len);

static int send_req(struct admission_writer *w, const char *method, const char *body)
{
    char path[2 * NAME_MAX_LEN + 64];
    if (strcmp(method, "POST") == 0)
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", w->ns);
    else
        snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/%s", w->ns, w->name);
    struct adm_req *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->owner = w;
    int rc = w->tr.request(w->tr.ctx, method, path, body ? "application/json" : NULL, body,
                           body ? strlen(body) : 0, on_answer, r, &r->call);
    if (rc) {
        free(r);
        return rc;
    }
    w->cur = r;
    return 0;
}

/* Abandons the request in flight: cancelled when the transport can, else
 * its answer is dropped when it comes. */
static void drop_cur(struct admission_writer *w)
{
    struct adm_req *r = w->cur;
    if (!r)
        return;
    w->cur = NULL;
    if (w->tr.cancel) {
        w->tr.cancel(w->tr.ctx, r->call);
        free(r);
    } else {
        r->owner = NULL;
    }
}

static void failed(struct admission_writer *w, const char *what, int status)
{
    w->phase = PH_IDLE;
    w->st.failures++;
    w->dirty = true;
    uint32_t delay = backoff_next(&w->bo);
    if (!w->failing) {
        char code[16], d[16];
        snprintf(code, sizeof(code), "%d", status);
        snprintf(d, sizeof(d), "%u", delay);
        log_kv(LOG_WARN, "cannot write the admission warnings ConfigMap; retrying", "step", what,
               "status", code, "namespace", w->ns, "name", w->name, "retry_ms", d, NULL);
        w->failing = true;
    }
    arm_timer(w, delay);
}

static void done(struct admission_writer *w, const char *outcome)
{
    w->phase = PH_IDLE;
    w->conflicts_now = 0;
    w->st.syncs++;
    backoff_reset(&w->bo);
    if (w->failing || strcmp(outcome, "unchanged") != 0)
        log_kv(LOG_INFO, "admission warnings ConfigMap in step", "namespace", w->ns, "name",
               w->name, "outcome", outcome, NULL);
    w->failing = false;
    if (w->dirty)
        arm_timer(w, w->debounce_ms);
    else
        w->st.in_sync = true;
}

static void start_sync(struct admission_writer *w)
{
    w->dirty = false;
    w->phase = PH_GET;
    w->st.gets++;
    int rc = send_req(w, "GET", NULL);
    if (rc)
        failed(w, "get", rc);
}

/* A 409: re-read after a short, growing pause, or give up for a while. */
static void conflict(struct admission_writer *w)
{
    w->st.conflicts++;
    w->phase = PH_IDLE;
    if (++w->conflicts_now > w->max_conflicts) {
        w->conflicts_now = 0;
        failed(w, "conflict", 409);
        return;
    }
    w->dirty = true;
    arm_timer(w, 50LL << (w->conflicts_now - 1));
}

static json_object *parse(const char *body, size_t len)
{
    if (!body || len == 0)
        return NULL;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, body, (int)len);
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

static void write_obj(struct admission_writer *w, json_object *obj, bool create)
{
    const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
    w->phase = PH_WRITE;
    if (create)
        w->st.creates++;
    else
        w->st.updates++;
    int rc = text ? send_req(w, create ? "POST" : "PUT", text) : -ENOMEM;
    if (rc)
        failed(w, create ? "create" : "update", rc);
}

static void got(struct admission_writer *w, int status, const char *body, size_t len)
{
    json_object *want = admission_desired_data(w->engine);
    if (!want) {
        failed(w, "get", -ENOMEM);
        return;
    }
    if (status == 404) {
        json_object *obj = json_object_new_object();
        json_object *meta = json_object_new_object();
        if (!obj || !meta || json_object_object_add(obj, "metadata", meta)) {
            json_object_put(meta);
            json_object_put(obj);
            json_object_put(want);
            failed(w, "create", -ENOMEM);
            return;
        }
        json_object_object_add(obj, "apiVersion", json_object_new_string("v1"));
        json_object_object_add(obj, "kind", json_object_new_string("ConfigMap"));
        json_object_object_add(meta, "name", json_object_new_string(w->name));
        json_object_object_add(meta, "namespace", json_object_new_string(w->ns));
        bool ok = set_labels(obj) && json_object_object_add(obj, "data", want) == 0;
        if (ok)
            write_obj(w, obj, true);
        else
            failed(w, "create", -ENOMEM);
        json_object_put(obj);
        return;
    }
    json_object *obj = status == 200 ? parse(body, len) : NULL;
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        json_object_put(want);
        failed(w, "get", status);
        return;
    }
    json_object *have = NULL, *meta = NULL, *labels = NULL;
    json_object_object_get_ex(obj, "data", &have);
    if (json_object_object_get_ex(obj, "metadata", &meta))
        json_object_object_get_ex(meta, "labels", &labels);
    if (data_equal(have, want) && label_is(labels, ADMISSION_LABEL_NAME) &&
        label_is(labels, ADMISSION_LABEL_MANAGED)) {
        json_object_put(obj);
        json_object_put(want);
        w->st.unchanged++;
        done(w, "unchanged");
        return;
    }
    /* The object as read (its resourceVersion included) with our data. */
    if (json_object_object_add(obj, "data", want) || !set_labels(obj)) {
        json_object_put(obj);
        failed(w, "update", -ENOMEM);
        return;
    }
    write_obj(w, obj, false);
    json_object_put(obj);
}

static void on_answer(void *data, int status, const char *body, size_t len)
{
    struct adm_req *r = data;
    struct admission_writer *w = r->owner;
    free(r);
    if (!w)
        return;
    w->cur = NULL;
    if (w->phase == PH_GET) {
        if (status == 200 || status == 404)
            got(w, status, body, len);
        else
            failed(w, "get", status);
        return;
    }
    if (status == 200 || status == 201)
        done(w, status == 201 ? "created" : "updated");
    else if (status == 409 || status == 404) /* changed or deleted since read: re-read */
        conflict(w);
    else
        failed(w, "write", status);
}

static void on_timer(uv_timer_t *t)
{
    struct admission_writer *w = t->data;
    if (w->phase != PH_IDLE || !w->dirty || !w->leader || !w->name[0])
        return; /* a follower keeps dirty: becoming leader syncs */
    if (w->classes && !store_synced(w->classes)) {
        arm_timer(w, NOT_SYNCED_RETRY_MS);
        return;
    }
    start_sync(w);
}

static void on_resync(uv_timer_t *t)
{
    struct admission_writer *w = t->data;
    if (w->leader)
        kick(w);
}

/* ---- public --------------------------------------------------------- */

static void copy_name(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s ? s : "");
}

int admission_writer_new(struct admission_writer **out, uv_loop_t *loop,
                         const struct admission_opts *o)
{
    *out = NULL;
    if (!o->engine || !o->transport.request || (o->name && strlen(o->name) >= NAME_MAX_LEN) ||
        (o->namespace_ && strlen(o->namespace_) >= NAME_MAX_LEN))
        return -EINVAL;
    struct admission_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->loop = loop;
    copy_name(w->name, sizeof(w->name), o->name);
    copy_name(w->ns, sizeof(w->ns), o->namespace_ && *o->namespace_ ? o->namespace_ : "default");
    w->tr = o->transport;
    w->engine = o->engine;
    w->classes = o->classes;
    w->debounce_ms = o->debounce_ms > 0 ? o->debounce_ms : 200;
    w->resync_ms = o->resync_ms ? o->resync_ms : 300000;
    /* Capped: the retry delay is 50 ms << (conflicts - 1), which must not
     * overflow (and 16 conflicts in a row already wait ~27 min). */
    w->max_conflicts = o->max_conflicts > 0 ? (o->max_conflicts < 16 ? o->max_conflicts : 16) : 5;
    backoff_init(&w->bo, o->retry_initial_ms ? o->retry_initial_ms : 1000,
                 o->retry_max_ms ? o->retry_max_ms : 30000, (uint64_t)clock_mono_ms() | 1);
    w->dirty = true;
    uv_timer_init(loop, &w->timer);
    uv_timer_init(loop, &w->resync);
    w->timer.data = w->resync.data = w;
    if (w->resync_ms > 0)
        uv_timer_start(&w->resync, on_resync, (uint64_t)w->resync_ms, (uint64_t)w->resync_ms);
    uv_unref((uv_handle_t *)&w->resync);
    *out = w;
    return 0;
}

void admission_writer_set_leader(struct admission_writer *w, bool leader)
{
    if (!w || w->leader == leader)
        return;
    w->leader = leader;
    if (leader)
        kick(w);
}

void admission_writer_notify(struct admission_writer *w, unsigned what)
{
    if (w && (what & ENGINE_CHANGED_CLASSES))
        kick(w);
}

int admission_writer_set_target(struct admission_writer *w, const char *name,
                                const char *namespace_)
{
    if ((name && strlen(name) >= NAME_MAX_LEN) || (namespace_ && strlen(namespace_) >= NAME_MAX_LEN))
        return -EINVAL;
    const char *ns = namespace_ && *namespace_ ? namespace_ : "default";
    if (strcmp(w->name, name ? name : "") == 0 && strcmp(w->ns, ns) == 0)
        return 0;
    drop_cur(w); /* a request for the old target */
    w->phase = PH_IDLE;
    w->conflicts_now = 0;
    copy_name(w->name, sizeof(w->name), name);
    copy_name(w->ns, sizeof(w->ns), ns);
    uv_timer_stop(&w->timer);
    kick(w);
    return 0;
}

void admission_writer_stats(const struct admission_writer *w, struct admission_stats *out)
{
    *out = w->st;
}

static void handle_closed(uv_handle_t *h)
{
    struct admission_writer *w = h->data;
    if (--w->closing > 0)
        return;
    void (*cb)(void *) = w->close_cb;
    void *data = w->close_data;
    free(w);
    if (cb)
        cb(data);
}

void admission_writer_close(struct admission_writer *w, void (*cb)(void *data), void *data)
{
    drop_cur(w);
    w->close_cb = cb;
    w->close_data = data;
    w->closing = 2;
    uv_close((uv_handle_t *)&w->timer, handle_closed);
    uv_close((uv_handle_t *)&w->resync, handle_closed);
}
