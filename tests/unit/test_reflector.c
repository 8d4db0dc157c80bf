/* kube/reflector.c on a real loop against kubesim: paginated list into the
 * store, watch events, 410 → relist, the silence rule, absent APIs, a bad
 * watch stream, list-only mode, and the debug dump. Every test closes its
 * handles and asserts uv_loop_close() == 0. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <uv.h>

#include "metrics/metrics.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "kube/reflector.h"
#include "kubesim_proc.h"
#include "util/buf.h"

struct meta_rec {
    struct obj_meta meta;
};

static int meta_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    struct meta_rec *r = calloc(1, sizeof(*r));
    int rc = model_meta_extract(obj, &r->meta);
    if (rc != 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static void meta_free(void *p)
{
    struct meta_rec *r = p;
    model_meta_clear(&r->meta);
    free(r);
}

static const struct model_type pv_type = {
    .resource = "persistentvolumes", .group = "", .version = "v1", .kind = "PersistentVolume",
    .extract = meta_extract, .free = meta_free,
};
static const struct model_type snap_type = {
    .resource = "volumesnapshots", .group = "snapshot.storage.k8s.io", .version = "v1",
    .kind = "VolumeSnapshot", .namespaced = true, .extract = meta_extract, .free = meta_free,
};

struct env {
    struct ksproc ks;
    uv_loop_t loop;
    struct kube_config cfg;
    struct kube_client *c;
    struct metrics *m;
    struct store *s;
    struct reflector *r;
    int adds, updates, deletes, synced, absent_calls, closed;
    int synced_at_absent; /* e->synced when on_absent last ran */
    bool absent;
};

static void on_add(void *d, const struct model_type *t, const void *rec) { ((struct env *)d)->adds++; }
static void on_update(void *d, const struct model_type *t, const void *o, const void *n)
{
    ((struct env *)d)->updates++;
}
static void on_delete(void *d, const struct model_type *t, const void *rec) { ((struct env *)d)->deletes++; }
static void on_synced(void *d, const struct model_type *t) { ((struct env *)d)->synced++; }
static void on_absent(void *d, const struct model_type *t, bool absent)
{
    struct env *e = d;
    e->absent_calls++;
    e->absent = absent;
    e->synced_at_absent = e->synced;
}

/* Controls posted to kubesim before the reflector starts: path, body,
 * path, body..., NULL (tests set it; env_open clears it). */
static const char *const *pre_ctl;

static void env_open(struct env *e, const struct model_type *t, enum reflector_mode mode,
                     const char *const *ks_args)
{
    memset(e, 0, sizeof(*e));
    ksproc_start(&e->ks, ks_args);
    for (const char *const *c = pre_ctl; c && c[0]; c += 2)
        ck_assert_int_eq(ksproc_control(&e->ks, c[0], c[1], NULL, 0), 200);
    pre_ctl = NULL;
    ck_assert_int_eq(uv_loop_init(&e->loop), 0);
    struct kube_config_err err;
    ck_assert_int_eq(kube_config_load_file(e->ks.kubeconfig, NULL, &e->cfg, &err), 0);
    e->m = metrics_new();
    char msg[256];
    ck_assert_int_eq(kube_client_new(&e->loop, &e->cfg, e->m, &e->c, msg, sizeof(msg)), 0);
    e->s = store_new(t);
    struct store_consumer sc = {on_add, on_update, on_delete, on_synced, e};
    ck_assert_int_eq(store_add_consumer(e->s, &sc), 0);
    struct reflector_hooks h = {.on_absent = on_absent, .data = e};
    ck_assert_int_eq(reflector_init(&e->r, &e->loop, e->c, e->s, e->m, mode, &h), 0);
    ck_assert_int_eq(reflector_start(e->r), 0);
    ck_assert_int_eq(reflector_start(e->r), 0); /* idempotent */
}

static void on_closed(void *d)
{
    ((struct env *)d)->closed++;
}

static void env_close(struct env *e)
{
    reflector_close(e->r, on_closed, e);
    kube_client_close(e->c, on_closed, e);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(e->closed, 2);
    ck_assert_int_eq(uv_loop_close(&e->loop), 0);
    store_free(e->s);
    metrics_free(e->m);
    kube_config_clear(&e->cfg);
    ksproc_stop(&e->ks);
}

/* Runs the loop until pred(e) or timeout_ms; returns pred's last value. */
struct waiter {
    struct env *e;
    bool (*pred)(struct env *);
    bool ok;
    uv_timer_t poll, deadline;
};

static void w_poll(uv_timer_t *t)
{
    struct waiter *w = t->data;
    if (w->pred(w->e)) {
        w->ok = true;
        uv_stop(t->loop);
    }
}

static void w_deadline(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static bool run_until(struct env *e, bool (*pred)(struct env *), unsigned timeout_ms)
{
    struct waiter w = {.e = e, .pred = pred};
    uv_timer_init(&e->loop, &w.poll);
    uv_timer_init(&e->loop, &w.deadline);
    w.poll.data = w.deadline.data = &w;
    uv_timer_start(&w.poll, w_poll, 10, 10);
    uv_timer_start(&w.deadline, w_deadline, timeout_ms, 0);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&w.poll, NULL);
    uv_close((uv_handle_t *)&w.deadline, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
    return w.ok || pred(e);
}

static double metric(struct env *e, const char *series)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(metrics_render(e->m, false, &b), 0);
    const char *p = strstr(b.data, series);
    double v = p && p[strlen(series)] == ' ' ? strtod(p + strlen(series) + 1, NULL) : 0;
    buf_free(&b);
    return v;
}

/* The series is exported (whatever its value). */
static bool has_series(struct env *e, const char *series)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(metrics_render(e->m, false, &b), 0);
    const char *p = strstr(b.data, series);
    bool ok = p && p[strlen(series)] == ' ';
    buf_free(&b);
    return ok;
}

static void apply_pv(struct env *e, const char *name, const char *phase)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"%s\"},"
             "\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"hostPath\":{\"path\":\"/x\"}},"
             "\"status\":{\"phase\":\"%s\"}}",
             name, phase);
    ck_assert_int_eq(ksproc_control(&e->ks, "/apply", body, NULL, 0), 200);
}

static bool is_synced(struct env *e) { return reflector_synced(e->r); }
static bool one_add(struct env *e) { return e->adds == 1201; }
static bool one_update(struct env *e) { return e->updates >= 1; }
static bool one_delete(struct env *e) { return e->deletes == 1; }

/* "rv" of kubesim and the store's dump agree on every name and version. */
static bool converged(struct env *e)
{
    static char state[4 << 20];
    if (ksproc_control(&e->ks, "/state?resource=persistentvolumes", NULL, state, sizeof(state)) != 200)
        return false;
    struct json_object *st = json_tokener_parse(state), *items;
    if (!st || !json_object_object_get_ex(st, "items", &items)) {
        json_object_put(st);
        return false;
    }
    bool ok = json_object_array_length(items) == store_count(e->s);
    for (size_t i = 0; ok && i < json_object_array_length(items); i++) {
        struct json_object *it = json_object_array_get_idx(items, i), *n, *rv;
        json_object_object_get_ex(it, "name", &n);
        json_object_object_get_ex(it, "resourceVersion", &rv);
        const struct obj_meta *m = store_get(e->s, NULL, json_object_get_string(n));
        char rbuf[MODEL_RV_BUF];
        ok = m && strcmp(model_meta_rv(m, rbuf), json_object_get_string(rv)) == 0;
    }
    json_object_put(st);
    return ok;
}

static const char *const gen1200[] = {"--generate-pvs", "1200", NULL};

START_TEST(list_pages_then_watch)
{
    setenv("ABC_STREAMING_LIST", "0", 1);
    struct env e;
    env_open(&e, &pv_type, REFLECTOR_WATCH, gen1200);
    ck_assert(run_until(&e, is_synced, 20000));
    ck_assert_uint_eq(store_count(e.s), 1200);
    ck_assert_int_eq(e.adds, 1200);
    ck_assert_int_eq(e.synced, 1);
    ck_assert_str_ne(reflector_resource_version(e.r), "");
    ck_assert(metric(&e, "aks_backup_apiserver_requests_total{verb=\"list\",code=\"200\"}") == 3); /* 500+500+200 */
    ck_assert(metric(&e, "aks_backup_informer_synced{resource=\"persistentvolumes\"}") == 1);
    ck_assert(metric(&e, "aks_backup_informer_objects{resource=\"persistentvolumes\"}") == 1200);
    apply_pv(&e, "new-pv", "Available");
    ck_assert(run_until(&e, one_add, 10000));
    ck_assert_ptr_nonnull(store_get(e.s, NULL, "new-pv"));
    apply_pv(&e, "new-pv", "Bound");
    ck_assert(run_until(&e, one_update, 10000));
    ck_assert_int_eq(ksproc_control(&e.ks, "/delete",
                                    "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"name\":\"new-pv\"}", NULL, 0),
                     200);
    ck_assert(run_until(&e, one_delete, 10000));
    ck_assert_ptr_null(store_get(e.s, NULL, "new-pv"));
    ck_assert(metric(&e, "aks_backup_watch_events_total{resource=\"persistentvolumes\",type=\"ADDED\"}") == 1);
    ck_assert(metric(&e, "aks_backup_watch_events_total{resource=\"persistentvolumes\",type=\"DELETED\"}") == 1);
    ck_assert(converged(&e));
    /* the dump lists every object, sorted */
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(reflector_dump(e.r, &b), 0);
    struct json_object *d = json_tokener_parse(b.data), *items, *res;
    ck_assert_ptr_nonnull(d);
    ck_assert(json_object_object_get_ex(d, "items", &items));
    ck_assert_uint_eq(json_object_array_length(items), 1200);
    ck_assert(json_object_object_get_ex(d, "resource", &res));
    ck_assert_str_eq(json_object_get_string(res), "persistentvolumes");
    json_object_put(d);
    buf_free(&b);
    ck_assert_int_eq(e.synced, 1); /* no relist happened */
    env_close(&e);
    unsetenv("ABC_STREAMING_LIST");
}
END_TEST

static bool two_adds(struct env *e) { return e->adds == 1201; }

START_TEST(streaming_list_then_watch)
{
    struct env e;
    setenv("ABC_STREAMING_LIST", "1", 1); /* opt-in: the default lists page by page */
    env_open(&e, &pv_type, REFLECTOR_WATCH, gen1200);
    ck_assert(run_until(&e, is_synced, 20000));
    ck_assert_uint_eq(store_count(e.s), 1200);
    ck_assert_int_eq(e.synced, 1);
    ck_assert(metric(&e, "aks_backup_apiserver_requests_total{verb=\"list\",code=\"200\"}") == 0);
    ck_assert(metric(&e, "aks_backup_watch_events_total{resource=\"persistentvolumes\",type=\"ADDED\"}") == 1200);
    ck_assert(metric(&e, "aks_backup_informer_objects{resource=\"persistentvolumes\"}") == 1200);
    ck_assert_str_ne(reflector_resource_version(e.r), "");
    /* the same connection goes on as the watch */
    apply_pv(&e, "new-pv", "Available");
    ck_assert(run_until(&e, two_adds, 10000));
    ck_assert(converged(&e));
    env_close(&e);
}
END_TEST

static bool list_synced(struct env *e)
{
    return reflector_synced(e->r) &&
           metric(e, "aks_backup_apiserver_requests_total{verb=\"list\",code=\"200\"}") == 3;
}

/* Streaming lists of several resources start together on one client: none
 * may wait for another's connection (a watch that never ends) until the
 * initial-events fallback. */
static struct reflector *second_r;
static bool both_synced(struct env *e) { return reflector_synced(e->r) && reflector_synced(second_r); }

START_TEST(streaming_lists_start_together)
{
    struct env e;
    setenv("ABC_STREAMING_LIST", "1", 1);
    setenv("ABC_INITIAL_EVENTS_SECONDS", "60", 1); /* a fallback would come far too late */
    /* plain HTTP, as the benchmark runs: HTTP/1.1 without ALPN */
    static const char *const args[] = {"--generate-pvs", "50", "--http", NULL};
    env_open(&e, &pv_type, REFLECTOR_WATCH, args);
    struct store *s2 = store_new(&snap_type);
    ck_assert_int_eq(reflector_init(&second_r, &e.loop, e.c, s2, NULL, REFLECTOR_WATCH, NULL), 0);
    ck_assert_int_eq(reflector_start(second_r), 0);
    ck_assert(run_until(&e, both_synced, 8000));
    ck_assert_uint_eq(store_count(e.s), 50);
    ck_assert(metric(&e, "aks_backup_apiserver_requests_total{verb=\"list\",code=\"200\"}") == 0);
    reflector_close(second_r, on_closed, &e);
    e.closed--; /* env_close counts its own two closes */
    env_close(&e);
    store_free(s2);
    unsetenv("ABC_INITIAL_EVENTS_SECONDS");
}
END_TEST

START_TEST(streaming_list_falls_back)
{
    /* a server that sends nothing after the request (as one ignoring
     * sendInitialEvents on an empty resource would): paginated lists */
    setenv("ABC_INITIAL_EVENTS_SECONDS", "1", 1);
    setenv("ABC_STREAMING_LIST", "1", 1);
    struct env e;
    env_open(&e, &pv_type, REFLECTOR_WATCH, gen1200);
    ck_assert_int_eq(ksproc_control(&e.ks, "/stall-watches", "{\"seconds\":4}", NULL, 0), 200);
    ck_assert(run_until(&e, list_synced, 20000));
    ck_assert_uint_eq(store_count(e.s), 1200);
    env_close(&e);
    unsetenv("ABC_INITIAL_EVENTS_SECONDS");
}
END_TEST

static bool relisted(struct env *e)
{
    return metric(e, "aks_backup_relists_total{resource=\"persistentvolumes\"}") >= 1 && converged(e);
}

START_TEST(expired_watch_relists)
{
    static const char *const args[] = {"--generate-pvs", "50", "--history", "20", NULL};
    struct env e;
    env_open(&e, &pv_type, REFLECTOR_WATCH, args);
    ck_assert(run_until(&e, is_synced, 20000));
    /* changes while disconnected, beyond the history window, then reconnect */
    ck_assert_int_eq(ksproc_control(&e.ks, "/stall-watches", "{\"seconds\":2}", NULL, 0), 200);
    for (int i = 0; i < 30; i++) {
        char name[32];
        snprintf(name, sizeof(name), "burst-%d", i);
        apply_pv(&e, name, "Available");
    }
    ck_assert_int_eq(ksproc_control(&e.ks, "/compact", "{}", NULL, 0), 200);
    ck_assert_int_eq(ksproc_control(&e.ks, "/drop-watches", "{}", NULL, 0), 200);
    ck_assert(run_until(&e, relisted, 20000));
    ck_assert(metric(&e, "aks_backup_watch_restarts_total{resource=\"persistentvolumes\",reason=\"expired\"}") >= 1);
    ck_assert_uint_eq(store_count(e.s), 80);
    ck_assert_int_ge(e.synced, 2); /* on_synced after the relist too */
    env_close(&e);
}
END_TEST

static bool timed_out(struct env *e)
{
    return metric(e, "aks_backup_watch_restarts_total{resource=\"persistentvolumes\",reason=\"eof\"}") >= 1;
}
static bool has_late(struct env *e) { return store_get(e->s, NULL, "late") != NULL; }

START_TEST(silent_watch_restarts)
{
    setenv("ABC_WATCH_IDLE_SECONDS", "1", 1);
    static const char *const args[] = {"--generate-pvs", "5", "--bookmark-interval", "60", NULL};
    struct env e;
    env_open(&e, &pv_type, REFLECTOR_WATCH, args);
    ck_assert(run_until(&e, is_synced, 20000));
    ck_assert(run_until(&e, timed_out, 5000));
    apply_pv(&e, "late", "Available");
    ck_assert(run_until(&e, has_late, 10000));
    ck_assert_int_eq(e.synced, 1); /* restarted from its resourceVersion, no relist */
    env_close(&e);
    unsetenv("ABC_WATCH_IDLE_SECONDS");
}
END_TEST

static bool is_absent(struct env *e) { return e->absent; }
static bool present_synced(struct env *e) { return !e->absent && reflector_synced(e->r); }

START_TEST(absent_api_retried)
{
    setenv("ABC_ABSENT_RETRY_SECONDS", "1", 1);
    static const char *const args[] = {"--disable-api", "snapshot.storage.k8s.io/v1", NULL};
    struct env e;
    env_open(&e, &snap_type, REFLECTOR_WATCH, args);
    ck_assert(run_until(&e, is_absent, 10000));
    ck_assert(reflector_absent(e.r));
    ck_assert(!reflector_synced(e.r));
    /* absence is a known state: synced 1 with an empty store (docs/metrics.md) */
    ck_assert(has_series(&e, "aks_backup_informer_synced{resource=\"volumesnapshots\"}"));
    ck_assert(metric(&e, "aks_backup_informer_synced{resource=\"volumesnapshots\"}") == 1);
    ck_assert_uint_eq(store_count(e.s), 0);
    ck_assert_int_eq(ksproc_control(&e.ks, "/api-enable", "{\"group\":\"snapshot.storage.k8s.io\",\"version\":\"v1\"}",
                                    NULL, 0),
                     200);
    ck_assert(run_until(&e, present_synced, 10000));
    ck_assert_int_eq(e.absent_calls, 2);
    ck_assert(metric(&e, "aks_backup_informer_synced{resource=\"volumesnapshots\"}") == 1);
    env_close(&e);
    unsetenv("ABC_ABSENT_RETRY_SECONDS");
}
END_TEST

static bool one_snapshot(struct env *e) { return store_count(e->s) == 1 && reflector_synced(e->r); }
static bool absent_and_empty(struct env *e) { return e->absent && e->deletes == 1; }

/* An API that goes away while objects are held: the store empties (a
 * delete for each) and the resource ends up reported absent, synced 1. */
START_TEST(api_removed_empties_store)
{
    setenv("ABC_ABSENT_RETRY_SECONDS", "1", 1);
    struct env e;
    env_open(&e, &snap_type, REFLECTOR_WATCH, NULL);
    ck_assert(run_until(&e, is_synced, 10000));
    ck_assert_int_eq(ksproc_control(&e.ks, "/apply",
                                    "{\"apiVersion\":\"snapshot.storage.k8s.io/v1\",\"kind\":\"VolumeSnapshot\","
                                    "\"metadata\":{\"name\":\"s1\",\"namespace\":\"ns1\"},\"spec\":{}}",
                                    NULL, 0),
                     200);
    ck_assert(run_until(&e, one_snapshot, 10000));
    ck_assert_int_eq(ksproc_control(&e.ks, "/api-disable", "{\"group\":\"snapshot.storage.k8s.io\",\"version\":\"v1\"}",
                                    NULL, 0),
                     200);
    ck_assert(run_until(&e, absent_and_empty, 10000));
    ck_assert_uint_eq(store_count(e.s), 0);
    ck_assert(reflector_absent(e.r));
    /* the empty list's on_synced came first: "absent" is the last word */
    ck_assert_int_eq(e.synced, 2);
    ck_assert_int_eq(e.synced_at_absent, 2);
    ck_assert_int_eq(e.absent_calls, 1);
    ck_assert(metric(&e, "aks_backup_informer_synced{resource=\"volumesnapshots\"}") == 1);
    ck_assert(has_series(&e, "aks_backup_informer_objects{resource=\"volumesnapshots\"}"));
    ck_assert(metric(&e, "aks_backup_informer_objects{resource=\"volumesnapshots\"}") == 0);
    env_close(&e);
    unsetenv("ABC_ABSENT_RETRY_SECONDS");
}
END_TEST

static bool watch_counted(struct env *e)
{
    return metric(e, "aks_backup_apiserver_requests_total{verb=\"watch\",code=\"200\"}") >= 1;
}
static bool watch_counted_twice(struct env *e)
{
    return metric(e, "aks_backup_apiserver_requests_total{verb=\"watch\",code=\"200\"}") >= 2;
}

/* Every watch family is exported from the start; a watch is counted when
 * it is answered (not when it ends), once, together with its duration. */
START_TEST(watch_metrics_at_answer)
{
    setenv("ABC_STREAMING_LIST", "0", 1);
    static const char *const args[] = {"--generate-pvs", "5", NULL};
    struct env e;
    env_open(&e, &pv_type, REFLECTOR_WATCH, args);
    static const char *const types[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    for (size_t i = 0; i < 5; i++) { /* before any request */
        char series[160];
        snprintf(series, sizeof(series), "aks_backup_watch_events_total{resource=\"persistentvolumes\",type=\"%s\"}",
                 types[i]);
        ck_assert_msg(has_series(&e, series), "%s missing", series);
        ck_assert(metric(&e, series) == 0);
    }
    ck_assert(has_series(&e, "aks_backup_relists_total{resource=\"persistentvolumes\"}"));
    ck_assert(run_until(&e, is_synced, 10000));
    ck_assert(run_until(&e, watch_counted, 5000)); /* the watch is open, not ended */
    ck_assert(metric(&e, "aks_backup_apiserver_requests_total{verb=\"watch\",code=\"200\"}") == 1);
    ck_assert(metric(&e, "aks_backup_apiserver_request_duration_seconds_count{verb=\"watch\"}") == 1);
    ck_assert(metric(&e, "aks_backup_watch_restarts_total{resource=\"persistentvolumes\",reason=\"eof\"}") == 0);
    /* the watch ends (cut): not counted again; the next one is */
    ck_assert_int_eq(ksproc_control(&e.ks, "/drop-watches", "{}", NULL, 0), 200);
    ck_assert(run_until(&e, watch_counted_twice, 10000));
    ck_assert(metric(&e, "aks_backup_apiserver_requests_total{verb=\"watch\",code=\"200\"}") == 2);
    ck_assert(metric(&e, "aks_backup_apiserver_request_duration_seconds_count{verb=\"watch\"}") == 2);
    ck_assert(!has_series(&e, "aks_backup_apiserver_requests_total{verb=\"watch\",code=\"error\"}"));
    env_close(&e);
    unsetenv("ABC_STREAMING_LIST");
}
END_TEST

static bool relisted_after_too_large(struct env *e)
{
    return metric(e, "aks_backup_relists_total{resource=\"persistentvolumes\"}") >= 1 &&
           store_get(e->s, NULL, "after-504") && converged(e);
}

/* A watch answered HTTP 504 "Too large resource version" (our RV is ahead
 * of the server's): list again from scratch rather than re-watch. */
START_TEST(too_large_watch_relists)
{
    setenv("ABC_STREAMING_LIST", "0", 1);
    static const char *const args[] = {"--generate-pvs", "5", NULL};
    struct env e;
    env_open(&e, &pv_type, REFLECTOR_WATCH, args);
    ck_assert(run_until(&e, is_synced, 10000));
    ck_assert(run_until(&e, watch_counted, 5000));
    ck_assert_int_eq(ksproc_control(&e.ks, "/fail", "{\"count\":1,\"code\":504,\"verb\":\"watch\"}", NULL, 0), 200);
    ck_assert_int_eq(ksproc_control(&e.ks, "/drop-watches", "{}", NULL, 0), 200);
    apply_pv(&e, "after-504", "Available");
    ck_assert(run_until(&e, relisted_after_too_large, 15000));
    ck_assert(metric(&e, "aks_backup_apiserver_requests_total{verb=\"watch\",code=\"504\"}") == 1);
    ck_assert(metric(&e, "aks_backup_watch_restarts_total{resource=\"persistentvolumes\",reason=\"error\"}") >= 1);
    ck_assert_int_eq(ksproc_control(&e.ks, "/fail", "{\"count\":0}", NULL, 0), 200);
    env_close(&e);
    unsetenv("ABC_STREAMING_LIST");
}
END_TEST

static bool too_large(const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    bool r = kube_status_rv_too_large(o);
    json_object_put(o);
    return r;
}

START_TEST(too_large_status_parsed)
{
    ck_assert(too_large("{\"kind\":\"Status\",\"code\":504,\"reason\":\"Timeout\",\"message\":\"Timeout: Too large "
                        "resource version: 9, current: 5\",\"details\":{\"causes\":[{\"reason\":"
                        "\"ResourceVersionTooLarge\",\"message\":\"Too large resource version\"}]}}"));
    ck_assert(too_large("{\"details\":{\"causes\":[{\"reason\":\"Other\"},{\"reason\":\"ResourceVersionTooLarge\"}]}}"));
    ck_assert(too_large("{\"code\":504,\"message\":\"Too large resource version: 9, current: 5\"}")); /* < 1.17 */
    ck_assert(!too_large("{\"code\":500,\"message\":\"Too large resource version\"}"));
    ck_assert(!too_large("{\"code\":504,\"reason\":\"Timeout\",\"message\":\"request timed out\"}"));
    ck_assert(!too_large("{\"code\":410,\"reason\":\"Expired\",\"message\":\"too old resource version\"}"));
    ck_assert(!too_large("[1,2]"));
    ck_assert(!kube_status_rv_too_large(NULL));
}
END_TEST

static bool after_garbage(struct env *e)
{
    return metric(e, "aks_backup_watch_restarts_total{resource=\"persistentvolumes\",reason=\"error\"}") >= 1 &&
           e->synced >= 2 && store_get(e->s, NULL, "g1") && converged(e);
}

START_TEST(garbage_relists)
{
    static const char *modes[] = {"{\"mode\":\"malformed\"}", "{\"mode\":\"truncated\"}"};
    for (int i = 0; i < 2; i++) {
        struct env e;
        env_open(&e, &pv_type, REFLECTOR_WATCH, gen1200);
        ck_assert(run_until(&e, is_synced, 20000));
        ck_assert_int_eq(ksproc_control(&e.ks, "/garbage", modes[i], NULL, 0), 200);
        apply_pv(&e, "g1", "Available");
        ck_assert_msg(run_until(&e, after_garbage, 15000), "mode %s", modes[i]);
        env_close(&e);
    }
}
END_TEST

START_TEST(list_only_mode)
{
    struct env e;
    setenv("ABC_STREAMING_LIST", "1", 1);
    env_open(&e, &pv_type, REFLECTOR_LIST_ONLY, gen1200);
    ck_assert(run_until(&e, is_synced, 20000));
    ck_assert_uint_eq(store_count(e.s), 1200);
    /* no watch follows */
    uv_timer_t t;
    uv_timer_init(&e.loop, &t);
    uv_timer_start(&t, w_deadline, 300, 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    char stats[4096];
    ck_assert_int_eq(ksproc_control(&e.ks, "/stats", NULL, stats, sizeof(stats)), 200);
    /* one streaming list, ended by us after its initial events; no watch after */
    ck_assert_msg(strstr(stats, "\"watch\":1,") != NULL, "%s", stats);
    ck_assert(metric(&e, "aks_backup_apiserver_requests_total{verb=\"watch\",code=\"200\"}") == 1);
    ck_assert_str_ne(reflector_resource_version(e.r), "");
    env_close(&e);
    /* paginated: three pages, no watch at all */
    setenv("ABC_STREAMING_LIST", "0", 1);
    env_open(&e, &pv_type, REFLECTOR_LIST_ONLY, gen1200);
    ck_assert(run_until(&e, is_synced, 20000));
    ck_assert_uint_eq(store_count(e.s), 1200);
    uv_timer_init(&e.loop, &t);
    uv_timer_start(&t, w_deadline, 300, 0);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    ck_assert_int_eq(ksproc_control(&e.ks, "/stats", NULL, stats, sizeof(stats)), 200);
    ck_assert_msg(strstr(stats, "\"watch\":0,") != NULL && strstr(stats, "\"list\":3,") != NULL, "%s", stats);
    env_close(&e);
    unsetenv("ABC_STREAMING_LIST");
}
END_TEST

static bool retried_after_429(struct env *e) { return reflector_synced(e->r); }

START_TEST(list_429_honours_retry_after)
{
    setenv("ABC_STREAMING_LIST", "0", 1);
    static const char *const args[] = {"--generate-pvs", "5", NULL};
    struct env e;
    memset(&e, 0, sizeof(e));
    env_open(&e, &pv_type, REFLECTOR_WATCH, args);
    /* the first list was sent on start; fail the relist path instead: stop, inject, start */
    reflector_stop(e.r);
    ck_assert_int_eq(ksproc_control(&e.ks, "/fail", "{\"count\":1,\"code\":429,\"retry_after\":2}", NULL, 0), 200);
    uint64_t t0 = uv_hrtime();
    ck_assert_int_eq(reflector_start(e.r), 0);
    ck_assert(run_until(&e, retried_after_429, 10000));
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    ck_assert_msg(secs >= 1.9, "synced after %.2f s despite Retry-After: 2", secs);
    ck_assert(metric(&e, "aks_backup_apiserver_requests_total{verb=\"list\",code=\"429\"}") == 1);
    env_close(&e);
    unsetenv("ABC_STREAMING_LIST");
}
END_TEST

/* kubesim's request log: the list requests of persistentvolumes, in the
 * order kubesim received them ({"t_recv","t_done","completed","query"}). */
static struct json_object *pv_lists(struct env *e)
{
    static char log[4 << 20];
    ck_assert_int_eq(ksproc_control(&e->ks, "/requests", NULL, log, sizeof(log)), 200);
    struct json_object *all = json_tokener_parse(log), *out = json_object_new_array();
    ck_assert_ptr_nonnull(all);
    for (size_t i = 0; i < json_object_array_length(all); i++) {
        struct json_object *it = json_object_array_get_idx(all, i), *v, *pth;
        if (json_object_object_get_ex(it, "verb", &v) && strcmp(json_object_get_string(v), "list") == 0 &&
            json_object_object_get_ex(it, "path", &pth) &&
            strcmp(json_object_get_string(pth), "/api/v1/persistentvolumes") == 0)
            json_object_array_add(out, json_object_get(it));
    }
    json_object_put(all);
    return out;
}

static int64_t jfield(struct json_object *o, const char *k)
{
    struct json_object *v;
    ck_assert(json_object_object_get_ex(o, k, &v));
    return json_object_get_int64(v);
}

static bool jcontinued(struct json_object *o)
{
    struct json_object *v;
    return json_object_object_get_ex(o, "query", &v) && strstr(json_object_get_string(v), "continue=");
}

/* The next page is asked for as soon as the current page's metadata (its
 * continue token) is read: kubesim holds one page 300 ms after its head
 * (the metadata and the start of the items), and the next page's request
 * must reach it during that hold, long before the page's last byte went
 * out. Held: the first page, then the second (which itself came as an
 * early next page, held until the first was done). The pages are still
 * applied in order, into one replace: 1200 objects, one on_synced, the
 * same list as kubesim's. */
START_TEST(next_page_asked_before_the_page_ends)
{
    setenv("ABC_STREAMING_LIST", "0", 1);
    static const char *const pace[] = {
        "{\"resource\":\"persistentvolumes\",\"hold_ms\":300,\"count\":1}",
        "{\"resource\":\"persistentvolumes\",\"hold_ms\":300,\"skip\":1,\"count\":1}"};
    for (size_t held = 0; held < 2; held++) {
        const char *ctl[] = {"/list-pace", pace[held], NULL};
        pre_ctl = ctl;
        struct env e;
        env_open(&e, &pv_type, REFLECTOR_WATCH, gen1200);
        ck_assert(run_until(&e, is_synced, 20000));
        ck_assert_uint_eq(store_count(e.s), 1200);
        ck_assert_int_eq(e.adds, 1200);
        ck_assert_int_eq(e.synced, 1);
        ck_assert(metric(&e, "aks_backup_apiserver_requests_total{verb=\"list\",code=\"200\"}") == 3);
        ck_assert(metric(&e, "aks_backup_relists_total{resource=\"persistentvolumes\"}") == 0);
        ck_assert(converged(&e));
        struct json_object *l = pv_lists(&e);
        ck_assert_uint_eq(json_object_array_length(l), 3); /* 500 + 500 + 200, nothing asked twice */
        struct json_object *cur = json_object_array_get_idx(l, held), *nx = json_object_array_get_idx(l, held + 1);
        struct json_object *ok;
        ck_assert(json_object_object_get_ex(cur, "completed", &ok) && json_object_get_boolean(ok));
        ck_assert(jcontinued(nx));
        int64_t ahead = jfield(cur, "t_done") - jfield(nx, "t_recv");
        ck_assert_msg(ahead >= 150, "page %zu: next page asked %lld ms before its end (want >= 150)", held,
                      (long long)ahead);
        json_object_put(l);
        env_close(&e);
    }
    unsetenv("ABC_STREAMING_LIST");
}
END_TEST

static bool relisted_once(struct env *e)
{
    return reflector_synced(e->r) &&
           metric(e, "aks_backup_relists_total{resource=\"persistentvolumes\"}") == 1;
}

/* The first page is cut after its head, while the next page (asked for
 * already) is in flight: the whole list is dropped (nothing applied, the
 * next page's transfer cancelled) and listed again from the start, as
 * for any bad page; nothing is lost or applied twice. */
START_TEST(page_cut_while_next_in_flight_relists)
{
    setenv("ABC_STREAMING_LIST", "0", 1);
    const char *ctl[] = {"/list-pace",
                         "{\"resource\":\"persistentvolumes\",\"hold_ms\":300,\"mode\":\"truncate\",\"count\":1}",
                         NULL};
    pre_ctl = ctl;
    struct env e;
    env_open(&e, &pv_type, REFLECTOR_WATCH, gen1200);
    ck_assert(run_until(&e, relisted_once, 20000));
    ck_assert_uint_eq(store_count(e.s), 1200);
    ck_assert_int_eq(e.adds, 1200);
    ck_assert_int_eq(e.synced, 1); /* the cut list was never applied */
    ck_assert(converged(&e));
    struct json_object *l = pv_lists(&e);
    ck_assert_uint_ge(json_object_array_length(l), 5); /* cut first page, its successor, then 3 */
    struct json_object *cut = json_object_array_get_idx(l, 0), *nx = json_object_array_get_idx(l, 1), *ok;
    ck_assert(!jcontinued(cut) && jcontinued(nx));
    ck_assert(json_object_object_get_ex(cut, "completed", &ok) && !json_object_get_boolean(ok));
    ck_assert_int_lt(jfield(nx, "t_recv"), jfield(cut, "t_done")); /* it was in flight at the cut */
    size_t n = json_object_array_length(l);
    ck_assert(!jcontinued(json_object_array_get_idx(l, n - 3))); /* the list again, from the start */
    ck_assert_int_ge(jfield(json_object_array_get_idx(l, n - 3), "t_recv"), jfield(cut, "t_done"));
    json_object_put(l);
    env_close(&e);
    unsetenv("ABC_STREAMING_LIST");
}
END_TEST

/* The next page's request fails (500, then 410 Expired) while the current
 * page is still arriving: the current page is finished first, then the
 * failure is handled in order: 500 → the list is retried after backoff,
 * 410 → listed again at once; one replace, nothing lost. */
START_TEST(next_page_error_handled_in_order)
{
    setenv("ABC_STREAMING_LIST", "0", 1);
    static const char *fails[] = {"{\"count\":1,\"code\":500,\"verb\":\"list\",\"query\":\"continue=\"}",
                                  "{\"count\":1,\"code\":410,\"verb\":\"list\",\"query\":\"continue=\"}"};
    static const char *series[] = {"aks_backup_apiserver_requests_total{verb=\"list\",code=\"500\"}",
                                   "aks_backup_apiserver_requests_total{verb=\"list\",code=\"410\"}"};
    for (int i = 0; i < 2; i++) {
        const char *ctl[] = {"/fail", fails[i], "/list-pace",
                             "{\"resource\":\"persistentvolumes\",\"hold_ms\":300,\"count\":1}", NULL};
        pre_ctl = ctl;
        struct env e;
        env_open(&e, &pv_type, REFLECTOR_WATCH, gen1200);
        ck_assert_msg(run_until(&e, relisted_once, 20000), "%s", fails[i]);
        ck_assert_uint_eq(store_count(e.s), 1200);
        ck_assert_int_eq(e.adds, 1200);
        ck_assert_int_eq(e.synced, 1);
        ck_assert(metric(&e, series[i]) == 1);
        ck_assert(converged(&e));
        struct json_object *l = pv_lists(&e);
        struct json_object *first = json_object_array_get_idx(l, 0), *nx = json_object_array_get_idx(l, 1);
        ck_assert(jcontinued(nx));
        ck_assert_int_lt(jfield(nx, "t_recv"), jfield(first, "t_done")); /* failed while page 1 was held */
        json_object_put(l);
        env_close(&e);
    }
    unsetenv("ABC_STREAMING_LIST");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reflector");
    TCase *tc = tcase_create("kubesim");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, list_pages_then_watch);
    tcase_add_test(tc, next_page_asked_before_the_page_ends);
    tcase_add_test(tc, page_cut_while_next_in_flight_relists);
    tcase_add_test(tc, next_page_error_handled_in_order);
    tcase_add_test(tc, streaming_list_then_watch);
    tcase_add_test(tc, streaming_lists_start_together);
    tcase_add_test(tc, streaming_list_falls_back);
    tcase_add_test(tc, expired_watch_relists);
    tcase_add_test(tc, silent_watch_restarts);
    tcase_add_test(tc, absent_api_retried);
    tcase_add_test(tc, garbage_relists);
    tcase_add_test(tc, list_only_mode);
    tcase_add_test(tc, list_429_honours_retry_after);
    tcase_add_test(tc, api_removed_empties_store);
    tcase_add_test(tc, watch_metrics_at_answer);
    tcase_add_test(tc, too_large_watch_relists);
    tcase_add_test(tc, too_large_status_parsed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
