/* Support-matrix classification (rules/classify.c) and the incremental
 * engine (rules/engine.c): every fixture PV gets the README's verdict,
 * counters follow changes, claims and snapshots are counted, class and
 * driver changes flip what depends on them, the change hook fires. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "rules/classify.h"
#include "rules/engine.h"
#include "rules/metrics_cluster.h"
#include "rules_support.h"

static const struct {
    const char *pv, *reason, *driver, *sc, *claim;
} expected[] = {
    {"pvc-376cbd50-4f18-5d33-b0a1-4a849714f434", "supported", "disk.csi.azure.com", "managed-csi", "shop/data-postgres-0"},
    {"pvc-b42829bd-28d0-5269-9494-a14bf26d5eb6", "supported", "disk.csi.azure.com", "managed-csi-premium", "shop/data-postgres-1"},
    {"pvc-8e8dca5d-d01d-5b8a-b8b3-f9dfb334e9a6", "supported", "disk.csi.azure.com", "default", "analytics/clickhouse-data-0"},
    {"pvc-2294e4b4-b3f5-5c8c-aeb7-4c8c25780ac8", "supported", "disk.csi.azure.com", "managed-csi", "shop/redis-cache"},
    {"pvc-d46c1cad-6598-522d-9bde-641d64d27fac", "supported", "disk.csi.azure.com", "managed-csi-zrs-retired", "monitoring/grafana"},
    {"pv-orders-legacy-disk", "static", "disk.csi.azure.com", "", "shop/orders-legacy"},
    {"pvc-6071e9a0-3d4d-5cad-9c9f-c866f2585f8b", "azure-files", "file.csi.azure.com", "azurefile-csi", "shop/media"},
    {"pv-shared-config", "azure-files", "file.csi.azure.com", "", "shop/shared-config"},
    {"pvc-658703f2-2f90-586b-9cb3-7e4cc19ca948", "azure-blob", "blob.csi.azure.com", "azureblob-fuse-premium", "analytics/raw-events"},
    {"pv-intree-jenkins-home", "in-tree", "kubernetes.io/azure-disk", "managed-premium", "default/jenkins-home"},
    {"pv-intree-gitea", "in-tree", "kubernetes.io/azure-disk", "managed", "default/gitea-data"},
    {"pv-intree-azurefile-reports", "in-tree", "kubernetes.io/azure-file", "azurefile", "analytics/reports"},
    {"pv-hostpath-scratch", "not-csi", "hostPath", "manual", NULL},
    {"pv-local-nvme-0", "not-csi", "local", "local-nvme", NULL},
    {"pv-nfs-archive", "not-csi", "nfs", "", "analytics/archive"},
    {"pvc-5bcec22a-49c6-541c-b425-de2203ea6c54", "unsupported-driver", "nfs.csi.k8s.io", "nfs-csi", "shop/uploads"},
};

static struct regions regs;
static struct engine *e;

static void setup(void)
{
    load_regions(&regs);
    e = cluster_engine(&regs, false);
}

static void teardown(void)
{
    engine_free(e);
    regions_free(&regs);
}

START_TEST(every_fixture_pv)
{
    ck_assert_uint_eq(engine_pv_count(e), 16);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        struct engine_pv pv;
        ck_assert_msg(engine_pv_get(e, expected[i].pv, &pv), "missing %s", expected[i].pv);
        ck_assert_msg(strcmp(pv_reason_code(pv.reason), expected[i].reason) == 0, "%s: %s != %s",
                      expected[i].pv, pv_reason_code(pv.reason), expected[i].reason);
        ck_assert_str_eq(pv.driver, expected[i].driver);
        ck_assert_str_eq(pv.storage_class, expected[i].sc);
        if (expected[i].claim) {
            char c[256];
            snprintf(c, sizeof(c), "%s/%s", pv.claim_ns, pv.claim_name);
            ck_assert_str_eq(c, expected[i].claim);
        } else {
            ck_assert_ptr_null(pv.claim_name);
        }
    }
}
END_TEST

START_TEST(counts_per_reason)
{
    static const struct { const char *r; size_t n; } counts[] = {
        {"azure-blob", 1}, {"azure-files", 2}, {"in-tree", 3}, {"not-csi", 3},
        {"static", 1}, {"supported", 5}, {"unsupported-driver", 1},
    };
    size_t total = 0;
    for (size_t i = 0; i < 7; i++) {
        int r = pv_reason_parse(counts[i].r);
        ck_assert_int_ge(r, 0);
        ck_assert_uint_eq(engine_pv_reason_count(e, r), counts[i].n);
        total += counts[i].n;
    }
    ck_assert_uint_eq(total, engine_pv_count(e));
}
END_TEST

START_TEST(remedies)
{
    ck_assert_str_eq(pv_reason_remedy(PV_REASON_AZURE_FILES), "protect with Azure File Share backup");
    ck_assert_str_eq(pv_reason_remedy(PV_REASON_AZURE_BLOB), "protect with Azure Blob backup");
    ck_assert_ptr_nonnull(strstr(pv_reason_remedy(PV_REASON_IN_TREE), "migrate to CSI"));
    ck_assert_ptr_nonnull(strstr(pv_reason_remedy(PV_REASON_STATIC), "disk.csi.azure.com"));
    ck_assert_ptr_nonnull(strstr(pv_reason_remedy(PV_REASON_NOT_CSI), "not covered"));
    ck_assert_ptr_nonnull(strstr(pv_reason_remedy(PV_REASON_UNSUPPORTED_DRIVER), "not covered by AKS backup"));
    ck_assert_str_eq(pv_reason_remedy(PV_REASON_SUPPORTED), "");
    ck_assert_int_eq(pv_reason_parse("bogus"), -1);
}
END_TEST

START_TEST(first_match_wins)
{
    /* A CSI disk PV annotated migrated-to is in-tree, not supported. */
    struct pv_rec pv = {0};
    pv.source = PV_SOURCE_CSI;
    pv.csi_driver_id = model_intern_id("disk.csi.azure.com");
    pv.provisioned_by_id = model_intern_id("disk.csi.azure.com");
    ck_assert_int_eq(classify_pv(&pv), PV_REASON_SUPPORTED);
    pv.migrated = true;
    ck_assert_int_eq(classify_pv(&pv), PV_REASON_IN_TREE);
    pv.migrated = false;
    model_intern_put_id(pv.provisioned_by_id);
    pv.provisioned_by_id = model_intern_id("kubernetes.io/azure-disk");
    ck_assert_int_eq(classify_pv(&pv), PV_REASON_STATIC);
    pv.source = PV_SOURCE_NONE;
    ck_assert_int_eq(classify_pv(&pv), PV_REASON_NOT_CSI);
    ck_assert_str_eq(classify_pv_driver(&pv), "");
    pv.source = PV_SOURCE_OTHER;
    pv.source_field_id = model_intern_id("iscsi");
    ck_assert_str_eq(classify_pv_driver(&pv), "iscsi");
    model_intern_put_id(pv.source_field_id);
    model_intern_put_id(pv.provisioned_by_id);
    model_intern_put_id(pv.csi_driver_id);
}
END_TEST

START_TEST(class_verdicts)
{
    ck_assert_int_eq(classify_provisioner("disk.csi.azure.com"), PV_REASON_SUPPORTED);
    ck_assert_int_eq(classify_provisioner("file.csi.azure.com"), PV_REASON_AZURE_FILES);
    ck_assert_int_eq(classify_provisioner("blob.csi.azure.com"), PV_REASON_AZURE_BLOB);
    ck_assert_int_eq(classify_provisioner("kubernetes.io/azure-disk"), PV_REASON_IN_TREE);
    ck_assert_int_eq(classify_provisioner("kubernetes.io/azure-file"), PV_REASON_IN_TREE);
    ck_assert_int_eq(classify_provisioner("kubernetes.io/no-provisioner"), PV_REASON_STATIC);
    ck_assert_int_eq(classify_provisioner("nfs.csi.k8s.io"), PV_REASON_UNSUPPORTED_DRIVER);
    char msg[512];
    classify_class_message("azurefile", "file.csi.azure.com", msg, sizeof(msg));
    ck_assert_str_eq(msg, "storage class azurefile is skipped by AKS backup: Azure Files volumes "
                          "are not backed up by AKS backup; protect with Azure File Share backup");
    classify_class_message("nfs-csi", "nfs.csi.k8s.io", msg, sizeof(msg));
    ck_assert_ptr_nonnull(strstr(msg, "storage class nfs-csi is skipped by AKS backup: provisioner nfs.csi.k8s.io"));
    classify_class_message("managed-csi", "disk.csi.azure.com", msg, sizeof(msg));
    ck_assert_str_eq(msg, "");
}
END_TEST

struct skipped {
    int n;
    bool saw_nfs, saw_default;
};

static void skipped_cb(void *data, const char *name, const char *prov, enum pv_reason r,
                       const char *msg, bool is_default)
{
    struct skipped *s = data;
    s->n++;
    ck_assert_int_ne(r, PV_REASON_SUPPORTED);
    ck_assert_ptr_nonnull(strstr(msg, name));
    if (strcmp(name, "nfs-csi") == 0) {
        s->saw_nfs = true;
        ck_assert_str_eq(prov, "nfs.csi.k8s.io");
    }
    s->saw_default |= is_default;
}

START_TEST(skipped_classes)
{
    struct skipped s = {0};
    engine_foreach_skipped_class(e, skipped_cb, &s);
    /* azurefile, azurefile-csi, azurefile-csi-premium, azureblob-fuse-premium, nfs-csi */
    ck_assert_int_eq(s.n, 5);
    ck_assert(s.saw_nfs);
    ck_assert(!s.saw_default);
    ck_assert_str_eq(engine_default_class(e), "default");
}
END_TEST

START_TEST(claims)
{
    ck_assert_uint_eq(engine_claims_pending(e), 2);
    ck_assert_uint_eq(engine_claims_pending_in(e, "monitoring"), 1);
    ck_assert_uint_eq(engine_claims_pending_in(e, "shop"), 1);
    ck_assert_uint_eq(engine_claims_pending_in(e, "analytics"), 0);
    ck_assert_uint_eq(engine_claims_without_class(e), 4);
    /* Binding the pending claim drops it from the count. */
    const struct fx_edit bound[] = {{{"status", "phase"}, "Bound"}, {{"spec", "volumeName"}, "pv-x"}};
    struct pvc_rec *c = fixture_record_edited(&model_pvc_type, "persistentvolumeclaims.json", "prometheus-data",
                                              2, bound);
    engine_apply(e, &model_pvc_type, NULL, c);
    ck_assert_uint_eq(engine_claims_pending_in(e, "monitoring"), 0);
    ck_assert_uint_eq(engine_claims_pending(e), 1);
    engine_apply(e, &model_pvc_type, c, NULL);
    ck_assert_uint_eq(engine_claims_pending(e), 1);
    model_pvc_type.free(c);
    c = fixture_record(&model_pvc_type, "persistentvolumeclaims.json", "scratch");
    engine_apply(e, &model_pvc_type, c, NULL);
    ck_assert_uint_eq(engine_claims_pending(e), 0);
    ck_assert_uint_eq(engine_claims_without_class(e), 3);
    model_pvc_type.free(c);
}
END_TEST

START_TEST(snapshots)
{
    ck_assert_uint_eq(engine_snapshots(e, SNAPSHOT_READY), 3);
    ck_assert_uint_eq(engine_snapshots(e, SNAPSHOT_FAILED), 1);
    ck_assert_uint_eq(engine_snapshots(e, SNAPSHOT_PENDING), 1);
    const char *claim = NULL;
    ck_assert_uint_eq(engine_snapshots_max_per_claim(e, &claim), 3);
    ck_assert_str_eq(claim, "shop/data-postgres-0");
    /* Deleting two of postgres-0's snapshots makes postgres-1 (2) the max. */
    const char *names[] = {"data-postgres-0-01", "data-postgres-0-02"};
    for (int i = 0; i < 2; i++) {
        struct snapshot_rec *s = fixture_record(&model_snapshot_type, "volumesnapshots.json", names[i]);
        engine_apply(e, &model_snapshot_type, s, NULL);
        model_snapshot_type.free(s);
    }
    ck_assert_uint_eq(engine_snapshots(e, SNAPSHOT_READY), 1);
    ck_assert_uint_eq(engine_snapshots_max_per_claim(e, &claim), 2);
    ck_assert_str_eq(claim, "shop/data-postgres-1");
    /* The pending one becomes ready. */
    struct snapshot_rec *s = fixture_record(&model_snapshot_type, "volumesnapshots.json", "data-postgres-1-0500");
    s->ready = true;
    engine_apply(e, &model_snapshot_type, NULL, s);
    ck_assert_uint_eq(engine_snapshots(e, SNAPSHOT_PENDING), 0);
    ck_assert_uint_eq(engine_snapshots(e, SNAPSHOT_READY), 2);
    ck_assert_uint_eq(engine_snapshots_max_per_claim(e, NULL), 2);
    model_snapshot_type.free(s);
}
END_TEST

START_TEST(cluster_facts)
{
    ck_assert_str_eq(engine_cluster_region(e), "westeurope");
    ck_assert_str_eq(engine_cluster_subscription(e), "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f");
    ck_assert_str_eq(engine_kubernetes_version(e), "v1.30.6");
    struct engine_opts o = *engine_get_opts(e);
    o.cluster_region = "North Europe";
    ck_assert_int_eq(engine_set_opts(e, &o), 0);
    ck_assert_str_eq(engine_cluster_region(e), "North Europe");
}
END_TEST

static unsigned changes;
static void on_change(void *data, unsigned what)
{
    (void)data;
    changes |= what;
}

START_TEST(pv_events_rejudge)
{
    engine_set_on_change(e, on_change, NULL);
    changes = 0;
    struct pv_rec *pv = fixture_record(&model_pv_type, "persistentvolumes.json", "pv-orders-legacy-disk");
    /* Same object again: no change. */
    engine_apply(e, &model_pv_type, pv, pv);
    ck_assert_uint_eq(changes, 0);
    model_pv_type.free(pv);
    pv = fixture_pv_provisioned("pv-orders-legacy-disk", "disk.csi.azure.com");
    engine_apply(e, &model_pv_type, NULL, pv);
    ck_assert_uint_eq(changes, ENGINE_CHANGED_VERDICTS);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_STATIC), 0);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_SUPPORTED), 6);
    changes = 0;
    engine_apply(e, &model_pv_type, pv, NULL);
    ck_assert_uint_eq(changes, ENGINE_CHANGED_VERDICTS);
    ck_assert_uint_eq(engine_pv_count(e), 15);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_SUPPORTED), 5);
    model_pv_type.free(pv);
}
END_TEST

START_TEST(class_change_flips_dependents)
{
    engine_set_on_change(e, on_change, NULL);
    changes = 0;
    struct storageclass_rec *sc = fixture_record(&model_storageclass_type, "storage.json", "managed-csi");
    engine_apply(e, &model_storageclass_type, sc, sc); /* unchanged */
    ck_assert_uint_eq(changes, 0);
    free(sc->provisioner);
    sc->provisioner = strdup("kubernetes.io/azure-disk");
    engine_apply(e, &model_storageclass_type, NULL, sc);
    ck_assert_uint_eq(changes, ENGINE_CHANGED_CLASSES);
    struct skipped s = {0};
    engine_foreach_skipped_class(e, skipped_cb, &s);
    ck_assert_int_eq(s.n, 6);
    /* Moving the default annotation onto it: the default class is skipped. */
    changes = 0;
    sc->is_default = true;
    engine_apply(e, &model_storageclass_type, NULL, sc);
    ck_assert_uint_eq(changes, ENGINE_CHANGED_CLASSES);
    struct storageclass_rec *d = fixture_record(&model_storageclass_type, "storage.json", "default");
    engine_apply(e, &model_storageclass_type, d, NULL);
    ck_assert_str_eq(engine_default_class(e), "managed-csi");
    struct skipped s2 = {0};
    engine_foreach_skipped_class(e, skipped_cb, &s2);
    ck_assert(s2.saw_default);
    model_storageclass_type.free(d);
    model_storageclass_type.free(sc);
}
END_TEST

START_TEST(driver_delete_flips_prereq)
{
    struct prereq_result r[PREREQ_COUNT];
    engine_prerequisites(e, r);
    ck_assert_int_eq(r[PREREQ_CSI_DISK_DRIVER].status, PREREQ_PASS);
    ck_assert_int_eq(r[PREREQ_SNAPSHOT_CLASS].status, PREREQ_PASS);
    struct csidriver_rec *d = fixture_record(&model_csidriver_type, "storage.json", "disk.csi.azure.com");
    engine_apply(e, &model_csidriver_type, d, NULL);
    struct snapshotclass_rec *v = fixture_record(&model_snapshotclass_type, "storage.json", "csi-azuredisk-vsc");
    engine_apply(e, &model_snapshotclass_type, v, NULL);
    engine_prerequisites(e, r);
    ck_assert_int_eq(r[PREREQ_CSI_DISK_DRIVER].status, PREREQ_FAIL);
    ck_assert_int_eq(r[PREREQ_SNAPSHOT_CLASS].status, PREREQ_FAIL);
    char why[256];
    ck_assert(!engine_prerequisites_ok(e, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "csi_disk_driver"));
    ck_assert_ptr_nonnull(strstr(why, "snapshot_class"));
    engine_apply(e, &model_csidriver_type, NULL, d);
    engine_apply(e, &model_snapshotclass_type, NULL, v);
    engine_prerequisites(e, r);
    ck_assert_int_eq(r[PREREQ_CSI_DISK_DRIVER].status, PREREQ_PASS);
    ck_assert_int_eq(r[PREREQ_SNAPSHOT_CLASS].status, PREREQ_PASS);
    ck_assert(engine_prerequisites_ok(e, why, sizeof(why)));
    model_csidriver_type.free(d);
    model_snapshotclass_type.free(v);
    /* Snapshot API not served: the class check fails too. */
    engine_set_snapshot_api(e, 0);
    engine_prerequisites(e, r);
    ck_assert_int_eq(r[PREREQ_SNAPSHOT_API].status, PREREQ_FAIL);
    ck_assert_int_eq(r[PREREQ_SNAPSHOT_CLASS].status, PREREQ_FAIL);
}
END_TEST

START_TEST(node_events_move_region)
{
    /* Most common region wins; removing nodes changes it. */
    struct node_rec *n = fixture_record(&model_node_type, "nodes.json", "aks-user-31415930-vmss000000");
    const char *names[] = {"n1", "n2", "n3", "n4", "n5"};
    for (int i = 0; i < 5; i++) {
        free(n->meta.name);
        n->meta.name = strdup(names[i]);
        free(n->region);
        n->region = strdup("northeurope");
        engine_apply(e, &model_node_type, NULL, n);
    }
    ck_assert_str_eq(engine_cluster_region(e), "northeurope");
    for (int i = 0; i < 5; i++) {
        free(n->meta.name);
        n->meta.name = strdup(names[i]);
        engine_apply(e, &model_node_type, n, NULL);
    }
    ck_assert_str_eq(engine_cluster_region(e), "westeurope");
    model_node_type.free(n);
}
END_TEST

static void line_cb(void *data, const char *line, size_t len)
{
    int *n = data;
    ck_assert_uint_eq(strlen(line), len);
    ck_assert_ptr_nonnull(strstr(line, "aks_backup_persistent_volume_supported{persistentvolume=\""));
    ck_assert(line[len - 1] == '\n');
    if (strstr(line, "pv-hostpath-scratch")) {
        ck_assert_str_eq(line, "aks_backup_persistent_volume_supported{persistentvolume=\"pv-hostpath-scratch\","
                               "storageclass=\"manual\",driver=\"hostPath\",reason=\"not-csi\",claim_namespace=\"\","
                               "persistentvolumeclaim=\"\"} 0\n");
    }
    (*n)++;
}

START_TEST(prerendered_lines)
{
    int n = 0;
    engine_foreach_pv_line(e, line_cb, &n);
    ck_assert_int_eq(n, 16);
}
END_TEST

START_TEST(snapshots_near_limit)
{
    struct engine_opts o = *engine_get_opts(e);
    o.snapshots_per_disk = 3;
    o.warn_ratio = 0.8; /* >= 2.4: postgres-0 (3) warns, postgres-1 (2) does not */
    ck_assert_int_eq(engine_set_opts(e, &o), 0);
    struct engine_warning *w;
    size_t n, hits = 0;
    ck_assert_int_eq(engine_warnings(e, 1773500400, &w, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i].code, "snapshots-near-limit") == 0) {
            hits++;
            ck_assert_str_eq(w[i].object, "shop/data-postgres-0");
        }
    ck_assert_uint_eq(hits, 1);
    engine_warnings_free(w, n);
    o = *engine_get_opts(e); /* the previous copy's strings died with the old options */
    o.snapshots_per_disk = 500;
    ck_assert_int_eq(engine_set_opts(e, &o), 0);
    ck_assert_int_eq(engine_warnings(e, 1773500400, &w, &n), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_ne(w[i].code, "snapshots-near-limit");
    engine_warnings_free(w, n);
}
END_TEST

/* Through the real store: adds, updates (old and new record), deletes and
 * a relist that drops an object all reach the engine. */
START_TEST(through_store)
{
    struct engine_opts o;
    engine_opts_default(&o);
    o.edition = matrix_edition_find("2023-08"); /* static by annotation */
    struct engine *g = engine_new(&o);
    struct store *s = store_new(&model_pv_type);
    ck_assert_int_eq(engine_attach_store(g, s), 0);
    struct pv_rec *a = fixture_record(&model_pv_type, "persistentvolumes.json", "pv-orders-legacy-disk");
    struct pv_rec *b = fixture_record(&model_pv_type, "persistentvolumes.json", "pv-nfs-archive");
    ck_assert_int_eq(store_upsert(s, a), 0);
    ck_assert_int_eq(store_upsert(s, b), 0);
    ck_assert_uint_eq(engine_pv_count(g), 2);
    ck_assert_uint_eq(engine_pv_reason_count(g, PV_REASON_STATIC), 1);
    /* Update: now dynamically provisioned, new resourceVersion. */
    const struct fx_edit ed[] = {
        {{"metadata", "annotations", "pv.kubernetes.io/provisioned-by"}, "disk.csi.azure.com"},
        {{"metadata", "resourceVersion"}, "99999"},
    };
    a = fixture_record_edited(&model_pv_type, "persistentvolumes.json", "pv-orders-legacy-disk", 2, ed);
    ck_assert_int_eq(store_upsert(s, a), 0);
    ck_assert_uint_eq(engine_pv_reason_count(g, PV_REASON_STATIC), 0);
    ck_assert_uint_eq(engine_pv_reason_count(g, PV_REASON_SUPPORTED), 1);
    /* Relist with only the nfs PV: the other is deleted. */
    struct store_replace *r = store_replace_begin(s);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(store_replace_add(r, fixture_record(&model_pv_type, "persistentvolumes.json", "pv-nfs-archive")), 0);
    ck_assert_int_eq(store_replace_end(r), 0);
    ck_assert_uint_eq(engine_pv_count(g), 1);
    ck_assert_uint_eq(engine_pv_reason_count(g, PV_REASON_SUPPORTED), 0);
    ck_assert_uint_eq(engine_pv_reason_count(g, PV_REASON_NOT_CSI), 1);
    store_free(s);
    engine_free(g);
}
END_TEST

static size_t count_code(const struct engine *g, const char *code, const char *object)
{
    struct engine_warning *w = NULL;
    size_t n = 0, k = 0;
    ck_assert_int_eq(engine_warnings(g, 1773500400, &w, &n), 0);
    for (size_t i = 0; i < n; i++)
        k += strcmp(w[i].code, code) == 0 && (!object || strcmp(w[i].object, object) == 0);
    engine_warnings_free(w, n);
    return k;
}

/* Claims and snapshots through the real stores: the engine indexes the
 * store's records (no copies), so updates, deletes, a relist and the
 * stores freed before the engine must all keep its counts and warnings
 * right (and, under ASan, never touch a freed record). */
START_TEST(claims_snapshots_through_store)
{
    struct engine *g = engine_new(NULL);
    struct store *pvcs = store_new(&model_pvc_type), *snaps = store_new(&model_snapshot_type);
    ck_assert_int_eq(engine_attach_store(g, pvcs), 0);
    ck_assert_int_eq(engine_attach_store(g, snaps), 0);
    ck_assert_int_eq(store_upsert(pvcs, fixture_record(&model_pvc_type, "persistentvolumeclaims.json",
                                                       "prometheus-data")), 0);
    ck_assert_int_eq(store_upsert(pvcs, fixture_record(&model_pvc_type, "persistentvolumeclaims.json",
                                                       "scratch")), 0);
    ck_assert_int_eq(store_upsert(pvcs, fixture_record(&model_pvc_type, "persistentvolumeclaims.json",
                                                       "grafana")), 0);
    ck_assert_uint_eq(engine_claims_pending(g), 2);
    ck_assert_uint_eq(engine_claims_pending_in(g, "monitoring"), 1);
    ck_assert_uint_eq(count_code(g, "claim-pending", "monitoring/prometheus-data"), 1);
    /* Update through the store: bound now (the store frees the old record). */
    const struct fx_edit bound[] = {{{"status", "phase"}, "Bound"},
                                    {{"spec", "volumeName"}, "pv-x"},
                                    {{"metadata", "resourceVersion"}, "99999"}};
    ck_assert_int_eq(store_upsert(pvcs, fixture_record_edited(&model_pvc_type, "persistentvolumeclaims.json",
                                                              "prometheus-data", 3, bound)), 0);
    ck_assert_uint_eq(engine_claims_pending(g), 1);
    ck_assert_uint_eq(engine_claims_pending_in(g, "monitoring"), 0);
    ck_assert_uint_eq(count_code(g, "claim-pending", NULL), 1);
    /* Delete. */
    ck_assert_int_eq(store_delete(pvcs, fixture_record(&model_pvc_type, "persistentvolumeclaims.json",
                                                       "scratch")), 0);
    ck_assert_uint_eq(engine_claims_pending(g), 0);
    ck_assert_uint_eq(count_code(g, "claim-pending", NULL), 0);

    const char *names[] = {"data-postgres-0-01", "data-postgres-0-02", "data-postgres-1-0400",
                           "data-postgres-1-0500"};
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(store_upsert(snaps, fixture_record(&model_snapshot_type, "volumesnapshots.json",
                                                            names[i])), 0);
    const char *claim = NULL;
    ck_assert_uint_eq(engine_snapshots(g, SNAPSHOT_READY), 2);
    ck_assert_uint_eq(engine_snapshots(g, SNAPSHOT_FAILED), 1);
    ck_assert_uint_eq(engine_snapshots(g, SNAPSHOT_PENDING), 1);
    ck_assert_uint_eq(engine_snapshots_max_per_claim(g, &claim), 2);
    ck_assert_str_eq(claim, "shop/data-postgres-0");
    ck_assert_uint_eq(count_code(g, "snapshot-failed", NULL), 1);
    /* Relist without one of postgres-0's snapshots: deleted, the tie at 2 -> 1
     * leaves postgres-1 the maximum. */
    struct store_replace *r = store_replace_begin(snaps);
    ck_assert_ptr_nonnull(r);
    for (size_t i = 1; i < 4; i++)
        ck_assert_int_eq(store_replace_add(r, fixture_record(&model_snapshot_type, "volumesnapshots.json",
                                                             names[i])), 0);
    ck_assert_int_eq(store_replace_end(r), 0);
    ck_assert_uint_eq(engine_snapshots(g, SNAPSHOT_READY), 1);
    ck_assert_uint_eq(engine_snapshots_max_per_claim(g, &claim), 2);
    ck_assert_str_eq(claim, "shop/data-postgres-1");
    /* The stores go first: their records leave the engine with them. */
    store_free(pvcs);
    store_free(snaps);
    ck_assert_uint_eq(engine_claims_pending(g), 0);
    ck_assert_uint_eq(engine_claims_without_class(g), 0);
    ck_assert_uint_eq(engine_snapshots(g, SNAPSHOT_READY) + engine_snapshots(g, SNAPSHOT_FAILED) +
                      engine_snapshots(g, SNAPSHOT_PENDING), 0);
    ck_assert_uint_eq(engine_snapshots_max_per_claim(g, NULL), 0);
    ck_assert_uint_eq(count_code(g, "snapshot-failed", NULL) + count_code(g, "claim-no-storage-class", NULL), 0);
    engine_free(g);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("classify");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_fixture_pv);
    tcase_add_test(tc, counts_per_reason);
    tcase_add_test(tc, remedies);
    tcase_add_test(tc, first_match_wins);
    tcase_add_test(tc, class_verdicts);
    tcase_add_test(tc, skipped_classes);
    suite_add_tcase(s, tc);
    TCase *te = tcase_create("engine");
    tcase_add_checked_fixture(te, setup, teardown);
    tcase_add_test(te, claims);
    tcase_add_test(te, snapshots);
    tcase_add_test(te, cluster_facts);
    tcase_add_test(te, pv_events_rejudge);
    tcase_add_test(te, class_change_flips_dependents);
    tcase_add_test(te, driver_delete_flips_prereq);
    tcase_add_test(te, node_events_move_region);
    tcase_add_test(te, prerendered_lines);
    tcase_add_test(te, snapshots_near_limit);
    tcase_add_test(te, through_store);
    tcase_add_test(te, claims_snapshots_through_store);
    suite_add_tcase(s, te);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
