/* Leader election as a pure state machine over a coordination.k8s.io/v1
 * Lease, with client-go leaderelection semantics. No I/O and no clock: the
 * caller (kube/lease.c) passes monotonic and wall times in, performs the
 * GET/POST/PUT the machine asks for and feeds the answers back. Expiry is
 * judged by the LOCAL monotonic time a change of the Lease was observed,
 * never by comparing remote timestamps (clock skew does not matter). */
#ifndef ABC_KUBE_LEADER_SM_H
#define ABC_KUBE_LEADER_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEASE_ID_MAX 254 /* holderIdentity (a pod name is <= 253) */
#define LEASE_RV_MAX 64

/* The spec of a Lease plus its resourceVersion. Times are wall-clock Unix
 * milliseconds as written in the object (MicroTime); 0 = field absent. */
struct lease_record {
    char holder[LEASE_ID_MAX]; /* holderIdentity; "" = free (released) */
    long duration_s;           /* leaseDurationSeconds */
    int64_t acquire_ms;        /* acquireTime */
    int64_t renew_ms;          /* renewTime */
    long transitions;          /* leaseTransitions */
    char rv[LEASE_RV_MAX];     /* metadata.resourceVersion */
};

struct leader_sm_opts {
    const char *identity;    /* copied; non-empty */
    int64_t lease_duration_ms;
    int64_t renew_deadline_ms; /* < lease_duration_ms */
    int64_t retry_period_ms;   /* < renew_deadline_ms */
    /* How often a follower re-reads a lease held by another replica;
     * 0 = retry_period_ms. Shorter than the retry period, it bounds the
     * handover after a release (SIGTERM) without more writes. */
    int64_t follower_poll_ms;
};

/* What the caller must do next. */
enum leader_sm_action {
    LEADER_SM_NONE = 0, /* nothing now; call leader_sm_tick at leader_sm_next_ms */
    LEADER_SM_GET,      /* GET the Lease; answer with leader_sm_on_get */
    LEADER_SM_CREATE,   /* POST the record from leader_sm_desired; answer with _on_write */
    LEADER_SM_UPDATE,   /* PUT the record from leader_sm_desired (with its rv) */
};

struct leader_sm {
    char identity[LEASE_ID_MAX];
    int64_t duration_ms, deadline_ms, retry_ms, poll_ms;
    bool leader;
    bool have_observed;          /* a record was seen */
    struct lease_record observed;
    int64_t observed_mono;       /* local time observed changed */
    int64_t last_renew_sent;     /* mono time the last successful write was sent */
    int64_t next_attempt;        /* mono time of the next try */
    int64_t last_attempt;        /* mono time the last try started */
    struct lease_record desired; /* the write asked for */
    bool in_flight;              /* a request was asked for and not answered */
    bool stopped;                /* released: no more attempts */
    bool releasing;              /* the release write is being retried */
};

/* 0 or -EINVAL (empty identity, deadlines not ordered). */
int leader_sm_init(struct leader_sm *sm, const struct leader_sm_opts *o);

/* Called on each timer fire and whenever convenient. Steps down when the
 * renew deadline passed, then decides whether to start an attempt (only
 * when none is in flight and the retry time came). now_wall_ms is used for
 * the times written into the Lease. */
enum leader_sm_action leader_sm_tick(struct leader_sm *sm, int64_t now_mono, int64_t now_wall_ms);

/* Answer to LEADER_SM_GET. http_status: 200 with rec, 404 (rec NULL), or
 * anything else / a negative errno for a failure. Returns the next action
 * (CREATE, UPDATE or NONE). */
enum leader_sm_action leader_sm_on_get(struct leader_sm *sm, int64_t now_mono,
                                       int64_t now_wall_ms, int http_status,
                                       const struct lease_record *rec);

/* Answer to CREATE/UPDATE. sent_mono: when the request was sent (the
 * renew deadline counts from there, so a slow answer cannot extend
 * leadership). http_status 200/201 with rec = the object written (its new
 * rv). 409 or any failure: the next tick re-reads. Returns GET after a 409
 * (re-read at once), else NONE. */
enum leader_sm_action leader_sm_on_write(struct leader_sm *sm, int64_t now_mono,
                                         int64_t sent_mono, int http_status,
                                         const struct lease_record *rec);

/* The request in flight was abandoned (timeout): counts as a failure. */
void leader_sm_on_abandon(struct leader_sm *sm, int64_t now_mono);

/* Graceful release (client-go ReleaseOnCancel). When leading, steps down
 * at once and returns UPDATE with leader_sm_desired() = the lease with
 * holderIdentity "" and leaseDurationSeconds 1 so a successor acquires at
 * once; else NONE. Either way no further attempts are made. */
enum leader_sm_action leader_sm_release(struct leader_sm *sm, int64_t now_wall_ms);

/* The record to write for CREATE/UPDATE; borrowed, valid until the next
 * leader_sm_* call. */
const struct lease_record *leader_sm_desired(const struct leader_sm *sm);

bool leader_sm_is_leader(const struct leader_sm *sm);
/* The holder last observed ("" when unknown or free); borrowed. */
const char *leader_sm_holder(const struct leader_sm *sm);
/* Monotonic time at which leader_sm_tick should next be called: the next
 * retry, the renew deadline while leading, or the observed expiry of the
 * current holder, whichever comes first. */
int64_t leader_sm_next_ms(const struct leader_sm *sm);

/* JSON codec for the Lease object (pure; used by lease.c and tests). */
/* Parses a Lease JSON document into rec. 0 or -EINVAL. */
int lease_record_parse(const char *json, size_t len, struct lease_record *rec);
/* Renders a Lease object (apiVersion, kind, metadata name/namespace and,
 * when rec->rv is non-empty, resourceVersion; spec with MicroTime times
 * "2026-03-14T12:00:00.000000Z"). Caller frees the result. NULL on ENOMEM. */
char *lease_record_render(const struct lease_record *rec, const char *name,
                          const char *namespace_, size_t *len);
/* MicroTime formatting; out >= 28 bytes. */
void lease_format_microtime(int64_t unix_ms, char *out, size_t n);

#endif
