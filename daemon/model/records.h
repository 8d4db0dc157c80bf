/* Typed, compact records of the watched resources and their
 * model_type descriptors. The reflector builds them with ->extract, the
 * store owns them, the rules engine reads them in its consumer callbacks.
 * Each record keeps only what rules/ needs; sizes below are sizeof() on
 * x86-64 without the strings packed behind the struct (the name and the
 * other per-object strings, typically 20-40 bytes: uid and resourceVersion
 * live in struct obj_meta itself, see model.h). Low-cardinality strings
 * (namespace, class, driver, phase, ...) are interned and kept as 32-bit
 * ids: read them through the accessors below (model_intern_str). */
#ifndef ABC_MODEL_RECORDS_H
#define ABC_MODEL_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* ---- PersistentVolume (80 bytes; name and claim name packed behind it
 * in the same allocation, the other strings interned ids: do not free or
 * replace members, extract or clone anew) ---- */
enum pv_source {
    PV_SOURCE_NONE = 0,   /* no volume source field at all */
    PV_SOURCE_CSI,        /* spec.csi */
    PV_SOURCE_AZURE_DISK, /* spec.azureDisk (in-tree) */
    PV_SOURCE_AZURE_FILE, /* spec.azureFile (in-tree) */
    PV_SOURCE_OTHER,      /* hostPath, local, nfs, iscsi, ...: see source_field */
};

/* pv_rec.flags */
#define PV_F_NFS 0x01          /* spec.csi.volumeAttributes.protocol is nfs (any case) */
#define PV_F_PRIVATE_EP 0x02   /* volumeAttributes networkEndpointType privateEndpoint */
#define PV_F_VELERO_META 0x04  /* a label or annotation key under velero.io/ */
#define PV_F_CAPACITY_BAD 0x08 /* spec.capacity.storage present but not a quantity */

struct pv_rec {
    struct obj_meta meta;
    int64_t capacity;           /* spec.capacity.storage in bytes; -1 absent or unparsable */
    /* interned ids (0 = NULL), read through the pv_* accessors below */
    uint32_t source_field_id;   /* spec field name of the source ("csi", "hostPath", ...); 0 for NONE */
    uint32_t csi_driver_id;     /* spec.csi.driver; 0 unless CSI */
    uint32_t storage_class_id;  /* spec.storageClassName; 0 when absent or "" */
    uint32_t claim_ns_id;       /* spec.claimRef.namespace; 0 when unbound */
    uint32_t phase_id;          /* status.phase; 0 when absent */
    uint32_t provisioned_by_id; /* annotation pv.kubernetes.io/provisioned-by; 0 when absent */
    uint8_t source;             /* enum pv_source */
    bool migrated;              /* annotation pv.kubernetes.io/migrated-to present */
    uint8_t flags;              /* PV_F_* */
    uint8_t claim_off;          /* pv_claim_name: 0 none, 255 after the name, else its offset from it */
    /* Not part of the object: the rules engine's position of this record
     * in its verdict array (rules/engine_pv.c), written by the engine into
     * the records it indexes (the store's, store.h Lifetime, or its own
     * copies) so that it needs no index of its own; a hint, checked
     * before use. 0 in a fresh record. */
    uint32_t engine_pos;
};
_Static_assert(sizeof(struct pv_rec) == 80, "a PV record's struct is 80 bytes");

/* spec.claimRef.name, right after the name; NULL when unbound. */
static inline const char *pv_claim_name(const struct pv_rec *r)
{
    if (!r->claim_off)
        return NULL;
    return r->claim_off != 255 ? r->meta.name + r->claim_off : model_tail(r->meta.name, 1);
}

static inline const char *pv_source_field(const struct pv_rec *r) { return model_intern_str(r->source_field_id); }
static inline const char *pv_csi_driver(const struct pv_rec *r) { return model_intern_str(r->csi_driver_id); }
static inline const char *pv_storage_class(const struct pv_rec *r) { return model_intern_str(r->storage_class_id); }
static inline const char *pv_claim_ns(const struct pv_rec *r) { return model_intern_str(r->claim_ns_id); }
static inline const char *pv_phase(const struct pv_rec *r) { return model_intern_str(r->phase_id); }
static inline const char *pv_provisioned_by(const struct pv_rec *r) { return model_intern_str(r->provisioned_by_id); }

/* A copy of r (one allocation, free with model_pv_type.free); NULL on
 * ENOMEM. */
struct pv_rec *model_pv_clone(const struct pv_rec *r);

/* ---- PersistentVolumeClaim (56 bytes; packed like pv_rec) ---- */
struct pvc_rec {
    struct obj_meta meta;
    uint32_t storage_class_id; /* interned spec.storageClassName when present ("" kept as ""); 0 when absent */
    uint32_t phase_id;         /* interned status.phase; 0 when absent */
    bool has_storage_class;    /* spec.storageClassName present (possibly "") */
    bool velero_meta;          /* a label or annotation key under velero.io/ */
    bool has_volume_name;      /* pvc_volume_name */
};

/* spec.volumeName, right after the name; NULL when absent or "". */
static inline const char *pvc_volume_name(const struct pvc_rec *r)
{
    return r->has_volume_name ? model_tail(r->meta.name, 1) : NULL;
}

static inline const char *pvc_storage_class(const struct pvc_rec *r) { return model_intern_str(r->storage_class_id); }
static inline const char *pvc_phase(const struct pvc_rec *r) { return model_intern_str(r->phase_id); }

/* A copy of r (one allocation, free with model_pvc_type.free); NULL on
 * ENOMEM. */
struct pvc_rec *model_pvc_clone(const struct pvc_rec *r);

/* ---- StorageClass (56 bytes) ---- */
/* storageclass_rec.params: the parameters the support matrix looks at. */
#define SC_P_NFS 0x01            /* protocol: nfs (any case) */
#define SC_P_PRIVATE_EP 0x02     /* networkEndpointType: privateEndpoint */
#define SC_P_SLOW_SKU 0x04       /* skuName/skuname PremiumV2_LRS or UltraSSD_LRS (any case) */
#define SC_P_DES 0x08            /* diskEncryptionSetID set */
#define SC_P_NET_PRIVATE 0x10    /* networkAccessPolicy DenyAll or AllowPrivate */
#define SC_P_AAD 0x20            /* dataAccessAuthMode AzureActiveDirectory */
struct storageclass_rec {
    struct obj_meta meta;
    char *provisioner; /* never NULL ("" when absent) */
    bool is_default;   /* (beta.)storageclass.kubernetes.io/is-default-class == "true" */
    unsigned params;   /* SC_P_* */
};

/* ---- CSIDriver (40 bytes): the name is all the rules need ---- */
struct csidriver_rec {
    struct obj_meta meta;
};

/* ---- VolumeSnapshotClass (48 bytes) ---- */
struct snapshotclass_rec {
    struct obj_meta meta;
    char *driver; /* never NULL */
};

/* ---- VolumeSnapshot (48 bytes; packed like pv_rec) ---- */
struct snapshot_rec {
    struct obj_meta meta;      /* meta.created is the creationTimestamp */
    bool ready;                /* status.readyToUse == true */
    bool has_error;            /* status.error present */
    bool has_source_pvc;       /* snapshot_source_pvc */
    bool has_error_message;    /* snapshot_error_message */
};

/* spec.source.persistentVolumeClaimName, right after the name; NULL for
 * content sources. */
static inline const char *snapshot_source_pvc(const struct snapshot_rec *r)
{
    return r->has_source_pvc ? model_tail(r->meta.name, 1) : NULL;
}

/* status.error.message, after the source claim; NULL when absent. */
static inline const char *snapshot_error_message(const struct snapshot_rec *r)
{
    return r->has_error_message ? model_tail(r->meta.name, r->has_source_pvc ? 2u : 1u) : NULL;
}

/* A copy of r (one allocation, free with model_snapshot_type.free); NULL
 * on ENOMEM. */
struct snapshot_rec *model_snapshot_clone(const struct snapshot_rec *r);

/* ---- Node (72 bytes) ---- */
struct node_rec {
    struct obj_meta meta;
    char *region;          /* topology.kubernetes.io/region, else the failure-domain beta label; NULL */
    char *subscription_id; /* from spec.providerID azure:///subscriptions/<id>/...; NULL */
    char *kubelet_version; /* status.nodeInfo.kubeletVersion; NULL */
    bool ready;            /* condition Ready == True */
    bool linux_amd64;      /* labels kubernetes.io/os=linux and kubernetes.io/arch=amd64 */
};

/* ---- Namespace (metadata only) ---- */
struct namespace_rec {
    struct obj_meta meta;
    bool velero_meta;      /* a label or annotation key under velero.io/ */
};

/* ---- velero.io/v1 BackupStorageLocation ---- */
struct bsl_rec {
    struct obj_meta meta;
    char *phase;           /* status.phase (Available, Unavailable); NULL */
    char *message;         /* status.message; NULL */
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
    char *sched_message;         /* that condition's message when PodScheduled is False; NULL */
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
extern const struct model_type model_namespace_type;
extern const struct model_type model_bsl_type;

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
