/* VolumeSnapshotClass records: name and driver (snapshot_class
 * prerequisite: one for disk.csi.azure.com must exist). */
#include "model/records.h"
#include "model/fields.h"
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

enum { VSC_DRIVER = MV_FIRST, VSC_NFIELDS };

static const struct model_field vsc_field_table[VSC_NFIELDS] = {
    MODEL_META_FIELDS,
    [VSC_DRIVER] = {{"driver"}, MF_STR},
};

static int vsc_build(const struct model_type *t, const struct model_view *v, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new_view(v, sizeof(struct snapshotclass_rec), &p);
    if (rc)
        return rc;
    struct snapshotclass_rec *r = p;
    const char *d = model_view_str(v, VSC_DRIVER);
    r->driver = strdup(d ? d : "");
    if (!r->driver) {
        vsc_free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

static const struct model_fields vsc_fields = {vsc_field_table, VSC_NFIELDS, vsc_build};

const struct model_type model_snapshotclass_type = {
    .resource = "volumesnapshotclasses",
    .group = "snapshot.storage.k8s.io",
    .version = "v1",
    .kind = "VolumeSnapshotClass",
    .namespaced = false,
    .extract = model_fields_extract,
    .free = vsc_free,
    .fields = &vsc_fields,
};
