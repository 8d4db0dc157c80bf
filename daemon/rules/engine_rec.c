/* Rules engine, claims and snapshots: what the engine derives from them
 * (pending and class counts, snapshot states and per-claim counts) is
 * added when a record comes in and subtracted, from the same record, when
 * it goes; the warnings walk the records themselves. Records of a store
 * the engine is attached to (engine_attach_store) stay the store's (store.h
 * Lifetime: its callbacks give the old record of an update or delete, and
 * the release hook walks it before it is freed): nothing per object here.
 * Records fed by engine_apply are copied into a dense array indexed by a
 * hash of namespace/name (struct rec_table). */
#include "rules/engine_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static uint32_t key_hash(const char *ns, const char *name)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a of "ns/name", folded */
    for (const char *p = ns ? ns : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '/') * 1099511628211ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (uint32_t)(h ^ (h >> 32));
}

static bool same_key(const struct obj_meta *m, const char *ns, const char *name)
{
    return strcmp(model_meta_ns(m) ? model_meta_ns(m) : "", ns ? ns : "") == 0 && strcmp(m->name, name) == 0;
}

/* Slot index of ns/name, or RECTAB_NONE; *pos gets its index position, or
 * the empty position where it would go. */
static size_t find(const struct rec_table *t, const char *ns, const char *name, uint32_t h, size_t *pos)
{
    if (!t->nidx)
        return RECTAB_NONE;
    size_t mask = t->nidx - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t k = t->idx[i];
        *pos = i;
        if (!k)
            return RECTAB_NONE;
        const struct rec_slot *s = &t->v[k - 1];
        if (s->hash == h && same_key(model_meta(s->rec), ns, name))
            return k - 1;
    }
}

static void idx_fill(struct rec_table *t)
{
    size_t mask = t->nidx - 1;
    memset(t->idx, 0, t->nidx * sizeof(*t->idx));
    for (size_t k = 0; k < t->n; k++) {
        size_t i = t->v[k].hash & mask;
        while (t->idx[i])
            i = (i + 1) & mask;
        t->idx[i] = (uint32_t)(k + 1);
    }
}

/* Room for one more entry (index load <= 3/4). 0 / -ENOMEM. */
static int reserve(struct rec_table *t)
{
    if ((t->n + 1) * 4 > t->nidx * 3) {
        size_t nn = t->nidx ? t->nidx * 2 : 64;
        uint32_t *ni = malloc(nn * sizeof(*ni));
        if (!ni)
            return -ENOMEM;
        free(t->idx);
        t->idx = ni;
        t->nidx = nn;
        idx_fill(t);
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap + t->cap / 2 : 64;
        struct rec_slot *nv = realloc(t->v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        t->v = nv;
        t->cap = nc;
    }
    return 0;
}

/* Removes slot k found at index position pos: backward-shift deletion in
 * the index, then the last slot moves into k. */
static void remove_at(struct rec_table *t, size_t pos, size_t k)
{
    size_t mask = t->nidx - 1;
    size_t i = pos;
    for (size_t j = (i + 1) & mask; t->idx[j]; j = (j + 1) & mask) {
        size_t home = t->v[t->idx[j] - 1].hash & mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->idx[i] = t->idx[j];
            i = j;
        }
    }
    t->idx[i] = 0;
    size_t last = t->n - 1;
    if (k != last) {
        size_t p = t->v[last].hash & mask;
        while (t->idx[p] != last + 1)
            p = (p + 1) & mask;
        t->idx[p] = (uint32_t)(k + 1);
        t->v[k] = t->v[last];
    }
    t->n--;
}

/* Takes the slot's record out of the counts and frees it (owned). */
static void slot_drop(struct engine *e, const struct rec_ops *ops, struct rec_slot *s)
{
    ops->count(e, s->rec, -1);
    ops->type->free((void *)s->rec);
}

void engine__rec_apply(struct engine *e, const struct rec_ops *ops, const void *old, const void *rec,
                       uint16_t src)
{
    if (src) { /* the store's records: it keeps them by key */
        if (old)
            ops->count(e, old, -1);
        if (rec)
            ops->count(e, rec, 1);
        if (ops->done)
            ops->done(e);
        return;
    }
    struct rec_table *t = ops->table(e);
    const struct obj_meta *m = model_meta(rec ? rec : old);
    uint32_t h = key_hash(model_meta_ns(m), m->name);
    size_t pos = 0;
    size_t k = find(t, model_meta_ns(m), m->name, h, &pos);
    if (k != RECTAB_NONE) {
        slot_drop(e, ops, &t->v[k]);
        remove_at(t, pos, k);
    }
    const void *keep = rec ? ops->clone(rec) : NULL;
    /* out of memory: the object is dropped rather than left stale */
    if (keep && reserve(t) != 0) {
        ops->type->free((void *)keep);
        keep = NULL;
    }
    if (keep) {
        ops->count(e, keep, 1);
        find(t, model_meta_ns(m), m->name, h, &pos); /* the index may have grown */
        t->v[t->n] = (struct rec_slot){.rec = keep, .hash = h};
        t->idx[pos] = (uint32_t)(t->n + 1);
        t->n++;
    }
    if (ops->done)
        ops->done(e);
}

struct walk {
    struct engine *e;
    const struct rec_ops *ops;
    void (*cb)(void *data, const void *rec);
    void *data;
};

static bool uncount_cb(void *data, const void *rec)
{
    struct walk *w = data;
    w->ops->count(w->e, rec, -1);
    return true;
}

void engine__rec_release(struct engine *e, const struct rec_ops *ops, const struct store *s)
{
    struct walk w = {e, ops, NULL, NULL};
    store_foreach(s, uncount_cb, &w);
    if (ops->done)
        ops->done(e);
}

static bool walk_cb(void *data, const void *rec)
{
    struct walk *w = data;
    w->cb(w->data, rec);
    return true;
}

void engine__rec_foreach(const struct engine *e, const struct rec_ops *ops,
                         void (*cb)(void *data, const void *rec), void *data)
{
    const struct rec_table *t = ops->table((struct engine *)e);
    for (size_t k = 0; k < t->n; k++)
        cb(data, t->v[k].rec);
    struct walk w = {(struct engine *)e, ops, cb, data};
    for (const struct engine_attach *a = e->attached; a; a = a->next)
        if (a->store && strcmp(store_type(a->store)->resource, ops->type->resource) == 0)
            store_foreach(a->store, walk_cb, &w);
}

void engine__rec_free(struct engine *e, const struct rec_ops *ops)
{
    struct rec_table *t = ops->table(e);
    for (size_t k = 0; k < t->n; k++)
        slot_drop(e, ops, &t->v[k]);
    free(t->v);
    free(t->idx);
    memset(t, 0, sizeof(*t));
}
