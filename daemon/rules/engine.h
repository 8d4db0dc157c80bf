/* The rules engine: keeps the current evaluation of the cluster
 * incrementally from store events. A PV event re-judges that PV;
 * class, driver, node, version and pod events update what depends on them.
 * Derived totals (PVs per reason, pending claims, snapshot counts) are kept
 * as counters on change, so /metrics, /readyz and the report only read.
 * Runs on the loop thread; nothing here does I/O or logs.
 *
 * Warning codes (stable, kebab-case; report "warnings"):
 *   claim-pending            a claim is Pending or has no volume
 *   claim-no-storage-class   a claim's storageClassName is absent or ""
 *   snapshot-failed          a VolumeSnapshot has status.error
 *   snapshot-stuck           a VolumeSnapshot is not ready 10 min after creation
 *   snapshots-near-limit     a claim has >= warn_ratio x snapshots_per_disk snapshots
 *   extension-not-ready      an extension pod is not Running and Ready
 *   extension-oomkilled      an extension container was last terminated OOMKilled
 *   extension-restarting     an extension container has restarted (restartCount > 0)
 *   extension-memory-limit   > 1000 namespaced objects watched while an extension
 *                            container runs with the default 1280Mi memory limit
 * and, in editions that have them (2026-01):
 *   velero-metadata          a PV, PVC or Namespace (outside the extension's
 *                            namespace) with a label/annotation key under velero.io/
 *   vault-tier-too-many-disks more supported disk PVs in the backup scope than the
 *                            Vault tier takes (100) while vault.tiers contains vault
 *   kubernetes-version-ending the minor's end of support is within 30 days
 *   kubernetes-version-lts-only past standard support, within long-term support
 * Informational codes: the edition's (rules/matrix.c), always listed. */
#ifndef ABC_RULES_ENGINE_H
#define ABC_RULES_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "rules/matrix.h"
#include "rules/classify.h"
#include "rules/prereq.h"

struct engine;
struct regions;

/* Configuration the engine needs (the lead maps struct config onto it).
 * Strings are copied by engine_new / engine_set_opts; NULL = "". regions is
 * borrowed and must stay valid until replaced or engine_free. */
/* Which PersistentVolumes get an aks_backup_persistent_volume_supported
 * series (metrics.per_pv): every one, only the skipped ones, or none (the
 * per-reason counts remain). */
enum engine_per_pv { ENGINE_PER_PV_ALL = 0, ENGINE_PER_PV_SKIPPED, ENGINE_PER_PV_NONE };

struct engine_opts {
    const char *cluster_region;        /* override; "" = from Nodes */
    const char *cluster_subscription;  /* override; "" = from Nodes' providerID */
    const char *cluster_identity;      /* system | user | service-principal | "" */
    const char *vault_region, *vault_subscription;
    const char *storage_region, *storage_subscription;
    long backup_policies, backup_instances; /* -1 unknown */
    long policies_limit, instances_limit;   /* 5000 / 5000 */
    long snapshots_per_disk;                /* 500 */
    double warn_ratio;                      /* 0.8 */
    const char *extension_namespace;        /* for messages */
    const char *extension_selector;
    const struct regions *regions;          /* NULL = not loaded */
    /* Support-matrix edition (static table, borrowed); NULL = the default. */
    const struct matrix_edition *edition;
    const char *storage_kind, *storage_sku; /* "" unknown */
    bool vault_tier;                        /* vault.tiers contains vault */
    const char *const *backup_namespaces;   /* vault.backup_namespaces; n = 0: all */
    size_t n_backup_namespaces;
    const char *azure_files_version;        /* driver.azure_files_version override; "" */
    const struct kversions *kversions;      /* NULL = not loaded (borrowed like regions) */
    enum engine_per_pv per_pv;              /* which PVs get a per-PV series */
};

/* Fills o with the documented defaults (strings "", counts -1, limits 5000,
 * 500, 0.8, the extension namespace and selector). */
void engine_opts_default(struct engine_opts *o);

/* NULL on ENOMEM. */
struct engine *engine_new(const struct engine_opts *o);
void engine_free(struct engine *e);
/* Replaces the options (reload). 0 / -ENOMEM (old options kept). */
int engine_set_opts(struct engine *e, const struct engine_opts *o);

/* Current options (borrowed until the next engine_set_opts: a struct copied
 * from it must be re-read after each engine_set_opts). */
const struct engine_opts *engine_get_opts(const struct engine *e);

/* Registers the engine as a consumer of s, for every watched resource;
 * it dispatches on the store's type (persistentvolumes,
 * persistentvolumeclaims, storageclasses, csidrivers,
 * volumesnapshotclasses, volumesnapshots, nodes, pods; others ignored).
 * The engine keeps pointers to s's PV, claim and snapshot records instead
 * of copies (store.h Lifetime; a release hook drops them when s is freed). Either may be
 * freed first: engine_free unregisters the hook from stores still alive
 * (their consumer must then not fire again: free the store or stop its
 * reflector). 0 / -ENOMEM (-ENOSPC after 65535 attachments). */
int engine_attach_store(struct engine *e, struct store *s);

/* Direct feeding (tests, and what a consumer of the engine calls). rec is
 * borrowed for the call (a PV, claim or snapshot is copied); old may be
 * NULL (add) and rec NULL (delete). */
void engine_apply(struct engine *e, const struct model_type *t, const void *old_rec,
                  const void *new_rec);
void engine_mark_synced(struct engine *e, const char *resource);

/* Inputs not from stores. git_version "v1.30.6" (copied; NULL = unknown).
 * engine_set_version_info also takes /version's major/minor ("1", "27+")
 * and uses them when git_version does not parse. */
void engine_set_version(struct engine *e, const char *git_version);
void engine_set_version_info(struct engine *e, const char *git_version, const char *major,
                             const char *minor);
/* 1 served, 0 not served (404), -1 unknown. */
void engine_set_snapshot_api(struct engine *e, int served);
/* The Azure Files CSI driver's version as read from DaemonSet
 * kube-system/csi-azurefile-node ("v1.32.5"; NULL/"" = unknown). The
 * configured override (opts.azure_files_version) wins. Re-judges the PVs. */
void engine_set_files_driver_version(struct engine *e, const char *version);
/* The effective Azure Files CSI driver version ("" unknown). */
const char *engine_files_driver_version(const struct engine *e);
/* The edition in force. */
const struct matrix_edition *engine_edition(const struct engine *e);
/* Tests: the wall clock the prerequisites use (Unix seconds; 0 = the real
 * clock, util/clock). */
void engine_set_now(struct engine *e, int64_t now);

/* Namespaced objects watched (PVCs + VolumeSnapshots + accounting objects). */
void engine_set_namespaced_count(struct engine *e, size_t n);

/* Change notification: what (ENGINE_CHANGED_*) changed. Fired synchronously
 * from engine_apply; coalescing is the caller's business. */
#define ENGINE_CHANGED_VERDICTS 1u /* a PV was added, removed or its verdict/labels changed */
#define ENGINE_CHANGED_CLASSES 2u  /* StorageClass set, a provisioner or the default class changed */
typedef void (*engine_change_cb)(void *data, unsigned what);
void engine_set_on_change(struct engine *e, engine_change_cb cb, void *data);

/* ---- read side ---- */

/* Verdict of one PV, as the engine holds it. */
struct engine_pv {
    const char *name;
    const char *storage_class; /* "" when none */
    const char *driver;        /* classify_pv_driver */
    const char *claim_ns;      /* NULL when unbound */
    const char *claim_name;
    const char *phase;         /* "" when absent */
    enum pv_reason reason;
    uint8_t notes;             /* 1 << enum pv_note, supported PVs */
    const char *remedy;        /* the edition's remedy for reason; "" supported */
    int64_t capacity;          /* bytes; -1 unknown */
};
/* Number of PVs and per reason (kept on change). */
size_t engine_pv_count(const struct engine *e);
size_t engine_pv_reason_count(const struct engine *e, enum pv_reason r);
/* Number of PVs carrying note n. */
size_t engine_pv_note_count(const struct engine *e, enum pv_note n);
/* Fills *out (borrowed until the next engine call); false if unknown. */
bool engine_pv_get(const struct engine *e, const char *name, struct engine_pv *out);
/* All PVs sorted by name; cb returns false to stop. */
int engine_foreach_pv_sorted(const struct engine *e,
                             bool (*cb)(void *data, const struct engine_pv *pv), void *data);
/* Every PV's verdict (pv borrowed for the callback only) in the engine's
 * order: as the store applied them (list order after a relist), later
 * additions last. The metric collector renders its lines from these. */
void engine_foreach_pv(const struct engine *e,
                       void (*cb)(void *data, const struct engine_pv *pv), void *data);

/* StorageClasses whose verdict is not supported (admission ConfigMap).
 * message: classify_class_message. */
void engine_foreach_skipped_class(const struct engine *e,
                                  void (*cb)(void *data, const char *name, const char *provisioner,
                                             enum pv_reason reason, const char *message,
                                             bool is_default),
                                  void *data);
/* The default StorageClass's name (borrowed) or NULL; first found when
 * several are annotated. */
const char *engine_default_class(const struct engine *e);

/* Claims: pending total and per namespace; claims without a class. */
size_t engine_claims_pending(const struct engine *e);
size_t engine_claims_pending_in(const struct engine *e, const char *ns);
void engine_foreach_pending_ns(const struct engine *e,
                               void (*cb)(void *data, const char *ns, size_t n), void *data);
size_t engine_claims_without_class(const struct engine *e);

/* Snapshots by status and the largest number of snapshots of one claim. */
enum snapshot_status { SNAPSHOT_READY = 0, SNAPSHOT_PENDING, SNAPSHOT_FAILED, SNAPSHOT_STATUS_COUNT };
const char *snapshot_status_name(enum snapshot_status s);
size_t engine_snapshots(const struct engine *e, enum snapshot_status s);
size_t engine_snapshots_max_per_claim(const struct engine *e, const char **claim);

/* Cluster facts: effective region/subscription (config override, else the
 * most common Node value), version. Borrowed; "" when unknown. */
const char *engine_cluster_region(const struct engine *e);
const char *engine_cluster_subscription(const struct engine *e);
const char *engine_kubernetes_version(const struct engine *e);

/* The Azure-side facts the prerequisites read, as configured. */
struct prereq_facts engine_facts(const struct engine *e);
/* Prerequisites in the support matrix's order (out has PREREQ_COUNT
 * entries; those with applies false are not checks of the edition). */
void engine_prerequisites(const struct engine *e, struct prereq_result *out);
/* /readyz "prerequisites": false when a check fails (unknown passes);
 * reason names the failing checks. */
bool engine_prerequisites_ok(const struct engine *e, char *reason, size_t n);

/* Extension health (issue 6). */
struct engine_ext_container {
    const char *name;
    int restarts;
    bool oomkilled;
    int64_t memory_limit; /* bytes; -1 unset */
};
struct engine_ext_pod {
    const char *name;
    const char *phase;
    bool ready;
    const char *reason;   /* "" when healthy, else e.g. "CrashLoopBackOff, last terminated OOMKilled, 7 restarts" */
    int restarts;         /* sum over containers */
    bool oomkilled;       /* any container */
    size_t ncontainers;
    const struct engine_ext_container *containers;
};
/* The reason string of one pod record ("" when Running and Ready):
 * "Unschedulable", "<waiting reason>[, last terminated <reason>][, N restarts]"
 * per waiting container joined by "; ", else the phase or "not ready". */
void engine_pod_reason(const struct pod_rec *p, char *out, size_t n);
size_t engine_extension_pod_count(const struct engine *e);
/* Pods sorted by name. */
void engine_foreach_extension_pod(const struct engine *e,
                                  void (*cb)(void *data, const struct engine_ext_pod *p),
                                  void *data);
/* 1 all running and ready (>= 1 pod), 0 not, -1 pods not listed yet. */
int engine_extension_running(const struct engine *e);
/* /readyz "extension": reason names the failing pod and why, or says no
 * pods match. */
bool engine_extension_ok(const struct engine *e, char *reason, size_t n);

/* The two checks above in readyz_check_cb shape (data = the engine), for
 * readyz_register(r, "extension", engine_readyz_extension, e) and
 * readyz_register(r, "prerequisites", engine_readyz_prerequisites, e). */
bool engine_readyz_extension(void *data, char *reason, size_t n);
bool engine_readyz_prerequisites(void *data, char *reason, size_t n);

/* Warnings (codes above) and informational items, computed at call time
 * (now: Unix seconds, for snapshot-stuck). Caller frees with
 * engine_warnings_free. 0 / -ENOMEM. */
struct engine_warning {
    const char *code; /* static */
    char *object;     /* "ns/name", "pod/container", ... */
    char *message;
};
int engine_warnings(const struct engine *e, int64_t now, struct engine_warning **out, size_t *n);
void engine_warnings_free(struct engine_warning *w, size_t n);

/* ---- the Azure view: an overlay of facts (plain data; rules know nothing of ARM) ----
 * RE-TARGET: when the prerequisites take a facts struct filled from the
 * config, these fields fill the same struct. With on, each fact replaces
 * the configured one; a fact that is empty/-1 with a *_why is `unknown`
 * with that reason (the ARM status and error code). Strings copied. */
struct engine_azure_warning {
    const char *code;    /* static: backup-job-failed, snapshot-delete-lock,
                          * storage-public-access, disk-snapshots-near-limit */
    const char *object;
    const char *message;
};
struct engine_azure_facts {
    bool on;
    const char *identity, *identity_why;          /* system | user | service-principal */
    const char *vault_region, *vault_subscription, *vault_why;
    const char *storage_region, *storage_kind, *storage_sku, *storage_why;
    long policies, instances;                     /* -1 unknown */
    const char *policies_why, *instances_why;
    int trusted_access;                           /* 1/0, -1 unknown */
    const char *trusted_why;
    int vault_tier;                               /* the policy keeps Vault-tier points: 1/0, -1 unknown */
    long namespaces;                              /* the largest includedNamespaces list of this cluster's
                                                     instances; -1 = all namespaces or unknown */
    const struct engine_azure_warning *warnings;
    size_t nwarnings;
};
int engine_set_azure(struct engine *e, const struct engine_azure_facts *f);

/* Static list of the informational items of the edition in force. */
const struct engine_info *engine_informational(const struct engine *e, size_t *n);

/* Parameters for the large-cluster memory warning. */
#define ENGINE_NAMESPACED_OBJECTS_WARN 1000
#define ENGINE_EXTENSION_DEFAULT_MEMORY (1280LL * 1024 * 1024)
#define ENGINE_SNAPSHOT_STUCK_SECONDS 600

#endif
