/* Chained hash map used by rules/engine.c (see strmap.h). Grows at load
 * factor 1; never shrinks (the engine's maps track cluster objects whose
 * counts stay in the same order of magnitude). */
#include "rules/strmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct strmap_node {
    struct strmap_node *next;
    uint64_t h;
    void *val;
    char key[];
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void strmap_init(struct strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void strmap_clear(struct strmap *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nb; i++) {
        struct strmap_node *n = m->b[i];
        while (n) {
            struct strmap_node *next = n->next;
            if (free_val)
                free_val(n->val);
            free(n);
            n = next;
        }
    }
    free(m->b);
    memset(m, 0, sizeof(*m));
}

static struct strmap_node *find(const struct strmap *m, const char *key, uint64_t h)
{
    if (!m->nb)
        return NULL;
    for (struct strmap_node *n = m->b[h & (m->nb - 1)]; n; n = n->next)
        if (n->h == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_node *n = find(m, key, hash(key));
    return n ? n->val : NULL;
}

bool strmap_has(const struct strmap *m, const char *key)
{
    return find(m, key, hash(key)) != NULL;
}

static int grow(struct strmap *m)
{
    size_t nb = m->nb ? m->nb * 2 : 16;
    struct strmap_node **b = calloc(nb, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < m->nb; i++) {
        struct strmap_node *n = m->b[i];
        while (n) {
            struct strmap_node *next = n->next;
            n->next = b[n->h & (nb - 1)];
            b[n->h & (nb - 1)] = n;
            n = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return 0;
}

static struct strmap_node *insert(struct strmap *m, const char *key, uint64_t h, void *val)
{
    if (m->n >= m->nb && grow(m) < 0 && m->nb == 0)
        return NULL;
    size_t len = strlen(key);
    struct strmap_node *n = malloc(sizeof(*n) + len + 1);
    if (!n)
        return NULL;
    memcpy(n->key, key, len + 1);
    n->h = h;
    n->val = val;
    n->next = m->b[h & (m->nb - 1)];
    m->b[h & (m->nb - 1)] = n;
    m->n++;
    return n;
}

int strmap_put(struct strmap *m, const char *key, void *val, void **old, const char **stored_key)
{
    uint64_t h = hash(key);
    struct strmap_node *n = find(m, key, h);
    if (old)
        *old = n ? n->val : NULL;
    if (n) {
        n->val = val;
    } else {
        n = insert(m, key, h, val);
        if (!n)
            return -ENOMEM;
    }
    if (stored_key)
        *stored_key = n->key;
    return 0;
}

bool strmap_remove(struct strmap *m, const char *key, void **val)
{
    if (!m->nb)
        return false;
    uint64_t h = hash(key);
    struct strmap_node **pp = &m->b[h & (m->nb - 1)];
    for (; *pp; pp = &(*pp)->next) {
        struct strmap_node *n = *pp;
        if (n->h == h && strcmp(n->key, key) == 0) {
            *pp = n->next;
            if (val)
                *val = n->val;
            free(n);
            m->n--;
            return true;
        }
    }
    return false;
}

void strmap_foreach(const struct strmap *m, bool (*cb)(void *data, const char *key, void *val),
                    void *data)
{
    for (size_t i = 0; i < m->nb; i++)
        for (struct strmap_node *n = m->b[i]; n; n = n->next)
            if (!cb(data, n->key, n->val))
                return;
}

const char *strmap_incr(struct strmap *m, const char *key)
{
    uint64_t h = hash(key);
    struct strmap_node *n = find(m, key, h);
    if (n) {
        n->val = (void *)((uintptr_t)n->val + 1);
        return n->key;
    }
    n = insert(m, key, h, (void *)(uintptr_t)1);
    return n ? n->key : NULL;
}

size_t strmap_decr(struct strmap *m, const char *key)
{
    struct strmap_node *n = find(m, key, hash(key));
    if (!n)
        return 0;
    uintptr_t c = (uintptr_t)n->val;
    if (c <= 1) {
        strmap_remove(m, key, NULL);
        return 0;
    }
    n->val = (void *)(c - 1);
    return c - 1;
}

size_t strmap_count_of(const struct strmap *m, const char *key)
{
    struct strmap_node *n = find(m, key, hash(key));
    return n ? (size_t)(uintptr_t)n->val : 0;
}
