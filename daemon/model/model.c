/* Common object metadata shared by every record (model.h): the reflector
 * and the per-resource extractors (model/<resource>.c) call
 * model_meta_extract to fill the struct obj_meta head of a record. */
#include "model/model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "model/fields.h"
#include "util/clock.h"

static const char *get_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int model_meta_extract(struct json_object *obj, struct obj_meta *m)
{
    memset(m, 0, sizeof(*m));
    struct json_object *md;
    if (!obj || !json_object_object_get_ex(obj, "metadata", &md) ||
        !json_object_is_type(md, json_type_object))
        return -EINVAL;
    const char *name = get_str(md, "name");
    const char *uid = get_str(md, "uid");
    const char *rv = get_str(md, "resourceVersion");
    const char *ns = get_str(md, "namespace");
    const char *ts = get_str(md, "creationTimestamp");
    if (!name || !*name || !uid || !rv || !*rv)
        return -EINVAL;
    m->name = strdup(name);
    m->uid = strdup(uid);
    m->rv = strdup(rv);
    m->ns = (ns && *ns) ? strdup(ns) : NULL;
    if (!m->name || !m->uid || !m->rv || ((ns && *ns) && !m->ns)) {
        model_meta_clear(m);
        return -ENOMEM;
    }
    int64_t secs;
    if (ts && clock_parse_rfc3339(ts, &secs, NULL) == 0)
        m->created = secs;
    return 0;
}

void model_meta_clear(struct obj_meta *m)
{
    free(m->ns);
    free(m->name);
    free(m->uid);
    free(m->rv);
    memset(m, 0, sizeof(*m));
}

int model_rec_new(struct json_object *obj, size_t size, void **out)
{
    if (size < sizeof(struct obj_meta))
        return -EINVAL;
    struct obj_meta *m = calloc(1, size);
    if (!m)
        return -ENOMEM;
    int rc = model_meta_extract(obj, m);
    if (rc) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int model_meta_from_view(const struct model_view *v, struct obj_meta *m)
{
    memset(m, 0, sizeof(*m));
    if (!model_view_has_meta(v))
        return -EINVAL;
    const char *ns = model_view_str(v, MV_NAMESPACE);
    const char *ts = model_view_str(v, MV_CREATED);
    m->name = strdup(model_view_str(v, MV_NAME));
    m->uid = strdup(model_view_str(v, MV_UID));
    m->rv = strdup(model_view_str(v, MV_RV));
    m->ns = (ns && *ns) ? strdup(ns) : NULL;
    if (!m->name || !m->uid || !m->rv || ((ns && *ns) && !m->ns)) {
        model_meta_clear(m);
        return -ENOMEM;
    }
    int64_t secs;
    if (ts && clock_parse_rfc3339(ts, &secs, NULL) == 0)
        m->created = secs;
    return 0;
}

int model_rec_new_view(const struct model_view *v, size_t size, void **out)
{
    if (size < sizeof(struct obj_meta))
        return -EINVAL;
    struct obj_meta *m = calloc(1, size);
    if (!m)
        return -ENOMEM;
    int rc = model_meta_from_view(v, m);
    if (rc) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}
