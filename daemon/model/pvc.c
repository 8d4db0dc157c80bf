/* PersistentVolumeClaim records: storage class (absent vs "" kept apart,
 * SPEC §6 counts both as "no storage class"), bound volume and phase. */
#include "model/records.h"
#include "model/mjson.h"

static void pvc_free(void *p)
{
    struct pvc_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r->storage_class);
    free(r->volume_name);
    free(r->phase);
    free(r);
}

static int pvc_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new(obj, sizeof(struct pvc_rec), &p);
    if (rc)
        return rc;
    struct pvc_rec *r = p;
    struct json_object *spec = mj_obj(obj, "spec");
    const char *sc = mj_str(spec, "storageClassName");
    r->has_storage_class = sc != NULL;
    if (mj_dup(sc, false, &r->storage_class) ||
        mj_dup(mj_str(spec, "volumeName"), true, &r->volume_name) ||
        mj_dup(mj_str(mj_obj(obj, "status"), "phase"), true, &r->phase)) {
        pvc_free(r);
        return -ENOMEM;
    }
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
