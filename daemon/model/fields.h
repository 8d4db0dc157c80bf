/* Table-driven extraction: each resource lists the JSON paths it reads
 * (struct model_field) and builds its record from the values found there
 * (struct model_view). The same table serves the streaming parser of list
 * pages and watch events (kube/sax.c: matched values only, the rest of the
 * object is skipped without being copied) and json-c objects (tests, pods,
 * small documents: model_view_from_json). */
#ifndef ABC_MODEL_FIELDS_H
#define ABC_MODEL_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct model_type;

#define MODEL_PATH_MAX 6  /* path components of one field */
#define MODEL_VIEW_MAX 24 /* fields per table */
#define MODEL_VIEW_KEYS 32

enum model_field_kind {
    MF_STR = 1, /* a JSON string */
    MF_BOOL,    /* a JSON boolean (b) */
    MF_OBJ,     /* an object is present (set); its own fields may be listed too */
    MF_KEYS,    /* an object: the names of its object-valued members, in order,
                 * go to view->keys (at most one such field per table) */
    MF_PREFIX,  /* the LAST path component is a key prefix, the others lead to an
                 * object (set): b is whether one of its keys starts with the
                 * prefix ({"metadata", "labels", "velero.io/"}) */
};

/* A path from the object's root; unused trailing components are NULL
 * (the table initialisers leave them out). */
struct model_field {
    const char *path[MODEL_PATH_MAX];
    enum model_field_kind kind;
};

/* The value found at a field's path. s is NUL-terminated (len bytes) and
 * borrowed for the extraction call. */
struct model_val {
    const char *s;
    size_t len;
    bool set; /* found with the field's type */
    bool b;   /* MF_BOOL */
};

struct model_view {
    struct model_val v[MODEL_VIEW_MAX];
    const char *keys[MODEL_VIEW_KEYS];
    size_t nkeys;
};

struct model_fields {
    const struct model_field *f; /* f[i] fills view->v[i] */
    size_t n;                    /* <= MODEL_VIEW_MAX */
    /* The record from the values (0, -EINVAL without name/uid/rv, -ENOMEM). */
    int (*build)(const struct model_type *t, const struct model_view *v, void **out);
};

/* Every table starts with these, in this order (MODEL_META_FIELDS), so the
 * reflector finds the resourceVersion and the streaming-list bookmark in
 * any view. */
enum {
    MV_NAME = 0,
    MV_NAMESPACE,
    MV_UID,
    MV_RV,
    MV_CREATED,
    MV_INITIAL_END, /* metadata.annotations["k8s.io/initial-events-end"] */
    MV_FIRST        /* first index of a resource's own fields */
};

#define MODEL_META_FIELDS                                                         \
    {{"metadata", "name"}, MF_STR}, {{"metadata", "namespace"}, MF_STR},          \
        {{"metadata", "uid"}, MF_STR}, {{"metadata", "resourceVersion"}, MF_STR}, \
        {{"metadata", "creationTimestamp"}, MF_STR},                              \
        {{"metadata", "annotations", "k8s.io/initial-events-end"}, MF_STR}

/* The string at index i, or NULL when absent (or of another type). */
static inline const char *model_view_str(const struct model_view *v, size_t i)
{
    return v->v[i].set ? v->v[i].s : NULL;
}

/* Fills v from a json-c object (NULL or not an object: nothing set).
 * Strings are borrowed from obj. */
void model_view_from_json(const struct model_fields *fs, struct json_object *obj, struct model_view *v);

/* model_type.extract for a table-driven type: model_view_from_json with
 * t->fields, then t->fields->build. */
int model_fields_extract(const struct model_type *t, struct json_object *obj, void **out);

/* The record of a view: t->fields->build (t must have fields). */
int model_view_extract(const struct model_type *t, const struct model_view *v, void **out);

/* Name, uid and resourceVersion present (non-empty name and rv, as
 * model_meta_extract requires). */
bool model_view_has_meta(const struct model_view *v);

#endif
