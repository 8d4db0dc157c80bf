/* store.c: upsert/delete events, update only on a new resourceVersion, and
 * the relist diff (adds, updates, deletes exactly, then on_synced). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

struct rec {
    struct obj_meta meta;
};

static void rec_free(void *p)
{
    struct rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r);
}

static const struct model_type rtype = {
    .resource = "things", .group = "", .version = "v1", .kind = "Thing",
    .namespaced = true, .free = rec_free,
};

static struct rec *mk(const char *ns, const char *name, const char *rv)
{
    struct rec *r = calloc(1, sizeof(*r));
    r->meta.ns_id = model_intern_id(ns); /* model_meta_clear releases it */
    r->meta.name = strdup(name);
    ck_assert_int_eq(model_meta_set_uid(&r->meta, name), 0);
    ck_assert_int_eq(model_meta_set_rv(&r->meta, rv), 0);
    return r;
}

/* A record's resourceVersion as a string (one per statement). */
static char rv_buf[MODEL_RV_BUF];
#define RV(m) model_meta_rv((m), rv_buf)

struct counts {
    int add, upd, del, synced;
    char last[128];
};

static void on_add(void *d, const struct model_type *t, const void *rec)
{
    struct counts *c = d;
    c->add++;
    snprintf(c->last, sizeof(c->last), "add %s", model_meta(rec)->name);
}
static void on_update(void *d, const struct model_type *t, const void *o, const void *n)
{
    struct counts *c = d;
    c->upd++;
    char b1[MODEL_RV_BUF], b2[MODEL_RV_BUF];
    snprintf(c->last, sizeof(c->last), "upd %s %s->%s", model_meta(n)->name,
             model_meta_rv(model_meta(o), b1), model_meta_rv(model_meta(n), b2));
}
static void on_delete(void *d, const struct model_type *t, const void *rec)
{
    struct counts *c = d;
    c->del++;
    char b[MODEL_RV_BUF];
    snprintf(c->last, sizeof(c->last), "del %s %s", model_meta(rec)->name, model_meta_rv(model_meta(rec), b));
}
static void on_synced(void *d, const struct model_type *t)
{
    ((struct counts *)d)->synced++;
}

static struct store *mkstore(struct counts *c)
{
    struct store *s = store_new(&rtype);
    ck_assert_ptr_nonnull(s);
    struct store_consumer sc = {on_add, on_update, on_delete, on_synced, c};
    ck_assert_int_eq(store_add_consumer(s, &sc), 0);
    return s;
}

START_TEST(upsert_and_delete)
{
    struct counts c = {0};
    struct store *s = mkstore(&c);
    ck_assert_int_eq(store_upsert(s, mk("a", "x", "1")), 0);
    ck_assert_int_eq(c.add, 1);
    ck_assert_str_eq(c.last, "add x");
    /* same name in another namespace is another object */
    ck_assert_int_eq(store_upsert(s, mk("b", "x", "1")), 0);
    ck_assert_int_eq(c.add, 2);
    ck_assert_uint_eq(store_count(s), 2);
    /* same rv: no event */
    ck_assert_int_eq(store_upsert(s, mk("a", "x", "1")), 0);
    ck_assert_int_eq(c.upd, 0);
    ck_assert_int_eq(store_upsert(s, mk("a", "x", "2")), 0);
    ck_assert_int_eq(c.upd, 1);
    ck_assert_str_eq(c.last, "upd x 1->2");
    const struct obj_meta *m = model_meta(store_get(s, "a", "x"));
    ck_assert_str_eq(RV(m), "2");
    ck_assert_ptr_null(store_get(s, "c", "x"));
    ck_assert_int_eq(store_delete(s, mk("a", "x", "3")), 0);
    ck_assert_int_eq(c.del, 1);
    ck_assert_str_eq(c.last, "del x 2"); /* the stored record is emitted */
    ck_assert_int_eq(store_delete(s, mk("a", "x", "3")), -ENOENT);
    ck_assert_int_eq(c.del, 1);
    ck_assert_uint_eq(store_count(s), 1);
    ck_assert(!store_synced(s));
    store_free(s);
}
END_TEST

/* The API calls resourceVersions opaque: a server whose versions are not
 * integers gets the same answers (kept as strings, compared as strings). */
START_TEST(opaque_resource_versions)
{
    struct counts c = {0};
    struct store *s = mkstore(&c);
    ck_assert_int_eq(store_upsert(s, mk(NULL, "x", "a/1")), 0);
    ck_assert_int_eq(store_upsert(s, mk(NULL, "x", "a/1")), 0);
    ck_assert_int_eq(c.upd, 0);
    ck_assert_int_eq(store_upsert(s, mk(NULL, "x", "07")), 0);
    ck_assert_int_eq(c.upd, 1);
    ck_assert_str_eq(c.last, "upd x a/1->07");
    ck_assert_int_eq(store_upsert(s, mk(NULL, "x", "7")), 0); /* "7" is not "07" */
    ck_assert_int_eq(c.upd, 2);
    ck_assert_str_eq(c.last, "upd x 07->7");
    ck_assert_int_eq(store_upsert(s, mk(NULL, "x", "7")), 0);
    ck_assert_int_eq(c.upd, 2);
    ck_assert_int_eq(store_upsert(s, mk(NULL, "x", "b")), 0);
    ck_assert_int_eq(c.upd, 3);
    ck_assert_str_eq(RV(model_meta(store_get(s, NULL, "x"))), "b");
    ck_assert_int_eq(store_delete(s, mk(NULL, "x", "c")), 0);
    ck_assert_str_eq(c.last, "del x b");
    store_free(s);
}
END_TEST

START_TEST(replace_diff)
{
    struct counts c = {0};
    struct store *s = mkstore(&c);
    char name[32];
    /* 1000 objects, to exercise growth */
    struct store_replace *r = store_replace_begin(s);
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "pv-%d", i);
        ck_assert_int_eq(store_replace_add(r, mk(NULL, name, "1")), 0);
    }
    ck_assert_int_eq(c.add, 0); /* nothing before end */
    ck_assert_int_eq(store_replace_end(r), 0);
    ck_assert_int_eq(c.add, 1000);
    ck_assert_int_eq(c.synced, 1);
    ck_assert(store_synced(s));
    ck_assert_uint_eq(store_count(s), 1000);
    memset(&c, 0, sizeof(c));
    /* relist: 0..99 gone, 100..199 updated, 200..999 same, 1000..1049 new */
    r = store_replace_begin(s);
    for (int i = 100; i < 1050; i++) {
        snprintf(name, sizeof(name), "pv-%d", i);
        ck_assert_int_eq(store_replace_add(r, mk(NULL, name, i < 200 ? "2" : "1")), 0);
    }
    ck_assert_int_eq(store_replace_end(r), 0);
    ck_assert_int_eq(c.add, 50);
    ck_assert_int_eq(c.upd, 100);
    ck_assert_int_eq(c.del, 100);
    ck_assert_int_eq(c.synced, 1);
    ck_assert_uint_eq(store_count(s), 950);
    ck_assert_ptr_null(store_get(s, NULL, "pv-5"));
    ck_assert_str_eq(RV(model_meta(store_get(s, NULL, "pv-150"))), "2");
    ck_assert_ptr_nonnull(store_get(s, NULL, "pv-1049"));
    /* empty relist deletes everything */
    memset(&c, 0, sizeof(c));
    r = store_replace_begin(s);
    ck_assert_int_eq(store_replace_end(r), 0);
    ck_assert_int_eq(c.del, 950);
    ck_assert_uint_eq(store_count(s), 0);
    store_free(s);
}
END_TEST

START_TEST(replace_abort_and_dupes)
{
    struct counts c = {0};
    struct store *s = mkstore(&c);
    store_upsert(s, mk(NULL, "keep", "1"));
    struct store_replace *r = store_replace_begin(s);
    store_replace_add(r, mk(NULL, "new", "1"));
    store_replace_abort(r);
    ck_assert_uint_eq(store_count(s), 1);
    ck_assert_int_eq(c.synced, 0);
    r = store_replace_begin(s);
    store_replace_add(r, mk(NULL, "keep", "5"));
    store_replace_add(r, mk(NULL, "keep", "6")); /* later wins */
    ck_assert_int_eq(store_replace_end(r), 0);
    ck_assert_str_eq(RV(model_meta(store_get(s, NULL, "keep"))), "6");
    ck_assert_int_eq(c.upd, 1);
    store_free(s);
}
END_TEST

static bool count_cb(void *d, const void *rec)
{
    (*(int *)d)++;
    return *(int *)d < 3;
}

START_TEST(foreach_stops)
{
    struct counts c = {0};
    struct store *s = mkstore(&c);
    store_upsert(s, mk("n", "a", "1"));
    store_upsert(s, mk("n", "b", "1"));
    store_upsert(s, mk("n", "c", "1"));
    store_upsert(s, mk("n", "d", "1"));
    int n = 0;
    store_foreach(s, count_cb, &n);
    ck_assert_int_eq(n, 3);
    ck_assert_ptr_eq(store_type(s), &rtype);
    store_free(s);
}
END_TEST

/* Many keys, scattered deletes and a relist that drops most of them:
 * the open-addressing table keeps every remaining key findable. */
static bool count_all(void *d, const void *rec)
{
    (void)rec;
    (*(int *)d)++;
    return true;
}

START_TEST(churn_and_relist)
{
    enum { N = 5000 };
    static bool present[N];
    struct counts c = {0};
    struct store *s = mkstore(&c);
    char ns[16], name[32];
    for (int i = 0; i < N; i++) {
        snprintf(ns, sizeof(ns), "ns%d", i % 7);
        snprintf(name, sizeof(name), "obj-%d", i);
        ck_assert_int_eq(store_upsert(s, mk(ns, name, "1")), 0);
        present[i] = true;
    }
    for (int k = 0; k < N; k += 2) {
        int i = (int)(((long)k * 7919) % N);
        snprintf(ns, sizeof(ns), "ns%d", i % 7);
        snprintf(name, sizeof(name), "obj-%d", i);
        ck_assert_int_eq(store_delete(s, mk(ns, name, "2")), present[i] ? 0 : -ENOENT);
        present[i] = false;
    }
    int live = 0;
    for (int i = 0; i < N; i++) {
        snprintf(ns, sizeof(ns), "ns%d", i % 7);
        snprintf(name, sizeof(name), "obj-%d", i);
        ck_assert_msg((store_get(s, ns, name) != NULL) == present[i], "%s/%s", ns, name);
        live += present[i];
    }
    ck_assert_uint_eq(store_count(s), (size_t)live);
    /* Relist: every 5th object, half of them updated. */
    c.add = c.upd = c.del = 0;
    struct store_replace *r = store_replace_begin(s);
    int keep = 0, added = 0, updated = 0;
    for (int i = 0; i < N; i += 5) {
        snprintf(ns, sizeof(ns), "ns%d", i % 7);
        snprintf(name, sizeof(name), "obj-%d", i);
        ck_assert_int_eq(store_replace_add(r, mk(ns, name, i % 10 ? "1" : "3")), 0);
        keep++;
        if (!present[i])
            added++;
        else if (i % 10 == 0)
            updated++;
    }
    ck_assert_int_eq(store_replace_end(r), 0);
    ck_assert_int_eq(c.add, added);
    ck_assert_int_eq(c.upd, updated);
    ck_assert_int_eq(c.del, live - (keep - added));
    ck_assert_uint_eq(store_count(s), (size_t)keep);
    for (int i = 0; i < N; i++) {
        snprintf(ns, sizeof(ns), "ns%d", i % 7);
        snprintf(name, sizeof(name), "obj-%d", i);
        ck_assert_msg((store_get(s, ns, name) != NULL) == (i % 5 == 0), "%s/%s", ns, name);
    }
    int n = 0;
    store_foreach(s, count_all, &n);
    ck_assert_int_eq(n, keep);
    store_free(s);
}
END_TEST

/* store_free runs the release hooks while the records are still there. */
struct rel_probe {
    struct store *s;
    int calls;
    bool saw_record;
};

static void on_release(void *d, const struct model_type *t)
{
    struct rel_probe *p = d;
    ck_assert_ptr_eq(t, &rtype);
    p->calls++;
    p->saw_record = store_get(p->s, "n", "a") != NULL;
}

START_TEST(release_hook_before_free)
{
    struct counts c = {0};
    struct store *s = mkstore(&c);
    struct rel_probe p = {s, 0, false};
    ck_assert_int_eq(store_add_release_hook(s, on_release, &p), 0);
    store_upsert(s, mk("n", "a", "1"));
    store_free(s);
    ck_assert_int_eq(p.calls, 1);
    ck_assert(p.saw_record);
    ck_assert_int_eq(c.del, 0); /* no deletes are sent */
}
END_TEST

/* A relist applies its records in list order (the later of duplicates at its
 * own position), so consumers see them in the order they were allocated. */
static char seen_order[64][16];
static int nseen;
static void order_add(void *d, const struct model_type *t, const void *rec)
{
    (void)d;
    (void)t;
    snprintf(seen_order[nseen++], 16, "%s", model_meta(rec)->name);
}

START_TEST(replace_keeps_list_order)
{
    struct store *s = store_new(&rtype);
    struct store_consumer sc = {.on_add = order_add};
    ck_assert_int_eq(store_add_consumer(s, &sc), 0);
    static const char *const names[] = {"m", "c", "x", "a", "c", "q", "b"};
    nseen = 0;
    struct store_replace *r = store_replace_begin(s);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        ck_assert_int_eq(store_replace_add(r, mk("n", names[i], i == 4 ? "2" : "1")), 0);
    ck_assert_int_eq(store_replace_end(r), 0);
    static const char *const want[] = {"m", "x", "a", "c", "q", "b"};
    ck_assert_int_eq(nseen, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(seen_order[i], want[i]);
    ck_assert_str_eq(RV(model_meta(store_get(s, "n", "c"))), "2");
    store_free(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("store");
    TCase *tc = tcase_create("events");
    tcase_add_test(tc, upsert_and_delete);
    tcase_add_test(tc, opaque_resource_versions);
    tcase_add_test(tc, foreach_stops);
    tcase_add_test(tc, release_hook_before_free);
    suite_add_tcase(su, tc);
    tc = tcase_create("replace");
    tcase_add_test(tc, replace_diff);
    tcase_add_test(tc, replace_abort_and_dupes);
    tcase_add_test(tc, churn_and_relist);
    tcase_add_test(tc, replace_keeps_list_order);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
