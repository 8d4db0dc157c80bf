/* struct write_transport over the kube client (kube/transport.h):
 * kube_request_ex with a record per call, listed in its context so that
 * a single call can be cancelled (no answer) or all of them (-ECANCELED);
 * the status is the HTTP code or the transport's negative errno. */
#include "kube/transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube/client.h"

#define DEFAULT_TIMEOUT_MS 5000

struct kube_tr_call {
    write_done_cb done;
    void *data;
    struct kube_ccall *cc;
    struct kube_tr_call *next, **pprev; /* in ctx->calls */
};

static void tr_unlink(struct kube_tr_call *c)
{
    if (c->pprev) {
        *c->pprev = c->next;
        if (c->next)
            c->next->pprev = c->pprev;
        c->pprev = NULL;
    }
}

static void tr_done(void *data, const struct kube_status *st, const char *body, size_t len)
{
    struct kube_tr_call *c = data;
    tr_unlink(c);
    int status = st->err ? st->err : (int)st->http;
    if (status == 0)
        status = -EIO;
    write_done_cb done = c->done;
    void *d = c->data;
    free(c);
    done(d, status, body, body ? len : 0);
}

static int tr_request(void *ctx, const char *method, const char *path, const char *content_type,
                      const char *body, size_t len, write_done_cb done, void *data, void **call)
{
    struct kube_transport *t = ctx;
    struct kube_tr_call *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->done = done;
    c->data = data;
    struct kube_req req = {.method = method, .path = path, .verb = kube_verb_of(method),
                           .content_type = content_type, .body = body, .body_len = len,
                           .timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : DEFAULT_TIMEOUT_MS};
    int rc = kube_request_ex(t->client, &req, tr_done, c, &c->cc);
    if (rc) {
        free(c);
        return rc;
    }
    c->next = t->calls;
    if (t->calls)
        t->calls->pprev = &c->next;
    c->pprev = &t->calls;
    t->calls = c;
    if (call)
        *call = c;
    return 0;
}

static void tr_cancel(void *ctx, void *call)
{
    struct kube_tr_call *c = call;
    (void)ctx;
    if (!c)
        return;
    tr_unlink(c);
    if (c->cc)
        kube_client_cancel(c->cc);
    free(c);
}

void kube_transport_cancel_all(struct kube_transport *t)
{
    while (t->calls) {
        struct kube_tr_call *c = t->calls;
        tr_unlink(c);
        if (c->cc)
            kube_client_cancel(c->cc);
        c->done(c->data, -ECANCELED, NULL, 0);
        free(c);
    }
}

struct write_transport kube_transport_get(struct kube_transport *t)
{
    struct write_transport w = {.request = tr_request, .cancel = tr_cancel, .ctx = t};
    return w;
}
