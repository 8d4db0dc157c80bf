/* A reflector keeps one resource's store in step with the API server
 * (client-go tools/cache/reflector.go): paginated LIST into
 * store_replace, then WATCH from the list's resourceVersion with bookmarks;
 * 410 or "Too large resource version" → relist, other errors → backoff
 * (Retry-After honoured), 90 s of silence → re-watch, 404 on the
 * group/version → absent (an empty store, informer_synced 1), retried
 * every 60 s. It knows the resource only through its struct model_type. */
#ifndef ABC_KUBE_REFLECTOR_H
#define ABC_KUBE_REFLECTOR_H

#include <stdbool.h>

#include <uv.h>

#include "kube/http.h"
#include "store/store.h"

struct kube_client;
struct metrics;
struct buf;
struct reflector;

enum reflector_mode {
    REFLECTOR_WATCH = 0,     /* list, then watch forever (the daemon) */
    REFLECTOR_LIST_ONLY = 1, /* list once, store's on_synced, then idle (`check`) */
};

/* Optional notifications; any member may be NULL. */
struct reflector_hooks {
    /* The resource's group/version became absent (404) or present again. */
    void (*on_absent)(void *data, const struct model_type *t, bool absent);
    /* A list failed (already logged; the reflector retries with backoff).
     * `check` uses it to give up on 401/403/unreachable (exit 3). */
    void (*on_list_error)(void *data, const struct model_type *t, const struct kube_status *st);
    void *data;
};

typedef void (*reflector_close_cb)(void *data);

/* No I/O. c, s and m (may be NULL) are borrowed until the close callback;
 * hooks is copied (may be NULL). 0 / -ENOMEM. Reads ABC_WATCH_IDLE_SECONDS
 * (default 90) and ABC_ABSENT_RETRY_SECONDS (default 60). */
int reflector_init(struct reflector **out, uv_loop_t *loop, struct kube_client *c, struct store *s,
                   struct metrics *m, enum reflector_mode mode, const struct reflector_hooks *hooks);
/* Starts listing. Idempotent. 0 or a negative errno. */
int reflector_start(struct reflector *r);
/* Cancels requests and timers; the store keeps its records. Idempotent. */
void reflector_stop(struct reflector *r);
/* Standby (a follower that does not watch): removes r's per-resource
 * informer series (synced, objects, last event) so that nothing reads as a
 * stale watch; reflector_start brings them back. Call on a stopped r. */
void reflector_standby(struct reflector *r);
/* Stops and frees r after its handles closed, then cb (may be NULL). */
void reflector_close(struct reflector *r, reflector_close_cb cb, void *data);

/* The first list has been applied to the store (false while absent from
 * the start; the informer_synced gauge is 1 then, see docs/metrics.md). */
bool reflector_synced(const struct reflector *r);
/* The resource's group/version is not served (404). */
bool reflector_absent(const struct reflector *r);
/* Last resourceVersion seen ("" before the first list). Borrowed. */
const char *reflector_resource_version(const struct reflector *r);
struct store *reflector_store(const struct reflector *r);

/* Appends {"resource","resourceVersion","synced","absent","items":[{"namespace",
 * "name","resourceVersion"}...]} (items sorted by namespace/name) to out,
 * for GET /debug/store. 0 / -ENOMEM. */
int reflector_dump(const struct reflector *r, struct buf *out);

#endif
