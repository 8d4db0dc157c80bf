/* The quota subsystem as the app sees it: the ledger fed
 * by the accounting sources' stores, persisted after every change, a day
 * rollover timer, the /api/v1/quota endpoints, the quota metrics, and the
 * report/check sections. Runs on the loop; app.c owns it. */
#ifndef ABC_QUOTA_QUOTA_H
#define ABC_QUOTA_QUOTA_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/schedule.h"
#include "metrics/metrics.h"
#include "store/store.h"
#include "model/acct.h"
#include "quota/ledger.h"
#include "quota/state.h"
#include "util/buf.h"

struct json_object;

/* Plain options; app.c maps struct config onto them. Strings are copied. */
struct quota_opts {
    long backup_limit;              /* limits.on_demand_backups_per_day */
    long restore_limit;             /* limits.restores_per_day */
    double warn_ratio;              /* limits.warn_ratio */
    int day_offset;                 /* config_day_offset(): seconds east of UTC */
    const char *day_boundary;       /* as configured ("UTC", "+05:30"), for texts */
    bool has_schedule;              /* vault.backup_schedule set */
    struct schedule schedule;       /* vault.schedule */
    long tolerance_minutes;         /* vault.schedule_tolerance_minutes */
    const char *state_file;         /* accounting.state_file; NULL/"" = not kept */
    bool read_only;                 /* `check`: load the state, never write it */
    const char *token_file;         /* api.token_file; NULL/"" = write API off */
    int64_t (*now_ms)(void);        /* wall clock; NULL = clock_now_ms */
};

struct quota;

/* Creates the ledger and, with a state file, loads it: a missing file
 * starts empty; a corrupt or unreadable one is moved aside
 * (<file>.corrupt-<unix time>, logged at error level) and the ledger starts
 * empty, to be rebuilt from the objects the API still shows. loop may be
 * NULL (`check`): no timers, saves happen at once. Logs what it decides.
 * Returns 0 and *out, or -ENOMEM. */
int quota_init(struct quota **out, uv_loop_t *loop, const struct quota_opts *o);

/* Replaces the persistence backend (HA: the ConfigMap store). Takes s's
 * contents; the old backend is freed. Loads from the new one (merge). */
int quota_set_store(struct quota *q, struct quota_store *s);

/* One accounting source: t was made by acct_type_new and must outlive q.
 * Fills *c to pass to store_add_consumer on that source's store (adds and
 * updates count; deletes never give anything back; on_synced marks the
 * source available and flushes the state). A constant instance mapping
 * makes that instance always listed. 0 / -ENOMEM. */
int quota_add_source(struct quota *q, const struct model_type *t, struct store_consumer *c);
/* The app says whether a source's API is served (404 → false). Unknown
 * names are ignored. Sources start not available until synced. */
void quota_set_source_available(struct quota *q, const char *name, bool available);

/* Arms the day rollover timer (idempotent; no-op without a loop). */
int quota_start(struct quota *q);
/* SIGHUP: new limits, warn ratio, day boundary, schedule, token file.
 * state_file and read_only are kept from init. 0 / -ENOMEM. */
int quota_reload(struct quota *q, const struct quota_opts *o);
/* Writes the state now if anything changed since the last save. 0 or the
 * save error (also logged). */
int quota_flush(struct quota *q);
/* Flushes, stops timers and frees q; cb (may be NULL) fires once every
 * handle is closed (at once without a loop). */
void quota_close(struct quota *q, void (*cb)(void *data), void *data);

/* ---- reservations: the write API's logic as plain calls; the HTTP side
 * is http/routes_quota.c ---- */

/* True when api.token_file is set (the write API is on). */
bool quota_write_enabled(const struct quota *q);
/* authorization: an Authorization header value (NULL when absent). True
 * when it is "Bearer <the token in api.token_file>"; the file is re-read
 * when it changed, the compare takes constant time. */
bool quota_authorized(struct quota *q, const char *authorization);
/* False when inst is new and the ledger already tracks as many backup
 * instances as a vault can hold (5000). */
bool quota_instance_room(struct quota *q, const char *inst);

/* The answer to a reservation. Strings are borrowed: valid during the
 * callback, or until the caller's own strings go for quota_reserve. */
struct quota_answer {
    int status;             /* 200 reserved, 429 quota exhausted, 400 or 503 error */
    const char *error;      /* NULL on 200: "quota_exhausted", "not_ready",
                               "state_not_saved", "reserve_failed" */
    const char *message;    /* for errors (NULL for quota_exhausted) */
    bool replayed;          /* an Idempotency-Key retry of a known reservation */
    const char *reservation;/* the id (200) */
    const char *instance;
    enum acct_op op;
    long used, limit, remaining;
    int64_t resets_at;      /* unix seconds */
    int64_t retry_after;    /* seconds; 0 = none */
};
typedef void (*quota_answer_cb)(void *data, const struct quota_answer *a);
struct quota_wait;

#define QUOTA_WRITE_DEADLINE_MS 5000
/* Shortest write token accepted from api.token_file (characters, after
 * trimming white space); a shorter one refuses every write request. */
#define QUOTA_TOKEN_MIN_LEN 32
/* Start-time check of api.token_file: 0 when empty, unreadable (refused
 * per request, logged then) or long enough; -EINVAL with a message naming
 * the file in err when the token is shorter than QUOTA_TOKEN_MIN_LEN. */
int quota_token_check(const char *path, char *err, size_t errlen);
/* Reserves one op for instance inst today under id (the Idempotency-Key
 * or a random id; a known id is answered again, replayed). Returns NULL
 * with *ans filled when answered at once. With may_wait and an
 * asynchronous store (the HA ConfigMap, struct quota_store_ops save_wait)
 * a new reservation is answered only once the write carrying it has
 * landed: then it returns a wait handle and cb fires exactly once later
 * (never before returning) with 200, or 503 state_not_saved (the
 * reservation cancelled, a tombstone keeping a late write from ever
 * counting it: docs/ha.md) when the write fails, this replica
 * stops leading (quota_abort_pending) or QUOTA_WRITE_DEADLINE_MS pass; an
 * Idempotency-Key retry meanwhile waits for the same outcome. *ans then
 * holds the figures (replayed for a retry). */
struct quota_wait *quota_reserve(struct quota *q, const char *inst, enum acct_op op,
                                 const char *id, bool may_wait, quota_answer_cb cb, void *data,
                                 struct quota_answer *ans);
/* The caller cannot wait any more: cb will not fire for w (freed). With
 * drop the reservation is given up as not saved (its other waiters are
 * answered so). */
void quota_wait_cancel(struct quota_wait *w, bool drop);
/* Fills *a with the 503 state_not_saved answer (Retry-After 5). */
void quota_answer_not_saved(struct quota_answer *a);
/* False (and *a the 503 not_ready answer, Retry-After 1) while the ledger
 * is not current (quota_set_current). */
bool quota_current(const struct quota *q, struct quota_answer *a);
/* HA, leadership lost: reservations still waiting for their write are
 * answered 503 state_not_saved and dropped from the ledger. */
void quota_abort_pending(struct quota *q);
/* Reservations waiting for their write (tests). */
size_t quota_pending_count(const struct quota *q);

/* HA: false from the moment a replica starts leading until it has read
 * the shared ledger, which may hold the former leader's last reservations.
 * Meanwhile its own copy can be seconds old, so GET /api/v1/quota and POST
 * answer 503 not_ready with Retry-After: 1 and the quota families are left
 * out of /metrics, rather than publish counts that are too low. Default true. */
void quota_set_current(struct quota *q, bool current);

/* Registers the METRIC_SCOPE_CLUSTER collector (the quota families).
 * q must outlive m or call metrics_remove_collector first. */
int quota_register_metrics(struct quota *q, struct metrics *m);

/* The quota document (report "quota" and GET /api/v1/quota).
 * Caller puts. NULL on ENOMEM. */
struct json_object *quota_json(struct quota *q);
/* Appends the same document as text JSON. 0 / -ENOMEM. */
int quota_json_append(struct quota *q, struct buf *out);
/* Appends the `check` text section (starts with "quota\n"). 0 / -ENOMEM. */
int quota_text(struct quota *q, struct buf *out);
/* True when some instance is at or above warn_ratio x limit today (usage
 * only, for check's exit code). The document's own warnings
 * (schedule_unknown, source_unavailable) are counted by
 * quota_warning_count. */
bool quota_any_warn(struct quota *q);
size_t quota_warning_count(struct quota *q);

/* The Azure view's job list (plain data; quota knows nothing of ARM).
 * enabled: the view is configured. available: its jobs and instances were
 * read: they become the figures (ledger_set_jobs), the cluster-observed
 * counts a cross-check; otherwise the cluster's counts stay in force and the
 * documents carry the warning azure_unavailable with reason. schedule: the
 * backup policy's repeating interval ("" unknown), used for the
 * cluster-observed counts when vault.backup_schedule is not set.
 * Copied. 0 / -ENOMEM. */
struct quota_jobs {
    bool enabled, available;
    const char *reason;
    const struct ledger_job *jobs;
    size_t njobs;
    const char *const *instances;
    size_t ninstances;
    const char *schedule;
};
int quota_set_jobs(struct quota *q, const struct quota_jobs *j);
/* Minutes the two figures must differ before the disagreement shows. */
#define QUOTA_DISAGREE_AFTER_S (15 * 60)

/* Today's figures (tests, logs). */
long quota_used(struct quota *q, const char *instance, enum acct_op op);
int64_t quota_resets_at(struct quota *q);
/* The ledger (borrowed; for tests and the HA helper's merge). */
struct ledger *quota_ledger(struct quota *q);

#endif
