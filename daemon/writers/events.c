/* BackupUnsupported Events: a scan of the engine's PVs queues each skipped
 * PV not yet known to have today's Event; a pump posts them with at most
 * max_inflight in flight; 2xx and 409 both mean "done for today"; anything
 * else re-queues the PV and pauses the queue with backoff. See events.h. */
#include "writers/events.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/backoff.h"
#include "store/store.h"
#include "model/records.h"
#include "rules/engine.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

#define MAX_INFLIGHT 64
#define NOT_SYNCED_RETRY_MS 250
#define NS_MAX 254
/* States dropped (pump) from which a drained queue returns free heap pages. */
#define TRIM_AFTER_DROPS 1024

enum pv_state_kind { PS_IDLE, PS_QUEUED, PS_INFLIGHT };

/* One per skipped PV: one allocation with the name behind it, in an
 * open-addressing set of pointers (struct states), ~60 bytes a PV. */
struct pv_state {
    struct pv_state *next; /* queue link */
    int32_t day_done;      /* yyyymmdd whose Event is known to exist; 0 = none */
    uint32_t gen;          /* last scan that saw it skipped */
    uint32_t hash;         /* of name */
    uint8_t kind;          /* enum pv_state_kind */
    char name[];
};

/* Linear probing, load <= 3/4, backward-shift deletion. */
struct states {
    struct pv_state **v; /* NULL = empty */
    size_t cap, n;       /* cap 0 or a power of two */
};

struct ev_req {
    struct event_writer *owner; /* NULL once closed: the answer is dropped */
    struct pv_state *ps;
    int32_t day;
    unsigned slot;
    void *call; /* the transport's handle */
};

struct event_writer {
    uv_loop_t *loop;
    uv_timer_t scan_timer;  /* coalesced scans, not-synced poll */
    uv_timer_t day_timer;   /* periodic: a new UTC day rescans */
    uv_timer_t retry_timer; /* queue paused after a failure */
    struct write_transport tr;
    const struct engine *engine;
    const struct store *pvs;
    char ns[NS_MAX], instance[NS_MAX];
    unsigned max_inflight;
    int64_t scan_delay_ms, day_check_ms;
    struct backoff bo;
    unsigned long logged_created, logged_existing; /* counts at the last summary */
    bool leader;
    bool paused;            /* backing off */
    bool failing;           /* logged once until the next success */
    bool closing;
    int32_t scanned_day;    /* day of the last scan */
    int32_t cap_day;        /* day posted_today counts */
    unsigned posted_today;  /* POSTs today, against EVENTS_PER_DAY_MAX */
    bool cap_logged;
    uint32_t gen;
    struct states states;   /* by pv name */
    size_t dropped;         /* states dropped since the last trim */
    struct pv_state *qhead, *qtail;
    size_t queued;
    struct ev_req *reqs[MAX_INFLIGHT];
    size_t inflight;
    struct event_writer_stats st;
    int handles;            /* still closing */
    void (*close_cb)(void *data);
    void *close_data;
};

/* ---- pure helpers ----------------------------------------------------- */

int32_t event_day(int64_t unix_secs)
{
    time_t t = (time_t)unix_secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return 0;
    return (int32_t)((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
}

static uint32_t fnv1a32(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int event_name(char *out, size_t n, const char *pv, int32_t day)
{
    if (!pv || !*pv || n < EVENT_NAME_MAX + 1)
        return -EINVAL;
    char suffix[48];
    int sl = snprintf(suffix, sizeof(suffix), ".backup-unsupported.%08d", (int)day);
    size_t pl = strlen(pv);
    if (pl + (size_t)sl <= EVENT_NAME_MAX) {
        snprintf(out, n, "%s%s", pv, suffix);
        return 0;
    }
    /* prefix + "-" + 8 hex + suffix; the prefix must end alphanumeric. */
    size_t keep = EVENT_NAME_MAX - (size_t)sl - 9;
    while (keep > 0 && (pv[keep - 1] == '-' || pv[keep - 1] == '.'))
        keep--;
    snprintf(out, n, "%.*s%s%08x%s", (int)keep, pv, keep ? "-" : "", fnv1a32(pv), suffix);
    return 0;
}

void event_message_ed(char *out, size_t n, enum pv_reason r, const struct matrix_edition *ed)
{
    snprintf(out, n, "AKS backup skips this volume (%s): %s", pv_reason_code(r),
             ed ? pv_reason_remedy_ed(ed, r) : pv_reason_remedy(r));
}

void event_message(char *out, size_t n, enum pv_reason r)
{
    event_message_ed(out, n, r, NULL);
}

int event_body_ed(struct buf *b, const char *name, const char *namespace_, const char *pv,
                  const char *uid, enum pv_reason r, const struct matrix_edition *ed,
                  const char *instance, int64_t now)
{
    char ts[32], msg[512];
    clock_format_rfc3339(now, ts, sizeof(ts));
    event_message_ed(msg, sizeof(msg), r, ed);
    int rc = buf_adds(b, "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":");
    rc |= buf_add_json_str(b, name);
    rc |= buf_adds(b, ",\"namespace\":");
    rc |= buf_add_json_str(b, namespace_);
    rc |= buf_adds(b, "},\"involvedObject\":{\"kind\":\"PersistentVolume\",\"apiVersion\":\"v1\","
                      "\"name\":");
    rc |= buf_add_json_str(b, pv);
    if (uid && *uid) {
        rc |= buf_adds(b, ",\"uid\":");
        rc |= buf_add_json_str(b, uid);
    }
    rc |= buf_adds(b, "},\"reason\":\"" EVENT_REASON "\",\"message\":");
    rc |= buf_add_json_str(b, msg);
    rc |= buf_printf(b, ",\"type\":\"Warning\",\"firstTimestamp\":\"%s\",\"lastTimestamp\":\"%s\","
                        "\"count\":1,\"source\":{\"component\":\"" EVENT_COMPONENT "\"},"
                        "\"reportingComponent\":\"" EVENT_COMPONENT "\",\"reportingInstance\":",
                     ts, ts);
    rc |= buf_add_json_str(b, instance ? instance : "");
    rc |= buf_adds(b, "}");
    return rc ? -ENOMEM : 0;
}

int event_body(struct buf *b, const char *name, const char *namespace_, const char *pv,
               const char *uid, enum pv_reason r, const char *instance, int64_t now)
{
    return event_body_ed(b, name, namespace_, pv, uid, r, NULL, instance, now);
}

/* ---- states ----------------------------------------------------------- */

static uint32_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, folded */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (uint32_t)(h ^ (h >> 32));
}

/* Position of name (hash h) in st, or of the empty position for it. */
static size_t st_pos(const struct states *st, const char *name, uint32_t h)
{
    size_t mask = st->cap - 1;
    size_t i = h & mask;
    while (st->v[i] && !(st->v[i]->hash == h && strcmp(st->v[i]->name, name) == 0))
        i = (i + 1) & mask;
    return i;
}

static struct pv_state *st_get(const struct states *st, const char *name)
{
    return st->cap ? st->v[st_pos(st, name, name_hash(name))] : NULL;
}

/* A new idle state for name (absent from st); NULL on ENOMEM. */
static struct pv_state *st_add(struct states *st, const char *name)
{
    if ((st->n + 1) * 4 > st->cap * 3) {
        size_t nc = st->cap ? st->cap * 2 : 64;
        struct pv_state **nv = calloc(nc, sizeof(*nv));
        if (!nv)
            return NULL;
        struct states g = {nv, nc, st->n};
        for (size_t i = 0; i < st->cap; i++)
            if (st->v[i])
                nv[st_pos(&g, st->v[i]->name, st->v[i]->hash)] = st->v[i];
        free(st->v);
        *st = g;
    }
    size_t len = strlen(name);
    struct pv_state *ps = calloc(1, sizeof(*ps) + len + 1);
    if (!ps)
        return NULL;
    memcpy(ps->name, name, len + 1);
    ps->hash = name_hash(name);
    st->v[st_pos(st, name, ps->hash)] = ps;
    st->n++;
    return ps;
}

/* Removes and frees ps. */
static void st_remove(struct states *st, struct pv_state *ps)
{
    size_t mask = st->cap - 1;
    size_t i = ps->hash & mask;
    while (st->v[i] != ps)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; st->v[j]; j = (j + 1) & mask) {
        size_t home = st->v[j]->hash & mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            st->v[i] = st->v[j];
            i = j;
        }
    }
    st->v[i] = NULL;
    st->n--;
    free(ps);
}

/* After states were dropped: a table at load < 1/4 halves (to 64 at
 * least) until its load is 1/4 or more. */
static void st_shrink(struct states *st)
{
    size_t nc = st->cap;
    while (nc > 64 && st->n * 4 < nc)
        nc /= 2;
    if (nc == st->cap)
        return;
    struct pv_state **nv = calloc(nc, sizeof(*nv));
    if (!nv)
        return; /* keeps the larger table */
    struct states g = {nv, nc, st->n};
    for (size_t i = 0; i < st->cap; i++)
        if (st->v[i])
            nv[st_pos(&g, st->v[i]->name, st->v[i]->hash)] = st->v[i];
    free(st->v);
    *st = g;
}

static void st_clear(struct states *st)
{
    for (size_t i = 0; i < st->cap; i++)
        free(st->v[i]);
    free(st->v);
    memset(st, 0, sizeof(*st));
}

/* ---- queue ------------------------------------------------------------ */

static int32_t today(void)
{
    return event_day(clock_now_ms() / 1000);
}

static void push(struct event_writer *w, struct pv_state *ps)
{
    ps->kind = PS_QUEUED;
    ps->next = NULL;
    if (w->qtail)
        w->qtail->next = ps;
    else
        w->qhead = ps;
    w->qtail = ps;
    w->queued++;
}

static struct pv_state *pop(struct event_writer *w)
{
    struct pv_state *ps = w->qhead;
    if (!ps)
        return NULL;
    w->qhead = ps->next;
    if (!w->qhead)
        w->qtail = NULL;
    ps->next = NULL;
    w->queued--;
    return ps;
}

static void pump(struct event_writer *w);

static void on_retry(uv_timer_t *t)
{
    struct event_writer *w = t->data;
    w->paused = false;
    pump(w);
}

static void on_answer(void *data, int status, const char *body, size_t len)
{
    struct ev_req *r = data;
    struct event_writer *w = r->owner;
    (void)body;
    (void)len;
    if (!w) {
        free(r);
        return;
    }
    w->reqs[r->slot] = NULL;
    w->inflight--;
    struct pv_state *ps = r->ps;
    int32_t day = r->day;
    free(r);
    ps->kind = PS_IDLE;
    if (status == 200 || status == 201 || status == 409) {
        if (status == 409)
            w->st.existing++;
        else
            w->st.created++;
        ps->day_done = day;
        backoff_reset(&w->bo);
        if (w->failing)
            log_kv(LOG_INFO, "posting BackupUnsupported events works again", NULL);
        w->failing = false;
        log_kv(LOG_DEBUG, status == 409 ? "BackupUnsupported event already emitted today"
                                        : "BackupUnsupported event emitted",
               "volume", ps->name, NULL);
    } else {
        w->st.failures++;
        push(w, ps); /* try again after the pause */
        if (!w->paused) {
            uint32_t delay = backoff_next(&w->bo);
            w->paused = true;
            uv_timer_start(&w->retry_timer, on_retry, delay, 0);
            if (!w->failing) {
                char code[16], d[16];
                snprintf(code, sizeof(code), "%d", status);
                snprintf(d, sizeof(d), "%u", delay);
                log_kv(LOG_WARN, "cannot post a BackupUnsupported event; retrying", "volume",
                       ps->name, "status", code, "retry_ms", d, NULL);
                w->failing = true;
            }
        }
    }
    pump(w);
}

static int post(struct event_writer *w, struct pv_state *ps, const struct engine_pv *pv, int32_t day)
{
    char name[EVENT_NAME_MAX + 1];
    int rc = event_name(name, sizeof(name), ps->name, day);
    if (rc)
        return rc;
    const struct pv_rec *rec = w->pvs ? store_get(w->pvs, NULL, ps->name) : NULL;
    char ubuf[MODEL_UID_BUF];
    struct buf b;
    buf_init(&b, 0);
    rc = event_body_ed(&b, name, w->ns, ps->name, rec ? model_meta_uid(&rec->meta, ubuf) : NULL, pv->reason,
                       engine_edition(w->engine), w->instance, clock_now_ms() / 1000);
    unsigned slot = 0;
    while (slot < MAX_INFLIGHT && w->reqs[slot])
        slot++;
    struct ev_req *r = rc || slot == MAX_INFLIGHT ? NULL : calloc(1, sizeof(*r));
    if (!r) {
        buf_free(&b);
        return rc ? rc : -ENOMEM;
    }
    *r = (struct ev_req){.owner = w, .ps = ps, .day = day, .slot = slot};
    char path[NS_MAX + 48];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", w->ns);
    rc = w->tr.request(w->tr.ctx, "POST", path, "application/json", b.data, b.len, on_answer, r,
                       &r->call);
    buf_free(&b);
    if (rc) {
        free(r);
        return rc;
    }
    w->reqs[slot] = r;
    w->inflight++;
    w->st.posts++;
    ps->kind = PS_INFLIGHT;
    return 0;
}

/* One info line each time the queue drains after posting. */
static void summary(struct event_writer *w)
{
    if (w->qhead || w->inflight ||
        (w->st.created == w->logged_created && w->st.existing == w->logged_existing))
        return;
    char c[24], e[24];
    snprintf(c, sizeof(c), "%lu", w->st.created - w->logged_created);
    snprintf(e, sizeof(e), "%lu", w->st.existing - w->logged_existing);
    log_kv(LOG_INFO, "BackupUnsupported events posted", "created", c, "already_present", e,
           "namespace", w->ns, NULL);
    w->logged_created = w->st.created;
    w->logged_existing = w->st.existing;
}

static void pump(struct event_writer *w)
{
    if (w->closing)
        return;
    int32_t day = today();
    while (w->leader && !w->paused && w->inflight < w->max_inflight && w->qhead) {
        struct pv_state *ps = pop(w);
        ps->kind = PS_IDLE;
        struct engine_pv pv;
        if (ps->day_done == day)
            continue;
        /* From here on a PV not posted keeps no state: an idle state
         * without today's Event is what a scan finds for an unknown PV
         * (with tens of thousands of skipped PVs, most are past the daily
         * cap: ~60 bytes each kept for nothing). */
        if (!engine_pv_get(w->engine, ps->name, &pv) || pv.reason == PV_REASON_SUPPORTED) {
            st_remove(&w->states, ps);
            w->dropped++;
            continue;
        }
        /* An event recorder must not flood the API server: a cluster with
         * tens of thousands of skipped PVs gets the first EVENTS_PER_DAY_MAX
         * of them a day; the report and the metrics list them all. */
        if (w->cap_day != day) {
            w->cap_day = day;
            w->posted_today = 0;
            w->cap_logged = false;
        }
        if (w->posted_today >= EVENTS_PER_DAY_MAX) {
            if (!w->cap_logged) {
                char cap[16];
                snprintf(cap, sizeof(cap), "%u", (unsigned)EVENTS_PER_DAY_MAX);
                log_kv(LOG_WARN, "BackupUnsupported events: daily cap reached; more skipped PVs "
                                 "are in the report and the metrics",
                       "cap", cap, NULL);
                w->cap_logged = true;
            }
            st_remove(&w->states, ps);
            w->dropped++;
            continue;
        }
        w->posted_today++;
        int rc = post(w, ps, &pv, day);
        if (rc) {
            /* Could not even send (memory, client closing): pause as for a failure. */
            push(w, ps);
            w->st.failures++;
            w->paused = true;
            uv_timer_start(&w->retry_timer, on_retry, backoff_next(&w->bo), 0);
            return;
        }
    }
    st_shrink(&w->states);
#ifdef __GLIBC__
    /* The states of a large scan came in one burst and went mostly here:
     * once the queue drained, hand their pages back (a few ms). */
    if (w->dropped >= TRIM_AFTER_DROPS && !w->qhead) {
        w->dropped = 0;
        malloc_trim(0);
    }
#endif
    summary(w);
}

/* ---- scan ------------------------------------------------------------- */

struct scan {
    struct event_writer *w;
    int32_t day;
    bool oom;
};

static bool scan_cb(void *data, const struct engine_pv *pv)
{
    struct scan *s = data;
    struct event_writer *w = s->w;
    if (pv->reason == PV_REASON_SUPPORTED)
        return true;
    struct pv_state *ps = st_get(&w->states, pv->name);
    /* Past today's cap (logged), an unknown PV would be queued only for
     * pump to drop it. */
    if (!ps && w->cap_day == s->day && w->posted_today >= EVENTS_PER_DAY_MAX && w->cap_logged)
        return true;
    if (!ps && !(ps = st_add(&w->states, pv->name))) {
        s->oom = true;
        return false;
    }
    ps->gen = w->gen;
    if (ps->kind == PS_IDLE && ps->day_done != s->day)
        push(w, ps);
    return true;
}

/* Forgets PVs no longer skipped (or gone) that are not queued or in flight. */
static void sweep(struct event_writer *w, int32_t day)
{
    struct states *st = &w->states;
    for (size_t i = 0; i < st->cap;) {
        struct pv_state *ps = st->v[i];
        if (ps && ps->gen != w->gen && ps->kind == PS_IDLE)
            st_remove(st, ps); /* a later one may shift into i: look again */
        else
            i++;
    }
    size_t done_today = 0;
    for (size_t i = 0; i < st->cap; i++)
        done_today += st->v[i] && st->v[i]->day_done == day;
    w->st.done_today = done_today;
}

static void on_scan(uv_timer_t *t);
static void on_day(uv_timer_t *t);

static void scan(struct event_writer *w)
{
    int32_t day = today();
    w->gen++;
    w->scanned_day = day;
    struct scan s = {.w = w, .day = day};
    engine_foreach_pv_sorted(w->engine, scan_cb, &s);
    if (s.oom) { /* try the whole scan again later */
        uv_timer_start(&w->scan_timer, on_scan, 1000, 0);
        return;
    }
    sweep(w, day);
    pump(w);
}

static void on_scan(uv_timer_t *t)
{
    struct event_writer *w = t->data;
    if (!w->leader)
        return;
    if (w->pvs && !store_synced(w->pvs)) {
        uv_timer_start(&w->scan_timer, on_scan, NOT_SYNCED_RETRY_MS, 0);
        return;
    }
    scan(w);
}

static void schedule_scan(struct event_writer *w, int64_t ms)
{
    if (w->closing || !w->leader || uv_is_active((uv_handle_t *)&w->scan_timer))
        return;
    uv_timer_start(&w->scan_timer, on_scan, (uint64_t)(ms > 0 ? ms : 0), 0);
}

/* Next check: just after the next UTC midnight, at most day_check_ms away
 * (the wall clock may jump). */
static void arm_day(struct event_writer *w)
{
    int64_t now = clock_now_ms();
    int64_t to_midnight = 86400000 - now % 86400000 + 200;
    int64_t ms = to_midnight < w->day_check_ms ? to_midnight : w->day_check_ms;
    uv_timer_start(&w->day_timer, on_day, (uint64_t)ms, 0);
}

static void on_day(uv_timer_t *t)
{
    struct event_writer *w = t->data;
    if (w->leader && today() != w->scanned_day)
        schedule_scan(w, 0);
    arm_day(w);
}

/* ---- public ----------------------------------------------------------- */

int event_writer_new(struct event_writer **out, uv_loop_t *loop,
                     const struct event_writer_opts *o)
{
    *out = NULL;
    if (!o->engine || !o->transport.request || o->max_inflight > MAX_INFLIGHT ||
        (o->namespace_ && strlen(o->namespace_) >= NS_MAX))
        return -EINVAL;
    struct event_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->loop = loop;
    w->tr = o->transport;
    w->engine = o->engine;
    w->pvs = o->pvs;
    snprintf(w->ns, sizeof(w->ns), "%s", o->namespace_ && *o->namespace_ ? o->namespace_ : "default");
    snprintf(w->instance, sizeof(w->instance), "%s", o->instance ? o->instance : "");
    w->max_inflight = o->max_inflight ? o->max_inflight : 4;
    w->scan_delay_ms = o->scan_delay_ms > 0 ? o->scan_delay_ms : 2000;
    backoff_init(&w->bo, o->retry_initial_ms ? o->retry_initial_ms : 1000,
                 o->retry_max_ms ? o->retry_max_ms : 60000, (uint64_t)clock_mono_ms() | 1);
    uv_timer_init(loop, &w->scan_timer);
    uv_timer_init(loop, &w->day_timer);
    uv_timer_init(loop, &w->retry_timer);
    w->scan_timer.data = w->day_timer.data = w->retry_timer.data = w;
    w->day_check_ms = o->day_check_ms > 0 ? o->day_check_ms : 60000;
    arm_day(w);
    uv_unref((uv_handle_t *)&w->day_timer);
    *out = w;
    return 0;
}

void event_writer_set_leader(struct event_writer *w, bool leader)
{
    if (!w || w->leader == leader)
        return;
    w->leader = leader;
    if (leader)
        schedule_scan(w, 0);
}

void event_writer_notify(struct event_writer *w, unsigned what)
{
    if (w && (what & ENGINE_CHANGED_VERDICTS))
        schedule_scan(w, w->scan_delay_ms);
}

void event_writer_stats(const struct event_writer *w, struct event_writer_stats *out)
{
    *out = w->st;
    out->queued = w->queued;
    out->inflight = w->inflight;
    out->tracked = w->states.n;
}

static void handle_closed(uv_handle_t *h)
{
    struct event_writer *w = h->data;
    if (--w->handles > 0)
        return;
    void (*cb)(void *) = w->close_cb;
    void *data = w->close_data;
    st_clear(&w->states);
    free(w);
    if (cb)
        cb(data);
}

void event_writer_close(struct event_writer *w, void (*cb)(void *data), void *data)
{
    w->closing = true;
    for (size_t i = 0; i < MAX_INFLIGHT; i++) {
        struct ev_req *r = w->reqs[i];
        if (!r)
            continue;
        w->reqs[i] = NULL;
        if (w->tr.cancel) {
            w->tr.cancel(w->tr.ctx, r->call);
            free(r);
        } else {
            r->owner = NULL;
        }
    }
    w->inflight = 0;
    w->close_cb = cb;
    w->close_data = data;
    w->handles = 3;
    uv_close((uv_handle_t *)&w->scan_timer, handle_closed);
    uv_close((uv_handle_t *)&w->day_timer, handle_closed);
    uv_close((uv_handle_t *)&w->retry_timer, handle_closed);
}
