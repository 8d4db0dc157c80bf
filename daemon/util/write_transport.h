/* The one request interface for writes to the API server: the Lease
 * (kube/lease.c), the ConfigMap ledger (quota/cm_store.c), the admission
 * ConfigMap and the Events (writers/). kube/transport.c adapts the kube
 * client to it; unit tests plug in a fake. Plain C, no loop. */
#ifndef ABC_UTIL_WRITE_TRANSPORT_H
#define ABC_UTIL_WRITE_TRANSPORT_H

#include <stddef.h>

/* Completion of one request. status: the HTTP status, or a negative errno
 * when no answer came (connection failure, timeout, cancelled). body is
 * borrowed for the duration of the call (may be NULL when len is 0). */
typedef void (*write_done_cb)(void *data, int status, const char *body, size_t len);

struct write_transport {
    /* One asynchronous HTTP request. path is relative to the server
     * ("/apis/..."), body/content_type may be NULL. Returns 0 and calls
     * done exactly once later (never before returning), or returns a
     * negative errno and never calls done. All strings are copied or used
     * only before return. call may be NULL; otherwise *call identifies
     * the call for cancel until done runs. */
    int (*request)(void *ctx, const char *method, const char *path, const char *content_type,
                   const char *body, size_t len, write_done_cb done, void *data, void **call);
    /* No done after this; frees the transport's record of the call. May
     * be NULL (the caller then never cancels). */
    void (*cancel)(void *ctx, void *call);
    void *ctx;
};

#endif
