/* VolumeSnapshot records: source claim, readiness and error, for the
 * snapshot counts, per-claim maxima and stuck/failed warnings. */
#include "model/records.h"
#include "model/mjson.h"
#include "model/pack.h"

static const size_t snap_interned[] = {offsetof(struct snapshot_rec, meta.ns)};

static void snap_free(void *p)
{
    model_pack_free(p, snap_interned, 1);
}

static int snap_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    struct model_pack pk;
    int64_t created;
    model_pack_init(&pk, sizeof(struct snapshot_rec));
    int rc = model_pack_meta(&pk, obj, &created);
    if (rc)
        return rc;
    struct json_object *status = mj_obj(obj, "status");
    struct json_object *ready = mj_get(status, "readyToUse");
    struct json_object *err = mj_obj(status, "error");
    model_pack_str(&pk, offsetof(struct snapshot_rec, source_pvc),
                   mj_str(mj_obj(mj_obj(obj, "spec"), "source"), "persistentVolumeClaimName"), true);
    model_pack_str(&pk, offsetof(struct snapshot_rec, error_message), mj_str(err, "message"), true);
    struct snapshot_rec *r = model_pack_alloc(&pk);
    if (!r)
        return -ENOMEM;
    r->meta.created = created;
    r->ready = ready && json_object_is_type(ready, json_type_boolean) && json_object_get_boolean(ready);
    r->has_error = err != NULL;
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
