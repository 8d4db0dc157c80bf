/* Per-resource record store (store.h): a chained hash map keyed
 * "namespace/name", consumers notified on every change. The reflector is
 * its only writer; rules, quota and health read it through consumers. */
#include "kube/store.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *next;
    uint64_t hash;
    void *rec;
    bool seen; /* marked during store_replace_end */
};

struct map {
    struct entry **slots;
    size_t nslots; /* power of two */
    size_t count;
};

struct store {
    const struct model_type *type;
    struct map map;
    struct store_consumer *cons;
    size_t ncons;
    bool synced;
};

struct store_replace {
    struct store *s;
    struct map staged;
};

static uint64_t key_hash(const char *ns, const char *name)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = ns ? ns : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '/') * 1099511628211ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool same_key(const void *rec, const char *ns, const char *name)
{
    const struct obj_meta *m = model_meta(rec);
    return str_eq(m->ns, ns) && strcmp(m->name, name) == 0;
}

static int map_init(struct map *m)
{
    m->nslots = 64;
    m->count = 0;
    m->slots = calloc(m->nslots, sizeof(*m->slots));
    return m->slots ? 0 : -ENOMEM;
}

static struct entry **map_find(const struct map *m, const char *ns, const char *name, uint64_t h)
{
    struct entry **pp = &m->slots[h & (m->nslots - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && same_key((*pp)->rec, ns, name))
            return pp;
    return pp;
}

static void map_grow(struct map *m)
{
    size_t n = m->nslots * 2;
    struct entry **slots = calloc(n, sizeof(*slots));
    if (!slots)
        return; /* keep working with longer chains */
    for (size_t i = 0; i < m->nslots; i++) {
        struct entry *e = m->slots[i];
        while (e) {
            struct entry *next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = n;
}

/* Inserts a new entry at *pp (which map_find returned as the empty tail). */
static int map_insert(struct map *m, struct entry **pp, uint64_t h, void *rec, bool mark)
{
    struct entry *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->hash = h;
    e->rec = rec;
    e->seen = mark;
    *pp = e;
    m->count++;
    if (m->count > m->nslots)
        map_grow(m);
    return 0;
}

static void map_free(struct map *m, void (*free_rec)(void *))
{
    for (size_t i = 0; m->slots && i < m->nslots; i++) {
        struct entry *e = m->slots[i];
        while (e) {
            struct entry *next = e->next;
            if (free_rec)
                free_rec(e->rec);
            free(e);
            e = next;
        }
    }
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
    map_free(&s->map, s->type->free);
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
    uint64_t h = key_hash(m->ns, m->name);
    struct entry **pp = map_find(&s->map, m->ns, m->name, h);
    if (*pp) {
        struct entry *e = *pp;
        e->seen = mark;
        if (str_eq(model_meta(e->rec)->rv, m->rv)) {
            s->type->free(rec);
            return 0;
        }
        void *old = e->rec;
        e->rec = rec;
        emit_update(s, old, rec);
        s->type->free(old);
        return 0;
    }
    int rc = map_insert(&s->map, pp, h, rec, mark);
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
    uint64_t h = key_hash(m->ns, m->name);
    struct entry **pp = map_find(&s->map, m->ns, m->name, h);
    if (!*pp) {
        s->type->free(rec);
        return -ENOENT;
    }
    struct entry *e = *pp;
    *pp = e->next;
    s->map.count--;
    emit_delete(s, e->rec);
    s->type->free(e->rec);
    free(e);
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
    uint64_t h = key_hash(m->ns, m->name);
    struct entry **pp = map_find(&r->staged, m->ns, m->name, h);
    if (*pp) { /* duplicate key in one list: the later one wins */
        r->s->type->free((*pp)->rec);
        (*pp)->rec = rec;
        return 0;
    }
    int rc = map_insert(&r->staged, pp, h, rec, false);
    if (rc != 0)
        r->s->type->free(rec);
    return rc;
}

int store_replace_end(struct store_replace *r)
{
    struct store *s = r->s;
    int rc = 0;
    for (size_t i = 0; i < s->map.nslots; i++)
        for (struct entry *e = s->map.slots[i]; e; e = e->next)
            e->seen = false;
    /* Move staged records in (adds and updates). */
    for (size_t i = 0; i < r->staged.nslots; i++) {
        struct entry *e = r->staged.slots[i];
        while (e) {
            struct entry *next = e->next;
            int prc = put(s, e->rec, true);
            if (prc != 0 && rc == 0)
                rc = prc;
            free(e);
            e = next;
        }
        r->staged.slots[i] = NULL;
    }
    r->staged.count = 0;
    map_free(&r->staged, NULL);
    free(r);
    /* Whatever was not seen is gone: deletes. */
    for (size_t i = 0; i < s->map.nslots; i++) {
        struct entry **pp = &s->map.slots[i];
        while (*pp) {
            struct entry *e = *pp;
            if (e->seen) {
                pp = &e->next;
                continue;
            }
            *pp = e->next;
            s->map.count--;
            emit_delete(s, e->rec);
            s->type->free(e->rec);
            free(e);
        }
    }
    s->synced = true;
    for (size_t i = 0; i < s->ncons; i++)
        if (s->cons[i].on_synced)
            s->cons[i].on_synced(s->cons[i].data, s->type);
    return rc;
}

void store_replace_abort(struct store_replace *r)
{
    if (!r)
        return;
    map_free(&r->staged, r->s->type->free);
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
    struct entry **pp = map_find(&s->map, ns, name, key_hash(ns, name));
    return *pp ? (*pp)->rec : NULL;
}

void store_foreach(const struct store *s, bool (*cb)(void *data, const void *rec), void *data)
{
    for (size_t i = 0; i < s->map.nslots; i++)
        for (struct entry *e = s->map.slots[i]; e; e = e->next)
            if (!cb(data, e->rec))
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
