/* Accounting-source records (model/acct.h): parses a source's on_demand
 * matcher and instance mapping once, then evaluates them per object at
 * extraction time, so the quota ledger only ever sees compact records. */
#include "model/acct.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int why_set(char *why, size_t n, const char *msg)
{
    if (why && n)
        snprintf(why, n, "%s", msg);
    return -EINVAL;
}

const char *acct_op_name(enum acct_op op)
{
    return op == ACCT_OP_RESTORE ? "restore" : "backup";
}

int acct_op_parse(const char *s, enum acct_op *out)
{
    if (!s)
        return -EINVAL;
    if (strcmp(s, "backup") == 0)
        *out = ACCT_OP_BACKUP;
    else if (strcmp(s, "restore") == 0)
        *out = ACCT_OP_RESTORE;
    else
        return -EINVAL;
    return 0;
}

static void source_free(struct acct_source *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->group);
    free(s->version);
    free(s->resource);
    free(s->namespace_);
    free(s->kind);
    free(s->match_key);
    free(s->match_value);
    free(s->inst_arg);
    free(s);
}

static char *dup0(const char *s) { return strdup(s ? s : ""); }

static int parse_matcher(struct acct_source *s, const char *m, char *why, size_t n)
{
    if (!m || !*m || strcmp(m, "always") == 0) {
        s->match = ACCT_MATCH_ALWAYS;
        return 0;
    }
    const char *arg;
    if (strncmp(m, "label-absent:", 13) == 0) {
        s->match = ACCT_MATCH_LABEL_ABSENT;
        arg = m + 13;
    } else if (strncmp(m, "label-present:", 14) == 0) {
        s->match = ACCT_MATCH_LABEL_PRESENT;
        arg = m + 14;
    } else if (strncmp(m, "label:", 6) == 0) {
        s->match = ACCT_MATCH_LABEL_EQ;
        arg = m + 6;
    } else if (strncmp(m, "field:", 6) == 0) {
        s->match = ACCT_MATCH_FIELD_EQ;
        arg = m + 6;
    } else {
        return why_set(why, n, "on_demand must be always, label-absent:<key>, "
                               "label-present:<key>, label:<key>=<value> or "
                               "field:<dotted.path>=<value>");
    }
    if (s->match == ACCT_MATCH_LABEL_EQ || s->match == ACCT_MATCH_FIELD_EQ) {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg)
            return why_set(why, n, "on_demand label:/field: needs <key>=<value>");
        s->match_key = strndup(arg, (size_t)(eq - arg));
        s->match_value = strdup(eq + 1);
        if (!s->match_key || !s->match_value)
            return -ENOMEM;
        return 0;
    }
    if (!*arg)
        return why_set(why, n, "on_demand label-absent:/label-present: needs a label key");
    s->match_key = strdup(arg);
    return s->match_key ? 0 : -ENOMEM;
}

static int parse_instance(struct acct_source *s, const char *m, char *why, size_t n)
{
    const char *arg;
    if (!m || !*m)
        m = "constant:default";
    if (strncmp(m, "constant:", 9) == 0) {
        s->inst = ACCT_INST_CONSTANT;
        arg = m + 9;
    } else if (strncmp(m, "label:", 6) == 0) {
        s->inst = ACCT_INST_LABEL;
        arg = m + 6;
    } else if (strncmp(m, "field:", 6) == 0) {
        s->inst = ACCT_INST_FIELD;
        arg = m + 6;
    } else {
        return why_set(why, n, "instance must be constant:<id>, label:<key> or field:<dotted.path>");
    }
    if (!*arg)
        return why_set(why, n, "instance mapping needs an argument after ':'");
    s->inst_arg = strdup(arg);
    return s->inst_arg ? 0 : -ENOMEM;
}

/* "backups" -> "Backup": only for log lines and bookmarks. */
static char *kind_from_resource(const char *r)
{
    size_t len = strlen(r);
    if (len > 1 && r[len - 1] == 's')
        len--;
    char *k = strndup(r, len);
    if (k && k[0])
        k[0] = (char)toupper((unsigned char)k[0]);
    return k;
}

static int acct_extract(const struct model_type *t, struct json_object *obj, void **out);

int acct_type_new(const struct acct_source_opts *o, struct model_type **out, char *why,
                  size_t whylen)
{
    if (!o || !o->resource || !*o->resource || !o->version || !*o->version)
        return why_set(why, whylen, "an accounting source needs version and resource");
    struct acct_source *s = calloc(1, sizeof(*s));
    struct model_type *t = calloc(1, sizeof(*t));
    int rc = -ENOMEM;
    if (!s || !t)
        goto fail;
    s->op = o->operation;
    s->name = dup0(o->name && *o->name ? o->name : o->resource);
    s->group = dup0(o->group);
    s->version = dup0(o->version);
    s->resource = dup0(o->resource);
    s->namespace_ = (o->namespace_ && *o->namespace_) ? strdup(o->namespace_) : NULL;
    s->kind = kind_from_resource(o->resource);
    if (!s->name || !s->group || !s->version || !s->resource || !s->kind ||
        (o->namespace_ && *o->namespace_ && !s->namespace_))
        goto fail;
    if ((rc = parse_matcher(s, o->on_demand, why, whylen)) ||
        (rc = parse_instance(s, o->instance, why, whylen)))
        goto fail;
    t->resource = s->resource;
    t->group = s->group;
    t->version = s->version;
    t->kind = s->kind;
    t->namespaced = true;
    t->namespace_ = s->namespace_;
    t->label_selector = NULL;
    t->extract = acct_extract;
    t->free = acct_rec_free;
    t->ctx = s;
    *out = t;
    return 0;
fail:
    source_free(s);
    free(t);
    return rc;
}

void acct_type_free(struct model_type *t)
{
    if (!t)
        return;
    source_free((struct acct_source *)t->ctx);
    free(t);
}

const char *acct_type_constant_instance(const struct model_type *t)
{
    const struct acct_source *s = acct_type_source(t);
    return s->inst == ACCT_INST_CONSTANT ? s->inst_arg : NULL;
}

void acct_rec_free(void *rec)
{
    struct acct_rec *r = rec;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r->instance);
    free(r->reservation);
    free(r);
}

/* Borrowed string value of obj.a.b.c; numbers and booleans as their JSON
 * text; NULL when absent, null, an object or an array. */
static const char *field_at(struct json_object *obj, const char *path)
{
    char seg[256];
    const char *p = path;
    struct json_object *cur = obj;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len == 0 || len >= sizeof(seg))
            return NULL;
        memcpy(seg, p, len);
        seg[len] = '\0';
        if (!json_object_is_type(cur, json_type_object) ||
            !json_object_object_get_ex(cur, seg, &cur))
            return NULL;
        p = dot ? dot + 1 : p + len;
    }
    if (!cur)
        return NULL;
    switch (json_object_get_type(cur)) {
    case json_type_string:
    case json_type_int:
    case json_type_double:
    case json_type_boolean:
        return json_object_get_string(cur);
    default:
        return NULL;
    }
}

/* metadata.<map>[key] as a string, NULL when absent. */
static const char *meta_map_get(struct json_object *obj, const char *map, const char *key)
{
    struct json_object *md, *m, *v;
    if (!json_object_object_get_ex(obj, "metadata", &md) ||
        !json_object_object_get_ex(md, map, &m) || !json_object_is_type(m, json_type_object) ||
        !json_object_object_get_ex(m, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static bool eval_match(const struct acct_source *s, struct json_object *obj)
{
    const char *v;
    switch (s->match) {
    case ACCT_MATCH_ALWAYS:
        return true;
    case ACCT_MATCH_LABEL_ABSENT:
        return meta_map_get(obj, "labels", s->match_key) == NULL;
    case ACCT_MATCH_LABEL_PRESENT:
        return meta_map_get(obj, "labels", s->match_key) != NULL;
    case ACCT_MATCH_LABEL_EQ:
        v = meta_map_get(obj, "labels", s->match_key);
        return v && strcmp(v, s->match_value) == 0;
    case ACCT_MATCH_FIELD_EQ:
        v = field_at(obj, s->match_key);
        return v && strcmp(v, s->match_value) == 0;
    }
    return false;
}

static int acct_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    const struct acct_source *s = acct_type_source(t);
    void *p;
    int rc = model_rec_new(obj, sizeof(struct acct_rec), &p);
    if (rc)
        return rc;
    struct acct_rec *r = p;
    r->op = s->op;
    r->on_demand = eval_match(s, obj);
    const char *inst = NULL;
    if (s->inst == ACCT_INST_CONSTANT)
        inst = s->inst_arg;
    else if (s->inst == ACCT_INST_LABEL)
        inst = meta_map_get(obj, "labels", s->inst_arg);
    else
        inst = field_at(obj, s->inst_arg);
    r->instance = strdup(inst && *inst ? inst : ACCT_INSTANCE_UNKNOWN);
    const char *res = meta_map_get(obj, "annotations", ACCT_RESERVATION_ANNOTATION);
    if (res && *res)
        r->reservation = strdup(res);
    if (!r->instance || (res && *res && !r->reservation)) {
        acct_rec_free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}
