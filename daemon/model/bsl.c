/* velero.io/v1 BackupStorageLocation records: phase and message, for the
 * extension's storage location and for spotting another Velero install. */
#include "model/records.h"
#include "model/mjson.h"

static void bsl_free(void *p)
{
    struct bsl_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r->phase);
    free(r->message);
    free(r);
}

static int bsl_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new(obj, sizeof(struct bsl_rec), &p);
    if (rc)
        return rc;
    struct bsl_rec *r = p;
    struct json_object *st = mj_obj(obj, "status");
    if (mj_dup(mj_str(st, "phase"), true, &r->phase) ||
        mj_dup(mj_str(st, "message"), true, &r->message)) {
        bsl_free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

const struct model_type model_bsl_type = {
    .resource = "backupstoragelocations",
    .group = "velero.io",
    .version = "v1",
    .kind = "BackupStorageLocation",
    .namespaced = true,
    .extract = bsl_extract,
    .free = bsl_free,
};
