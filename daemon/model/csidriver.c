/* CSIDriver records: only the name, read by the csi_disk_driver
 * prerequisite (rules/prereq.c) through the model table. */
#include "model/records.h"
#include "model/fields.h"
#include "model/mjson.h"

static void csidriver_free(void *p)
{
    struct csidriver_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r);
}

static const struct model_field csidriver_field_table[] = {MODEL_META_FIELDS};

static int csidriver_build(const struct model_type *t, const struct model_view *v, void **out)
{
    (void)t;
    return model_rec_new_view(v, sizeof(struct csidriver_rec), out);
}

static const struct model_fields csidriver_fields = {csidriver_field_table, MV_FIRST, csidriver_build};

const struct model_type model_csidriver_type = {
    .resource = "csidrivers",
    .group = "storage.k8s.io",
    .version = "v1",
    .kind = "CSIDriver",
    .namespaced = false,
    .extract = model_fields_extract,
    .free = csidriver_free,
    .fields = &csidriver_fields,
};
