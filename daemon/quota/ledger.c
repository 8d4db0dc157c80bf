/* The quota ledger (ledger.h). Observations are kept as a flat set; which
 * of them count is recomputed lazily (sorted by instance, op,
 * creationTimestamp, uid) whenever the set changed, so the answer never
 * depends on the order in which a list or watch delivered objects. */
#include "quota/ledger_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

int ledger__grow(void **p, size_t *cap, size_t need, size_t elem)
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

void ledger__lres_clear(struct lres *r)
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
        ledger__lres_clear(&l->res[i]);
    for (size_t i = 0; i < l->ntomb; i++)
        ledger__lres_clear(&l->tomb[i]);
    free(l->tomb);
    for (size_t i = 0; i < l->nwarn; i++)
        free(l->warned[i].instance);
    for (size_t i = 0; i < l->nknown; i++)
        free(l->known[i]);
    free(l->objs);
    free(l->res);
    free(l->warned);
    free(l->known);
    free(l->cache);
    free(l->hidx);
    ledger__jobs_free(l);
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

int ledger__parse_day_string(const char *s, int64_t *day)
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

int64_t ledger__oldest_kept_day(const struct ledger *l, int64_t now)
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

static size_t uid_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

static void hindex_put(struct ledger *l, size_t i)
{
    size_t m = l->hcap - 1, k = uid_hash(l->objs[i].uid) & m;
    while (l->hidx[k])
        k = (k + 1) & m;
    l->hidx[k] = i + 1;
}

/* Rebuilds the UID index for nobj objects; on ENOMEM lookups fall back to
 * a linear scan (correct, only slower). */
static void hindex_rebuild(struct ledger *l)
{
    size_t cap = 64;
    while (cap < l->nobj * 2 + 2)
        cap *= 2;
    size_t *v = calloc(cap, sizeof(*v));
    free(l->hidx);
    l->hidx = v;
    l->hcap = v ? cap : 0;
    if (v)
        for (size_t i = 0; i < l->nobj; i++)
            hindex_put(l, i);
}

static struct lobj *find_obj(struct ledger *l, const char *uid)
{
    if (!l->hcap) {
        for (size_t i = 0; i < l->nobj; i++)
            if (strcmp(l->objs[i].uid, uid) == 0)
                return &l->objs[i];
        return NULL;
    }
    size_t m = l->hcap - 1, k = uid_hash(uid) & m;
    while (l->hidx[k]) {
        struct lobj *x = &l->objs[l->hidx[k] - 1];
        if (strcmp(x->uid, uid) == 0)
            return x;
        k = (k + 1) & m;
    }
    return NULL;
}

static struct lres *find_lres(struct lres *v, size_t n, const char *instance, enum acct_op op,
                              const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].op == op && strcmp(v[i].id, id) == 0 && strcmp(v[i].instance, instance) == 0)
            return &v[i];
    return NULL;
}

struct lres *ledger__find_res(struct ledger *l, const char *instance, enum acct_op op,
                             const char *id)
{
    return find_lres(l->res, l->nres, instance, op, id);
}

/* Cancelled reservations: same key, their own list. */
struct lres *ledger__find_tomb(struct ledger *l, const char *instance, enum acct_op op,
                               const char *id)
{
    return find_lres(l->tomb, l->ntomb, instance, op, id);
}

int ledger__add_tomb(struct ledger *l, const char *instance, enum acct_op op, const char *id,
                     int64_t created)
{
    struct lres *t = ledger__find_tomb(l, instance, op, id);
    if (t) {
        if (created > t->created) {
            t->created = created;
            l->dirty = true;
        }
        return 0;
    }
    if (ledger__grow((void **)&l->tomb, &l->captomb, l->ntomb + 1, sizeof(*l->tomb)))
        return -ENOMEM;
    struct lres r = {.op = op, .created = created};
    r.id = strdup(id);
    r.instance = strdup(instance);
    if (!r.id || !r.instance) {
        ledger__lres_clear(&r);
        return -ENOMEM;
    }
    l->tomb[l->ntomb++] = r;
    l->dirty = true;
    return 0;
}

static void drop_tomb(struct ledger *l, const char *instance, enum acct_op op, const char *id)
{
    struct lres *t = ledger__find_tomb(l, instance, op, id);
    if (!t)
        return;
    ledger__lres_clear(t);
    *t = l->tomb[--l->ntomb];
    l->dirty = true;
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
    if (ledger_day_of(l, created) < ledger__oldest_kept_day(l, now))
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
    if (ledger__grow((void **)&l->objs, &l->capobj, l->nobj + 1, sizeof(*l->objs)))
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
    if (l->hcap && l->nobj * 2 <= l->hcap)
        hindex_put(l, l->nobj - 1);
    else
        hindex_rebuild(l);
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
            struct lres *r = ledger__find_res(l, x->instance, x->op, x->reservation);
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
    l->cache_ok = false;
    return 0;
}

static int cmp_count(const void *a, const void *b)
{
    return strcmp(((const struct lcount *)a)->instance, ((const struct lcount *)b)->instance);
}

static int build_cache(struct ledger *l, int64_t day)
{
    struct lcount *v = malloc((l->nobj + l->nres + l->njobs + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < l->nobj; i++) {
        const struct lobj *x = &l->objs[i];
        if (x->counted && ledger_day_of(l, x->created) == day) {
            v[n] = (struct lcount){.instance = x->instance};
            v[n].c[x->op] = 1;
            v[n++].n[x->op] = l->jobs_on ? 0 : 1;
        }
    }
    if (l->jobs_on)
        ledger__jobs_match(l, day);
    for (size_t i = 0; i < l->nres; i++) {
        const struct lres *r = &l->res[i];
        if (ledger_day_of(l, r->created) == day) {
            v[n] = (struct lcount){.instance = r->instance};
            v[n].c[r->op] = 1;
            v[n++].n[r->op] = l->jobs_on && r->job_matched ? 0 : 1;
        }
    }
    for (size_t i = 0; l->jobs_on && i < l->njobs; i++) {
        const struct ljob *j = &l->jobs[i];
        if (ledger_day_of(l, j->start) == day) {
            v[n] = (struct lcount){.instance = j->instance};
            v[n++].n[j->op] = 1;
        }
    }
    qsort(v, n, sizeof(*v), cmp_count);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        if (u > 0 && strcmp(v[u - 1].instance, v[i].instance) == 0) {
            for (int op = 0; op < ACCT_NOPS; op++) {
                v[u - 1].n[op] += v[i].n[op];
                v[u - 1].c[op] += v[i].c[op];
            }
        } else {
            v[u++] = v[i];
        }
    }
    free(l->cache);
    l->cache = v;
    l->ncache = u;
    l->cache_day = day;
    l->cache_ok = true;
    return 0;
}

long ledger_used_on(struct ledger *l, const char *instance, enum acct_op op, int64_t day)
{
    if (recount(l))
        return -ENOMEM;
    if ((!l->cache_ok || l->cache_day != day) && build_cache(l, day))
        return -ENOMEM;
    struct lcount key = {.instance = instance};
    const struct lcount *c = bsearch(&key, l->cache, l->ncache, sizeof(key), cmp_count);
    return c ? c->n[op] : 0;
}

long ledger_cluster_used(struct ledger *l, const char *instance, enum acct_op op, int64_t now)
{
    int64_t day = ledger_day_of(l, now);
    if (recount(l))
        return -ENOMEM;
    if ((!l->cache_ok || l->cache_day != day) && build_cache(l, day))
        return -ENOMEM;
    struct lcount key = {.instance = instance};
    const struct lcount *c = bsearch(&key, l->cache, l->ncache, sizeof(key), cmp_count);
    return c ? c->c[op] : 0;
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
    struct lres *old = ledger__find_res(l, instance, op, id);
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
    if (ledger__grow((void **)&l->res, &l->capres, l->nres + 1, sizeof(*l->res)))
        return -ENOMEM;
    struct lres r = {.op = op, .created = now};
    r.id = strdup(id);
    r.instance = strdup(instance);
    if (!r.id || !r.instance) {
        ledger__lres_clear(&r);
        return -ENOMEM;
    }
    ans->used = used + 1;
    ans->remaining = limit - used - 1;
    r.ans = *ans;
    /* A retry of a cancelled reservation: a new one, created later than
     * the tombstone (which would otherwise cancel it again on a merge). */
    struct lres *t = ledger__find_tomb(l, instance, op, id);
    if (t && r.created <= t->created)
        r.created = t->created + 1;
    drop_tomb(l, instance, op, id);
    l->res[l->nres++] = r;
    l->dirty = true;
    return 0;
}

int ledger_cancel(struct ledger *l, const char *instance, enum acct_op op, const char *id)
{
    struct lres *r = ledger__find_res(l, instance, op, id);
    if (!r)
        return -ENOENT;
    int rc = ledger__add_tomb(l, instance, op, id, r->created);
    ledger_unreserve(l, instance, op, id);
    return rc;
}

size_t ledger_tombstone_count(const struct ledger *l) { return l->ntomb; }

int ledger_unreserve(struct ledger *l, const char *instance, enum acct_op op, const char *id)
{
    struct lres *r = ledger__find_res(l, instance, op, id);
    if (!r)
        return -ENOENT;
    ledger__lres_clear(r);
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
    size_t cap = l->nobj + l->nres + l->nknown + l->njinst + 1, n = 0;
    const char **v = malloc(cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    if (l->jobs_on) { /* the vault's instances of this cluster, and reservations */
        for (size_t i = 0; i < l->njinst; i++)
            v[n++] = l->jinst[i];
    } else {
        for (size_t i = 0; i < l->nknown; i++)
            v[n++] = l->known[i];
        for (size_t i = 0; i < l->nobj; i++)
            v[n++] = l->objs[i].instance;
    }
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
    int64_t oldest = ledger__oldest_kept_day(l, now);
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
    if (changed)
        hindex_rebuild(l);
    for (size_t i = 0; i < l->nres;) {
        if (ledger_day_of(l, l->res[i].created) < oldest) {
            ledger__lres_clear(&l->res[i]);
            l->res[i] = l->res[--l->nres];
            changed = 1;
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < l->ntomb;) {
        if (ledger_day_of(l, l->tomb[i].created) < oldest) {
            ledger__lres_clear(&l->tomb[i]);
            l->tomb[i] = l->tomb[--l->ntomb];
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

int ledger__add_warned(struct ledger *l, const char *instance, enum acct_op op, int64_t day)
{
    if (warned(l, instance, op, day))
        return 0;
    if (ledger__grow((void **)&l->warned, &l->capwarn, l->nwarn + 1, sizeof(*l->warned)))
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
            if (ledger__add_warned(l, name, (enum acct_op)op, day) > 0) {
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
