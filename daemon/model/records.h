/* Typed, compact records of the watched resources and their
 * model_type descriptors. The reflector builds them with ->extract, the
 * store owns them, the rules engine reads them in its consumer callbacks.
 * Each record keeps only what rules/ needs; sizes below are sizeof() on
 * x86-64 without the heap strings (typically 20-80 bytes more each: uid and resourceVersion live in
 * struct obj_meta itself, see model.h). */
#ifndef ABC_MODEL_RECORDS_H
#define ABC_MODEL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* ---- PersistentVolume (112 bytes; name and claim name packed behind it
 * in the same allocation, the other strings interned and shared: do not
 * free or replace members, extract or clone anew) ---- */
enum pv_source {
    PV_SOURCE_NONE = 0,   /* no volume source field at all */
    PV_SOURCE_CSI,        /* spec.csi */
    PV_SOURCE_AZURE_DISK, /* spec.azureDisk (in-tree) */
    PV_SOURCE_AZURE_FILE, /* spec.azureFile (in-tree) */
    PV_SOURCE_OTHER,      /* hostPath, local, nfs, iscsi, ...: see source_field */
};

struct pv_rec {
    struct obj_meta meta;
    enum pv_source source;
    bool migrated;        /* annotation pv.kubernetes.io/migrated-to present */
    char *source_field;   /* spec field name of the source ("csi", "hostPath", ...); NULL for NONE */
    char *csi_driver;     /* spec.csi.driver; NULL unless CSI */
    char *storage_class;  /* spec.storageClassName; NULL when absent or "" */
    char *claim_ns;       /* spec.claimRef; NULL when unbound */
    char *claim_name;
    char *phase;          /* status.phase; NULL when absent */
    char *provisioned_by; /* annotation pv.kubernetes.io/provisioned-by; NULL when absent */
};

/* A copy of r (one allocation, free with model_pv_type.free); NULL on
 * ENOMEM. */
struct pv_rec *model_pv_clone(const struct pv_rec *r);

/* ---- PersistentVolumeClaim (80 bytes; packed like pv_rec) ---- */
struct pvc_rec {
    struct obj_meta meta;
    bool has_storage_class; /* spec.storageClassName present (possibly "") */
    char *storage_class;    /* its value when present ("" kept as ""); NULL when absent */
    char *volume_name;      /* spec.volumeName; NULL when absent or "" */
    char *phase;            /* status.phase; NULL when absent */
};

/* ---- StorageClass (64 bytes) ---- */
struct storageclass_rec {
    struct obj_meta meta;
    char *provisioner; /* never NULL ("" when absent) */
    bool is_default;   /* (beta.)storageclass.kubernetes.io/is-default-class == "true" */
};

/* ---- CSIDriver (48 bytes): the name is all the rules need ---- */
struct csidriver_rec {
    struct obj_meta meta;
};

/* ---- VolumeSnapshotClass (56 bytes) ---- */
struct snapshotclass_rec {
    struct obj_meta meta;
    char *driver; /* never NULL */
};

/* ---- VolumeSnapshot (72 bytes; packed like pv_rec) ---- */
struct snapshot_rec {
    struct obj_meta meta;      /* meta.created is the creationTimestamp */
    char *source_pvc;          /* spec.source.persistentVolumeClaimName; NULL for content sources */
    bool ready;                /* status.readyToUse == true */
    bool has_error;            /* status.error present */
    char *error_message;       /* status.error.message; NULL when absent */
};

/* ---- Node (72 bytes) ---- */
struct node_rec {
    struct obj_meta meta;
    char *region;          /* topology.kubernetes.io/region, else the failure-domain beta label; NULL */
    char *subscription_id; /* from spec.providerID azure:///subscriptions/<id>/...; NULL */
    char *kubelet_version; /* status.nodeInfo.kubeletVersion; NULL */
};

/* ---- Pod (80 bytes + 40 per container) ---- */
struct pod_container {
    char *name;
    int32_t restarts;            /* restartCount */
    bool oomkilled;              /* lastState.terminated.reason == OOMKilled */
    char *waiting_reason;        /* state.waiting.reason; NULL when not waiting */
    char *last_term_reason;      /* lastState.terminated.reason; NULL */
    int64_t memory_limit;        /* resources.limits.memory in bytes; -1 when unset */
};

struct pod_rec {
    struct obj_meta meta;
    char *phase;                 /* status.phase; "Unknown" when absent */
    bool ready;                  /* condition Ready == True */
    bool unschedulable;          /* PodScheduled False with reason Unschedulable */
    size_t ncontainers;          /* spec.containers, in spec order */
    struct pod_container *containers;
};

/* Descriptors (group/version/kind/scope of each watched resource). */
extern const struct model_type model_pv_type;
extern const struct model_type model_pvc_type;
extern const struct model_type model_storageclass_type;
extern const struct model_type model_csidriver_type;
extern const struct model_type model_snapshotclass_type;
extern const struct model_type model_snapshot_type;
extern const struct model_type model_node_type;

/* The pod type is restricted to the extension's namespace and selector at
 * run time: returns a copy of the pod descriptor with namespace_ and
 * label_selector set. Both strings are borrowed: they must outlive every
 * user of the returned type (keep them in the config the app owns). */
struct model_type model_pod_type(const char *ns, const char *label_selector);

/* Kubernetes resource quantity ("1280Mi", "1Gi", "500M", "128974848",
 * "1.5Gi", "64Ki", "1e3") to bytes, rounded up. 0 or -EINVAL. */
int model_parse_quantity(const char *s, int64_t *out);

/* Subscription id from an Azure providerID
 * ("azure:///subscriptions/<id>/resourceGroups/..."), copied into out.
 * 0, or -EINVAL when the string has no subscription segment, -ENAMETOOLONG. */
int model_provider_subscription(const char *provider_id, char *out, size_t n);

#endif
