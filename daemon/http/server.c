/* The daemon's HTTP listener: libmicrohttpd in external-epoll mode driven
 * from libuv, our own accept() for max_connections, a per-connection record
 * (MHD socket context) so a sweep can enforce the whole-request deadline,
 * the request limits (size, time, connections) before routing, and suspending requests whose answer
 * is deferred (responses and deferred answers: server_resp.c). See
 * server.h for the guarantees. */
#include "http/server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_util.h"
#include "util/clock.h"
#include "util/log.h"

#define HEADER_LIMIT (8 * 1024)
#define BODY_LIMIT (64 * 1024)
/* MHD's per-connection pool: holds the read buffer and parsed headers. Big
 * enough that an 8 KiB header block fits and we answer 431 ourselves for
 * anything between 8 KiB and this; MHD answers 431 beyond it. */
#define CONN_MEMORY_LIMIT (32 * 1024)
#define DISCARD_LIMIT (1024 * 1024)
#define SWEEP_MS 250
/* Query arguments a request may carry (the routes use one or two). */
#define QUERY_ARG_LIMIT 100

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* ---- request accessors ---- */

const char *http_request_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    const char *v = NULL;
    size_t vlen = 0;
    if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name),
                                      &v, &vlen) != MHD_YES)
        return NULL;
    return v ? v : "";
}

struct query_iter {
    const char *name;
    void (*cb)(void *data, const char *value);
    void *data;
};

static enum MHD_Result query_iter_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct query_iter *qi = cls;
    if (key && strcmp(key, qi->name) == 0)
        qi->cb(qi->data, value ? value : "");
    return MHD_YES;
}

void http_request_query_all(const struct http_request *req, const char *name,
                            void (*cb)(void *data, const char *value), void *data)
{
    struct query_iter qi = {name, cb, data};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_iter_cb, &qi);
}

int http_response_header(struct http_response *resp, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -EINVAL;
    size_t used = strlen(resp->extra_headers);
    int n = snprintf(resp->extra_headers + used, sizeof(resp->extra_headers) - used,
                     "%s: %s\r\n", name, value);
    if (n < 0 || (size_t)n >= sizeof(resp->extra_headers) - used) {
        resp->extra_headers[used] = '\0';
        return -E2BIG;
    }
    return 0;
}

/* ---- setup ---- */

int http_server_init(struct http_server **out, uv_loop_t *loop)
{
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->loop = loop;
    s->port = -1;
    s->listen_fd = -1;
    s->reserve_fd = -1;
    int rc = uv_timer_init(loop, &s->timer);
    if (rc) {
        free(s);
        return rc;
    }
    uv_timer_init(loop, &s->sweep);
    s->timer.data = s;
    s->sweep.data = s;
    *out = s;
    return 0;
}

int http_server_route(struct http_server *s, const char *method, const char *path,
                      http_handler_cb cb, void *data)
{
    if (s->nroutes == s->caproutes) {
        size_t ncap = s->caproutes ? s->caproutes * 2 : 16;
        struct route *p = realloc(s->routes, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        s->routes = p;
        s->caproutes = ncap;
    }
    struct route *r = &s->routes[s->nroutes];
    r->path = xstrdup(path);
    r->method = method ? xstrdup(method) : NULL;
    if (!r->path || (method && !r->method)) {
        free(r->path);
        free(r->method);
        return -ENOMEM;
    }
    r->plen = strlen(path);
    r->prefix = r->plen > 0 && path[r->plen - 1] == '/';
    r->cb = cb;
    r->data = data;
    s->nroutes++;
    return 0;
}

/* ---- MHD driving ---- */

static void run_mhd(struct http_server *s);

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

void http__wake(struct http_server *s)
{
    /* MHD's ITC makes its epoll fd readable too; the timer does not
     * depend on that. Inside MHD_run, run_mhd re-arms after it. */
    if (s->in_run)
        s->kick = true;
    else if (!s->closing)
        uv_timer_start(&s->timer, on_timer, 0, 0);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

static void run_mhd(struct http_server *s)
{
    if (s->closing || !s->d)
        return;
    s->in_run = true;
    MHD_run(s->d);
    s->in_run = false;
    if (s->closing)
        return; /* a handler closed the server; the timer is closing too */
    MHD_UNSIGNED_LONG_LONG to = 0;
    if (s->kick) {
        s->kick = false;
        uv_timer_start(&s->timer, on_timer, 0, 0); /* a resumed answer */
    } else if (MHD_get_timeout(s->d, &to) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, (uint64_t)to, 0);
    else
        uv_timer_stop(&s->timer);
}

/* We accept ourselves (MHD has no listen socket) because MHD, once at its
 * connection limit, stops polling the listen socket and lets the kernel
 * queue connections; an over-limit connection is closed at once instead. */
static void on_accept(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    struct http_server *s = p->data;
    if (s->closing)
        return;
    for (int i = 0; i < 256; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(s->listen_fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if ((errno == EMFILE || errno == ENFILE) && s->reserve_fd >= 0) {
                /* Out of descriptors: free the spare, shed one client. */
                close(s->reserve_fd);
                fd = accept(s->listen_fd, NULL, NULL);
                if (fd >= 0) {
                    close(fd);
                    s->rejected++;
                }
                s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                    break; /* backlog empty: Linux says EMFILE before EAGAIN */
                continue;
            }
            break; /* EAGAIN, or a transient error: next readiness */
        }
        if (s->nconns >= s->max_conns || (s->max_per_client && !http__client_take(s, &ss))) {
            close(fd);
            s->rejected++;
            continue;
        }
        /* On failure MHD has closed the socket already. Otherwise the
         * client's place is released when MHD reports the close. */
        if (MHD_add_connection(s->d, fd, (struct sockaddr *)&ss, sl) != MHD_YES &&
            s->max_per_client)
            http__client_release(s, &ss);
    }
    run_mhd(s);
}

/* Cuts connections whose request is still incomplete after read_timeout:
 * shutdown() makes the socket readable with EOF, so MHD notices on its next
 * run and closes and frees the connection itself. */
static void on_sweep(uv_timer_t *t)
{
    struct http_server *s = t->data;
    int64_t now = clock_mono_ms();
    int64_t limit = (int64_t)s->read_timeout_s * 1000;
    for (struct conn *c = s->conns; c; c = c->next) {
        int64_t lim = c->headers_done ? limit : (int64_t)s->header_ms;
        if (c->waiting && c->fd >= 0 && now - c->wait_start_ms > lim) {
            shutdown(c->fd, SHUT_RDWR);
            c->waiting = false;
        }
    }
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *c = calloc(1, sizeof(*c));
        const union MHD_ConnectionInfo *ai =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (!c) {
            if (s->max_per_client && ai && ai->client_addr) {
                struct sockaddr_storage ss = {0};
                memcpy(&ss, ai->client_addr, ai->client_addr->sa_family == AF_INET6
                                                 ? sizeof(struct sockaddr_in6)
                                                 : sizeof(struct sockaddr_in));
                http__client_release(s, &ss);
            }
            return;
        }
        c->s = s;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        if (ai && ai->client_addr) {
            c->alen = ai->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                             : sizeof(struct sockaddr_in);
            memcpy(&c->addr, ai->client_addr, c->alen);
            c->counted = s->max_per_client > 0;
        }
        c->wait_start_ms = clock_mono_ms();
        c->waiting = true;
        /* The sweep runs only while connections are open: an idle daemon
         * wakes up for nothing but its watchdog. */
        if (s->nconns++ == 0 && !uv_is_closing((uv_handle_t *)&s->sweep))
            uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        *socket_context = c;
        return;
    }
    struct conn *c = *socket_context;
    if (!c)
        return;
    if (--s->nconns == 0 && !uv_is_closing((uv_handle_t *)&s->sweep))
        uv_timer_stop(&s->sweep);
    if (c->counted)
        http__client_release(s, &c->addr);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->raw_uri);
    free(c);
    *socket_context = NULL;
}

static struct conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

#define BAD_QUERY_BODY "400 bad request: too many query arguments\n"
static const char BAD_QUERY_400[] =
    "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain; "
    "charset=utf-8\r\nContent-Length: 42\r\n\r\n" BAD_QUERY_BODY;
_Static_assert(sizeof(BAD_QUERY_BODY) - 1 == 42, "Content-Length of BAD_QUERY_400");

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    (void)cls;
    struct conn *c = conn_of(mc);
    if (c) {
        free(c->raw_uri);
        c->raw_uri = xstrdup(uri);
        if (http_query_arg_count(uri) > QUERY_ARG_LIMIT && c->fd >= 0) {
            /* libmicrohttpd would store every argument in the connection's
             * pool and, once it is full, stop without an answer: reject it
             * here, before the arguments are parsed (over TLS the socket
             * cannot be written to from here: closed). */
            if (!c->s->tls)
                (void)!send(c->fd, BAD_QUERY_400, sizeof(BAD_QUERY_400) - 1,
                            MSG_NOSIGNAL | MSG_DONTWAIT);
            shutdown(c->fd, SHUT_RDWR);
            c->waiting = false;
        }
    }
    return NULL;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    struct req *r = *con_cls;
    if (r) {
        if (r->d)
            http__drop_deferred(r->d); /* ended (error, daemon stop) before the answer */
        if (r->have_later)
            http__response_clear(&r->later);
        buf_free(&r->body);
        free(r);
        *con_cls = NULL;
    }
    /* Keep-alive: the next request must arrive within read_timeout too. */
    struct conn *c = conn_of(mc);
    if (c) {
        c->waiting = true;
        c->headers_done = false;
        c->wait_start_ms = clock_mono_ms();
    }
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_kv(LOG_DEBUG, "http: libmicrohttpd", "detail", msg, NULL);
}

/* ---- responses ---- */

static enum MHD_Result send_simple(struct MHD_Connection *mc, int status, const char *text,
                                   const char *allow)
{
    struct http_response resp = {.status = status};
    buf_init(&resp.body, 0);
    if (buf_adds(&resp.body, text)) {
        buf_free(&resp.body);
        return MHD_NO;
    }
    if (allow)
        http_response_header(&resp, "Allow", allow);
    return http__send_response(mc, &resp);
}

/* ---- request validation and routing ---- */

static bool path_matches(const struct route *r, const char *path)
{
    if (r->prefix)
        return strncmp(path, r->path, r->plen) == 0;
    return strcmp(path, r->path) == 0;
}

static bool method_matches(const struct route *r, const char *method)
{
    if (!r->method)
        return true;
    if (strcmp(r->method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

struct hdr_size {
    size_t total;
    bool bad;               /* a header line libmicrohttpd took apart: obs-fold */
};

static enum MHD_Result sum_headers(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct hdr_size *hs = cls;
    hs->total += strlen(key) + (value ? strlen(value) : 0) + 4;
    if (!http_header_well_formed(key, value))
        hs->bad = true;
    return MHD_YES;
}

static enum MHD_Result dispatch(struct http_server *s, struct MHD_Connection *mc,
                                const char *method, const char *path, struct req *rq)
{
    const struct route *hit = NULL;
    bool path_known = false;
    char allow[128] = "";
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct route *r = &s->routes[i];
        if (!path_matches(r, path))
            continue;
        path_known = true;
        if (method_matches(r, method)) {
            hit = r;
            break;
        }
        if (r->method && !strstr(allow, r->method)) {
            size_t used = strlen(allow);
            snprintf(allow + used, sizeof(allow) - used, "%s%s%s", used ? ", " : "",
                     r->method, strcmp(r->method, "GET") == 0 ? ", HEAD" : "");
        }
    }
    if (!hit && path_known)
        return send_simple(mc, 405, "405 method not allowed\n", allow);
    if (!hit)
        return send_simple(mc, 404, "404 page not found\n", NULL);

    struct http_request req = {
        .method = method,
        .path = path,
        .body = rq->body.len ? rq->body.data : NULL,
        .body_len = rq->body.len,
        .conn = mc,
        .priv = rq,
    };
    struct http_response resp;
    http_response_init(&resp);
    hit->cb(hit->data, &req, &resp);
    if (!rq->d && !rq->have_later)
        return http__send_response(mc, &resp);
    http__response_clear(&resp); /* deferred: the handler's resp is not the answer */
    if (rq->have_later) { /* finished inside the handler already */
        rq->have_later = false;
        return http__send_response(mc, &rq->later);
    }
    MHD_suspend_connection(mc);
    rq->suspended = true;
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *mc, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)url;
    (void)version;
    struct http_server *s = cls;
    struct req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        buf_init(&rq->body, BODY_LIMIT);
        rq->s = s;
        *con_cls = rq;
    }
    if (rq->have_later && !rq->suspended) { /* resumed: the deferred answer */
        rq->have_later = false;
        return http__send_response(mc, &rq->later);
    }
    if (rq->d || rq->suspended)
        return MHD_YES; /* still waiting for it */
    if (!rq->seen) {
        rq->seen = true;
        /* Headers are in: validate what can be decided before any body. */
        struct conn *c0 = conn_of(mc);
        if (c0)
            c0->headers_done = true;
        const char *target = c0 && c0->raw_uri ? c0->raw_uri : url;
        struct hdr_size hs = {strlen(method) + strlen(target) + 12, false};
        MHD_get_connection_values(mc, MHD_HEADER_KIND, sum_headers, &hs);
        if (hs.total > HEADER_LIMIT)
            return send_simple(mc, 431, "431 request header fields too large\n", NULL);
        if (hs.bad)
            return send_simple(mc, 400, "400 bad request: malformed or folded header line\n",
                               NULL);
        if (!http_known_method(method))
            return send_simple(mc, 501, "501 not implemented\n", NULL);
        const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > BODY_LIMIT)
            return send_simple(mc, 413, "413 request entity too large\n", NULL);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!rq->too_large && buf_add(&rq->body, upload_data, *upload_data_size))
            rq->too_large = true;
        if (rq->too_large) {
            /* Discard the rest to answer 413 once it ends, but a client
             * that keeps streaming is cut off rather than read forever. */
            rq->discarded += *upload_data_size;
            if (rq->discarded > DISCARD_LIMIT)
                return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    /* The whole request has arrived: the deadline no longer applies. */
    struct conn *c = conn_of(mc);
    if (c)
        c->waiting = false;
    if (rq->too_large)
        return send_simple(mc, 413, "413 request entity too large\n", NULL);
    char path[2048];
    if (http_decode_path(c ? c->raw_uri : NULL, path, sizeof(path)))
        return send_simple(mc, 400, "400 bad request\n", NULL);
    return dispatch(s, mc, method, path, rq);
}

/* ---- start / stop ---- */

static int parse_listen(const char *spec, char *host, size_t hostlen, char *port,
                        size_t portlen)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1])
        return -EINVAL;
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, portlen, "%s", colon + 1);
    return 0;
}

static int open_listener(const char *spec, int *fd_out, int *family, char *err, size_t errlen)
{
    char host[64], port[16];
    if (parse_listen(spec, host, sizeof(host), port, sizeof(port))) {
        snprintf(err, errlen, "http: listen address %s is not HOST:PORT", spec);
        return -EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai) {
        snprintf(err, errlen, "http: cannot resolve %s: %s", spec, gai_strerror(gai));
        return -EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
    } else {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, SOMAXCONN)) {
            rc = -errno;
            close(fd);
        }
    }
    *family = res->ai_family;
    freeaddrinfo(res);
    if (rc) {
        snprintf(err, errlen, "http: cannot listen on %s: %s", spec, strerror(-rc));
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int http_server_start(struct http_server *s, const struct http_server_opts *o,
                      char *err, size_t errlen)
{
    unsigned maxc = o->max_connections ? o->max_connections : 64;
    s->read_timeout_s = o->read_timeout_s ? o->read_timeout_s : 10;
    int fd = -1, family = AF_INET;
    int rc = open_listener(o->listen ? o->listen : "0.0.0.0:8080", &fd, &family, err, errlen);
    if (rc)
        return rc;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[64] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
            s->port = ntohs(a6->sin6_port);
            snprintf(s->addr, sizeof(s->addr), "[%s]:%d", host, s->port);
        } else {
            struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
            s->port = ntohs(a4->sin_port);
            snprintf(s->addr, sizeof(s->addr), "%s:%d", host, s->port);
        }
    }
    (void)family;
    s->listen_fd = fd;
    s->max_conns = maxc;
    s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s->max_per_client = o->max_per_client;
    s->header_ms = o->header_timeout_ms ? o->header_timeout_ms
                                        : (s->read_timeout_s < 5 ? s->read_timeout_s * 1000 : 5000);
    snprintf(s->name, sizeof(s->name), "%s", o->name ? o->name : "http");
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET |
                     MHD_ALLOW_SUSPEND_RESUME;
    bool tls = o->tls_cert_pem && *o->tls_cert_pem && o->tls_key_pem && *o->tls_key_pem;
    if (tls && !http_server_tls_supported()) {
        snprintf(err, errlen, "%s: HTTPS asked for but libmicrohttpd was built without TLS", s->name);
        return -ENOTSUP;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)o->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)o->tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    if (tls)
        flags |= MHD_USE_TLS;
    s->tls = tls;
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_CONNECTION_LIMIT, maxc,
                            MHD_OPTION_CONNECTION_TIMEOUT, s->read_timeout_s,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
                            MHD_OPTION_STRICT_FOR_CLIENT, 1,
                            MHD_OPTION_ARRAY, tls ? tls_opts : tls_opts + 2,
                            MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "%s: cannot start the HTTP server on %s%s", s->name, s->addr,
                 tls ? " (check tls_cert_file and tls_key_file: PEM certificate and key)" : "");
        return -EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    rc = di ? uv_poll_init(s->loop, &s->poll, di->epoll_fd) : -EIO;
    if (rc) {
        snprintf(err, errlen, "http: cannot watch the HTTP server: %s", uv_strerror(rc));
        return rc;
    }
    s->poll_inited = true;
    s->poll.data = s;
    rc = uv_poll_init(s->loop, &s->lpoll, fd);
    if (rc) {
        snprintf(err, errlen, "http: cannot watch the listen socket: %s", uv_strerror(rc));
        return rc;
    }
    s->lpoll_inited = true;
    s->lpoll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    uv_poll_start(&s->lpoll, UV_READABLE, on_accept);
    run_mhd(s);
    log_kv(LOG_INFO, "http listening", "addr", s->addr, "listener", s->name, "tls",
           s->tls ? "true" : "false", NULL);
    return 0;
}

bool http_server_tls_supported(void)
{
    return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

unsigned long http_server_rejected(const struct http_server *s)
{
    return s->rejected;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

const char *http_server_listen_addr(const struct http_server *s)
{
    return s->addr;
}

static void free_server(struct http_server *s)
{
    for (size_t i = 0; i < s->nroutes; i++) {
        free(s->routes[i].path);
        free(s->routes[i].method);
    }
    free(s->routes);
    free(s->clients);
    /* Reached also when _start failed half-way: release what it made. */
    if (s->d)
        MHD_stop_daemon(s->d);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->reserve_fd >= 0)
        close(s->reserve_fd);
    void (*cb)(void *) = s->close_cb;
    void *data = s->close_data;
    free(s);
    if (cb)
        cb(data);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    if (h == (uv_handle_t *)&s->poll && s->d) {
        /* The poll handle no longer watches MHD's epoll fd: now it may go. */
        MHD_stop_daemon(s->d);
        s->d = NULL;
    }
    if (h == (uv_handle_t *)&s->lpoll && s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    if (--s->open_handles == 0)
        free_server(s);
}

void http_server_close(struct http_server *s, void (*close_cb)(void *data), void *data)
{
    if (s->closing)
        return;
    /* Pending deferred answers get their 503 while MHD still runs. */
    http__cancel_pending(s);
    s->closing = true;
    s->close_cb = close_cb;
    s->close_data = data;
    s->open_handles = 2;
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_handle_closed);
    if (s->lpoll_inited) {
        s->open_handles++;
        uv_close((uv_handle_t *)&s->lpoll, on_handle_closed);
    }
    if (s->poll_inited) {
        s->open_handles++;
        uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    }
}
