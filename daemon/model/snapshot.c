/* VolumeSnapshot records: source claim, readiness and error, for the
 * snapshot counts, per-claim maxima and stuck/failed warnings. */
#include "model/records.h"
#include "model/mjson.h"

static void snap_free(void *p)
{
    struct snapshot_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r->source_pvc);
    free(r->error_message);
    free(r);
}

static int snap_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new(obj, sizeof(struct snapshot_rec), &p);
    if (rc)
        return rc;
    struct snapshot_rec *r = p;
    struct json_object *status = mj_obj(obj, "status");
    struct json_object *ready = mj_get(status, "readyToUse");
    r->ready = ready && json_object_is_type(ready, json_type_boolean) && json_object_get_boolean(ready);
    struct json_object *err = mj_obj(status, "error");
    r->has_error = err != NULL;
    if (mj_dup(mj_str(mj_obj(mj_obj(obj, "spec"), "source"), "persistentVolumeClaimName"), true,
               &r->source_pvc) ||
        mj_dup(mj_str(err, "message"), true, &r->error_message)) {
        snap_free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

const struct model_type model_snapshot_type = {
    .resource = "volumesnapshots",
    .group = "snapshot.storage.k8s.io",
    .version = "v1",
    .kind = "VolumeSnapshot",
    .namespaced = true,
    .extract = snap_extract,
    .free = snap_free,
};
