/* One-allocation records for model/<resource>.c: a record's strings are
 * copied behind its struct (one allocation, one free), and low-cardinality
 * strings (class, driver, phase, namespace) are interned: refcounted,
 * shared by every record that holds them, and kept in the record as a
 * 32-bit id (model.h model_intern_str). The intern table is global: loop
 * thread only, like the stores. Internal to model/. */
#ifndef ABC_MODEL_PACK_H
#define ABC_MODEL_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct model_view;

#define MODEL_PACK_MAX 16

enum model_pack_kind {
    MODEL_PACK_COPY,   /* a char * member: copy of s behind the struct */
    MODEL_PACK_TAIL,   /* no member: copy of s right after the name (model_tail) */
    MODEL_PACK_INTERN, /* a uint32_t member: the id of interned s */
    MODEL_PACK_NS,     /* obj_meta.ns_id: the id of interned s */
    MODEL_PACK_UID,    /* obj_meta.uid kept as a string (not a UUID) */
    MODEL_PACK_RV,     /* obj_meta.rv kept as a string (not an integer) */
};

struct model_pack_field {
    size_t off;     /* offset of a char * member of the record */
    const char *s;  /* borrowed until model_pack_alloc */
    size_t len;
    enum model_pack_kind kind;
};

struct model_pack {
    size_t size;  /* sizeof the record struct */
    size_t bytes; /* string bytes to copy behind it, NULs included */
    size_t n;
    uint8_t uid[16]; /* the record's obj_meta.uid and .rv when compact */
    uint64_t rv;
    struct model_pack_field f[MODEL_PACK_MAX];
};

void model_pack_init(struct model_pack *p, size_t size);
/* The char * member at offset off gets a copy of s (borrowed until
 * model_pack_alloc); NULL stays NULL, and so does "" when empty_null. */
void model_pack_str(struct model_pack *p, size_t off, const char *s, bool empty_null);
/* A copy of s behind the struct with no pointer to it: the name and the
 * strings added this way are copied first, one after the other, in the
 * order added (the k-th is model_tail(name, k)); uid and resourceVersion
 * strings come after them. Returns whether s is stored (not NULL, and not
 * "" when empty_null): the record keeps that as a flag. */
bool model_pack_tail(struct model_pack *p, const char *s, bool empty_null);
/* The uint32_t member at offset off gets the id of interned s (released by
 * model_pack_free); NULL stays 0, and so does "" when empty_null. */
void model_pack_intern(struct model_pack *p, size_t off, const char *s, bool empty_null);
/* The record's obj_meta.ns_id: interned s (NULL and "" stay 0). */
void model_pack_ns(struct model_pack *p, const char *s);
/* The record's obj_meta.uid / .rv (offset 0): compact when s has a compact
 * form, else a copy of s (borrowed until model_pack_alloc). */
void model_pack_uid(struct model_pack *p, const char *s);
void model_pack_rv(struct model_pack *p, const char *s);
/* metadata of obj into the struct obj_meta at offset 0: name copied, uid
 * and resourceVersion compact (or copied), namespace interned (NULL when absent or ""),
 * creationTimestamp into *created. 0 or -EINVAL (missing name, uid or
 * resourceVersion). */
int model_pack_meta(struct model_pack *p, struct json_object *obj, int64_t *created);
/* The same from a view of a table that starts with MODEL_META_FIELDS. */
int model_pack_meta_view(struct model_pack *p, const struct model_view *v, int64_t *created);
/* The zeroed record with its string members set; NULL on ENOMEM (nothing
 * held). Free with model_pack_free. */
void *model_pack_alloc(const struct model_pack *p);
/* What model_pack_free needs to know of a record type: its size, its
 * interned members besides the namespace (uint32_t ids) and how many
 * model_pack_tail strings rec holds. The pool keeps no header: a record's
 * size is computed again from these. */
struct model_pack_layout {
    size_t size;
    const size_t *interned;
    size_t ninterned;
    unsigned (*tails)(const void *rec);
};
/* Releases the interned ids and frees rec (NULL ok). */
void model_pack_free(void *rec, const struct model_pack_layout *l);

/* Interned copy of s with one more reference; NULL on ENOMEM or s NULL
 * (model_intern_id by pointer). */
const char *model_intern_get(const char *s);
/* Drops a reference taken by model_intern_get (NULL ignored). */
void model_intern_put(const char *s);
/* Distinct strings interned now (tests). */
size_t model_intern_count(void);

#endif
