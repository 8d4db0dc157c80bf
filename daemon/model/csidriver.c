/* CSIDriver records: only the name, read by the csi_disk_driver
 * prerequisite (rules/prereq.c) through the model table. */
#include "model/records.h"
#include "model/mjson.h"

static void csidriver_free(void *p)
{
    struct csidriver_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r);
}

static int csidriver_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    return model_rec_new(obj, sizeof(struct csidriver_rec), out);
}

const struct model_type model_csidriver_type = {
    .resource = "csidrivers",
    .group = "storage.k8s.io",
    .version = "v1",
    .kind = "CSIDriver",
    .namespaced = false,
    .extract = csidriver_extract,
    .free = csidriver_free,
};
