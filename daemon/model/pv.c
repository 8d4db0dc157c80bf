/* PersistentVolume records: the volume source (CSI driver, in-tree plugin
 * or the source field name), class, claim, phase and the provisioning
 * annotations that rules/classify.c judges. */
#include "model/records.h"
#include "model/fields.h"
#include "model/mjson.h"
#include "model/pack.h"

/* Volume source fields of a PV spec (core/v1 PersistentVolumeSource). */
static const char *const source_fields[] = {
    "csi", "azureDisk", "azureFile", "hostPath", "local", "nfs", "iscsi", "fc",
    "awsElasticBlockStore", "gcePersistentDisk", "cinder", "cephfs", "rbd",
    "glusterfs", "flexVolume", "flocker", "vsphereVolume", "quobyte",
    "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos",
};

/* Spec fields that are not a source (anything else object-valued is taken
 * as an unknown source so a new plugin still gets a driver label). */
static const char *const non_source_fields[] = {
    "accessModes", "capacity", "claimRef", "mountOptions", "nodeAffinity",
    "persistentVolumeReclaimPolicy", "storageClassName", "volumeMode",
    "volumeAttributesClassName",
};

static bool in_list(const char *k, const char *const *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, l[i]) == 0)
            return true;
    return false;
}

/* The fields a PV record is built from. To read a new field: add its path
 * here (before PV_NFIELDS) with an index in the enum, then read it in
 * pv_build with model_view_str(v, PV_...). */
enum {
    PV_SPEC = MV_FIRST, /* MF_KEYS: the names of spec's object members */
    PV_CSI_DRIVER,
    PV_STORAGE_CLASS,
    PV_CLAIM_NS,
    PV_CLAIM_NAME,
    PV_PHASE,
    PV_PROVISIONED_BY,
    PV_MIGRATED_TO,
    PV_ATTR_PROTOCOL,  /* Azure Files over NFS */
    PV_ATTR_ENDPOINT,  /* Azure Files behind a private endpoint */
    PV_CAPACITY,
    PV_LABELS,         /* MF_PREFIX velero.io/ */
    PV_ANNOTATIONS,    /* MF_PREFIX velero.io/ */
    PV_NFIELDS
};

static const struct model_field pv_field_table[PV_NFIELDS] = {
    MODEL_META_FIELDS,
    [PV_SPEC] = {{"spec"}, MF_KEYS},
    [PV_CSI_DRIVER] = {{"spec", "csi", "driver"}, MF_STR},
    [PV_STORAGE_CLASS] = {{"spec", "storageClassName"}, MF_STR},
    [PV_CLAIM_NS] = {{"spec", "claimRef", "namespace"}, MF_STR},
    [PV_CLAIM_NAME] = {{"spec", "claimRef", "name"}, MF_STR},
    [PV_PHASE] = {{"status", "phase"}, MF_STR},
    [PV_PROVISIONED_BY] = {{"metadata", "annotations", "pv.kubernetes.io/provisioned-by"}, MF_STR},
    [PV_MIGRATED_TO] = {{"metadata", "annotations", "pv.kubernetes.io/migrated-to"}, MF_STR},
    [PV_ATTR_PROTOCOL] = {{"spec", "csi", "volumeAttributes", "protocol"}, MF_STR},
    [PV_ATTR_ENDPOINT] = {{"spec", "csi", "volumeAttributes", "networkEndpointType"}, MF_STR},
    [PV_CAPACITY] = {{"spec", "capacity", "storage"}, MF_STR},
    [PV_LABELS] = {{"metadata", "labels", "velero.io/"}, MF_PREFIX},
    [PV_ANNOTATIONS] = {{"metadata", "annotations", "velero.io/"}, MF_PREFIX},
};

/* The first known source among spec's object members, else the first
 * object member that is not a known non-source field. */
static const char *find_source(const struct model_view *v)
{
    if (!v->v[PV_SPEC].set)
        return NULL;
    for (size_t i = 0; i < sizeof(source_fields) / sizeof(source_fields[0]); i++)
        if (in_list(source_fields[i], v->keys, v->nkeys))
            return source_fields[i];
    for (size_t i = 0; i < v->nkeys; i++)
        if (!in_list(v->keys[i], non_source_fields, sizeof(non_source_fields) / sizeof(non_source_fields[0])))
            return v->keys[i];
    return NULL;
}

/* Interned members (pack.h) besides the namespace; name, claim name
 * (model_pack_tail), uid and resourceVersion are copied behind the struct. */
static const size_t pv_interned[] = {
    offsetof(struct pv_rec, source_field_id),  offsetof(struct pv_rec, csi_driver_id),
    offsetof(struct pv_rec, storage_class_id), offsetof(struct pv_rec, claim_ns_id),
    offsetof(struct pv_rec, phase_id),         offsetof(struct pv_rec, provisioned_by_id),
};

static unsigned pv_tails(const void *rec)
{
    return ((const struct pv_rec *)rec)->claim_off != 0;
}

static const struct model_pack_layout pv_layout = {
    sizeof(struct pv_rec), pv_interned, sizeof(pv_interned) / sizeof(pv_interned[0]), pv_tails,
};

/* The claim name follows the name (model_pack_tail). */
static void pv_set_claim_off(struct pv_rec *r)
{
    size_t off = strlen(r->meta.name) + 1;
    r->claim_off = off < 255 ? (uint8_t)off : 255;
}

static void pv_free(void *p)
{
    model_pack_free(p, &pv_layout);
}

static int pv_build(const struct model_type *t, const struct model_view *v, void **out)
{
    (void)t;
    struct model_pack pk;
    int64_t created;
    model_pack_init(&pk, sizeof(struct pv_rec));
    int rc = model_pack_meta_view(&pk, v, &created);
    if (rc)
        return rc;
    const char *src = find_source(v);
    enum pv_source source;
    if (!src)
        source = PV_SOURCE_NONE;
    else if (strcmp(src, "csi") == 0)
        source = PV_SOURCE_CSI;
    else if (strcmp(src, "azureDisk") == 0)
        source = PV_SOURCE_AZURE_DISK;
    else if (strcmp(src, "azureFile") == 0)
        source = PV_SOURCE_AZURE_FILE;
    else
        source = PV_SOURCE_OTHER;
    const char *claim_name = model_view_str(v, PV_CLAIM_NAME);
    model_pack_intern(&pk, offsetof(struct pv_rec, source_field_id), src, true);
    if (source == PV_SOURCE_CSI)
        model_pack_intern(&pk, offsetof(struct pv_rec, csi_driver_id), model_view_str(v, PV_CSI_DRIVER), true);
    model_pack_intern(&pk, offsetof(struct pv_rec, storage_class_id), model_view_str(v, PV_STORAGE_CLASS), true);
    if (claim_name && *claim_name) /* a namespace without a claim name is dropped */
        model_pack_intern(&pk, offsetof(struct pv_rec, claim_ns_id), model_view_str(v, PV_CLAIM_NS), true);
    bool has_claim = model_pack_tail(&pk, claim_name, true);
    model_pack_intern(&pk, offsetof(struct pv_rec, phase_id), model_view_str(v, PV_PHASE), true);
    model_pack_intern(&pk, offsetof(struct pv_rec, provisioned_by_id), model_view_str(v, PV_PROVISIONED_BY), false);
    struct pv_rec *r = model_pack_alloc(&pk);
    if (!r)
        return -ENOMEM;
    r->meta.created = created;
    if (has_claim)
        pv_set_claim_off(r);
    r->source = source;
    r->migrated = model_view_str(v, PV_MIGRATED_TO) != NULL;
    if (mj_ieq(model_view_str(v, PV_ATTR_PROTOCOL), "nfs"))
        r->flags |= PV_F_NFS;
    if (mj_ieq(model_view_str(v, PV_ATTR_ENDPOINT), "privateEndpoint"))
        r->flags |= PV_F_PRIVATE_EP;
    if ((v->v[PV_LABELS].set && v->v[PV_LABELS].b) || (v->v[PV_ANNOTATIONS].set && v->v[PV_ANNOTATIONS].b))
        r->flags |= PV_F_VELERO_META;
    r->capacity = -1;
    const char *cap = model_view_str(v, PV_CAPACITY);
    if (cap) {
        int64_t bytes;
        if (model_parse_quantity(cap, &bytes) == 0 && bytes >= 0)
            r->capacity = bytes;
        else
            r->flags |= PV_F_CAPACITY_BAD;
    }
    *out = r;
    return 0;
}

static const struct model_fields pv_fields = {pv_field_table, PV_NFIELDS, pv_build};

struct pv_rec *model_pv_clone(const struct pv_rec *r)
{
    struct model_pack pk;
    char ubuf[MODEL_UID_BUF], rbuf[MODEL_RV_BUF];
    model_pack_init(&pk, sizeof(struct pv_rec));
    model_pack_str(&pk, offsetof(struct pv_rec, meta.name), r->meta.name, false);
    model_pack_uid(&pk, model_meta_uid(&r->meta, ubuf));
    model_pack_rv(&pk, model_meta_rv(&r->meta, rbuf));
    model_pack_ns(&pk, model_meta_ns(&r->meta));
    model_pack_intern(&pk, offsetof(struct pv_rec, source_field_id), pv_source_field(r), false);
    model_pack_intern(&pk, offsetof(struct pv_rec, csi_driver_id), pv_csi_driver(r), false);
    model_pack_intern(&pk, offsetof(struct pv_rec, storage_class_id), pv_storage_class(r), false);
    model_pack_intern(&pk, offsetof(struct pv_rec, claim_ns_id), pv_claim_ns(r), false);
    bool has_claim = model_pack_tail(&pk, pv_claim_name(r), false);
    model_pack_intern(&pk, offsetof(struct pv_rec, phase_id), pv_phase(r), false);
    model_pack_intern(&pk, offsetof(struct pv_rec, provisioned_by_id), pv_provisioned_by(r), false);
    struct pv_rec *c = model_pack_alloc(&pk);
    if (!c)
        return NULL;
    c->meta.created = r->meta.created;
    if (has_claim)
        pv_set_claim_off(c);
    c->source = r->source;
    c->migrated = r->migrated;
    c->flags = r->flags;
    c->capacity = r->capacity;
    return c;
}

const struct model_type model_pv_type = {
    .resource = "persistentvolumes",
    .group = "",
    .version = "v1",
    .kind = "PersistentVolume",
    .namespaced = false,
    .extract = model_fields_extract,
    .free = pv_free,
    .fields = &pv_fields,
};
