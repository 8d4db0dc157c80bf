/* VolumeSnapshot records: source claim, readiness and error, for the
 * snapshot counts, per-claim maxima and stuck/failed warnings. */
#include "model/records.h"
#include "model/fields.h"
#include "model/mjson.h"
#include "model/pack.h"

/* The namespace is its one interned member; the name, source claim and
 * error message (model_pack_tail) are copied behind the struct. */
static unsigned snap_tails(const void *rec)
{
    const struct snapshot_rec *r = rec;
    return (unsigned)r->has_source_pvc + (unsigned)r->has_error_message;
}

static const struct model_pack_layout snap_layout = {sizeof(struct snapshot_rec), NULL, 0, snap_tails};

static void snap_free(void *p)
{
    model_pack_free(p, &snap_layout);
}

/* The fields a snapshot record is built from (fields.h); a new one gets an
 * index here and a path in the table, and is read in snap_build. */
enum { SNAP_SOURCE_PVC = MV_FIRST, SNAP_READY, SNAP_ERROR, SNAP_ERROR_MESSAGE, SNAP_NFIELDS };

static const struct model_field snap_field_table[SNAP_NFIELDS] = {
    MODEL_META_FIELDS,
    [SNAP_SOURCE_PVC] = {{"spec", "source", "persistentVolumeClaimName"}, MF_STR},
    [SNAP_READY] = {{"status", "readyToUse"}, MF_BOOL},
    [SNAP_ERROR] = {{"status", "error"}, MF_OBJ},
    [SNAP_ERROR_MESSAGE] = {{"status", "error", "message"}, MF_STR},
};

static int snap_build(const struct model_type *t, const struct model_view *v, void **out)
{
    (void)t;
    struct model_pack pk;
    int64_t created;
    model_pack_init(&pk, sizeof(struct snapshot_rec));
    int rc = model_pack_meta_view(&pk, v, &created);
    if (rc)
        return rc;
    bool has_source = model_pack_tail(&pk, model_view_str(v, SNAP_SOURCE_PVC), true);
    bool has_message = model_pack_tail(&pk, model_view_str(v, SNAP_ERROR_MESSAGE), true);
    struct snapshot_rec *r = model_pack_alloc(&pk);
    if (!r)
        return -ENOMEM;
    r->meta.created = created;
    r->has_source_pvc = has_source;
    r->has_error_message = has_message;
    r->ready = v->v[SNAP_READY].set && v->v[SNAP_READY].b;
    r->has_error = v->v[SNAP_ERROR].set;
    *out = r;
    return 0;
}

struct snapshot_rec *model_snapshot_clone(const struct snapshot_rec *r)
{
    struct model_pack pk;
    char ubuf[MODEL_UID_BUF], rbuf[MODEL_RV_BUF];
    model_pack_init(&pk, sizeof(struct snapshot_rec));
    model_pack_str(&pk, offsetof(struct snapshot_rec, meta.name), r->meta.name, false);
    model_pack_uid(&pk, model_meta_uid(&r->meta, ubuf));
    model_pack_rv(&pk, model_meta_rv(&r->meta, rbuf));
    model_pack_ns(&pk, model_meta_ns(&r->meta));
    bool has_source = model_pack_tail(&pk, snapshot_source_pvc(r), false);
    bool has_message = model_pack_tail(&pk, snapshot_error_message(r), false);
    struct snapshot_rec *c = model_pack_alloc(&pk);
    if (!c)
        return NULL;
    c->meta.created = r->meta.created;
    c->has_source_pvc = has_source;
    c->has_error_message = has_message;
    c->ready = r->ready;
    c->has_error = r->has_error;
    return c;
}

static const struct model_fields snap_fields = {snap_field_table, SNAP_NFIELDS, snap_build};

const struct model_type model_snapshot_type = {
    .resource = "volumesnapshots",
    .group = "snapshot.storage.k8s.io",
    .version = "v1",
    .kind = "VolumeSnapshot",
    .namespaced = true,
    .extract = model_fields_extract,
    .free = snap_free,
    .fields = &snap_fields,
};
