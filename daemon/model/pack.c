/* One-allocation records and the string intern table (pack.h). A PV
 * record used to be a dozen small mallocs (~450 bytes with malloc's
 * headers); packed, it is one block of its struct (uid and
 * resourceVersion compact inside it) plus name and claim name, the rest
 * pointing at shared strings. */
#include "model/pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "model/fields.h"
#include "model/model.h"

/* ---- intern table ----
 * Strings by 32-bit id (0 = none): records keep 4-byte ids instead of
 * 8-byte pointers and read them through model_intern_str. Ids index
 * model_intern_strs (the strings) and ents (refcount, hash); freed ids are
 * reused (a free list through refs). Lookup: open addressing over ids,
 * FNV-1a, load <= 1/2, backward-shift deletion. */

struct intern_ent {
    uint32_t refs;  /* 0: free, and refs of a free id is the next free id */
    uint32_t hash;
};

const char *const *model_intern_strs;

static struct {
    char **strs;              /* strs[0] = NULL */
    struct intern_ent *ents;
    uint32_t hiwater, cap;    /* ids 1..hiwater-1 used or free */
    uint32_t free_head;       /* 0: none */
    uint32_t *idx;            /* ids; 0 = empty */
    size_t nidx;              /* 0 or a power of two */
    size_t n;                 /* live strings */
} tab;

static uint32_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (uint32_t)(h ^ (h >> 32));
}

/* Index position of s (hash h), or of the empty position for it. */
static size_t idx_find(const char *s, uint32_t h)
{
    size_t mask = tab.nidx - 1;
    size_t i = h & mask;
    for (; tab.idx[i]; i = (i + 1) & mask) {
        uint32_t id = tab.idx[i];
        if (tab.ents[id].hash == h && strcmp(tab.strs[id], s) == 0)
            break;
    }
    return i;
}

static int idx_grow(void)
{
    size_t nn = tab.nidx ? tab.nidx * 2 : 64;
    uint32_t *ni = calloc(nn, sizeof(*ni));
    if (!ni)
        return -ENOMEM;
    for (size_t i = 0; i < tab.nidx; i++) {
        uint32_t id = tab.idx[i];
        if (!id)
            continue;
        size_t j = tab.ents[id].hash & (nn - 1);
        while (ni[j])
            j = (j + 1) & (nn - 1);
        ni[j] = id;
    }
    free(tab.idx);
    tab.idx = ni;
    tab.nidx = nn;
    return 0;
}

static void tab_release(void)
{
    free(tab.strs);
    free(tab.ents);
    free(tab.idx);
    memset(&tab, 0, sizeof(tab));
    model_intern_strs = NULL;
}

/* A new id (strs/ents grown as needed); 0 on ENOMEM. */
static uint32_t id_new(void)
{
    if (tab.free_head) {
        uint32_t id = tab.free_head;
        tab.free_head = tab.ents[id].refs;
        return id;
    }
    if (tab.hiwater == UINT32_MAX)
        return 0;
    if (tab.hiwater == 0)
        tab.hiwater = 1; /* id 0 is "none" */
    if (tab.hiwater >= tab.cap) {
        uint32_t nc = tab.cap ? (tab.cap > UINT32_MAX / 2 ? UINT32_MAX : tab.cap * 2) : 16;
        char **ns = realloc(tab.strs, nc * sizeof(*ns));
        if (!ns)
            return 0;
        tab.strs = ns;
        model_intern_strs = (const char *const *)ns;
        struct intern_ent *ne = realloc(tab.ents, nc * sizeof(*ne));
        if (!ne)
            return 0;
        tab.ents = ne;
        tab.strs[0] = NULL;
        tab.cap = nc;
    }
    return tab.hiwater++;
}

uint32_t model_intern_id(const char *s)
{
    if (!s)
        return 0;
    uint32_t h = fnv(s);
    if (tab.nidx) {
        size_t i = idx_find(s, h);
        if (tab.idx[i]) {
            tab.ents[tab.idx[i]].refs++;
            return tab.idx[i];
        }
    }
    if ((tab.n + 1) * 2 > tab.nidx && idx_grow() != 0)
        return 0;
    char *c = strdup(s);
    uint32_t id = c ? id_new() : 0;
    if (!id) {
        free(c);
        if (!tab.n)
            tab_release();
        return 0;
    }
    tab.strs[id] = c;
    tab.ents[id] = (struct intern_ent){.refs = 1, .hash = h};
    tab.idx[idx_find(s, h)] = id;
    tab.n++;
    return id;
}

void model_intern_put_id(uint32_t id)
{
    if (!id || --tab.ents[id].refs)
        return;
    size_t mask = tab.nidx - 1;
    size_t i = tab.ents[id].hash & mask;
    while (tab.idx[i] != id)
        i = (i + 1) & mask;
    for (size_t j = (i + 1) & mask; tab.idx[j]; j = (j + 1) & mask) {
        size_t home = tab.ents[tab.idx[j]].hash & mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            tab.idx[i] = tab.idx[j];
            i = j;
        }
    }
    tab.idx[i] = 0;
    free(tab.strs[id]);
    tab.strs[id] = NULL;
    tab.ents[id].refs = tab.free_head;
    tab.free_head = id;
    if (--tab.n == 0) /* nothing left: no table for leak checkers to see */
        tab_release();
}

const char *model_intern_get(const char *s)
{
    return model_intern_str(model_intern_id(s));
}

void model_intern_put(const char *s)
{
    if (!s || !tab.nidx)
        return;
    uint32_t id = tab.idx[idx_find(s, fnv(s))];
    model_intern_put_id(id);
}

size_t model_intern_count(void)
{
    return tab.n;
}

/* ---- record pool ----
 * Records come from 64 KiB blocks, with a free list per 8-byte size class,
 * not from malloc: a sync frees each list page's DOM (~100k small chunks)
 * between the records it keeps, and records of ~200 bytes taken from
 * glibc's bins in between made json-c's next DOM 3x more expensive to
 * allocate (_int_malloc, malloc_consolidate: +50% CPU for a 200k-PV sync).
 * No header: a record is freed with the size it was allocated with, which
 * its type computes again from its strings (model_pack_free). Blocks are
 * kept for reuse (a cluster's PV count moves slowly). AddressSanitizer
 * builds use calloc so that overflows stay visible. */

#define POOL_MAX 1024            /* larger records: calloc */
#define POOL_BLOCK (64 * 1024)

struct pool_link {
    struct pool_link *next;
};

static struct {
    struct pool_link *free[POOL_MAX / 8 + 1];
    struct pool_link *blocks; /* every block, first 16 bytes: the link */
    char *bump;
    size_t left;
} pool;

#if defined(__SANITIZE_ADDRESS__)
#define POOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_OFF 1
#endif
#endif

/* The bytes a record of size bytes takes in the pool; 0: calloc'd. */
static size_t pool_class_bytes(size_t size)
{
    size_t total = (size + 7) & ~(size_t)7; /* 8-aligned: no record needs more */
#ifdef POOL_OFF
    total = 0;
#endif
    return total > POOL_MAX ? 0 : total;
}

static void *pool_alloc(size_t size)
{
    size_t total = pool_class_bytes(size);
    if (!total)
        return calloc(1, size);
    char *p;
    size_t c = total / 8;
    if (pool.free[c]) {
        p = (char *)pool.free[c];
        pool.free[c] = pool.free[c]->next;
    } else {
        if (pool.left < total) {
            char *b = malloc(POOL_BLOCK);
            if (!b)
                return NULL;
            ((struct pool_link *)(void *)b)->next = pool.blocks;
            pool.blocks = (struct pool_link *)(void *)b;
            pool.bump = b + 16;
            pool.left = POOL_BLOCK - 16;
        }
        p = pool.bump;
        pool.bump += total;
        pool.left -= total;
    }
    memset(p, 0, total);
    return p;
}

/* rec was pool_alloc(size). */
static void pool_free(void *rec, size_t size)
{
    size_t total = pool_class_bytes(size);
    if (!total) {
        free(rec);
        return;
    }
    struct pool_link *l = rec;
    l->next = pool.free[total / 8];
    pool.free[total / 8] = l;
}

/* ---- packed records ---- */

void model_pack_init(struct model_pack *p, size_t size)
{
    memset(p, 0, sizeof(*p));
    p->size = size;
    p->rv = 1; /* the integer 0 until set */
}

static void add(struct model_pack *p, size_t off, const char *s, bool empty_null,
                enum model_pack_kind kind)
{
    if (!s || (empty_null && !*s) || p->n >= MODEL_PACK_MAX)
        return;
    struct model_pack_field *f = &p->f[p->n++];
    f->off = off;
    f->s = s;
    f->kind = kind;
    f->len = kind == MODEL_PACK_INTERN || kind == MODEL_PACK_NS ? 0 : strlen(s) + 1;
    p->bytes += f->len + (kind == MODEL_PACK_RV); /* rv: room to align to 2 */
}

void model_pack_str(struct model_pack *p, size_t off, const char *s, bool empty_null)
{
    add(p, off, s, empty_null, MODEL_PACK_COPY);
}

bool model_pack_tail(struct model_pack *p, const char *s, bool empty_null)
{
    size_t n = p->n;
    add(p, 0, s, empty_null, MODEL_PACK_TAIL);
    return p->n > n;
}

void model_pack_intern(struct model_pack *p, size_t off, const char *s, bool empty_null)
{
    add(p, off, s, empty_null, MODEL_PACK_INTERN);
}

void model_pack_ns(struct model_pack *p, const char *s)
{
    add(p, 0, s, true, MODEL_PACK_NS);
}

void model_pack_uid(struct model_pack *p, const char *s)
{
    if (model_uid_parse(s, p->uid) != 0)
        add(p, 0, s, false, MODEL_PACK_UID);
}

void model_pack_rv(struct model_pack *p, const char *s)
{
    if (model_rv_parse(s, &p->rv) != 0)
        add(p, 0, s, false, MODEL_PACK_RV);
}

int model_pack_meta(struct model_pack *p, struct json_object *obj, int64_t *created)
{
    struct model_meta_src src;
    int rc = model_meta_read(obj, &src);
    *created = src.created;
    if (rc)
        return rc;
    model_pack_str(p, offsetof(struct obj_meta, name), src.name, false);
    model_pack_uid(p, src.uid);
    model_pack_rv(p, src.rv);
    model_pack_ns(p, src.ns);
    return 0;
}

int model_pack_meta_view(struct model_pack *p, const struct model_view *v, int64_t *created)
{
    struct model_meta_src src;
    int rc = model_meta_read_view(v, &src);
    *created = src.created;
    if (rc)
        return rc;
    model_pack_str(p, offsetof(struct obj_meta, name), src.name, false);
    model_pack_uid(p, src.uid);
    model_pack_rv(p, src.rv);
    model_pack_ns(p, src.ns);
    return 0;
}

static char **member(void *rec, size_t off)
{
    return (char **)(void *)((char *)rec + off);
}

static uint32_t *id_member(void *rec, size_t off)
{
    return (uint32_t *)(void *)((char *)rec + off);
}

/* Releases the ids the first n fields took. */
static void drop_ids(void *rec, const struct model_pack *p, size_t n)
{
    for (size_t j = 0; j < n; j++)
        if (p->f[j].kind == MODEL_PACK_INTERN)
            model_intern_put_id(*id_member(rec, p->f[j].off));
    model_intern_put_id((uint32_t)((struct obj_meta *)rec)->ns_id);
}

void *model_pack_alloc(const struct model_pack *p)
{
    char *rec = pool_alloc(p->size + p->bytes);
    if (!rec)
        return NULL;
    struct obj_meta *m = (struct obj_meta *)(void *)rec;
    memcpy(m->uid, p->uid, sizeof(m->uid));
    m->rv = p->rv;
    char *q = rec + p->size;
    /* pass 0: the name and the tail strings, in order; pass 1: the uid and
     * resourceVersion strings */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < p->n; i++) {
            const struct model_pack_field *f = &p->f[i];
            bool late = f->kind == MODEL_PACK_UID || f->kind == MODEL_PACK_RV;
            if (f->kind == MODEL_PACK_INTERN || f->kind == MODEL_PACK_NS) {
                if (pass)
                    continue;
                uint32_t id = model_intern_id(f->s);
                if (!id || (f->kind == MODEL_PACK_NS && id > MODEL_NS_ID_MAX)) {
                    model_intern_put_id(id);
                    drop_ids(rec, p, i);
                    pool_free(rec, p->size + p->bytes);
                    return NULL;
                }
                if (f->kind == MODEL_PACK_NS)
                    m->ns_id = id;
                else
                    *id_member(rec, f->off) = id;
                continue;
            }
            if (late != (pass == 1))
                continue;
            if (f->kind == MODEL_PACK_RV && ((uintptr_t)q & 1))
                q++; /* an even pointer tells a string from an integer */
            memcpy(q, f->s, f->len);
            if (f->kind == MODEL_PACK_UID)
                model_meta_put_uid_str(m, q);
            else if (f->kind == MODEL_PACK_RV)
                model_meta_put_rv_str(m, q);
            else if (f->kind == MODEL_PACK_COPY)
                *member(rec, f->off) = q;
            q += f->len;
        }
    }
    return rec;
}

/* The size model_pack_alloc gave rec: its struct and the strings behind
 * it (each with its NUL; a resourceVersion string one more, the room to
 * align it). */
static size_t packed_size(const void *rec, const struct model_pack_layout *l)
{
    const struct obj_meta *m = rec;
    const char *end = model_tail(m->name, 1 + (l->tails ? l->tails(rec) : 0));
    size_t n = l->size + (size_t)(end - m->name);
    const char *u = model_meta_uid_str(m), *r = model_meta_rv_str(m);
    if (u)
        n += strlen(u) + 1;
    if (r)
        n += strlen(r) + 2;
    return n;
}

void model_pack_free(void *rec, const struct model_pack_layout *l)
{
    if (!rec)
        return;
    size_t size = packed_size(rec, l);
    for (size_t i = 0; i < l->ninterned; i++)
        model_intern_put_id(*id_member(rec, l->interned[i]));
    model_intern_put_id((uint32_t)((struct obj_meta *)rec)->ns_id);
    pool_free(rec, size);
}
