/* Namespace records (metadata only): the name, for the namespace count of
 * a backup instance, and whether a velero.io/ label or annotation is set. */
#include "model/records.h"
#include "model/mjson.h"

static void ns_free(void *p)
{
    struct namespace_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r);
}

static int ns_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new(obj, sizeof(struct namespace_rec), &p);
    if (rc)
        return rc;
    struct namespace_rec *r = p;
    r->velero_meta = mj_meta_key_prefix(obj, "velero.io/");
    *out = r;
    return 0;
}

const struct model_type model_namespace_type = {
    .resource = "namespaces",
    .group = "",
    .version = "v1",
    .kind = "Namespace",
    .namespaced = false,
    .extract = ns_extract,
    .free = ns_free,
};
