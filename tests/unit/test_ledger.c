/* Quota ledger (quota/ledger.c) and accounting records (model/acct.c):
 * the fixture figures of tests/fixtures/README.md "Quota", order
 * independence, day boundaries, UID dedupe, pruning, reservations, warnings
 * and the JSON state round trip. */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/acct.h"
#include "quota/ledger.h"
#include "util/clock.h"

static int64_t T(const char *s)
{
    int64_t t;
    ck_assert_int_eq(clock_parse_rfc3339(s, &t, NULL), 0);
    return t;
}

static struct ledger_opts opts(const char *sched)
{
    struct ledger_opts o = {.limit = {10, 10}, .warn_ratio = 0.8, .tolerance_s = 30 * 60};
    if (sched) {
        ck_assert_int_eq(schedule_parse(sched, &o.schedule, NULL, 0), 0);
        o.has_schedule = true;
    }
    return o;
}

/* The two default Velero sources of the shipped config. */
static struct model_type *velero_type(enum acct_op op)
{
    struct acct_source_opts so = {
        .name = op == ACCT_OP_BACKUP ? "velero-backups" : "velero-restores",
        .operation = op, .group = "velero.io", .version = "v1",
        .resource = op == ACCT_OP_BACKUP ? "backups" : "restores",
        .on_demand = op == ACCT_OP_BACKUP ? "label-absent:velero.io/schedule-name" : "always",
        .instance = "constant:default"};
    struct model_type *t = NULL;
    char why[128];
    ck_assert_int_eq(acct_type_new(&so, &t, why, sizeof(why)), 0);
    return t;
}

/* Extracted records of velero.json (in file order). */
static size_t load_fixture(struct acct_rec **out, size_t max)
{
    struct json_object *doc = json_object_from_file(FIXTURES "/velero.json"), *items;
    ck_assert_ptr_nonnull(doc);
    ck_assert(json_object_object_get_ex(doc, "items", &items));
    struct model_type *bt = velero_type(ACCT_OP_BACKUP), *rt = velero_type(ACCT_OP_RESTORE);
    size_t n = 0;
    for (size_t i = 0; i < json_object_array_length(items) && n < max; i++) {
        struct json_object *it = json_object_array_get_idx(items, i), *k;
        ck_assert(json_object_object_get_ex(it, "kind", &k));
        struct model_type *t = strcmp(json_object_get_string(k), "Backup") == 0 ? bt : rt;
        void *rec;
        ck_assert_int_eq(t->extract(t, it, &rec), 0);
        out[n++] = rec;
    }
    acct_type_free(bt);
    acct_type_free(rt);
    json_object_put(doc);
    return n;
}

static void feed(struct ledger *l, struct acct_rec **r, size_t n, int64_t now)
{
    char ub[MODEL_UID_BUF];
    for (size_t i = 0; i < n; i++)
        if (r[i]->on_demand)
            ck_assert_int_ge(ledger_observe(l, model_meta_uid(&r[i]->meta, ub), r[i]->instance, r[i]->op,
                                            r[i]->meta.created, r[i]->reservation, now), 0);
}

START_TEST(fixture_with_schedule)
{
    struct acct_rec *r[32];
    size_t n = load_fixture(r, 32);
    ck_assert_uint_eq(n, 9);
    ck_assert_str_eq(r[0]->instance, "default");
    ck_assert(r[0]->on_demand);
    ck_assert_ptr_null(r[0]->reservation);
    int64_t now = T("2026-03-14T15:00:00Z");
    struct ledger_opts o = opts("R/2026-01-01T02:00:00+00:00/PT6H");
    struct ledger *l = ledger_new(&o);
    feed(l, r, n, now);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now), 4);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_RESTORE, now), 2);
    ck_assert_int_eq(ledger_remaining(l, "default", ACCT_OP_BACKUP, now), 6);
    /* The 2026-03-13T22:30:00Z backup counts on the 13th, not today. */
    ck_assert_int_eq(ledger_used_on(l, "default", ACCT_OP_BACKUP, ledger_day_of(l, now) - 1), 1);
    ledger_free(l);

    o = opts(NULL);
    l = ledger_new(&o);
    feed(l, r, n, now);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now), 6);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_RESTORE, now), 2);
    ledger_free(l);
    for (size_t i = 0; i < n; i++)
        acct_rec_free(r[i]);
}
END_TEST

/* Every order of the fixture's objects gives the same counts. */
START_TEST(order_independent)
{
    struct acct_rec *r[32], *p[32];
    size_t n = load_fixture(r, 32);
    int64_t now = T("2026-03-14T15:00:00Z");
    struct ledger_opts o = opts("R/2026-01-01T02:00:00+00:00/PT6H");
    unsigned seed = 12345;
    for (int round = 0; round < 300; round++) {
        memcpy(p, r, n * sizeof(*p));
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)rand_r(&seed) % (i + 1);
            struct acct_rec *x = p[i];
            p[i] = p[j];
            p[j] = x;
        }
        struct ledger *l = ledger_new(&o);
        /* Interleave queries so a lazily computed state is exercised. */
        for (size_t i = 0; i < n; i++) {
            feed(l, &p[i], 1, now);
            (void)ledger_used(l, "default", ACCT_OP_BACKUP, now);
        }
        ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now), 4);
        ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_RESTORE, now), 2);
        ledger_free(l);
    }
    for (size_t i = 0; i < n; i++)
        acct_rec_free(r[i]);
}
END_TEST

START_TEST(slot_takeover_and_second_in_slot)
{
    int64_t now = T("2026-03-14T15:00:00Z");
    struct ledger_opts o = opts("R/2026-01-01T02:00:00+00:00/PT6H");
    struct ledger *l = ledger_new(&o);
    ck_assert_int_eq(ledger_observe(l, "b", "i", ACCT_OP_BACKUP, T("2026-03-14T08:10:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "i", ACCT_OP_BACKUP, now), 0);
    /* An earlier one arrives later: it is the scheduled one, b now counts. */
    ck_assert_int_eq(ledger_observe(l, "a", "i", ACCT_OP_BACKUP, T("2026-03-14T08:05:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "i", ACCT_OP_BACKUP, now), 1);
    /* Same time: the smaller UID is the claimant, either way one counts. */
    ck_assert_int_eq(ledger_observe(l, "c", "i", ACCT_OP_BACKUP, T("2026-03-14T14:00:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_observe(l, "C", "i", ACCT_OP_BACKUP, T("2026-03-14T14:00:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "i", ACCT_OP_BACKUP, now), 2);
    /* Outside the tolerance: counts. Exactly at the edge: inside. */
    ck_assert_int_eq(ledger_observe(l, "d", "j", ACCT_OP_BACKUP, T("2026-03-14T02:30:01Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "j", ACCT_OP_BACKUP, now), 1);
    ck_assert_int_eq(ledger_observe(l, "e", "k", ACCT_OP_BACKUP, T("2026-03-14T02:30:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "k", ACCT_OP_BACKUP, now), 0);
    /* Restores are never a slot's scheduled backup. */
    ck_assert_int_eq(ledger_observe(l, "f", "k", ACCT_OP_RESTORE, T("2026-03-14T02:00:01Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "k", ACCT_OP_RESTORE, now), 1);
    /* Slots are per instance. */
    ck_assert_int_eq(ledger_observe(l, "g", "j", ACCT_OP_BACKUP, T("2026-03-14T08:01:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "j", ACCT_OP_BACKUP, now), 1);
    ledger_free(l);
}
END_TEST

START_TEST(uid_dedupe_and_delete_never_gives_back)
{
    int64_t now = T("2026-03-14T15:00:00Z");
    struct ledger_opts o = opts(NULL);
    struct ledger *l = ledger_new(&o);
    ck_assert_int_eq(ledger_observe(l, "u1", "default", ACCT_OP_BACKUP, T("2026-03-14T10:00:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_observe(l, "u1", "default", ACCT_OP_BACKUP, T("2026-03-14T10:00:00Z"), NULL, now), 0);
    ck_assert_int_eq(ledger_observe(l, "u2", "default", ACCT_OP_BACKUP, T("2026-03-14T10:00:01Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now), 2);
    ck_assert_int_eq(ledger_observe(l, "", "default", ACCT_OP_BACKUP, now, NULL, now), -EINVAL);
    /* No creationTimestamp: first seen now. */
    ck_assert_int_eq(ledger_observe(l, "u3", "default", ACCT_OP_BACKUP, 0, NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now), 3);
    ledger_free(l);

    /* Many objects (the UID index grows), a prune in between, all seen
     * again (a relist): nothing new. */
    l = ledger_new(&o);
    char uid[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(uid, sizeof(uid), "bulk-%d", i);
        ck_assert_int_eq(ledger_observe(l, uid, i % 2 ? "a" : "b", ACCT_OP_RESTORE,
                                        now - (i % 3) * 86400, NULL, now), 1);
    }
    ck_assert_int_eq(ledger_prune(l, now + 86400), 1);
    ck_assert_uint_eq(ledger_object_count(l), 2000);
    for (int i = 0; i < 3000; i++) {
        snprintf(uid, sizeof(uid), "bulk-%d", i);
        ck_assert_int_eq(ledger_observe(l, uid, i % 2 ? "a" : "b", ACCT_OP_RESTORE,
                                        now - (i % 3) * 86400, NULL, now + 86400), 0);
    }
    ck_assert_uint_eq(ledger_object_count(l), 2000);
    ck_assert_int_eq(ledger_used(l, "a", ACCT_OP_RESTORE, now), 500);
    ck_assert_int_eq(ledger_used(l, "b", ACCT_OP_RESTORE, now), 500);
    ledger_free(l);
}
END_TEST

START_TEST(day_boundary_offset)
{
    struct ledger_opts o = opts(NULL);
    o.day_offset = 5 * 3600 + 1800;
    struct ledger *l = ledger_new(&o);
    int64_t now = T("2026-03-14T15:00:00Z");
    char ds[16];
    ledger_day_string(ledger_day_of(l, now), ds, sizeof(ds));
    ck_assert_str_eq(ds, "2026-03-14");
    ck_assert_int_eq(ledger_resets_at(l, now), T("2026-03-14T18:30:00Z"));
    ck_assert_int_eq(ledger_resets_at(l, T("2026-03-14T18:29:59Z")), T("2026-03-14T18:30:00Z"));
    ck_assert_int_eq(ledger_resets_at(l, T("2026-03-14T18:30:00Z")), T("2026-03-15T18:30:00Z"));
    /* 22:30Z on the 13th is 04:00 on the 14th at +05:30. */
    ck_assert_int_eq(ledger_observe(l, "y", "default", ACCT_OP_BACKUP, T("2026-03-13T22:30:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_observe(l, "z", "default", ACCT_OP_BACKUP, T("2026-03-13T18:29:59Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now), 1);
    /* After the boundary the day is new. */
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, T("2026-03-14T18:30:00Z")), 0);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, T("2026-03-14T18:29:59Z")), 1);
    ledger_day_string(ledger_day_of(l, T("2026-03-14T18:30:00Z")), ds, sizeof(ds));
    ck_assert_str_eq(ds, "2026-03-15");
    ledger_free(l);

    o.day_offset = -(3 * 3600);
    l = ledger_new(&o);
    ledger_day_string(ledger_day_of(l, T("2026-01-01T02:00:00Z")), ds, sizeof(ds));
    ck_assert_str_eq(ds, "2025-12-31");
    ck_assert_int_eq(ledger_resets_at(l, T("2026-01-01T02:00:00Z")), T("2026-01-01T03:00:00Z"));
    ledger_free(l);
}
END_TEST

START_TEST(prune_old_days)
{
    struct ledger_opts o = opts(NULL);
    struct ledger *l = ledger_new(&o);
    int64_t now = T("2026-03-14T15:00:00Z");
    ck_assert_int_eq(ledger_observe(l, "a", "x", ACCT_OP_BACKUP, T("2026-03-12T01:00:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_observe(l, "old", "x", ACCT_OP_BACKUP, T("2026-03-11T23:59:59Z"), NULL, now), 0);
    ck_assert_int_eq(ledger_prune(l, now), 0);
    ck_assert_uint_eq(ledger_object_count(l), 1);
    struct ledger_answer ans;
    ck_assert_int_eq(ledger_reserve(l, "x", ACCT_OP_RESTORE, "k1", T("2026-03-12T02:00:00Z"), &ans), 0);
    int64_t later = T("2026-03-15T00:00:00Z");
    ck_assert_int_eq(ledger_prune(l, later), 1);
    ck_assert_uint_eq(ledger_object_count(l), 0);
    ck_assert_uint_eq(ledger_reservation_count(l), 0);
    const char **inst;
    ck_assert_int_eq(ledger_instances(l, &inst), 0);
    free(inst);
    ledger_free(l);
}
END_TEST

START_TEST(reservations)
{
    struct ledger_opts o = opts(NULL);
    struct ledger *l = ledger_new(&o);
    int64_t now = T("2026-03-14T15:00:00Z");
    struct ledger_answer a;
    char id[16];
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        ck_assert_int_eq(ledger_reserve(l, "default", ACCT_OP_BACKUP, id, now + i, &a), 0);
        ck_assert_int_eq(a.used, i + 1);
        ck_assert_int_eq(a.remaining, 10 - i - 1);
        ck_assert_int_eq(a.limit, 10);
        ck_assert_int_eq(a.resets_at, T("2026-03-15T00:00:00Z"));
    }
    /* A CR carrying a reservation id is the same operation. */
    ck_assert_int_eq(ledger_observe(l, "cr1", "default", ACCT_OP_BACKUP, now + 20, "r3", now + 20), 1);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now + 20), 9);
    /* A second CR with the same id counts; a restore id does not match a backup. */
    ck_assert_int_eq(ledger_observe(l, "cr2", "default", ACCT_OP_BACKUP, now + 21, "r3", now + 21), 1);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now + 21), 10);
    ck_assert_int_eq(ledger_reserve(l, "default", ACCT_OP_BACKUP, "r9", now + 30, &a), -EDQUOT);
    ck_assert_int_eq(a.used, 10);
    ck_assert_int_eq(a.remaining, 0);
    ck_assert_int_eq(a.resets_at, T("2026-03-15T00:00:00Z"));
    /* Idempotent retry: the original answer, nothing counted. */
    ck_assert_int_eq(ledger_reserve(l, "default", ACCT_OP_BACKUP, "r2", now + 40, &a), 1);
    ck_assert_int_eq(a.used, 3);
    ck_assert_int_eq(a.remaining, 7);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now + 40), 10);
    /* Keys are scoped to instance and op. */
    ck_assert_int_eq(ledger_reserve(l, "default", ACCT_OP_RESTORE, "r2", now + 41, &a), 0);
    ck_assert_int_eq(a.used, 1);
    ck_assert_int_eq(ledger_reserve(l, "other", ACCT_OP_BACKUP, "r2", now + 42, &a), 0);
    ck_assert_int_eq(ledger_unreserve(l, "other", ACCT_OP_BACKUP, "r2"), 0);
    ck_assert_int_eq(ledger_unreserve(l, "other", ACCT_OP_BACKUP, "r2"), -ENOENT);
    ck_assert_int_eq(ledger_used(l, "other", ACCT_OP_BACKUP, now + 42), 0);
    /* A CR whose annotation came before the reservation: still one. */
    ck_assert_int_eq(ledger_observe(l, "cr3", "early", ACCT_OP_RESTORE, now, "k", now), 1);
    ck_assert_int_eq(ledger_used(l, "early", ACCT_OP_RESTORE, now), 1);
    ck_assert_int_eq(ledger_reserve(l, "early", ACCT_OP_RESTORE, "k", now + 1, &a), 0);
    ck_assert_int_eq(ledger_used(l, "early", ACCT_OP_RESTORE, now + 1), 1);
    /* The next day, the reservation of yesterday is still remembered. */
    ck_assert_int_eq(ledger_reserve(l, "default", ACCT_OP_BACKUP, "r2", now + 86400, &a), 1);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now + 86400), 0);
    ledger_free(l);
}
END_TEST

static int nwarn;
static void on_warn(void *data, const char *inst, enum acct_op op, long used, long limit)
{
    (void)data;
    ck_assert_str_eq(inst, "default");
    ck_assert_int_eq(op, ACCT_OP_RESTORE);
    ck_assert_int_eq(used, 8);
    ck_assert_int_eq(limit, 10);
    nwarn++;
}

START_TEST(warn_once)
{
    struct ledger_opts o = opts(NULL);
    struct ledger *l = ledger_new(&o);
    ck_assert_int_eq(ledger_add_instance(l, "default"), 0);
    int64_t now = T("2026-03-14T15:00:00Z");
    char uid[16];
    for (int i = 0; i < 7; i++) {
        snprintf(uid, sizeof(uid), "u%d", i);
        ledger_observe(l, uid, "default", ACCT_OP_RESTORE, now - 100 + i, NULL, now);
    }
    nwarn = 0;
    ck_assert_int_eq(ledger_take_warnings(l, now, on_warn, NULL), 0);
    ck_assert(!ledger_any_warn(l, now));
    ledger_observe(l, "u7", "default", ACCT_OP_RESTORE, now - 10, NULL, now);
    ck_assert(ledger_any_warn(l, now));
    ck_assert_int_eq(ledger_take_warnings(l, now, on_warn, NULL), 1);
    ck_assert_int_eq(ledger_take_warnings(l, now, on_warn, NULL), 0);
    ck_assert_int_eq(nwarn, 1);
    ck_assert(!ledger_any_warn(l, now + 86400));
    ledger_free(l);
}
END_TEST

START_TEST(instances_list)
{
    struct ledger_opts o = opts(NULL);
    struct ledger *l = ledger_new(&o);
    int64_t now = T("2026-03-14T15:00:00Z");
    ledger_add_instance(l, "default");
    ledger_add_instance(l, "default");
    ledger_observe(l, "a", "zeta", ACCT_OP_BACKUP, now, NULL, now);
    ledger_observe(l, "b", "alpha", ACCT_OP_BACKUP, now, NULL, now);
    ledger_observe(l, "c", "alpha", ACCT_OP_RESTORE, now, NULL, now);
    struct ledger_answer a;
    ledger_reserve(l, "mid", ACCT_OP_RESTORE, "x", now, &a);
    const char **v;
    ck_assert_int_eq(ledger_instances(l, &v), 4);
    ck_assert_str_eq(v[0], "alpha");
    ck_assert_str_eq(v[1], "default");
    ck_assert_str_eq(v[2], "mid");
    ck_assert_str_eq(v[3], "zeta");
    free(v);
    ledger_free(l);
}
END_TEST

START_TEST(json_round_trip_and_merge)
{
    struct ledger_opts o = opts("R/2026-01-01T02:00:00+00:00/PT6H");
    struct ledger *l = ledger_new(&o);
    int64_t now = T("2026-03-14T15:00:00Z");
    struct ledger_answer a, b;
    ledger_observe(l, "s1", "default", ACCT_OP_BACKUP, T("2026-03-14T02:00:05Z"), NULL, now);
    ledger_observe(l, "o1", "default", ACCT_OP_BACKUP, T("2026-03-14T10:00:00Z"), NULL, now);
    ledger_observe(l, "o2", "default", ACCT_OP_BACKUP, T("2026-03-14T11:00:00Z"), "key-1", now);
    ledger_observe(l, "y1", "default", ACCT_OP_BACKUP, T("2026-03-13T11:00:00Z"), NULL, now);
    ledger_reserve(l, "default", ACCT_OP_BACKUP, "key-1", now, &a);
    for (int i = 0; i < 8; i++) {
        char u[8];
        snprintf(u, sizeof(u), "r%d", i);
        ledger_observe(l, u, "team-a", ACCT_OP_RESTORE, now - i, NULL, now);
    }
    ck_assert_int_eq(ledger_take_warnings(l, now, NULL, NULL), 1);
    struct json_object *doc = ledger_to_json(l, now);
    ck_assert_ptr_nonnull(doc);
    /* Through text, as the state file does. */
    struct json_object *re = json_tokener_parse(json_object_to_json_string(doc));
    ck_assert_ptr_nonnull(re);

    struct ledger *m = ledger_new(&o);
    ck_assert_int_gt(ledger_merge_json(m, re, now), 0);
    ck_assert_int_eq(ledger_used(m, "default", ACCT_OP_BACKUP, now), 2);
    ck_assert_int_eq(ledger_used(m, "default", ACCT_OP_BACKUP, now - 86400), 1);
    ck_assert_int_eq(ledger_used(m, "team-a", ACCT_OP_RESTORE, now), 8);
    ck_assert_uint_eq(ledger_object_count(m), ledger_object_count(l));
    ck_assert_uint_eq(ledger_reservation_count(m), 1);
    ck_assert_int_eq(ledger_reserve(m, "default", ACCT_OP_BACKUP, "key-1", now, &b), 1);
    ck_assert_int_eq(b.used, a.used);
    ck_assert_int_eq(b.resets_at, a.resets_at);
    /* The warned flag came along: no second warning today. */
    ck_assert_int_eq(ledger_take_warnings(m, now, NULL, NULL), 0);
    /* Merging again adds nothing (union by UID). */
    ck_assert_int_eq(ledger_merge_json(m, re, now), 0);
    ck_assert_int_eq(ledger_used(m, "default", ACCT_OP_BACKUP, now), 2);
    /* Two days later the old entries are not merged. */
    struct ledger *p = ledger_new(&o);
    ck_assert_int_ge(ledger_merge_json(p, re, T("2026-03-16T01:00:00Z")), 0);
    ck_assert_uint_eq(ledger_object_count(p), ledger_object_count(l) - 1);
    ledger_free(p);

    /* Malformed documents leave the ledger unchanged. */
    const char *bad[] = {
        "[]", "{\"version\":2,\"days\":{}}", "{\"version\":1}",
        "{\"version\":1,\"days\":{\"2026-13-99\":{}}}",
        "{\"version\":1,\"days\":{\"2026-03-14\":{\"x\":{\"copy\":{}}}}}",
        "{\"version\":1,\"days\":{\"2026-03-14\":{\"x\":{\"backup\":{\"objects\":[{\"uid\":\"n1\",\"created\":\"2026-03-14T01:00:00Z\"},{\"uid\":\"n2\"}]}}}}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *d = json_tokener_parse(bad[i]);
        ck_assert_ptr_nonnull(d);
        ck_assert_int_eq(ledger_merge_json(m, d, now), -EINVAL);
        json_object_put(d);
    }
    ck_assert_uint_eq(ledger_object_count(m), ledger_object_count(l));
    json_object_put(doc);
    json_object_put(re);
    ledger_free(m);
    ledger_free(l);
}
END_TEST

START_TEST(acct_matchers)
{
    const char *obj_json =
        "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\",\"uid\":\"u\",\"resourceVersion\":\"1\","
        "\"creationTimestamp\":\"2026-03-14T10:00:00Z\",\"labels\":{\"team\":\"a\",\"k\":\"v\"},"
        "\"annotations\":{\"aks-backup-companion/reservation\":\"rid\"}},"
        "\"spec\":{\"storageLocation\":\"loc1\",\"ttl\":5}}";
    struct {
        const char *on_demand, *instance, *want_inst;
        bool want;
    } cases[] = {
        {"always", "constant:x", "x", true},
        {"label-absent:velero.io/schedule-name", "label:team", "a", true},
        {"label-absent:team", "label:missing", ACCT_INSTANCE_UNKNOWN, false},
        {"label-present:k", "field:spec.storageLocation", "loc1", true},
        {"label-present:nope", "field:spec.nope", ACCT_INSTANCE_UNKNOWN, false},
        {"label:k=v", "field:spec.ttl", "5", true},
        {"label:k=w", "field:metadata.namespace", "ns", false},
        {"field:spec.storageLocation=loc1", "constant:default", "default", true},
        {"field:spec.storageLocation=loc2", "field:spec", ACCT_INSTANCE_UNKNOWN, false},
    };
    struct json_object *obj = json_tokener_parse(obj_json);
    ck_assert_ptr_nonnull(obj);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct acct_source_opts so = {.name = "s", .operation = ACCT_OP_RESTORE, .group = "g",
                                      .version = "v1", .resource = "things",
                                      .on_demand = cases[i].on_demand, .instance = cases[i].instance};
        struct model_type *t;
        ck_assert_int_eq(acct_type_new(&so, &t, NULL, 0), 0);
        ck_assert_str_eq(t->kind, "Thing");
        ck_assert_ptr_null(t->namespace_);
        struct acct_rec *r;
        ck_assert_int_eq(t->extract(t, obj, (void **)&r), 0);
        ck_assert_msg(r->on_demand == cases[i].want, "case %zu", i);
        ck_assert_str_eq(r->instance, cases[i].want_inst);
        ck_assert_str_eq(r->reservation, "rid");
        ck_assert_int_eq(r->op, ACCT_OP_RESTORE);
        ck_assert_int_eq(r->meta.created, T("2026-03-14T10:00:00Z"));
        t->free(r);
        acct_type_free(t);
    }
    json_object_put(obj);
    const char *bad[][2] = {{"sometimes", "constant:x"}, {"label:k", "constant:x"},
                            {"label-absent:", "constant:x"}, {"always", "const:x"},
                            {"always", "label:"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct acct_source_opts so = {.version = "v1", .resource = "r", .on_demand = bad[i][0],
                                      .instance = bad[i][1]};
        struct model_type *t = NULL;
        char why[200] = "";
        ck_assert_int_eq(acct_type_new(&so, &t, why, sizeof(why)), -EINVAL);
        ck_assert(why[0] != '\0');
        ck_assert_ptr_null(t);
    }
    struct acct_source_opts so = {.version = "v1", .resource = "backups", .namespace_ = "dp",
                                  .instance = "constant:default"};
    struct model_type *t;
    ck_assert_int_eq(acct_type_new(&so, &t, NULL, 0), 0);
    ck_assert_str_eq(t->namespace_, "dp");
    ck_assert_str_eq(acct_type_constant_instance(t), "default");
    acct_type_free(t);
}
END_TEST

/* A reservation answered "not counted" whose write lands late: the late
 * document (holding it) merged back never counts it; the tombstone travels
 * in the state document; a retry with the same key counts once. */
START_TEST(cancelled_reservation_never_counted_by_a_late_write)
{
    struct ledger_opts o = opts(NULL);
    struct ledger *l = ledger_new(&o);
    int64_t now = T("2026-03-14T15:00:00Z");
    struct ledger_answer a;
    ck_assert_int_eq(ledger_reserve(l, "default", ACCT_OP_BACKUP, "late", now, &a), 0);
    /* the write carrying it, as it lands later */
    struct json_object *late = ledger_to_json(l, now);
    ck_assert_int_eq(ledger_cancel(l, "default", ACCT_OP_BACKUP, "late"), 0);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now), 0);
    ck_assert_uint_eq(ledger_tombstone_count(l), 1);
    ck_assert_int_ge(ledger_merge_json(l, late, now + 6), 0);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now + 6), 0);
    ck_assert_uint_eq(ledger_reservation_count(l), 0);
    /* Another replica (or a restart) that read the late write and then
     * our tombstone: not counted either. */
    struct json_object *fixed = ledger_to_json(l, now + 6);
    const char *txt = json_object_to_json_string(fixed);
    ck_assert_ptr_nonnull(strstr(txt, "\"cancelled\""));
    struct ledger *other = ledger_new(&o);
    ck_assert_int_ge(ledger_merge_json(other, late, now + 6), 0);
    ck_assert_int_eq(ledger_used(other, "default", ACCT_OP_BACKUP, now + 6), 1);
    ck_assert_int_ge(ledger_merge_json(other, fixed, now + 7), 0);
    ck_assert_int_eq(ledger_used(other, "default", ACCT_OP_BACKUP, now + 7), 0);
    /* The same key again later: a new reservation, counted once, and it
     * survives a merge of the tombstone. */
    ck_assert_int_eq(ledger_reserve(l, "default", ACCT_OP_BACKUP, "late", now + 10, &a), 0);
    ck_assert_int_eq(a.used, 1);
    ck_assert_uint_eq(ledger_tombstone_count(l), 0);
    ck_assert_int_ge(ledger_merge_json(l, fixed, now + 11), 0);
    ck_assert_int_ge(ledger_merge_json(l, late, now + 11), 0);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, now + 11), 1);
    struct json_object *again = ledger_to_json(l, now + 11);
    ck_assert_int_ge(ledger_merge_json(other, again, now + 12), 0);
    ck_assert_int_eq(ledger_used(other, "default", ACCT_OP_BACKUP, now + 12), 1);
    json_object_put(late);
    json_object_put(fixed);
    json_object_put(again);
    ledger_free(other);
    ledger_free(l);
}
END_TEST

/* Names a state document may not carry: not UTF-8, control characters. */
START_TEST(state_with_invalid_names_rejected)
{
    struct ledger_opts o = opts(NULL);
    struct ledger *l = ledger_new(&o);
    int64_t now = T("2026-03-14T15:00:00Z");
    static const char *const bad[] = {"bad\xff\xfe", "\xc0\xafx", "ctl\x01", "\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *doc = json_object_new_object(), *days = json_object_new_object();
        struct json_object *day = json_object_new_object(), *inst = json_object_new_object();
        struct json_object *op = json_object_new_object(), *objs = json_object_new_array();
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "uid", json_object_new_string("u1"));
        json_object_object_add(e, "created", json_object_new_string("2026-03-14T10:00:00Z"));
        json_object_array_add(objs, e);
        json_object_object_add(op, "objects", objs);
        json_object_object_add(inst, "backup", op);
        json_object_object_add(day, bad[i], inst);
        json_object_object_add(days, "2026-03-14", day);
        json_object_object_add(doc, "version", json_object_new_int(1));
        json_object_object_add(doc, "days", days);
        ck_assert_int_eq(ledger_merge_json(l, doc, now), -EINVAL);
        ck_assert_uint_eq(ledger_object_count(l), 0);
        json_object_put(doc);
    }
    ledger_free(l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ledger");
    TCase *tc = tcase_create("fixture");
    tcase_add_test(tc, fixture_with_schedule);
    tcase_add_test(tc, order_independent);
    suite_add_tcase(s, tc);
    tc = tcase_create("counting");
    tcase_add_test(tc, slot_takeover_and_second_in_slot);
    tcase_add_test(tc, uid_dedupe_and_delete_never_gives_back);
    tcase_add_test(tc, day_boundary_offset);
    tcase_add_test(tc, prune_old_days);
    tcase_add_test(tc, instances_list);
    suite_add_tcase(s, tc);
    tc = tcase_create("reservations");
    tcase_add_test(tc, reservations);
    tcase_add_test(tc, warn_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("state");
    tcase_add_test(tc, json_round_trip_and_merge);
    tcase_add_test(tc, cancelled_reservation_never_counted_by_a_late_write);
    tcase_add_test(tc, state_with_invalid_names_rejected);
    suite_add_tcase(s, tc);
    tc = tcase_create("acct");
    tcase_add_test(tc, acct_matchers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
