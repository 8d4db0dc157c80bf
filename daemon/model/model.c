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

/* ---- compact uid and resourceVersion (model.h) ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case would not format back the same */
}

int model_uid_parse(const char *s, uint8_t out[16])
{
    uint8_t b[16];
    size_t k = 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -EINVAL;
            continue;
        }
        int hi = hexval(s[i]);
        if (hi < 0)
            return -EINVAL;
        int lo = hexval(s[++i]);
        if (lo < 0)
            return -EINVAL;
        b[k++] = (uint8_t)(hi << 4 | lo);
    }
    if (s[36] != '\0' || (b[8] & 0xc0) != 0x80)
        return -EINVAL;
    memcpy(out, b, 16);
    return 0;
}

int model_rv_parse(const char *s, uint64_t *out)
{
    uint64_t n = 0;
    if (!*s || (s[0] == '0' && s[1]))
        return -EINVAL; /* empty or a leading zero: would not format back */
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || n > (UINT64_MAX >> 1) / 10)
            return -EINVAL;
        n = n * 10 + (uint64_t)(*s - '0');
    }
    if (n > (UINT64_MAX >> 1))
        return -EINVAL;
    *out = n << 1 | 1;
    return 0;
}

const char *model_meta_uid_str(const struct obj_meta *m)
{
    if ((m->uid[8] & 0xc0) == 0x80)
        return NULL;
    const char *s;
    memcpy(&s, m->uid, sizeof(s));
    return s;
}

const char *model_meta_rv_str(const struct obj_meta *m)
{
    return (m->rv & 1) ? NULL : (const char *)(uintptr_t)m->rv;
}

void model_meta_put_uid_str(struct obj_meta *m, const char *s)
{
    memset(m->uid, 0, sizeof(m->uid));
    memcpy(m->uid, &s, sizeof(s));
}

void model_meta_put_rv_str(struct obj_meta *m, const char *s)
{
    m->rv = (uint64_t)(uintptr_t)s;
}

const char *model_meta_uid(const struct obj_meta *m, char buf[MODEL_UID_BUF])
{
    const char *s = model_meta_uid_str(m);
    if (s)
        return s;
    static const char hex[] = "0123456789abcdef";
    char *q = buf;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *q++ = '-';
        *q++ = hex[m->uid[i] >> 4];
        *q++ = hex[m->uid[i] & 15];
    }
    *q = '\0';
    return buf;
}

const char *model_meta_rv(const struct obj_meta *m, char buf[MODEL_RV_BUF])
{
    const char *s = model_meta_rv_str(m);
    if (s)
        return s;
    uint64_t n = m->rv >> 1;
    char tmp[MODEL_RV_BUF];
    size_t k = 0;
    do {
        tmp[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    for (size_t i = 0; i < k; i++)
        buf[i] = tmp[k - 1 - i];
    buf[k] = '\0';
    return buf;
}

bool model_meta_rv_eq(const struct obj_meta *a, const struct obj_meta *b)
{
    const char *sa = model_meta_rv_str(a), *sb = model_meta_rv_str(b);
    if (!sa && !sb)
        return a->rv == b->rv;
    if (!sa || !sb)
        return false; /* an integer and a non-canonical string differ */
    return strcmp(sa, sb) == 0;
}

int model_meta_set_uid(struct obj_meta *m, const char *s)
{
    if (model_uid_parse(s, m->uid) == 0)
        return 0;
    char *c = strdup(s);
    if (!c)
        return -ENOMEM;
    model_meta_put_uid_str(m, c);
    return 0;
}

int model_meta_set_rv(struct obj_meta *m, const char *s)
{
    if (model_rv_parse(s, &m->rv) == 0)
        return 0;
    char *c = strdup(s); /* malloc'd: aligned, so even */
    if (!c)
        return -ENOMEM;
    model_meta_put_rv_str(m, c);
    return 0;
}

static int meta_fill(struct obj_meta *m, const struct model_meta_src *src)
{
    m->name = strdup(src->name);
    uint32_t ns = model_intern_id(src->ns);
    if (ns > MODEL_NS_ID_MAX) {
        model_intern_put_id(ns);
        ns = 0;
    }
    m->ns_id = ns;
    m->rv = 1; /* integer 0 until set: nothing to free */
    if (!m->name || (src->ns && !ns) || model_meta_set_uid(m, src->uid) ||
        model_meta_set_rv(m, src->rv)) {
        model_meta_clear(m);
        return -ENOMEM;
    }
    m->created = src->created;
    return 0;
}

int model_meta_extract(struct json_object *obj, struct obj_meta *m)
{
    memset(m, 0, sizeof(*m));
    struct model_meta_src src;
    int rc = model_meta_read(obj, &src);
    if (rc)
        return rc;
    return meta_fill(m, &src);
}

void model_meta_clear(struct obj_meta *m)
{
    model_intern_put_id((uint32_t)m->ns_id);
    free(m->name);
    free((char *)model_meta_uid_str(m)); /* NULL in a zeroed head */
    free((char *)model_meta_rv_str(m));
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
    return meta_fill(m, &src);
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
