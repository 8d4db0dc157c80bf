/* Field tables read from json-c objects (fields.h): the DOM twin of the
 * streaming matcher in kube/sax.c, so one table and one build function per
 * resource serve both the hot path and the json-c callers. */
#include "model/fields.h"

#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "model/model.h"

static struct json_object *member(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

void model_view_from_json(const struct model_fields *fs, struct json_object *obj, struct model_view *v)
{
    memset(v, 0, sizeof(*v));
    for (size_t i = 0; i < fs->n && i < MODEL_VIEW_MAX; i++) {
        const struct model_field *f = &fs->f[i];
        struct json_object *o = obj;
        const char *prefix = NULL;
        for (size_t d = 0; o && d < MODEL_PATH_MAX && f->path[d]; d++) {
            if (f->kind == MF_PREFIX && (d + 1 == MODEL_PATH_MAX || !f->path[d + 1])) {
                prefix = f->path[d]; /* the last component: the key prefix */
                break;
            }
            o = member(o, f->path[d]);
        }
        if (!o)
            continue;
        struct model_val *mv = &v->v[i];
        switch (f->kind) {
        case MF_STR:
            if (json_object_is_type(o, json_type_string)) {
                mv->s = json_object_get_string(o);
                mv->len = (size_t)json_object_get_string_len(o);
                mv->set = true;
            }
            break;
        case MF_BOOL:
            if (json_object_is_type(o, json_type_boolean)) {
                mv->set = true;
                mv->b = json_object_get_boolean(o);
            }
            break;
        case MF_OBJ:
            mv->set = json_object_is_type(o, json_type_object);
            break;
        case MF_PREFIX:
            if (!json_object_is_type(o, json_type_object))
                break;
            mv->set = true;
            mv->b = false;
            json_object_object_foreach(o, pkey, pval) {
                (void)pval;
                if (prefix && strncmp(pkey, prefix, strlen(prefix)) == 0)
                    mv->b = true;
            }
            break;
        case MF_KEYS:
            if (!json_object_is_type(o, json_type_object))
                break;
            mv->set = true;
            json_object_object_foreach(o, key, val) {
                if (v->nkeys < MODEL_VIEW_KEYS && json_object_is_type(val, json_type_object))
                    v->keys[v->nkeys++] = key;
            }
            break;
        }
    }
}

int model_view_extract(const struct model_type *t, const struct model_view *v, void **out)
{
    return t->fields->build(t, v, out);
}

int model_fields_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    struct model_view v;
    model_view_from_json(t->fields, obj, &v);
    return t->fields->build(t, &v, out);
}

bool model_view_has_meta(const struct model_view *v)
{
    const char *name = model_view_str(v, MV_NAME), *rv = model_view_str(v, MV_RV);
    return name && *name && model_view_str(v, MV_UID) && rv && *rv;
}
