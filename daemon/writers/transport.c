/* struct writer_transport over the kube client: kube_request_ex with a
 * cancel handle per call; the status is the HTTP code or the transport's
 * negative errno, as for lease_transport. */
#include "writers/transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube/client.h"

#define WRITER_TIMEOUT_MS 10000

struct wk_call {
    lease_done_cb done;
    void *data;
    struct kube_ccall *cc;
};

static void wk_done(void *data, const struct kube_status *st, const char *body, size_t len)
{
    struct wk_call *c = data;
    int status = st->err ? st->err : (int)st->http;
    if (status == 0)
        status = -EIO;
    lease_done_cb done = c->done;
    void *d = c->data;
    free(c);
    done(d, status, body, body ? len : 0);
}

static int wk_request(void *ctx, const char *method, const char *path, const char *content_type,
                      const char *body, size_t len, lease_done_cb done, void *data, void **call)
{
    struct kube_client *client = ctx;
    struct wk_call *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->done = done;
    c->data = data;
    struct kube_req req = {.method = method, .path = path, .verb = kube_verb_of(method),
                           .content_type = content_type, .body = body, .body_len = len,
                           .timeout_ms = WRITER_TIMEOUT_MS};
    int rc = kube_request_ex(client, &req, wk_done, c, &c->cc);
    if (rc) {
        free(c);
        return rc;
    }
    *call = c;
    return 0;
}

static void wk_cancel(void *ctx, void *call)
{
    struct wk_call *c = call;
    (void)ctx;
    if (!c)
        return;
    if (c->cc)
        kube_client_cancel(c->cc);
    free(c);
}

struct writer_transport writer_transport_kube(struct kube_client *c)
{
    struct writer_transport t = {.request = wk_request, .cancel = wk_cancel, .ctx = c};
    return t;
}
