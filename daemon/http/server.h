/* The daemon's own HTTP listener: libmicrohttpd driven from the libuv loop
 * (MHD epoll fd watched with a uv_poll_t, MHD's timeout with a uv_timer_t;
 * no MHD threads). Handlers are synchronous and run on the loop. Limits of
 * SPEC §8: header <= 8 KiB (431), body <= 64 KiB (413), whole request within
 * read_timeout, at most max_connections (the rest closed at once). */
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
};
/* Borrowed until the handler returns; NULL when absent. Case-insensitive. */
const char *http_request_header(const struct http_request *req, const char *name);
/* Query argument; present-without-value ("?verbose") gives "". */
const char *http_request_query(const struct http_request *req, const char *name);
/* Calls cb for every value of a repeated query key (e.g. exclude=a&exclude=b). */
void http_request_query_all(const struct http_request *req, const char *name,
                            void (*cb)(void *data, const char *value), void *data);

struct http_response {
    int status;                /* default 200 */
    const char *content_type;  /* static string; default text/plain; charset=utf-8 */
    struct buf body;           /* handler appends */
    char extra_headers[512];   /* "Name: value\r\n" lines, e.g. Retry-After */
    bool allow_gzip;           /* compress when the client accepts gzip */
};
int http_response_header(struct http_response *resp, const char *name, const char *value);

typedef void (*http_handler_cb)(void *data, const struct http_request *req,
                                struct http_response *resp);

struct http_server_opts {
    const char *listen;          /* "HOST:PORT"; port 0 = pick one */
    unsigned max_connections;    /* default 64 */
    unsigned read_timeout_s;     /* default 10 */
};

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
/* Stops accepting and closes connections; close_cb fires when every handle
 * is closed, then the server is freed. */
void http_server_close(struct http_server *s, void (*close_cb)(void *data), void *data);

#endif
