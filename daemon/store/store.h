/* Records of one resource, keyed by namespace/name (as client-go's
 * MetaNamespaceKeyFunc). The store owns its records; consumers get const
 * pointers and copy what they keep, unless they follow the lifetime below.
 * Lifetime: a record passed to on_add, or as new_rec to on_update, stays
 * valid and unchanged until it is passed as old_rec to on_update or to
 * on_delete (and that call returns), or until the store's release hooks
 * run (store_free): a consumer that also registers a release hook may index
 * such records instead of copying them (the rules engine's PVs; it also
 * writes pv_rec.engine_pos, a member only it reads). No I/O:
 * store_replace diffs a relist into adds/updates/deletes so a delete missed
 * while disconnected is still delivered. Pure: store/ includes only model/
 * and util/; the reflector (kube/) writes it, rules/ and quota/ read it. */
#ifndef ABC_STORE_STORE_H
#define ABC_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"

struct store;

/* Consumer interface (client-go ResourceEventHandler). Any member may be
 * NULL. Records are borrowed for the call only. */
struct store_consumer {
    void (*on_add)(void *data, const struct model_type *t, const void *rec);
    void (*on_update)(void *data, const struct model_type *t, const void *old_rec,
                      const void *new_rec);
    void (*on_delete)(void *data, const struct model_type *t, const void *rec);
    /* After the first complete list (and after every relist) was applied. */
    void (*on_synced)(void *data, const struct model_type *t);
    void *data;
};

struct store *store_new(const struct model_type *t);
void store_free(struct store *s);
/* Consumers are called in registration order. 0 / -ENOMEM. */
int store_add_consumer(struct store *s, const struct store_consumer *c);
/* cb runs first thing in store_free, before the records are freed (no
 * on_delete is sent then): drop every record kept under Lifetime above.
 * 0 / -ENOMEM. */
int store_add_release_hook(struct store *s, void (*cb)(void *data, const struct model_type *t),
                           void *data);
/* Unregisters a hook added with the same cb and data (no-op if absent). */
void store_remove_release_hook(struct store *s, void (*cb)(void *data, const struct model_type *t),
                               void *data);

/* Takes ownership of rec, also on error. Emits add or update (update only
 * when resourceVersion differs). 0 / -ENOMEM. */
int store_upsert(struct store *s, void *rec);
/* Removes by the record's namespace/name; emits delete with the stored
 * record. Takes ownership of rec (the watch's last state). 0 / -ENOENT. */
int store_delete(struct store *s, void *rec);

/* Relist: a staging list collects records page by page; store_replace_end
 * diffs it against the store, emits adds/updates in list order, then
 * deletes, then on_synced. */
struct store_replace;
struct store_replace *store_replace_begin(struct store *s);
int store_replace_add(struct store_replace *r, void *rec);   /* takes rec */
int store_replace_end(struct store_replace *r);              /* frees r */
void store_replace_abort(struct store_replace *r);           /* frees r */

size_t store_count(const struct store *s);
const void *store_get(const struct store *s, const char *ns, const char *name);
/* Iteration in no particular order; cb returns false to stop. */
void store_foreach(const struct store *s, bool (*cb)(void *data, const void *rec), void *data);
bool store_synced(const struct store *s);
const struct model_type *store_type(const struct store *s);

#endif
