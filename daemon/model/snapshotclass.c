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
    void *p;
    int rc = model_rec_new(obj, sizeof(struct snapshotclass_rec), &p);
    if (rc)
        return rc;
    struct snapshotclass_rec *r = p;
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
