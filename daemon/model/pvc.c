/* PersistentVolumeClaim records: storage class (absent vs "" kept apart,
 * the support matrix counts both as "no storage class"), bound volume and phase. */
#include "model/records.h"
#include "model/fields.h"
#include "model/mjson.h"
#include "model/pack.h"

/* Interned members (pack.h) besides the namespace; name, volume name
 * (model_pack_tail), uid and resourceVersion are copied behind the struct. */
static const size_t pvc_interned[] = {
    offsetof(struct pvc_rec, storage_class_id),
    offsetof(struct pvc_rec, phase_id),
};

static unsigned pvc_tails(const void *rec)
{
    return ((const struct pvc_rec *)rec)->has_volume_name;
}

static const struct model_pack_layout pvc_layout = {
    sizeof(struct pvc_rec), pvc_interned, sizeof(pvc_interned) / sizeof(pvc_interned[0]), pvc_tails,
};

static void pvc_free(void *p)
{
    model_pack_free(p, &pvc_layout);
}

/* The fields a claim record is built from (fields.h); a new one gets an
 * index here and a path in the table, and is read in pvc_build. */
enum {
    PVC_STORAGE_CLASS = MV_FIRST,
    PVC_VOLUME_NAME,
    PVC_PHASE,
    PVC_LABELS,      /* MF_PREFIX velero.io/ */
    PVC_ANNOTATIONS, /* MF_PREFIX velero.io/ */
    PVC_NFIELDS
};

static const struct model_field pvc_field_table[PVC_NFIELDS] = {
    MODEL_META_FIELDS,
    [PVC_STORAGE_CLASS] = {{"spec", "storageClassName"}, MF_STR},
    [PVC_VOLUME_NAME] = {{"spec", "volumeName"}, MF_STR},
    [PVC_PHASE] = {{"status", "phase"}, MF_STR},
    [PVC_LABELS] = {{"metadata", "labels", "velero.io/"}, MF_PREFIX},
    [PVC_ANNOTATIONS] = {{"metadata", "annotations", "velero.io/"}, MF_PREFIX},
};

static int pvc_build(const struct model_type *t, const struct model_view *v, void **out)
{
    (void)t;
    struct model_pack pk;
    int64_t created;
    model_pack_init(&pk, sizeof(struct pvc_rec));
    int rc = model_pack_meta_view(&pk, v, &created);
    if (rc)
        return rc;
    const char *sc = model_view_str(v, PVC_STORAGE_CLASS);
    model_pack_intern(&pk, offsetof(struct pvc_rec, storage_class_id), sc, false); /* "" kept */
    bool has_volume = model_pack_tail(&pk, model_view_str(v, PVC_VOLUME_NAME), true);
    model_pack_intern(&pk, offsetof(struct pvc_rec, phase_id), model_view_str(v, PVC_PHASE), true);
    struct pvc_rec *r = model_pack_alloc(&pk);
    if (!r)
        return -ENOMEM;
    r->meta.created = created;
    r->has_volume_name = has_volume;
    r->has_storage_class = sc != NULL;
    r->velero_meta = (v->v[PVC_LABELS].set && v->v[PVC_LABELS].b) ||
                     (v->v[PVC_ANNOTATIONS].set && v->v[PVC_ANNOTATIONS].b);
    *out = r;
    return 0;
}

struct pvc_rec *model_pvc_clone(const struct pvc_rec *r)
{
    struct model_pack pk;
    char ubuf[MODEL_UID_BUF], rbuf[MODEL_RV_BUF];
    model_pack_init(&pk, sizeof(struct pvc_rec));
    model_pack_str(&pk, offsetof(struct pvc_rec, meta.name), r->meta.name, false);
    model_pack_uid(&pk, model_meta_uid(&r->meta, ubuf));
    model_pack_rv(&pk, model_meta_rv(&r->meta, rbuf));
    model_pack_ns(&pk, model_meta_ns(&r->meta));
    model_pack_intern(&pk, offsetof(struct pvc_rec, storage_class_id), pvc_storage_class(r), false);
    bool has_volume = model_pack_tail(&pk, pvc_volume_name(r), false);
    model_pack_intern(&pk, offsetof(struct pvc_rec, phase_id), pvc_phase(r), false);
    struct pvc_rec *c = model_pack_alloc(&pk);
    if (!c)
        return NULL;
    c->meta.created = r->meta.created;
    c->has_volume_name = has_volume;
    c->has_storage_class = r->has_storage_class;
    c->velero_meta = r->velero_meta;
    return c;
}

static const struct model_fields pvc_fields = {pvc_field_table, PVC_NFIELDS, pvc_build};

const struct model_type model_pvc_type = {
    .resource = "persistentvolumeclaims",
    .group = "",
    .version = "v1",
    .kind = "PersistentVolumeClaim",
    .namespaced = true,
    .extract = model_fields_extract,
    .free = pvc_free,
    .fields = &pvc_fields,
};
