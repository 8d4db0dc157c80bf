/* kubesim watch streams: one MHD callback response per watch (chunked,
 * flushed per event), reading the global history from a resourceVersion
 * cursor. Initial ADDED events, bookmarks, timeoutSeconds, 410 ERROR events,
 * 504 "Too large resource version" ERROR events and the watch faults (drop,
 * stall, garbage, partition) live here. */
#include "ks.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct watch {
    struct watch_params p;
    struct MHD_Connection *conn;
    uint64_t cursor;
    struct obj **initial; /* references held */
    size_t ninitial, next_initial;
    bool initial_bookmark, close_clean, close_err, truncated, partitioned;
    uint64_t drop_gen, drop_res_gen, next_bookmark, deadline;
    struct sbuf out;
    size_t out_off;
};

static bool matches(const struct watch *w, const struct obj *o)
{
    if (w->p.ns && strcmp(o->ns, w->p.ns))
        return false;
    return selector_match(w->p.lsel, o) && selector_match(w->p.fsel, o);
}

static void emit_obj(struct watch *w, const char *type, const struct obj *o, const char *json, size_t len)
{
    sbuf_printf(&w->out, "{\"type\":\"%s\",\"object\":", type);
    if (w->p.table) {
        sbuf_printf(&w->out, "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":"
                             "{\"resourceVersion\":\"%llu\"},", (unsigned long long)o->rv);
        table_columns(&w->out, &ks_rdefs[o->res]);
        sbuf_adds(&w->out, ",\"rows\":[{\"cells\":");
        table_row(&w->out, o);
        json_object *full = obj_parse(o), *m = NULL;
        json_object_object_get_ex(full, "metadata", &m);
        sbuf_adds(&w->out, ",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":");
        sbuf_adds(&w->out, m ? json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN) : "{}");
        sbuf_adds(&w->out, "}}]}");
        json_object_put(full);
    } else {
        sbuf_add(&w->out, json, len);
    }
    sbuf_adds(&w->out, "}\n");
}

static void emit_bookmark(struct watch *w, uint64_t rv, bool initial_end)
{
    const struct rdef *d = &ks_rdefs[w->p.res];
    char av[128];
    rdef_apiversion(d, av, sizeof av);
    sbuf_printf(&w->out, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"metadata\":"
                         "{\"resourceVersion\":\"%llu\"%s%s}}}\n",
                d->kind, av, (unsigned long long)rv, d->builtin ? ",\"creationTimestamp\":null" : "",
                initial_end ? ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}" : "");
}

static void emit_expired(struct watch *w, uint64_t rv)
{
    sbuf_printf(&w->out, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
                         "\"status\":\"Failure\",\"message\":\"too old resource version: %llu (%llu)\","
                         "\"reason\":\"Expired\",\"code\":410}}\n",
                (unsigned long long)rv, (unsigned long long)(sim.compacted_rv + 1));
    w->close_clean = true;
}

/* Takes a pending /garbage fault if it applies to w. Lock held. */
static int take_garbage(struct watch *w)
{
    if (!sim.garbage_mode[0])
        return 0;
    if (sim.garbage_res[0] && strcmp(sim.garbage_res, ks_rdefs[w->p.res].resource))
        return 0;
    int mode = !strcmp(sim.garbage_mode, "truncated") ? 2 : 1;
    sim.garbage_mode[0] = '\0';
    return mode;
}

static void emit_event(struct watch *w, const char *type, const struct obj *o, const struct obj *state_for_json)
{
    int g = take_garbage(w);
    size_t before = w->out.len;
    if (state_for_json == o) {
        emit_obj(w, type, o, o->json, o->len);
    } else {
        /* old state shown with the event's resourceVersion */
        json_object *copy = obj_parse(state_for_json);
        char rvs[32];
        snprintf(rvs, sizeof rvs, "%llu", (unsigned long long)o->rv);
        json_object *m = NULL;
        if (json_object_object_get_ex(copy, "metadata", &m))
            json_object_object_add(m, "resourceVersion", json_object_new_string(rvs));
        size_t len = 0;
        const char *s = json_object_to_json_string_length(copy, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        emit_obj(w, type, o, s, len);
        json_object_put(copy);
    }
    if (g == 1) {
        w->out.len = before;
        sbuf_printf(&w->out, "{\"type\":\"%s\",\"object\":{\"kind\":\"%s\",\"metadata\":{\"name\":\"garbage\",,]\n",
                    type, ks_rdefs[w->p.res].kind);
    } else if (g == 2) {
        w->out.len = before + (w->out.len - before) / 2;
        w->close_err = true;
        w->truncated = true;
    }
}

static bool peer_gone(struct watch *w)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(w->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    struct pollfd pfd = {.fd = ci->connect_fd, .events = POLLRDHUP};
    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
        return true;
    return false;
}

/* Fills w->out with what is due. Lock held. Returns with out possibly empty. */
static void produce(struct watch *w, uint64_t now)
{
    if (w->next_initial < w->ninitial) {
        for (size_t k = 0; k < 256 && w->next_initial < w->ninitial; k++) {
            struct obj *o = w->initial[w->next_initial++];
            emit_event(w, "ADDED", o, o);
            obj_unref(o);
        }
        return;
    }
    if (w->initial_bookmark) {
        w->initial_bookmark = false;
        emit_bookmark(w, w->cursor, true);
        return;
    }
    if (w->deadline && now >= w->deadline) { /* timeoutSeconds: a last bookmark, then a clean end */
        if (w->p.bookmarks)
            emit_bookmark(w, w->cursor, false);
        w->close_clean = true;
        return;
    }
    if (w->cursor < sim.compacted_rv) {
        emit_expired(w, w->cursor);
        return;
    }
    size_t i = hist_find(w->cursor), sent = 0;
    for (; i < sim.hist_n && sent < 500 && w->out.len < (1u << 20) && !w->close_err; i++) {
        struct event *e = hist_at(i);
        w->cursor = e->rv;
        if (e->obj->res != w->p.res)
            continue;
        bool mn = matches(w, e->obj);
        bool mp = e->prev && matches(w, e->prev);
        if (e->type == EV_ADDED && mn)
            emit_event(w, "ADDED", e->obj, e->obj);
        else if (e->type == EV_DELETED && mn)
            emit_event(w, "DELETED", e->obj, e->obj);
        else if (e->type == EV_MODIFIED && mn)
            emit_event(w, mp ? "MODIFIED" : "ADDED", e->obj, e->obj);
        else if (e->type == EV_MODIFIED && mp)
            emit_event(w, "DELETED", e->obj, e->prev);
        else
            continue;
        sent++;
    }
    if (i >= sim.hist_n && w->cursor < sim.rv)
        w->cursor = sim.rv;
    if (w->close_err)
        return;
    /* everything up to cursor has been delivered, so a bookmark is always valid */
    if (w->p.bookmarks && now >= w->next_bookmark) {
        emit_bookmark(w, w->cursor, false);
        w->next_bookmark = now + (uint64_t)sim.bookmark_interval_s * 1000u;
    }
}

static ssize_t watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct watch *w = cls;
    (void)pos;
    for (;;) {
        if (w->out_off < w->out.len) {
            size_t n = w->out.len - w->out_off;
            if (n > max)
                n = max;
            memcpy(buf, w->out.data + w->out_off, n);
            w->out_off += n;
            if (w->out_off == w->out.len)
                w->out_off = w->out.len = 0;
            return (ssize_t)n;
        }
        if (w->close_err)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (w->close_clean)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (peer_gone(w))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        pthread_mutex_lock(&sim.mu);
        uint64_t now = now_ms();
        bool cut_off = sim.partition_ua[0] && now < sim.partition_until_ms && strstr(w->p.ua, sim.partition_ua);
        if (cut_off)
            w->partitioned = true;
        if (w->drop_gen != sim.drop_gen || w->drop_res_gen != sim.drop_res_gen[w->p.res] || (cut_off && !sim.partition_hang) || (w->partitioned && !cut_off)) {
            /* close mode: cut now; hang mode: silent until the end, then cut */
            pthread_mutex_unlock(&sim.mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (cut_off) {
            struct timespec ts = {(time_t)((now + 200) / 1000), (long)((now + 200) % 1000) * 1000000L};
            pthread_cond_timedwait(&sim.cond, &sim.mu, &ts);
            pthread_mutex_unlock(&sim.mu);
            continue;
        }
        if (sim.disabled[w->p.res]) { /* the API went away (CRD removed): end cleanly */
            pthread_mutex_unlock(&sim.mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        uint64_t wake = now + 1000;
        if (now < sim.stall_until_ms) {
            if (sim.stall_until_ms < wake)
                wake = sim.stall_until_ms;
            if (w->next_bookmark < sim.stall_until_ms)
                w->next_bookmark = sim.stall_until_ms;
        } else {
            produce(w, now);
            if (w->p.bookmarks && w->next_bookmark < wake)
                wake = w->next_bookmark;
            if (w->deadline && w->deadline < wake)
                wake = w->deadline;
        }
        if (!w->out.len && !w->close_clean && !w->close_err) {
            struct timespec ts = {(time_t)(wake / 1000), (long)(wake % 1000) * 1000000L};
            pthread_cond_timedwait(&sim.cond, &sim.mu, &ts);
        }
        pthread_mutex_unlock(&sim.mu);
    }
}

static void watch_free(void *cls)
{
    struct watch *w = cls;
    pthread_mutex_lock(&sim.mu);
    sim.watches_open--;
    for (size_t i = w->next_initial; i < w->ninitial; i++)
        obj_unref(w->initial[i]);
    pthread_mutex_unlock(&sim.mu);
    free(w->initial);
    selector_free(w->p.lsel);
    selector_free(w->p.fsel);
    free(w->p.ns);
    free(w->p.ua);
    sbuf_free(&w->out);
    free(w);
}

enum MHD_Result watch_start(struct MHD_Connection *c, struct watch_params *p)
{
    struct watch *w = xcalloc(1, sizeof *w);
    w->p = *p;
    w->p.rv = NULL;
    w->conn = c;
    uint64_t rv = 0;
    bool from_now = !p->rv || !*p->rv || !strcmp(p->rv, "0");
    if (!from_now && parse_u64(p->rv, &rv)) {
        watch_free(w); /* counts below are balanced by the increment here */
        pthread_mutex_lock(&sim.mu);
        sim.watches_open++;
        pthread_mutex_unlock(&sim.mu);
        return send_status(c, 400, "BadRequest", "invalid resourceVersion", NULL, NULL);
    }
    uint64_t now = now_ms();
    pthread_mutex_lock(&sim.mu);
    sim.watches_open++;
    w->drop_gen = sim.drop_gen;
    w->drop_res_gen = sim.drop_res_gen[w->p.res];
    w->next_bookmark = now + (uint64_t)sim.bookmark_interval_s * 1000u;
    if (p->timeout_s > 0)
        w->deadline = now + (uint64_t)p->timeout_s * 1000u;
    /* A resourceVersion the server has not reached (etcd restored to an
     * older revision, or this simulator restarted under a client): wait
     * up to 3 s for it, as the watch cache's waitUntilFreshAndBlock does,
     * then answer as kube-apiserver's cacher answers a watch it cannot
     * serve: HTTP 200 and one ERROR event holding the 504 Status of
     * storage.NewTooLargeResourceVersionError, then the end. (kube-apiserver
     * does this for sendInitialEvents watches; a plain watch is held open
     * there, silent until the revision passes: README "Watches".) */
    if (!from_now && rv > sim.rv && !wait_fresh_locked(rv)) {
        char *st = too_large_status_json(rv, sim.rv);
        sbuf_adds(&w->out, "{\"type\":\"ERROR\",\"object\":");
        sbuf_adds(&w->out, st);
        sbuf_adds(&w->out, "}\n");
        free(st);
        w->close_clean = true;
        now = now_ms();
        w->next_bookmark = now + (uint64_t)sim.bookmark_interval_s * 1000u;
        if (p->timeout_s > 0)
            w->deadline = now + (uint64_t)p->timeout_s * 1000u;
    } else if (from_now || p->send_initial) {
        struct resstore *st = &sim.stores[p->res];
        w->initial = xmalloc((st->n + 1) * sizeof *w->initial);
        for (size_t i = 0; i < st->n; i++)
            if (matches(w, st->items[i])) {
                st->items[i]->refs++;
                w->initial[w->ninitial++] = st->items[i];
            }
        w->cursor = sim.rv;
        w->initial_bookmark = p->send_initial && p->bookmarks;
    } else {
        w->cursor = rv;
        if (rv < sim.compacted_rv)
            emit_expired(w, rv);
    }
    pthread_mutex_unlock(&sim.mu);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, watch_read, w, watch_free);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-cache, private");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}
