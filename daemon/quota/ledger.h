/* The quota ledger: on-demand operations per backup instance,
 * calendar day (at the configured boundary offset) and operation, deduped
 * by object UID, plus reservations made through the write API. Pure: no
 * I/O, no loop; every call that depends on time takes `now` (Unix seconds).
 * Counts are a function of the set of observations, never of their order:
 * which backup is a slot's scheduled one, and which CR consumes a
 * reservation, are decided by (creationTimestamp, uid) at query time.
 * Owned by quota/quota.c; the unit tests drive it directly. */
#ifndef ABC_QUOTA_LEDGER_H
#define ABC_QUOTA_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/schedule.h"
#include "model/acct.h"

struct json_object;

/* Days kept: today and the LEDGER_KEEP_DAYS days before it. */
#define LEDGER_KEEP_DAYS 2
#define LEDGER_STATE_VERSION 1

struct ledger_opts {
    long limit[ACCT_NOPS];      /* per instance per day; [ACCT_OP_BACKUP] etc. */
    double warn_ratio;          /* warn when used >= warn_ratio * limit */
    int day_offset;             /* seconds east of UTC of the day boundary */
    bool has_schedule;          /* vault.backup_schedule set */
    struct schedule schedule;   /* valid when has_schedule */
    int64_t tolerance_s;        /* schedule_tolerance_minutes * 60 */
};

/* The answer of a reservation, remembered for idempotent retries. */
struct ledger_answer {
    long used, limit, remaining;
    int64_t resets_at;          /* Unix seconds of the next day boundary */
};

struct ledger;

/* opts is copied. NULL on ENOMEM. */
struct ledger *ledger_new(const struct ledger_opts *o);
void ledger_free(struct ledger *l);
/* Replaces the options (reload); counts follow at the next query. */
void ledger_set_opts(struct ledger *l, const struct ledger_opts *o);
const struct ledger_opts *ledger_opts(const struct ledger *l);

/* Day arithmetic at the boundary offset. Day number = days since
 * 1970-01-01 of the local-at-offset date. */
int64_t ledger_day_of(const struct ledger *l, int64_t t);
/* "YYYY-MM-DD" of day number d; out >= 11 bytes. */
void ledger_day_string(int64_t d, char *out, size_t n);
/* Unix seconds of the first boundary strictly after now. */
int64_t ledger_resets_at(const struct ledger *l, int64_t now);

/* An instance that always appears in the list (constant mappings). Copied.
 * 0 / -ENOMEM. */
int ledger_add_instance(struct ledger *l, const char *instance);

/* Records one on-demand object (strings copied). created <= 0 means
 * unknown: `now` is used. Objects of a day older than the kept ones are
 * ignored. A known UID is not recorded again; its reservation annotation is
 * taken when it had none. Returns 1 when the ledger changed, 0 when not,
 * -ENOMEM / -EINVAL (NULL uid or instance). */
int ledger_observe(struct ledger *l, const char *uid, const char *instance, enum acct_op op,
                   int64_t created, const char *reservation, int64_t now);

/* Used operations of (instance, op) on today's day: reservations + counted
 * objects. */
long ledger_used(struct ledger *l, const char *instance, enum acct_op op, int64_t now);
/* The same for any kept day number. */
long ledger_used_on(struct ledger *l, const char *instance, enum acct_op op, int64_t day);
long ledger_remaining(struct ledger *l, const char *instance, enum acct_op op, int64_t now);

/* Reserves one operation now. id is the idempotency key (scoped to
 * instance and op). Returns:
 *   0        reserved; *ans is the answer (remembered with the reservation)
 *   1        id already reserved: *ans is the original answer, nothing counted
 *   -EDQUOT  none remaining: *ans has the current figures, nothing recorded
 *   -ENOMEM / -EINVAL */
int ledger_reserve(struct ledger *l, const char *instance, enum acct_op op, const char *id,
                   int64_t now, struct ledger_answer *ans);
/* Drops a reservation made by ledger_reserve (when it could not be
 * persisted). 0 / -ENOENT. */
int ledger_unreserve(struct ledger *l, const char *instance, enum acct_op op, const char *id);

/* Cancels a reservation whose answer said "not counted" (its write may
 * still land later): the reservation goes and a tombstone for (instance,
 * op, id, created) stays, saved with the state, so a merge of a document
 * that holds the reservation (a late write) never counts it again. A new
 * reservation with the same id (a retry) replaces the tombstone. 0 /
 * -ENOENT / -ENOMEM (then the reservation is only dropped). */
int ledger_cancel(struct ledger *l, const char *instance, enum acct_op op, const char *id);
size_t ledger_tombstone_count(const struct ledger *l);

/* Every instance with a record in the kept days, plus the added ones,
 * sorted. *out is a caller-freed array of strings borrowed from l (valid
 * until the next call that changes l). Returns the count or -ENOMEM. */
long ledger_instances(const struct ledger *l, const char ***out);

/* Drops everything of days older than the kept ones. Returns 1 when
 * something was dropped, else 0. */
int ledger_prune(struct ledger *l, int64_t now);

/* Calls cb once per (instance, op) whose usage today reached
 * warn_ratio * limit and that was not reported yet today. Returns 1 when
 * something was reported (the warned set is part of the state), else 0. */
typedef void (*ledger_warn_cb)(void *data, const char *instance, enum acct_op op, long used,
                               long limit);
int ledger_take_warnings(struct ledger *l, int64_t now, ledger_warn_cb cb, void *data);
/* True when some instance is at or above warn_ratio * limit today. */
bool ledger_any_warn(struct ledger *l, int64_t now);

/* Serialises the kept state (objects, reservations with their answers,
 * warned flags). Caller puts the result. NULL on ENOMEM. Layout:
 *   {"version":1, "day_offset_seconds":19800, "saved_at":"<RFC 3339>",
 *    "days":{"2026-03-14":{"<instance>":{"backup":{
 *        "objects":[{"uid","created","reservation"?}],
 *        "reservations":[{"id","created","used","limit","remaining","resets_at"}],
 *        "cancelled":[{"id","created"}]?  (tombstones, see ledger_cancel),
 *        "warned":true?}, "restore":{...}}}}}
 * Day keys are informational: days are recomputed from "created" with the
 * current offset, so a changed day_boundary re-buckets everything. */
struct json_object *ledger_to_json(const struct ledger *l, int64_t now);
/* Merges a state document into l: union by object UID, by reservation
 * (instance, op, id) and by warned flag; a tombstone (either side) wins
 * over a reservation of the same key created no later than it; entries of days no longer kept are
 * skipped. The document is validated first: on -EINVAL (not a state
 * document, unknown version, malformed entry) l is unchanged. Returns the
 * number of entries added (>= 0), -EINVAL or -ENOMEM. */
int ledger_merge_json(struct ledger *l, struct json_object *doc, int64_t now);

/* The vault's own job list (the Azure view). When on, an instance's
 * figure of a day is its jobs started that day (each id once; the caller
 * passes only on-demand backups and restores of this cluster's instances)
 * plus the reservations of that day no job stands for yet: a job started
 * at or after a reservation (60 s of clock skew allowed) of the same
 * instance and operation is that reservation, earliest first. The listed
 * instances become `instances` plus those with reservations. The objects
 * observed in the cluster stay recorded (ledger_cluster_used). Off: back
 * to the cluster's counts. Everything is copied. 0 / -ENOMEM (unchanged). */
struct ledger_job {
    const char *id;
    const char *instance;
    enum acct_op op;
    int64_t start;              /* Unix seconds */
};
int ledger_set_jobs(struct ledger *l, bool on, const struct ledger_job *jobs, size_t n,
                    const char *const *instances, size_t ninstances);
bool ledger_jobs_on(const struct ledger *l);
/* Today's cluster-observed figure (objects + reservations), whatever is in force. */
long ledger_cluster_used(struct ledger *l, const char *instance, enum acct_op op, int64_t now);

/* Counts for tests and logs. */
size_t ledger_object_count(const struct ledger *l);
size_t ledger_reservation_count(const struct ledger *l);

#endif
