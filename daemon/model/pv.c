/* PersistentVolume records: the volume source (CSI driver, in-tree plugin
 * or the source field name), class, claim, phase and the provisioning
 * annotations that rules/classify.c judges. */
#include "model/records.h"
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

static const char *find_source(struct json_object *spec)
{
    if (!spec)
        return NULL;
    for (size_t i = 0; i < sizeof(source_fields) / sizeof(source_fields[0]); i++)
        if (mj_obj(spec, source_fields[i]))
            return source_fields[i];
    json_object_object_foreach(spec, key, val) {
        if (json_object_is_type(val, json_type_object) &&
            !in_list(key, non_source_fields, sizeof(non_source_fields) / sizeof(non_source_fields[0])))
            return key;
    }
    return NULL;
}

/* Interned members (pack.h); name, uid, resourceVersion and the claim name
 * are copied behind the struct. */
static const size_t pv_interned[] = {
    offsetof(struct pv_rec, meta.ns),       offsetof(struct pv_rec, source_field),
    offsetof(struct pv_rec, csi_driver),    offsetof(struct pv_rec, storage_class),
    offsetof(struct pv_rec, claim_ns),      offsetof(struct pv_rec, phase),
    offsetof(struct pv_rec, provisioned_by),
};

static void pv_free(void *p)
{
    model_pack_free(p, pv_interned, sizeof(pv_interned) / sizeof(pv_interned[0]));
}

static int pv_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    struct model_pack pk;
    int64_t created;
    model_pack_init(&pk, sizeof(struct pv_rec));
    int rc = model_pack_meta(&pk, obj, &created);
    if (rc)
        return rc;
    struct json_object *spec = mj_obj(obj, "spec");
    const char *src = find_source(spec);
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
    struct json_object *claim = mj_obj(spec, "claimRef");
    const char *claim_name = mj_str(claim, "name");
    model_pack_intern(&pk, offsetof(struct pv_rec, source_field), src, true);
    if (source == PV_SOURCE_CSI)
        model_pack_intern(&pk, offsetof(struct pv_rec, csi_driver), mj_str(mj_obj(spec, "csi"), "driver"),
                          true);
    model_pack_intern(&pk, offsetof(struct pv_rec, storage_class), mj_str(spec, "storageClassName"), true);
    if (claim_name && *claim_name) /* a namespace without a claim name is dropped */
        model_pack_intern(&pk, offsetof(struct pv_rec, claim_ns), mj_str(claim, "namespace"), true);
    model_pack_str(&pk, offsetof(struct pv_rec, claim_name), claim_name, true);
    model_pack_intern(&pk, offsetof(struct pv_rec, phase), mj_str(mj_obj(obj, "status"), "phase"), true);
    model_pack_intern(&pk, offsetof(struct pv_rec, provisioned_by),
                      mj_annotation(obj, "pv.kubernetes.io/provisioned-by"), false);
    struct pv_rec *r = model_pack_alloc(&pk);
    if (!r)
        return -ENOMEM;
    r->meta.created = created;
    r->source = source;
    r->migrated = mj_annotation(obj, "pv.kubernetes.io/migrated-to") != NULL;
    struct json_object *attrs = mj_obj(mj_obj(spec, "csi"), "volumeAttributes");
    if (mj_ieq(mj_str(attrs, "protocol"), "nfs"))
        r->flags |= PV_F_NFS;
    if (mj_ieq(mj_str(attrs, "networkEndpointType"), "privateEndpoint"))
        r->flags |= PV_F_PRIVATE_EP;
    if (mj_meta_key_prefix(obj, "velero.io/"))
        r->flags |= PV_F_VELERO_META;
    r->capacity = -1;
    struct json_object *cap = mj_get(mj_obj(spec, "capacity"), "storage");
    if (cap) {
        int64_t bytes;
        const char *q = json_object_is_type(cap, json_type_string) ? json_object_get_string(cap)
                                                                    : NULL;
        if (q && model_parse_quantity(q, &bytes) == 0 && bytes >= 0)
            r->capacity = bytes;
        else
            r->flags |= PV_F_CAPACITY_BAD;
    }
    *out = r;
    return 0;
}

struct pv_rec *model_pv_clone(const struct pv_rec *r)
{
    struct model_pack pk;
    model_pack_init(&pk, sizeof(struct pv_rec));
    model_pack_str(&pk, offsetof(struct pv_rec, meta.name), r->meta.name, false);
    model_pack_str(&pk, offsetof(struct pv_rec, meta.uid), r->meta.uid, false);
    model_pack_str(&pk, offsetof(struct pv_rec, meta.rv), r->meta.rv, false);
    model_pack_intern(&pk, offsetof(struct pv_rec, meta.ns), r->meta.ns, false);
    model_pack_intern(&pk, offsetof(struct pv_rec, source_field), r->source_field, false);
    model_pack_intern(&pk, offsetof(struct pv_rec, csi_driver), r->csi_driver, false);
    model_pack_intern(&pk, offsetof(struct pv_rec, storage_class), r->storage_class, false);
    model_pack_intern(&pk, offsetof(struct pv_rec, claim_ns), r->claim_ns, false);
    model_pack_str(&pk, offsetof(struct pv_rec, claim_name), r->claim_name, false);
    model_pack_intern(&pk, offsetof(struct pv_rec, phase), r->phase, false);
    model_pack_intern(&pk, offsetof(struct pv_rec, provisioned_by), r->provisioned_by, false);
    struct pv_rec *c = model_pack_alloc(&pk);
    if (!c)
        return NULL;
    c->meta.created = r->meta.created;
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
    .extract = pv_extract,
    .free = pv_free,
};
