/* The request interface of the writers (admission.c, events.c): like
 * struct lease_transport (kube/lease.h) plus a handle per call so that a
 * writer closing with requests in flight cancels them and frees what it
 * owns (no answer, no leak). writer_transport_kube adapts the kube client;
 * unit tests plug in a fake. */
#ifndef ABC_WRITERS_TRANSPORT_H
#define ABC_WRITERS_TRANSPORT_H

#include <stddef.h>

#include "kube/lease.h" /* lease_done_cb */

struct kube_client;

struct writer_transport {
    /* As lease_transport.request; *call (not NULL) identifies the call for
     * cancel until done runs. 0 and done exactly once later, or a negative
     * errno and no done. */
    int (*request)(void *ctx, const char *method, const char *path, const char *content_type,
                   const char *body, size_t len, lease_done_cb done, void *data, void **call);
    /* No done after this; frees the transport's record of the call. */
    void (*cancel)(void *ctx, void *call);
    void *ctx;
};

/* Requests through c (borrowed: cancel every call before the client is
 * closed), each with a total timeout of timeout_ms (0 = 10000). The
 * metrics verb follows the method (get/create/update). */
struct writer_transport writer_transport_kube(struct kube_client *c);

#endif
