/* Support-matrix editions (rules/matrix.c, classify.c, prereq.c): the
 * edition table, every per-PV reason and note under both editions,
 * Kubernetes quantities, the release calendar file, and every new
 * prerequisite passing, failing and unknown. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "config/kversions.h"
#include "rules/classify.h"
#include "rules/prereq.h"
#include "rules_support.h"
#include "util/clock.h"
#include "writers/events.h"

static const struct matrix_edition *E26, *E23;

static void setup(void)
{
    E26 = matrix_edition_find("2026-01");
    E23 = matrix_edition_find("2023-08");
    ck_assert_ptr_nonnull(E26);
    ck_assert_ptr_nonnull(E23);
}

START_TEST(edition_table)
{
    ck_assert_ptr_eq(matrix_edition_default(), E26);
    ck_assert_ptr_null(matrix_edition_find("2024-05"));
    ck_assert_ptr_null(matrix_edition_find(NULL));
    char list[64];
    matrix_edition_list(list, sizeof list);
    ck_assert_str_eq(list, "2026-01, 2023-08");
    ck_assert_int_eq(E26->schedule_tolerance_minutes, 120);
    ck_assert_int_eq(E23->schedule_tolerance_minutes, 30);
    ck_assert(matrix_namespace_excluded(E26, "kube-system"));
    ck_assert(matrix_namespace_excluded(E26, "kube-node-lease"));
    ck_assert(matrix_namespace_excluded(E26, "kube-public"));
    ck_assert(!matrix_namespace_excluded(E26, "kube-systemx"));
    ck_assert(!matrix_namespace_excluded(E23, "kube-system"));
    ck_assert(matrix_has_check(E23, PREREQ_VAULT_SAME_SUBSCRIPTION));
    ck_assert(!matrix_has_check(E26, PREREQ_VAULT_SAME_SUBSCRIPTION));
    ck_assert(!matrix_has_check(E26, PREREQ_STORAGE_SAME_SUBSCRIPTION));
    ck_assert(matrix_has_check(E26, PREREQ_BACKUP_STORAGE_LOCATION));
    ck_assert(!matrix_has_check(E23, PREREQ_LINUX_AMD64_NODES));
    ck_assert(matrix_has_reason(E23, PV_REASON_AZURE_FILES));
    ck_assert(!matrix_has_reason(E26, PV_REASON_AZURE_FILES));
    ck_assert(matrix_has_reason(E26, PV_REASON_CONTAINER_STORAGE));
    ck_assert_str_eq(pv_reason_remedy_ed(E26, PV_REASON_STATIC),
                     "set storageClassName on the PV and on its claim");
    ck_assert_str_ne(pv_reason_remedy_ed(E23, PV_REASON_STATIC), pv_reason_remedy_ed(E26, PV_REASON_STATIC));
}
END_TEST

/* A PV record built from a JSON snippet (as the API sends it). */
static struct pv_rec *pv_json(const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    ck_assert_ptr_nonnull(o);
    void *rec = NULL;
    ck_assert_int_eq(model_pv_type.extract(&model_pv_type, o, &rec), 0);
    json_object_put(o);
    return rec;
}

static struct pv_rec *csi_pv(const char *driver, const char *cls, const char *cap, const char *claim_ns,
                             bool dynamic, const char *attrs)
{
    char ann[160] = "", sc[96] = "", buf[2048];
    if (dynamic)
        snprintf(ann, sizeof ann, ",\"annotations\":{\"pv.kubernetes.io/provisioned-by\":\"%s\"}", driver);
    if (cls)
        snprintf(sc, sizeof sc, "\"storageClassName\":\"%s\",", cls);
    snprintf(buf, sizeof buf,
             "{\"metadata\":{\"name\":\"pv\",\"uid\":\"u\",\"resourceVersion\":\"1\"%s},"
             "\"spec\":{%s\"capacity\":{\"storage\":\"%s\"},"
             "\"claimRef\":{\"namespace\":\"%s\",\"name\":\"c\"},"
             "\"csi\":{\"driver\":\"%s\",\"volumeHandle\":\"h\",\"volumeAttributes\":{%s}}}}",
             ann, sc, cap, claim_ns, driver, attrs ? attrs : "");
    return pv_json(buf);
}

static enum pv_reason judge(const struct matrix_edition *ed, const struct pv_rec *pv, unsigned params,
                            int driver_ok, bool vault, uint8_t *notes)
{
    struct classify_ctx c = {.ed = ed, .class_params = params, .files_driver_ok = driver_ok,
                             .vault_tier = vault};
    return classify_pv_ctx(&c, pv, notes);
}

#define BIT(n) (uint8_t)(1u << (n))

START_TEST(every_reason_under_both_editions)
{
    uint8_t notes;
    struct pv_rec *p;
    /* excluded-namespace: 2026-01 only */
    p = csi_pv(DISK_CSI_DRIVER, "managed-csi", "8Gi", "kube-system", true, NULL);
    ck_assert_int_eq(judge(E26, p, 0, -1, false, &notes), PV_REASON_EXCLUDED_NAMESPACE);
    ck_assert_int_eq(judge(E23, p, 0, -1, false, &notes), PV_REASON_SUPPORTED);
    model_pv_type.free(p);
    /* SMB Azure Files, dynamic: supported + operational-tier-only vs azure-files */
    p = csi_pv(FILE_CSI_DRIVER, "azurefile-csi", "100Gi", "shop", true, NULL);
    ck_assert_int_eq(judge(E26, p, 0, -1, false, &notes), PV_REASON_SUPPORTED);
    ck_assert_uint_eq(notes, BIT(PV_NOTE_OPERATIONAL_TIER_ONLY));
    ck_assert_int_eq(judge(E23, p, 0, -1, false, &notes), PV_REASON_AZURE_FILES);
    /* the driver older than 1.32: azure-files-driver-too-old; unknown: still supported */
    ck_assert_int_eq(judge(E26, p, 0, 0, false, &notes), PV_REASON_AZURE_FILES_DRIVER_TOO_OLD);
    ck_assert_int_eq(judge(E26, p, 0, 1, false, &notes), PV_REASON_SUPPORTED);
    /* NFS by class parameter, private endpoint by class parameter */
    ck_assert_int_eq(judge(E26, p, SC_P_NFS, 1, false, &notes), PV_REASON_AZURE_FILES_NFS);
    ck_assert_int_eq(judge(E26, p, SC_P_PRIVATE_EP, 1, false, &notes),
                     PV_REASON_AZURE_FILES_PRIVATE_ENDPOINT);
    ck_assert_int_eq(judge(E23, p, SC_P_NFS, 1, false, &notes), PV_REASON_AZURE_FILES);
    model_pv_type.free(p);
    /* NFS by volume attribute (any case), private endpoint by attribute */
    p = csi_pv(FILE_CSI_DRIVER, "azurefile-csi", "100Gi", "shop", true, "\"protocol\":\"NfS\"");
    ck_assert_int_eq(judge(E26, p, 0, 1, false, &notes), PV_REASON_AZURE_FILES_NFS);
    model_pv_type.free(p);
    p = csi_pv(FILE_CSI_DRIVER, "azurefile-csi", "100Gi", "shop", true,
               "\"networkEndpointType\":\"privateEndpoint\"");
    ck_assert_int_eq(judge(E26, p, 0, 1, false, &notes), PV_REASON_AZURE_FILES_PRIVATE_ENDPOINT);
    model_pv_type.free(p);
    /* static: SMB Files without a class is static under 2026-01 */
    p = csi_pv(FILE_CSI_DRIVER, NULL, "1Gi", "shop", false, NULL);
    ck_assert_int_eq(judge(E26, p, 0, -1, false, &notes), PV_REASON_STATIC);
    ck_assert_int_eq(judge(E23, p, 0, -1, false, &notes), PV_REASON_AZURE_FILES);
    model_pv_type.free(p);
    /* a static disk with a class: supported under 2026-01, static under 2023-08 */
    p = csi_pv(DISK_CSI_DRIVER, "managed-csi", "32Gi", "shop", false, NULL);
    ck_assert_int_eq(judge(E26, p, 0, -1, false, &notes), PV_REASON_SUPPORTED);
    ck_assert_int_eq(judge(E23, p, 0, -1, false, &notes), PV_REASON_STATIC);
    model_pv_type.free(p);
    /* a dynamic disk whose class is "": static under 2026-01 whatever its annotation */
    p = csi_pv(DISK_CSI_DRIVER, "", "32Gi", "shop", true, NULL);
    ck_assert_int_eq(judge(E26, p, 0, -1, false, &notes), PV_REASON_STATIC);
    ck_assert_int_eq(judge(E23, p, 0, -1, false, &notes), PV_REASON_SUPPORTED);
    model_pv_type.free(p);
    /* Azure Container Storage (both driver spellings) */
    p = csi_pv(CONTAINER_STORAGE_DRIVER, "acstor", "8Gi", "shop", true, NULL);
    ck_assert_int_eq(judge(E26, p, 0, -1, false, &notes), PV_REASON_CONTAINER_STORAGE);
    ck_assert_int_eq(judge(E23, p, 0, -1, false, &notes), PV_REASON_UNSUPPORTED_DRIVER);
    model_pv_type.free(p);
    p = csi_pv("localdisk.containerstorage.azure.com", "acstor", "8Gi", "shop", true, NULL);
    ck_assert_int_eq(judge(E26, p, 0, -1, false, &notes), PV_REASON_CONTAINER_STORAGE);
    model_pv_type.free(p);
    /* blob and other drivers: the same in both */
    p = csi_pv(BLOB_CSI_DRIVER, "blob", "8Gi", "shop", true, NULL);
    ck_assert_int_eq(judge(E26, p, 0, -1, false, &notes), PV_REASON_AZURE_BLOB);
    ck_assert_int_eq(judge(E23, p, 0, -1, false, &notes), PV_REASON_AZURE_BLOB);
    model_pv_type.free(p);
    p = csi_pv("nfs.csi.k8s.io", "nfs", "8Gi", "shop", true, NULL);
    ck_assert_int_eq(judge(E26, p, 0, -1, false, &notes), PV_REASON_UNSUPPORTED_DRIVER);
    model_pv_type.free(p);
}
END_TEST

START_TEST(notes_and_quantities)
{
    uint8_t notes;
    struct pv_rec *p;
    static const struct {
        const char *cap;
        int64_t bytes;
        bool over;
    } q[] = {
        {"1Ti", 1099511627776LL, false},     {"1024Gi", 1099511627776LL, false},
        {"1099511627776", 1099511627776LL, false}, {"1099511627777", 1099511627777LL, true},
        {"1536Gi", 1649267441664LL, true},   {"1.5Ti", 1649267441664LL, true},
        {"2T", 2000000000000LL, true},       {"512Gi", 549755813888LL, false},
    };
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        p = csi_pv(DISK_CSI_DRIVER, "managed-csi", q[i].cap, "shop", true, NULL);
        ck_assert_msg(p->capacity == q[i].bytes, "%s: %lld", q[i].cap, (long long)p->capacity);
        ck_assert_int_eq(judge(E26, p, 0, -1, true, &notes), PV_REASON_SUPPORTED);
        ck_assert_msg(notes == (q[i].over ? BIT(PV_NOTE_NVE_SIZE) : 0), "%s: notes %u", q[i].cap, notes);
        /* without the Vault tier, or under 2023-08: no notes */
        judge(E26, p, 0, -1, false, &notes);
        ck_assert_uint_eq(notes, 0);
        judge(E23, p, 0, -1, true, &notes);
        ck_assert_uint_eq(notes, 0);
        model_pv_type.free(p);
    }
    /* a value that is not a quantity: a note, never a crash */
    p = csi_pv(DISK_CSI_DRIVER, "managed-csi", "lots", "shop", true, NULL);
    ck_assert_int_eq(p->capacity, -1);
    ck_assert_int_eq(judge(E26, p, 0, -1, true, &notes), PV_REASON_SUPPORTED);
    ck_assert_uint_eq(notes, BIT(PV_NOTE_UNPARSABLE_CAPACITY));
    model_pv_type.free(p);
    /* class parameters */
    p = csi_pv(DISK_CSI_DRIVER, "x", "64Gi", "shop", true, NULL);
    judge(E26, p, SC_P_SLOW_SKU, -1, false, &notes);
    ck_assert_uint_eq(notes, BIT(PV_NOTE_SLOW_SNAPSHOT_SKU));
    judge(E26, p, SC_P_DES | SC_P_NET_PRIVATE | SC_P_AAD, -1, true, &notes);
    ck_assert_uint_eq(notes, BIT(PV_NOTE_NVE_DISK_ENCRYPTION_SET) | BIT(PV_NOTE_NVE_NETWORK_ACCESS) |
                                 BIT(PV_NOTE_NVE_AAD_DATA_ACCESS));
    judge(E26, p, SC_P_DES | SC_P_NET_PRIVATE | SC_P_AAD, -1, false, &notes);
    ck_assert_uint_eq(notes, 0);
    model_pv_type.free(p);
    ck_assert_str_eq(pv_note_code(PV_NOTE_NVE_SIZE), "not-vault-eligible:size");
    ck_assert_str_eq(pv_note_code(PV_NOTE_NVE_AAD_DATA_ACCESS), "not-vault-eligible:aad-data-access");
}
END_TEST

START_TEST(storage_class_parameters)
{
    struct json_object *o = json_tokener_parse(
        "{\"metadata\":{\"name\":\"c\",\"uid\":\"u\",\"resourceVersion\":\"1\"},"
        "\"provisioner\":\"disk.csi.azure.com\",\"parameters\":{\"skuname\":\"ultrassd_lrs\","
        "\"diskEncryptionSetID\":\"/sub/x\",\"networkAccessPolicy\":\"AllowPrivate\","
        "\"dataAccessAuthMode\":\"AzureActiveDirectory\",\"protocol\":\"NFS\","
        "\"networkEndpointType\":\"privateendpoint\"}}");
    void *rec = NULL;
    ck_assert_int_eq(model_storageclass_type.extract(&model_storageclass_type, o, &rec), 0);
    const struct storageclass_rec *sc = rec;
    ck_assert_uint_eq(sc->params, SC_P_SLOW_SKU | SC_P_DES | SC_P_NET_PRIVATE | SC_P_AAD | SC_P_NFS |
                                      SC_P_PRIVATE_EP);
    model_storageclass_type.free(rec);
    json_object_put(o);
}
END_TEST

START_TEST(class_verdicts_per_edition)
{
    struct classify_ctx c26 = {.ed = E26, .files_driver_ok = -1};
    struct classify_ctx c23 = {.ed = E23, .files_driver_ok = -1};
    ck_assert_int_eq(classify_class(&c26, FILE_CSI_DRIVER), PV_REASON_SUPPORTED);
    ck_assert_int_eq(classify_class(&c23, FILE_CSI_DRIVER), PV_REASON_AZURE_FILES);
    ck_assert_int_eq(classify_class(&c26, "kubernetes.io/no-provisioner"), PV_REASON_SUPPORTED);
    ck_assert_int_eq(classify_class(&c23, "kubernetes.io/no-provisioner"), PV_REASON_STATIC);
    ck_assert_int_eq(classify_class(&c26, CONTAINER_STORAGE_DRIVER), PV_REASON_CONTAINER_STORAGE);
    ck_assert_int_eq(classify_class(&c23, CONTAINER_STORAGE_DRIVER), PV_REASON_UNSUPPORTED_DRIVER);
    c26.class_params = SC_P_NFS;
    ck_assert_int_eq(classify_class(&c26, FILE_CSI_DRIVER), PV_REASON_AZURE_FILES_NFS);
    c26.class_params = 0;
    c26.files_driver_ok = 0;
    ck_assert_int_eq(classify_class(&c26, FILE_CSI_DRIVER), PV_REASON_AZURE_FILES_DRIVER_TOO_OLD);
    char msg[512];
    classify_class_message_ctx(&c26, "azurefile-csi", FILE_CSI_DRIVER, msg, sizeof msg);
    ck_assert_ptr_nonnull(strstr(msg, "storage class azurefile-csi is skipped by AKS backup"));
    ck_assert_ptr_nonnull(strstr(msg, "1.32"));
}
END_TEST

START_TEST(kversions_file)
{
    struct kversions kv;
    char err[256];
    ck_assert_int_eq(kversions_parse(&kv, "# c\n\n1.33 2026-07-31 lts 2027-07-31 # x\n1.34 2026-11-30\n",
                                     "f", err, sizeof err), 0);
    ck_assert_uint_eq(kv.n, 2);
    const struct kversion *k = kversions_find(&kv, 1, 33);
    ck_assert_ptr_nonnull(k);
    int64_t t;
    ck_assert_int_eq(clock_parse_rfc3339("2026-08-01T00:00:00Z", &t, NULL), 0);
    ck_assert_int_eq(k->end, t); /* through the last day */
    ck_assert_str_eq(k->lts_date, "2027-07-31");
    ck_assert_int_eq(kversions_find(&kv, 1, 34)->lts_end, 0);
    ck_assert_ptr_null(kversions_find(&kv, 1, 35));
    kversions_free(&kv);
    ck_assert_int_eq(kversions_parse(&kv, "1.33 2026-02-30\n", "f", err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "f:1: expected an end-of-support date YYYY-MM-DD after the version");
    ck_assert_int_eq(kversions_parse(&kv, "1.33 2026-07-31\nbad 2026-01-01\n", "f", err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "f:2:"));
    ck_assert_int_eq(kversions_parse(&kv, "1.33 2026-07-31 lts\n", "f", err, sizeof err), -EINVAL);
    /* The shipped copy parses and has the calendar's recent minors. */
    ck_assert_int_eq(kversions_parse(&kv, kversions_builtin, "builtin", err, sizeof err), 0);
    ck_assert_ptr_nonnull(kversions_find(&kv, 1, 30));
    ck_assert_ptr_nonnull(kversions_find(&kv, 1, 34));
    kversions_free(&kv);
}
END_TEST

static int64_t at(const char *ts)
{
    int64_t t;
    ck_assert_int_eq(clock_parse_rfc3339(ts, &t, NULL), 0);
    return t;
}

static struct kversions kv_test;

static struct prereq_input base26(void)
{
    char err[128];
    kversions_free(&kv_test);
    ck_assert_int_eq(kversions_parse(&kv_test, "1.30 2025-08-22 lts 2026-07-31\n1.33 2026-07-31\n",
                                     "t", err, sizeof err), 0);
    struct prereq_input in = {
        .edition = E26, .now = at("2026-03-14T15:00:00Z"), .kversions = &kv_test,
        .kubernetes_version = "v1.33.2", .csi_disk_driver = 1, .snapshot_api = 1, .snapshot_class = 1,
        .cluster_region = "westeurope", .cluster_subscription = "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f",
        .policies_limit = 5000, .instances_limit = 5000, .extension_running = 1,
        .facts = {.cluster_identity = "", .backup_policies = -1, .backup_instances = -1},
        .files_pvs = 1, .files_driver_version = "v1.32.5", .linux_amd64_ready = 3, .nodes = 4,
        .other_velero_locations = 0, .bsl_state = 1, .bsl_detail = "dataprotection-microsoft/default: Available",
        .namespaces_in_scope = 12,
    };
    return in;
}

static enum prereq_status status_of(const struct prereq_input *in, enum prereq_check c)
{
    struct prereq_result r[PREREQ_COUNT];
    prereq_evaluate(in, r);
    ck_assert_msg(r[c].applies, "%s does not apply", prereq_check_name(c));
    ck_assert_str_ne(r[c].expected, "");
    if (r[c].status != PREREQ_PASS)
        ck_assert_str_ne(r[c].remedy, "");
    return r[c].status;
}

START_TEST(new_prerequisites_pass_fail_unknown)
{
    struct prereq_input in = base26();
    /* kubernetes_version against the calendar */
    ck_assert_int_eq(status_of(&in, PREREQ_KUBERNETES_VERSION), PREREQ_PASS);
    in.now = at("2026-08-01T00:00:00Z");
    ck_assert_int_eq(status_of(&in, PREREQ_KUBERNETES_VERSION), PREREQ_FAIL); /* past its end */
    in.kubernetes_version = "v1.30.6";
    in.now = at("2026-07-10T00:00:00Z");
    ck_assert_int_eq(status_of(&in, PREREQ_KUBERNETES_VERSION), PREREQ_PASS); /* LTS only */
    in.kubernetes_version = "v1.27.9+abc";
    ck_assert_int_eq(status_of(&in, PREREQ_KUBERNETES_VERSION), PREREQ_FAIL); /* not listed */
    in.kversions = NULL;
    ck_assert_int_eq(status_of(&in, PREREQ_KUBERNETES_VERSION), PREREQ_UNKNOWN);
    in = base26();
    in.kubernetes_version = NULL;
    ck_assert_int_eq(status_of(&in, PREREQ_KUBERNETES_VERSION), PREREQ_UNKNOWN);
    in.edition = E23; /* the old rule: >= 1.22 whatever the date */
    in.kubernetes_version = "v1.27.9";
    in.now = at("2030-01-01T00:00:00Z");
    ck_assert_int_eq(status_of(&in, PREREQ_KUBERNETES_VERSION), PREREQ_PASS);

    /* csi_file_driver_version: only with SMB Files PVs */
    in = base26();
    ck_assert_int_eq(status_of(&in, PREREQ_CSI_FILE_DRIVER_VERSION), PREREQ_PASS);
    in.files_driver_version = "v1.31.9";
    ck_assert_int_eq(status_of(&in, PREREQ_CSI_FILE_DRIVER_VERSION), PREREQ_FAIL);
    in.files_driver_version = "";
    ck_assert_int_eq(status_of(&in, PREREQ_CSI_FILE_DRIVER_VERSION), PREREQ_UNKNOWN);
    in.files_pvs = 0;
    struct prereq_result r[PREREQ_COUNT];
    prereq_evaluate(&in, r);
    ck_assert(!r[PREREQ_CSI_FILE_DRIVER_VERSION].applies);

    /* storage_account_kind */
    in = base26();
    ck_assert_int_eq(status_of(&in, PREREQ_STORAGE_ACCOUNT_KIND), PREREQ_UNKNOWN);
    in.facts.storage_kind = "StorageV2";
    in.facts.storage_sku = "Standard_ZRS";
    ck_assert_int_eq(status_of(&in, PREREQ_STORAGE_ACCOUNT_KIND), PREREQ_PASS);
    in.facts.storage_sku = "Premium_LRS";
    ck_assert_int_eq(status_of(&in, PREREQ_STORAGE_ACCOUNT_KIND), PREREQ_FAIL);
    in.facts.storage_kind = "BlobStorage";
    in.facts.storage_sku = "Standard_LRS";
    ck_assert_int_eq(status_of(&in, PREREQ_STORAGE_ACCOUNT_KIND), PREREQ_FAIL);

    /* identity: system or user under 2026-01, system only under 2023-08 */
    in = base26();
    ck_assert_int_eq(status_of(&in, PREREQ_IDENTITY), PREREQ_UNKNOWN);
    in.facts.cluster_identity = "user";
    ck_assert_int_eq(status_of(&in, PREREQ_IDENTITY), PREREQ_PASS);
    in.facts.cluster_identity = "service-principal";
    ck_assert_int_eq(status_of(&in, PREREQ_IDENTITY), PREREQ_FAIL);
    in.facts.cluster_identity = "user";
    in.edition = E23;
    ck_assert_int_eq(status_of(&in, PREREQ_IDENTITY), PREREQ_FAIL);

    /* linux_amd64_nodes */
    in = base26();
    ck_assert_int_eq(status_of(&in, PREREQ_LINUX_AMD64_NODES), PREREQ_PASS);
    in.linux_amd64_ready = 0;
    ck_assert_int_eq(status_of(&in, PREREQ_LINUX_AMD64_NODES), PREREQ_FAIL);
    in.nodes = in.linux_amd64_ready = -1;
    ck_assert_int_eq(status_of(&in, PREREQ_LINUX_AMD64_NODES), PREREQ_UNKNOWN);

    /* no_other_velero */
    in = base26();
    ck_assert_int_eq(status_of(&in, PREREQ_NO_OTHER_VELERO), PREREQ_PASS);
    in.other_velero_locations = 1;
    in.other_velero_example = "velero/default";
    ck_assert_int_eq(status_of(&in, PREREQ_NO_OTHER_VELERO), PREREQ_FAIL);
    in.other_velero_locations = -1;
    ck_assert_int_eq(status_of(&in, PREREQ_NO_OTHER_VELERO), PREREQ_UNKNOWN);

    /* backup_storage_location */
    in = base26();
    ck_assert_int_eq(status_of(&in, PREREQ_BACKUP_STORAGE_LOCATION), PREREQ_PASS);
    in.bsl_state = 0;
    in.bsl_detail = "dataprotection-microsoft/default: Unavailable: 403";
    ck_assert_int_eq(status_of(&in, PREREQ_BACKUP_STORAGE_LOCATION), PREREQ_FAIL);
    in.bsl_state = -1;
    in.bsl_detail = NULL;
    ck_assert_int_eq(status_of(&in, PREREQ_BACKUP_STORAGE_LOCATION), PREREQ_UNKNOWN);

    /* namespaces_within_limit: 800 per backup instance */
    in = base26();
    in.namespaces_in_scope = 800;
    ck_assert_int_eq(status_of(&in, PREREQ_NAMESPACES_WITHIN_LIMIT), PREREQ_PASS);
    in.namespaces_in_scope = 801;
    ck_assert_int_eq(status_of(&in, PREREQ_NAMESPACES_WITHIN_LIMIT), PREREQ_FAIL);
    in.namespaces_in_scope = -1;
    ck_assert_int_eq(status_of(&in, PREREQ_NAMESPACES_WITHIN_LIMIT), PREREQ_UNKNOWN);

    /* region_supported with the Vault tier in an operational-tier-only region */
    struct regions regs;
    load_regions(&regs);
    in = base26();
    in.regions = &regs;
    in.cluster_region = "spaincentral";
    ck_assert_int_eq(status_of(&in, PREREQ_REGION_SUPPORTED), PREREQ_PASS);
    in.facts.vault_tier = true;
    ck_assert_int_eq(status_of(&in, PREREQ_REGION_SUPPORTED), PREREQ_FAIL);
    in.edition = E23; /* no Vault tier in that edition */
    ck_assert_int_eq(status_of(&in, PREREQ_REGION_SUPPORTED), PREREQ_PASS);
    regions_free(&regs);

    /* the subscription checks exist only in 2023-08 */
    in = base26();
    prereq_evaluate(&in, r);
    ck_assert(!r[PREREQ_VAULT_SAME_SUBSCRIPTION].applies && !r[PREREQ_STORAGE_SAME_SUBSCRIPTION].applies);
    in.edition = E23;
    prereq_evaluate(&in, r);
    ck_assert(r[PREREQ_VAULT_SAME_SUBSCRIPTION].applies && !r[PREREQ_BACKUP_STORAGE_LOCATION].applies);
    kversions_free(&kv_test);
}
END_TEST

START_TEST(version_standing_warnings)
{
    struct prereq_input in = base26();
    int64_t end;
    const char *date = NULL;
    in.kubernetes_version = "v1.33.2";
    in.now = at("2026-07-10T00:00:00Z"); /* 21 days before 2026-07-31 ends */
    ck_assert_int_eq(prereq_version_standing(&in, E26, &end, &date), 1);
    ck_assert_str_eq(date, "2026-07-31");
    in.now = at("2026-06-01T00:00:00Z");
    ck_assert_int_eq(prereq_version_standing(&in, E26, &end, &date), 0);
    in.kubernetes_version = "v1.30.6";
    in.now = at("2026-03-14T00:00:00Z");
    ck_assert_int_eq(prereq_version_standing(&in, E26, &end, &date), 2);
    ck_assert_str_eq(date, "2026-07-31");
    ck_assert_int_eq(prereq_version_standing(&in, E23, &end, &date), 0);
    kversions_free(&kv_test);

    /* Through the engine: the warnings carry the codes. */
    struct regions regs;
    load_regions(&regs);
    struct engine *e = cluster_engine_ed(&regs, false, "2026-01");
    char err[64];
    struct kversions kv;
    ck_assert_int_eq(kversions_parse(&kv, "1.30 2025-08-22 lts 2026-07-31\n", "t", err, sizeof err), 0);
    struct engine_opts o = *engine_get_opts(e);
    o.kversions = &kv;
    ck_assert_int_eq(engine_set_opts(e, &o), 0);
    engine_set_now(e, at("2026-03-14T15:00:00Z"));
    struct engine_warning *w;
    size_t n;
    ck_assert_int_eq(engine_warnings(e, at("2026-03-14T15:00:00Z"), &w, &n), 0);
    bool lts = false;
    for (size_t i = 0; i < n; i++)
        lts |= strcmp(w[i].code, "kubernetes-version-lts-only") == 0;
    ck_assert(lts);
    engine_warnings_free(w, n);
    struct prereq_result r[PREREQ_COUNT];
    engine_prerequisites(e, r);
    ck_assert_int_eq(r[PREREQ_KUBERNETES_VERSION].status, PREREQ_PASS);
    ck_assert_int_eq(r[PREREQ_LINUX_AMD64_NODES].status, PREREQ_PASS);
    engine_set_now(e, at("2026-08-01T00:00:00Z"));
    engine_prerequisites(e, r);
    ck_assert_int_eq(r[PREREQ_KUBERNETES_VERSION].status, PREREQ_FAIL);
    engine_free(e);
    kversions_free(&kv);
    regions_free(&regs);
}
END_TEST

/* The fixture cluster under both editions through the engine: the counts of
 * tests/fixtures/README.md. */
START_TEST(fixture_counts_per_edition)
{
    struct regions regs;
    load_regions(&regs);
    struct engine *e = cluster_engine_ed(&regs, false, "2023-08");
    struct prereq_result pr[PREREQ_COUNT];
    engine_prerequisites(e, pr);
    ck_assert(!pr[PREREQ_CSI_FILE_DRIVER_VERSION].applies); /* not a check of 2023-08 */
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_AZURE_FILES), 2);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_SUPPORTED), 5);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_STATIC), 1);
    /* switch the edition on the same engine (a reload) */
    struct engine_opts o = *engine_get_opts(e);
    o.edition = E26;
    ck_assert_int_eq(engine_set_opts(e, &o), 0);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_AZURE_FILES), 0);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_SUPPORTED), 6);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_STATIC), 2);
    ck_assert_uint_eq(engine_pv_note_count(e, PV_NOTE_OPERATIONAL_TIER_ONLY), 1);
    /* two SMB Azure Files PVs (one static): the driver check exists, version unknown */
    engine_prerequisites(e, pr);
    ck_assert(pr[PREREQ_CSI_FILE_DRIVER_VERSION].applies);
    ck_assert_int_eq(pr[PREREQ_CSI_FILE_DRIVER_VERSION].status, PREREQ_UNKNOWN);
    struct engine_pv pv;
    ck_assert(engine_pv_get(e, "pvc-6071e9a0-3d4d-5cad-9c9f-c866f2585f8b", &pv));
    ck_assert_int_eq(pv.reason, PV_REASON_SUPPORTED);
    /* the driver's version from the DaemonSet: older than 1.32 re-judges */
    engine_set_files_driver_version(e, "v1.31.2");
    ck_assert(engine_pv_get(e, "pvc-6071e9a0-3d4d-5cad-9c9f-c866f2585f8b", &pv));
    ck_assert_int_eq(pv.reason, PV_REASON_AZURE_FILES_DRIVER_TOO_OLD);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_AZURE_FILES_DRIVER_TOO_OLD), 2);
    engine_prerequisites(e, pr);
    ck_assert_int_eq(pr[PREREQ_CSI_FILE_DRIVER_VERSION].status, PREREQ_FAIL);
    engine_set_files_driver_version(e, "v1.32.0");
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_AZURE_FILES_DRIVER_TOO_OLD), 0);
    engine_prerequisites(e, pr);
    ck_assert_int_eq(pr[PREREQ_CSI_FILE_DRIVER_VERSION].status, PREREQ_PASS);
    /* the SMB Files PVs go away: the check is absent again */
    struct pv_rec *a = fixture_record(&model_pv_type, "persistentvolumes.json", "pvc-6071e9a0-3d4d-5cad-9c9f-c866f2585f8b");
    struct pv_rec *b = fixture_record(&model_pv_type, "persistentvolumes.json", "pv-shared-config");
    engine_apply(e, &model_pv_type, a, NULL);
    engine_apply(e, &model_pv_type, b, NULL);
    model_pv_type.free(a);
    model_pv_type.free(b);
    engine_prerequisites(e, pr);
    ck_assert(!pr[PREREQ_CSI_FILE_DRIVER_VERSION].applies);
    engine_free(e);
    regions_free(&regs);
}
END_TEST

START_TEST(events_pending_pods_and_disk_limit)
{
    /* Events carry the edition's remedy. */
    char msg[512];
    event_message_ed(msg, sizeof msg, PV_REASON_STATIC, E26);
    ck_assert_str_eq(msg, "AKS backup skips this volume (static): set storageClassName on the PV and on its claim");
    event_message_ed(msg, sizeof msg, PV_REASON_CONTAINER_STORAGE, E26);
    ck_assert_ptr_nonnull(strstr(msg, "(container-storage)"));

    /* A Pending extension pod names its scheduling message. */
    struct engine_opts o;
    engine_opts_default(&o);
    struct engine *e = engine_new(&o);
    struct json_object *pj = json_tokener_parse(
        "{\"metadata\":{\"name\":\"dataprotection-microsoft-kubernetes-agent-0\",\"namespace\":"
        "\"dataprotection-microsoft\",\"uid\":\"u\",\"resourceVersion\":\"1\"},"
        "\"spec\":{\"containers\":[{\"name\":\"agent\"}]},\"status\":{\"phase\":\"Pending\","
        "\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"False\",\"reason\":\"Unschedulable\","
        "\"message\":\"0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector.\"}]}}");
    struct model_type pt = model_pod_type("dataprotection-microsoft", NULL);
    void *pod = NULL;
    ck_assert_int_eq(pt.extract(&pt, pj, &pod), 0);
    json_object_put(pj);
    engine_apply(e, &pt, NULL, pod);
    engine_mark_synced(e, "pods");
    char why[512];
    engine_pod_reason(pod, why, sizeof why);
    ck_assert_str_eq(why, "Unschedulable: 0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector.");
    pt.free(pod);
    struct prereq_result r[PREREQ_COUNT];
    engine_prerequisites(e, r);
    ck_assert_int_eq(r[PREREQ_EXTENSION_RUNNING].status, PREREQ_FAIL);
    ck_assert_ptr_nonnull(strstr(r[PREREQ_EXTENSION_RUNNING].observed, "node affinity/selector"));
    engine_free(e);

    /* More than 100 supported disks in the backup scope with the Vault tier. */
    engine_opts_default(&o);
    o.vault_tier = true;
    e = engine_new(&o);
    for (int i = 0; i < 101; i++) {
        char buf[768];
        snprintf(buf, sizeof buf,
                 "{\"metadata\":{\"name\":\"pv-%03d\",\"uid\":\"u%d\",\"resourceVersion\":\"1\","
                 "\"annotations\":{\"pv.kubernetes.io/provisioned-by\":\"disk.csi.azure.com\"}},"
                 "\"spec\":{\"storageClassName\":\"managed-csi\",\"capacity\":{\"storage\":\"8Gi\"},"
                 "\"claimRef\":{\"namespace\":\"%s\",\"name\":\"c%d\"},"
                 "\"csi\":{\"driver\":\"disk.csi.azure.com\",\"volumeHandle\":\"h\"}}}",
                 i, i, i == 100 ? "kube-system" : "shop", i);
        struct pv_rec *p = pv_json(buf);
        engine_apply(e, &model_pv_type, NULL, p);
        model_pv_type.free(p);
    }
    struct engine_warning *w;
    size_t n;
    bool many = false;
    ck_assert_int_eq(engine_warnings(e, 0, &w, &n), 0);
    for (size_t i = 0; i < n; i++)
        many |= strcmp(w[i].code, "vault-tier-too-many-disks") == 0;
    engine_warnings_free(w, n);
    ck_assert(!many); /* 100 in scope: the one in kube-system is excluded */
    struct pv_rec *p = pv_json("{\"metadata\":{\"name\":\"pv-x\",\"uid\":\"ux\",\"resourceVersion\":\"1\"},"
                               "\"spec\":{\"storageClassName\":\"managed-csi\",\"claimRef\":{\"namespace\":"
                               "\"shop\",\"name\":\"cx\"},\"csi\":{\"driver\":\"disk.csi.azure.com\"}}}");
    engine_apply(e, &model_pv_type, NULL, p);
    model_pv_type.free(p);
    ck_assert_int_eq(engine_warnings(e, 0, &w, &n), 0);
    for (size_t i = 0; i < n; i++)
        many |= strcmp(w[i].code, "vault-tier-too-many-disks") == 0;
    engine_warnings_free(w, n);
    ck_assert(many);
    engine_free(e);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("matrix");
    TCase *tc = tcase_create("matrix");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, edition_table);
    tcase_add_test(tc, every_reason_under_both_editions);
    tcase_add_test(tc, notes_and_quantities);
    tcase_add_test(tc, storage_class_parameters);
    tcase_add_test(tc, class_verdicts_per_edition);
    tcase_add_test(tc, kversions_file);
    tcase_add_test(tc, new_prerequisites_pass_fail_unknown);
    tcase_add_test(tc, version_standing_warnings);
    tcase_add_test(tc, fixture_counts_per_edition);
    tcase_add_test(tc, events_pending_pods_and_disk_limit);
    suite_add_tcase(s, tc);
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
