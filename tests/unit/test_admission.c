/* Unit tests for writers/admission.c: the ConfigMap layout from the
 * fixtures' StorageClasses, create / update / unchanged, 409 re-read and
 * bounded retry, failure backoff, leadership, the not-synced gate, target
 * change and close with a request in flight, against writers_fake.h. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "rules_support.h"
#include "writers/admission.h"
#include "writers_fake.h"

struct fx {
    uv_loop_t loop;
    struct engine *e;
    struct fake_api f;
    struct admission_writer *w;
};

static void on_change(void *data, unsigned what)
{
    struct fx *x = data;
    if (x->w)
        admission_writer_notify(x->w, what);
}

static void fx_init(struct fx *x, const char *name, const struct store *classes, bool leader)
{
    memset(x, 0, sizeof(*x));
    ck_assert_int_eq(uv_loop_init(&x->loop), 0);
    struct engine_opts o;
    engine_opts_default(&o);
    o.edition = matrix_edition_find("2023-08"); /* the verdicts these tests were written for */
    x->e = engine_new(&o);
    ck_assert_ptr_nonnull(x->e);
    engine_set_on_change(x->e, on_change, x);
    ck_assert_int_eq(feed_file(x->e, &model_storageclass_type, "storage.json", "StorageClass", NULL, NULL), 10);
    fake_init(&x->f);
    struct admission_opts ao = {
        .name = name, .namespace_ = "aks-backup-companion", .transport = fake_transport(&x->f),
        .engine = x->e, .classes = classes, .debounce_ms = 5, .resync_ms = -1,
        .retry_initial_ms = 5, .retry_max_ms = 20,
    };
    ck_assert_int_eq(admission_writer_new(&x->w, &x->loop, &ao), 0);
    admission_writer_set_leader(x->w, leader);
}

static void closed(void *data)
{
    *(int *)data += 1;
}

static void fx_free(struct fx *x)
{
    int n = 0;
    admission_writer_close(x->w, closed, &n);
    x->w = NULL;
    uv_run(&x->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(n, 1);
    fake_flush(&x->f); /* answers after close are dropped */
    ck_assert_int_eq(uv_loop_close(&x->loop), 0);
    engine_free(x->e);
    fake_free(&x->f);
}

static bool in_sync(void *arg)
{
    struct fx *x = arg;
    struct admission_stats st;
    admission_writer_stats(x->w, &st);
    return st.in_sync;
}

static json_object *cm_data(struct fx *x)
{
    ck_assert_ptr_nonnull(x->f.cm);
    json_object *d = NULL;
    ck_assert(json_object_object_get_ex(x->f.cm, "data", &d));
    return d;
}

static const char *cm_get(struct fx *x, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(cm_data(x), key, &v))
        return NULL;
    return json_object_get_string(v);
}

/* The fixtures' skipped classes (tests/fixtures/README.md, storage.json). */
static const char *const skipped[][2] = {
    {"azurefile", "azure-files"},         {"azurefile-csi", "azure-files"},
    {"azurefile-csi-premium", "azure-files"}, {"azureblob-fuse-premium", "azure-blob"},
    {"nfs-csi", "unsupported-driver"},
};

START_TEST(test_desired_layout)
{
    struct fx x;
    fx_init(&x, "cm", NULL, false);
    json_object *d = admission_desired_data(x.e);
    ck_assert_ptr_nonnull(d);
    /* five class/message pairs, static-message and edition (2023-08: no excluded namespaces) */
    ck_assert_int_eq(json_object_object_length(d), 2 * 5 + 2);
    json_object *ed = NULL;
    ck_assert(json_object_object_get_ex(d, "edition", &ed));
    ck_assert_str_eq(json_object_get_string(ed), "2023-08");
    ck_assert(!json_object_object_get_ex(d, "excluded-namespaces", NULL));
    for (size_t i = 0; i < 5; i++) {
        char k[128];
        json_object *v = NULL;
        snprintf(k, sizeof(k), "class.%s", skipped[i][0]);
        ck_assert_msg(json_object_object_get_ex(d, k, &v), "missing %s", k);
        ck_assert_str_eq(json_object_get_string(v), skipped[i][1]);
        snprintf(k, sizeof(k), "message.%s", skipped[i][0]);
        ck_assert(json_object_object_get_ex(d, k, &v));
        char want[160];
        snprintf(want, sizeof(want), "storage class %s is skipped by AKS backup: ", skipped[i][0]);
        ck_assert_msg(strncmp(json_object_get_string(v), want, strlen(want)) == 0, "%s",
                      json_object_get_string(v));
    }
    ck_assert(!json_object_object_get_ex(d, "class.managed-csi", NULL));
    ck_assert(!json_object_object_get_ex(d, "default", NULL)); /* the default class is disk */
    json_object *sm = NULL;
    ck_assert(json_object_object_get_ex(d, "static-message", &sm));
    ck_assert_ptr_nonnull(strstr(json_object_get_string(sm), "storageClassName \"\""));
    json_object_put(d);
    fx_free(&x);
}
END_TEST

START_TEST(test_create_then_unchanged)
{
    struct fx x;
    fx_init(&x, "aks-backup-companion-storage-classes", NULL, true);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    ck_assert_uint_eq(fake_count(&x.f, "GET", 404), 1);
    ck_assert_uint_eq(fake_count(&x.f, "POST", 201), 1);
    ck_assert_uint_eq(fake_count(&x.f, "PUT", 0), 0);
    ck_assert_str_eq(x.f.log[1].path, "/api/v1/namespaces/aks-backup-companion/configmaps");
    ck_assert_str_eq(fake_name(x.f.cm), "aks-backup-companion-storage-classes");
    json_object *md, *labels, *ns, *v;
    ck_assert(json_object_object_get_ex(x.f.cm, "metadata", &md));
    ck_assert(json_object_object_get_ex(md, "namespace", &ns));
    ck_assert_str_eq(json_object_get_string(ns), "aks-backup-companion");
    ck_assert(json_object_object_get_ex(md, "labels", &labels));
    ck_assert(json_object_object_get_ex(labels, "app.kubernetes.io/name", &v));
    ck_assert_str_eq(json_object_get_string(v), "aks-backup-companion");
    ck_assert(json_object_object_get_ex(labels, "app.kubernetes.io/managed-by", &v));
    ck_assert_str_eq(json_object_get_string(v), "aks-backup-companion");
    ck_assert_str_eq(cm_get(&x, "class.nfs-csi"), "unsupported-driver");
    ck_assert_int_eq(json_object_object_length(cm_data(&x)), 12);

    /* A class change that leaves the content as it is: GET, no write. */
    unsigned long rv = x.f.rv;
    writers_class(x.e, "managed-extra", "disk.csi.azure.com", false);
    ck_assert(!in_sync(&x));
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    ck_assert_uint_eq(fake_count(&x.f, "GET", 200), 1);
    ck_assert_uint_eq(fake_count(&x.f, "PUT", 0), 0);
    ck_assert_uint_eq(fake_count(&x.f, "POST", 0), 1);
    ck_assert_uint_eq(x.f.rv, rv);
    struct admission_stats st;
    admission_writer_stats(x.w, &st);
    ck_assert_uint_eq(st.unchanged, 1);
    ck_assert_uint_eq(st.creates, 1);
    ck_assert_uint_eq(st.updates, 0);
    fx_free(&x);
}
END_TEST

START_TEST(test_follows_changes)
{
    struct fx x;
    fx_init(&x, "cm", NULL, true);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));

    writers_class(x.e, "legacy-disk", "kubernetes.io/azure-disk", false);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    ck_assert_uint_eq(fake_count(&x.f, "PUT", 200), 1);
    ck_assert_str_eq(cm_get(&x, "class.legacy-disk"), "in-tree");
    ck_assert_ptr_null(cm_get(&x, "default"));

    /* the default annotation moves from "default" (disk) to azurefile-csi */
    writers_class(x.e, "default", "disk.csi.azure.com", false);
    writers_class(x.e, "azurefile-csi", "file.csi.azure.com", true);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    ck_assert_str_eq(cm_get(&x, "default"), "azurefile-csi");

    /* static class (kubernetes.io/no-provisioner) */
    writers_class(x.e, "local-static", "kubernetes.io/no-provisioner", false);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    ck_assert_str_eq(cm_get(&x, "class.local-static"), "static");

    writers_class_delete(x.e, "nfs-csi");
    writers_class_delete(x.e, "azurefile-csi");
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    ck_assert_ptr_null(cm_get(&x, "class.nfs-csi"));
    ck_assert_ptr_null(cm_get(&x, "message.nfs-csi"));
    ck_assert_ptr_null(cm_get(&x, "default"));
    ck_assert_int_eq(json_object_object_length(cm_data(&x)), 2 * 5 + 2);
    fx_free(&x);
}
END_TEST

START_TEST(test_conflict_rereads)
{
    struct fx x;
    fx_init(&x, "cm", NULL, true);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    x.f.bump_rv_after_get = true;
    writers_class(x.e, "legacy-disk", "kubernetes.io/azure-disk", false);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    ck_assert_uint_eq(fake_count(&x.f, "PUT", 409), 1);
    ck_assert_uint_eq(fake_count(&x.f, "PUT", 200), 1);
    ck_assert_uint_eq(fake_count(&x.f, "GET", 200), 2);
    ck_assert_str_eq(cm_get(&x, "class.legacy-disk"), "in-tree");
    struct admission_stats st;
    admission_writer_stats(x.w, &st);
    ck_assert_uint_eq(st.conflicts, 1);
    fx_free(&x);
}
END_TEST

START_TEST(test_conflicts_bounded_then_backoff)
{
    struct fx x;
    fx_init(&x, "cm", NULL, true);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    fake_fail(&x.f, "PUT", "/configmaps/cm", 409, 7); /* more than max_conflicts (5) */
    writers_class(x.e, "legacy-disk", "kubernetes.io/azure-disk", false);
    ck_assert(fake_run(&x.loop, &x.f, 5000, in_sync, &x));
    ck_assert_uint_eq(fake_count(&x.f, "PUT", 409), 7);
    ck_assert_uint_eq(fake_count(&x.f, "PUT", 200), 1);
    struct admission_stats st;
    admission_writer_stats(x.w, &st);
    ck_assert_uint_eq(st.conflicts, 7);
    ck_assert_uint_eq(st.failures, 1); /* gave up once after 6 conflicts, then backed off */
    ck_assert_str_eq(cm_get(&x, "class.legacy-disk"), "in-tree");
    fx_free(&x);
}
END_TEST

START_TEST(test_failures_retry)
{
    struct fx x;
    fx_init(&x, "cm", NULL, false);
    fake_fail(&x.f, "GET", "", 500, 2);
    fake_fail(&x.f, "POST", "", -ETIMEDOUT, 1);
    admission_writer_set_leader(x.w, true);
    ck_assert(fake_run(&x.loop, &x.f, 3000, in_sync, &x));
    ck_assert_uint_eq(fake_count(&x.f, "GET", 500), 2);
    ck_assert_uint_eq(fake_count(&x.f, "POST", -ETIMEDOUT), 1);
    ck_assert_uint_eq(fake_count(&x.f, "POST", 201), 1);
    struct admission_stats st;
    admission_writer_stats(x.w, &st);
    ck_assert_uint_eq(st.failures, 3);
    fx_free(&x);
}
END_TEST

START_TEST(test_follower_and_off)
{
    struct fx x;
    fx_init(&x, "cm", NULL, false);
    ck_assert(!fake_run(&x.loop, &x.f, 100, in_sync, &x));
    ck_assert_uint_eq(x.f.nlog, 0);
    admission_writer_set_leader(x.w, true);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    ck_assert_ptr_nonnull(x.f.cm);
    /* a follower again: changes are not written */
    admission_writer_set_leader(x.w, false);
    size_t n = x.f.nlog;
    writers_class(x.e, "legacy-disk", "kubernetes.io/azure-disk", false);
    ck_assert(!fake_run(&x.loop, &x.f, 100, in_sync, &x));
    ck_assert_uint_eq(x.f.nlog, n);
    fx_free(&x);

    fx_init(&x, "", NULL, true); /* warnings_configmap "" = off */
    ck_assert(!fake_run(&x.loop, &x.f, 100, in_sync, &x));
    ck_assert_uint_eq(x.f.nlog, 0);
    fx_free(&x);
}
END_TEST

START_TEST(test_waits_for_sync)
{
    struct store *s = store_new(&model_storageclass_type);
    ck_assert_ptr_nonnull(s);
    struct fx x;
    fx_init(&x, "cm", s, true);
    ck_assert(!fake_run(&x.loop, &x.f, 100, in_sync, &x));
    ck_assert_uint_eq(x.f.nlog, 0);
    struct store_replace *r = store_replace_begin(s);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(store_replace_end(r), 0);
    ck_assert(store_synced(s));
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    ck_assert_ptr_nonnull(x.f.cm);
    fx_free(&x);
    store_free(s);
}
END_TEST

START_TEST(test_set_target_and_close_inflight)
{
    struct fx x;
    fx_init(&x, "cm", NULL, true);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    ck_assert_int_eq(admission_writer_set_target(x.w, "other", "ns2"), 0);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    /* the fake holds one ConfigMap whatever the path: found equal, no write */
    ck_assert_str_eq(x.f.log[x.f.nlog - 1].path, "/api/v1/namespaces/ns2/configmaps/other");
    ck_assert_str_eq(x.f.log[x.f.nlog - 1].method, "GET");
    /* close with a request in flight: cancelled */
    x.f.hold = true;
    writers_class(x.e, "legacy-disk", "kubernetes.io/azure-disk", false);
    fake_run(&x.loop, &x.f, 50, NULL, NULL);
    ck_assert_uint_eq(x.f.pending, 1);
    fx_free(&x);
    ck_assert_uint_eq(x.f.cancelled, 1);
}
END_TEST

START_TEST(test_close_inflight_without_cancel)
{
    struct fx x;
    fx_init(&x, "cm", NULL, false);
    struct admission_writer *w2;
    struct admission_opts ao = {
        .name = "cm2", .namespace_ = "ns", .transport = fake_transport_ex(&x.f, false),
        .engine = x.e, .debounce_ms = 1, .resync_ms = -1,
    };
    ck_assert_int_eq(admission_writer_new(&w2, &x.loop, &ao), 0);
    admission_writer_set_leader(w2, true);
    x.f.hold = true;
    fake_run(&x.loop, &x.f, 50, NULL, NULL);
    ck_assert_uint_eq(x.f.pending, 1);
    int n = 0;
    admission_writer_close(w2, closed, &n);
    uv_run(&x.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(n, 1);
    fake_flush(&x.f); /* the answer comes after close and is dropped */
    ck_assert_uint_eq(x.f.nlog, 1);
    ck_assert_ptr_null(x.f.cm);
    fx_free(&x);
}
END_TEST

START_TEST(test_resync_repairs)
{
    struct fx x;
    memset(&x, 0, sizeof(x));
    ck_assert_int_eq(uv_loop_init(&x.loop), 0);
    struct engine_opts o;
    engine_opts_default(&o);
    o.edition = matrix_edition_find("2023-08"); /* the verdicts these tests were written for */
    x.e = engine_new(&o);
    feed_file(x.e, &model_storageclass_type, "storage.json", "StorageClass", NULL, NULL);
    fake_init(&x.f);
    struct admission_opts ao = {
        .name = "cm", .namespace_ = "ns", .transport = fake_transport(&x.f), .engine = x.e,
        .debounce_ms = 1, .resync_ms = 40,
    };
    ck_assert_int_eq(admission_writer_new(&x.w, &x.loop, &ao), 0);
    admission_writer_set_leader(x.w, true);
    ck_assert(fake_run(&x.loop, &x.f, 2000, in_sync, &x));
    /* someone deletes it: the periodic check writes it again */
    json_object_put(x.f.cm);
    x.f.cm = NULL;
    fake_run(&x.loop, &x.f, 150, NULL, NULL);
    ck_assert_ptr_nonnull(x.f.cm);
    ck_assert_uint_eq(fake_count(&x.f, "POST", 201), 2);
    /* someone edits a message: restored */
    json_object_object_add(cm_data(&x), "message.nfs-csi", json_object_new_string("edited"));
    json_object_object_add(cm_data(&x), "extra", json_object_new_string("x"));
    fake_run(&x.loop, &x.f, 150, NULL, NULL);
    ck_assert_str_ne(cm_get(&x, "message.nfs-csi"), "edited");
    ck_assert_ptr_null(cm_get(&x, "extra"));
    ck_assert_uint_eq(fake_count(&x.f, "PUT", 200), 1);
    fx_free(&x);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("admission");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_desired_layout);
    tcase_add_test(tc, test_create_then_unchanged);
    tcase_add_test(tc, test_follows_changes);
    tcase_add_test(tc, test_conflict_rereads);
    tcase_add_test(tc, test_conflicts_bounded_then_backoff);
    tcase_add_test(tc, test_failures_retry);
    tcase_add_test(tc, test_follower_and_off);
    tcase_add_test(tc, test_waits_for_sync);
    tcase_add_test(tc, test_set_target_and_close_inflight);
    tcase_add_test(tc, test_close_inflight_without_cancel);
    tcase_add_test(tc, test_resync_repairs);
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
