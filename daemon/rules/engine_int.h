/* Private state of the rules engine, shared by engine.c (volumes, claims,
 * classes, cluster facts) and engine_ext.c (extension pods, warnings,
 * snapshots). Not for use outside rules/. */
#ifndef ABC_RULES_ENGINE_INT_H
#define ABC_RULES_ENGINE_INT_H

#include "rules/engine.h"
#include "rules/strmap.h"

/* PVs (engine_pv.c): a dense array of verdicts pointing at the records,
 * in the order they came (a delete moves the last one into the hole). A
 * record keeps its position (pv_rec.engine_pos), so an update or delete
 * finds its verdict without a lookup, and a name is looked up in the
 * attached stores; a hash index of the names (idx: slot index + 1, 0 =
 * empty; open addressing, linear probing) exists only once the engine
 * holds copies of its own (engine_apply). 12 bytes a PV. */
struct __attribute__((packed)) pv_slot {
    const struct pv_rec *rec; /* the store's (borrowed) or the engine's copy (owned) */
    uint8_t reason;           /* enum pv_reason */
    uint8_t notes;            /* 1 << enum pv_note */
    uint16_t src;             /* 0: the engine's copy (owned), else the engine_attach id */
};
_Static_assert(sizeof(struct pv_slot) == 12, "a verdict slot is 12 bytes");

struct pv_table {
    struct pv_slot *v;
    size_t n, cap;
    uint32_t *idx;
    size_t nidx; /* 0 (no index) or a power of two */
};

/* Claims and snapshots fed by engine_apply (engine_rec.c): the engine's
 * copies in a dense array indexed by a hash of namespace/name (as struct
 * pv_table). Those of attached stores stay in the stores. */
struct rec_slot {
    const void *rec;
    uint32_t hash;
};

struct rec_table {
    struct rec_slot *v;
    size_t n, cap;
    uint32_t *idx;
    size_t nidx; /* 0 or a power of two */
};

#define RECTAB_NONE ((size_t)-1)

/* What engine_rec.c needs of a kind. count adds (d = 1) or subtracts
 * (d = -1) what the engine derives from rec; it cannot fail (a per-key
 * count it has no memory for is left out, and subtracting a key that is
 * absent is a no-op), so that subtracting what was added always balances. */
struct rec_ops {
    const struct model_type *type;
    struct rec_table *(*table)(struct engine *e);
    const void *(*clone)(const void *rec);
    void (*count)(struct engine *e, const void *rec, int d);
    void (*done)(struct engine *e); /* after each apply or release; NULL */
};

struct sc_ent {
    char *provisioner;
    bool is_default;
    unsigned params;           /* SC_P_* */
};

struct bsl_ent {
    char *phase;               /* "" when absent */
    char *message;             /* "" when absent */
};

struct pod_ent {
    struct engine_ext_pod pub; /* strings below */
    char *name;
    char *phase;
    char *reason;
    struct engine_ext_container *c;
    char **cnames;
    bool unschedulable;
};

/* One engine_attach_store: the release hook's data. store is NULL once the
 * store was freed (then engine_free has nothing to unregister). */
struct engine_attach {
    struct engine_attach *next;
    struct engine *e;
    struct store *store;
    uint16_t id; /* pv_slot.src of the PVs borrowed from store */
};

struct engine {
    struct engine_opts o;      /* strings owned (copies) */
    struct pv_table pvs;       /* engine_pv.c */
    struct engine_attach *attached; /* engine_attach_store, owned */
    uint16_t next_attach_id;
    size_t by_reason[PV_REASON_COUNT];
    size_t by_note[PV_NOTE_COUNT];
    size_t smb_files;          /* SMB Azure Files PVs (engine_pv.c) */
    const struct matrix_edition *ed; /* o.edition or the default */
    char *files_version;       /* read from the DaemonSet; NULL unknown */
    int64_t now_override;

    struct strmap namespaces;  /* name -> (uintptr_t)1 when it has velero.io/ metadata */
    struct strmap bsls;        /* ns/name -> bsl_ent */
    size_t nodes_linux_ready;

    struct rec_table pvcs;     /* engine_rec.c */
    struct strmap pending_ns;  /* ns -> count */
    size_t pending, no_class;

    struct rec_table snaps;    /* engine_rec.c */
    size_t snap_count[SNAPSHOT_STATUS_COUNT];
    struct claim_max *cmax;    /* engine_ext.c: the most snapshots of one claim, computed when read */

    struct strmap classes;     /* name -> sc_ent */
    struct strmap drivers;     /* CSIDriver names (value unused) */
    struct strmap vsc;         /* name -> driver (owned) */
    size_t disk_vsc;           /* classes with driver disk.csi.azure.com */

    struct strmap nodes;       /* name -> node facts (char *region\0sub pair) */
    struct strmap node_regions;/* region -> count */
    struct strmap node_subs;   /* subscription -> count */

    struct strmap pods;        /* name -> pod_ent */

    char *version;
    int snapshot_api;
    size_t namespaced;
    unsigned synced;           /* ENGINE_RES_* bits */

    engine_change_cb on_change;
    void *on_change_data;

    struct engine_az *az;      /* engine_azure.c; NULL = the Azure view is off */
};

/* engine_azure.c */
struct prereq_input;
struct prereq_result;
struct wlist;
void engine__azure_free(struct engine *e);
/* Replaces the configured facts with the Azure view's. */
void engine__azure_input(const struct engine *e, struct prereq_input *in);
/* Unknown checks get the failed read's reason. */
void engine__azure_patch(const struct engine *e, struct prereq_result *out);
/* The view's warnings: (code, object, message) triples, count returned. */
size_t engine__azure_warnings(const struct engine *e, const struct engine_azure_warning **out);

enum {
    ENGINE_RES_PV = 1u << 0,
    ENGINE_RES_PVC = 1u << 1,
    ENGINE_RES_SC = 1u << 2,
    ENGINE_RES_CSIDRIVER = 1u << 3,
    ENGINE_RES_VSC = 1u << 4,
    ENGINE_RES_SNAPSHOT = 1u << 5,
    ENGINE_RES_NODE = 1u << 6,
    ENGINE_RES_POD = 1u << 7,
    ENGINE_RES_NAMESPACE = 1u << 8,
    ENGINE_RES_BSL = 1u << 9,
};

/* The classification context of a PV under the engine's state. */
struct classify_ctx engine__classify_ctx(const struct engine *e, const struct pv_rec *pv);
/* Every PV record with its verdict, in table order. */
void engine__pv_scan(const struct engine *e,
                     void (*cb)(void *data, const struct pv_rec *pv, enum pv_reason r), void *data);
/* Re-judges every PV (edition, class parameters or driver version changed). */
void engine__pv_rejudge(struct engine *e);
/* Azure Files CSI driver >= the edition's minimum: 1, 0, -1 unknown. */
int engine__files_driver_ok(const struct engine *e);

/* engine.c */
void engine__notify(struct engine *e, unsigned what);
void engine__free_sc(void *v);
void engine__free_bsl(void *v);
void engine__bsl_apply(struct engine *e, const struct bsl_rec *old, const struct bsl_rec *rec);

/* engine_pv.c. src 0: the engine keeps a copy; else rec is borrowed from
 * the store attached as src (valid until its next update or delete, store.h
 * Lifetime). */
void engine__pv_apply(struct engine *e, const struct pv_rec *old, const struct pv_rec *rec, uint16_t src);
void engine__pv_release(struct engine *e, uint16_t src); /* drops src's records */
void engine__pv_free(struct engine *e);
void engine__pv_trim(struct engine *e); /* after a complete list: no spare room */

/* engine_rec.c: the same for claims and snapshots (ops below). rec NULL:
 * old's namespace/name is removed; else rec replaces whatever has its
 * namespace/name. */
void engine__rec_apply(struct engine *e, const struct rec_ops *ops, const void *old, const void *rec,
                       uint16_t src);
struct store;
/* s (attached, being freed): its records leave the counts. */
void engine__rec_release(struct engine *e, const struct rec_ops *ops, const struct store *s);
/* cb on every record of the kind: the engine's copies, then the attached stores'. */
void engine__rec_foreach(const struct engine *e, const struct rec_ops *ops,
                         void (*cb)(void *data, const void *rec), void *data);
void engine__rec_free(struct engine *e, const struct rec_ops *ops);
extern const struct rec_ops engine__pvc_ops;  /* engine.c */
bool engine__pvc_pending(const struct pvc_rec *r);
bool engine__pvc_no_class(const struct pvc_rec *r);
extern const struct rec_ops engine__snap_ops; /* engine_ext.c */

/* engine_cluster.c */
void engine__sc_apply(struct engine *e, const struct storageclass_rec *old,
                      const struct storageclass_rec *rec);
void engine__vsc_apply(struct engine *e, const struct snapshotclass_rec *old,
                       const struct snapshotclass_rec *rec);
void engine__node_apply(struct engine *e, const struct node_rec *old, const struct node_rec *rec);

/* engine_ext.c */
void engine__apply_pod(struct engine *e, const struct pod_rec *old, const struct pod_rec *rec);
void engine__free_ext(struct engine *e);

#endif
