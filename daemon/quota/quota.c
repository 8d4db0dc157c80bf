/* The loop-facing quota object (quota.h): store consumers feed the ledger,
 * every change is persisted (coalesced to one write per loop turn; the
 * write API saves before it answers: synchronously to the file, or waits
 * for the ConfigMap write, pending.c), a timer armed to the
 * next day boundary prunes old days, and warnings are logged once per
 * instance, operation and day. */
#include "quota/quota_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/container.h"
#include "util/log.h"

#define SAVE_RETRY_MS 5000

int64_t quota__now(const struct quota *q)
{
    int64_t ms = q->o.now_ms ? q->o.now_ms() : clock_now_ms();
    return ms / 1000;
}

static int64_t now_ms(const struct quota *q)
{
    return q->o.now_ms ? q->o.now_ms() : clock_now_ms();
}

static void fill_ledger_opts(const struct quota_opts *o, struct ledger_opts *lo)
{
    memset(lo, 0, sizeof(*lo));
    lo->limit[ACCT_OP_BACKUP] = o->backup_limit;
    lo->limit[ACCT_OP_RESTORE] = o->restore_limit;
    lo->warn_ratio = o->warn_ratio;
    lo->day_offset = o->day_offset;
    lo->has_schedule = o->has_schedule;
    lo->schedule = o->schedule;
    lo->tolerance_s = (int64_t)o->tolerance_minutes * 60;
}

static void log_load(struct quota *q, const char *path, int rc, const char *aside)
{
    char n1[24], n2[24];
    snprintf(n1, sizeof(n1), "%zu", ledger_object_count(q->ledger));
    snprintf(n2, sizeof(n2), "%zu", ledger_reservation_count(q->ledger));
    switch (rc) {
    case QUOTA_LOAD_OK:
        log_kv(LOG_INFO, "quota state loaded", "store", q->store.ops->name, "file", path,
               "objects", n1, "reservations", n2, NULL);
        break;
    case QUOTA_LOAD_NONE:
        log_kv(LOG_INFO, "no quota state saved yet; counting from the API", "store",
               q->store.ops->name, "file", path, NULL);
        break;
    case QUOTA_LOAD_CORRUPT:
        log_kv(LOG_ERROR,
               "quota state is corrupt or unreadable; moved aside, counts are rebuilt from "
               "the objects the API still shows (reservations in it are lost)",
               "store", q->store.ops->name, "file", path, "moved_to",
               aside && *aside ? aside : "(could not move it)", NULL);
        break;
    default:
        log_kv(LOG_ERROR, "cannot load quota state; starting empty", "store",
               q->store.ops->name, "file", path, "error", strerror(-rc), NULL);
        break;
    }
}

static int load_store(struct quota *q, const char *what)
{
    char aside[1200];
    int64_t now = quota__now(q);
    int rc = quota_state_load(&q->store, q->ledger, now, aside, sizeof(aside));
    log_load(q, what, rc, aside);
    if (rc == -ENOMEM)
        return rc;
    ledger_prune(q->ledger, now);
    if (rc == QUOTA_LOAD_CORRUPT && !q->o.read_only)
        q->dirty = true;
    return 0;
}

static void on_save_timer(uv_timer_t *t)
{
    struct quota *q = container_of(t, struct quota, save_timer);
    if (q->dirty)
        quota__save(q);
}

static void arm_day_timer(struct quota *q);

static void on_day_timer(uv_timer_t *t)
{
    struct quota *q = container_of(t, struct quota, day_timer);
    int64_t now = quota__now(q);
    if (ledger_day_of(q->ledger, now) == q->armed_day) {
        /* Early (a stall kept the loop's clock behind the wall clock when
         * the timer was armed): the day has not changed yet. */
        arm_day_timer(q);
        return;
    }
    char day[16], reset[32];
    ledger_day_string(ledger_day_of(q->ledger, now), day, sizeof(day));
    clock_format_rfc3339(ledger_resets_at(q->ledger, now), reset, sizeof(reset));
    log_kv(LOG_INFO, "quota day started; counts start from zero", "day", day, "resets_at",
           reset, NULL);
    if (ledger_prune(q->ledger, now) > 0)
        quota__changed(q);
    arm_day_timer(q);
}

/* Single-shot to just after the next boundary, recomputed from the wall
 * clock each time (no polling, no drift). */
static void arm_day_timer(struct quota *q)
{
    if (!q->loop || !q->timers_init || q->closing)
        return;
    int64_t ms = now_ms(q);
    int64_t next = ledger_resets_at(q->ledger, ms / 1000) * 1000;
    int64_t delay = next - ms + 20;
    if (delay < 1)
        delay = 1;
    q->armed_day = ledger_day_of(q->ledger, ms / 1000);
    /* The delay is from the wall clock now; the loop's cached time may be
     * stale after a long callback or a slow start. */
    uv_update_time(q->loop);
    uv_timer_start(&q->day_timer, on_day_timer, (uint64_t)delay, 0);
}

int quota__save(struct quota *q)
{
    if (!q->store.ops) {
        q->dirty = false;
        return 0;
    }
    int rc = quota_state_save(&q->store, q->ledger, quota__now(q));
    if (rc) {
        if (!q->save_failing)
            log_kv(LOG_ERROR, "cannot write quota state; keeping counts in memory, retrying",
                   "store", q->store.ops->name, "file", q->o.state_file, "error",
                   strerror(-rc), NULL);
        q->save_failing = true;
        if (q->loop && q->timers_init && !q->closing)
            uv_timer_start(&q->save_timer, on_save_timer, SAVE_RETRY_MS, 0);
        return rc;
    }
    if (q->save_failing)
        log_kv(LOG_INFO, "quota state written again", "store", q->store.ops->name, NULL);
    q->save_failing = false;
    q->dirty = false;
    return 0;
}

static void on_warn(void *data, const char *instance, enum acct_op op, long used, long limit)
{
    struct quota *q = data;
    char u[24], l[24], day[16];
    snprintf(u, sizeof(u), "%ld", used);
    snprintf(l, sizeof(l), "%ld", limit);
    ledger_day_string(ledger_day_of(q->ledger, quota__now(q)), day, sizeof(day));
    log_kv(LOG_WARN,
           op == ACCT_OP_BACKUP ? "on-demand backup quota nearly used up"
                                : "restore quota nearly used up",
           "backup_instance", instance, "operation", acct_op_name(op), "used", u, "limit", l,
           "day", day, NULL);
}

void quota__warnings(struct quota *q)
{
    ledger_take_warnings(q->ledger, quota__now(q), on_warn, q);
}

void quota__changed(struct quota *q)
{
    quota__warnings(q);
    q->dirty = true;
    if (q->o.read_only)
        return;
    if (q->loop && q->timers_init && !q->closing) {
        if (!q->save_failing)
            uv_timer_start(&q->save_timer, on_save_timer, 0, 0);
    } else {
        quota__save(q);
    }
}

static int copy_opts(struct quota *q, const struct quota_opts *o)
{
    char *db = strdup(o->day_boundary && *o->day_boundary ? o->day_boundary : "UTC");
    if (!db)
        return -ENOMEM;
    if (quota__token_set(&q->token, o->token_file)) {
        free(db);
        return -ENOMEM;
    }
    free(q->day_boundary);
    q->day_boundary = db;
    const char *state_file = q->o.state_file;
    bool ro = q->o.read_only;
    q->o = *o;
    q->o.day_boundary = q->day_boundary;
    q->o.token_file = q->token.path;
    q->o.state_file = state_file;
    q->o.read_only = ro;
    return 0;
}

static void quota_free(struct quota *q)
{
    ledger_free(q->ledger);
    quota_store_free(&q->store);
    for (size_t i = 0; i < q->nsources; i++) {
        free(q->sources[i].name);
        free(q->sources[i].desc);
        free(q->sources[i].constant);
    }
    free(q->sources);
    quota__token_free(&q->token);
    quota__azure_free(q);
    free(q->day_boundary);
    free((char *)q->o.state_file);
    free(q);
}

int quota_init(struct quota **out, uv_loop_t *loop, const struct quota_opts *o)
{
    struct quota *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->loop = loop;
    if (o->state_file && *o->state_file && !(q->o.state_file = strdup(o->state_file))) {
        free(q);
        return -ENOMEM;
    }
    q->o.read_only = o->read_only;
    struct ledger_opts lo;
    fill_ledger_opts(o, &lo);
    if (copy_opts(q, o) || !(q->ledger = ledger_new(&lo))) {
        quota_free(q);
        return -ENOMEM;
    }
    if (q->o.state_file) {
        int rc = quota_file_store_init(&q->store, q->o.state_file, q->o.read_only);
        if (rc || (rc = load_store(q, q->o.state_file))) {
            quota_free(q);
            return rc;
        }
    }
    if (loop) {
        uv_timer_init(loop, &q->day_timer);
        uv_timer_init(loop, &q->save_timer);
        uv_timer_init(loop, &q->pend_timer);
        q->timers_init = true;
    }
    *out = q;
    return 0;
}

int quota_set_store(struct quota *q, struct quota_store *s)
{
    quota_store_free(&q->store);
    q->store = *s;
    s->ops = NULL;
    s->ctx = NULL;
    int rc = load_store(q, q->store.ops->name);
    if (rc)
        return rc;
    quota__changed(q);
    return 0;
}

static struct quota_source *find_source(struct quota *q, const char *name)
{
    for (size_t i = 0; i < q->nsources; i++)
        if (strcmp(q->sources[i].name, name) == 0)
            return &q->sources[i];
    return NULL;
}

static void observe(struct quota *q, const void *rec)
{
    const struct acct_rec *r = rec;
    if (!r || !r->on_demand)
        return;
    int64_t now = quota__now(q);
    char ubuf[MODEL_UID_BUF];
    int rc = ledger_observe(q->ledger, model_meta_uid(&r->meta, ubuf), r->instance, r->op, r->meta.created,
                            r->reservation, now);
    if (rc > 0)
        quota__changed(q);
    else if (rc < 0)
        log_kv(LOG_ERROR, "cannot record an accounting object; it is not counted",
               "namespace", model_meta_ns(&r->meta), "name", r->meta.name, "error", strerror(-rc), NULL);
}

static void c_add(void *data, const struct model_type *t, const void *rec)
{
    (void)t;
    observe(data, rec);
}

static void c_update(void *data, const struct model_type *t, const void *old_rec,
                     const void *new_rec)
{
    (void)t;
    (void)old_rec;
    observe(data, new_rec);
}

static void c_synced(void *data, const struct model_type *t)
{
    struct quota *q = data;
    quota_set_source_available(q, acct_type_source(t)->name, true);
    quota_flush(q);
}

int quota_add_source(struct quota *q, const struct model_type *t, struct store_consumer *c)
{
    const struct acct_source *s = acct_type_source(t);
    struct quota_source *v = realloc(q->sources, (q->nsources + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    q->sources = v;
    struct quota_source *n = &v[q->nsources];
    memset(n, 0, sizeof(*n));
    n->op = s->op;
    n->name = strdup(s->name);
    char desc[600];
    snprintf(desc, sizeof(desc), "%s%s%s %s", s->group, *s->group ? "/" : "", s->version,
             s->resource);
    n->desc = strdup(desc);
    if (!n->name || !n->desc) {
        free(n->name);
        free(n->desc);
        return -ENOMEM;
    }
    const char *ci = acct_type_constant_instance(t);
    if (ci && ledger_add_instance(q->ledger, ci)) {
        free(n->name);
        free(n->desc);
        return -ENOMEM;
    }
    if (ci && !(n->constant = strdup(ci))) {
        free(n->name);
        free(n->desc);
        return -ENOMEM;
    }
    q->all_constant = (q->nsources == 0 || q->all_constant) && ci != NULL;
    q->nsources++;
    memset(c, 0, sizeof(*c));
    c->on_add = c_add;
    c->on_update = c_update;
    c->on_delete = NULL; /* deleting never gives a count back */
    c->on_synced = c_synced;
    c->data = q;
    return 0;
}

void quota_set_source_available(struct quota *q, const char *name, bool available)
{
    struct quota_source *s = find_source(q, name);
    if (!s)
        return;
    s->available = available;
    s->known_absent = !available;
}

int quota_start(struct quota *q)
{
    if (!q->loop || q->started)
        return 0;
    q->started = true;
    int64_t now = quota__now(q);
    if (ledger_prune(q->ledger, now) > 0 || q->dirty)
        quota__changed(q);
    arm_day_timer(q);
    return 0;
}

int quota_reload(struct quota *q, const struct quota_opts *o)
{
    struct ledger_opts lo;
    fill_ledger_opts(o, &lo);
    int rc = copy_opts(q, o);
    if (rc)
        return rc;
    ledger_set_opts(q->ledger, &lo);
    quota__apply_policy_schedule(q);
    if (q->started)
        arm_day_timer(q);
    quota__changed(q);
    return 0;
}

int quota_flush(struct quota *q)
{
    if (!q->dirty || q->o.read_only)
        return 0;
    return quota__save(q);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct quota *q = h->data;
    if (--q->closing > 0)
        return;
    void (*cb)(void *) = q->close_cb;
    void *data = q->close_data;
    quota_free(q);
    if (cb)
        cb(data);
}

void quota_close(struct quota *q, void (*cb)(void *data), void *data)
{
    if (!q)
        return;
    quota__pending_close(q);
    quota_flush(q);
    if (!q->loop || !q->timers_init) {
        quota_free(q);
        if (cb)
            cb(data);
        return;
    }
    q->close_cb = cb;
    q->close_data = data;
    q->closing = 3;
    q->day_timer.data = q;
    q->save_timer.data = q;
    q->pend_timer.data = q;
    uv_timer_stop(&q->day_timer);
    uv_timer_stop(&q->save_timer);
    uv_timer_stop(&q->pend_timer);
    uv_close((uv_handle_t *)&q->day_timer, on_handle_closed);
    uv_close((uv_handle_t *)&q->save_timer, on_handle_closed);
    uv_close((uv_handle_t *)&q->pend_timer, on_handle_closed);
}

long quota_used(struct quota *q, const char *instance, enum acct_op op)
{
    return ledger_used(q->ledger, instance, op, quota__now(q));
}

int64_t quota_resets_at(struct quota *q) { return ledger_resets_at(q->ledger, quota__now(q)); }

struct ledger *quota_ledger(struct quota *q) { return q->ledger; }

bool quota_any_warn(struct quota *q) { return ledger_any_warn(q->ledger, quota__now(q)); }
