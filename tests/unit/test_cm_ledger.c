/* Unit tests for quota/cm_store.c: the quota ledger in a ConfigMap with
 * optimistic concurrency, on a real loop against an in-memory API server
 * that answers 409 on a stale resourceVersion like kube-apiserver. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <uv.h>

#include "quota/cm_store.h"
#include "quota/ledger.h"
#include "quota/state.h"
#include "util/clock.h"

/* ---- in-memory ConfigMap server ------------------------------------- */

struct srv {
    uv_loop_t *loop;
    bool exists;
    char *doc;          /* data["ledger.json"] */
    char *raw_data;     /* when set: GET answers this whole body instead */
    long rv;
    long gets, puts, posts, conflicts;
    bool hang;          /* requests never answer (until srv_end) */
    int fail_writes;    /* the next PUT/POSTs answer 500 */
    int latency_ms;
    struct sreq *hung;
    char last_body[1 << 16];
};

struct sreq {
    uv_timer_t t;
    int status;
    char *body;
    size_t len;
    write_done_cb done;
    void *data;
    struct sreq *next;
};

static char *cm_body(struct srv *s)
{
    char rv[32];
    snprintf(rv, sizeof(rv), "%ld", s->rv);
    return cm_store_render("q", "ns", "server", rv, s->doc ? s->doc : "{}", NULL);
}

static void fire(uv_timer_t *t)
{
    struct sreq *r = (struct sreq *)t;
    r->done(r->data, r->status, r->body, r->len);
    free(r->body);
    uv_close((uv_handle_t *)&r->t, (uv_close_cb)free);
}

static int srv_request(void *ctx, const char *method, const char *path, const char *ct,
                       const char *body, size_t len, write_done_cb done, void *data, void **call)
{
    struct srv *s = ctx;
    struct sreq *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    r->done = done;
    r->data = data;
    if (s->hang) {
        r->next = s->hung;
        s->hung = r;
        return 0;
    }
    if (strcmp(method, "GET") == 0) {
        ck_assert_str_eq(path, "/api/v1/namespaces/ns/configmaps/q");
        s->gets++;
        if (s->raw_data) {
            r->status = 200;
            r->body = strdup(s->raw_data);
            r->len = strlen(r->body);
        } else if (s->exists) {
            r->status = 200;
            r->body = cm_body(s);
            r->len = strlen(r->body);
        } else {
            r->status = 404;
        }
    } else if (s->fail_writes > 0) {
        s->fail_writes--;
        r->status = 500;
    } else {
        ck_assert_str_eq(ct, "application/json");
        ck_assert_uint_lt(len, sizeof(s->last_body));
        memcpy(s->last_body, body, len);
        s->last_body[len] = '\0';
        char rv[64], *doc = NULL;
        ck_assert_int_eq(cm_store_parse(body, len, rv, sizeof(rv), &doc), 0);
        ck_assert_ptr_nonnull(doc);
        char cur[32];
        snprintf(cur, sizeof(cur), "%ld", s->rv);
        bool post = strcmp(method, "POST") == 0;
        if (post) {
            ck_assert_str_eq(path, "/api/v1/namespaces/ns/configmaps");
            s->posts++;
        } else {
            ck_assert_str_eq(path, "/api/v1/namespaces/ns/configmaps/q");
            s->puts++;
        }
        if (post ? s->exists : (!s->exists || strcmp(rv, cur))) {
            r->status = post ? 409 : (s->exists ? 409 : 404);
            if (r->status == 409)
                s->conflicts++;
            free(doc);
        } else {
            free(s->doc);
            s->doc = doc;
            s->exists = true;
            free(s->raw_data);
            s->raw_data = NULL;
            s->rv++;
            r->status = post ? 201 : 200;
            r->body = cm_body(s);
            r->len = strlen(r->body);
        }
    }
    uv_timer_init(s->loop, &r->t);
    uv_timer_start(&r->t, fire, (uint64_t)s->latency_ms, 0);
    return 0;
}

static void srv_end(struct srv *s)
{
    while (s->hung) {
        struct sreq *r = s->hung;
        s->hung = r->next;
        r->done(r->data, -ECANCELED, NULL, 0);
        free(r);
    }
    free(s->doc);
    free(s->raw_data);
}

/* ---- helpers --------------------------------------------------------- */

static struct ledger *mk_ledger(void)
{
    struct ledger_opts o;
    memset(&o, 0, sizeof(o));
    o.limit[ACCT_OP_BACKUP] = 1000;
    o.limit[ACCT_OP_RESTORE] = 1000;
    o.warn_ratio = 0.8;
    struct ledger *l = ledger_new(&o);
    ck_assert_ptr_nonnull(l);
    return l;
}

static struct cm_store *mk_store(uv_loop_t *loop, struct srv *s, struct ledger *l,
                                 const char *id, struct write_transport *tr)
{
    tr->request = srv_request;
    tr->ctx = s;
    struct cm_store_opts o = {.name = "q", .namespace_ = "ns", .identity = id,
                              .transport = *tr, .ledger = l, .max_attempts = 50,
                              .timeout_ms = 300};
    struct cm_store *cs = NULL;
    ck_assert_int_eq(cm_store_init(&cs, loop, &o), 0);
    return cs;
}

struct res {
    int calls, ok, err;
    int last_err, last_http;
};

static void on_res(void *d, int err, int http)
{
    struct res *r = d;
    r->calls++;
    if (err)
        r->err++;
    else
        r->ok++;
    r->last_err = err;
    r->last_http = http;
}

static void close_cb(void *d) { (*(int *)d)++; }

static void reserve(struct ledger *l, const char *id)
{
    struct ledger_answer a;
    ck_assert_int_eq(ledger_reserve(l, "inst", ACCT_OP_BACKUP, id, clock_now_ms() / 1000, &a), 0);
}

/* Reservations in the server's document, read into a fresh ledger. */
static long server_used(struct srv *s)
{
    ck_assert_ptr_nonnull(s->doc);
    struct ledger *l = mk_ledger();
    json_object *d = json_tokener_parse(s->doc);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_ge(ledger_merge_json(l, d, clock_now_ms() / 1000), 0);
    json_object_put(d);
    long n = ledger_used(l, "inst", ACCT_OP_BACKUP, clock_now_ms() / 1000);
    ledger_free(l);
    return n;
}

static void finish(uv_loop_t *loop, struct srv *s, struct cm_store **stores, int n)
{
    int closed = 0;
    for (int i = 0; i < n; i++)
        cm_store_close(stores[i], close_cb, &closed);
    uv_run(loop, UV_RUN_DEFAULT);
    srv_end(s);
    ck_assert_int_eq(uv_run(loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(closed, n);
    ck_assert_int_eq(uv_loop_close(loop), 0);
}

/* ---- tests ----------------------------------------------------------- */

START_TEST(load_absent_then_create)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv s = {.loop = &loop};
    struct write_transport tr;
    struct ledger *l = mk_ledger();
    struct cm_store *cs = mk_store(&loop, &s, l, "pod-a", &tr);
    struct res lr = {0}, sr = {0};
    ck_assert_int_eq(cm_store_load(cs, on_res, &lr), 0);
    ck_assert_int_eq(lr.calls, 0); /* never before return */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(lr.ok, 1);
    reserve(l, "r1");
    ck_assert_int_eq(cm_store_save(cs, on_res, &sr), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(sr.ok, 1);
    ck_assert_int_eq(sr.last_http, 201);
    ck_assert_int_eq(s.posts, 1);
    ck_assert_int_eq(s.gets, 1);
    ck_assert_int_eq(server_used(&s), 1);
    /* the ConfigMap layout: label, annotation, data key */
    ck_assert_ptr_nonnull(
        strstr(s.last_body, "\"app.kubernetes.io/name\":\"aks-backup-companion\""));
    ck_assert_ptr_nonnull(strstr(s.last_body, "\"aks-backup-companion/written-by\":\"pod-a\""));
    ck_assert_ptr_nonnull(strstr(s.last_body, "\"ledger.json\":"));
    /* a second save PUTs with the rv it got back, no extra GET */
    reserve(l, "r2");
    ck_assert_int_eq(cm_store_save(cs, on_res, &sr), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(sr.ok, 2);
    ck_assert_int_eq(s.puts, 1);
    ck_assert_int_eq(s.gets, 1);
    ck_assert_int_eq(server_used(&s), 2);
    ck_assert_int_eq(cm_store_conflicts(cs), 0);
    finish(&loop, &s, &cs, 1);
    ledger_free(l);
}
END_TEST

START_TEST(load_merges_stored_state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv s = {.loop = &loop};
    /* the server holds the state of a former leader with 3 reservations */
    struct ledger *old = mk_ledger();
    reserve(old, "a");
    reserve(old, "b");
    reserve(old, "c");
    json_object *d = ledger_to_json(old, clock_now_ms() / 1000);
    s.doc = strdup(json_object_to_json_string(d));
    json_object_put(d);
    ledger_free(old);
    s.exists = true;
    s.rv = 42;

    struct write_transport tr;
    struct ledger *l = mk_ledger();
    reserve(l, "c"); /* one already known here: not counted twice */
    struct cm_store *cs = mk_store(&loop, &s, l, "pod-b", &tr);
    struct res lr = {0};
    ck_assert_int_eq(cm_store_load(cs, on_res, &lr), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(lr.ok, 1);
    ck_assert_int_eq(ledger_used(l, "inst", ACCT_OP_BACKUP, clock_now_ms() / 1000), 3);
    /* the next save PUTs with rv 42 */
    struct res sr = {0};
    cm_store_save(cs, on_res, &sr);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(sr.ok, 1);
    ck_assert_int_eq(s.puts, 1);
    ck_assert_int_eq(s.rv, 43);
    finish(&loop, &s, &cs, 1);
    ledger_free(l);
}
END_TEST

/* Two writers (a stale leader and a new one, or two replicas during a
 * failover) save concurrently: every 409 re-reads and merges, so the
 * stored count is the union: none lost, none doubled. */
START_TEST(concurrent_writers_lose_nothing)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv s = {.loop = &loop, .latency_ms = 1};
    struct write_transport tra, trb;
    struct ledger *la = mk_ledger(), *lb = mk_ledger();
    struct cm_store *st[2] = {mk_store(&loop, &s, la, "pod-a", &tra),
                              mk_store(&loop, &s, lb, "pod-b", &trb)};
    struct res ra = {0}, rb = {0};
    char id[32];
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "a-%d", i);
        reserve(la, id);
        ck_assert_int_eq(cm_store_save(st[0], on_res, &ra), 0);
        snprintf(id, sizeof(id), "b-%d", i);
        reserve(lb, id);
        ck_assert_int_eq(cm_store_save(st[1], on_res, &rb), 0);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(ra.calls, 25);
    ck_assert_int_eq(rb.calls, 25);
    ck_assert_int_eq(ra.err + rb.err, 0);
    ck_assert_int_eq(server_used(&s), 50);
    ck_assert_uint_gt(cm_store_conflicts(st[0]) + cm_store_conflicts(st[1]), 0);
    /* saves coalesced: far fewer writes than the 50 asks */
    ck_assert_int_lt(s.puts + s.posts - s.conflicts, 50);
    finish(&loop, &s, st, 2);
    ledger_free(la);
    ledger_free(lb);
}
END_TEST

START_TEST(saves_coalesce)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv s = {.loop = &loop, .latency_ms = 5};
    struct write_transport tr;
    struct ledger *l = mk_ledger();
    struct cm_store *cs = mk_store(&loop, &s, l, "pod-a", &tr);
    struct res r = {0};
    char id[32];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "r-%d", i);
        reserve(l, id);
        ck_assert_int_eq(cm_store_save(cs, on_res, &r), 0);
    }
    ck_assert_uint_eq(cm_store_pending(cs), 10);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r.ok, 10);
    /* the first ask goes out at once; the nine made meanwhile share one write */
    ck_assert_int_eq(s.posts + s.puts, 2);
    ck_assert_int_eq(server_used(&s), 10);
    ck_assert_uint_eq(cm_store_pending(cs), 0);
    finish(&loop, &s, &cs, 1);
    ledger_free(l);
}
END_TEST

START_TEST(corrupt_document_is_set_aside)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv s = {.loop = &loop};
    s.exists = true;
    s.rv = 7;
    s.doc = strdup("{\"not\":\"a ledger\"}");
    struct write_transport tr;
    struct ledger *l = mk_ledger();
    struct cm_store *cs = mk_store(&loop, &s, l, "pod-a", &tr);
    struct res lr = {0}, sr = {0};
    cm_store_load(cs, on_res, &lr);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(lr.err, 1);
    ck_assert_int_eq(lr.last_err, -EINVAL);
    reserve(l, "x");
    cm_store_save(cs, on_res, &sr);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(sr.ok, 1);
    ck_assert_int_eq(server_used(&s), 1);
    ck_assert_ptr_nonnull(strstr(s.last_body, "\"ledger.json.corrupt\":\"{\\\"not\\\":"));
    finish(&loop, &s, &cs, 1);
    ledger_free(l);
}
END_TEST

START_TEST(hung_request_times_out)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv s = {.loop = &loop, .hang = true};
    struct write_transport tr;
    struct ledger *l = mk_ledger();
    struct cm_store *cs = mk_store(&loop, &s, l, "pod-a", &tr);
    struct res r = {0};
    int64_t t0 = clock_mono_ms();
    cm_store_save(cs, on_res, &r);
    while (r.calls == 0) /* the failed save is retried on its own: don't wait for idle */
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.last_err, -ETIMEDOUT);
    ck_assert_int_ge(clock_mono_ms() - t0, 290);
    /* the server comes back: the next save re-reads and writes */
    s.hang = false;
    cm_store_save(cs, on_res, &r);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(r.ok, 1);
    finish(&loop, &s, &cs, 1); /* the hung request answers late: dropped */
    ledger_free(l);
}
END_TEST

START_TEST(close_cancels_queued)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv s = {.loop = &loop, .hang = true};
    struct write_transport tr;
    struct ledger *l = mk_ledger();
    struct cm_store *cs = mk_store(&loop, &s, l, "pod-a", &tr);
    struct res r = {0};
    cm_store_save(cs, on_res, &r);
    cm_store_load(cs, on_res, &r);
    int closed = 0;
    cm_store_close(cs, close_cb, &closed);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_int_eq(r.last_err, -ECANCELED);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(closed, 1);
    srv_end(&s);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    ledger_free(l);
}
END_TEST

START_TEST(render_and_parse)
{
    size_t len = 0;
    char *b = cm_store_render("q", "ns", "pod-a", "9", "{\"version\":1}", &len);
    ck_assert_ptr_nonnull(b);
    char rv[16], *doc = NULL;
    ck_assert_int_eq(cm_store_parse(b, len, rv, sizeof(rv), &doc), 0);
    ck_assert_str_eq(rv, "9");
    ck_assert_str_eq(doc, "{\"version\":1}");
    free(doc);
    free(b);
    b = cm_store_render("q", "ns", NULL, "", "{}", &len);
    ck_assert_ptr_null(strstr(b, "resourceVersion"));
    free(b);
    const char *nodata = "{\"metadata\":{\"resourceVersion\":\"3\"}}";
    ck_assert_int_eq(cm_store_parse(nodata, strlen(nodata), rv, sizeof(rv), &doc), 0);
    ck_assert_ptr_null(doc);
    ck_assert_int_eq(cm_store_parse("nope", 4, rv, sizeof(rv), &doc), -EINVAL);
    char p[128];
    ck_assert_int_eq(cm_store_path(p, sizeof(p), "ns", "q"), 0);
    ck_assert_str_eq(p, "/api/v1/namespaces/ns/configmaps/q");
}
END_TEST

static bool g_writable;
static bool can_write(void *d)
{
    (void)d;
    return g_writable;
}

/* The quota_store adapter: quota's saves become async writes on the
 * leader only; a failed write is retried by the store on its own. */
START_TEST(quota_store_adapter_and_retry)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv s = {.loop = &loop};
    struct write_transport tr = {.request = srv_request, .ctx = &s};
    struct ledger *l = mk_ledger();
    struct cm_store_opts o = {.name = "q", .namespace_ = "ns", .identity = "pod-a",
                              .transport = tr, .ledger = l, .timeout_ms = 200,
                              .retry_ms = 100, .can_write = can_write};
    struct cm_store *cs = NULL;
    ck_assert_int_eq(cm_store_init(&cs, &loop, &o), 0);
    struct quota_store qs;
    ck_assert_int_eq(cm_store_quota_store(&qs, cs), 0);
    ck_assert_str_eq(qs.ops->name, "configmap");
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(qs.ops->load(qs.ctx, &data, &len), -ENOENT);

    reserve(l, "f1");
    g_writable = false; /* follower: nothing written */
    ck_assert_int_eq(quota_state_save(&qs, l, clock_now_ms() / 1000), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(s.gets + s.puts + s.posts, 0);

    g_writable = true;
    s.hang = true; /* partitioned: the write times out, then is retried */
    ck_assert_int_eq(quota_state_save(&qs, l, clock_now_ms() / 1000), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_sleep(250);
    uv_run(&loop, UV_RUN_NOWAIT); /* timeout fires, retry armed */
    /* while failing, a save says so (quota then refuses reservations) */
    ck_assert_int_eq(quota_state_save(&qs, l, clock_now_ms() / 1000), -EIO);
    s.hang = false;
    uv_run(&loop, UV_RUN_DEFAULT); /* the retry writes without being asked */
    ck_assert_int_eq(s.posts, 1);
    ck_assert_int_eq(server_used(&s), 1);
    ck_assert_int_eq(quota_state_save(&qs, l, clock_now_ms() / 1000), 0); /* recovered */
    uv_run(&loop, UV_RUN_DEFAULT);

    /* the store may go first: the adapter then does nothing */
    int closed = 0;
    cm_store_close(cs, close_cb, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(closed, 1);
    ck_assert_int_eq(quota_state_save(&qs, l, clock_now_ms() / 1000), 0);
    quota_store_free(&qs);
    srv_end(&s);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    ledger_free(l);
}
END_TEST

/* What the server held when a save_wait completion fired. */
struct landed {
    struct srv *s;
    char id[16];
    int calls, err, http;
    bool held;  /* the server's document had id at that moment */
};

static void on_landed(void *d, int err, int http)
{
    struct landed *w = d;
    w->calls++;
    w->err = err;
    w->http = http;
    char needle[32];
    snprintf(needle, sizeof(needle), "\"%s\"", w->id);
    w->held = w->s->doc && strstr(w->s->doc, needle);
}

/* save_wait (the reservation route's wait): done fires once the write
 * carrying the ledger as it was at the call landed, for every caller of
 * a coalesced write; a failed write reports its error and holds nothing. */
START_TEST(save_wait_reports_the_write)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srv s = {.loop = &loop, .latency_ms = 5};
    struct write_transport tr = {.request = srv_request, .ctx = &s};
    struct ledger *l = mk_ledger();
    struct cm_store_opts o = {.name = "q", .namespace_ = "ns", .identity = "pod-a",
                              .transport = tr, .ledger = l, .timeout_ms = 200,
                              .retry_ms = 100000, .can_write = can_write};
    struct cm_store *cs = NULL;
    ck_assert_int_eq(cm_store_init(&cs, &loop, &o), 0);
    struct quota_store qs;
    ck_assert_int_eq(cm_store_quota_store(&qs, cs), 0);
    ck_assert_ptr_nonnull(qs.ops->save_wait);
    struct landed w[12];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < 12; i++) {
        w[i].s = &s;
        snprintf(w[i].id, sizeof(w[i].id), "w-%d", i);
    }

    g_writable = false; /* not the leader: refused at once, no callback */
    reserve(l, w[0].id);
    ck_assert_int_eq(qs.ops->save_wait(qs.ctx, on_landed, &w[0]), -EPERM);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(w[0].calls, 0);
    ck_assert_int_eq(s.posts + s.puts, 0);

    g_writable = true;
    ck_assert_int_eq(qs.ops->save_wait(qs.ctx, on_landed, &w[0]), 0);
    ck_assert_int_eq(w[0].calls, 0); /* never before return */
    /* reservations arriving while that write is out: they all complete,
     * each only once a write holding it landed */
    for (int i = 1; i < 8; i++) {
        reserve(l, w[i].id);
        ck_assert_int_eq(qs.ops->save_wait(qs.ctx, on_landed, &w[i]), 0);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(w[i].calls, 1);
        ck_assert_int_eq(w[i].err, 0);
        ck_assert_msg(w[i].held, "%s answered before the server held it", w[i].id);
    }
    ck_assert_int_le(s.posts + s.puts, 3); /* coalesced */
    ck_assert_int_eq(server_used(&s), 8);

    /* the write fails (500): reported, and the server does not hold it */
    s.fail_writes = 1;
    reserve(l, w[8].id);
    ck_assert_int_eq(qs.ops->save_wait(qs.ctx, on_landed, &w[8]), 0);
    uv_run(&loop, UV_RUN_ONCE);
    while (w[8].calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(w[8].err, -EIO);
    ck_assert_int_eq(w[8].http, 500);
    ck_assert(!w[8].held);

    /* the API server does not answer: -ETIMEDOUT after timeout_ms */
    s.hang = true;
    reserve(l, w[9].id);
    ck_assert_int_eq(qs.ops->save_wait(qs.ctx, on_landed, &w[9]), 0);
    uint64_t t0 = uv_now(&loop);
    while (w[9].calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(w[9].err, -ETIMEDOUT);
    ck_assert_uint_ge(uv_now(&loop) - t0, 190);
    ck_assert(!w[9].held);

    /* closing with one in flight and one queued: both told -ECANCELED */
    reserve(l, w[10].id);
    ck_assert_int_eq(qs.ops->save_wait(qs.ctx, on_landed, &w[10]), 0);
    reserve(l, w[11].id);
    ck_assert_int_eq(qs.ops->save_wait(qs.ctx, on_landed, &w[11]), 0);
    int closed = 0;
    cm_store_close(cs, close_cb, &closed);
    ck_assert_int_eq(w[10].err, -ECANCELED);
    ck_assert_int_eq(w[11].err, -ECANCELED);
    ck_assert_int_eq(qs.ops->save_wait(qs.ctx, on_landed, &w[11]), -ECANCELED);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(closed, 1);
    ck_assert_int_eq(qs.ops->save_wait(qs.ctx, on_landed, &w[11]), -ECANCELED); /* freed */
    quota_store_free(&qs);
    srv_end(&s);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    ledger_free(l);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("cm_ledger");
    TCase *tc = tcase_create("cm_store");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, load_absent_then_create);
    tcase_add_test(tc, load_merges_stored_state);
    tcase_add_test(tc, concurrent_writers_lose_nothing);
    tcase_add_test(tc, saves_coalesce);
    tcase_add_test(tc, corrupt_document_is_set_aside);
    tcase_add_test(tc, hung_request_times_out);
    tcase_add_test(tc, close_cancels_queued);
    tcase_add_test(tc, render_and_parse);
    tcase_add_test(tc, quota_store_adapter_and_retry);
    tcase_add_test(tc, save_wait_reports_the_write);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
