/* struct write_transport (util/write_transport.h) over the kube client:
 * every write to the API server (Lease, ConfigMaps, Events) goes through
 * one of these. app_kube.c and ha/ha.c own the contexts. */
#ifndef ABC_KUBE_TRANSPORT_H
#define ABC_KUBE_TRANSPORT_H

#include "util/write_transport.h"

struct kube_client;
struct kube_tr_call;

/* status is st->err when no answer came, else the HTTP status; body is
 * the response body (the Status object on errors). The context is the
 * caller's and must outlive every user of the transport. timeout_ms:
 * total per request (0 = 5000); a partitioned server then fails a request
 * rather than holding it. The metrics verb follows the method
 * (get/create/update). */
struct kube_transport {
    struct kube_client *client; /* borrowed */
    long timeout_ms;
    struct kube_tr_call *calls; /* in flight (private) */
};

struct write_transport kube_transport_get(struct kube_transport *t);
/* Cancels every request of t still in flight: each done callback runs
 * once with -ECANCELED. Call before kube_client_close, which cancels
 * without callbacks (the write_transport contract promises exactly one). */
void kube_transport_cancel_all(struct kube_transport *t);

#endif
