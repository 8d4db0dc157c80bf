/* The cluster prerequisites of the support matrix as pure functions of what the
 * engine observed and what the operator configured. Within-limit checks
 * pass while count < limit: at the limit the vault cannot take one more. */
#include "rules/prereq.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/kversions.h"
#include "config/regions.h"
#include "rules/matrix.h"

static const char *const check_names[PREREQ_COUNT] = {
    "kubernetes_version", "csi_disk_driver", "snapshot_api", "snapshot_class",
    "csi_file_driver_version", "region_supported", "vault_same_region",
    "vault_same_subscription", "storage_same_region", "storage_same_subscription",
    "storage_account_kind", "identity", "linux_amd64_nodes", "no_other_velero",
    "namespaces_within_limit", "policies_within_limit", "instances_within_limit",
    "extension_running", "backup_storage_location",
    "trusted_access",
};

static const char *const remedies[PREREQ_COUNT] = {
    "upgrade the cluster to a Kubernetes version AKS backup supports (az aks upgrade)",
    "enable the Azure Disk CSI driver (az aks update --enable-disk-driver)",
    "install the snapshot CRDs and controller (enable the Azure Disk CSI driver)",
    "create a VolumeSnapshotClass with driver disk.csi.azure.com",
    "upgrade the cluster so that the Azure Files CSI driver (DaemonSet kube-system/csi-azurefile-node) "
    "is 1.32 or later, or set driver.azure_files_version when it cannot be read",
    "use a region listed in regions.txt (AKS backup is not available in this region)",
    "use a Backup vault in the cluster's region (set vault.region)",
    "use a Backup vault in the cluster's subscription (set vault.subscription_id)",
    "use a storage account in the cluster's region for the extension (set storage.region)",
    "use a storage account in the cluster's subscription (set storage.subscription_id)",
    "give the extension a general-purpose v2 (StorageV2) storage account with a Standard SKU "
    "(set storage.kind and storage.sku)",
    "use a managed identity for the cluster (az aks update --enable-managed-identity; set cluster.identity)",
    "add a Linux amd64 node pool: the backup extension cannot run on Windows or ARM64 nodes",
    "remove the other Velero installation: it conflicts with the backup extension",
    "split the backup so that one backup instance covers at most 800 namespaces "
    "(set vault.backup_namespaces)",
    "stay under the backup policies per vault limit (set vault.backup_policies)",
    "stay under the backup instances per vault limit (set vault.backup_instances)",
    "check the extension pods: kubectl -n dataprotection-microsoft get pods; az k8s-extension show",
    ("check the extension's storage account (firewall, role assignments, keys): kubectl -n "
     "dataprotection-microsoft get backupstoragelocations -o yaml"),
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

int prereq_parse_tag_version(const char *s, int *major, int *minor)
{
    /* An image tag (v1.32.5, 1.32.5-rc1) reads like a gitVersion. */
    return prereq_parse_version(s, major, minor);
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

static void version_check(const struct prereq_input *in, const struct matrix_edition *ed,
                          struct prereq_result *r)
{
    const enum prereq_check c = PREREQ_KUBERNETES_VERSION;
    char exp[96];
    if (ed->version_rule == MATRIX_VERSION_MINIMUM)
        snprintf(exp, sizeof(exp), ">= %d.%d", ed->min_major, ed->min_minor);
    else
        snprintf(exp, sizeof(exp), "a minor AKS supports (kubernetes_versions_file)");
    int ma, mi;
    if (empty(in->kubernetes_version)) {
        set(r, c, PREREQ_UNKNOWN, exp);
        snprintf(r->observed, sizeof(r->observed), "/version not read yet");
        return;
    }
    if (prereq_parse_version(in->kubernetes_version, &ma, &mi) < 0) {
        set(r, c, PREREQ_UNKNOWN, exp);
        snprintf(r->observed, sizeof(r->observed), "%s (unparsable)", in->kubernetes_version);
        return;
    }
    if (ed->version_rule == MATRIX_VERSION_MINIMUM) {
        bool ok = ma > ed->min_major || (ma == ed->min_major && mi >= ed->min_minor);
        set(r, c, ok ? PREREQ_PASS : PREREQ_FAIL, exp);
        snprintf(r->observed, sizeof(r->observed), "%s", in->kubernetes_version);
        return;
    }
    if (!in->kversions) {
        set(r, c, PREREQ_UNKNOWN, exp);
        snprintf(r->observed, sizeof(r->observed), "%s (kubernetes versions list not loaded)",
                 in->kubernetes_version);
        return;
    }
    const struct kversion *k = kversions_find(in->kversions, ma, mi);
    if (!k) {
        set(r, c, PREREQ_FAIL, exp);
        snprintf(r->observed, sizeof(r->observed), "%s (%d.%d is not in the list of supported versions)",
                 in->kubernetes_version, ma, mi);
        return;
    }
    if (in->now < k->end) {
        set(r, c, PREREQ_PASS, exp);
        snprintf(r->observed, sizeof(r->observed), "%s (supported until %s)", in->kubernetes_version,
                 k->end_date);
    } else if (k->lts_end && in->now < k->lts_end) {
        set(r, c, PREREQ_PASS, exp);
        snprintf(r->observed, sizeof(r->observed),
                 "%s (standard support ended %s; long-term support until %s)",
                 in->kubernetes_version, k->end_date, k->lts_date);
    } else {
        set(r, c, PREREQ_FAIL, exp);
        snprintf(r->observed, sizeof(r->observed), "%s (support ended %s)", in->kubernetes_version,
                 k->lts_end ? k->lts_date : k->end_date);
    }
}

int prereq_version_standing(const struct prereq_input *in, const struct matrix_edition *ed,
                            int64_t *end, const char **date)
{
    int ma, mi;
    if (!ed)
        ed = matrix_edition_default();
    if (ed->version_rule != MATRIX_VERSION_CALENDAR || !in->kversions ||
        empty(in->kubernetes_version) || prereq_parse_version(in->kubernetes_version, &ma, &mi) < 0)
        return 0;
    const struct kversion *k = kversions_find(in->kversions, ma, mi);
    if (!k)
        return 0;
    if (in->now < k->end) {
        *end = k->end;
        *date = k->end_date;
        return in->now >= k->end - (int64_t)ed->version_ending_days * 86400 ? 1 : 0;
    }
    if (k->lts_end && in->now < k->lts_end) {
        *end = k->lts_end;
        *date = k->lts_date;
        return 2;
    }
    return 0;
}

static bool starts_with_ci(const char *s, const char *p)
{
    for (; *p; s++, p++) {
        char a = *s >= 'A' && *s <= 'Z' ? (char)(*s + 32) : *s;
        char b = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p;
        if (a != b)
            return false;
    }
    return true;
}

void prereq_evaluate(const struct prereq_input *in, struct prereq_result *out)
{
    memset(out, 0, sizeof(*out) * PREREQ_COUNT);
    const struct matrix_edition *ed = in->edition ? in->edition : matrix_edition_default();
    const struct prereq_facts *f = &in->facts;
    struct prereq_result *r;

    version_check(in, ed, &out[PREREQ_KUBERNETES_VERSION]);

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

    r = &out[PREREQ_CSI_FILE_DRIVER_VERSION];
    {
        char exp[96];
        snprintf(exp, sizeof(exp), ">= %d.%d (Azure Files CSI driver)", ed->files_min_major,
                 ed->files_min_minor);
        int ma, mi;
        if (empty(in->files_driver_version)) {
            set(r, PREREQ_CSI_FILE_DRIVER_VERSION, PREREQ_UNKNOWN, exp);
            snprintf(r->observed, sizeof(r->observed),
                     "version unknown (DaemonSet kube-system/csi-azurefile-node not found or not readable)");
        } else if (prereq_parse_tag_version(in->files_driver_version, &ma, &mi) < 0) {
            set(r, PREREQ_CSI_FILE_DRIVER_VERSION, PREREQ_UNKNOWN, exp);
            snprintf(r->observed, sizeof(r->observed), "%s (unparsable)", in->files_driver_version);
        } else {
            bool ok = ma > ed->files_min_major ||
                      (ma == ed->files_min_major && mi >= ed->files_min_minor);
            set(r, PREREQ_CSI_FILE_DRIVER_VERSION, ok ? PREREQ_PASS : PREREQ_FAIL, exp);
            snprintf(r->observed, sizeof(r->observed), "%s", in->files_driver_version);
        }
    }

    r = &out[PREREQ_REGION_SUPPORTED];
    if (empty(in->cluster_region) || !in->regions) {
        set(r, PREREQ_REGION_SUPPORTED, PREREQ_UNKNOWN, "a region listed in regions.txt");
        snprintf(r->observed, sizeof(r->observed), "%s",
                 empty(in->cluster_region) ? "cluster region unknown" : "regions list not loaded");
    } else {
        bool ok = regions_contains(in->regions, in->cluster_region);
        bool op_only = ok && regions_is_operational_only(in->regions, in->cluster_region);
        /* The Vault tier is not offered in an operational-tier-only region. */
        bool vault_bad = op_only && f->vault_tier && ed->vault_tier;
        set(r, PREREQ_REGION_SUPPORTED, ok && !vault_bad ? PREREQ_PASS : PREREQ_FAIL,
            vault_bad ? "a region with the Vault tier (vault.tiers contains vault)"
                      : "a region listed in regions.txt");
        snprintf(r->observed, sizeof(r->observed), "%s%s", in->cluster_region,
                 op_only ? " (operational tier only)" : "");
    }

    same(&out[PREREQ_VAULT_SAME_REGION], PREREQ_VAULT_SAME_REGION, f->vault_region,
         in->cluster_region, true, "cluster region");
    same(&out[PREREQ_VAULT_SAME_SUBSCRIPTION], PREREQ_VAULT_SAME_SUBSCRIPTION,
         f->vault_subscription, in->cluster_subscription, false, "cluster subscription");
    same(&out[PREREQ_STORAGE_SAME_REGION], PREREQ_STORAGE_SAME_REGION, f->storage_region,
         in->cluster_region, true, "cluster region");
    same(&out[PREREQ_STORAGE_SAME_SUBSCRIPTION], PREREQ_STORAGE_SAME_SUBSCRIPTION,
         f->storage_subscription, in->cluster_subscription, false, "cluster subscription");

    r = &out[PREREQ_STORAGE_ACCOUNT_KIND];
    {
        const char *exp = "kind StorageV2 with a Standard (not Premium) SKU";
        if (empty(f->storage_kind) || empty(f->storage_sku)) {
            set(r, PREREQ_STORAGE_ACCOUNT_KIND, PREREQ_UNKNOWN, exp);
            snprintf(r->observed, sizeof(r->observed), "%s",
                     "storage.kind or storage.sku not configured");
        } else {
            bool ok = strcmp(f->storage_kind, "StorageV2") == 0 &&
                      !starts_with_ci(f->storage_sku, "Premium_");
            set(r, PREREQ_STORAGE_ACCOUNT_KIND, ok ? PREREQ_PASS : PREREQ_FAIL, exp);
            snprintf(r->observed, sizeof(r->observed), "%s %s", f->storage_kind, f->storage_sku);
        }
    }

    r = &out[PREREQ_IDENTITY];
    {
        char exp[96] = "";
        size_t off = 0;
        bool ok = false;
        for (const char *const *p = ed->identities; p && *p; p++) {
            int w = snprintf(exp + off, sizeof(exp) - off, "%s%s", off ? " or " : "", *p);
            if (w > 0 && (size_t)w < sizeof(exp) - off)
                off += (size_t)w;
            if (!empty(f->cluster_identity) && strcmp(f->cluster_identity, *p) == 0)
                ok = true;
        }
        if (empty(f->cluster_identity)) {
            set(r, PREREQ_IDENTITY, PREREQ_UNKNOWN, exp);
            snprintf(r->observed, sizeof(r->observed), "not configured");
        } else {
            set(r, PREREQ_IDENTITY, ok ? PREREQ_PASS : PREREQ_FAIL, exp);
            snprintf(r->observed, sizeof(r->observed), "%s", f->cluster_identity);
        }
    }

    r = &out[PREREQ_LINUX_AMD64_NODES];
    {
        const char *exp = ">= 1 Ready node labelled kubernetes.io/os=linux, kubernetes.io/arch=amd64";
        if (in->nodes < 0) {
            set(r, PREREQ_LINUX_AMD64_NODES, PREREQ_UNKNOWN, exp);
            snprintf(r->observed, sizeof(r->observed), "nodes not listed yet");
        } else {
            set(r, PREREQ_LINUX_AMD64_NODES, in->linux_amd64_ready > 0 ? PREREQ_PASS : PREREQ_FAIL,
                exp);
            snprintf(r->observed, sizeof(r->observed), "%ld of %ld nodes Ready Linux amd64",
                     in->linux_amd64_ready, in->nodes);
        }
    }

    r = &out[PREREQ_NO_OTHER_VELERO];
    {
        const char *exp = "no velero.io BackupStorageLocation outside the extension's namespace";
        if (in->other_velero_locations < 0) {
            /* velero.io not served: there is no other Velero either, but the
             * list cannot show it yet. */
            set(r, PREREQ_NO_OTHER_VELERO, PREREQ_UNKNOWN, exp);
            snprintf(r->observed, sizeof(r->observed), "BackupStorageLocations not listed");
        } else if (in->other_velero_locations == 0) {
            set(r, PREREQ_NO_OTHER_VELERO, PREREQ_PASS, exp);
            snprintf(r->observed, sizeof(r->observed), "none outside the extension's namespace");
        } else {
            set(r, PREREQ_NO_OTHER_VELERO, PREREQ_FAIL, exp);
            snprintf(r->observed, sizeof(r->observed), "%ld outside the extension's namespace (%s)",
                     in->other_velero_locations,
                     in->other_velero_example ? in->other_velero_example : "");
        }
    }

    r = &out[PREREQ_NAMESPACES_WITHIN_LIMIT];
    {
        char exp[96];
        snprintf(exp, sizeof(exp), "<= %ld namespaces per backup instance", ed->namespace_limit);
        if (in->namespaces_in_scope < 0) {
            set(r, PREREQ_NAMESPACES_WITHIN_LIMIT, PREREQ_UNKNOWN, exp);
            snprintf(r->observed, sizeof(r->observed), "namespaces not listed yet");
        } else {
            set(r, PREREQ_NAMESPACES_WITHIN_LIMIT,
                in->namespaces_in_scope <= ed->namespace_limit ? PREREQ_PASS : PREREQ_FAIL, exp);
            snprintf(r->observed, sizeof(r->observed), "%ld namespaces in the backup scope",
                     in->namespaces_in_scope);
        }
    }

    limit(&out[PREREQ_POLICIES_WITHIN_LIMIT], PREREQ_POLICIES_WITHIN_LIMIT, f->backup_policies,
          in->policies_limit);
    limit(&out[PREREQ_INSTANCES_WITHIN_LIMIT], PREREQ_INSTANCES_WITHIN_LIMIT,
          f->backup_instances, in->instances_limit);

    r = &out[PREREQ_EXTENSION_RUNNING];
    set(r, PREREQ_EXTENSION_RUNNING,
        in->extension_running < 0 ? PREREQ_UNKNOWN
        : in->extension_running   ? PREREQ_PASS
                                  : PREREQ_FAIL,
        ed->extension_no_pending ? ">= 1 extension pod, all Running and Ready, none Pending"
                                 : ">= 1 extension pod, all Running and Ready");
    snprintf(r->observed, sizeof(r->observed), "%s",
             in->extension_detail ? in->extension_detail
             : in->extension_running < 0 ? "pods not listed yet" : "");

    r = &out[PREREQ_BACKUP_STORAGE_LOCATION];
    set(r, PREREQ_BACKUP_STORAGE_LOCATION,
        in->bsl_state < 0 ? PREREQ_UNKNOWN : in->bsl_state ? PREREQ_PASS : PREREQ_FAIL,
        "the extension's BackupStorageLocation is Available");
    snprintf(r->observed, sizeof(r->observed), "%s",
             in->bsl_detail ? in->bsl_detail : "no BackupStorageLocation in the extension's namespace");

    for (int i = 0; i < PREREQ_COUNT; i++)
        out[i].applies = matrix_has_check(ed, i);
    if (in->files_pvs == 0)
        out[PREREQ_CSI_FILE_DRIVER_VERSION].applies = false;

    tri(&out[PREREQ_TRUSTED_ACCESS], PREREQ_TRUSTED_ACCESS, in->trusted_access,
        "the vault has a trusted-access binding with the backup-operator role",
        "no trusted-access binding for the vault with the backup-operator role",
        "a trusted-access role binding for the vault");
    if (in->trusted_access < 0)
        snprintf(out[PREREQ_TRUSTED_ACCESS].observed, sizeof(out[PREREQ_TRUSTED_ACCESS].observed),
                 "not observed yet");
    /* Only the Azure view reads it: without the view it is left out, so
     * nothing changes for a cluster judged from the API alone. */
    out[PREREQ_TRUSTED_ACCESS].applies = in->azure_view;
}
