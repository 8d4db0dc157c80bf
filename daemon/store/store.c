/* Per-resource record store (store.h): an open-addressing hash map keyed
 * "namespace/name", consumers notified on every change. The reflector is
 * its only writer; rules, quota and health read it through consumers. */
#include "store/store.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Open addressing with linear probing: one 12-byte slot per record (packed:
 * a pointer, 31 bits of hash and the seen mark) and no allocation per
 * record (a chained entry cost 48 bytes with malloc's header). Load <= 7/8
 * (the stored hash keeps long probes cheap: five slots per cache line,
 * names compared only on a hash match); deletion shifts the cluster back
 * (no tombstones). */
struct __attribute__((packed)) slot {
    void *rec;         /* NULL = empty */
    uint32_t hash : 31; /* key_hash */
    uint32_t seen : 1;  /* marked during store_replace_end */
};
_Static_assert(sizeof(struct slot) == 12, "a store slot is 12 bytes");

struct map {
    struct slot *slots;
    size_t nslots; /* power of two */
    size_t count;
};

/* Records in a relist from which store_replace_end returns free heap pages. */
#define STORE_TRIM_AFTER 4096

struct release_hook {
    void (*cb)(void *data, const struct model_type *t);
    void *data;
};

struct store {
    const struct model_type *type;
    struct map map;
    struct store_consumer *cons;
    size_t ncons;
    struct release_hook *rel;
    size_t nrel;
    bool synced;
};

/* The staged records also in list order (order[i], NULL for a duplicate
 * replaced later): store_replace_end applies them in that order, so the
 * consumers (the engine's PV array, hence /metrics) walk them in the order
 * they were allocated, not in hash order. */
struct store_replace {
    struct store *s;
    struct map staged;
    void **order;
    size_t n, cap;
};

static uint32_t key_hash(const char *ns, const char *name)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, folded */
    for (const char *p = ns ? ns : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '/') * 1099511628211ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (uint32_t)(h ^ (h >> 32)) & 0x7fffffffu; /* 31 bits: struct slot */
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool same_key(const void *rec, const char *ns, const char *name)
{
    const struct obj_meta *m = model_meta(rec);
    return str_eq(model_meta_ns(m), ns) && strcmp(m->name, name) == 0;
}

static int map_init(struct map *m)
{
    m->nslots = 64;
    m->count = 0;
    m->slots = calloc(m->nslots, sizeof(*m->slots));
    return m->slots ? 0 : -ENOMEM;
}

/* Position of the key, or of the empty slot where it would go. */
static size_t map_find(const struct map *m, const char *ns, const char *name, uint32_t h)
{
    size_t mask = m->nslots - 1;
    size_t i = h & mask;
    while (m->slots[i].rec && !(m->slots[i].hash == h && same_key(m->slots[i].rec, ns, name)))
        i = (i + 1) & mask;
    return i;
}

static size_t map_empty_for(const struct map *m, uint32_t h)
{
    size_t mask = m->nslots - 1;
    size_t i = h & mask;
    while (m->slots[i].rec)
        i = (i + 1) & mask;
    return i;
}

/* Doubles the table. 0 / -ENOMEM (the table is unchanged). */
static int map_grow(struct map *m)
{
    struct map n = {.nslots = m->nslots * 2, .count = m->count};
    n.slots = calloc(n.nslots, sizeof(*n.slots));
    if (!n.slots)
        return -ENOMEM;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i].rec)
            n.slots[map_empty_for(&n, m->slots[i].hash)] = m->slots[i];
    free(m->slots);
    *m = n;
    return 0;
}

/* Inserts rec (whose key is absent). 0 / -ENOMEM. */
static int map_insert(struct map *m, uint32_t h, void *rec, bool mark)
{
    if ((m->count + 1) * 8 > m->nslots * 7 && map_grow(m) != 0)
        return -ENOMEM;
    m->slots[map_empty_for(m, h)] = (struct slot){.rec = rec, .hash = h, .seen = mark};
    m->count++;
    return 0;
}

/* Empties slot i, shifting later members of its cluster back. */
static void map_remove_at(struct map *m, size_t i)
{
    size_t mask = m->nslots - 1;
    for (size_t j = (i + 1) & mask; m->slots[j].rec; j = (j + 1) & mask) {
        size_t home = m->slots[j].hash & mask;
        /* j's record may fill the hole unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i] = (struct slot){0};
    m->count--;
}

static void map_free(struct map *m, void (*free_rec)(void *))
{
    for (size_t i = 0; m->slots && i < m->nslots; i++)
        if (m->slots[i].rec && free_rec)
            free_rec(m->slots[i].rec);
    free(m->slots);
    m->slots = NULL;
    m->count = 0;
}

struct store *store_new(const struct model_type *t)
{
    struct store *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->type = t;
    if (map_init(&s->map) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

void store_free(struct store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nrel; i++)
        s->rel[i].cb(s->rel[i].data, s->type);
    map_free(&s->map, s->type->free);
    free(s->rel);
    free(s->cons);
    free(s);
}

int store_add_consumer(struct store *s, const struct store_consumer *c)
{
    struct store_consumer *p = realloc(s->cons, (s->ncons + 1) * sizeof(*p));
    if (!p)
        return -ENOMEM;
    s->cons = p;
    s->cons[s->ncons++] = *c;
    return 0;
}

int store_add_release_hook(struct store *s, void (*cb)(void *data, const struct model_type *t),
                           void *data)
{
    struct release_hook *p = realloc(s->rel, (s->nrel + 1) * sizeof(*p));
    if (!p)
        return -ENOMEM;
    s->rel = p;
    s->rel[s->nrel++] = (struct release_hook){cb, data};
    return 0;
}

void store_remove_release_hook(struct store *s, void (*cb)(void *data, const struct model_type *t),
                               void *data)
{
    for (size_t i = 0; i < s->nrel; i++) {
        if (s->rel[i].cb == cb && s->rel[i].data == data) {
            memmove(&s->rel[i], &s->rel[i + 1], (s->nrel - i - 1) * sizeof(*s->rel));
            s->nrel--;
            return;
        }
    }
}

static void emit_add(struct store *s, const void *rec)
{
    for (size_t i = 0; i < s->ncons; i++)
        if (s->cons[i].on_add)
            s->cons[i].on_add(s->cons[i].data, s->type, rec);
}

static void emit_update(struct store *s, const void *old_rec, const void *new_rec)
{
    for (size_t i = 0; i < s->ncons; i++)
        if (s->cons[i].on_update)
            s->cons[i].on_update(s->cons[i].data, s->type, old_rec, new_rec);
}

static void emit_delete(struct store *s, const void *rec)
{
    for (size_t i = 0; i < s->ncons; i++)
        if (s->cons[i].on_delete)
            s->cons[i].on_delete(s->cons[i].data, s->type, rec);
}

/* Puts rec in the store (ownership taken); emits add or update. */
static int put(struct store *s, void *rec, bool mark)
{
    const struct obj_meta *m = model_meta(rec);
    uint32_t h = key_hash(model_meta_ns(m), m->name);
    size_t i = map_find(&s->map, model_meta_ns(m), m->name, h);
    struct slot *e = &s->map.slots[i];
    if (e->rec) {
        e->seen = mark;
        if (model_meta_rv_eq(model_meta(e->rec), m)) {
            s->type->free(rec);
            return 0;
        }
        void *old = e->rec;
        e->rec = rec;
        emit_update(s, old, rec);
        s->type->free(old);
        return 0;
    }
    int rc = map_insert(&s->map, h, rec, mark);
    if (rc != 0) {
        s->type->free(rec);
        return rc;
    }
    emit_add(s, rec);
    return 0;
}

int store_upsert(struct store *s, void *rec)
{
    return put(s, rec, false);
}

int store_delete(struct store *s, void *rec)
{
    const struct obj_meta *m = model_meta(rec);
    size_t i = map_find(&s->map, model_meta_ns(m), m->name, key_hash(model_meta_ns(m), m->name));
    void *cur = s->map.slots[i].rec;
    if (!cur) {
        s->type->free(rec);
        return -ENOENT;
    }
    map_remove_at(&s->map, i);
    emit_delete(s, cur);
    s->type->free(cur);
    s->type->free(rec);
    return 0;
}

struct store_replace *store_replace_begin(struct store *s)
{
    struct store_replace *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->s = s;
    if (map_init(&r->staged) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

int store_replace_add(struct store_replace *r, void *rec)
{
    const struct obj_meta *m = model_meta(rec);
    uint32_t h = key_hash(model_meta_ns(m), m->name);
    size_t i = map_find(&r->staged, model_meta_ns(m), m->name, h);
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 512;
        void **no = realloc(r->order, nc * sizeof(*no));
        if (!no) {
            r->s->type->free(rec);
            return -ENOMEM;
        }
        r->order = no;
        r->cap = nc;
    }
    if (r->staged.slots[i].rec) { /* duplicate key in one list: the later one wins */
        void *old = r->staged.slots[i].rec;
        for (size_t k = r->n; k-- > 0;)
            if (r->order[k] == old) {
                r->order[k] = NULL;
                break;
            }
        r->s->type->free(old);
        r->staged.slots[i].rec = rec;
        r->order[r->n++] = rec;
        return 0;
    }
    int rc = map_insert(&r->staged, h, rec, false);
    if (rc != 0) {
        r->s->type->free(rec);
        return rc;
    }
    r->order[r->n++] = rec;
    return 0;
}

int store_replace_end(struct store_replace *r)
{
    struct store *s = r->s;
    int rc = 0;
    for (size_t i = 0; i < s->map.nslots; i++)
        s->map.slots[i].seen = false;
    /* Move staged records in (adds and updates), in list order. */
    for (size_t k = 0; k < r->n; k++) {
        if (!r->order[k])
            continue;
        int prc = put(s, r->order[k], true);
        if (prc != 0 && rc == 0)
            rc = prc;
    }
    map_free(&r->staged, NULL);
    free(r->order);
    free(r);
    /* Whatever was not seen is gone: deletes. A removal shifts a later
     * record into slot i (examined again); one shifted across the end of
     * the table was examined already. */
    for (size_t i = 0; i < s->map.nslots;) {
        struct slot *e = &s->map.slots[i];
        if (!e->rec || e->seen) {
            i++;
            continue;
        }
        void *gone = e->rec;
        map_remove_at(&s->map, i);
        emit_delete(s, gone);
        s->type->free(gone);
    }
    s->synced = true;
    for (size_t i = 0; i < s->ncons; i++)
        if (s->cons[i].on_synced)
            s->cons[i].on_synced(s->cons[i].data, s->type);
#ifdef __GLIBC__
    /* A large relist leaves the freed list pages and staging tables as
     * holes between the records kept: hand those pages back (a few ms). */
    if (s->map.count >= STORE_TRIM_AFTER)
        malloc_trim(0);
#endif
    return rc;
}

void store_replace_abort(struct store_replace *r)
{
    if (!r)
        return;
    map_free(&r->staged, r->s->type->free);
    free(r->order);
    free(r);
}

size_t store_count(const struct store *s)
{
    return s->map.count;
}

const void *store_get(const struct store *s, const char *ns, const char *name)
{
    if (!name)
        return NULL;
    return s->map.slots[map_find(&s->map, ns, name, key_hash(ns, name))].rec;
}

void store_foreach(const struct store *s, bool (*cb)(void *data, const void *rec), void *data)
{
    for (size_t i = 0; i < s->map.nslots; i++)
        if (s->map.slots[i].rec && !cb(data, s->map.slots[i].rec))
            return;
}

bool store_synced(const struct store *s)
{
    return s->synced;
}

const struct model_type *store_type(const struct store *s)
{
    return s->type;
}
