/* String-keyed hash map (chained, power-of-two buckets, FNV-1a) for the
 * rules engine's per-object state, plus a reference-counted variant used
 * for interning and per-key counts. Keys are copied and owned by the map;
 * values are opaque. Not thread-safe. */
#ifndef ABC_RULES_STRMAP_H
#define ABC_RULES_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_node;

struct strmap {
    struct strmap_node **b;
    size_t nb; /* bucket count, 0 or a power of two */
    size_t n;  /* entries */
};

void strmap_init(struct strmap *m);
/* Frees every node; free_val (may be NULL) is called on each value. */
void strmap_clear(struct strmap *m, void (*free_val)(void *));

/* Value of key, or NULL (values may themselves be NULL: use strmap_has). */
void *strmap_get(const struct strmap *m, const char *key);
bool strmap_has(const struct strmap *m, const char *key);
/* Inserts or replaces. *old (may be NULL) gets the replaced value (or
 * NULL); *stored_key (may be NULL) the map's copy of key, valid until the
 * entry is removed. 0 or -ENOMEM. */
int strmap_put(struct strmap *m, const char *key, void *val, void **old,
               const char **stored_key);
/* Removes key; returns whether it was there and its value in *val. */
bool strmap_remove(struct strmap *m, const char *key, void **val);
/* Iteration in bucket order; cb returns false to stop. Do not modify m. */
void strmap_foreach(const struct strmap *m, bool (*cb)(void *data, const char *key, void *val),
                    void *data);

/* Counted keys (value = count): intern/refcount. strmap_incr returns the
 * map's copy of key (stable until the count drops to 0) or NULL on ENOMEM;
 * strmap_decr removes the key at 0 and returns the new count. */
const char *strmap_incr(struct strmap *m, const char *key);
size_t strmap_decr(struct strmap *m, const char *key);
size_t strmap_count_of(const struct strmap *m, const char *key);

#endif
