/* The report (rules/report.c, report_text.c), the `check` exit codes and
 * the cluster metric collector (rules/metrics_cluster.c) on the fixture
 * cluster: the report's JSON field names and values, the text table, and
 * the exposition of the cluster metric families. */
#include <check.h>
#include <stdlib.h>

#include "metrics/metrics.h"
#include "rules/metrics_cluster.h"
#include "rules/report.h"
#include "rules_support.h"

#define NOW 1773500400 /* 2026-03-14T15:00:00Z */

static struct engine *e;
static struct regions regs;

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

static struct json_object *get(struct json_object *o, const char *k)
{
    struct json_object *v = NULL;
    ck_assert_msg(json_object_object_get_ex(o, k, &v), "missing key %s", k);
    return v;
}

static void keys_exactly(struct json_object *o, const char *const *keys, size_t n)
{
    ck_assert_int_eq(json_object_object_length(o), (int)n);
    for (size_t i = 0; i < n; i++)
        get(o, keys[i]);
}

static int64_t geti(struct json_object *o, const char *k)
{
    return json_object_get_int64(get(o, k));
}

START_TEST(json_document)
{
    struct json_object *quota = json_tokener_parse("{\"day\":\"2026-03-14\",\"instances\":[]}");
    struct report_opts o = {.now = NOW, .quota = quota};
    struct json_object *doc = report_json(e, &o);
    json_object_put(quota); /* the report holds its own reference */
    ck_assert_ptr_nonnull(doc);
    static const char *const top[] = {"apiVersion", "kind", "status", "generated_at", "cluster",
                                      "prerequisites", "persistent_volumes", "summary", "snapshots",
                                      "extension", "quota", "warnings", "informational",
                                      "support_matrix"};
    keys_exactly(doc, top, 14);
    ck_assert_str_eq(json_object_get_string(get(doc, "apiVersion")), "aks-backup-companion/v1");
    ck_assert_str_eq(json_object_get_string(get(doc, "kind")), "Report");
    /* The overall status says what check's exit code says. */
    ck_assert_str_eq(json_object_get_string(get(doc, "status")),
                     report_status_name(report_exit_code(e, &o)));
    ck_assert_str_eq(report_status_name(0), "ok");
    ck_assert_str_eq(report_status_name(1), "warning");
    ck_assert_str_eq(report_status_name(2), "failed");
    ck_assert_str_eq(json_object_get_string(get(doc, "generated_at")), "2026-03-14T15:00:00Z");

    struct json_object *cl = get(doc, "cluster");
    static const char *const ck[] = {"kubernetes_version", "region", "subscription_id"};
    keys_exactly(cl, ck, 3);
    ck_assert_str_eq(json_object_get_string(get(cl, "kubernetes_version")), "v1.30.6");
    ck_assert_str_eq(json_object_get_string(get(cl, "region")), "westeurope");
    ck_assert_str_eq(json_object_get_string(get(cl, "subscription_id")),
                     "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f");

    struct json_object *pr = get(doc, "prerequisites");
    ck_assert_uint_eq(json_object_array_length(pr), 13);
    static const char *const pk[] = {"check", "status", "observed", "expected", "remedy"};
    for (size_t i = 0; i < 13; i++)
        keys_exactly(json_object_array_get_idx(pr, i), pk, 5);
    ck_assert_str_eq(json_object_get_string(get(json_object_array_get_idx(pr, 0), "check")),
                     "kubernetes_version");
    ck_assert_str_eq(json_object_get_string(get(json_object_array_get_idx(pr, 0), "status")), "pass");
    ck_assert_str_eq(json_object_get_string(get(json_object_array_get_idx(pr, 5), "status")), "unknown");

    struct json_object *pvs = get(doc, "persistent_volumes");
    ck_assert_uint_eq(json_object_array_length(pvs), 16);
    static const char *const vk[] = {"name", "storage_class", "driver", "claim", "phase",
                                     "supported", "reason", "remedy", "notes"};
    const char *prev = "";
    for (size_t i = 0; i < 16; i++) {
        struct json_object *pv = json_object_array_get_idx(pvs, i);
        keys_exactly(pv, vk, 9);
        const char *name = json_object_get_string(get(pv, "name"));
        ck_assert_msg(strcmp(prev, name) < 0, "not sorted: %s before %s", prev, name);
        prev = name;
        bool sup = json_object_get_boolean(get(pv, "supported"));
        ck_assert_int_eq(sup, strcmp(json_object_get_string(get(pv, "reason")), "supported") == 0);
        if (strcmp(name, "pv-hostpath-scratch") == 0) {
            ck_assert(json_object_is_type(get(pv, "claim"), json_type_null));
            ck_assert_str_eq(json_object_get_string(get(pv, "driver")), "hostPath");
            ck_assert_str_eq(json_object_get_string(get(pv, "phase")), "Available");
        }
        if (strcmp(name, "pv-shared-config") == 0) {
            struct json_object *c = get(pv, "claim");
            static const char *const cck[] = {"namespace", "name"};
            keys_exactly(c, cck, 2);
            ck_assert_str_eq(json_object_get_string(get(c, "namespace")), "shop");
            ck_assert_str_eq(json_object_get_string(get(pv, "remedy")), "protect with Azure File Share backup");
        }
    }

    struct json_object *sum = get(doc, "summary");
    ck_assert_int_eq(geti(sum, "total"), 16);
    ck_assert_int_eq(geti(sum, "supported"), 5);
    ck_assert_int_eq(geti(sum, "skipped"), 11);
    struct json_object *br = get(sum, "by_reason");
    static const char *const rk[] = {"in-tree", "not-csi", "azure-files", "azure-blob",
                                     "unsupported-driver", "static", "supported"};
    keys_exactly(br, rk, 7);
    ck_assert_int_eq(geti(br, "in-tree"), 3);
    ck_assert_int_eq(geti(br, "not-csi"), 3);
    ck_assert_int_eq(geti(br, "azure-files"), 2);
    ck_assert_int_eq(geti(br, "azure-blob"), 1);
    ck_assert_int_eq(geti(br, "unsupported-driver"), 1);
    ck_assert_int_eq(geti(br, "static"), 1);

    struct json_object *sn = get(doc, "snapshots");
    static const char *const sk[] = {"ready", "pending", "failed", "max_per_claim"};
    keys_exactly(sn, sk, 4);
    ck_assert_int_eq(geti(sn, "ready"), 3);
    ck_assert_int_eq(geti(sn, "pending"), 1);
    ck_assert_int_eq(geti(sn, "failed"), 1);
    ck_assert_int_eq(geti(sn, "max_per_claim"), 3);

    struct json_object *ext = get(doc, "extension");
    ck_assert(json_object_get_boolean(get(ext, "running")));
    struct json_object *pods = get(ext, "pods");
    ck_assert_uint_eq(json_object_array_length(pods), 2);
    static const char *const ek[] = {"name", "phase", "ready", "reason", "restarts", "oomkilled"};
    keys_exactly(json_object_array_get_idx(pods, 0), ek, 6);

    ck_assert_str_eq(json_object_get_string(get(get(doc, "quota"), "day")), "2026-03-14");

    struct json_object *w = get(doc, "warnings");
    int pending = 0, nosc = 0, failed = 0, stuck = 0;
    for (size_t i = 0; i < json_object_array_length(w); i++) {
        struct json_object *x = json_object_array_get_idx(w, i);
        static const char *const wk[] = {"code", "object", "message"};
        keys_exactly(x, wk, 3);
        const char *code = json_object_get_string(get(x, "code"));
        const char *obj = json_object_get_string(get(x, "object"));
        if (strcmp(code, "claim-pending") == 0) {
            pending++;
            ck_assert(strcmp(obj, "monitoring/prometheus-data") == 0 || strcmp(obj, "shop/scratch") == 0);
        }
        nosc += strcmp(code, "claim-no-storage-class") == 0;
        failed += strcmp(code, "snapshot-failed") == 0;
        if (strcmp(code, "snapshot-stuck") == 0) {
            stuck++;
            ck_assert_str_eq(obj, "shop/data-postgres-1-0500");
        }
    }
    ck_assert_int_eq(pending, 2);
    ck_assert_int_eq(nosc, 4);
    ck_assert_int_eq(failed, 1);
    ck_assert_int_eq(stuck, 1);

    struct json_object *inf = get(doc, "informational");
    ck_assert_uint_eq(json_object_array_length(inf), 4);
    static const char *const ik[] = {"code", "message"};
    keys_exactly(json_object_array_get_idx(inf, 0), ik, 2);
    ck_assert_str_eq(json_object_get_string(get(json_object_array_get_idx(inf, 0), "code")),
                     "azure-cli-version");
    json_object_put(doc);
}
END_TEST

START_TEST(json_quota_null_and_render)
{
    struct report_opts o = {.now = NOW};
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(report_json_render(e, &o, false, &b), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "\"quota\":null"));
    ck_assert_ptr_nonnull(strstr(b.data, "\"claim\":null"));
    ck_assert_ptr_nonnull(strstr(b.data, "\"driver\":\"kubernetes.io/azure-disk\""));
    struct json_object *back = json_tokener_parse(b.data);
    ck_assert_ptr_nonnull(back);
    json_object_put(back);
    buf_reset(&b);
    ck_assert_int_eq(report_json_render(e, &o, true, &b), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "\n"));
    buf_free(&b);
}
END_TEST

START_TEST(stream_equals_dom)
{
    struct json_object *quota = json_tokener_parse("{\"day\":\"2026-03-14\",\"instances\":[{\"instance\":\"a/\\\"b\"}]}");
    struct report_opts o = {.now = NOW, .quota = quota};
    /* A crash-looping pod and a claim with a quote in its name exercise escaping. */
    const struct fx_edit ed = {{"spec", "claimRef", "name"}, "we\"ird\\name\n"};
    struct pv_rec *pv = fixture_record_edited(&model_pv_type, "persistentvolumes.json", "pv-nfs-archive", 1, &ed);
    engine_apply(e, &model_pv_type, NULL, pv);
    model_pv_type.free(pv);
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(report_json_render(e, &o, false, &b), 0);
    struct json_object *streamed = json_tokener_parse(b.data);
    ck_assert_msg(streamed != NULL, "streamed JSON does not parse");
    struct json_object *dom = report_json(e, &o);
    ck_assert(json_object_equal(streamed, dom));
    buf_reset(&b);
    ck_assert_int_eq(report_json_render(e, &o, true, &b), 0);
    struct json_object *pretty = json_tokener_parse(b.data);
    ck_assert(json_object_equal(pretty, dom));
    json_object_put(pretty);
    json_object_put(streamed);
    json_object_put(dom);
    json_object_put(quota);
    buf_free(&b);
}
END_TEST

START_TEST(stuck_needs_ten_minutes)
{
    struct engine_warning *w;
    size_t n;
    /* 05:05, five minutes after the pending snapshot was created. */
    ck_assert_int_eq(engine_warnings(e, 1773464700, &w, &n), 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_ne(w[i].code, "snapshot-stuck");
    engine_warnings_free(w, n);
}
END_TEST

START_TEST(text_report)
{
    struct report_opts o = {.now = NOW, .quota_text = "  default: backups 4/10, restores 2/10\n"};
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(report_text(e, &o, &b), 0);
    const char *sections[] = {"CLUSTER", "PREREQUISITES", "PERSISTENT VOLUMES", "SNAPSHOTS",
                              "EXTENSION", "QUOTA", "INFORMATIONAL", "WARNINGS"};
    const char *at = b.data;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        const char *p = strstr(at, sections[i]);
        ck_assert_msg(p != NULL, "section %s missing or out of order", sections[i]);
        at = p;
    }
    ck_assert_ptr_nonnull(strstr(b.data, "\u2714 kubernetes_version"));
    ck_assert_ptr_nonnull(strstr(b.data, "? vault_same_region"));
    /* Table header and an aligned row: columns start at the same offsets. */
    const char *hdr = strstr(b.data, "  NAME ");
    ck_assert_ptr_nonnull(hdr);
    const char *row = strstr(b.data, "  pv-hostpath-scratch ");
    ck_assert_ptr_nonnull(row);
    const char *hdr_sc = strstr(hdr, "STORAGECLASS"), *row_sc = strstr(row, "manual");
    ck_assert_int_eq(hdr_sc - hdr, row_sc - row);
    const char *hdr_reason = strstr(hdr, "REASON"), *row_reason = strstr(row, "not-csi");
    ck_assert_int_eq(hdr_reason - hdr, row_reason - row);
    ck_assert_ptr_nonnull(strstr(b.data, "shop/data-postgres-0"));
    ck_assert_ptr_nonnull(strstr(b.data, "default: backups 4/10"));
    ck_assert_ptr_nonnull(strstr(b.data, "16 total, 5 supported, 11 skipped"));
    ck_assert_ptr_nonnull(strstr(b.data, "ready 3, pending 1, failed 1; most per claim: 3 shop/data-postgres-0"));
    buf_free(&b);
}
END_TEST

START_TEST(exit_codes)
{
    struct report_opts o = {.now = NOW};
    /* Skipped PVs and unknown prerequisites: 1. */
    ck_assert_int_eq(report_exit_code(e, &o), 1);

    /* A clean cluster: only supported PVs, no claims or snapshots, full config. */
    struct engine_opts opts = *engine_get_opts(e);
    opts.cluster_identity = "system";
    opts.vault_region = opts.storage_region = "westeurope";
    opts.vault_subscription = opts.storage_subscription = "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f";
    opts.backup_policies = 12;
    opts.backup_instances = 40;
    struct engine *c = engine_new(&opts);
    struct model_type pod = model_pod_type(NULL, NULL);
    feed_file(c, &model_storageclass_type, "storage.json", "StorageClass", NULL, NULL);
    feed_file(c, &model_csidriver_type, "storage.json", "CSIDriver", NULL, NULL);
    feed_file(c, &model_snapshotclass_type, "storage.json", "VolumeSnapshotClass", NULL, NULL);
    feed_file(c, &model_node_type, "nodes.json", NULL, NULL, NULL);
    feed_file(c, &pod, "pods.json", NULL, DEFAULT_SELECTOR_KEY, DEFAULT_SELECTOR_VAL);
    engine_set_version(c, "v1.30.6");
    engine_set_snapshot_api(c, 1);
    struct pv_rec *pv = fixture_record(&model_pv_type, "persistentvolumes.json",
                                       "pvc-376cbd50-4f18-5d33-b0a1-4a849714f434");
    engine_apply(c, &model_pv_type, NULL, pv);
    engine_mark_synced(c, "persistentvolumes");
    ck_assert_int_eq(report_exit_code(c, &o), 0);
    o.quota_warn = true;
    ck_assert_int_eq(report_exit_code(c, &o), 1);
    o.quota_warn = false;
    /* A skipped PV: 1. */
    struct pv_rec *bad = fixture_record(&model_pv_type, "persistentvolumes.json", "pv-nfs-archive");
    engine_apply(c, &model_pv_type, NULL, bad);
    ck_assert_int_eq(report_exit_code(c, &o), 1);
    engine_apply(c, &model_pv_type, bad, NULL);
    ck_assert_int_eq(report_exit_code(c, &o), 0);
    /* A failing prerequisite: 2. */
    engine_set_version(c, "v1.21.2");
    ck_assert_int_eq(report_exit_code(c, &o), 2);
    engine_set_version(c, "v1.30.6");
    /* Extension not running: 2. */
    struct pod_rec *ag = fixture_record(&pod, "pods.json", "dataprotection-microsoft-controller-5bb4f6d877-9b4g9");
    ag->ready = false;
    engine_apply(c, &pod, NULL, ag);
    ck_assert_int_eq(report_exit_code(c, &o), 2);
    pod.free(ag);
    model_pv_type.free(bad);
    model_pv_type.free(pv);
    engine_free(c);
}
END_TEST

static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t l = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        n += strncmp(p, prefix, l) == 0;
    return n;
}

START_TEST(metrics_collector)
{
    struct metrics *m = metrics_new();
    ck_assert_int_eq(metrics_cluster_register(m, e), 0);
    metrics_set_cluster_enabled(m, true);
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(metrics_render(m, false, &b), 0);
    const char *t = b.data;
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_cluster_info{kubernetes_version=\"v1.30.6\",region=\"westeurope\","
                                    "subscription_id=\"6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f\"} 1\n"));
    ck_assert_int_eq(count_lines(t, "aks_backup_prerequisite_status{"), 39);
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_prerequisite_status{check=\"kubernetes_version\",status=\"pass\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_prerequisite_status{check=\"kubernetes_version\",status=\"fail\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_prerequisite_status{check=\"identity\",status=\"unknown\"} 1\n"));
    ck_assert_int_eq(count_lines(t, "aks_backup_persistent_volume_supported{"), 16);
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_persistent_volume_supported{persistentvolume=\"pvc-376cbd50-4f18-5d33-b0a1-4a849714f434\","
                                    "storageclass=\"managed-csi\",driver=\"disk.csi.azure.com\",reason=\"supported\","
                                    "claim_namespace=\"shop\",persistentvolumeclaim=\"data-postgres-0\"} 1\n"));
    ck_assert_int_eq(count_lines(t, "aks_backup_persistent_volumes{"), 7);
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_persistent_volumes{reason=\"in-tree\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_persistent_volume_claims_pending{claim_namespace=\"monitoring\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_persistent_volume_claims_pending{claim_namespace=\"shop\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_volume_snapshots{status=\"ready\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_volume_snapshots{status=\"failed\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_volume_snapshots_per_claim_max 3\n"));
    ck_assert_int_eq(count_lines(t, "aks_backup_extension_pods{"), 5);
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_extension_pods{phase=\"Running\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_extension_pods{phase=\"Failed\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_extension_pod_ready{extension_pod=\"dataprotection-microsoft-controller-5bb4f6d877-9b4g9\"} 1\n"));
    ck_assert_int_eq(count_lines(t, "aks_backup_extension_container_restarts_total{"), 4);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE aks_backup_extension_container_restarts_total counter\n"));
    /* No label of a target Prometheus adds to every scraped series. */
    ck_assert_ptr_null(strstr(t, "{namespace="));
    ck_assert_ptr_null(strstr(t, ",namespace="));
    ck_assert_ptr_null(strstr(t, "{pod="));
    ck_assert_ptr_null(strstr(t, ",pod="));
    ck_assert_ptr_null(strstr(t, "{container="));
    ck_assert_ptr_null(strstr(t, ",container="));
    ck_assert_int_eq(count_lines(t, "aks_backup_extension_container_oomkilled{"), 4);
    ck_assert_ptr_null(strstr(t, "aks_backup_vault_backup_policies"));
    ck_assert_ptr_nonnull(strstr(t, "# HELP aks_backup_persistent_volumes "));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE aks_backup_persistent_volume_supported gauge"));
    {
        /* Marked (for the gzip blocks of /metrics): the same bytes, one
         * mark where the per-PV lines start (16 PVs: one block) and one
         * right after them. */
        struct buf mb;
        buf_init(&mb, 0);
        struct metrics_marks mk = {0};
        ck_assert_int_eq(metrics_render_marked(m, false, &mb, &mk), 0);
        ck_assert_uint_eq(mb.len, b.len);
        ck_assert_int_eq(memcmp(mb.data, b.data, b.len), 0);
        ck_assert_uint_eq(mk.n, 2);
        const char *first = strstr(t, "\naks_backup_persistent_volume_supported{") + 1;
        ck_assert_uint_eq(mk.v[0], (size_t)(first - t));
        ck_assert_int_eq(count_lines(t + mk.v[0], "aks_backup_persistent_volume_supported{"), 16);
        ck_assert_int_eq(count_lines(t + mk.v[1], "aks_backup_persistent_volume_supported{"), 0);
        ck_assert_int_eq(strncmp(t + mk.v[1], "# HELP aks_backup_persistent_volumes ", 37), 0);
        metrics_marks_free(&mk);
        buf_free(&mb);
    }

    /* Known vault counts appear with their limits; a verdict change shows at the next scrape. */
    struct engine_opts o = *engine_get_opts(e);
    o.backup_policies = 12;
    ck_assert_int_eq(engine_set_opts(e, &o), 0);
    struct pv_rec *pv = fixture_pv_provisioned("pv-orders-legacy-disk", "disk.csi.azure.com");
    engine_apply(e, &model_pv_type, NULL, pv);
    model_pv_type.free(pv);
    buf_reset(&b);
    ck_assert_int_eq(metrics_render(m, false, &b), 0);
    t = b.data;
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_vault_backup_policies 12\n"));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_vault_backup_policies_limit 5000\n"));
    ck_assert_ptr_null(strstr(t, "aks_backup_vault_backup_instances "));
    ck_assert_ptr_nonnull(strstr(t, "persistentvolume=\"pv-orders-legacy-disk\",storageclass=\"\","
                                    "driver=\"disk.csi.azure.com\",reason=\"supported\""));
    ck_assert_ptr_nonnull(strstr(t, "aks_backup_persistent_volumes{reason=\"supported\"} 6\n"));

    /* Not the leader: nothing from the collector. */
    metrics_set_cluster_enabled(m, false);
    buf_reset(&b);
    ck_assert_int_eq(metrics_render(m, false, &b), 0);
    ck_assert_ptr_null(b.data ? strstr(b.data, "aks_backup_cluster_info") : NULL);
    buf_free(&b);
    metrics_cluster_unregister(m, e);
    metrics_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, json_document);
    tcase_add_test(tc, json_quota_null_and_render);
    tcase_add_test(tc, stream_equals_dom);
    tcase_add_test(tc, stuck_needs_ten_minutes);
    tcase_add_test(tc, text_report);
    tcase_add_test(tc, exit_codes);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("metrics");
    tcase_add_checked_fixture(tm, setup, teardown);
    tcase_add_test(tm, metrics_collector);
    suite_add_tcase(s, tm);
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
