/* HA glue: the Lease decides who leads; the leader exports the cluster
 * families, answers reservations and writes the shared ledger (loaded
 * from the ConfigMap first); followers refresh their view of the ledger
 * every few seconds. Created by app.c; see ha.h. */
#include "ha/ha.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "metrics/metrics.h"
#include "http/routes_quota.h"
#include "http/server.h"
#include "kube/lease.h"
#include "kube/transport.h"
#include "quota/cm_store.h"
#include "quota/quota.h"
#include "quota/state.h"
#include "util/log.h"

#define FOLLOWER_REFRESH_MS 5000
#define FLUSH_BUDGET_MS 1500
#define SA_NAMESPACE_FILE "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

struct ha {
    uv_loop_t *loop;
    uv_timer_t timer;            /* follower refresh; shutdown flush bound */
    struct metrics *metrics;
    struct metric_family *leader_fam;
    struct quota *quota;
    struct kube_transport kctx;
    struct write_transport tr;
    struct lease *lease;         /* NULL: leader election off */
    struct cm_store *cm;         /* NULL: no state_configmap */
    bool token_set;              /* api.token_file set: write API on */
    bool leading;
    bool loaded;                 /* the shared ledger was merged since leading */
    bool loading;
    unsigned gen;                /* leadership terms started */
    unsigned load_gen;           /* gen when the load in flight was sent, +1 if leading */
    unsigned load_failures;      /* in a row: warn once */
    bool closing;
    bool flush_done;
    char identity[256];
    void (*on_leading)(void *data, bool leading);
    void *data;
    void (*close_cb)(void *data);
    void *close_data;
};

int ha_identity(char *out, size_t n)
{
    const char *p = getenv("POD_NAME");
    if (p && *p) {
        snprintf(out, n, "%s", p);
        return 0;
    }
    char host[256];
    if (gethostname(host, sizeof(host)) == 0 && host[0]) {
        host[sizeof(host) - 1] = '\0';
        snprintf(out, n, "%s", host);
        return 0;
    }
    if (n)
        out[0] = '\0';
    return -ENOENT;
}

void ha_namespace(char *out, size_t n)
{
    const char *p = getenv("POD_NAMESPACE");
    if (p && *p) {
        snprintf(out, n, "%s", p);
        return;
    }
    FILE *f = fopen(SA_NAMESPACE_FILE, "r");
    if (f) {
        char buf[256] = "";
        size_t r = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[r] = '\0';
        buf[strcspn(buf, "\r\n ")] = '\0';
        if (buf[0]) {
            snprintf(out, n, "%s", buf);
            return;
        }
    }
    snprintf(out, n, "default");
}

static bool can_write(void *data)
{
    struct ha *h = data;
    return h->leading && h->loaded && !h->closing;
}

static void set_leading(struct ha *h, bool on)
{
    h->leading = on;
    metrics_set_cluster_enabled(h->metrics, on);
    if (h->leader_fam && !h->lease)
        (void)metric_set(h->leader_fam, NULL, on ? 1 : 0); /* lease.c sets it otherwise */
    if (h->on_leading)
        h->on_leading(h->data, on);
}

static void load(struct ha *h);

static void on_loaded(void *data, int err, int http)
{
    struct ha *h = data;
    h->loading = false;
    if (err == -ECANCELED)
        return;
    if (err && err != -EINVAL) {
        char st[16];
        snprintf(st, sizeof(st), "%d", http);
        log_kv(h->load_failures++ == 0 ? LOG_WARN : LOG_DEBUG,
               "cannot read the quota ConfigMap; retrying", "error", strerror(-err), "http", st,
               NULL);
        return; /* on_timer tries again (in 1 s while a leader waits for it) */
    }
    h->load_failures = 0;
    if (err == -EINVAL)
        log_kv(LOG_ERROR,
               "the quota ConfigMap does not hold a ledger; it is kept aside in the next write",
               "key", CM_STORE_KEY, NULL);
    if (h->leading && !h->loaded && h->load_gen != h->gen + 1) {
        /* Sent before this term began: may predate the last writes of the
         * former leader. Read again before answering reservations. */
        load(h);
        return;
    }
    if (h->leading && !h->loaded) {
        h->loaded = true;
        quota_set_current(h->quota, true);
        log_kv(LOG_INFO, "shared quota ledger loaded; reservations are answered here", NULL);
        (void)cm_store_save(h->cm, NULL, NULL); /* write the union back */
    }
}

static void load(struct ha *h)
{
    if (!h->cm || h->loading || h->closing)
        return;
    if (cm_store_load(h->cm, on_loaded, h) == 0) {
        h->loading = true;
        h->load_gen = h->leading ? h->gen + 1 : 0;
    }
}

static void on_timer(uv_timer_t *t);

static void arm(struct ha *h, uint64_t ms)
{
    if (!h->closing)
        uv_timer_start(&h->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct ha *h = t->data;
    if (h->closing)
        return;
    /* Followers refresh their copy; a leader retries a failed first load. */
    if (!h->leading || !h->loaded)
        load(h);
    arm(h, h->leading && !h->loaded ? 1000 : FOLLOWER_REFRESH_MS);
}

static void on_started(void *data)
{
    struct ha *h = data;
    h->loaded = !h->cm;
    if (h->cm)
        quota_set_current(h->quota, false);
    h->gen++;
    set_leading(h, true);
    load(h);
    arm(h, 1000);
}

static void on_stopped(void *data)
{
    struct ha *h = data;
    /* Writes still in flight may land, but a successor may already be
     * answering from a ledger without them: nothing waiting is promised. */
    if (h->quota)
        quota_abort_pending(h->quota);
    h->loaded = false;
    if (h->cm)
        quota_set_current(h->quota, true); /* a follower's view, refreshed every 5 s */
    set_leading(h, false);
    arm(h, FOLLOWER_REFRESH_MS);
}

static void free_on_close(uv_handle_t *t) { free(t->data); }

int ha_init(struct ha **out, uv_loop_t *loop, const struct ha_opts *o)
{
    *out = NULL;
    const struct config *c = o->cfg;
    struct ha *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->loop = loop;
    h->metrics = o->metrics;
    h->quota = o->quota;
    h->on_leading = o->on_leading;
    h->data = o->data;
    h->token_set = c->api.token_file[0] != '\0';
    if (o->identity)
        snprintf(h->identity, sizeof(h->identity), "%s", o->identity);
    else
        (void)ha_identity(h->identity, sizeof(h->identity));
    char ns[256];
    if (o->namespace_)
        snprintf(ns, sizeof(ns), "%s", o->namespace_);
    else
        ha_namespace(ns, sizeof(ns));
    h->leader_fam = o->metrics ? lease_leader_family(o->metrics) : NULL;
    long timeout = c->leader_election.retry_period_seconds * 1000;
    h->kctx.client = o->client;
    h->kctx.timeout_ms = timeout < 1000 ? 1000 : timeout;
    h->tr = kube_transport_get(&h->kctx);
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    int rc = 0;
    if (c->leader_election.enabled) {
        const char *lns = c->leader_election.lease_namespace[0] ? c->leader_election.lease_namespace
                                                                : ns;
        struct lease_opts lo = {
            .name = c->leader_election.lease_name, .namespace_ = lns, .identity = h->identity,
            .lease_duration_ms = c->leader_election.lease_duration_seconds * 1000,
            .renew_deadline_ms = c->leader_election.renew_deadline_seconds * 1000,
            .retry_period_ms = c->leader_election.retry_period_seconds * 1000,
            /* a GET every half retry period: a released lease (SIGTERM) is
             * taken within ~1 s with the default 2 s retry period */
            .follower_poll_ms = c->leader_election.retry_period_seconds * 500,
            .transport = h->tr, .metrics = o->metrics, .on_started_leading = on_started,
            .on_stopped_leading = on_stopped, .data = h};
        rc = lease_init(&h->lease, loop, &lo);
        if (rc)
            goto fail;
        log_kv(LOG_INFO, "leader election on; cluster metrics and shared writes wait for the lease",
               "lease", c->leader_election.lease_name, "namespace", lns, "identity", h->identity,
               NULL);
    }
    if (c->accounting.state_configmap[0] && o->quota) {
        struct cm_store_opts co = {.name = c->accounting.state_configmap, .namespace_ = ns,
                                   .identity = h->identity, .transport = h->tr,
                                   .ledger = quota_ledger(o->quota), .timeout_ms = 5000,
                                   .can_write = can_write, .can_write_data = h};
        rc = cm_store_init(&h->cm, loop, &co);
        if (rc)
            goto fail;
        struct quota_store qs;
        rc = cm_store_quota_store(&qs, h->cm);
        if (!rc)
            rc = quota_set_store(o->quota, &qs);
        if (rc)
            goto fail;
        log_kv(LOG_INFO, "quota counts are kept in a ConfigMap", "configmap",
               c->accounting.state_configmap, "namespace", ns, NULL);
    }
    /* Before the first lease answer nobody here leads. */
    metrics_set_cluster_enabled(o->metrics, h->lease == NULL);
    if (h->leader_fam)
        (void)metric_set(h->leader_fam, NULL, h->lease ? 0 : 1);
    *out = h;
    return 0;
fail:
    if (h->cm)
        cm_store_close(h->cm, NULL, NULL);
    if (h->lease)
        lease_close(h->lease, NULL, NULL);
    /* Nothing started, so no callback refers to h: free it with its timer. */
    uv_close((uv_handle_t *)&h->timer, free_on_close);
    return rc;
}

void ha_answer_not_leader(const char *holder, struct http_response *resp)
{
    if (!holder)
        holder = "";
    resp->status = 503;
    resp->content_type = "application/json";
    (void)http_response_header(resp, "Retry-After", "1");
    if (holder[0])
        (void)http_response_header(resp, "X-Leader", holder);
    buf_reset(&resp->body);
    int rc = buf_adds(&resp->body, "{\"error\":\"not_leader\",\"message\":");
    rc |= buf_add_json_str(&resp->body,
                           holder[0] ? "this replica is not the leader; send the request to "
                                       "the leader (field leader)"
                                     : "no leader elected yet; retry shortly");
    rc |= buf_adds(&resp->body, ",\"leader\":");
    rc |= buf_add_json_str(&resp->body, holder);
    rc |= buf_adds(&resp->body, "}\n");
    if (rc)
        buf_reset(&resp->body);
}

static void on_post(void *data, const struct http_request *req, struct http_response *resp)
{
    struct ha *h = data;
    if (h->token_set && h->lease && !h->leading) {
        ha_answer_not_leader(lease_holder(h->lease), resp);
        return;
    }
    if (h->token_set && h->leading && !h->loaded) {
        resp->status = 503;
        resp->content_type = "application/json";
        (void)http_response_header(resp, "Retry-After", "1");
        buf_reset(&resp->body);
        int rc = buf_adds(&resp->body, "{\"error\":\"not_ready\",\"message\":\"the leader is "
                                       "loading the shared quota ledger; retry\",\"leader\":");
        rc |= buf_add_json_str(&resp->body, h->identity);
        rc |= buf_adds(&resp->body, "}\n");
        if (rc)
            buf_reset(&resp->body);
        return;
    }
    /* With the ConfigMap store the answer waits for the write carrying
     * the reservation (quota_handle_post_req defers it). */
    quota_handle_post_req(h->quota, req, resp);
}

int ha_register_routes(struct ha *h, struct http_server *s)
{
    if (!h->quota)
        return 0;
    return http_server_route(s, "POST", "/api/v1/quota/", on_post, h);
}

int ha_start(struct ha *h)
{
    if (h->lease) {
        if (h->cm) {
            load(h); /* a follower's view of the shared counts, refreshed */
            arm(h, FOLLOWER_REFRESH_MS);
        }
        return lease_start(h->lease);
    }
    h->loaded = !h->cm;
    if (h->cm)
        quota_set_current(h->quota, false); /* until the ConfigMap is read */
    h->gen++;
    set_leading(h, true);
    load(h);
    arm(h, 1000);
    return 0;
}

bool ha_is_leader(const struct ha *h) { return h->leading; }

const char *ha_leader(const struct ha *h)
{
    return h->lease ? lease_holder(h->lease) : h->identity;
}

/* ---- shutdown: flush, release, close ------------------------------- */

static void on_timer_closed(uv_handle_t *t)
{
    struct ha *h = t->data;
    void (*cb)(void *) = h->close_cb;
    void *data = h->close_data;
    free(h);
    if (cb)
        cb(data);
}

static void on_cm_closed(void *data)
{
    struct ha *h = data;
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}

static void on_lease_closed(void *data)
{
    struct ha *h = data;
    h->lease = NULL;
    /* A last ConfigMap write that outlived its budget is still in flight:
     * end it now, while cm_store can take its -ECANCELED answer, because
     * closing the kube client later cancels without any callback. */
    kube_transport_cancel_all(&h->kctx);
    if (h->cm)
        cm_store_close(h->cm, on_cm_closed, h);
    else
        on_cm_closed(h);
}

static void after_flush(struct ha *h)
{
    if (h->flush_done)
        return;
    h->flush_done = true;
    uv_timer_stop(&h->timer);
    if (h->lease)
        lease_release_and_close(h->lease, on_lease_closed, h);
    else
        on_lease_closed(h);
}

static void on_flushed(void *data, int err, int http)
{
    struct ha *h = data;
    if (err && err != -ECANCELED)
        log_kv(LOG_WARN, "last write of the quota ConfigMap failed; the successor merges from "
                         "the objects it sees", "error", strerror(-err), NULL);
    after_flush(h);
}

static void on_flush_timeout(uv_timer_t *t)
{
    after_flush(t->data);
}

void ha_close(struct ha *h, void (*cb)(void *data), void *data)
{
    if (h->closing)
        return;
    bool flush = h->cm && can_write(h);
    h->closing = true;
    h->close_cb = cb;
    h->close_data = data;
    uv_timer_stop(&h->timer);
    if (flush && cm_store_save(h->cm, on_flushed, h) == 0) {
        uv_timer_start(&h->timer, on_flush_timeout, FLUSH_BUDGET_MS, 0);
        return;
    }
    after_flush(h);
}
