/* The support-matrix editions (matrix.h): one table of facts each, read by
 * classify.c, prereq.c, the engine's warnings and the admission writer;
 * config/ looks the names up to validate matrix.edition. */
#include "rules/matrix.h"

#include <stdio.h>
#include <string.h>

#include "rules/classify.h"
#include "rules/prereq.h"

#define CHECK(c) (1u << (c))
#define R(r) (1u << (r))
#define COMMON_REASONS                                                                           \
    (R(PV_REASON_IN_TREE) | R(PV_REASON_NOT_CSI) | R(PV_REASON_AZURE_BLOB) |                       \
     R(PV_REASON_UNSUPPORTED_DRIVER) | R(PV_REASON_STATIC) | R(PV_REASON_SUPPORTED))

/* Checks both editions have. */
#define COMMON_CHECKS                                                                            \
    (CHECK(PREREQ_KUBERNETES_VERSION) | CHECK(PREREQ_CSI_DISK_DRIVER) |                          \
     CHECK(PREREQ_SNAPSHOT_API) | CHECK(PREREQ_SNAPSHOT_CLASS) |                                 \
     CHECK(PREREQ_REGION_SUPPORTED) | CHECK(PREREQ_VAULT_SAME_REGION) |                          \
     CHECK(PREREQ_STORAGE_SAME_REGION) | CHECK(PREREQ_IDENTITY) |                                \
     CHECK(PREREQ_POLICIES_WITHIN_LIMIT) | CHECK(PREREQ_INSTANCES_WITHIN_LIMIT) |                \
     CHECK(PREREQ_EXTENSION_RUNNING))

static const char *const excluded_2026[] = {"kube-system", "kube-node-lease", "kube-public", NULL};
static const char *const identities_2026[] = {"system", "user", NULL};
static const char *const identities_2023[] = {"system", NULL};

static const struct engine_info info_2026[] = {
    {"azure-cli-version", "Azure CLI 2.41.0 or later, or Terraform (azurerm) 3.99.0 or later, is "
                          "needed to install the extension and configure backup; the Vault tier "
                          "cannot be configured through Terraform (not checkable from inside the "
                          "cluster)"},
    {"role-assignment-delay", "role assignments for the extension, the vault and the cluster "
                              "take several minutes to apply: retry a failed configuration after "
                              "a few minutes"},
    {"configuration-change-unsupported",
     "changing a backup instance's configuration or its snapshot resource group is not "
     "supported, and Azure Files volumes cannot be added to an existing backup instance: create "
     "a new backup instance instead"},
    {"vault-other-subscription", "the Backup vault may be in another subscription of the same "
                                 "tenant as the cluster"},
    {"private-cluster-endpoint", "a cluster in a private virtual network needs a private endpoint "
                                 "for the backup extension's traffic; network-isolated clusters "
                                 "are not supported"},
    {"azure-files-limits", "Azure Files shares are backed up only with at most 25,000 files, at "
                           "most 30 days' retention in the Operational tier, and are configured "
                           "through the Azure portal only"},
    {"crash-consistent", "snapshots are crash-consistent and not taken at one instant across "
                         "volumes: quiesce applications that need more through hooks"},
};

static const struct engine_info info_2023[] = {
    {"azure-cli-version", "Azure CLI 2.41 or later is needed to install the extension and "
                          "configure backup (not checkable from inside the cluster)"},
    {"role-assignment-delay", "role assignments for the extension, the vault and the cluster "
                              "take several minutes to apply: retry a failed configuration after "
                              "a few minutes"},
    {"policy-change-unsupported", "changing the backup policy or the snapshot resource group of "
                                  "a backup instance is not supported: create a new backup "
                                  "instance instead"},
    {"operational-tier-only", "backups stay in the operational tier (snapshots in the cluster's "
                              "subscription); plan retention accordingly"},
};

static const struct matrix_edition editions[] = {
    {
        .name = "2026-01",
        .page_date = "2026-01-06",
        .title = "AKS backup support matrix of 2026-01-06 (generally available)",
        .excluded_namespaces = excluded_2026,
        .files_smb_supported = true,
        .files_min_major = 1,
        .files_min_minor = 32,
        .container_storage_reason = true,
        .static_rule = MATRIX_STATIC_WITHOUT_CLASS,
        .reasons = COMMON_REASONS | R(PV_REASON_EXCLUDED_NAMESPACE) | R(PV_REASON_AZURE_FILES_NFS) |
                   R(PV_REASON_AZURE_FILES_PRIVATE_ENDPOINT) |
                   R(PV_REASON_AZURE_FILES_DRIVER_TOO_OLD) | R(PV_REASON_CONTAINER_STORAGE),
        .vault_tier = true,
        .pv_notes = true,
        .vault_max_disk_bytes = 1LL << 40, /* 1 TiB */
        .version_rule = MATRIX_VERSION_CALENDAR,
        .version_ending_days = 30,
        .identities = identities_2026,
        .checks = COMMON_CHECKS | CHECK(PREREQ_CSI_FILE_DRIVER_VERSION) |
                  CHECK(PREREQ_STORAGE_ACCOUNT_KIND) | CHECK(PREREQ_LINUX_AMD64_NODES) |
                  CHECK(PREREQ_NO_OTHER_VELERO) | CHECK(PREREQ_NAMESPACES_WITHIN_LIMIT) |
                  CHECK(PREREQ_BACKUP_STORAGE_LOCATION),
        .namespace_limit = 800,
        .extension_no_pending = true,
        .velero_metadata_warning = true,
        .vault_tier_disk_limit = 100,
        .schedule_tolerance_minutes = 120,
        .info = info_2026,
        .ninfo = sizeof info_2026 / sizeof info_2026[0],
    },
    {
        .name = "2023-08",
        .page_date = "2023-08-17",
        .title = "AKS backup support matrix of 2023-08-17 (preview)",
        .excluded_namespaces = NULL,
        .files_smb_supported = false,
        .container_storage_reason = false,
        .static_rule = MATRIX_STATIC_BY_ANNOTATION,
        .reasons = COMMON_REASONS | R(PV_REASON_AZURE_FILES),
        .vault_tier = false,
        .pv_notes = false,
        .version_rule = MATRIX_VERSION_MINIMUM,
        .min_major = PREREQ_MIN_MAJOR,
        .min_minor = PREREQ_MIN_MINOR,
        .identities = identities_2023,
        .checks = COMMON_CHECKS | CHECK(PREREQ_VAULT_SAME_SUBSCRIPTION) |
                  CHECK(PREREQ_STORAGE_SAME_SUBSCRIPTION),
        .namespace_limit = 0,
        .extension_no_pending = false,
        .velero_metadata_warning = false,
        .vault_tier_disk_limit = 0,
        .schedule_tolerance_minutes = 30,
        .info = info_2023,
        .ninfo = sizeof info_2023 / sizeof info_2023[0],
    },
};
#define NEDITIONS (sizeof editions / sizeof editions[0])
_Static_assert(PREREQ_COUNT <= 32, "checks is a 32-bit mask");

const struct matrix_edition *matrix_edition_find(const char *name)
{
    for (size_t i = 0; name && i < NEDITIONS; i++)
        if (strcmp(editions[i].name, name) == 0)
            return &editions[i];
    return NULL;
}

const struct matrix_edition *matrix_edition_default(void)
{
    return &editions[0];
}

const struct matrix_edition *matrix_edition_at(size_t i)
{
    return i < NEDITIONS ? &editions[i] : NULL;
}

void matrix_edition_list(char *out, size_t n)
{
    size_t off = 0;
    if (n)
        out[0] = '\0';
    for (size_t i = 0; i < NEDITIONS && off < n; i++) {
        int w = snprintf(out + off, n - off, "%s%s", i ? ", " : "", editions[i].name);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

bool matrix_namespace_excluded(const struct matrix_edition *e, const char *ns)
{
    if (!e || !ns || !e->excluded_namespaces)
        return false;
    for (const char *const *p = e->excluded_namespaces; *p; p++)
        if (strcmp(*p, ns) == 0)
            return true;
    return false;
}

bool matrix_has_reason(const struct matrix_edition *e, int reason)
{
    return e && reason >= 0 && reason < 32 && (e->reasons & (1u << reason));
}

bool matrix_has_check(const struct matrix_edition *e, int check)
{
    return e && check >= 0 && check < 32 && (e->checks & (1u << check));
}
