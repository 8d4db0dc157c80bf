/* Reservations waiting for the write that carries them (HA ConfigMap
 * store): each waiter's callback runs once the store's save_wait reports
 * that write; reserved when it landed, otherwise state_not_saved and the
 * reservation dropped. Runs on the loop; called from api.c. */
#include "quota/quota_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"

#define PEND_TICK_MS 100

struct quota_wait {
    struct quota_pending *p;
    quota_answer_cb cb;
    void *data;
    struct ledger_answer a;
    bool replayed;
    struct quota_wait *next;
};

/* Owned by the store's callback (on_saved frees it), listed in q->pending
 * while q lives. */
struct quota_pending {
    struct quota *q;            /* NULL once q is closed */
    struct quota_pending *prev, *next;
    char inst[256];
    char id[160];
    enum acct_op op;
    int64_t deadline_ms;        /* monotonic */
    bool settled;               /* answered: landed, failed or given up */
    struct quota_wait *waiters;
};

static void unlink_pending(struct quota_pending *p)
{
    struct quota *q = p->q;
    if (!q)
        return;
    if (p->prev)
        p->prev->next = p->next;
    else
        q->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

size_t quota_pending_count(const struct quota *q)
{
    size_t n = 0;
    for (const struct quota_pending *p = q->pending; p; p = p->next)
        n += !p->settled;
    return n;
}

static void answer(struct quota_pending *p, struct quota_wait *w, bool ok)
{
    struct quota_answer a;
    if (ok)
        quota__answer_reserved(&a, p->id, p->inst, p->op, &w->a, w->replayed);
    else
        quota_answer_not_saved(&a);
    w->cb(w->data, &a);
}

/* The outcome for every waiter; a failure drops the reservation first. */
static void settle(struct quota_pending *p, bool ok, const char *why)
{
    if (p->settled)
        return;
    p->settled = true;
    struct quota *q = p->q;
    if (q && !ok) {
        /* Its write may still land (a timeout does not stop a request the
         * API server already has): a tombstone, saved with the next write,
         * keeps the reservation from ever being counted (docs/ha.md). */
        if (ledger_cancel(q->ledger, p->inst, p->op, p->id) == -ENOMEM)
            (void)ledger_unreserve(q->ledger, p->inst, p->op, p->id);
        if (q->loop && q->timers_init && !q->closing)
            quota__changed(q);
        else
            q->dirty = true;
        log_kv(LOG_WARN, "quota reservation not counted: its write did not land", "backup_instance",
               p->inst, "operation", acct_op_name(p->op), "reservation", p->id, "reason", why,
               NULL);
    } else if (q) {
        log_kv(LOG_INFO, "quota reservation", "backup_instance", p->inst, "operation",
               acct_op_name(p->op), "reservation", p->id, NULL);
    }
    struct quota_wait *w = p->waiters;
    p->waiters = NULL;
    while (w) {
        struct quota_wait *n = w->next;
        answer(p, w, ok);
        free(w);
        w = n;
    }
}

static void on_saved(void *data, int err, int http)
{
    (void)http;
    struct quota_pending *p = data;
    settle(p, err == 0, err ? strerror(-err) : "");
    unlink_pending(p);
    free(p);
}

void quota_wait_cancel(struct quota_wait *w, bool drop)
{
    struct quota_pending *p = w->p;
    for (struct quota_wait **pp = &p->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    free(w);
    if (drop)
        settle(p, false, "shutting down");
}

static void on_tick(uv_timer_t *t)
{
    struct quota *q = t->data;
    int64_t now = clock_mono_ms();
    bool left = false;
    for (struct quota_pending *p = q->pending; p; p = p->next) {
        if (!p->settled && now >= p->deadline_ms)
            settle(p, false, "timeout");
        left |= !p->settled;
    }
    if (!left)
        uv_timer_stop(t);
}

static void arm(struct quota *q)
{
    if (q->timers_init && !q->closing && !uv_is_active((uv_handle_t *)&q->pend_timer)) {
        q->pend_timer.data = q;
        uv_timer_start(&q->pend_timer, on_tick, PEND_TICK_MS, PEND_TICK_MS);
    }
}

static struct quota_wait *add_waiter(struct quota_pending *p, quota_answer_cb cb, void *data,
                                     const struct ledger_answer *a, bool replayed)
{
    struct quota_wait *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->p = p;
    w->a = *a;
    w->replayed = replayed;
    w->cb = cb;
    w->data = data;
    w->next = p->waiters;
    p->waiters = w;
    return w;
}

struct quota_wait *quota__wait_for_write(struct quota *q, const char *inst, enum acct_op op,
                                         const char *id, const struct ledger_answer *a,
                                         quota_answer_cb cb, void *data,
                                         struct quota_answer *ans)
{
    quota__warnings(q);
    struct quota_pending *p = calloc(1, sizeof(*p));
    struct quota_wait *w = NULL;
    if (!p || strlen(inst) >= sizeof(p->inst) || strlen(id) >= sizeof(p->id) ||
        !(w = add_waiter(p, cb, data, a, false))) {
        free(p);
        (void)ledger_unreserve(q->ledger, inst, op, id);
        quota_answer_not_saved(ans);
        return NULL;
    }
    p->q = q;
    p->op = op;
    snprintf(p->inst, sizeof(p->inst), "%s", inst);
    snprintf(p->id, sizeof(p->id), "%s", id);
    p->deadline_ms = clock_mono_ms() + QUOTA_WRITE_DEADLINE_MS;
    int rc = q->store.ops->save_wait(q->store.ctx, on_saved, p);
    if (rc) {
        /* Not even queued (not the leader, store closing): answered now,
         * from inside the caller. */
        p->waiters = NULL;
        free(w);
        settle(p, false, strerror(-rc));
        free(p);
        quota_answer_not_saved(ans);
        return NULL;
    }
    p->next = q->pending;
    if (p->next)
        p->next->prev = p;
    q->pending = p;
    arm(q);
    quota__answer_reserved(ans, p->id, p->inst, op, a, false);
    return w;
}

bool quota__join_pending(struct quota *q, const char *inst, enum acct_op op, const char *id,
                         const struct ledger_answer *a, quota_answer_cb cb, void *data,
                         struct quota_wait **out, struct quota_answer *ans)
{
    for (struct quota_pending *p = q->pending; p; p = p->next) {
        if (p->settled || p->op != op || strcmp(p->inst, inst) || strcmp(p->id, id))
            continue;
        *out = add_waiter(p, cb, data, a, true);
        if (*out)
            quota__answer_reserved(ans, p->id, p->inst, op, a, true);
        else
            quota_answer_not_saved(ans);
        return true;
    }
    return false;
}

void quota_abort_pending(struct quota *q)
{
    if (!q)
        return;
    for (struct quota_pending *p = q->pending; p; p = p->next)
        settle(p, false, "leadership lost");
}

void quota__pending_close(struct quota *q)
{
    struct quota_pending *p = q->pending;
    while (p) {
        struct quota_pending *n = p->next;
        settle(p, false, "shutting down");
        p->q = NULL; /* freed by the store's callback */
        p->prev = p->next = NULL;
        p = n;
    }
    q->pending = NULL;
}
