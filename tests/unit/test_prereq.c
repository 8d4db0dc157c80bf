/* Prerequisites (rules/prereq.c, through the engine): the fixture cluster
 * with the default config (6 pass, 7 unknown) and the full config (13
 * pass), version parsing edge cases, region/subscription comparison, the
 * limit checks, the checks only the Azure view feeds and its overlay. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rules/prereq.h"
#include "rules_support.h"

static struct regions regs;

static void setup(void)
{
    load_regions(&regs);
}

static void teardown(void)
{
    regions_free(&regs);
}

START_TEST(default_config)
{
    struct engine *e = cluster_engine(&regs, false);
    struct prereq_result r[PREREQ_COUNT];
    engine_prerequisites(e, r);
    static const enum prereq_check pass[] = {
        PREREQ_KUBERNETES_VERSION, PREREQ_CSI_DISK_DRIVER, PREREQ_SNAPSHOT_API,
        PREREQ_SNAPSHOT_CLASS, PREREQ_REGION_SUPPORTED, PREREQ_EXTENSION_RUNNING,
    };
    int npass = 0;
    for (int i = 0; i < PREREQ_COUNT; i++) {
        if (!r[i].applies)
            continue;
        bool want_pass = false;
        for (size_t j = 0; j < sizeof(pass) / sizeof(pass[0]); j++)
            want_pass |= pass[j] == (enum prereq_check)i;
        ck_assert_msg(r[i].status == (want_pass ? PREREQ_PASS : PREREQ_UNKNOWN), "%s is %s",
                      prereq_check_name(i), prereq_status_name(r[i].status));
        npass += r[i].status == PREREQ_PASS;
        if (r[i].status != PREREQ_PASS)
            ck_assert_str_ne(r[i].remedy, "");
    }
    ck_assert_int_eq(npass, 6);
    ck_assert_str_eq(r[PREREQ_KUBERNETES_VERSION].observed, "v1.30.6");
    ck_assert_str_eq(r[PREREQ_REGION_SUPPORTED].observed, "westeurope");
    char why[128];
    ck_assert(engine_prerequisites_ok(e, why, sizeof(why)));
    engine_free(e);
}
END_TEST

START_TEST(full_config)
{
    struct engine *e = cluster_engine(&regs, true);
    struct prereq_result r[PREREQ_COUNT];
    engine_prerequisites(e, r);
    for (int i = 0; i < PREREQ_COUNT; i++)
        ck_assert_msg(!r[i].applies || r[i].status == PREREQ_PASS, "%s is %s (%s)", prereq_check_name(i),
                      prereq_status_name(r[i].status), r[i].observed);
    engine_free(e);
}
END_TEST

START_TEST(names_in_order)
{
    static const char *names[] = {
        "kubernetes_version", "csi_disk_driver", "snapshot_api", "snapshot_class",
        "csi_file_driver_version", "region_supported", "vault_same_region",
        "vault_same_subscription", "storage_same_region", "storage_same_subscription",
        "storage_account_kind", "identity", "linux_amd64_nodes", "no_other_velero",
        "namespaces_within_limit", "policies_within_limit", "instances_within_limit",
        "extension_running", "backup_storage_location",
        "trusted_access",
    };
    for (int i = 0; i < PREREQ_COUNT; i++)
        ck_assert_str_eq(prereq_check_name(i), names[i]);
    ck_assert_str_eq(prereq_status_name(PREREQ_PASS), "pass");
    ck_assert_str_eq(prereq_status_name(PREREQ_FAIL), "fail");
    ck_assert_str_eq(prereq_status_name(PREREQ_UNKNOWN), "unknown");
}
END_TEST

START_TEST(version_parsing)
{
    int ma, mi;
    ck_assert_int_eq(prereq_parse_version("v1.29.7", &ma, &mi), 0);
    ck_assert_int_eq(ma, 1);
    ck_assert_int_eq(mi, 29);
    ck_assert_int_eq(prereq_parse_version("v1.27.9+abc", &ma, &mi), 0);
    ck_assert_int_eq(mi, 27);
    ck_assert_int_eq(prereq_parse_version("1.30", &ma, &mi), 0);
    ck_assert_int_eq(mi, 30);
    ck_assert_int_eq(prereq_parse_version("v1.28.3-gke.1", &ma, &mi), 0);
    ck_assert_int_eq(prereq_parse_version("v1", &ma, &mi), -EINVAL);
    ck_assert_int_eq(prereq_parse_version("vx.y", &ma, &mi), -EINVAL);
    ck_assert_int_eq(prereq_parse_version("v1.2x", &ma, &mi), -EINVAL);
    ck_assert_int_eq(prereq_parse_version("", &ma, &mi), -EINVAL);
    ck_assert_int_eq(prereq_parse_minor("27+", &mi), 0);
    ck_assert_int_eq(mi, 27);
    ck_assert_int_eq(prereq_parse_minor("30", &mi), 0);
    ck_assert_int_eq(prereq_parse_minor("30-", &mi), -EINVAL);
    ck_assert_int_eq(prereq_parse_minor("+", &mi), -EINVAL);
}
END_TEST

static enum prereq_status version_status(struct engine *e, const char *git, const char *major,
                                         const char *minor)
{
    engine_set_version_info(e, git, major, minor);
    struct prereq_result r[PREREQ_COUNT];
    engine_prerequisites(e, r);
    return r[PREREQ_KUBERNETES_VERSION].status;
}

START_TEST(version_checks)
{
    struct engine *e = cluster_engine(&regs, false);
    ck_assert_int_eq(version_status(e, "v1.21.14", NULL, NULL), PREREQ_FAIL);
    ck_assert_int_eq(version_status(e, "v1.22.0", NULL, NULL), PREREQ_PASS);
    ck_assert_int_eq(version_status(e, "v1.27.9+abc", NULL, NULL), PREREQ_PASS);
    ck_assert_int_eq(version_status(e, "v2.0.0", NULL, NULL), PREREQ_PASS);
    ck_assert_int_eq(version_status(e, NULL, NULL, NULL), PREREQ_UNKNOWN);
    ck_assert_int_eq(version_status(e, "weird", "1", "27+"), PREREQ_PASS);
    ck_assert_str_eq(engine_kubernetes_version(e), "v1.27");
    ck_assert_int_eq(version_status(e, NULL, "1", "21+"), PREREQ_FAIL);
    ck_assert_int_eq(version_status(e, "weird", NULL, NULL), PREREQ_UNKNOWN);
    char why[256];
    engine_set_version(e, "v1.21.3");
    ck_assert(!engine_prerequisites_ok(e, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "kubernetes_version"));
    engine_free(e);
}
END_TEST

static struct prereq_input base(void)
{
    struct prereq_input in = {
        .kubernetes_version = "v1.30.6", .csi_disk_driver = 1, .snapshot_api = 1,
        .snapshot_class = 1, .cluster_region = "westeurope",
        .cluster_subscription = "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f",
        .regions = &regs, .policies_limit = 5000, .instances_limit = 5000,
        .extension_running = 1, .edition = matrix_edition_find("2023-08"),
        .facts = {.cluster_identity = "", .backup_policies = -1, .backup_instances = -1},
    };
    return in;
}

START_TEST(region_compare)
{
    struct prereq_result r[PREREQ_COUNT];
    struct prereq_input in = base();
    in.facts.vault_region = "West Europe";
    in.facts.storage_region = "WestEurope";
    in.facts.vault_subscription = "6B0F2F3E-8C1D-4A5B-9E7F-2D3C4B5A6E7F";
    in.facts.storage_subscription = "00000000-0000-0000-0000-000000000000";
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_VAULT_SAME_REGION].status, PREREQ_PASS);
    ck_assert_int_eq(r[PREREQ_STORAGE_SAME_REGION].status, PREREQ_PASS);
    ck_assert_int_eq(r[PREREQ_VAULT_SAME_SUBSCRIPTION].status, PREREQ_PASS);
    ck_assert_int_eq(r[PREREQ_STORAGE_SAME_SUBSCRIPTION].status, PREREQ_FAIL);
    in.facts.vault_region = "eastus";
    in.cluster_region = "West Europe";
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_VAULT_SAME_REGION].status, PREREQ_FAIL);
    ck_assert_int_eq(r[PREREQ_REGION_SUPPORTED].status, PREREQ_PASS);
    /* Unknown cluster value: unknown, not fail. */
    in.cluster_region = "";
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_VAULT_SAME_REGION].status, PREREQ_UNKNOWN);
    ck_assert_int_eq(r[PREREQ_REGION_SUPPORTED].status, PREREQ_UNKNOWN);
    in.cluster_region = "Atlantis Central";
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_REGION_SUPPORTED].status, PREREQ_FAIL);
    in.regions = NULL;
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_REGION_SUPPORTED].status, PREREQ_UNKNOWN);
}
END_TEST

START_TEST(identity_and_limits)
{
    struct prereq_result r[PREREQ_COUNT];
    struct prereq_input in = base();
    in.facts.cluster_identity = "user";
    in.facts.backup_policies = 4999;
    in.facts.backup_instances = 5001;
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_IDENTITY].status, PREREQ_FAIL);
    ck_assert_int_eq(r[PREREQ_POLICIES_WITHIN_LIMIT].status, PREREQ_PASS);
    ck_assert_int_eq(r[PREREQ_INSTANCES_WITHIN_LIMIT].status, PREREQ_FAIL); /* over the limit */
    ck_assert_str_eq(r[PREREQ_INSTANCES_WITHIN_LIMIT].observed, "5001");
    in.facts.backup_instances = 5000;
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_INSTANCES_WITHIN_LIMIT].status, PREREQ_PASS); /* at the limit */
    in.facts.cluster_identity = "system";
    in.facts.backup_instances = 0;
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_IDENTITY].status, PREREQ_PASS);
    ck_assert_int_eq(r[PREREQ_INSTANCES_WITHIN_LIMIT].status, PREREQ_PASS);
    in.extension_running = 0;
    in.extension_detail = "no pods";
    in.csi_disk_driver = -1;
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_EXTENSION_RUNNING].status, PREREQ_FAIL);
    ck_assert_str_eq(r[PREREQ_EXTENSION_RUNNING].observed, "no pods");
    ck_assert_int_eq(r[PREREQ_CSI_DISK_DRIVER].status, PREREQ_UNKNOWN);
}
END_TEST

START_TEST(unsynced_engine_is_unknown)
{
    struct engine *e = engine_new(NULL);
    struct prereq_result r[PREREQ_COUNT];
    engine_prerequisites(e, r);
    for (int i = 0; i < PREREQ_COUNT; i++)
        ck_assert_msg(!r[i].applies || r[i].status == PREREQ_UNKNOWN, "%s", prereq_check_name(i));
    engine_free(e);
}
END_TEST

START_TEST(azure_only_checks)
{
    struct prereq_result r[PREREQ_COUNT];
    struct prereq_input in = base();
    in.trusted_access = -1;
    prereq_evaluate(&in, r); /* without the Azure view: left out */
    ck_assert(!r[PREREQ_TRUSTED_ACCESS].applies);
    in.azure_view = true;
    prereq_evaluate(&in, r);
    ck_assert(r[PREREQ_TRUSTED_ACCESS].applies);
    ck_assert_int_eq(r[PREREQ_TRUSTED_ACCESS].status, PREREQ_UNKNOWN);
    in.trusted_access = 1;
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_TRUSTED_ACCESS].status, PREREQ_PASS);
    in.trusted_access = 0;
    prereq_evaluate(&in, r);
    ck_assert_int_eq(r[PREREQ_TRUSTED_ACCESS].status, PREREQ_FAIL);
    ck_assert_str_ne(r[PREREQ_TRUSTED_ACCESS].remedy, "");
}
END_TEST

/* The Azure view's overlay: its facts replace the config's; a failed read is
 * unknown with the ARM reason; switching it off restores the config. */
START_TEST(azure_overlay)
{
    struct engine *e = cluster_engine(&regs, true);
    struct prereq_result r[PREREQ_COUNT];
    struct engine_azure_facts f = {
        .on = true, .identity = "", .identity_why = "HTTP 403 AuthorizationFailed: no access",
        .vault_region = "northeurope", .vault_subscription = "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f",
        .storage_region = "westeurope", .storage_kind = "StorageV2", .storage_sku = "Standard_LRS",
        .policies = 5001, .instances = 3, .trusted_access = -1,
        .trusted_why = "HTTP 404 ResourceNotFound: gone",
    };
    struct engine_azure_warning w = {"backup-job-failed", "bi/job-1", "backup job failed with UserErrorX"};
    f.warnings = &w;
    f.nwarnings = 1;
    ck_assert_int_eq(engine_set_azure(e, &f), 0);
    engine_prerequisites(e, r);
    ck_assert_int_eq(r[PREREQ_IDENTITY].status, PREREQ_UNKNOWN);
    ck_assert_str_eq(r[PREREQ_IDENTITY].observed, "Azure: HTTP 403 AuthorizationFailed: no access");
    ck_assert_int_eq(r[PREREQ_VAULT_SAME_REGION].status, PREREQ_FAIL);
    ck_assert_int_eq(r[PREREQ_POLICIES_WITHIN_LIMIT].status, PREREQ_FAIL);
    ck_assert_int_eq(r[PREREQ_INSTANCES_WITHIN_LIMIT].status, PREREQ_PASS);
    ck_assert_int_eq(r[PREREQ_STORAGE_ACCOUNT_KIND].status, PREREQ_PASS);
    ck_assert_int_eq(r[PREREQ_TRUSTED_ACCESS].status, PREREQ_UNKNOWN);
    ck_assert_str_eq(r[PREREQ_TRUSTED_ACCESS].observed, "Azure: HTTP 404 ResourceNotFound: gone");
    struct engine_warning *wl;
    size_t nw;
    ck_assert_int_eq(engine_warnings(e, 0, &wl, &nw), 0);
    bool found = false;
    for (size_t i = 0; i < nw; i++)
        found |= strcmp(wl[i].code, "backup-job-failed") == 0 && strcmp(wl[i].object, "bi/job-1") == 0;
    engine_warnings_free(wl, nw);
    ck_assert(found);
    f.on = false;
    ck_assert_int_eq(engine_set_azure(e, &f), 0);
    engine_prerequisites(e, r);
    ck_assert_int_eq(r[PREREQ_IDENTITY].status, PREREQ_PASS); /* the config again */
    ck_assert_int_eq(r[PREREQ_VAULT_SAME_REGION].status, PREREQ_PASS);
    ck_assert(!r[PREREQ_TRUSTED_ACCESS].applies);
    engine_free(e);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("prereq");
    TCase *tc = tcase_create("prereq");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, default_config);
    tcase_add_test(tc, full_config);
    tcase_add_test(tc, names_in_order);
    tcase_add_test(tc, version_parsing);
    tcase_add_test(tc, version_checks);
    tcase_add_test(tc, region_compare);
    tcase_add_test(tc, identity_and_limits);
    tcase_add_test(tc, unsynced_engine_is_unknown);
    tcase_add_test(tc, azure_only_checks);
    tcase_add_test(tc, azure_overlay);
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
