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

/* ---- intern table: chained, power-of-two buckets, FNV-1a ---- */

struct intern_node {
    struct intern_node *next;
    uint64_t hash;
    size_t refs;
    char s[];
};

static struct {
    struct intern_node **b;
    size_t nb;
    size_t n;
} tab;

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void tab_grow(void)
{
    size_t nb = tab.nb ? tab.nb * 2 : 64;
    struct intern_node **b = calloc(nb, sizeof(*b));
    if (!b)
        return; /* longer chains */
    for (size_t i = 0; i < tab.nb; i++) {
        struct intern_node *n = tab.b[i];
        while (n) {
            struct intern_node *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(tab.b);
    tab.b = b;
    tab.nb = nb;
}

const char *model_intern_get(const char *s)
{
    if (!s)
        return NULL;
    uint64_t h = fnv(s);
    if (tab.nb)
        for (struct intern_node *n = tab.b[h & (tab.nb - 1)]; n; n = n->next)
            if (n->hash == h && strcmp(n->s, s) == 0) {
                n->refs++;
                return n->s;
            }
    if (tab.n >= tab.nb)
        tab_grow();
    if (!tab.nb)
        return NULL;
    size_t len = strlen(s);
    struct intern_node *n = malloc(sizeof(*n) + len + 1);
    if (!n)
        return NULL;
    memcpy(n->s, s, len + 1);
    n->hash = h;
    n->refs = 1;
    n->next = tab.b[h & (tab.nb - 1)];
    tab.b[h & (tab.nb - 1)] = n;
    tab.n++;
    return n->s;
}

void model_intern_put(const char *s)
{
    if (!s)
        return;
    struct intern_node *node = (struct intern_node *)(void *)(s - offsetof(struct intern_node, s));
    if (--node->refs)
        return;
    for (struct intern_node **pp = &tab.b[node->hash & (tab.nb - 1)]; *pp; pp = &(*pp)->next)
        if (*pp == node) {
            *pp = node->next;
            break;
        }
    free(node);
    if (--tab.n == 0) { /* nothing left: no table for leak checkers to see */
        free(tab.b);
        tab.b = NULL;
        tab.nb = 0;
    }
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
 * An 8-byte header keeps the size class; blocks are kept for reuse (a
 * cluster's PV count moves slowly). AddressSanitizer builds use calloc so
 * that overflows stay visible. */

#define POOL_MAX 1024            /* larger records: calloc */
#define POOL_BLOCK (64 * 1024)
#define POOL_HDR 8

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

static void *pool_alloc(size_t size)
{
    size_t total = (size + POOL_HDR + 7) & ~(size_t)7; /* 8-aligned: no record needs more */
#ifdef POOL_OFF
    total = POOL_MAX + 16;
#endif
    char *p;
    if (total > POOL_MAX) {
        p = calloc(1, size + POOL_HDR);
        if (!p)
            return NULL;
        *(uint64_t *)(void *)p = 0;
        return p + POOL_HDR;
    }
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
    *(uint64_t *)(void *)p = c;
    return p + POOL_HDR;
}

static void pool_free(void *rec)
{
    char *p = (char *)rec - POOL_HDR;
    uint64_t c = *(uint64_t *)(void *)p;
    if (c == 0) {
        free(p);
        return;
    }
    struct pool_link *l = (struct pool_link *)(void *)p;
    l->next = pool.free[c];
    pool.free[c] = l;
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
    f->len = kind == MODEL_PACK_INTERN ? 0 : strlen(s) + 1;
    p->bytes += f->len + (kind == MODEL_PACK_RV); /* rv: room to align to 2 */
}

void model_pack_str(struct model_pack *p, size_t off, const char *s, bool empty_null)
{
    add(p, off, s, empty_null, MODEL_PACK_COPY);
}

void model_pack_intern(struct model_pack *p, size_t off, const char *s, bool empty_null)
{
    add(p, off, s, empty_null, MODEL_PACK_INTERN);
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
    model_pack_intern(p, offsetof(struct obj_meta, ns), src.ns, true);
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
    model_pack_intern(p, offsetof(struct obj_meta, ns), src.ns, true);
    return 0;
}

static char **member(void *rec, size_t off)
{
    return (char **)(void *)((char *)rec + off);
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
    for (size_t i = 0; i < p->n; i++) {
        const struct model_pack_field *f = &p->f[i];
        if (f->kind == MODEL_PACK_INTERN) {
            const char *s = model_intern_get(f->s);
            if (!s) {
                for (size_t j = 0; j < i; j++)
                    if (p->f[j].kind == MODEL_PACK_INTERN)
                        model_intern_put(*member(rec, p->f[j].off));
                pool_free(rec);
                return NULL;
            }
            *member(rec, f->off) = (char *)s;
            continue;
        }
        if (f->kind == MODEL_PACK_RV && ((uintptr_t)q & 1))
            q++; /* an even pointer tells a string from an integer */
        memcpy(q, f->s, f->len);
        if (f->kind == MODEL_PACK_UID)
            model_meta_put_uid_str(m, q);
        else if (f->kind == MODEL_PACK_RV)
            model_meta_put_rv_str(m, q);
        else
            *member(rec, f->off) = q;
        q += f->len;
    }
    return rec;
}

void model_pack_free(void *rec, const size_t *intern_offs, size_t n)
{
    if (!rec)
        return;
    for (size_t i = 0; i < n; i++)
        model_intern_put(*member(rec, intern_offs[i]));
    pool_free(rec);
}
