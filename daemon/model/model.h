/* The contract between the reflector (kube/) and the typed records
 * (model/<resource>.c). A reflector knows a resource only through a
 * struct model_type: where it is served and how to turn one json-c object
 * into a compact record. Every record starts with struct obj_meta so the
 * store can key, version and dump it without knowing its type. */
#ifndef ABC_MODEL_MODEL_H
#define ABC_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct json_object;
struct model_fields;
struct model_view;

/* Common head of every record (first member), 40 bytes. The name is owned
 * by the record; the namespace is interned (model_meta_ns).
 * uid and resourceVersion are kept compact and read through the accessors
 * below: a uid in the canonical lowercase UUID form (RFC 4122 variant, what
 * the API server generates) as its 16 bytes, a resourceVersion in canonical
 * decimal below 2^63 as that integer. Both are opaque strings to the API:
 * any other value is kept as a string owned by the record (uid: a pointer
 * in bytes 0-7 and byte 8 zero, a variant no parsed uid has; rv: an even
 * value, the pointer, where an integer is stored as (n << 1) | 1). */
struct obj_meta {
    char *name;
    uint64_t rv;           /* metadata.resourceVersion, encoded: model_meta_rv */
    uint8_t uid[16];       /* metadata.uid, encoded: model_meta_uid */
    int64_t created : 40;  /* creationTimestamp, Unix seconds (years 0-9999 fit); 0 if absent */
    uint64_t ns_id : 24;   /* metadata.namespace interned (model_intern_str); 0 = cluster-scoped */
};

#define MODEL_NS_ID_MAX ((1u << 24) - 1)

/* Interned strings (model/pack.c): records keep a 32-bit id (0 = none)
 * instead of a pointer. The string of an id, valid while the id is held. */
extern const char *const *model_intern_strs;
static inline const char *model_intern_str(uint32_t id)
{
    return id ? model_intern_strs[id] : NULL;
}
/* The id of s with one more reference (0 for NULL, and on ENOMEM);
 * release with model_intern_put_id (0 ignored). */
uint32_t model_intern_id(const char *s);
void model_intern_put_id(uint32_t id);

/* The string k strings after s in a run of NUL-terminated strings (packed
 * records keep strings right after their name: model/pack.h). */
static inline const char *model_tail(const char *s, unsigned k)
{
    for (; k; k--)
        s += strlen(s) + 1;
    return s;
}

/* m's namespace; NULL for cluster-scoped objects. */
static inline const char *model_meta_ns(const struct obj_meta *m)
{
    return model_intern_str((uint32_t)m->ns_id);
}

#define MODEL_UID_BUF 37 /* 36 characters and the NUL */
#define MODEL_RV_BUF 21  /* a uint64 in decimal and the NUL */

/* m's uid as a string: formatted into buf, or the record's own string when
 * it is not a UUID (valid while the record is). */
const char *model_meta_uid(const struct obj_meta *m, char buf[MODEL_UID_BUF]);
/* m's resourceVersion as a string, the same way. */
const char *model_meta_rv(const struct obj_meta *m, char buf[MODEL_RV_BUF]);
/* Whether two records carry the same resourceVersion. */
bool model_meta_rv_eq(const struct obj_meta *a, const struct obj_meta *b);

/* Encoders (model/ and tests): s into its compact form when it has one.
 * 0 and *out / out[], or -EINVAL when s must be kept as a string. */
int model_uid_parse(const char *s, uint8_t out[16]);
int model_rv_parse(const char *s, uint64_t *out);
/* Sets m's uid / resourceVersion from s, strdup'ing s when it has no
 * compact form (model_meta_clear frees it). 0 or -ENOMEM. */
int model_meta_set_uid(struct obj_meta *m, const char *s);
int model_meta_set_rv(struct obj_meta *m, const char *s);
/* The string a uid / rv kept as a string points at, else NULL. */
const char *model_meta_uid_str(const struct obj_meta *m);
const char *model_meta_rv_str(const struct obj_meta *m);
/* Stores the string pointer s as m's uid / rv (s must be 2-aligned for rv). */
void model_meta_put_uid_str(struct obj_meta *m, const char *s);
void model_meta_put_rv_str(struct obj_meta *m, const char *s);

struct model_type {
    const char *resource;  /* plural, "persistentvolumes" */
    const char *group;     /* "" for the core group */
    const char *version;   /* "v1" */
    const char *kind;      /* "PersistentVolume" (for logs, bookmarks) */
    bool namespaced;
    const char *namespace_;     /* restrict to one namespace; NULL = all */
    const char *label_selector; /* server-side labelSelector; NULL = none */
    /* Builds a record from one object (borrowed; the caller frees the DOM
     * right after). Returns 0 and *out (caller frees with ->free), or
     * -EINVAL when the object lacks metadata.name / uid / resourceVersion. */
    int (*extract)(const struct model_type *t, struct json_object *obj, void **out);
    void (*free)(void *rec);
    void *ctx;             /* type-specific (accounting source config) */
    /* The paths the record is built from and its builder (model/fields.h);
     * NULL for types extracted from a json-c object only (pods, accounting
     * sources): the streaming parser then builds a json-c tree of each
     * object for ->extract. */
    const struct model_fields *fields;
};

static inline const struct obj_meta *model_meta(const void *rec)
{
    return (const struct obj_meta *)rec;
}

/* The one metadata parser: obj["metadata"]'s name, uid, resourceVersion,
 * namespace (NULL when absent or empty) and creationTimestamp (0 when
 * absent or unparsable). Strings are borrowed from obj. 0 or -EINVAL
 * (missing name/uid/resourceVersion). model_meta_extract and
 * model_pack_meta build on it. */
struct model_meta_src {
    const char *name, *uid, *rv, *ns;
    int64_t created;
};
int model_meta_read(struct json_object *obj, struct model_meta_src *out);
/* The same from a view of a table that starts with MODEL_META_FIELDS
 * (model/fields.h); the strings are borrowed from the view. */
int model_meta_read_view(const struct model_view *v, struct model_meta_src *out);

/* Fills m from obj["metadata"]; strings are new copies (m owns them).
 * 0 or -EINVAL (missing name/uid/resourceVersion) / -ENOMEM. */
int model_meta_extract(struct json_object *obj, struct obj_meta *m);
void model_meta_clear(struct obj_meta *m);
/* Allocates a zeroed record of size bytes whose first member is a struct
 * obj_meta (every record's layout, see model_meta) and fills that head from
 * obj. 0 and *out (caller frees; model_meta_clear for the head), else
 * -ENOMEM or model_meta_extract's error, with nothing allocated. */
int model_rec_new(struct json_object *obj, size_t size, void **out);
/* The same from a view of a table that starts with MODEL_META_FIELDS. */
int model_meta_from_view(const struct model_view *v, struct obj_meta *m);
int model_rec_new_view(const struct model_view *v, size_t size, void **out);

#endif
