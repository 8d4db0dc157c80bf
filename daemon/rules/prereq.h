/* Cluster prerequisites of AKS backup, evaluated from plain
 * inputs the engine gathers: each check is pass, fail or unknown (unknown
 * when the input is not configured or not observed yet). Pure. */
#ifndef ABC_RULES_PREREQ_H
#define ABC_RULES_PREREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct regions;
struct kversions;
struct matrix_edition;

/* In the documented order; the order of the report and the metric series. */
enum prereq_check {
    PREREQ_KUBERNETES_VERSION = 0,
    PREREQ_CSI_DISK_DRIVER,
    PREREQ_SNAPSHOT_API,
    PREREQ_SNAPSHOT_CLASS,
    PREREQ_CSI_FILE_DRIVER_VERSION,
    PREREQ_REGION_SUPPORTED,
    PREREQ_VAULT_SAME_REGION,
    PREREQ_VAULT_SAME_SUBSCRIPTION,
    PREREQ_STORAGE_SAME_REGION,
    PREREQ_STORAGE_SAME_SUBSCRIPTION,
    PREREQ_STORAGE_ACCOUNT_KIND,
    PREREQ_IDENTITY,
    PREREQ_LINUX_AMD64_NODES,
    PREREQ_NO_OTHER_VELERO,
    PREREQ_NAMESPACES_WITHIN_LIMIT,
    PREREQ_POLICIES_WITHIN_LIMIT,
    PREREQ_INSTANCES_WITHIN_LIMIT,
    PREREQ_EXTENSION_RUNNING,
    PREREQ_BACKUP_STORAGE_LOCATION,
    PREREQ_TRUSTED_ACCESS,       /* the vault's trusted-access binding (only with the Azure view) */
    PREREQ_COUNT
};

enum prereq_status { PREREQ_PASS = 0, PREREQ_FAIL, PREREQ_UNKNOWN };

/* Facts about the cluster's Azure resources that the Kubernetes API does
 * not show. Filled from the configuration today (cluster.identity, vault.*,
 * storage.*); another source (a reader of Azure Resource Manager) can fill
 * the same struct. Strings "" / counts -1 = unknown. */
struct prereq_facts {
    const char *cluster_identity;   /* system | user | service-principal | "" */
    const char *vault_region, *vault_subscription;
    const char *storage_region, *storage_subscription;
    const char *storage_kind;       /* StorageV2, Storage, BlobStorage, ... */
    const char *storage_sku;        /* Standard_LRS, Premium_LRS, ... */
    long backup_policies, backup_instances;
    bool vault_tier;                /* recovery points also go to the Vault tier */
};

/* Tri-state observations: 1 yes, 0 no, -1 not known (not listed yet). */
struct prereq_input {
    const struct matrix_edition *edition; /* NULL = the default edition */
    int64_t now;                    /* Unix seconds (kubernetes_version calendar) */
    const struct kversions *kversions; /* supported minors; NULL = not loaded */
    struct prereq_facts facts;
    const char *kubernetes_version; /* gitVersion of /version; NULL/"" = not read yet */
    int csi_disk_driver;            /* CSIDriver disk.csi.azure.com exists */
    int snapshot_api;               /* snapshot.storage.k8s.io/v1 served */
    int snapshot_class;             /* a VolumeSnapshotClass with driver disk.csi.azure.com */
    const char *cluster_region;     /* effective (config override, else Nodes); NULL/"" unknown */
    const char *cluster_subscription;
    const struct regions *regions;  /* supported regions; NULL = list not loaded */
    long policies_limit, instances_limit;   /* per vault (5000) */
    int extension_running;          /* >=1 pod, all Running and Ready; -1 pods not listed */
    const char *extension_detail;   /* why not (observed text); may be NULL */
    /* Azure Files CSI driver: files_pvs > 0 when SMB Azure Files PVs exist
     * (the check is absent otherwise); version "" = unknown. */
    size_t files_pvs;
    const char *files_driver_version;
    /* Nodes: -1 not listed; else Ready Linux amd64 nodes and all nodes. */
    long linux_amd64_ready, nodes;
    /* velero.io BackupStorageLocations: -1 not served / not listed. */
    long other_velero_locations;    /* outside the extension's namespace */
    const char *other_velero_example; /* "ns/name" of one of them */
    int bsl_state;                  /* 1 Available, 0 Unavailable, -1 none / unknown */
    const char *bsl_detail;         /* phase and message of the extension's location */
    /* Namespaces in the backup scope (excluded ones already removed); -1 unknown. */
    long namespaces_in_scope;
    /* The Azure view: a trusted-access binding for the vault with the backup
     * role (1/0, -1 unknown); azure_view: the check applies (else left out). */
    int trusted_access;
    bool azure_view;
};

struct prereq_result {
    bool applies;                   /* false: not a check in this edition (or absent) */
    enum prereq_status status;
    char observed[192];
    char expected[96];
    const char *remedy;             /* static; "" when passing */
};

/* Fills out[PREREQ_COUNT] in check order; checks the edition does not have
 * get applies = false (and are left out of reports and metrics). */
void prereq_evaluate(const struct prereq_input *in, struct prereq_result *out);

/* Where the cluster's minor stands in the release calendar (editions with
 * MATRIX_VERSION_CALENDAR): 1 within the edition's warning days of its end
 * of standard support, 2 past it but within long-term support, 0 otherwise
 * (or not judged). *end / *date get the end in question. */
int prereq_version_standing(const struct prereq_input *in, const struct matrix_edition *ed,
                            int64_t *end, const char **date);

const char *prereq_check_name(enum prereq_check c);   /* "kubernetes_version", ... */
const char *prereq_status_name(enum prereq_status s); /* "pass", "fail", "unknown" */

/* Kubernetes version: "v1.29.7", "v1.27.9+abc", "1.30", "v1.28.3-gke.1".
 * 0 and the major and minor numbers, or -EINVAL. */
int prereq_parse_version(const char *s, int *major, int *minor);
/* /version "minor" field, which may carry a '+' ("27+"). 0 or -EINVAL. */
int prereq_parse_minor(const char *s, int *minor);

/* "v1.32.5", "1.32", "v1.32.5-aks.1": 0 and major, minor (the patch is
 * ignored), or -EINVAL. For image tags (Azure Files CSI driver). */
int prereq_parse_tag_version(const char *s, int *major, int *minor);

/* Minimum Kubernetes version for AKS backup (the 2023-08 edition). */
#define PREREQ_MIN_MAJOR 1
#define PREREQ_MIN_MINOR 22

#endif
