/* PersistentVolume records: the volume source (CSI driver, in-tree plugin
 * or the source field name), class, claim, phase and the provisioning
 * annotations that rules/classify.c judges. */
#include "model/records.h"
#include "model/mjson.h"

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

static void pv_free(void *p)
{
    struct pv_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r->source_field);
    free(r->csi_driver);
    free(r->storage_class);
    free(r->claim_ns);
    free(r->claim_name);
    free(r->phase);
    free(r->provisioned_by);
    free(r);
}

static int pv_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new(obj, sizeof(struct pv_rec), &p);
    if (rc)
        return rc;
    struct pv_rec *r = p;
    struct json_object *spec = mj_obj(obj, "spec");
    const char *src = find_source(spec);
    if (!src)
        r->source = PV_SOURCE_NONE;
    else if (strcmp(src, "csi") == 0)
        r->source = PV_SOURCE_CSI;
    else if (strcmp(src, "azureDisk") == 0)
        r->source = PV_SOURCE_AZURE_DISK;
    else if (strcmp(src, "azureFile") == 0)
        r->source = PV_SOURCE_AZURE_FILE;
    else
        r->source = PV_SOURCE_OTHER;
    struct json_object *claim = mj_obj(spec, "claimRef");
    r->migrated = mj_annotation(obj, "pv.kubernetes.io/migrated-to") != NULL;
    if (mj_dup(src, true, &r->source_field) ||
        (r->source == PV_SOURCE_CSI &&
         mj_dup(mj_str(mj_obj(spec, "csi"), "driver"), true, &r->csi_driver)) ||
        mj_dup(mj_str(spec, "storageClassName"), true, &r->storage_class) ||
        mj_dup(mj_str(claim, "namespace"), true, &r->claim_ns) ||
        mj_dup(mj_str(claim, "name"), true, &r->claim_name) ||
        mj_dup(mj_str(mj_obj(obj, "status"), "phase"), true, &r->phase) ||
        mj_dup(mj_annotation(obj, "pv.kubernetes.io/provisioned-by"), false, &r->provisioned_by)) {
        pv_free(r);
        return -ENOMEM;
    }
    if (!r->claim_name) {
        free(r->claim_ns);
        r->claim_ns = NULL;
    }
    *out = r;
    return 0;
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
