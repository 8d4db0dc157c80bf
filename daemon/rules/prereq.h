/* Cluster prerequisites of AKS backup, evaluated from plain
 * inputs the engine gathers: each check is pass, fail or unknown (unknown
 * when the input is not configured or not observed yet). Pure. */
#ifndef ABC_RULES_PREREQ_H
#define ABC_RULES_PREREQ_H

#include <stdbool.h>
#include <stddef.h>

struct regions;

/* In the documented order; the order of the report and the metric series. */
enum prereq_check {
    PREREQ_KUBERNETES_VERSION = 0,
    PREREQ_CSI_DISK_DRIVER,
    PREREQ_SNAPSHOT_API,
    PREREQ_SNAPSHOT_CLASS,
    PREREQ_REGION_SUPPORTED,
    PREREQ_VAULT_SAME_REGION,
    PREREQ_VAULT_SAME_SUBSCRIPTION,
    PREREQ_STORAGE_SAME_REGION,
    PREREQ_STORAGE_SAME_SUBSCRIPTION,
    PREREQ_SYSTEM_IDENTITY,
    PREREQ_POLICIES_WITHIN_LIMIT,
    PREREQ_INSTANCES_WITHIN_LIMIT,
    PREREQ_EXTENSION_RUNNING,
    PREREQ_STORAGE_ACCOUNT_KIND, /* StorageV2 and not Premium_* (read by the Azure view) */
    PREREQ_TRUSTED_ACCESS,       /* the vault's trusted-access binding (the Azure view) */
    PREREQ_COUNT
};

enum prereq_status { PREREQ_PASS = 0, PREREQ_FAIL, PREREQ_UNKNOWN };

/* Tri-state observations: 1 yes, 0 no, -1 not known (not listed yet). */
struct prereq_input {
    const char *kubernetes_version; /* gitVersion of /version; NULL/"" = not read yet */
    int csi_disk_driver;            /* CSIDriver disk.csi.azure.com exists */
    int snapshot_api;               /* snapshot.storage.k8s.io/v1 served */
    int snapshot_class;             /* a VolumeSnapshotClass with driver disk.csi.azure.com */
    const char *cluster_region;     /* effective (config override, else Nodes); NULL/"" unknown */
    const char *cluster_subscription;
    const struct regions *regions;  /* supported regions; NULL = list not loaded */
    const char *cluster_identity;   /* config cluster.identity; "" unknown */
    const char *vault_region, *vault_subscription;
    const char *storage_region, *storage_subscription;
    long backup_policies, backup_instances; /* -1 unknown */
    long policies_limit, instances_limit;   /* per vault (5000) */
    int extension_running;          /* >=1 pod, all Running and Ready; -1 pods not listed */
    const char *extension_detail;   /* why not (observed text); may be NULL */
    const char *storage_kind, *storage_sku; /* the storage account's; NULL/"" unknown */
    int trusted_access;             /* a binding for the vault with the backup role: 1/0, -1 unknown */
    bool azure_view;                /* storage_account_kind and trusted_access apply (else absent) */
};

struct prereq_result {
    enum prereq_status status;
    char observed[192];
    char expected[96];
    const char *remedy;             /* static; "" when passing */
    bool absent;                    /* not applicable: left out of the report, metrics and exit code */
};

/* Fills out[PREREQ_COUNT] in check order. */
void prereq_evaluate(const struct prereq_input *in, struct prereq_result *out);

const char *prereq_check_name(enum prereq_check c);   /* "kubernetes_version", ... */
const char *prereq_status_name(enum prereq_status s); /* "pass", "fail", "unknown" */

/* Kubernetes version: "v1.29.7", "v1.27.9+abc", "1.30", "v1.28.3-gke.1".
 * 0 and the major and minor numbers, or -EINVAL. */
int prereq_parse_version(const char *s, int *major, int *minor);
/* /version "minor" field, which may carry a '+' ("27+"). 0 or -EINVAL. */
int prereq_parse_minor(const char *s, int *minor);

/* Minimum Kubernetes version for AKS backup. */
#define PREREQ_MIN_MAJOR 1
#define PREREQ_MIN_MINOR 22

#endif
