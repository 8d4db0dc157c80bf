/* Small json-c lookups shared by the model/<resource>.c extractors:
 * type-checked gets that return NULL instead of a wrong type, and a
 * NULL-safe strdup. Internal to model/. */
#ifndef ABC_MODEL_MJSON_H
#define ABC_MODEL_MJSON_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* Object member key of o, or NULL (o NULL or not an object, key absent). */
static inline struct json_object *mj_get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

static inline struct json_object *mj_obj(struct json_object *o, const char *key)
{
    struct json_object *v = mj_get(o, key);
    return (v && json_object_is_type(v, json_type_object)) ? v : NULL;
}

static inline const char *mj_str(struct json_object *o, const char *key)
{
    struct json_object *v = mj_get(o, key);
    return (v && json_object_is_type(v, json_type_string)) ? json_object_get_string(v) : NULL;
}

/* Copies s into *out (NULL stays NULL; "" becomes NULL when empty_null).
 * 0 or -ENOMEM. */
static inline int mj_dup(const char *s, bool empty_null, char **out)
{
    *out = NULL;
    if (!s || (empty_null && !*s))
        return 0;
    *out = strdup(s);
    return *out ? 0 : -ENOMEM;
}

/* metadata.annotations[key] / metadata.labels[key], or NULL. */
static inline const char *mj_annotation(struct json_object *obj, const char *key)
{
    return mj_str(mj_obj(mj_obj(obj, "metadata"), "annotations"), key);
}

static inline const char *mj_label(struct json_object *obj, const char *key)
{
    return mj_str(mj_obj(mj_obj(obj, "metadata"), "labels"), key);
}

/* Whether a key of metadata.labels or metadata.annotations starts with
 * prefix ("velero.io/"). */
static inline bool mj_meta_key_prefix(struct json_object *obj, const char *prefix)
{
    static const char *const maps[] = {"labels", "annotations"};
    size_t pl = strlen(prefix);
    struct json_object *md = mj_obj(obj, "metadata");
    for (size_t i = 0; i < 2; i++) {
        struct json_object *m = mj_obj(md, maps[i]);
        if (!m)
            continue;
        json_object_object_foreach(m, k, v) {
            (void)v;
            if (strncmp(k, prefix, pl) == 0)
                return true;
        }
    }
    return false;
}

/* Case-insensitive string equality; NULL never equals. */
static inline bool mj_ieq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

#endif
