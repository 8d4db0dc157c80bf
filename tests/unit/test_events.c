/* Unit tests for writers/events.c: deterministic DNS-valid Event names,
 * the Event body, one Event per skipped PV per day with a bounded number
 * in flight, 409 after a restart, failure backoff, leadership, new PVs,
 * the UTC day rollover and close with requests in flight (writers_fake.h). */
#include <check.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "rules_support.h"
#include "util/buf.h"
#include "util/clock.h"
#include "writers/events.h"
#include "writers_fake.h"

/* Kubernetes IsDNS1123Subdomain. */
static bool dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum)
            continue;
        if (c != '-' && c != '.')
            return false;
        if (i == 0 || i == n - 1)
            return false;
        if (c == '.' && (s[i - 1] == '-' || s[i - 1] == '.' || s[i + 1] == '-' || s[i + 1] == '.'))
            return false;
    }
    return true;
}

START_TEST(test_name)
{
    char out[EVENT_NAME_MAX + 1];
    ck_assert_int_eq(event_name(out, sizeof(out), "pv-a", 20261125), 0);
    ck_assert_str_eq(out, "pv-a.backup-unsupported.20261125");
    ck_assert_int_eq(event_name(out, sizeof(out), "", 20261125), -EINVAL);
    ck_assert_int_eq(event_name(out, 100, "pv-a", 20261125), -EINVAL);

    /* the longest name that still fits as is */
    char pv[300];
    size_t fit = 253 - strlen(".backup-unsupported.20261125");
    memset(pv, 'a', fit);
    pv[fit] = '\0';
    ck_assert_int_eq(event_name(out, sizeof(out), pv, 20261125), 0);
    ck_assert_uint_eq(strlen(out), 253);
    ck_assert(strncmp(out, pv, fit) == 0);

    /* longer: truncated + hash, still valid, deterministic, distinct */
    memset(pv, 'b', 253);
    pv[253] = '\0';
    pv[200] = '-'; /* the cut lands near a dash */
    for (size_t i = 214; i < 226; i++)
        pv[i] = i % 2 ? '-' : '.';
    pv[215] = 'c';
    char a[EVENT_NAME_MAX + 1], b[EVENT_NAME_MAX + 1];
    ck_assert_int_eq(event_name(a, sizeof(a), pv, 20261125), 0);
    ck_assert_msg(dns_subdomain(a), "invalid: %s", a);
    ck_assert_uint_le(strlen(a), 253);
    ck_assert_ptr_nonnull(strstr(a, ".backup-unsupported.20261125"));
    ck_assert_int_eq(event_name(b, sizeof(b), pv, 20261125), 0);
    ck_assert_str_eq(a, b);
    pv[252] = 'z';
    ck_assert_int_eq(event_name(b, sizeof(b), pv, 20261125), 0);
    ck_assert_str_ne(a, b);
    ck_assert(dns_subdomain(b));
    /* every cut position gives a valid name */
    for (size_t len = 200; len <= 253; len++) {
        for (size_t i = 0; i < len; i++)
            pv[i] = "ab-.c"[i % 5 == 3 ? 2 : i % 7 == 5 ? 3 : i % 2];
        pv[len] = '\0';
        if (!dns_subdomain(pv))
            continue;
        ck_assert_int_eq(event_name(a, sizeof(a), pv, 20260101), 0);
        ck_assert_msg(dns_subdomain(a), "len %zu: invalid %s", len, a);
    }
}
END_TEST

START_TEST(test_day)
{
    int64_t t;
    ck_assert_int_eq(clock_parse_rfc3339("2026-03-14T23:59:59Z", &t, NULL), 0);
    ck_assert_int_eq(event_day(t), 20260314);
    ck_assert_int_eq(event_day(t + 1), 20260315);
    ck_assert_int_eq(clock_parse_rfc3339("2026-12-31T23:59:59Z", &t, NULL), 0);
    ck_assert_int_eq(event_day(t + 1), 20270101);
}
END_TEST

static const char *jget(json_object *o, const char *a, const char *b)
{
    json_object *v = NULL;
    ck_assert_msg(json_object_object_get_ex(o, a, &v), "missing %s", a);
    if (b)
        ck_assert_msg(json_object_object_get_ex(v, b, &v), "missing %s.%s", a, b);
    return json_object_get_string(v);
}

START_TEST(test_body)
{
    struct buf b;
    buf_init(&b, 0);
    int64_t now;
    ck_assert_int_eq(clock_parse_rfc3339("2026-03-14T15:00:00Z", &now, NULL), 0);
    ck_assert_int_eq(event_body(&b, "pv-x.backup-unsupported.20260314", "default", "pv-x", "uid-1",
                                PV_REASON_AZURE_FILES, "abc-0", now), 0);
    json_object *o = json_tokener_parse(b.data);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(jget(o, "apiVersion", NULL), "v1");
    ck_assert_str_eq(jget(o, "kind", NULL), "Event");
    ck_assert_str_eq(jget(o, "metadata", "name"), "pv-x.backup-unsupported.20260314");
    ck_assert_str_eq(jget(o, "metadata", "namespace"), "default");
    ck_assert_str_eq(jget(o, "involvedObject", "kind"), "PersistentVolume");
    ck_assert_str_eq(jget(o, "involvedObject", "apiVersion"), "v1");
    ck_assert_str_eq(jget(o, "involvedObject", "name"), "pv-x");
    ck_assert_str_eq(jget(o, "involvedObject", "uid"), "uid-1");
    ck_assert_str_eq(jget(o, "reason", NULL), "BackupUnsupported");
    ck_assert_str_eq(jget(o, "message", NULL),
                     "AKS backup skips this volume (azure-files): protect with Azure File Share backup");
    ck_assert_str_eq(jget(o, "type", NULL), "Warning");
    ck_assert_str_eq(jget(o, "firstTimestamp", NULL), "2026-03-14T15:00:00Z");
    ck_assert_str_eq(jget(o, "lastTimestamp", NULL), "2026-03-14T15:00:00Z");
    ck_assert_str_eq(jget(o, "count", NULL), "1");
    ck_assert_str_eq(jget(o, "source", "component"), "aks-backup-companion");
    ck_assert_str_eq(jget(o, "reportingComponent", NULL), "aks-backup-companion");
    ck_assert_str_eq(jget(o, "reportingInstance", NULL), "abc-0");
    json_object_put(o);
    /* no uid: the field is left out */
    buf_reset(&b);
    ck_assert_int_eq(event_body(&b, "n", "default", "pv-x", NULL, PV_REASON_IN_TREE, "", now), 0);
    o = json_tokener_parse(b.data);
    json_object *io = NULL;
    ck_assert(json_object_object_get_ex(o, "involvedObject", &io));
    ck_assert(!json_object_object_get_ex(io, "uid", NULL));
    json_object_put(o);
    buf_free(&b);
}
END_TEST

/* ---- the writer ---- */

struct fx {
    uv_loop_t loop;
    struct engine *e;
    struct store *pvs;
    struct fake_api f;
    struct event_writer *w;
    bool no_cancel; /* a transport without cancel */
};

static void on_change(void *data, unsigned what)
{
    struct fx *x = data;
    if (x->w)
        event_writer_notify(x->w, what);
}

static const char *const skipped_pvs[] = {
    "pv-orders-legacy-disk", "pvc-6071e9a0-3d4d-5cad-9c9f-c866f2585f8b", "pv-shared-config",
    "pvc-658703f2-2f90-586b-9cb3-7e4cc19ca948", "pv-intree-jenkins-home", "pv-intree-gitea",
    "pv-intree-azurefile-reports", "pv-hostpath-scratch", "pv-local-nvme-0", "pv-nfs-archive",
    "pvc-5bcec22a-49c6-541c-b425-de2203ea6c54",
};
#define NSKIPPED (sizeof(skipped_pvs) / sizeof(skipped_pvs[0]))

static void fx_writer(struct fx *x, bool leader)
{
    struct event_writer_opts o = {
        .transport = fake_transport_ex(&x->f, !x->no_cancel), .engine = x->e, .pvs = x->pvs,
        .instance = "abc-0",
        .scan_delay_ms = 5, .retry_initial_ms = 5, .retry_max_ms = 40,
    };
    ck_assert_int_eq(event_writer_new(&x->w, &x->loop, &o), 0);
    event_writer_set_leader(x->w, leader);
}

static void fx_init_ex(struct fx *x, bool leader, bool no_cancel)
{
    memset(x, 0, sizeof(*x));
    x->no_cancel = no_cancel;
    ck_assert_int_eq(uv_loop_init(&x->loop), 0);
    struct engine_opts eo;
    engine_opts_default(&eo);
    eo.edition = matrix_edition_find("2023-08"); /* the verdicts these tests were written for */
    x->e = engine_new(&eo);
    ck_assert_ptr_nonnull(x->e);
    engine_set_on_change(x->e, on_change, x);
    x->pvs = store_new(&model_pv_type);
    ck_assert_int_eq(engine_attach_store(x->e, x->pvs), 0);
    fake_init(&x->f);
    fx_writer(x, leader);
    /* the PV list, as the reflector applies it */
    json_object *root;
    json_object *items = fixture_items("persistentvolumes.json", &root);
    struct store_replace *r = store_replace_begin(x->pvs);
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        void *rec = NULL;
        ck_assert_int_eq(model_pv_type.extract(&model_pv_type, json_object_array_get_idx(items, i), &rec), 0);
        ck_assert_int_eq(store_replace_add(r, rec), 0);
    }
    ck_assert_int_eq(store_replace_end(r), 0);
    json_object_put(root);
}

static void fx_init(struct fx *x, bool leader)
{
    fx_init_ex(x, leader, false);
}

static void closed(void *data)
{
    *(int *)data += 1;
}

static void fx_close_writer(struct fx *x)
{
    int n = 0;
    event_writer_close(x->w, closed, &n);
    x->w = NULL;
    uv_run(&x->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(n, 1);
    fake_flush(&x->f); /* answers after close are dropped */
}

static void fx_free_rest(struct fx *x)
{
    ck_assert_int_eq(uv_loop_close(&x->loop), 0);
    store_free(x->pvs);
    engine_free(x->e);
    fake_free(&x->f);
}

static void fx_free(struct fx *x)
{
    fx_close_writer(x);
    ck_assert_int_eq(uv_loop_close(&x->loop), 0);
    store_free(x->pvs);
    engine_free(x->e);
    fake_free(&x->f);
}

static bool drained(void *arg)
{
    struct fx *x = arg;
    struct event_writer_stats st;
    event_writer_stats(x->w, &st);
    return st.posts > 0 && st.queued == 0 && st.inflight == 0 && x->f.pending == 0;
}

static void expect_day(struct fx *x, int32_t day)
{
    for (size_t i = 0; i < NSKIPPED; i++) {
        char name[EVENT_NAME_MAX + 1];
        ck_assert_int_eq(event_name(name, sizeof(name), skipped_pvs[i], day), 0);
        json_object *ev = NULL;
        ck_assert_msg(json_object_object_get_ex(x->f.events, name, &ev), "no event %s", name);
        ck_assert_str_eq(jget(ev, "involvedObject", "name"), skipped_pvs[i]);
        const struct pv_rec *rec = store_get(x->pvs, NULL, skipped_pvs[i]);
        ck_assert_ptr_nonnull(rec);
        char ub[MODEL_UID_BUF];
        ck_assert_str_eq(jget(ev, "involvedObject", "uid"), model_meta_uid(&rec->meta, ub));
        struct engine_pv pv;
        ck_assert(engine_pv_get(x->e, skipped_pvs[i], &pv));
        char msg[512];
        event_message(msg, sizeof(msg), pv.reason);
        ck_assert_str_eq(jget(ev, "message", NULL), msg);
    }
}

START_TEST(test_one_per_skipped_pv)
{
    struct fx x;
    fx_init(&x, true);
    ck_assert(fake_run(&x.loop, &x.f, 3000, drained, &x));
    ck_assert_int_eq(json_object_object_length(x.f.events), NSKIPPED);
    ck_assert_uint_eq(fake_count(&x.f, "POST", 201), NSKIPPED);
    ck_assert_uint_eq(x.f.max_pending, 4); /* bounded in flight, and used */
    ck_assert_str_eq(x.f.log[0].path, "/api/v1/namespaces/default/events");
    expect_day(&x, event_day(clock_now_ms() / 1000));
    /* a rescan the same day posts nothing */
    event_writer_notify(x.w, ENGINE_CHANGED_VERDICTS);
    fake_run(&x.loop, &x.f, 100, NULL, NULL);
    ck_assert_uint_eq(x.f.nlog, NSKIPPED);
    struct event_writer_stats st;
    event_writer_stats(x.w, &st);
    ck_assert_uint_eq(st.created, NSKIPPED);
    ck_assert_uint_eq(st.done_today, NSKIPPED);
    fx_free(&x);
}
END_TEST

START_TEST(test_restart_gets_409)
{
    struct fx x;
    fx_init(&x, true);
    ck_assert(fake_run(&x.loop, &x.f, 3000, drained, &x));
    fx_close_writer(&x);
    size_t before = x.f.nlog;
    fx_writer(&x, true); /* a new process, same day: names collide */
    ck_assert(fake_run(&x.loop, &x.f, 3000, drained, &x));
    ck_assert_int_eq(json_object_object_length(x.f.events), NSKIPPED);
    ck_assert_uint_eq(x.f.nlog - before, NSKIPPED);
    ck_assert_uint_eq(fake_count(&x.f, "POST", 409), NSKIPPED);
    struct event_writer_stats st;
    event_writer_stats(x.w, &st);
    ck_assert_uint_eq(st.existing, NSKIPPED);
    ck_assert_uint_eq(st.created, 0);
    ck_assert_uint_eq(st.failures, 0);
    fx_free(&x);
}
END_TEST

START_TEST(test_failures_back_off)
{
    struct fx x;
    fx_init(&x, false);
    fake_fail(&x.f, "POST", "/events", 500, 3);
    fake_fail(&x.f, "POST", "/events", -ECONNREFUSED, 1);
    event_writer_set_leader(x.w, true);
    ck_assert(fake_run(&x.loop, &x.f, 5000, drained, &x));
    ck_assert_int_eq(json_object_object_length(x.f.events), NSKIPPED);
    ck_assert_uint_eq(fake_count(&x.f, "POST", 500), 3);
    ck_assert_uint_eq(fake_count(&x.f, "POST", -ECONNREFUSED), 1);
    ck_assert_uint_eq(fake_count(&x.f, "POST", 201), NSKIPPED);
    struct event_writer_stats st;
    event_writer_stats(x.w, &st);
    ck_assert_uint_eq(st.failures, 4);
    ck_assert_uint_eq(st.posts, NSKIPPED + 4);
    expect_day(&x, event_day(clock_now_ms() / 1000));
    fx_free(&x);
}
END_TEST

START_TEST(test_follower_posts_nothing)
{
    struct fx x;
    fx_init(&x, false);
    fake_run(&x.loop, &x.f, 200, NULL, NULL);
    ck_assert_uint_eq(x.f.nlog, 0);
    event_writer_set_leader(x.w, true);
    ck_assert(fake_run(&x.loop, &x.f, 3000, drained, &x));
    ck_assert_int_eq(json_object_object_length(x.f.events), NSKIPPED);
    fx_free(&x);
}
END_TEST

static void add_pv(struct fx *x, const char *name, const char *source)
{
    char js[1024];
    snprintf(js, sizeof(js),
             "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"%s\","
             "\"uid\":\"uid-%s\",\"resourceVersion\":\"900\",\"annotations\":"
             "{\"pv.kubernetes.io/provisioned-by\":\"disk.csi.azure.com\"}},"
             "\"spec\":{%s,\"storageClassName\":\"x\"},\"status\":{\"phase\":\"Available\"}}",
             name, name, source);
    ck_assert_int_eq(store_upsert(x->pvs, writers_rec(&model_pv_type, js)), 0);
}

START_TEST(test_new_pvs)
{
    struct fx x;
    fx_init(&x, true);
    ck_assert(fake_run(&x.loop, &x.f, 3000, drained, &x));
    add_pv(&x, "pv-new-hostpath", "\"hostPath\":{\"path\":\"/tmp\"}");
    add_pv(&x, "pv-new-disk", "\"csi\":{\"driver\":\"disk.csi.azure.com\",\"volumeHandle\":\"h\"}");
    fake_run(&x.loop, &x.f, 300, NULL, NULL);
    ck_assert_int_eq(json_object_object_length(x.f.events), NSKIPPED + 1);
    char name[EVENT_NAME_MAX + 1];
    event_name(name, sizeof(name), "pv-new-hostpath", event_day(clock_now_ms() / 1000));
    json_object *ev = NULL;
    ck_assert(json_object_object_get_ex(x.f.events, name, &ev));
    ck_assert_str_eq(jget(ev, "involvedObject", "uid"), "uid-pv-new-hostpath");
    ck_assert_str_eq(jget(ev, "message", NULL),
                     "AKS backup skips this volume (not-csi): not covered by AKS backup: move the data "
                     "to a disk.csi.azure.com volume or protect it another way");
    event_name(name, sizeof(name), "pv-new-disk", event_day(clock_now_ms() / 1000));
    ck_assert(!json_object_object_get_ex(x.f.events, name, NULL));
    fx_free(&x);
}
END_TEST

/* Hundreds of skipped PVs (the writer's state set grows), then half of
 * them deleted: the rescan forgets exactly those (removals shift the set's
 * clusters) and keeps the others known as done today. */
START_TEST(test_many_skipped_then_deleted)
{
    struct fx x;
    fx_init(&x, true);
    ck_assert(fake_run(&x.loop, &x.f, 3000, drained, &x));
    enum { N = 300 };
    char name[64];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "pv-many-%03d", i);
        add_pv(&x, name, "\"hostPath\":{\"path\":\"/tmp\"}");
    }
    ck_assert(fake_run(&x.loop, &x.f, 5000, drained, &x));
    fake_run(&x.loop, &x.f, 100, NULL, NULL);
    event_writer_notify(x.w, ENGINE_CHANGED_VERDICTS); /* a rescan counts what is done */
    fake_run(&x.loop, &x.f, 100, NULL, NULL);
    struct event_writer_stats st;
    event_writer_stats(x.w, &st);
    ck_assert_uint_eq(st.done_today, NSKIPPED + N);
    for (int i = 0; i < N; i += 2) {
        snprintf(name, sizeof(name), "pv-many-%03d", i);
        char js[512];
        snprintf(js, sizeof(js),
                 "{\"metadata\":{\"name\":\"%s\",\"uid\":\"uid-%s\",\"resourceVersion\":\"901\"}}", name,
                 name);
        ck_assert_int_eq(store_delete(x.pvs, writers_rec(&model_pv_type, js)), 0);
    }
    fake_run(&x.loop, &x.f, 200, NULL, NULL);
    event_writer_stats(x.w, &st);
    ck_assert_uint_eq(st.done_today, NSKIPPED + N / 2);
    ck_assert_uint_eq(st.created, NSKIPPED + N); /* nothing posted again */
    fx_free(&x);
}
END_TEST

START_TEST(test_daily_cap)
{
    struct fx x;
    fx_init(&x, true);
    ck_assert(fake_run(&x.loop, &x.f, 3000, drained, &x));
    for (unsigned i = 0; i < EVENTS_PER_DAY_MAX + 100; i++) {
        char name[64];
        snprintf(name, sizeof(name), "pv-bulk-%05u", i);
        add_pv(&x, name, "\"hostPath\":{\"path\":\"/tmp\"}");
    }
    fake_run(&x.loop, &x.f, 8000, NULL, NULL);
    /* the fixture's skipped PVs were posted first; then the cap holds */
    ck_assert_uint_eq(fake_count(&x.f, "POST", 201), EVENTS_PER_DAY_MAX);
    ck_assert_int_eq(json_object_object_length(x.f.events), (int)EVENTS_PER_DAY_MAX);
    /* the PVs past the cap keep no state; a rescan posts nothing more */
    struct event_writer_stats st;
    event_writer_stats(x.w, &st);
    ck_assert_uint_eq(st.tracked, EVENTS_PER_DAY_MAX);
    ck_assert_uint_eq(st.queued, 0);
    event_writer_notify(x.w, ENGINE_CHANGED_VERDICTS);
    fake_run(&x.loop, &x.f, 3000, NULL, NULL);
    event_writer_stats(x.w, &st);
    ck_assert_uint_eq(fake_count(&x.f, "POST", 201), EVENTS_PER_DAY_MAX);
    ck_assert_uint_eq(st.posts, EVENTS_PER_DAY_MAX);
    ck_assert_uint_eq(st.done_today, EVENTS_PER_DAY_MAX);
    ck_assert_uint_eq(st.tracked, EVENTS_PER_DAY_MAX);
    fx_free(&x);
}
END_TEST

START_TEST(test_day_rollover)
{
    int64_t target;
    ck_assert_int_eq(clock_parse_rfc3339("2026-03-14T23:59:59Z", &target, NULL), 0);
    clock_set_offset_ms(target * 1000 + 400 - clock_now_ms());
    struct fx x;
    fx_init(&x, true);
    ck_assert(fake_run(&x.loop, &x.f, 500, drained, &x));
    ck_assert_int_eq(event_day(clock_now_ms() / 1000), 20260314);
    expect_day(&x, 20260314);
    ck_assert_int_eq(json_object_object_length(x.f.events), NSKIPPED);
    /* past midnight: a rescan posts the next day's Events */
    fake_run(&x.loop, &x.f, 2000, NULL, NULL);
    ck_assert_int_eq(event_day(clock_now_ms() / 1000), 20260315);
    ck_assert_int_eq(json_object_object_length(x.f.events), 2 * NSKIPPED);
    expect_day(&x, 20260315);
    fx_free(&x);
    clock_set_offset_ms(0);
}
END_TEST

START_TEST(test_close_inflight)
{
    struct fx x;
    fx_init(&x, true);
    x.f.hold = true;
    fake_run(&x.loop, &x.f, 100, NULL, NULL);
    ck_assert_uint_eq(x.f.pending, 4);
    fx_close_writer(&x); /* cancels the 4 calls */
    ck_assert_uint_eq(x.f.cancelled, 4);
    ck_assert_uint_eq(x.f.pending, 0);
    fx_free_rest(&x);

    fx_init_ex(&x, true, true); /* no cancel: the answers come after close and are dropped */
    x.f.hold = true;
    fake_run(&x.loop, &x.f, 100, NULL, NULL);
    ck_assert_uint_eq(x.f.pending, 4);
    fx_close_writer(&x);
    ck_assert_uint_eq(x.f.cancelled, 0);
    ck_assert_uint_eq(x.f.nlog, 4);
    fx_free_rest(&x);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_name);
    tcase_add_test(tc, test_day);
    tcase_add_test(tc, test_body);
    tcase_add_test(tc, test_one_per_skipped_pv);
    tcase_add_test(tc, test_restart_gets_409);
    tcase_add_test(tc, test_failures_back_off);
    tcase_add_test(tc, test_follower_posts_nothing);
    tcase_add_test(tc, test_daily_cap);
    tcase_add_test(tc, test_new_pvs);
    tcase_add_test(tc, test_many_skipped_then_deleted);
    tcase_add_test(tc, test_day_rollover);
    tcase_add_test(tc, test_close_inflight);
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
