/* The daemon's own HTTP listener: libmicrohttpd driven from the libuv loop
 * (MHD epoll fd watched with a uv_poll_t, MHD's timeout with a uv_timer_t;
 * no MHD threads). Handlers run on the loop and answer at once, or defer
 * the answer (http_request_defer: the connection is suspended until
 * http_deferred_finish). Limits of
 * Limits: header <= 8 KiB (431), body <= 64 KiB (413), whole request within
 * read_timeout, at most max_connections (the rest closed at once).
 *
 * How the limits are enforced:
 *  - We accept() ourselves and close a connection at once when
 *    max_connections are open (MHD at its limit would stop accepting and
 *    leave clients queued in the kernel backlog).
 *  - MHD's connection timeout (= read_timeout) bounds idle time; a sweep
 *    every 250 ms additionally cuts a connection whose current request has
 *    not fully arrived read_timeout after it started (after the connection
 *    opened, or after the previous response on a keep-alive connection), so
 *    a client trickling bytes cannot hold a slot. Responses being sent are
 *    bounded by MHD's idle timeout only.
 *  - Header block > 8 KiB: 431 from us; beyond MHD's 32 KiB per-connection
 *    pool MHD itself answers 431 (414 when the request line alone is too
 *    long). Content-Length > 64 KiB: 413 before the body is read; a chunked
 *    body growing past 64 KiB: 413 at its end (closed after 1 MiB dropped).
 *  - Unknown method 501; known method not routed on a known path 405 with
 *    Allow; unknown path 404; "."/".." segments, bad or NUL %-escapes 400.
 *  - Per client address at most max_per_client connections (the rest
 *    closed at once); the header block within header_timeout_ms.
 *  - 400 for a folded (obs-fold) header line, an HTTP/1.1 request without
 *    Host (MHD strict mode) and over 100 query arguments (answered from
 *    the URI callback: MHD would fill its pool with them and stall).
 *  - gzip when the route allows it, the client accepts it and the body is
 *    over 1 KiB (Vary: Accept-Encoding whenever the route allows it). */
#ifndef ABC_HTTP_SERVER_H
#define ABC_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "util/buf.h"

struct http_server;

struct http_request {
    const char *method;  /* "GET", "POST", ... */
    const char *path;    /* decoded path, no query */
    const char *body;    /* NULL when none; not NUL-terminated-guaranteed */
    size_t body_len;
    void *conn;          /* opaque, for http_request_header/_query */
    void *priv;          /* opaque, the server's (http_request_defer) */
};
/* Borrowed until the handler returns; NULL when absent. Case-insensitive. */
const char *http_request_header(const struct http_request *req, const char *name);
/* Query argument; present-without-value ("?verbose") gives "". */
const char *http_request_query(const struct http_request *req, const char *name);
/* Calls cb for every value of a repeated query key (e.g. exclude=a&exclude=b). */
void http_request_query_all(const struct http_request *req, const char *name,
                            void (*cb)(void *data, const char *value), void *data);

/* A rendered body shared by several responses (concurrent /metrics
 * scrapes): refcounted, immutable once made; its gzip variant is made on
 * first use and shared as well. Freed when the last reference goes. */
struct http_body;
/* Called when the last reference goes, with the body's buffer (cap bytes
 * allocated): the owner may keep it for the next rendering, else frees
 * it. NULL = free(data). */
typedef void (*http_body_release_cb)(void *cls, struct http_body *b, char *data, size_t cap);
/* Takes data (malloc'ed, len bytes used of cap). NULL on ENOMEM (then
 * data is released through release as well). */
struct http_body *http_body_new(char *data, size_t len, size_t cap, http_body_release_cb release,
                                void *cls);
struct http_body *http_body_ref(struct http_body *b);
void http_body_unref(struct http_body *b);
/* The gzip variant of b, when asked for, comes from g (gzip_blocks.h:
 * blocks cut at cuts, copied here; unchanged blocks not compressed
 * again). g is borrowed: it must outlive b. 0 or -ENOMEM (then b is
 * gzip'ed whole, as without this call). */
struct gzip_blocks;
int http_body_set_gzip_blocks(struct http_body *b, struct gzip_blocks *g, const size_t *cuts,
                              size_t ncuts);
/* References held (the owner's weak pointer excluded). */
unsigned http_body_refs(const struct http_body *b);
/* Bodies alive now (tests). */
unsigned long http_body_live(void);

struct http_response {
    int status;                /* default 200 */
    const char *content_type;  /* static string; default text/plain; charset=utf-8 */
    struct buf body;           /* handler appends */
    struct http_body *shared;  /* when set, sent instead of body (one reference taken) */
    char extra_headers[512];   /* "Name: value\r\n" lines, e.g. Retry-After */
    bool allow_gzip;           /* compress when the client accepts gzip */
};
/* Appends "name: value" to extra_headers. -EINVAL on CR/LF (or ':' in the
 * name), -E2BIG when extra_headers is full. */
int http_response_header(struct http_response *resp, const char *name, const char *value);

/* Runs on the loop once the whole request (body included) has arrived.
 * resp arrives with status 200, an empty body and no extra headers; the
 * server sends and frees resp->body after the handler returns. */
typedef void (*http_handler_cb)(void *data, const struct http_request *req,
                                struct http_response *resp);

/* ---- deferred answers ----
 * A handler that can only answer later (e.g. once a write landed) calls
 * http_request_defer and returns; what it put in resp is then discarded.
 * The connection is suspended (MHD_suspend_connection: no reads, no idle
 * timeout) until the owner of the handle calls http_deferred_finish,
 * exactly once, from the loop; the answer then goes out like any other.
 * A client that disconnects meanwhile is noticed only then (the answer is
 * dropped; d stays valid until finished). When the server closes first,
 * cancel fires instead (see below) and the client gets a 503. */
struct http_deferred;

/* The server is closing (http_server_close) or MHD ended the request
 * before the answer: resp arrives as 503 with Retry-After: 1 and the JSON
 * body {"error":"shutting_down",...}; the callback may replace it (it is
 * sent when the connection can still take it). d is freed after the
 * callback returns: never finish it. The callback may finish other
 * deferred handles. */
typedef void (*http_deferred_cancel_cb)(void *data, struct http_response *resp);

/* Only from inside a handler, at most once per request; cancel may be
 * NULL. Returns the handle, or NULL (ENOMEM, called twice / outside a
 * handler, or the server is closing): then answer through resp as usual. */
struct http_deferred *http_request_defer(const struct http_request *req,
                                         http_deferred_cancel_cb cancel, void *data);
/* Answers the deferred request with resp (status, content type, extra
 * headers, gzip flag; its body is taken, resp->body is left empty) and
 * frees d. Also allowed from inside the handler that deferred. */
void http_deferred_finish(struct http_deferred *d, struct http_response *resp);
/* A response as handlers receive it: status 200, empty body, no headers. */
void http_response_init(struct http_response *resp);
/* Requests waiting for their deferred answer (tests). */
unsigned http_server_deferred_count(const struct http_server *s);

struct http_server_opts {
    const char *listen;          /* "HOST:PORT"; port 0 = pick one */
    unsigned max_connections;    /* default 64 */
    unsigned read_timeout_s;     /* default 10 */
    unsigned max_per_client;     /* per client address; 0 = no cap */
    /* The request line and headers must arrive within this (also the idle
     * time allowed between keep-alive requests); 0 = min(read_timeout,
     * 5 s). */
    unsigned header_timeout_ms;
    /* PEM text of a certificate chain and its key: both set = HTTPS. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
    const char *name;            /* for logs: "http" (default) or "health" */
};
/* Whether this libmicrohttpd can serve HTTPS. */
bool http_server_tls_supported(void);

/* _init does no I/O; _start binds and listens (0 / negative errno, with a
 * log-worthy message in err). */
int http_server_init(struct http_server **out, uv_loop_t *loop);
/* Exact path, or prefix when path ends in '/' ("/readyz/" → "/readyz/x").
 * method NULL = any method (the handler decides). Registration order wins. */
int http_server_route(struct http_server *s, const char *method, const char *path,
                      http_handler_cb cb, void *data);
int http_server_start(struct http_server *s, const struct http_server_opts *o,
                      char *err, size_t errlen);
int http_server_port(const struct http_server *s);  /* bound port */
/* "HOST:PORT" actually bound ("[::]:8080" for IPv6); "" before _start.
 * Owned by s. */
const char *http_server_listen_addr(const struct http_server *s);
/* Connections closed at once because max_connections were open. */
unsigned long http_server_rejected(const struct http_server *s);
/* Stops accepting and closes connections; close_cb (may be NULL) fires from
 * the loop, never before return, once every handle is closed; the server is
 * freed just before it. Requests with a deferred answer pending get their
 * cancel callback and a 503 first (pushed out before the close, unless
 * called from inside a handler). Call exactly once after a successful
 * _init, also when _start failed (it releases what _start made) and from
 * inside a handler (the response of that request may not be sent). Do not
 * close the loop's handles with uv_walk instead. */
void http_server_close(struct http_server *s, void (*close_cb)(void *data), void *data);

#endif
