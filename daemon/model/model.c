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

int model_meta_read(struct json_object *obj, struct model_meta_src *out)
{
    memset(out, 0, sizeof(*out));
    struct json_object *md;
    if (!obj || !json_object_object_get_ex(obj, "metadata", &md) ||
        !json_object_is_type(md, json_type_object))
        return -EINVAL;
    out->name = get_str(md, "name");
    out->uid = get_str(md, "uid");
    out->rv = get_str(md, "resourceVersion");
    out->ns = get_str(md, "namespace");
    const char *ts = get_str(md, "creationTimestamp");
    if (!out->name || !*out->name || !out->uid || !out->rv || !*out->rv)
        return -EINVAL;
    if (out->ns && !*out->ns)
        out->ns = NULL;
    int64_t secs;
    if (ts && clock_parse_rfc3339(ts, &secs, NULL) == 0)
        out->created = secs;
    return 0;
}

int model_meta_extract(struct json_object *obj, struct obj_meta *m)
{
    memset(m, 0, sizeof(*m));
    struct model_meta_src src;
    int rc = model_meta_read(obj, &src);
    if (rc)
        return rc;
    m->name = strdup(src.name);
    m->uid = strdup(src.uid);
    m->rv = strdup(src.rv);
    m->ns = src.ns ? strdup(src.ns) : NULL;
    if (!m->name || !m->uid || !m->rv || (src.ns && !m->ns)) {
        model_meta_clear(m);
        return -ENOMEM;
    }
    m->created = src.created;
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

int model_meta_read_view(const struct model_view *v, struct model_meta_src *out)
{
    memset(out, 0, sizeof(*out));
    if (!model_view_has_meta(v))
        return -EINVAL;
    out->name = model_view_str(v, MV_NAME);
    out->uid = model_view_str(v, MV_UID);
    out->rv = model_view_str(v, MV_RV);
    out->ns = model_view_str(v, MV_NAMESPACE);
    if (out->ns && !*out->ns)
        out->ns = NULL;
    const char *ts = model_view_str(v, MV_CREATED);
    int64_t secs;
    if (ts && clock_parse_rfc3339(ts, &secs, NULL) == 0)
        out->created = secs;
    return 0;
}

int model_meta_from_view(const struct model_view *v, struct obj_meta *m)
{
    memset(m, 0, sizeof(*m));
    struct model_meta_src src;
    int rc = model_meta_read_view(v, &src);
    if (rc)
        return rc;
    m->name = strdup(src.name);
    m->uid = strdup(src.uid);
    m->rv = strdup(src.rv);
    m->ns = src.ns ? strdup(src.ns) : NULL;
    if (!m->name || !m->uid || !m->rv || (src.ns && !m->ns)) {
        model_meta_clear(m);
        return -ENOMEM;
    }
    m->created = src.created;
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
