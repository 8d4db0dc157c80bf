/* The quota ledger (ledger.h). Observations are kept as a flat set; which
 * of them count is recomputed lazily (sorted by instance, op,
 * creationTimestamp, uid) whenever the set changed, so the answer never
 * depends on the order in which a list or watch delivered objects. */
#include "quota/ledger.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

struct lobj {
    char *uid, *instance, *reservation; /* reservation may be NULL */
    enum acct_op op;
    int64_t created;
    bool counted;                       /* valid after recount() */
};

struct lres {
    char *id, *instance;
    enum acct_op op;
    int64_t created;
    struct ledger_answer ans;
    bool consumed;                      /* scratch for recount() */
};

struct lwarn {
    char *instance;
    enum acct_op op;
    int64_t day;
};

struct ledger {
    struct ledger_opts o;
    struct lobj *objs;
    size_t nobj, capobj;
    struct lres *res;
    size_t nres, capres;
    struct lwarn *warned;
    size_t nwarn, capwarn;
    char **known;
    size_t nknown;
    bool dirty;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

struct ledger *ledger_new(const struct ledger_opts *o)
{
    struct ledger *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->o = *o;
    return l;
}

static void lobj_clear(struct lobj *x)
{
    free(x->uid);
    free(x->instance);
    free(x->reservation);
}

static void lres_clear(struct lres *r)
{
    free(r->id);
    free(r->instance);
}

void ledger_free(struct ledger *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nobj; i++)
        lobj_clear(&l->objs[i]);
    for (size_t i = 0; i < l->nres; i++)
        lres_clear(&l->res[i]);
    for (size_t i = 0; i < l->nwarn; i++)
        free(l->warned[i].instance);
    for (size_t i = 0; i < l->nknown; i++)
        free(l->known[i]);
    free(l->objs);
    free(l->res);
    free(l->warned);
    free(l->known);
    free(l);
}

void ledger_set_opts(struct ledger *l, const struct ledger_opts *o)
{
    l->o = *o;
    l->dirty = true;
}

const struct ledger_opts *ledger_opts(const struct ledger *l) { return &l->o; }

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

int64_t ledger_day_of(const struct ledger *l, int64_t t)
{
    return floor_div(t + l->o.day_offset, 86400);
}

int64_t ledger_resets_at(const struct ledger *l, int64_t now)
{
    return (ledger_day_of(l, now) + 1) * 86400 - l->o.day_offset;
}

/* Howard Hinnant's civil_from_days / days_from_civil. */
void ledger_day_string(int64_t d, char *out, size_t n)
{
    int64_t z = d + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned dd = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    snprintf(out, n, "%04lld-%02u-%02u", (long long)y, m, dd);
}

static int parse_day_string(const char *s, int64_t *day)
{
    int64_t secs;
    char buf[32];
    if (!s || strlen(s) != 10)
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
    if (clock_parse_rfc3339(buf, &secs, NULL))
        return -EINVAL;
    *day = floor_div(secs, 86400);
    return 0;
}

static int64_t oldest_kept_day(const struct ledger *l, int64_t now)
{
    return ledger_day_of(l, now) - LEDGER_KEEP_DAYS;
}

int ledger_add_instance(struct ledger *l, const char *instance)
{
    for (size_t i = 0; i < l->nknown; i++)
        if (strcmp(l->known[i], instance) == 0)
            return 0;
    char **k = realloc(l->known, (l->nknown + 1) * sizeof(*k));
    if (!k)
        return -ENOMEM;
    l->known = k;
    if (!(k[l->nknown] = strdup(instance)))
        return -ENOMEM;
    l->nknown++;
    return 0;
}

static struct lobj *find_obj(struct ledger *l, const char *uid)
{
    for (size_t i = 0; i < l->nobj; i++)
        if (strcmp(l->objs[i].uid, uid) == 0)
            return &l->objs[i];
    return NULL;
}

static struct lres *find_res(struct ledger *l, const char *instance, enum acct_op op,
                             const char *id)
{
    for (size_t i = 0; i < l->nres; i++) {
        struct lres *r = &l->res[i];
        if (r->op == op && strcmp(r->id, id) == 0 && strcmp(r->instance, instance) == 0)
            return r;
    }
    return NULL;
}

int ledger_observe(struct ledger *l, const char *uid, const char *instance, enum acct_op op,
                   int64_t created, const char *reservation, int64_t now)
{
    if (!uid || !*uid || !instance || (op != ACCT_OP_BACKUP && op != ACCT_OP_RESTORE))
        return -EINVAL;
    if (reservation && !*reservation)
        reservation = NULL;
    if (created <= 0)
        created = now;
    /* Old objects (a Velero history of weeks) are dropped before the
     * UID lookup: only the kept days are ever searched. */
    if (ledger_day_of(l, created) < oldest_kept_day(l, now))
        return 0;
    struct lobj *x = find_obj(l, uid);
    if (x) {
        if (!x->reservation && reservation) {
            if (!(x->reservation = strdup(reservation)))
                return -ENOMEM;
            l->dirty = true;
            return 1;
        }
        return 0;
    }
    if (grow((void **)&l->objs, &l->capobj, l->nobj + 1, sizeof(*l->objs)))
        return -ENOMEM;
    struct lobj n = {.op = op, .created = created};
    n.uid = strdup(uid);
    n.instance = strdup(instance);
    n.reservation = reservation ? strdup(reservation) : NULL;
    if (!n.uid || !n.instance || (reservation && !n.reservation)) {
        lobj_clear(&n);
        return -ENOMEM;
    }
    l->objs[l->nobj++] = n;
    l->dirty = true;
    return 1;
}

static int cmp_obj(const void *a, const void *b)
{
    const struct lobj *x = *(struct lobj *const *)a, *y = *(struct lobj *const *)b;
    int c = strcmp(x->instance, y->instance);
    if (c)
        return c;
    if (x->op != y->op)
        return x->op < y->op ? -1 : 1;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->uid, y->uid);
}

/* Is x within tolerance after a slot start? Sets *slot. */
static bool slot_candidate(const struct ledger *l, const struct lobj *x, int64_t *slot)
{
    if (x->op != ACCT_OP_BACKUP || !l->o.has_schedule || x->reservation)
        return false;
    if (schedule_slot_at(&l->o.schedule, x->created, slot) != 0)
        return false;
    return x->created - *slot <= l->o.tolerance_s;
}

/* Decides `counted` for every object. In (instance, op, created, uid)
 * order: the first candidate of a slot is the scheduled backup; the first
 * object carrying a reservation id of the same instance and op is that
 * reservation's operation (already counted by the reservation). */
static int recount(struct ledger *l)
{
    if (!l->dirty)
        return 0;
    struct lobj **v = malloc((l->nobj ? l->nobj : 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < l->nobj; i++)
        v[i] = &l->objs[i];
    qsort(v, l->nobj, sizeof(*v), cmp_obj);
    for (size_t i = 0; i < l->nres; i++)
        l->res[i].consumed = false;
    const char *claim_inst = NULL;
    int64_t claim_slot = 0;
    for (size_t i = 0; i < l->nobj; i++) {
        struct lobj *x = v[i];
        int64_t slot;
        x->counted = true;
        if (x->reservation) {
            struct lres *r = find_res(l, x->instance, x->op, x->reservation);
            if (r && !r->consumed) {
                r->consumed = true;
                x->counted = false;
            }
        } else if (slot_candidate(l, x, &slot)) {
            if (!claim_inst || strcmp(claim_inst, x->instance) != 0 || claim_slot != slot) {
                claim_inst = x->instance;
                claim_slot = slot;
                x->counted = false;
            }
        }
    }
    free(v);
    l->dirty = false;
    return 0;
}

long ledger_used_on(struct ledger *l, const char *instance, enum acct_op op, int64_t day)
{
    if (recount(l))
        return -ENOMEM;
    long n = 0;
    for (size_t i = 0; i < l->nobj; i++) {
        const struct lobj *x = &l->objs[i];
        if (x->counted && x->op == op && ledger_day_of(l, x->created) == day &&
            strcmp(x->instance, instance) == 0)
            n++;
    }
    for (size_t i = 0; i < l->nres; i++) {
        const struct lres *r = &l->res[i];
        if (r->op == op && ledger_day_of(l, r->created) == day &&
            strcmp(r->instance, instance) == 0)
            n++;
    }
    return n;
}

long ledger_used(struct ledger *l, const char *instance, enum acct_op op, int64_t now)
{
    return ledger_used_on(l, instance, op, ledger_day_of(l, now));
}

long ledger_remaining(struct ledger *l, const char *instance, enum acct_op op, int64_t now)
{
    long r = l->o.limit[op] - ledger_used(l, instance, op, now);
    return r > 0 ? r : 0;
}

int ledger_reserve(struct ledger *l, const char *instance, enum acct_op op, const char *id,
                   int64_t now, struct ledger_answer *ans)
{
    if (!instance || !*instance || !id || !*id || (op != ACCT_OP_BACKUP && op != ACCT_OP_RESTORE))
        return -EINVAL;
    struct lres *old = find_res(l, instance, op, id);
    if (old) {
        *ans = old->ans;
        return 1;
    }
    long used = ledger_used(l, instance, op, now);
    if (used < 0)
        return (int)used;
    long limit = l->o.limit[op];
    ans->limit = limit;
    ans->resets_at = ledger_resets_at(l, now);
    if (used >= limit) {
        ans->used = used;
        ans->remaining = 0;
        return -EDQUOT;
    }
    if (grow((void **)&l->res, &l->capres, l->nres + 1, sizeof(*l->res)))
        return -ENOMEM;
    struct lres r = {.op = op, .created = now};
    r.id = strdup(id);
    r.instance = strdup(instance);
    if (!r.id || !r.instance) {
        lres_clear(&r);
        return -ENOMEM;
    }
    ans->used = used + 1;
    ans->remaining = limit - used - 1;
    r.ans = *ans;
    l->res[l->nres++] = r;
    l->dirty = true;
    return 0;
}

int ledger_unreserve(struct ledger *l, const char *instance, enum acct_op op, const char *id)
{
    struct lres *r = find_res(l, instance, op, id);
    if (!r)
        return -ENOENT;
    lres_clear(r);
    *r = l->res[--l->nres];
    l->dirty = true;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

long ledger_instances(const struct ledger *l, const char ***out)
{
    size_t cap = l->nobj + l->nres + l->nknown + 1, n = 0;
    const char **v = malloc(cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < l->nknown; i++)
        v[n++] = l->known[i];
    for (size_t i = 0; i < l->nobj; i++)
        v[n++] = l->objs[i].instance;
    for (size_t i = 0; i < l->nres; i++)
        v[n++] = l->res[i].instance;
    qsort(v, n, sizeof(*v), cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(v[u - 1], v[i]) != 0)
            v[u++] = v[i];
    *out = v;
    return (long)u;
}

int ledger_prune(struct ledger *l, int64_t now)
{
    int64_t oldest = oldest_kept_day(l, now);
    int changed = 0;
    for (size_t i = 0; i < l->nobj;) {
        if (ledger_day_of(l, l->objs[i].created) < oldest) {
            lobj_clear(&l->objs[i]);
            l->objs[i] = l->objs[--l->nobj];
            changed = 1;
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < l->nres;) {
        if (ledger_day_of(l, l->res[i].created) < oldest) {
            lres_clear(&l->res[i]);
            l->res[i] = l->res[--l->nres];
            changed = 1;
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < l->nwarn;) {
        if (l->warned[i].day < oldest) {
            free(l->warned[i].instance);
            l->warned[i] = l->warned[--l->nwarn];
            changed = 1;
        } else {
            i++;
        }
    }
    if (changed)
        l->dirty = true;
    return changed;
}

static bool warned(const struct ledger *l, const char *instance, enum acct_op op, int64_t day)
{
    for (size_t i = 0; i < l->nwarn; i++)
        if (l->warned[i].op == op && l->warned[i].day == day &&
            strcmp(l->warned[i].instance, instance) == 0)
            return true;
    return false;
}

static int add_warned(struct ledger *l, const char *instance, enum acct_op op, int64_t day)
{
    if (warned(l, instance, op, day))
        return 0;
    if (grow((void **)&l->warned, &l->capwarn, l->nwarn + 1, sizeof(*l->warned)))
        return -ENOMEM;
    char *s = strdup(instance);
    if (!s)
        return -ENOMEM;
    l->warned[l->nwarn++] = (struct lwarn){.instance = s, .op = op, .day = day};
    return 1;
}

static bool at_warn(const struct ledger *l, long used, enum acct_op op)
{
    long limit = l->o.limit[op];
    return limit > 0 && (double)used >= l->o.warn_ratio * (double)limit;
}

int ledger_take_warnings(struct ledger *l, int64_t now, ledger_warn_cb cb, void *data)
{
    const char **inst;
    long n = ledger_instances(l, &inst);
    if (n < 0)
        return (int)n;
    int64_t day = ledger_day_of(l, now);
    int any = 0;
    for (long i = 0; i < n; i++) {
        for (int op = 0; op < ACCT_NOPS; op++) {
            long used = ledger_used_on(l, inst[i], (enum acct_op)op, day);
            if (!at_warn(l, used, (enum acct_op)op) || warned(l, inst[i], (enum acct_op)op, day))
                continue;
            /* Copy before add_warned: inst[] borrows from l. */
            char *name = strdup(inst[i]);
            if (!name)
                continue;
            if (add_warned(l, name, (enum acct_op)op, day) > 0) {
                any = 1;
                if (cb)
                    cb(data, name, (enum acct_op)op, used, l->o.limit[op]);
            }
            free(name);
        }
    }
    free(inst);
    return any;
}

bool ledger_any_warn(struct ledger *l, int64_t now)
{
    const char **inst;
    long n = ledger_instances(l, &inst);
    if (n < 0)
        return false;
    bool any = false;
    for (long i = 0; i < n && !any; i++)
        for (int op = 0; op < ACCT_NOPS && !any; op++)
            any = at_warn(l, ledger_used(l, inst[i], (enum acct_op)op, now), (enum acct_op)op);
    free(inst);
    return any;
}

size_t ledger_object_count(const struct ledger *l) { return l->nobj; }
size_t ledger_reservation_count(const struct ledger *l) { return l->nres; }

/* ---- JSON state ---- */

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

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
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
            if (!apply || find_res(l, instance, op, id) ||
                ledger_day_of(l, created) < oldest_kept_day(l, now))
                continue;
            if (grow((void **)&l->res, &l->capres, l->nres + 1, sizeof(*l->res)))
                return -ENOMEM;
            struct lres r = {.op = op, .created = created, .ans = ans};
            r.id = strdup(id);
            r.instance = strdup(instance);
            if (!r.id || !r.instance) {
                lres_clear(&r);
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
        if (apply && json_object_get_boolean(w) && day >= oldest_kept_day(l, now)) {
            int rc = add_warned(l, instance, op, day);
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
        if (parse_day_string(dkey, &day) || !json_object_is_type(dval, json_type_object))
            return -EINVAL;
        json_object_object_foreach(dval, ikey, ival) {
            if (!*ikey || !json_object_is_type(ival, json_type_object))
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
