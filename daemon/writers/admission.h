/* The admission warnings ConfigMap (docs/admission.md): the
 * leader keeps admission.warnings_configmap in the pod's namespace in step
 * with the StorageClasses the rules engine holds. A class change is
 * coalesced for debounce_ms, then GET -> compare -> POST (404) or PUT with
 * the resourceVersion read (only when the content differs); 409 re-reads
 * and retries (bounded), other failures retry with backoff. Runs on the
 * loop; requests go through struct write_transport (util/write_transport.h).
 *
 * Layout (the contract with the ValidatingAdmissionPolicy):
 *   data["class.<name>"]   = reason code (azure-files, azure-blob, in-tree,
 *                            unsupported-driver, static), per skipped class
 *   data["message.<name>"] = classify_class_message(name, provisioner)
 *   data["default"]        = the default class, only when it is skipped
 *   data["static-message"] = the warning for storageClassName ""
 *   labels app.kubernetes.io/name and app.kubernetes.io/managed-by =
 *   aks-backup-companion. */
#ifndef ABC_WRITERS_ADMISSION_H
#define ABC_WRITERS_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util/write_transport.h"

struct engine;
struct store;
struct json_object;
struct admission_writer;

#define ADMISSION_LABEL_NAME "app.kubernetes.io/name"
#define ADMISSION_LABEL_MANAGED "app.kubernetes.io/managed-by"
#define ADMISSION_LABEL_VALUE "aks-backup-companion"

struct admission_opts {
    const char *name;        /* ConfigMap name; copied; "" or NULL = off */
    const char *namespace_;  /* copied; "" = "default" */
    struct write_transport transport; /* copied; its ctx must outlive the writer */
    const struct engine *engine;      /* borrowed; must outlive the writer */
    /* The StorageClass store (borrowed, may be NULL): nothing is written
     * before it has synced, so a partial first list never shrinks the map. */
    const struct store *classes;
    int64_t debounce_ms;     /* coalescing window after a change; 0 = 200 */
    int64_t resync_ms;       /* periodic re-check (repairs drift); 0 = 300000, < 0 = never */
    int max_conflicts;       /* 409s per sync before backing off; 0 = 5, at most 16 */
    uint32_t retry_initial_ms, retry_max_ms; /* failure backoff; 0 = 1000 / 30000 */
};

/* Counters (tests, logs). */
struct admission_stats {
    unsigned long syncs;      /* completed syncs (written or unchanged) */
    unsigned long gets, creates, updates;
    unsigned long unchanged;  /* syncs that found the content equal */
    unsigned long conflicts;  /* 409 answers */
    unsigned long failures;   /* failed requests (other than 409) */
    bool in_sync;             /* the last sync succeeded and nothing changed since */
};

/* No I/O; starts as a follower (nothing written until
 * admission_writer_set_leader(w, true)). 0 / -EINVAL / -ENOMEM. */
int admission_writer_new(struct admission_writer **out, uv_loop_t *loop,
                         const struct admission_opts *o);
/* Leadership: becoming leader schedules a sync; a follower writes nothing
 * (a request in flight completes). */
void admission_writer_set_leader(struct admission_writer *w, bool leader);
/* Engine change bits (ENGINE_CHANGED_*); CLASSES schedules a sync. */
void admission_writer_notify(struct admission_writer *w, unsigned what);
/* Config reload: a new name/namespace ("" name = off). The old ConfigMap is
 * left as is. 0 / -EINVAL. */
int admission_writer_set_target(struct admission_writer *w, const char *name,
                                const char *namespace_);
void admission_writer_stats(const struct admission_writer *w, struct admission_stats *out);
/* Stops timers and cancels the request in flight (transport.cancel; without
 * one its answer is dropped when it comes). Frees w, then cb
 * (asynchronously). */
void admission_writer_close(struct admission_writer *w, void (*cb)(void *data), void *data);

/* The desired data object for the engine's current classes (new
 * reference, caller puts), NULL on ENOMEM. */
struct json_object *admission_desired_data(const struct engine *e);

#endif
