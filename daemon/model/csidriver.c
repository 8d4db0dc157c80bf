/* CSIDriver records: only the name (csi_disk_driver prerequisite). */
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
    struct csidriver_rec *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    int rc = model_meta_extract(obj, &r->meta);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
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
