/* libcurl multi on libuv (http.h), after curl's docs/examples/multi-uv.c:
 * one uv_timer_t for CURLMOPT_TIMERFUNCTION, a uv_poll_t per socket from
 * CURLMOPT_SOCKETFUNCTION, completions routed by CURLOPT_PRIVATE. New
 * requests and cancellations inside curl callbacks are deferred to a
 * "kick" timer, since libcurl forbids re-entering the multi handle. */
#include "kube/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "abc_version.h"
#include "metrics/metrics.h"
#include "kube/kubeconfig.h"
#include "util/clock.h"
#include "util/container.h"
#include "util/log.h"

#define ERR_BODY_MAX (64u << 10)

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct kube_http *h;
    struct sock_ctx *next; /* live list */
};

struct kube_call {
    struct kube_http *h;
    struct kube_call *prev, *next; /* h->calls */
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *connect_to;
    kube_chunk_cb on_chunk;
    kube_done_cb on_done;
    void *data;
    char verb[16];
    bool watch;
    bool error_bodies;
    bool no_metrics;
    bool external;  /* req->url: not the API server (no health bookkeeping) */
    bool added;     /* in the multi handle */
    bool cancelled; /* no more callbacks; remove on the next kick */
    bool stopped;   /* chunk callback asked to stop */
    bool paused;    /* chunk callback asked to hold the transfer */
    bool resume;    /* kube_http_resume called: unpause on the next kick */
    bool first;     /* first body byte seen */
    bool headers_done; /* final response headers seen */
    bool code_ok;      /* ... with a 2xx status */
    long code;
    int retry_after;
    uint64_t t0;    /* uv_hrtime at start */
    char *errbody;
    size_t errlen;
    char errbuf[CURL_ERROR_SIZE];
};

struct kube_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* CURLMOPT_TIMERFUNCTION */
    uv_timer_t kick;  /* deferred adds and removals */
    const struct kube_config *cfg;
    char *base;       /* URL prefix, host replaced by tls-server-name if set */
    char *connect_to; /* "tlsname:port:host:port" or NULL */
    char ua[256];
    struct kube_call *calls;
    struct sock_ctx *socks;
    int in_curl;      /* depth of curl_multi_socket_action calls */
    int pending_closes;
    bool closing;
    kube_close_cb close_cb;
    void *close_data;
    int64_t last_success_ms;
    struct metric_family *m_requests;
    struct metric_family *m_duration;
};

static void check_info(struct kube_http *h);
static void kick(struct kube_http *h);

static void record_success(struct kube_http *h)
{
    h->last_success_ms = clock_mono_ms();
}

static void observe_duration(struct kube_call *c)
{
    if (!c->h->m_duration || c->no_metrics)
        return;
    const char *lv[] = {c->verb};
    metric_observe(c->h->m_duration, lv, (double)(uv_hrtime() - c->t0) / 1e9);
}

/* One aks_backup_apiserver_requests_total increment; code 0 = "error"
 * (no response). */
static void count_request(struct kube_call *c, long code)
{
    if (!c->h->m_requests || c->no_metrics)
        return;
    char cs[16] = "error";
    if (code > 0)
        snprintf(cs, sizeof(cs), "%ld", code);
    const char *lv[] = {c->verb, cs};
    metric_add(c->h->m_requests, lv, 1);
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *userp)
{
    struct kube_call *c = userp;
    size_t n = size * nmemb;
    if (c->cancelled || c->stopped)
        return 0;
    if (!c->first) {
        c->first = true;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->code);
    }
    bool ok = c->code >= 200 && c->code < 300;
    if (ok && !c->external)
        record_success(c->h);
    if (ok || c->error_bodies) {
        int rc = c->on_chunk && n > 0 ? c->on_chunk(c->data, p, n) : 0;
        if (rc == KUBE_CHUNK_PAUSE || rc == KUBE_CHUNK_YIELD) { /* libcurl delivers p again on unpause */
            c->paused = rc == KUBE_CHUNK_PAUSE;
            if ((c->resume = !c->paused))
                kick(c->h);
            return CURL_WRITEFUNC_PAUSE;
        }
        if (rc != 0) {
            c->stopped = true;
            return 0;
        }
        if (ok)
            return n;
    }
    if (c->errlen < ERR_BODY_MAX) {
        size_t take = n < ERR_BODY_MAX - c->errlen ? n : ERR_BODY_MAX - c->errlen;
        char *nb = realloc(c->errbody, c->errlen + take + 1);
        if (nb) {
            memcpy(nb + c->errlen, p, take);
            c->errlen += take;
            nb[c->errlen] = '\0';
            c->errbody = nb;
        }
    }
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *userp)
{
    struct kube_call *c = userp;
    size_t n = size * nmemb;
    if (n <= 2 && !c->headers_done) { /* end of a header block */
        long code = 0;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) { /* not a 1xx interim answer */
            c->headers_done = true;
            c->code_ok = code < 300;
            if (c->code_ok && !c->external)
                record_success(c->h);
            /* A watch is counted once, when its answer arrives (as
             * client-go does), not when it ends minutes later: the
             * request counter and the duration (time to first byte)
             * together, so both always agree. */
            if (c->watch) {
                count_request(c, code);
                observe_duration(c);
            }
        }
        return n;
    }
    if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char tmp[32];
        size_t l = n - 12 < sizeof(tmp) - 1 ? n - 12 : sizeof(tmp) - 1;
        memcpy(tmp, p + 12, l);
        tmp[l] = '\0';
        char *end;
        long v = strtol(tmp, &end, 10);
        if (end != tmp && v >= 0 && v < 86400)
            c->retry_after = (int)v;
    }
    return n;
}

/* ---- socket and timer plumbing ---- */

/* One inner handle closed; h is freed after the last one once closing. */
static void close_done(struct kube_http *h)
{
    if (--h->pending_closes > 0 || !h->closing)
        return;
    kube_close_cb cb = h->close_cb;
    void *d = h->close_data;
    free(h->base);
    free(h->connect_to);
    free(h);
    if (cb)
        cb(d);
}

static void on_poll_closed(uv_handle_t *hd)
{
    struct sock_ctx *s = container_of((uv_poll_t *)hd, struct sock_ctx, poll);
    struct kube_http *h = s->h;
    free(s);
    close_done(h);
}

static void sock_close(struct kube_http *h, struct sock_ctx *s)
{
    for (struct sock_ctx **pp = &h->socks; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    uv_poll_stop(&s->poll);
    h->pending_closes++;
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
}

static void socket_action(struct kube_http *h, curl_socket_t fd, int flags)
{
    int running;
    h->in_curl++;
    CURLMcode mc = curl_multi_socket_action(h->multi, fd, flags, &running);
    h->in_curl--;
    if (mc != CURLM_OK)
        log_kv(LOG_ERROR, "curl_multi_socket_action failed", "error", curl_multi_strerror(mc), NULL);
    check_info(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *s = container_of(p, struct sock_ctx, poll);
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    socket_action(s->h, s->fd, flags); /* s may be closed from here on */
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct kube_http *h = userp;
    struct sock_ctx *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(h->multi, fd, NULL);
            sock_close(h, s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->fd = fd;
        s->h = h;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->next = h->socks;
        h->socks = s;
        CURLMcode mc = curl_multi_assign(h->multi, fd, s);
        if (mc != CURLM_OK) {
            sock_close(h, s);
            return -1;
        }
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    struct kube_http *h = container_of(t, struct kube_http, timer);
    socket_action(h, CURL_SOCKET_TIMEOUT, 0);
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
    struct kube_http *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- calls ---- */

static void call_unlink(struct kube_call *c)
{
    struct kube_http *h = c->h;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* Unpauses c. libcurl may deliver the held chunk from inside
 * curl_easy_pause: counted as inside curl, so that cancels from there are
 * deferred. A refused chunk (the callback stopped) ends the call with
 * -ECANCELED. */
static void unpause(struct kube_call *c)
{
    c->resume = c->paused = false;
    c->h->in_curl++;
    CURLcode rc = curl_easy_pause(c->easy, CURLPAUSE_CONT);
    c->h->in_curl--;
    if (rc != CURLE_OK && !c->paused)
        c->stopped = true;
}

static void call_free(struct kube_call *c)
{
    if (c->easy) {
        /* A held chunk may outlive a removed handle whose HTTP/2 connection
         * carries other streams (libcurl 7.88): unpaused while cancelled,
         * it is refused by on_write and freed by libcurl. */
        if (c->added && (c->paused || c->resume)) {
            c->cancelled = true;
            unpause(c);
        }
        if (c->added) {
            CURLMcode mc = curl_multi_remove_handle(c->h->multi, c->easy);
            if (mc != CURLM_OK)
                log_kv(LOG_WARN, "curl_multi_remove_handle failed", "error", curl_multi_strerror(mc), NULL);
        }
        curl_easy_cleanup(c->easy);
    }
    curl_slist_free_all(c->headers);
    curl_slist_free_all(c->connect_to);
    free(c->errbody);
    free(c);
}

static void call_finish(struct kube_call *c, CURLcode rc)
{
    struct kube_http *h = c->h;
    struct kube_status st = {.err = 0, .http = 0, .retry_after = c->retry_after};
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &st.http);
    if (c->stopped && (rc == CURLE_WRITE_ERROR || rc == CURLE_OK)) {
        /* CURLE_OK: the consumer refused the chunk held by a pause, and
         * nothing came after it */
        st.err = -ECANCELED;
        snprintf(st.reason, sizeof(st.reason), "stopped by the consumer");
    } else if (rc == CURLE_OK) {
        if (st.http >= 200 && st.http < 300 && !c->external)
            record_success(h);
        else
            kube_status_from_body(&st, c->errbody);
    } else {
        st.err = kube_status_errno_of_curl((int)rc);
        snprintf(st.reason, sizeof(st.reason), "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
        size_t l = strlen(st.reason);
        while (l > 0 && st.reason[l - 1] == '\n')
            st.reason[--l] = '\0';
    }
    if (!c->watch || !c->headers_done) { /* a watch with an answer was counted then */
        count_request(c, st.http);
        observe_duration(c);
    }
    kube_done_cb cb = c->on_done;
    void *data = c->data;
    call_unlink(c);
    call_free(c);
    if (cb)
        cb(data, &st);
}

static void check_info(struct kube_http *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct kube_call *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        CURLcode rc = msg->data.result;
        if (!c)
            continue;
        if (c->cancelled) {
            call_unlink(c);
            call_free(c);
            continue;
        }
        call_finish(c, rc);
        if (h->closing)
            return;
    }
}

/* Deferred work, in order: cancelled calls freed, new calls added and
 * started at once (their requests go out now where a connection is ready),
 * then paused calls resumed. */
static void on_kick(uv_timer_t *t)
{
    struct kube_http *h = container_of(t, struct kube_http, kick);
    struct kube_call *c = h->calls;
    bool added = false, resume = false;
    while (c && !h->closing) {
        struct kube_call *next = c->next;
        resume |= c->resume;
        if (c->cancelled) {
            call_unlink(c);
            call_free(c);
        } else if (!c->added) {
            CURLMcode mc = curl_multi_add_handle(h->multi, c->easy);
            if (mc != CURLM_OK) {
                struct kube_status st = {.err = -ENOMEM, .retry_after = -1};
                snprintf(st.reason, sizeof(st.reason), "%s", curl_multi_strerror(mc));
                kube_done_cb cb = c->on_done;
                void *data = c->data;
                call_unlink(c);
                call_free(c);
                if (cb)
                    cb(data, &st);
                /* The callback may have cancelled (freed) next, started new
                 * calls or closed h: start over from the head. Calls done
                 * above are added or gone, so this ends. */
                next = h->calls;
            } else {
                c->added = true;
                added = true;
            }
        }
        c = next;
    }
    if (added && !h->closing)
        socket_action(h, CURL_SOCKET_TIMEOUT, 0);
    for (c = h->calls; c && resume && !h->closing; c = c->next)
        if (c->resume && c->added && !c->cancelled)
            unpause(c); /* its callbacks may start calls (at the head) but free none */
}

static void kick(struct kube_http *h)
{
    if (!uv_is_active((uv_handle_t *)&h->kick))
        uv_timer_start(&h->kick, on_kick, 0, 0);
}

static int add_header(struct curl_slist **l, const char *hdr)
{
    struct curl_slist *n = curl_slist_append(*l, hdr);
    if (!n)
        return -ENOMEM;
    *l = n;
    return 0;
}

int kube_http_start(struct kube_http *h, const struct kube_req *req, kube_chunk_cb on_chunk,
                    kube_done_cb on_done, void *data, struct kube_call **out)
{
    if (h->closing)
        return -ESHUTDOWN;
    struct kube_call *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->h = h;
    c->on_chunk = on_chunk;
    c->on_done = on_done;
    c->data = data;
    c->watch = req->watch;
    c->error_bodies = req->error_bodies;
    c->no_metrics = req->no_metrics;
    c->external = req->url != NULL;
    c->retry_after = -1;
    c->t0 = uv_hrtime();
    snprintf(c->verb, sizeof(c->verb), "%s", req->verb ? req->verb : "get");
    c->easy = curl_easy_init();
    if (!c->easy)
        goto nomem;
    const char *path = req->path ? req->path : "";
    size_t ul = (req->url ? strlen(req->url) : strlen(h->base) + strlen(path)) + 1;
    char *url = malloc(ul);
    if (!url)
        goto nomem;
    snprintf(url, ul, "%s%s", req->url ? req->url : h->base, req->url ? "" : path);
    CURL *e = c->easy;
    CURLcode rc = curl_easy_setopt(e, CURLOPT_URL, url);
    free(url);
    if (rc != CURLE_OK)
        goto nomem;
    const struct kube_config *cfg = h->cfg;
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_USERAGENT, h->ua);
    /* HTTP/2 over TLS when the server offers it by ALPN (every request a
     * stream of one multiplexed connection), unless forced to HTTP/1.1 */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     cfg->http1_only ? (long)CURL_HTTP_VERSION_1_1 : (long)CURL_HTTP_VERSION_2TLS);
    /* Requests started together (every list at start, the watches after a
     * GOAWAY) wait for the connection being set up rather than each
     * opening its own: one connection while the server's stream cap
     * allows, another only when it is full. */
    /* Only over TLS, where HTTP/2 can be offered: over plain http:// the
     * connection is HTTP/1.1, and requests started together (the streaming
     * lists at start) all waited on the first one, a watch that never ends,
     * until the 10 s initial-events fallback. */
    if (!cfg->http1_only && strncmp(h->base, "https://", 8) == 0)
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (req->raw_gzip)
        curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 15L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    if (!req->watch)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 60000L);
    if (req->url && req->ca_file && *req->ca_file) { /* the extra CA beside the system's */
        curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, "/etc/ssl/certs");
    } else if (cfg->insecure && !req->url) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (cfg->ca_pem && !req->url) {
        struct curl_blob b = {.data = cfg->ca_pem, .len = cfg->ca_len, .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    }
    if (cfg->cert_pem && cfg->key_pem && !req->url) {
        struct curl_blob cb = {.data = cfg->cert_pem, .len = cfg->cert_len, .flags = CURL_BLOB_NOCOPY};
        struct curl_blob kb = {.data = cfg->key_pem, .len = cfg->key_len, .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (h->connect_to && !req->url) {
        c->connect_to = curl_slist_append(NULL, h->connect_to);
        if (!c->connect_to)
            goto nomem;
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, c->connect_to);
    }
    struct curl_slist *hdrs = NULL;
    if (add_header(&hdrs, "Accept: application/json"))
        goto nomem_h;
    if (req->bearer && *req->bearer) {
        size_t bl = strlen(req->bearer) + 32;
        char *auth = malloc(bl);
        if (!auth)
            goto nomem_h;
        snprintf(auth, bl, "Authorization: Bearer %s", req->bearer);
        int arc = add_header(&hdrs, auth);
        memset(auth, 0, bl);
        free(auth);
        if (arc)
            goto nomem_h;
    }
    for (const char *const *xh = req->headers; xh && *xh; xh++)
        if (add_header(&hdrs, *xh))
            goto nomem_h;
    if (req->content_type) {
        char ct[160];
        snprintf(ct, sizeof(ct), "Content-Type: %s", req->content_type);
        if (add_header(&hdrs, ct))
            goto nomem_h;
    }
    const char *m = req->method ? req->method : "GET";
    if (req->body || strcmp(m, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
    }
    if (strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    if (add_header(&hdrs, "Expect:"))
        goto nomem_h;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    c->headers = hdrs;
    c->next = h->calls;
    if (h->calls)
        h->calls->prev = c;
    h->calls = c;
    if (out)
        *out = c;
    kick(h);
    return 0;
nomem_h:
    curl_slist_free_all(hdrs);
nomem:
    call_free(c);
    return -ENOMEM;
}

void kube_http_cancel(struct kube_call *c)
{
    if (!c || c->cancelled)
        return;
    struct kube_http *h = c->h;
    c->cancelled = true;
    if (!c->added || h->in_curl == 0) {
        call_unlink(c);
        call_free(c);
        return;
    }
    kick(h); /* inside a curl callback: remove on the next turn */
}

void kube_http_resume(struct kube_call *c)
{
    if (!c || c->cancelled || !c->paused)
        return;
    c->paused = false;
    c->resume = true;
    kick(c->h);
}

int64_t kube_http_last_success_ms(const struct kube_http *h)
{
    /* An open watch that was answered 2xx is a live, authenticated
     * connection even while the resource is quiet: the reflector tears
     * it down after its silence limit, so it counts as success now. */
    for (const struct kube_call *c = h->calls; c; c = c->next)
        if (c->watch && !c->cancelled && c->headers_done && c->code_ok)
            return clock_mono_ms();
    return h->last_success_ms;
}

size_t kube_http_active(const struct kube_http *h)
{
    size_t n = 0;
    for (const struct kube_call *c = h->calls; c; c = c->next)
        n += !c->cancelled;
    return n;
}

int kube_http_set_user_agent_suffix(struct kube_http *h, const char *suffix)
{
    int n = snprintf(h->ua, sizeof(h->ua), "aks-backup-companion/%s%s%s", ABC_VERSION,
                     suffix && *suffix ? " " : "", suffix ? suffix : "");
    return n < 0 || (size_t)n >= sizeof(h->ua) ? -E2BIG : 0;
}

/* Base URL; with tls-server-name the host becomes that name and
 * CURLOPT_CONNECT_TO sends the connection to the real host, so the
 * certificate is verified against the name (client-go's ServerName). */
static int setup_base(struct kube_http *h, const struct kube_config *cfg)
{
    if (!cfg->tls_server_name || !*cfg->tls_server_name) {
        h->base = strdup(cfg->server);
        return h->base ? 0 : -ENOMEM;
    }
    CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    char *host = NULL, *port = NULL, *full = NULL;
    int rc = -EINVAL;
    if (curl_url_set(u, CURLUPART_URL, cfg->server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    if (curl_url_set(u, CURLUPART_HOST, cfg->tls_server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK)
        goto out;
    size_t l = strlen(full);
    while (l > 0 && full[l - 1] == '/')
        full[--l] = '\0';
    size_t cl = strlen(cfg->tls_server_name) + strlen(host) + 2 * strlen(port) + 4;
    h->connect_to = malloc(cl);
    h->base = strdup(full);
    if (!h->connect_to || !h->base) {
        rc = -ENOMEM;
        goto out;
    }
    snprintf(h->connect_to, cl, "%s:%s:%s:%s", cfg->tls_server_name, port, host, port);
    rc = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(full);
    curl_url_cleanup(u);
    return rc;
}

int kube_http_new(uv_loop_t *loop, const struct kube_config *cfg, struct metrics *m,
                  struct kube_http **out)
{
    static bool global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return -ENOMEM;
        global_done = true;
    }
    if (!cfg->server)
        return -EINVAL;
    struct kube_http *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->loop = loop;
    h->cfg = cfg;
    int rc = setup_base(h, cfg);
    if (rc != 0) {
        free(h->base);
        free(h->connect_to);
        free(h);
        return rc;
    }
    kube_http_set_user_agent_suffix(h, NULL);
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h->base);
        free(h->connect_to);
        free(h);
        return -ENOMEM;
    }
    uv_timer_init(loop, &h->timer);
    uv_timer_init(loop, &h->kick);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    if (m) {
        static const char *const rl[] = {"verb", "code"};
        static const char *const dl[] = {"verb"};
        static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
        h->m_requests = metrics_family(m, "aks_backup_apiserver_requests_total", METRIC_COUNTER,
                                       METRIC_SCOPE_PROCESS,
                                       "Requests to the Kubernetes API server by verb and HTTP code.",
                                       2, rl, NULL, 0);
        h->m_duration = metrics_family(
            m, "aks_backup_apiserver_request_duration_seconds", METRIC_HISTOGRAM,
            METRIC_SCOPE_PROCESS,
            "Duration of Kubernetes API requests in seconds (watches: time to first byte).", 1, dl,
            buckets, sizeof(buckets) / sizeof(buckets[0]));
    }
    if (cfg->insecure && strncmp(cfg->server, "https:", 6) == 0)
        log_kv(LOG_WARN, "TLS verification of the API server is disabled (insecure-skip-tls-verify)",
               "server", cfg->server, NULL);
    *out = h;
    return 0;
}

static void on_timer_closed(uv_handle_t *hd)
{
    close_done(hd->data);
}

void kube_http_close(struct kube_http *h, kube_close_cb cb, void *data)
{
    if (h->closing)
        return;
    h->closing = true;
    h->close_cb = cb;
    h->close_data = data;
    while (h->calls) {
        struct kube_call *c = h->calls;
        call_unlink(c);
        call_free(c);
    }
    CURLMcode mc = curl_multi_cleanup(h->multi);
    if (mc != CURLM_OK)
        log_kv(LOG_WARN, "curl_multi_cleanup failed", "error", curl_multi_strerror(mc), NULL);
    h->multi = NULL;
    while (h->socks)
        sock_close(h, h->socks);
    h->timer.data = h;
    h->kick.data = h;
    h->pending_closes += 2;
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
    uv_close((uv_handle_t *)&h->kick, on_timer_closed);
}
