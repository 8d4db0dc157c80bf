/* The quota ledger kept in a ConfigMap (accounting.state_configmap)
 * for HA: asynchronous load and save over struct write_transport with
 * optimistic concurrency. A save PUTs with the resourceVersion last read
 * or written; on 409 it re-reads, merges the stored document into the
 * ledger by UID (ledger_merge_json: a union, so nothing is lost and
 * nothing counted twice), and writes again. Called by quota/app wiring on
 * the loop; only the leader saves.
 *
 * Layout (documented in docs/ha.md by the lead):
 *   kind ConfigMap, metadata.name = accounting.state_configmap, in the pod's
 *   namespace, label app.kubernetes.io/name=aks-backup-companion,
 *   annotation aks-backup-companion/written-by = the writer's identity;
 *   data["ledger.json"] = ledger_to_json's document as a string. */
#ifndef ABC_QUOTA_CM_STORE_H
#define ABC_QUOTA_CM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util/write_transport.h"

struct ledger;

#define CM_STORE_KEY "ledger.json"

struct cm_store_opts {
    const char *name;       /* ConfigMap name; copied */
    const char *namespace_; /* copied */
    const char *identity;   /* written-by annotation (pod name); copied; may be NULL */
    struct write_transport transport; /* borrowed; must outlive the store */
    struct ledger *ledger;  /* borrowed; must outlive the store */
    int max_attempts;       /* writes per save before giving up; 0 = 8 */
    int64_t timeout_ms;     /* per request; 0 = 10000 */
    /* After a failed save, write again after retry_ms (0 = 2000), while
     * can_write (NULL = always) says this replica may write (the leader).
     * The store logs the first failure of a streak and the recovery. */
    int64_t retry_ms;
    bool (*can_write)(void *data);
    void *can_write_data;
};

/* err: 0, or a negative errno: -ETIMEDOUT, -EAGAIN (still conflicting
 * after max_attempts), -EINVAL (the stored document is not a ledger
 * state: nothing was merged and saves are refused until a load succeeds;
 * the caller decides, see cm_store_reset), -ECANCELED (closed), -EIO
 * (other HTTP failure; http holds the status when there was one). */
typedef void (*cm_store_done_cb)(void *data, int err, int http);
typedef void (*cm_store_close_cb)(void *data);

struct cm_store;

/* No I/O. 0 / -EINVAL / -ENOMEM. */
int cm_store_init(struct cm_store **out, uv_loop_t *loop, const struct cm_store_opts *o);

/* GET the ConfigMap and merge its document into the ledger (404: nothing
 * to merge, err 0). Queued behind a save in flight. cb fires exactly once,
 * never before return; 0 or -ENOMEM / -ECANCELED (closing). */
int cm_store_load(struct cm_store *s, cm_store_done_cb cb, void *data);

/* Writes the ledger as it is when the write goes out. Saves coalesce: a
 * save asked for while one is in flight joins the next write, whose
 * content includes every change made before the ask. cb fires once that
 * write succeeded (err 0) or failed; never before return. Returns 0 or
 * -ENOMEM / -ECANCELED. */
int cm_store_save(struct cm_store *s, cm_store_done_cb cb, void *data);

/* Operations queued or in flight (0 when idle). */
size_t cm_store_pending(const struct cm_store *s);
/* Number of 409 conflicts met so far (tests, logs). */
unsigned long cm_store_conflicts(const struct cm_store *s);

/* Fails queued operations with -ECANCELED, abandons the request in flight
 * (its answer is dropped), frees s, then cb (asynchronously). Flush first
 * (cm_store_save and wait) when the state must reach the server. */
void cm_store_close(struct cm_store *s, cm_store_close_cb cb, void *data);

/* Plugs the store into quota/ (quota_set_store) as its persistence
 * backend: every quota save becomes a coalesced asynchronous cm_store_save
 * when the store's can_write allows it (a follower's saves do nothing: the
 * leader writes the shared state). Failures are retried by the store; while
 * they last a save returns -EIO (the write is still queued). Its save_wait
 * (the reservation route) is cm_store_save with the caller's callback:
 * done fires when the write carrying the ledger as it was at the call
 * landed or failed; -EPERM when can_write says no, -ECANCELED when the
 * store is closing or gone. Its load reports "nothing saved"
 * (-ENOENT): the app loads with cm_store_load, which merges straight into
 * the ledger. s is borrowed; either may be freed first (the adapter then
 * does nothing); closing s is the app's. One adapter per store.
 * 0 / -ENOMEM. */
struct quota_store;
int cm_store_quota_store(struct quota_store *out, struct cm_store *s);

/* Pure helpers (tests). */
/* "/api/v1/namespaces/<ns>/configmaps[/<name>]". 0 / -ENAMETOOLONG. */
int cm_store_path(char *out, size_t n, const char *namespace_, const char *name);
/* Renders the ConfigMap carrying doc (a JSON text); rv may be "" (create).
 * Caller frees. NULL on ENOMEM. */
char *cm_store_render(const char *name, const char *namespace_, const char *identity,
                      const char *rv, const char *doc, size_t *len);
/* Parses a ConfigMap: its resourceVersion into rv and data[CM_STORE_KEY]
 * into *doc (caller frees; NULL when the key is absent). 0 / -EINVAL /
 * -ENOMEM. */
int cm_store_parse(const char *body, size_t len, char *rv, size_t rvlen, char **doc);

#endif
