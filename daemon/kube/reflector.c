/* List+watch for one resource (reflector.h). One request at a time: a
 * list page, or the watch; while a page is parsed, the next page may be
 * in flight already, held until its turn (reflector_list.c, at most one
 * page ahead). List pages and watch events both stream through
 * kube/sax.c chunk by chunk as libcurl delivers them: each object's record
 * is built from the fields its type lists (model/fields.h) and no page or
 * object tree is held. One retry timer schedules the next
 * list or watch; an idle timer enforces the 90 s silence rule. */
#include "kube/reflector_int.h"
#include "kube/gunzip.h"
#include "kube/sax.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "metrics/metrics.h"
#include "util/backoff.h"
#include "util/container.h"
#include "kube/client.h"
#include "kube/watchparse.h"
#include "model/fields.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

static void start_watch(struct reflector *r);
static void on_idle(uv_timer_t *t);

static unsigned env_seconds(const char *name, unsigned def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    return (*end || n <= 0 || n > 86400) ? def : (unsigned)n;
}

void reflector__set_str(char **dst, const char *src)
{
    char *n = src ? strdup(src) : NULL;
    if (src && !n)
        return; /* keep the old value on ENOMEM */
    free(*dst);
    *dst = n;
}

/* ---- failures ---- */

static uint64_t retry_delay(struct reflector *r, const struct kube_status *st)
{
    uint64_t d = backoff_next(&r->backoff);
    if ((st->http == 429 || st->http == 503) && st->retry_after >= 0 &&
        (uint64_t)st->retry_after * 1000 > d)
        d = (uint64_t)st->retry_after * 1000;
    return d;
}

static void describe(const struct kube_status *st, char *out, size_t n)
{
    if (st->err)
        snprintf(out, n, "%s", st->reason[0] ? st->reason : strerror(-st->err));
    else
        snprintf(out, n, "HTTP %ld: %s", st->http, st->reason);
}

/* informer_synced: 1 while the store is in step with the server, which is
 * also the case while the API is not served (the store is then empty and
 * that is the truth); 0 before the first list and while a resource that
 * came back is being listed (docs/metrics.md). */
static void set_absent(struct reflector *r, bool absent)
{
    if (r->absent == absent)
        return;
    r->absent = absent;
    m_set(r->m_synced, r->type->resource, absent ? 1 : 0);
    if (r->hooks.on_absent)
        r->hooks.on_absent(r->hooks.data, r->type, absent);
}

/* ---- list ---- */

void reflector__list_failed(struct reflector *r, const struct kube_status *st)
{
    reflector__drop_next(r); /* the whole list starts over */
    store_replace_abort(r->staging);
    r->staging = NULL;
    reflector__set_str(&r->cont, NULL);
    r->phase = PH_WAITING;
    char why[300];
    describe(st, why, sizeof(why));
    if (st->err == 0 && st->http == 404) {
        if (!r->absent)
            log_kv(LOG_INFO, "resource not served by the API server; treating it as absent", "resource",
                   r->type->resource, "group", r->type->group, "version", r->type->version, NULL);
        if (store_count(r->store) > 0) { /* the API went away: so did its objects */
            /* Before on_absent: the empty list's on_synced must not be
             * the last word on the resource's state. */
            struct store_replace *empty = store_replace_begin(r->store);
            if (empty)
                store_replace_end(empty);
            m_set(r->m_objects, r->type->resource, 0);
        }
        set_absent(r, true);
        reflector__schedule(r, NEXT_LIST, (uint64_t)r->absent_s * 1000);
        return;
    }
    uint64_t d = retry_delay(r, st);
    char delay[32];
    snprintf(delay, sizeof(delay), "%.1f", (double)d / 1000.0);
    log_kv(LOG_WARN, "list failed; retrying", "resource", r->type->resource, "error", why,
           "retry_in_seconds", delay, NULL);
    if (r->hooks.on_list_error)
        r->hooks.on_list_error(r->hooks.data, r->type, st);
    if (r->phase == PH_WAITING && !r->closing)
        reflector__schedule(r, NEXT_LIST, d);
}

/* The staged list becomes the store (emits the diff and on_synced). */
static void apply_list(struct reflector *r)
{
    int rc = store_replace_end(r->staging);
    r->staging = NULL;
    if (rc != 0)
        log_kv(LOG_WARN, "store update incomplete (out of memory)", "resource", r->type->resource, NULL);
    set_absent(r, false);
    backoff_reset(&r->backoff);
    if (!r->synced)
        log_kv(LOG_INFO, "resource synced", "resource", r->type->resource, NULL);
    r->synced = true;
    m_set(r->m_synced, r->type->resource, 1);
    m_set(r->m_objects, r->type->resource, (double)store_count(r->store));
    m_set(r->m_last, r->type->resource, (double)clock_now_ms() / 1000.0);
}

void reflector__list_done(struct reflector *r)
{
    reflector__set_str(&r->rv, r->list_rv);
    apply_list(r);
    if (r->mode == REFLECTOR_LIST_ONLY) {
        r->phase = PH_IDLE;
        return;
    }
    start_watch(r);
}

/* The record of a list item or event object. */
int reflector__item_extract(const struct reflector *r, const struct sax_item *it, void **rec)
{
    if (it->view)
        return model_view_extract(r->type, it->view, rec);
    return r->type->extract(r->type, it->json, rec);
}

/* ---- watch ---- */

/* metadata.resourceVersion of an event's object, or NULL. */
static const char *item_rv(const struct sax_item *it)
{
    if (it->view)
        return model_view_str(it->view, MV_RV);
    struct json_object *md, *v;
    if (it->json && json_object_object_get_ex(it->json, "metadata", &md) &&
        json_object_object_get_ex(md, "resourceVersion", &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

static int rec_rv_update(struct reflector *r, const struct sax_item *it)
{
    const char *rv = item_rv(it);
    if (rv && *rv)
        reflector__set_str(&r->rv, rv);
    return 0;
}

static bool initial_end(const struct sax_item *it)
{
    const char *v = NULL;
    if (it->view) {
        v = model_view_str(it->view, MV_INITIAL_END);
    } else {
        struct json_object *md, *ann, *o;
        if (it->json && json_object_object_get_ex(it->json, "metadata", &md) &&
            json_object_object_get_ex(md, "annotations", &ann) &&
            json_object_object_get_ex(ann, "k8s.io/initial-events-end", &o) &&
            json_object_is_type(o, json_type_string))
            v = json_object_get_string(o);
    }
    return v && strcmp(v, "true") == 0;
}

/* An event of a streaming list's initial part: ADDED events fill the
 * staging list; the bookmark annotated initial-events-end completes it. */
static int on_initial_event(struct reflector *r, const char *type, const struct sax_item *obj)
{
    if (strcmp(type, "ADDED") == 0) {
        void *rec = NULL;
        if (reflector__item_extract(r, obj, &rec) == 0)
            store_replace_add(r->staging, rec);
        else
            log_kv(LOG_WARN, "list item skipped (missing metadata)", "resource", r->type->resource, NULL);
        return 0;
    }
    if (strcmp(type, "BOOKMARK") == 0 && initial_end(obj)) {
        rec_rv_update(r, obj);
        r->initial = false;
        apply_list(r);
        uv_timer_start(&r->idle, on_idle, (uint64_t)r->idle_s * 1000, (uint64_t)r->idle_s * 1000);
        if (r->mode == REFLECTOR_LIST_ONLY) {
            r->abort_reason = AB_LIST_ONLY_DONE;
            return 1;
        }
        return 0;
    }
    if (strcmp(type, "BOOKMARK") == 0)
        return 0;
    return -1; /* anything else is for the caller */
}

static int on_event(void *data, const char *type, const struct sax_item *it)
{
    struct reflector *r = data;
    struct json_object *obj = it->json; /* ERROR events come as a tree */
    /* Count only the documented types (docs/metrics.md): the label set
     * must stay closed whatever the server sends. */
    const char *label = watchparse_type_label(type);
    if (label)
        m_add(r->m_events, r->type->resource, label);
    if (r->initial) {
        int rc = on_initial_event(r, type, it);
        if (rc >= 0)
            return rc;
    }
    if (strcmp(type, "BOOKMARK") == 0)
        return rec_rv_update(r, it);
    if (strcmp(type, "ERROR") == 0) {
        struct json_object *code, *msg;
        long c = 0;
        if (obj && json_object_object_get_ex(obj, "code", &code))
            c = (long)json_object_get_int64(code);
        const char *m = obj && json_object_object_get_ex(obj, "message", &msg) ? json_object_get_string(msg) : "";
        snprintf(r->abort_msg, sizeof(r->abort_msg), "%ld %s", c, m ? m : "");
        struct json_object *rs;
        const char *why = obj && json_object_object_get_ex(obj, "reason", &rs) &&
                                  json_object_is_type(rs, json_type_string)
                              ? json_object_get_string(rs)
                              : "";
        if (c == 410 || strcmp(why, "Expired") == 0 || strcmp(why, "Gone") == 0)
            r->abort_reason = AB_EXPIRED;
        else if (kube_status_rv_too_large(obj))
            r->abort_reason = AB_TOO_LARGE;
        else
            r->abort_reason = AB_ERROR_EVENT;
        return 1;
    }
    bool del = strcmp(type, "DELETED") == 0;
    if (!del && strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0)
        return 0; /* unknown event types are ignored, as client-go does */
    rec_rv_update(r, it);
    void *rec = NULL;
    if (reflector__item_extract(r, it, &rec) != 0) {
        log_kv(LOG_WARN, "watch event skipped (missing metadata)", "resource", r->type->resource, "type",
               type, NULL);
        return 0;
    }
    if (del)
        store_delete(r->store, rec);
    else
        store_upsert(r->store, rec);
    r->watch_events++;
    m_set(r->m_objects, r->type->resource, (double)store_count(r->store));
    m_set(r->m_last, r->type->resource, (double)clock_now_ms() / 1000.0);
    return 0;
}

static int on_watch_chunk(void *data, const char *p, size_t n)
{
    struct reflector *r = data;
    uv_timer_again(&r->idle);
    int rc = sax_feed(r->sax, p, n, on_event, r);
    if (rc < 0) {
        r->abort_reason = AB_PARSE;
        snprintf(r->abort_msg, sizeof(r->abort_msg), "%s",
                 rc == -E2BIG ? "watch event larger than 16 MiB" : "malformed JSON in the watch stream");
    }
    return rc;
}

/* Falls back to paginated lists for good. */
static void stream_list_unsupported(struct reflector *r, const char *why)
{
    log_kv(LOG_INFO, "streaming list not supported by the API server; using paginated lists", "resource",
           r->type->resource, "reason", why, NULL);
    r->stream_list = false;
    reflector__start_list(r);
}

/* A streaming list ended before its initial-events-end bookmark. */
static void stream_list_failed(struct reflector *r, const struct kube_status *st, enum abort_reason ab)
{
    r->initial = false;
    store_replace_abort(r->staging);
    r->staging = NULL;
    if (ab == AB_ERROR_EVENT) {
        stream_list_unsupported(r, r->abort_msg);
        return;
    }
    if (ab == AB_NONE && st->err == 0 && st->http >= 400 && st->http < 500 && st->http != 404 &&
        st->http != 429 && st->http != 401) {
        char why[300];
        describe(st, why, sizeof(why));
        stream_list_unsupported(r, why);
        return;
    }
    struct kube_status s = *st;
    if (ab == AB_TOO_LARGE) {
        s.http = 504;
        s.rv_too_large = true;
        snprintf(s.reason, sizeof(s.reason), "%s", r->abort_msg);
    } else if (ab == AB_PARSE || (ab == AB_NONE && st->err == 0 && st->http == 200)) {
        s.err = -EBADMSG;
        snprintf(s.reason, sizeof(s.reason), "%s",
                 ab == AB_PARSE ? r->abort_msg : "stream ended before the initial-events-end bookmark");
    }
    reflector__list_failed(r, &s); /* logs, absent on 404, backoff */
}

static void on_watch_done(void *data, const struct kube_status *st)
{
    struct reflector *r = data;
    r->call = NULL;
    uv_timer_stop(&r->idle);
    r->phase = PH_WAITING;
    const char *res = r->type->resource;
    enum abort_reason ab = r->abort_reason;
    r->abort_reason = AB_NONE;
    if (ab == AB_LIST_ONLY_DONE) {
        r->phase = PH_IDLE;
        return;
    }
    if (r->initial) {
        stream_list_failed(r, st, ab);
        return;
    }
    if (ab == AB_EXPIRED || (st->err == 0 && st->http == 410)) {
        restarts(r, "expired");
        log_kv(LOG_INFO, "watch expired (410); listing again", "resource", res, NULL);
        reflector__start_list(r);
        return;
    }
    if (ab == AB_TOO_LARGE || (st->err == 0 && st->rv_too_large)) {
        /* Our resourceVersion is ahead of the server's: etcd restored from
         * a backup, or a simulator restarted. Watching from it again
         * would wait for revisions that may never come; list from
         * scratch (no resourceVersion), as client-go does. */
        restarts(r, "error");
        reflector__set_str(&r->rv, NULL);
        uint64_t d = backoff_next(&r->backoff);
        char delay[32];
        snprintf(delay, sizeof(delay), "%.1f", (double)d / 1000.0);
        log_kv(LOG_WARN, "watch resourceVersion is ahead of the API server (etcd restored?); listing again",
               "resource", res, "error", ab == AB_TOO_LARGE ? r->abort_msg : st->reason, "retry_in_seconds",
               delay, NULL);
        reflector__schedule(r, NEXT_LIST, d);
        return;
    }
    if (ab == AB_PARSE || ab == AB_ERROR_EVENT) {
        restarts(r, "error");
        uint64_t d = backoff_next(&r->backoff);
        char delay[32];
        snprintf(delay, sizeof(delay), "%.1f", (double)d / 1000.0);
        log_kv(LOG_WARN, ab == AB_PARSE ? "bad watch stream; listing again" : "watch error event; listing again",
               "resource", res, "error", r->abort_msg, "retry_in_seconds", delay, NULL);
        reflector__schedule(r, NEXT_LIST, d);
        return;
    }
    bool streamed = st->http >= 200 && st->http < 300;
    if (streamed && (st->err == 0 || st->err == -EIO)) {
        if (sax_finish(r->sax) != 0) {
            restarts(r, "error");
            uint64_t d = backoff_next(&r->backoff);
            log_kv(LOG_WARN, "watch stream ended inside an event (truncated); listing again", "resource", res,
                   NULL);
            reflector__schedule(r, NEXT_LIST, d);
            return;
        }
        uint64_t lasted = (uint64_t)clock_mono_ms() - r->watch_start_ms;
        bool timed_out = st->err == 0 && lasted + 2000 >= (uint64_t)r->watch_timeout_s * 1000;
        restarts(r, timed_out ? "timeout" : "eof");
        if (r->watch_events > 0 || lasted >= 1000) {
            backoff_reset(&r->backoff);
            start_watch(r);
        } else {
            reflector__schedule(r, NEXT_WATCH, backoff_next(&r->backoff));
        }
        return;
    }
    restarts(r, "error");
    if (st->err == 0 && st->http == 404) {
        reflector__start_list(r); /* the list tells absent from gone */
        return;
    }
    uint64_t d = retry_delay(r, st);
    char why[300], delay[32];
    describe(st, why, sizeof(why));
    snprintf(delay, sizeof(delay), "%.1f", (double)d / 1000.0);
    log_kv(LOG_WARN, "watch failed; retrying", "resource", res, "error", why, "retry_in_seconds", delay, NULL);
    reflector__schedule(r, NEXT_WATCH, d);
}

static void on_idle(uv_timer_t *t)
{
    struct reflector *r = container_of(t, struct reflector, idle);
    if (r->phase != PH_WATCHING || !r->call)
        return;
    kube_client_cancel(r->call);
    r->call = NULL;
    uv_timer_stop(&r->idle);
    if (r->initial) { /* silence before initial-events-end: the parameter was ignored */
        r->initial = false;
        store_replace_abort(r->staging);
        r->staging = NULL;
        stream_list_unsupported(r, "no initial-events-end bookmark");
        return;
    }
    restarts(r, "eof"); /* docs/metrics.md: 90 s without any event counts as eof */
    char secs[16];
    snprintf(secs, sizeof(secs), "%u", r->idle_s);
    log_kv(LOG_INFO, "watch silent; restarting it from the last resourceVersion", "resource",
           r->type->resource, "silent_seconds", secs, NULL);
    start_watch(r);
}

void reflector__start_stream_list(struct reflector *r)
{
    r->staging = store_replace_begin(r->store);
    if (!r->staging) {
        reflector__schedule(r, NEXT_LIST, backoff_next(&r->backoff));
        return;
    }
    if (r->lists++ > 0 && r->m_relists) {
        const char *lv[] = {r->type->resource};
        metric_add(r->m_relists, lv, 1);
    }
    r->initial = true;
    r->watch_timeout_s = 300 + backoff_rand(&r->backoff, 301);
    r->abort_reason = AB_NONE;
    r->watch_events = 0;
    r->watch_start_ms = (uint64_t)clock_mono_ms();
    char path[4096];
    struct kube_status st = {.err = -E2BIG, .retry_after = -1};
    if (reflector__path(r, true, path, sizeof(path)) == 0 && (st.err = sax_reset(r->sax, SAX_WATCH)) == 0) {
        struct kube_req req = {.method = "GET", .path = path, .verb = "watch", .watch = true};
        st.err = kube_client_start(r->client, &req, on_watch_chunk, on_watch_done, r, &r->call);
    }
    if (st.err != 0) {
        r->initial = false;
        snprintf(st.reason, sizeof(st.reason), "cannot start streaming list: %s", strerror(-st.err));
        reflector__list_failed(r, &st);
        return;
    }
    r->phase = PH_WATCHING;
    uv_timer_start(&r->idle, on_idle, (uint64_t)r->initial_s * 1000, (uint64_t)r->initial_s * 1000);
}

static void start_watch(struct reflector *r)
{
    r->initial = false;
    r->watch_timeout_s = 300 + backoff_rand(&r->backoff, 301);
    r->abort_reason = AB_NONE;
    r->watch_events = 0;
    r->watch_start_ms = (uint64_t)clock_mono_ms();
    char path[4096];
    int rc = reflector__path(r, true, path, sizeof(path));
    if (rc == 0)
        rc = sax_reset(r->sax, SAX_WATCH);
    if (rc == 0) {
        struct kube_req req = {.method = "GET", .path = path, .verb = "watch", .watch = true};
        rc = kube_client_start(r->client, &req, on_watch_chunk, on_watch_done, r, &r->call);
    }
    if (rc != 0) {
        r->phase = PH_WAITING;
        reflector__schedule(r, NEXT_WATCH, backoff_next(&r->backoff));
        return;
    }
    r->phase = PH_WATCHING;
    uv_timer_start(&r->idle, on_idle, (uint64_t)r->idle_s * 1000, (uint64_t)r->idle_s * 1000);
}

/* ---- scheduling and lifecycle ---- */

static void on_retry(uv_timer_t *t)
{
    struct reflector *r = container_of(t, struct reflector, retry);
    if (r->phase != PH_WAITING)
        return;
    if (r->next == NEXT_WATCH && r->rv)
        start_watch(r);
    else
        reflector__start_list(r);
}

void reflector__schedule(struct reflector *r, enum next what, uint64_t delay_ms)
{
    r->phase = PH_WAITING;
    r->next = what;
    uv_timer_start(&r->retry, on_retry, delay_ms, 0);
}

int reflector_init(struct reflector **out, uv_loop_t *loop, struct kube_client *c, struct store *s,
                   struct metrics *m, enum reflector_mode mode, const struct reflector_hooks *hooks)
{
    struct reflector *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->sax = sax_new(store_type(s), WATCHPARSE_MAX_EVENT);
    if (!r->sax) {
        free(r);
        return -ENOMEM;
    }
    r->loop = loop;
    r->client = c;
    r->store = s;
    r->type = store_type(s);
    r->mode = mode;
    if (hooks)
        r->hooks = *hooks;
    r->idle_s = env_seconds("ABC_WATCH_IDLE_SECONDS", 90);
    r->absent_s = env_seconds("ABC_ABSENT_RETRY_SECONDS", 60);
    r->initial_s = env_seconds("ABC_INITIAL_EVENTS_SECONDS", 10);
    /* Paginated LIST (limit=500) then WATCH. The streaming list
     * (sendInitialEvents) is opt-in: a server that ignores the parameter
     * would cost a 10 s wait before the fallback. */
    const char *sl = getenv("ABC_STREAMING_LIST");
    r->stream_list = sl && strcmp(sl, "1") == 0;
    backoff_init(&r->backoff, 800, 30000, (uint64_t)uv_hrtime() ^ (uint64_t)(uintptr_t)r);
    uv_timer_init(loop, &r->retry);
    uv_timer_init(loop, &r->idle);
    if (m)
        reflector__declare_metrics(r, m);
    *out = r;
    return 0;
}

int reflector_start(struct reflector *r)
{
    if (r->closing)
        return -ESHUTDOWN;
    if (r->started)
        return 0;
    r->started = true;
    if (r->standby) { /* the series removed by reflector_standby, as at init */
        r->standby = false;
        m_set(r->m_synced, r->type->resource, 0);
        m_set(r->m_objects, r->type->resource, (double)store_count(r->store));
    }
    reflector__start_list(r);
    return 0;
}

void reflector_standby(struct reflector *r)
{
    const char *lv[] = {r->type->resource};
    r->standby = true;
    if (r->m_synced)
        metric_remove(r->m_synced, lv);
    if (r->m_objects)
        metric_remove(r->m_objects, lv);
    if (r->m_last)
        metric_remove(r->m_last, lv);
}

void reflector_stop(struct reflector *r)
{
    if (!r->started)
        return;
    r->started = false;
    reflector__drop_next(r);
    if (r->call)
        kube_client_cancel(r->call);
    r->call = NULL;
    r->pages[0].call = r->pages[1].call = NULL; /* the current page was r->call */
    uv_timer_stop(&r->retry);
    uv_timer_stop(&r->idle);
    store_replace_abort(r->staging);
    r->staging = NULL;
    r->initial = false;
    reflector__set_str(&r->cont, NULL);
    gunzip_end(&r->gz);
    r->phase = PH_IDLE;
}

static void on_closed(uv_handle_t *h)
{
    struct reflector *r = h->data;
    if (--r->closes > 0)
        return;
    reflector_close_cb cb = r->close_cb;
    void *d = r->close_data;
    sax_free(r->sax);
    free(r->cont);
    free(r->list_rv);
    free(r->rv);
    free(r);
    if (cb)
        cb(d);
}

void reflector_close(struct reflector *r, reflector_close_cb cb, void *data)
{
    if (r->closing)
        return;
    reflector_stop(r);
    r->closing = true;
    r->close_cb = cb;
    r->close_data = data;
    r->closes = 2;
    r->retry.data = r;
    r->idle.data = r;
    uv_close((uv_handle_t *)&r->retry, on_closed);
    uv_close((uv_handle_t *)&r->idle, on_closed);
}

bool reflector_synced(const struct reflector *r)
{
    return r->synced;
}

bool reflector_absent(const struct reflector *r)
{
    return r->absent;
}

const char *reflector_resource_version(const struct reflector *r)
{
    return r->rv ? r->rv : "";
}

struct store *reflector_store(const struct reflector *r)
{
    return r->store;
}
