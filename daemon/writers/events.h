/* Kubernetes Events for skipped volumes (issue 5): the leader posts one
 * core/v1 Warning Event `BackupUnsupported` per PersistentVolume that AKS
 * backup skips, once per PV per UTC day. The Event's name is deterministic
 * (<pv>.backup-unsupported.<yyyymmdd>), so a restart or a second leader
 * the same day gets 409 AlreadyExists instead of a duplicate. Posts go
 * through a FIFO with a bounded number in flight; a failure pauses the
 * queue with exponential backoff. Runs on the loop, never blocks. */
#ifndef ABC_WRITERS_EVENTS_H
#define ABC_WRITERS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util/write_transport.h"
#include "rules/classify.h"

struct engine;
struct store;
struct buf;
/* At most this many Event POSTs a day (409s included): an event recorder
 * must not flood the API server on a cluster with tens of thousands of
 * skipped PVs; the report and the metrics still list every one. */
#define EVENTS_PER_DAY_MAX 2000u

struct event_writer;

#define EVENT_REASON "BackupUnsupported"
#define EVENT_COMPONENT "aks-backup-companion"
#define EVENT_NAME_MAX 253 /* DNS subdomain */

struct event_writer_opts {
    struct write_transport transport; /* copied; its ctx must outlive the writer */
    const struct engine *engine;      /* borrowed; must outlive the writer */
    /* The PersistentVolume store (borrowed, may be NULL): the involved
     * object's uid, and nothing is posted before it has synced. */
    const struct store *pvs;
    const char *namespace_;  /* where the Events go; NULL/"" = "default"; copied */
    const char *instance;    /* reportingInstance (the pod name); copied; NULL = "" */
    unsigned max_inflight;   /* 0 = 4 (at most 64) */
    int64_t scan_delay_ms;   /* coalescing after a verdict change; 0 = 2000 */
    int64_t day_check_ms;    /* how often the UTC day is checked; 0 = 60000 */
    uint32_t retry_initial_ms, retry_max_ms; /* after a failure; 0 = 1000 / 60000 */
};

struct event_writer_stats {
    unsigned long posts;     /* POSTs sent */
    unsigned long created;   /* 2xx */
    unsigned long existing;  /* 409: already emitted today */
    unsigned long failures;  /* other answers / transport errors (re-queued) */
    size_t queued;           /* waiting */
    size_t inflight;
    size_t done_today;       /* PVs with today's Event known to exist */
    size_t tracked;          /* PVs with a state kept: queued, in flight or done today */
};

/* No I/O; starts as a follower. 0 / -EINVAL / -ENOMEM. */
int event_writer_new(struct event_writer **out, uv_loop_t *loop,
                     const struct event_writer_opts *o);
/* Leadership: a leader scans the PVs and posts; a follower posts nothing
 * (requests in flight complete). */
void event_writer_set_leader(struct event_writer *w, bool leader);
/* Engine change bits; ENGINE_CHANGED_VERDICTS schedules a scan. */
void event_writer_notify(struct event_writer *w, unsigned what);
void event_writer_stats(const struct event_writer *w, struct event_writer_stats *out);
/* Stops timers, drops queued work and cancels requests in flight (without
 * transport.cancel their answers are dropped). Frees w, then cb
 * (asynchronously). */
void event_writer_close(struct event_writer *w, void (*cb)(void *data), void *data);

/* ---- pure helpers (unit-tested) ---- */

/* yyyymmdd of Unix seconds (UTC). */
int32_t event_day(int64_t unix_secs);
/* "<pv>.backup-unsupported.<yyyymmdd>", a valid DNS subdomain of at most
 * EVENT_NAME_MAX characters: a name that would be longer keeps a prefix of
 * the PV name plus "-" and 8 hex digits of its FNV-1a hash. out >= 254.
 * 0 / -EINVAL (empty pv or out too small). */
int event_name(char *out, size_t n, const char *pv, int32_t day);
/* "AKS backup skips this volume (<code>): <remedy>". */
void event_message(char *out, size_t n, enum pv_reason r);
/* The same with the remedy of support-matrix edition ed (NULL: as above). */
void event_message_ed(char *out, size_t n, enum pv_reason r, const struct matrix_edition *ed);
/* The Event object as JSON into b (appended). uid may be NULL/"". now:
 * Unix seconds. 0 / -ENOMEM. */
int event_body(struct buf *b, const char *name, const char *namespace_, const char *pv,
               const char *uid, enum pv_reason r, const char *instance, int64_t now);
/* The same with the remedy of support-matrix edition ed (the writer passes
 * the engine's). */
int event_body_ed(struct buf *b, const char *name, const char *namespace_, const char *pv,
                  const char *uid, enum pv_reason r, const struct matrix_edition *ed,
                  const char *instance, int64_t now);

#endif
