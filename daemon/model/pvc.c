/* PersistentVolumeClaim records: storage class (absent vs "" kept apart,
 * the support matrix counts both as "no storage class"), bound volume and phase. */
#include "model/records.h"
#include "model/mjson.h"
#include "model/pack.h"

/* Interned members (pack.h); name, uid, resourceVersion and the volume
 * name are copied behind the struct. */
static const size_t pvc_interned[] = {
    offsetof(struct pvc_rec, meta.ns),
    offsetof(struct pvc_rec, storage_class),
    offsetof(struct pvc_rec, phase),
};

static void pvc_free(void *p)
{
    model_pack_free(p, pvc_interned, sizeof(pvc_interned) / sizeof(pvc_interned[0]));
}

static int pvc_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    struct model_pack pk;
    int64_t created;
    model_pack_init(&pk, sizeof(struct pvc_rec));
    int rc = model_pack_meta(&pk, obj, &created);
    if (rc)
        return rc;
    struct json_object *spec = mj_obj(obj, "spec");
    const char *sc = mj_str(spec, "storageClassName");
    model_pack_intern(&pk, offsetof(struct pvc_rec, storage_class), sc, false); /* "" kept */
    model_pack_str(&pk, offsetof(struct pvc_rec, volume_name), mj_str(spec, "volumeName"), true);
    model_pack_intern(&pk, offsetof(struct pvc_rec, phase), mj_str(mj_obj(obj, "status"), "phase"), true);
    struct pvc_rec *r = model_pack_alloc(&pk);
    if (!r)
        return -ENOMEM;
    r->meta.created = created;
    r->has_storage_class = sc != NULL;
    r->velero_meta = mj_meta_key_prefix(obj, "velero.io/");
    *out = r;
    return 0;
}

const struct model_type model_pvc_type = {
    .resource = "persistentvolumeclaims",
    .group = "",
    .version = "v1",
    .kind = "PersistentVolumeClaim",
    .namespaced = true,
    .extract = pvc_extract,
    .free = pvc_free,
};
