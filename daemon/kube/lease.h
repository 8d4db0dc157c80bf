/* Leader election on a coordination.k8s.io/v1 Lease, on the loop: a timer
 * drives kube/leader_sm.c, this file does the GET/POST/PUT through a small
 * request interface (struct write_transport, util/write_transport.h; ha.c
 * passes kube/transport.c's adapter) and tells the app when leadership starts and stops. Also exports
 * aks_backup_leader (PROCESS scope: every replica shows it). */
#ifndef ABC_KUBE_LEASE_H
#define ABC_KUBE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util/write_transport.h"

struct metrics;
struct metric_family;

typedef void (*lease_event_cb)(void *data);
typedef void (*lease_close_cb)(void *data);

struct lease_opts {
    const char *name;          /* leader_election.lease_name; copied */
    const char *namespace_;    /* resolved lease namespace; copied */
    const char *identity;      /* holderIdentity: the pod name; copied */
    int64_t lease_duration_ms; /* > renew_deadline_ms > retry_period_ms > 0 */
    int64_t renew_deadline_ms;
    int64_t retry_period_ms;
    int64_t follower_poll_ms;  /* 0 = retry_period_ms; see leader_sm_opts */
    /* A request not answered within this is abandoned (its answer, if it
     * ever comes, is ignored). 0 = retry_period_ms. */
    int64_t request_timeout_ms;
    struct write_transport transport; /* borrowed; must outlive the lease */
    struct metrics *metrics;   /* optional; aks_backup_leader is declared in it */
    lease_event_cb on_started_leading; /* optional */
    lease_event_cb on_stopped_leading; /* optional; also on release */
    void *data;
};

struct lease;

/* Allocates and initialises (no I/O). *out is owned by the caller until
 * lease_close / lease_release_and_close. Returns 0, -EINVAL (bad options:
 * empty name/namespace/identity, durations not ordered) or -ENOMEM. */
int lease_init(struct lease **out, uv_loop_t *loop, const struct lease_opts *o);
/* Starts trying to acquire at once. Idempotent. 0 or a negative errno. */
int lease_start(struct lease *l);

bool lease_is_leader(const struct lease *l);
/* The holder last observed on the Lease ("" when unknown or released);
 * this replica's identity while it leads. Borrowed until the next loop
 * iteration. For the follower's 503 answer (`leader` field/header). */
const char *lease_holder(const struct lease *l);
const char *lease_identity(const struct lease *l);

/* Graceful shutdown (client-go ReleaseOnCancel): when leading, calls
 * on_stopped_leading at once, then writes the Lease with holderIdentity ""
 * and leaseDurationSeconds 1 so a successor acquires on its next retry,
 * waiting at most request_timeout_ms for the answer; then closes and frees
 * l and calls cb (always asynchronously, also when not leading). */
void lease_release_and_close(struct lease *l, lease_close_cb cb, void *data);
/* Closes without releasing (the lease then expires on its own). Frees l,
 * then cb. on_stopped_leading is called first when leading. */
void lease_close(struct lease *l, lease_close_cb cb, void *data);

/* Declares (or finds) aks_backup_leader in m. For a single replica without
 * leader election, app.c sets it to 1 itself. NULL on ENOMEM. */
struct metric_family *lease_leader_family(struct metrics *m);

/* "/apis/coordination.k8s.io/v1/namespaces/<ns>/leases[/<name>]" into out.
 * 0 or -ENAMETOOLONG. */
int lease_path(char *out, size_t n, const char *namespace_, const char *name);

#endif
