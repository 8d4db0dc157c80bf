/* High availability glue (leader_election, accounting.state_configmap; only
 * the leader exports cluster-level families): owns the Lease
 * (kube/lease.c) and the ConfigMap ledger store (quota/cm_store.c) and ties
 * them to the metrics registry, the quota subsystem and the reservation
 * route. app.c creates one; it is a no-op leader when neither feature is
 * configured. */
#ifndef ABC_HA_HA_H
#define ABC_HA_HA_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct config;
struct kube_client;
struct metrics;
struct quota;
struct http_server;
struct ha;

struct ha_opts {
    const struct config *cfg;   /* read during ha_init only */
    struct kube_client *client; /* borrowed; must outlive ha (close ha first) */
    struct metrics *metrics;    /* borrowed; aks_backup_leader + cluster switch */
    struct quota *quota;        /* borrowed, may be NULL; its store is replaced
                                   when accounting.state_configmap is set */
    const char *identity;       /* NULL = ha_identity() */
    const char *namespace_;     /* NULL = ha_namespace() */
    /* Optional: leadership changed (Events and the admission ConfigMap are
     * written by the leader only). Also called once from ha_start with
     * true when leader election is off. */
    void (*on_leading)(void *data, bool leading);
    void *data;
};

/* No I/O. With leader election off this replica is the leader at once
 * (cluster families on, aks_backup_leader 1); on, it starts as follower
 * (cluster families off, gauge 0). Logs what it decides.
 * 0 / -EINVAL (bad durations; the config validator checks them first) /
 * -ENOMEM. */
int ha_init(struct ha **out, uv_loop_t *loop, const struct ha_opts *o);

/* POST /api/v1/quota/{instance}/{op} in front of quota's own route: a
 * follower answers 503 naming the leader (ha_answer_not_leader: header
 * X-Leader, JSON field "leader", Retry-After: 1); a leader that has not
 * loaded the shared ledger yet answers 503 `not_ready`; otherwise
 * quota_handle_post_req (with the ConfigMap the answer waits for the write
 * carrying the reservation; losing leadership answers the waiting ones
 * 503, quota_abort_pending). Register BEFORE quota_register_routes (the first
 * matching route wins). No-op without a quota. 0 / -ENOMEM. */
int ha_register_routes(struct ha *h, struct http_server *s);

/* Answer of a follower to a request only the leader serves (quota
 * reservations with HA): 503, `Retry-After: 1`, header
 * `X-Leader: <holder>` and JSON {"error":"not_leader","message":...,
 * "leader":"<holder>"} (holder "" or NULL when no leader is known).
 * resp is filled. */
struct http_response;
void ha_answer_not_leader(const char *holder, struct http_response *resp);

/* Starts the election and/or the first load of the shared ledger. */
int ha_start(struct ha *h);

bool ha_is_leader(const struct ha *h);
/* The known leader's identity ("" when unknown); this replica's own when
 * leader election is off. Borrowed. */
const char *ha_leader(const struct ha *h);

/* Graceful stop (SIGTERM): the leader writes the ledger one last time
 * (bounded to 1.5 s), then releases the Lease so a successor takes over at
 * its next retry, then everything is closed and freed and cb runs. */
void ha_close(struct ha *h, void (*cb)(void *data), void *data);

/* This replica's identity: $POD_NAME, else the host name (a pod's host
 * name is its name). 0 / -ENOENT. */
int ha_identity(char *out, size_t n);
/* The pod's namespace: $POD_NAMESPACE, else the service account's
 * namespace file, else "default". */
void ha_namespace(char *out, size_t n);

#endif
