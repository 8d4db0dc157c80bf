/* Responses of the daemon's HTTP listener (building the MHD response:
 * content type, Vary, gzip, extra headers) and deferred answers: a request
 * suspended in MHD until its owner finishes it, answered 503 when the
 * server closes first. See server.h. */
#include "http/server_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/gzip_blocks.h"
#include "http/http_util.h"

/* ---- shared bodies ---- */

struct http_body {
    unsigned refs;
    char *data;
    size_t len, cap;
    char *gz;               /* gzip variant, made on first use */
    size_t gzlen;
    bool gz_tried;
    struct gzip_blocks *gzb; /* when set, the gzip variant is made there */
    size_t *cuts;
    size_t ncuts;
    http_body_release_cb release;
    void *cls;
};

static unsigned long g_bodies;

struct http_body *http_body_new(char *data, size_t len, size_t cap, http_body_release_cb release,
                                void *cls)
{
    struct http_body *b = calloc(1, sizeof(*b));
    if (!b) {
        if (release)
            release(cls, NULL, data, cap);
        else
            free(data);
        return NULL;
    }
    *b = (struct http_body){.refs = 1, .data = data, .len = len, .cap = cap,
                            .release = release, .cls = cls};
    g_bodies++;
    return b;
}

struct http_body *http_body_ref(struct http_body *b)
{
    if (b)
        b->refs++;
    return b;
}

void http_body_unref(struct http_body *b)
{
    if (!b || --b->refs)
        return;
    if (b->release)
        b->release(b->cls, b, b->data, b->cap);
    else
        free(b->data);
    free(b->gz);
    free(b->cuts);
    free(b);
    g_bodies--;
}

int http_body_set_gzip_blocks(struct http_body *b, struct gzip_blocks *g, const size_t *cuts,
                              size_t ncuts)
{
    size_t *c = malloc((ncuts ? ncuts : 1) * sizeof(*c));
    if (!c)
        return -ENOMEM;
    if (ncuts)
        memcpy(c, cuts, ncuts * sizeof(*c));
    free(b->cuts);
    b->cuts = c;
    b->ncuts = ncuts;
    b->gzb = g;
    return 0;
}

unsigned http_body_refs(const struct http_body *b)
{
    return b ? b->refs : 0;
}

unsigned long http_body_live(void)
{
    return g_bodies;
}

static void body_free_cb(void *cls)
{
    http_body_unref(cls);
}

void http__response_clear(struct http_response *resp)
{
    buf_free(&resp->body);
    http_body_unref(resp->shared);
    resp->shared = NULL;
}

/* ---- responses ---- */

static void add_extra_headers(struct MHD_Response *r, char *lines)
{
    char *p = lines;
    while (*p) {
        char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        *eol = '\0';
        char *colon = strchr(p, ':');
        if (colon) {
            *colon = '\0';
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            MHD_add_response_header(r, p, v);
        }
        p = eol + 2;
    }
}

static enum MHD_Result queue_response(struct MHD_Connection *mc, struct http_response *resp,
                                      struct MHD_Response *r, bool gz);

static struct MHD_Response *shared_response(struct MHD_Connection *mc,
                                            struct http_response *resp, bool *gz)
{
    struct http_body *b = resp->shared;
    resp->shared = NULL;
    buf_free(&resp->body);
    const char *data = b->data ? b->data : "";
    size_t len = b->len;
    if (resp->allow_gzip && len > HTTP_GZIP_MIN &&
        http_accepts_gzip(MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_ACCEPT_ENCODING))) {
        if (!b->gz_tried) {
            b->gz_tried = true;
            int rc = b->gzb ? gzip_blocks_run(b->gzb, b->data, b->len, b->cuts, b->ncuts,
                                              &b->gz, &b->gzlen)
                            : http_gzip(b->data, b->len, &b->gz, &b->gzlen);
            if (rc) {
                b->gz = NULL;
                b->gzlen = 0;
            }
        }
        if (b->gz) {
            data = b->gz;
            len = b->gzlen;
            *gz = true;
        }
    }
    /* The response holds the reference resp had; MHD drops it once the
     * response is destroyed (sent, or the connection closed). */
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback_cls(len, (void *)(uintptr_t)data,
                                                               body_free_cb, b);
    if (!r)
        http_body_unref(b);
    return r;
}

enum MHD_Result http__send_response(struct MHD_Connection *mc, struct http_response *resp)
{
    if (resp->shared) {
        bool gz = false;
        struct MHD_Response *r = shared_response(mc, resp, &gz);
        if (!r)
            return MHD_NO;
        return queue_response(mc, resp, r, gz);
    }
    size_t len = 0;
    char *data = buf_take(&resp->body, &len);
    bool gz = false;
    if (resp->allow_gzip && len > HTTP_GZIP_MIN &&
        http_accepts_gzip(MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_ACCEPT_ENCODING))) {
        char *z = NULL;
        size_t zlen = 0;
        if (http_gzip(data, len, &z, &zlen) == 0) {
            free(data);
            data = z;
            len = zlen;
            gz = true;
        }
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data ? data : "",
                                                              data ? MHD_RESPMEM_MUST_FREE
                                                                   : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    return queue_response(mc, resp, r, gz);
}

static enum MHD_Result queue_response(struct MHD_Connection *mc, struct http_response *resp,
                                      struct MHD_Response *r, bool gz)
{
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type
                                               : "text/plain; charset=utf-8");
    if (resp->allow_gzip)
        MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    if (gz)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    add_extra_headers(r, resp->extra_headers);
    enum MHD_Result ret = MHD_queue_response(mc, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- deferred answers ---- */

void http_response_init(struct http_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = 200;
    buf_init(&resp->body, 0);
}

unsigned http_server_deferred_count(const struct http_server *s)
{
    return s->ndeferred;
}

struct http_deferred *http_request_defer(const struct http_request *req,
                                         http_deferred_cancel_cb cancel, void *data)
{
    struct req *rq = req ? req->priv : NULL;
    if (!rq || rq->d || rq->have_later || rq->suspended || rq->s->closing || rq->s->draining)
        return NULL;
    struct http_deferred *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->s = rq->s;
    d->mc = req->conn;
    d->rq = rq;
    d->cancel = cancel;
    d->data = data;
    d->next = d->s->deferred;
    if (d->next)
        d->next->prev = d;
    d->s->deferred = d;
    d->s->ndeferred++;
    rq->d = d;
    return d;
}

static void unlink_deferred(struct http_deferred *d)
{
    struct http_server *s = d->s;
    if (d->prev)
        d->prev->next = d->next;
    else
        s->deferred = d->next;
    if (d->next)
        d->next->prev = d->prev;
    s->ndeferred--;
    d->rq->d = NULL;
}

/* Stores the answer in the request and wakes its connection; frees d. */
static void settle(struct http_deferred *d, struct http_response *resp)
{
    struct req *rq = d->rq;
    struct http_server *s = d->s;
    struct MHD_Connection *mc = d->mc;
    unlink_deferred(d);
    free(d);
    rq->later = *resp;
    buf_init(&resp->body, 0);
    resp->shared = NULL;
    rq->have_later = true;
    if (!rq->suspended)
        return; /* still inside the handler: dispatch sends it */
    rq->suspended = false;
    MHD_resume_connection(mc);
    http__wake(s);
}

void http_deferred_finish(struct http_deferred *d, struct http_response *resp)
{
    if (d)
        settle(d, resp);
}

static void cancel_response(struct http_response *resp)
{
    http_response_init(resp);
    resp->status = 503;
    resp->content_type = "application/json";
    (void)http_response_header(resp, "Retry-After", "1");
    if (buf_adds(&resp->body, "{\"error\":\"shutting_down\",\"message\":\"the server is "
                              "shutting down before the request was completed; retry\"}\n"))
        buf_reset(&resp->body);
}

/* MHD ended a request whose answer is pending: tell the owner, forget d. */
void http__drop_deferred(struct http_deferred *d)
{
    struct http_response resp;
    cancel_response(&resp);
    unlink_deferred(d);
    if (d->cancel)
        d->cancel(d->data, &resp);
    buf_free(&resp.body);
    free(d);
}

void http__cancel_pending(struct http_server *s)
{
    /* The owner hears of it, the client gets a 503, pushed out now while
     * MHD still runs (a few passes: resume, the handler queues it, the
     * write). Not from inside MHD_run. A handler run meanwhile cannot
     * defer any more: it answers at once. */
    s->draining = true;
    while (s->deferred) {
        struct http_deferred *d = s->deferred;
        struct http_response resp;
        cancel_response(&resp);
        if (d->cancel)
            d->cancel(d->data, &resp); /* may finish other handles */
        settle(d, &resp);
        buf_free(&resp.body);
    }
    if (s->d && !s->in_run) {
        for (int i = 0; i < 4; i++)
            MHD_run(s->d);
    }
}
