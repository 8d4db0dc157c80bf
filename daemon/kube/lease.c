/* Leader election on the loop: one timer drives kube/leader_sm.c; requests
 * go through struct write_transport. A request in flight is owned by a
 * small heap record so that an abandoned (timed out) or closed request can
 * still complete safely later. Called by ha/ha.c; see lease.h. */
#include "kube/lease.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "kube/client.h"
#include "kube/leader_sm.h"
#include "util/clock.h"
#include "util/container.h"
#include "util/log.h"

struct lease_req {
    struct lease *owner; /* NULL once abandoned: the answer is dropped */
    enum leader_sm_action kind;
    int64_t sent;
};

struct lease {
    uv_loop_t *loop;
    uv_timer_t timer;
    struct leader_sm sm;
    char name[LEASE_ID_MAX];
    char ns[LEASE_ID_MAX];
    struct write_transport tr;
    int64_t req_timeout;
    struct metric_family *fam;
    lease_event_cb on_started, on_stopped;
    void *data;
    struct lease_req *cur;   /* request in flight, or NULL */
    int64_t cur_deadline;    /* mono ms when cur is abandoned */
    bool was_leader;
    unsigned fail_streak;    /* failed answers in a row (for the warning) */
    bool closing, closed;
    lease_close_cb close_cb;
    void *close_data;
};

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

int lease_path(char *out, size_t n, const char *namespace_, const char *name)
{
    int w = name ? snprintf(out, n, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
                            namespace_, name)
                 : snprintf(out, n, "/apis/coordination.k8s.io/v1/namespaces/%s/leases",
                            namespace_);
    return (w < 0 || (size_t)w >= n) ? -ENAMETOOLONG : 0;
}

struct metric_family *lease_leader_family(struct metrics *m)
{
    return metrics_family(m, "aks_backup_leader", METRIC_GAUGE, METRIC_SCOPE_PROCESS,
                          "1 when this replica holds the leader election Lease, else 0.", 0,
                          NULL, NULL, 0);
}

int lease_init(struct lease **out, uv_loop_t *loop, const struct lease_opts *o)
{
    *out = NULL;
    if (!o || !o->name || !*o->name || !o->namespace_ || !*o->namespace_ ||
        strlen(o->name) >= LEASE_ID_MAX || strlen(o->namespace_) >= LEASE_ID_MAX ||
        !o->transport.request)
        return -EINVAL;
    struct lease *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    struct leader_sm_opts so = {.identity = o->identity,
                                .lease_duration_ms = o->lease_duration_ms,
                                .renew_deadline_ms = o->renew_deadline_ms,
                                .retry_period_ms = o->retry_period_ms,
                                .follower_poll_ms = o->follower_poll_ms};
    int rc = leader_sm_init(&l->sm, &so);
    if (rc) {
        free(l);
        return rc;
    }
    if (o->metrics) {
        l->fam = lease_leader_family(o->metrics);
        if (!l->fam || metric_set(l->fam, NULL, 0)) {
            free(l);
            return -ENOMEM;
        }
    }
    l->loop = loop;
    copy_str(l->name, sizeof(l->name), o->name);
    copy_str(l->ns, sizeof(l->ns), o->namespace_);
    l->tr = o->transport;
    l->req_timeout = o->request_timeout_ms > 0 ? o->request_timeout_ms : o->retry_period_ms;
    l->on_started = o->on_started_leading;
    l->on_stopped = o->on_stopped_leading;
    l->data = o->data;
    rc = uv_timer_init(loop, &l->timer);
    if (rc) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

bool lease_is_leader(const struct lease *l) { return leader_sm_is_leader(&l->sm); }

const char *lease_holder(const struct lease *l)
{
    return lease_is_leader(l) ? l->sm.identity : leader_sm_holder(&l->sm);
}

const char *lease_identity(const struct lease *l) { return l->sm.identity; }

/* Fires the callbacks and the metric when leadership changed. */
static void notify(struct lease *l)
{
    bool now = leader_sm_is_leader(&l->sm);
    if (now == l->was_leader)
        return;
    l->was_leader = now;
    if (l->fam)
        (void)metric_set(l->fam, NULL, now ? 1 : 0);
    char lease[2 * LEASE_ID_MAX + 2];
    snprintf(lease, sizeof(lease), "%s/%s", l->ns, l->name);
    if (now) {
        log_kv(LOG_INFO, "leader election: became leader", "lease", lease, "identity",
               l->sm.identity, NULL);
        if (l->on_started)
            l->on_started(l->data);
    } else {
        log_kv(LOG_WARN, "leader election: stopped leading", "lease", lease, "identity",
               l->sm.identity, "reason",
               l->closing ? "shutdown" : "lease not renewed within the renew deadline or taken",
               NULL);
        if (l->on_stopped)
            l->on_stopped(l->data);
    }
}

static void on_done(void *data, int status, const char *body, size_t len);
static void on_timer(uv_timer_t *t);
static void finish_close(struct lease *l);

/* Issues the requests the machine asks for until one is in flight. */
static void run(struct lease *l, enum leader_sm_action act)
{
    while (act != LEADER_SM_NONE) {
        char path[600];
        const char *method = act == LEADER_SM_GET      ? "GET"
                             : act == LEADER_SM_CREATE ? "POST"
                                                       : "PUT";
        int rc = lease_path(path, sizeof(path), l->ns, act == LEADER_SM_CREATE ? NULL : l->name);
        char *body = NULL;
        size_t blen = 0;
        if (!rc && act != LEADER_SM_GET) {
            body = lease_record_render(leader_sm_desired(&l->sm), l->name, l->ns, &blen);
            if (!body)
                rc = -ENOMEM;
        }
        struct lease_req *r = rc ? NULL : calloc(1, sizeof(*r));
        if (!rc && !r)
            rc = -ENOMEM;
        int64_t now = clock_mono_ms();
        if (!rc) {
            r->owner = l;
            r->kind = act;
            r->sent = now;
            l->cur = r;
            l->cur_deadline = now + l->req_timeout;
            rc = l->tr.request(l->tr.ctx, method, path, body ? "application/json" : NULL, body,
                               blen, on_done, r, NULL);
            if (rc) {
                l->cur = NULL;
                free(r);
            }
        }
        free(body);
        if (!rc)
            return;
        log_kv(LOG_DEBUG, "leader election: request not sent", "method", method, "path", path,
               "error", strerror(-rc), NULL);
        act = act == LEADER_SM_GET
                  ? leader_sm_on_get(&l->sm, now, clock_now_ms(), rc, NULL)
                  : leader_sm_on_write(&l->sm, now, now, rc, NULL);
    }
}

static void schedule(struct lease *l)
{
    if (l->closed)
        return;
    int64_t now = clock_mono_ms();
    int64_t next = leader_sm_next_ms(&l->sm);
    if (l->cur && l->cur_deadline < next)
        next = l->cur_deadline;
    if (next == INT64_MAX) {
        uv_timer_stop(&l->timer);
        return;
    }
    int64_t delay = next - now;
    if (delay < 0)
        delay = 0;
    /* +1: the machine compares with >=, and the loop's clock may lag */
    uv_timer_start(&l->timer, on_timer, (uint64_t)delay + 1, 0);
}

static void abandon_if_late(struct lease *l, int64_t now)
{
    if (l->cur && now >= l->cur_deadline) {
        log_kv(++l->fail_streak == 3 ? LOG_WARN : LOG_DEBUG,
               "leader election: Lease request timed out, abandoned; retrying", "lease", l->name,
               "namespace", l->ns, NULL);
        l->cur->owner = NULL;
        l->cur = NULL;
        leader_sm_on_abandon(&l->sm, now);
    }
}

static void on_timer(uv_timer_t *t)
{
    struct lease *l = container_of(t, struct lease, timer);
    int64_t now = clock_mono_ms();
    abandon_if_late(l, now);
    if (l->closing) {
        if (!l->cur)
            finish_close(l);
        else
            schedule(l);
        return;
    }
    run(l, leader_sm_tick(&l->sm, now, clock_now_ms()));
    notify(l);
    schedule(l);
}

static void on_done(void *data, int status, const char *body, size_t len)
{
    struct lease_req *r = data;
    struct lease *l = r->owner;
    enum leader_sm_action kind = r->kind;
    int64_t sent = r->sent;
    free(r);
    if (!l)
        return; /* abandoned */
    l->cur = NULL;
    int64_t now = clock_mono_ms();
    struct lease_record rec;
    bool have = false;
    if ((status == 200 || status == 201) && body) {
        if (lease_record_parse(body, len, &rec) == 0)
            have = true;
        else
            status = -EPROTO;
    }
    if (status != 200 && status != 201 && !(kind == LEADER_SM_GET && status == 404) &&
        !(kind != LEADER_SM_GET && status == 409)) {
        /* One warning per streak (a 403 means the Role is missing leases
         * get/update/create); the rest at debug level. */
        char st[16];
        snprintf(st, sizeof(st), "%d", status);
        log_kv(++l->fail_streak == 3 ? LOG_WARN : LOG_DEBUG,
               "leader election: Lease requests failing, retrying every retry period", "lease",
               l->name, "namespace", l->ns, "status", st, NULL);
    } else if (l->fail_streak) {
        if (l->fail_streak >= 3)
            log_kv(LOG_INFO, "leader election: Lease requests succeed again", "lease", l->name,
                   NULL);
        l->fail_streak = 0;
    }
    enum leader_sm_action act =
        kind == LEADER_SM_GET
            ? leader_sm_on_get(&l->sm, now, clock_now_ms(), status, have ? &rec : NULL)
            : leader_sm_on_write(&l->sm, now, sent, status, have ? &rec : NULL);
    run(l, act);
    notify(l);
    if (l->closing && !l->cur) {
        finish_close(l);
        return;
    }
    schedule(l);
}

int lease_start(struct lease *l)
{
    if (l->closing)
        return -ECANCELED;
    if (uv_is_active((uv_handle_t *)&l->timer) || l->cur)
        return 0;
    on_timer(&l->timer);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct lease *l = container_of((uv_timer_t *)h, struct lease, timer);
    lease_close_cb cb = l->close_cb;
    void *data = l->close_data;
    free(l);
    if (cb)
        cb(data);
}

static void finish_close(struct lease *l)
{
    if (l->closed)
        return;
    l->closed = true;
    if (l->cur) {
        l->cur->owner = NULL;
        l->cur = NULL;
    }
    uv_timer_stop(&l->timer);
    uv_close((uv_handle_t *)&l->timer, on_timer_closed);
}

static void begin_close(struct lease *l, lease_close_cb cb, void *data, bool release)
{
    if (l->closing)
        return;
    l->closing = true;
    l->close_cb = cb;
    l->close_data = data;
    if (l->cur) { /* a renewal in flight: its answer no longer matters */
        l->cur->owner = NULL;
        l->cur = NULL;
    }
    enum leader_sm_action act = leader_sm_release(&l->sm, clock_now_ms());
    notify(l);
    if (release && act != LEADER_SM_NONE) {
        log_kv(LOG_INFO, "leader election: releasing the lease", "lease", l->name, NULL);
        run(l, act);
    }
    if (!l->cur) {
        finish_close(l);
        return;
    }
    schedule(l);
}

void lease_release_and_close(struct lease *l, lease_close_cb cb, void *data)
{
    begin_close(l, cb, data, true);
}

void lease_close(struct lease *l, lease_close_cb cb, void *data)
{
    begin_close(l, cb, data, false);
}
