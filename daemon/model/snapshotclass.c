/* VolumeSnapshotClass records: name and driver (snapshot_class
 * prerequisite: one for disk.csi.azure.com must exist). */
#include "model/records.h"
#include "model/mjson.h"

static void vsc_free(void *p)
{
    struct snapshotclass_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r->driver);
    free(r);
}

static int vsc_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    struct snapshotclass_rec *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    int rc = model_meta_extract(obj, &r->meta);
    if (rc < 0) {
        free(r);
        return rc;
    }
    const char *d = mj_str(obj, "driver");
    r->driver = strdup(d ? d : "");
    if (!r->driver) {
        vsc_free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

const struct model_type model_snapshotclass_type = {
    .resource = "volumesnapshotclasses",
    .group = "snapshot.storage.k8s.io",
    .version = "v1",
    .kind = "VolumeSnapshotClass",
    .namespaced = false,
    .extract = vsc_extract,
    .free = vsc_free,
};
