/* The ledger's state document (ledger_to_json / ledger_merge_json, see
 * ledger.h for the layout): what the state file and the HA ConfigMap hold.
 * Merging validates the whole document before it changes anything. */
#include "quota/ledger_int.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/utf8.h"

/* days[day][instance][op], created on demand. */
static struct json_object *slot_for(struct json_object *days, int64_t day, const char *instance,
                                    enum acct_op op)
{
    char ds[16];
    struct json_object *d, *i, *o;
    ledger_day_string(day, ds, sizeof(ds));
    if (!json_object_object_get_ex(days, ds, &d)) {
        d = json_object_new_object();
        if (!d || json_object_object_add(days, ds, d))
            return NULL;
    }
    if (!json_object_object_get_ex(d, instance, &i)) {
        i = json_object_new_object();
        if (!i || json_object_object_add(d, instance, i))
            return NULL;
    }
    if (!json_object_object_get_ex(i, acct_op_name(op), &o)) {
        o = json_object_new_object();
        if (!o || json_object_object_add(i, acct_op_name(op), o))
            return NULL;
        json_object_object_add(o, "objects", json_object_new_array());
        json_object_object_add(o, "reservations", json_object_new_array());
    }
    return o;
}

static struct json_object *arr(struct json_object *o, const char *key)
{
    struct json_object *a = NULL;
    json_object_object_get_ex(o, key, &a);
    return a;
}

static struct json_object *ts_json(int64_t t)
{
    char s[32];
    clock_format_rfc3339(t, s, sizeof(s));
    return json_object_new_string(s);
}

struct json_object *ledger_to_json(const struct ledger *l, int64_t now)
{
    struct json_object *root = json_object_new_object(), *days = json_object_new_object();
    if (!root || !days)
        goto fail;
    json_object_object_add(root, "version", json_object_new_int(LEDGER_STATE_VERSION));
    json_object_object_add(root, "day_offset_seconds", json_object_new_int(l->o.day_offset));
    json_object_object_add(root, "saved_at", ts_json(now));
    json_object_object_add(root, "days", days);
    for (size_t i = 0; i < l->nobj; i++) {
        const struct lobj *x = &l->objs[i];
        struct json_object *s = slot_for(days, ledger_day_of(l, x->created), x->instance, x->op);
        struct json_object *e = json_object_new_object();
        if (!s || !e)
            goto fail;
        json_object_object_add(e, "uid", json_object_new_string(x->uid));
        json_object_object_add(e, "created", ts_json(x->created));
        if (x->reservation)
            json_object_object_add(e, "reservation", json_object_new_string(x->reservation));
        json_object_array_add(arr(s, "objects"), e);
    }
    for (size_t i = 0; i < l->nres; i++) {
        const struct lres *r = &l->res[i];
        struct json_object *s = slot_for(days, ledger_day_of(l, r->created), r->instance, r->op);
        struct json_object *e = json_object_new_object();
        if (!s || !e)
            goto fail;
        json_object_object_add(e, "id", json_object_new_string(r->id));
        json_object_object_add(e, "created", ts_json(r->created));
        json_object_object_add(e, "used", json_object_new_int64(r->ans.used));
        json_object_object_add(e, "limit", json_object_new_int64(r->ans.limit));
        json_object_object_add(e, "remaining", json_object_new_int64(r->ans.remaining));
        json_object_object_add(e, "resets_at", ts_json(r->ans.resets_at));
        json_object_array_add(arr(s, "reservations"), e);
    }
    for (size_t i = 0; i < l->ntomb; i++) {
        const struct lres *r = &l->tomb[i];
        struct json_object *s = slot_for(days, ledger_day_of(l, r->created), r->instance, r->op);
        struct json_object *e = json_object_new_object();
        if (!s || !e)
            goto fail;
        struct json_object *c = arr(s, "cancelled");
        if (!c) {
            c = json_object_new_array();
            if (!c || json_object_object_add(s, "cancelled", c)) {
                json_object_put(e);
                goto fail;
            }
        }
        json_object_object_add(e, "id", json_object_new_string(r->id));
        json_object_object_add(e, "created", ts_json(r->created));
        json_object_array_add(c, e);
    }
    for (size_t i = 0; i < l->nwarn; i++) {
        const struct lwarn *w = &l->warned[i];
        struct json_object *s = slot_for(days, w->day, w->instance, w->op);
        if (!s)
            goto fail;
        json_object_object_add(s, "warned", json_object_new_boolean(1));
    }
    return root;
fail:
    json_object_put(root);
    if (!root)
        json_object_put(days);
    return NULL;
}

/* Text a state document may hold (instance names, UIDs, ids): valid
 * UTF-8 without control characters; anything else makes the document
 * corrupt (set aside by the loader), never a name that breaks /metrics. */
static bool text_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return utf8_valid(s, strlen(s));
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    return text_ok(s) ? s : NULL;
}

static int jts(struct json_object *o, const char *key, int64_t *t)
{
    const char *s = jstr(o, key);
    return s && clock_parse_rfc3339(s, t, NULL) == 0 ? 0 : -EINVAL;
}

static int jlong(struct json_object *o, const char *key, long *v)
{
    struct json_object *x;
    if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_int))
        return -EINVAL;
    *v = (long)json_object_get_int64(x);
    return 0;
}

/* One op entry; apply=false only validates. Counts additions in *added. */
static int merge_op(struct ledger *l, struct json_object *o, const char *instance,
                    enum acct_op op, int64_t day, bool apply, int64_t now, int *added)
{
    struct json_object *a, *w;
    if (!json_object_is_type(o, json_type_object))
        return -EINVAL;
    if (json_object_object_get_ex(o, "objects", &a)) {
        if (!json_object_is_type(a, json_type_array))
            return -EINVAL;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
            struct json_object *e = json_object_array_get_idx(a, i);
            int64_t created;
            struct json_object *rv = NULL;
            const char *uid = json_object_is_type(e, json_type_object) ? jstr(e, "uid") : NULL;
            if (!uid || !*uid || jts(e, "created", &created))
                return -EINVAL;
            if (json_object_object_get_ex(e, "reservation", &rv) &&
                !json_object_is_type(rv, json_type_string))
                return -EINVAL;
            if (!apply)
                continue;
            int rc = ledger_observe(l, uid, instance, op, created,
                                    rv ? json_object_get_string(rv) : NULL, now);
            if (rc < 0)
                return rc;
            *added += rc;
        }
    }
    if (json_object_object_get_ex(o, "cancelled", &a)) {
        if (!json_object_is_type(a, json_type_array))
            return -EINVAL;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
            struct json_object *e = json_object_array_get_idx(a, i);
            int64_t created;
            const char *id = json_object_is_type(e, json_type_object) ? jstr(e, "id") : NULL;
            if (!id || !*id || jts(e, "created", &created))
                return -EINVAL;
            if (!apply || ledger_day_of(l, created) < ledger__oldest_kept_day(l, now))
                continue;
            struct lres *t = ledger__find_tomb(l, instance, op, id);
            if (!t || t->created < created) {
                if (ledger__add_tomb(l, instance, op, id, created))
                    return -ENOMEM;
                (*added)++;
            }
            struct lres *r = ledger__find_res(l, instance, op, id);
            if (r && r->created <= created)
                (void)ledger_unreserve(l, instance, op, id);
        }
    }
    if (json_object_object_get_ex(o, "reservations", &a)) {
        if (!json_object_is_type(a, json_type_array))
            return -EINVAL;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
            struct json_object *e = json_object_array_get_idx(a, i);
            struct ledger_answer ans;
            int64_t created;
            const char *id = json_object_is_type(e, json_type_object) ? jstr(e, "id") : NULL;
            if (!id || !*id || jts(e, "created", &created) || jlong(e, "used", &ans.used) ||
                jlong(e, "limit", &ans.limit) || jlong(e, "remaining", &ans.remaining) ||
                jts(e, "resets_at", &ans.resets_at))
                return -EINVAL;
            if (!apply || ledger__find_res(l, instance, op, id) ||
                ledger_day_of(l, created) < ledger__oldest_kept_day(l, now))
                continue;
            /* Cancelled (answered "not counted") and written late: a
             * tombstone no older than it keeps it out. */
            const struct lres *t = ledger__find_tomb(l, instance, op, id);
            if (t && t->created >= created)
                continue;
            if (ledger__grow((void **)&l->res, &l->capres, l->nres + 1, sizeof(*l->res)))
                return -ENOMEM;
            struct lres r = {.op = op, .created = created, .ans = ans};
            r.id = strdup(id);
            r.instance = strdup(instance);
            if (!r.id || !r.instance) {
                ledger__lres_clear(&r);
                return -ENOMEM;
            }
            l->res[l->nres++] = r;
            l->dirty = true;
            (*added)++;
        }
    }
    if (json_object_object_get_ex(o, "warned", &w)) {
        if (!json_object_is_type(w, json_type_boolean))
            return -EINVAL;
        if (apply && json_object_get_boolean(w) && day >= ledger__oldest_kept_day(l, now)) {
            int rc = ledger__add_warned(l, instance, op, day);
            if (rc < 0)
                return rc;
            *added += rc;
        }
    }
    return 0;
}

static int merge_walk(struct ledger *l, struct json_object *doc, bool apply, int64_t now,
                      int *added)
{
    struct json_object *v, *days;
    if (!json_object_is_type(doc, json_type_object) ||
        !json_object_object_get_ex(doc, "version", &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int(v) != LEDGER_STATE_VERSION ||
        !json_object_object_get_ex(doc, "days", &days) ||
        !json_object_is_type(days, json_type_object))
        return -EINVAL;
    json_object_object_foreach(days, dkey, dval) {
        int64_t day;
        if (ledger__parse_day_string(dkey, &day) || !json_object_is_type(dval, json_type_object))
            return -EINVAL;
        json_object_object_foreach(dval, ikey, ival) {
            if (!*ikey || !text_ok(ikey) ||
                !json_object_is_type(ival, json_type_object))
                return -EINVAL;
            json_object_object_foreach(ival, okey, oval) {
                enum acct_op op;
                if (acct_op_parse(okey, &op))
                    return -EINVAL;
                int rc = merge_op(l, oval, ikey, op, day, apply, now, added);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

int ledger_merge_json(struct ledger *l, struct json_object *doc, int64_t now)
{
    int added = 0;
    int rc = merge_walk(l, doc, false, now, &added);
    if (rc)
        return rc;
    rc = merge_walk(l, doc, true, now, &added);
    return rc ? rc : added;
}
