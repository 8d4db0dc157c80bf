/* The 13 cluster prerequisites as pure functions of what the
 * engine observed and what the operator configured. Within-limit checks
 * pass while count < limit: at the limit the vault cannot take one more. */
#include "rules/prereq.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/regions.h"

static const char *const check_names[PREREQ_COUNT] = {
    "kubernetes_version", "csi_disk_driver", "snapshot_api", "snapshot_class",
    "region_supported", "vault_same_region", "vault_same_subscription",
    "storage_same_region", "storage_same_subscription", "system_identity",
    "policies_within_limit", "instances_within_limit", "extension_running",
    "storage_account_kind", "trusted_access",
};

static const char *const remedies[PREREQ_COUNT] = {
    "upgrade the cluster to Kubernetes 1.22 or later (az aks upgrade)",
    "enable the Azure Disk CSI driver (az aks update --enable-disk-driver)",
    "install the snapshot CRDs and controller (enable the Azure Disk CSI driver)",
    "create a VolumeSnapshotClass with driver disk.csi.azure.com",
    "use a region listed in regions.txt (AKS backup is not available in this region)",
    "use a Backup vault in the cluster's region (set vault.region)",
    "use a Backup vault in the cluster's subscription (set vault.subscription_id)",
    "use a storage account in the cluster's region for the extension (set storage.region)",
    "use a storage account in the cluster's subscription (set storage.subscription_id)",
    "use a system-assigned managed identity for the cluster (set cluster.identity)",
    "stay under the backup policies per vault limit (set vault.backup_policies)",
    "stay under the backup instances per vault limit (set vault.backup_instances)",
    "check the extension pods: kubectl -n dataprotection-microsoft get pods; az k8s-extension show",
    "give the extension a general-purpose v2 (StorageV2) storage account with a Standard SKU",
    ("grant the vault trusted access to the cluster: az aks trustedaccess rolebinding create "
     "--roles Microsoft.DataProtection/backupVaults/backup-operator --source-resource-id <vault id>"),
};

const char *prereq_check_name(enum prereq_check c)
{
    return (c >= 0 && c < PREREQ_COUNT) ? check_names[c] : "unknown";
}

const char *prereq_status_name(enum prereq_status s)
{
    switch (s) {
    case PREREQ_PASS: return "pass";
    case PREREQ_FAIL: return "fail";
    default: return "unknown";
    }
}

/* Reads decimal digits into *v (bounded); returns the end pointer or NULL. */
static const char *read_num(const char *p, int *v)
{
    if (*p < '0' || *p > '9')
        return NULL;
    long n = 0;
    while (*p >= '0' && *p <= '9') {
        n = n * 10 + (*p++ - '0');
        if (n > 100000)
            return NULL;
    }
    *v = (int)n;
    return p;
}

int prereq_parse_version(const char *s, int *major, int *minor)
{
    if (!s)
        return -EINVAL;
    if (*s == 'v' || *s == 'V')
        s++;
    int ma, mi;
    const char *p = read_num(s, &ma);
    if (!p || *p != '.')
        return -EINVAL;
    p = read_num(p + 1, &mi);
    if (!p || (*p != '\0' && *p != '.' && *p != '+' && *p != '-'))
        return -EINVAL;
    *major = ma;
    *minor = mi;
    return 0;
}

int prereq_parse_minor(const char *s, int *minor)
{
    if (!s)
        return -EINVAL;
    int mi;
    const char *p = read_num(s, &mi);
    if (!p || (*p != '\0' && strcmp(p, "+") != 0))
        return -EINVAL;
    *minor = mi;
    return 0;
}

static bool empty(const char *s)
{
    return !s || !*s;
}

static void set(struct prereq_result *r, enum prereq_check c, enum prereq_status st,
                const char *expected)
{
    r->status = st;
    r->remedy = st == PREREQ_PASS ? "" : remedies[c];
    snprintf(r->expected, sizeof(r->expected), "%s", expected);
}

static void tri(struct prereq_result *r, enum prereq_check c, int v, const char *yes,
                const char *no, const char *expected)
{
    set(r, c, v < 0 ? PREREQ_UNKNOWN : v ? PREREQ_PASS : PREREQ_FAIL, expected);
    snprintf(r->observed, sizeof(r->observed), "%s", v < 0 ? "not observed yet" : v ? yes : no);
}

static void same(struct prereq_result *r, enum prereq_check c, const char *cfg,
                 const char *cluster, bool region, const char *what)
{
    char exp[96];
    snprintf(exp, sizeof(exp), "%s %s", what, empty(cluster) ? "(cluster value unknown)" : cluster);
    if (empty(cfg) || empty(cluster)) {
        set(r, c, PREREQ_UNKNOWN, exp);
        snprintf(r->observed, sizeof(r->observed), "%s",
                 empty(cfg) ? "not configured" : cfg);
        return;
    }
    bool eq = region ? region_equal(cfg, cluster) : subscription_equal(cfg, cluster);
    set(r, c, eq ? PREREQ_PASS : PREREQ_FAIL, exp);
    snprintf(r->observed, sizeof(r->observed), "%s", cfg);
}

static void limit(struct prereq_result *r, enum prereq_check c, long count, long lim)
{
    char exp[96];
    /* The support matrix's figure is the most a vault may hold: at the limit
     * is still within it. */
    snprintf(exp, sizeof(exp), "<= %ld per vault", lim);
    if (count < 0) {
        set(r, c, PREREQ_UNKNOWN, exp);
        snprintf(r->observed, sizeof(r->observed), "not configured");
        return;
    }
    set(r, c, count <= lim ? PREREQ_PASS : PREREQ_FAIL, exp);
    snprintf(r->observed, sizeof(r->observed), "%ld", count);
}

void prereq_evaluate(const struct prereq_input *in, struct prereq_result *out)
{
    memset(out, 0, sizeof(*out) * PREREQ_COUNT);
    struct prereq_result *r;

    r = &out[PREREQ_KUBERNETES_VERSION];
    char exp[96];
    snprintf(exp, sizeof(exp), ">= %d.%d", PREREQ_MIN_MAJOR, PREREQ_MIN_MINOR);
    int ma, mi;
    if (empty(in->kubernetes_version)) {
        set(r, PREREQ_KUBERNETES_VERSION, PREREQ_UNKNOWN, exp);
        snprintf(r->observed, sizeof(r->observed), "/version not read yet");
    } else if (prereq_parse_version(in->kubernetes_version, &ma, &mi) < 0) {
        set(r, PREREQ_KUBERNETES_VERSION, PREREQ_UNKNOWN, exp);
        snprintf(r->observed, sizeof(r->observed), "%s (unparsable)", in->kubernetes_version);
    } else {
        bool ok = ma > PREREQ_MIN_MAJOR || (ma == PREREQ_MIN_MAJOR && mi >= PREREQ_MIN_MINOR);
        set(r, PREREQ_KUBERNETES_VERSION, ok ? PREREQ_PASS : PREREQ_FAIL, exp);
        snprintf(r->observed, sizeof(r->observed), "%s", in->kubernetes_version);
    }

    tri(&out[PREREQ_CSI_DISK_DRIVER], PREREQ_CSI_DISK_DRIVER, in->csi_disk_driver,
        "disk.csi.azure.com installed", "no CSIDriver disk.csi.azure.com",
        "CSIDriver disk.csi.azure.com");
    tri(&out[PREREQ_SNAPSHOT_API], PREREQ_SNAPSHOT_API, in->snapshot_api,
        "snapshot.storage.k8s.io/v1 served", "snapshot.storage.k8s.io/v1 not served",
        "snapshot.storage.k8s.io/v1 served");
    tri(&out[PREREQ_SNAPSHOT_CLASS], PREREQ_SNAPSHOT_CLASS, in->snapshot_class,
        "VolumeSnapshotClass for disk.csi.azure.com present",
        "no VolumeSnapshotClass for disk.csi.azure.com",
        "a VolumeSnapshotClass with driver disk.csi.azure.com");

    r = &out[PREREQ_REGION_SUPPORTED];
    if (empty(in->cluster_region) || !in->regions) {
        set(r, PREREQ_REGION_SUPPORTED, PREREQ_UNKNOWN, "a region listed in regions.txt");
        snprintf(r->observed, sizeof(r->observed), "%s",
                 empty(in->cluster_region) ? "cluster region unknown" : "regions list not loaded");
    } else {
        bool ok = regions_contains(in->regions, in->cluster_region);
        set(r, PREREQ_REGION_SUPPORTED, ok ? PREREQ_PASS : PREREQ_FAIL,
            "a region listed in regions.txt");
        snprintf(r->observed, sizeof(r->observed), "%s%s", in->cluster_region,
                 ok && regions_is_operational_only(in->regions, in->cluster_region)
                     ? " (operational tier only)" : "");
    }

    same(&out[PREREQ_VAULT_SAME_REGION], PREREQ_VAULT_SAME_REGION, in->vault_region,
         in->cluster_region, true, "cluster region");
    same(&out[PREREQ_VAULT_SAME_SUBSCRIPTION], PREREQ_VAULT_SAME_SUBSCRIPTION,
         in->vault_subscription, in->cluster_subscription, false, "cluster subscription");
    same(&out[PREREQ_STORAGE_SAME_REGION], PREREQ_STORAGE_SAME_REGION, in->storage_region,
         in->cluster_region, true, "cluster region");
    same(&out[PREREQ_STORAGE_SAME_SUBSCRIPTION], PREREQ_STORAGE_SAME_SUBSCRIPTION,
         in->storage_subscription, in->cluster_subscription, false, "cluster subscription");

    r = &out[PREREQ_SYSTEM_IDENTITY];
    if (empty(in->cluster_identity)) {
        set(r, PREREQ_SYSTEM_IDENTITY, PREREQ_UNKNOWN, "system");
        snprintf(r->observed, sizeof(r->observed), "not configured");
    } else {
        set(r, PREREQ_SYSTEM_IDENTITY,
            strcmp(in->cluster_identity, "system") == 0 ? PREREQ_PASS : PREREQ_FAIL, "system");
        snprintf(r->observed, sizeof(r->observed), "%s", in->cluster_identity);
    }

    limit(&out[PREREQ_POLICIES_WITHIN_LIMIT], PREREQ_POLICIES_WITHIN_LIMIT, in->backup_policies,
          in->policies_limit);
    limit(&out[PREREQ_INSTANCES_WITHIN_LIMIT], PREREQ_INSTANCES_WITHIN_LIMIT,
          in->backup_instances, in->instances_limit);

    r = &out[PREREQ_EXTENSION_RUNNING];
    set(r, PREREQ_EXTENSION_RUNNING,
        in->extension_running < 0 ? PREREQ_UNKNOWN
        : in->extension_running   ? PREREQ_PASS
                                  : PREREQ_FAIL,
        ">= 1 extension pod, all Running and Ready");
    snprintf(r->observed, sizeof(r->observed), "%s",
             in->extension_detail ? in->extension_detail
             : in->extension_running < 0 ? "pods not listed yet" : "");

    r = &out[PREREQ_STORAGE_ACCOUNT_KIND];
    if (empty(in->storage_kind) || empty(in->storage_sku)) {
        set(r, PREREQ_STORAGE_ACCOUNT_KIND, PREREQ_UNKNOWN, "StorageV2, not Premium_*");
        snprintf(r->observed, sizeof(r->observed), "storage account not read");
    } else {
        bool ok = strcmp(in->storage_kind, "StorageV2") == 0 && strncmp(in->storage_sku, "Premium_", 8) != 0;
        set(r, PREREQ_STORAGE_ACCOUNT_KIND, ok ? PREREQ_PASS : PREREQ_FAIL, "StorageV2, not Premium_*");
        snprintf(r->observed, sizeof(r->observed), "%s %s", in->storage_kind, in->storage_sku);
    }
    tri(&out[PREREQ_TRUSTED_ACCESS], PREREQ_TRUSTED_ACCESS, in->trusted_access,
        "the vault has a trusted-access binding with the backup-operator role",
        "no trusted-access binding for the vault with the backup-operator role",
        "a trusted-access role binding for the vault");
    if (in->trusted_access < 0)
        snprintf(out[PREREQ_TRUSTED_ACCESS].observed, sizeof(out[PREREQ_TRUSTED_ACCESS].observed),
                 "not observed yet");
    /* Only the Azure view reads these: without it they are left out, so
     * nothing changes for a cluster judged from the API alone. */
    out[PREREQ_STORAGE_ACCOUNT_KIND].absent = !in->azure_view;
    out[PREREQ_TRUSTED_ACCESS].absent = !in->azure_view;
}
