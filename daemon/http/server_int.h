/* Private to http/: the server's records shared by server.c (MHD driving,
 * routing, start/stop) and server_resp.c (responses, deferred answers). */
#ifndef ABC_HTTP_SERVER_INT_H
#define ABC_HTTP_SERVER_INT_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http/server.h"

struct route {
    char *method;   /* NULL = any */
    char *path;
    size_t plen;
    bool prefix;
    http_handler_cb cb;
    void *data;
};

struct conn {
    struct http_server *s;
    struct conn *prev, *next;
    int fd;
    int64_t wait_start_ms;  /* when we started waiting for the current request */
    bool waiting;           /* request not fully received yet */
    char *raw_uri;          /* request target as sent, from the URI log callback */
    bool headers_done;      /* the current request's header block arrived */
    bool counted;           /* holds a place in s->clients */
    struct sockaddr_storage addr; /* client address (per-client cap) */
    socklen_t alen;
};

struct req {
    struct http_server *s;
    bool seen;              /* first access-handler call done */
    bool too_large;
    size_t discarded;       /* body bytes dropped after too_large */
    struct buf body;
    struct http_deferred *d; /* answer pending (owner holds d) */
    bool suspended;         /* MHD_suspend_connection done */
    bool have_later;        /* the deferred answer, ready to send */
    struct http_response later;
};

struct http_deferred {
    struct http_server *s;
    struct MHD_Connection *mc;
    struct req *rq;
    http_deferred_cancel_cb cancel;
    void *data;
    struct http_deferred *prev, *next; /* s->deferred */
};

struct http_server {
    uv_loop_t *loop;
    struct MHD_Daemon *d;
    uv_poll_t poll;         /* MHD's epoll fd */
    uv_poll_t lpoll;        /* our listen socket */
    int listen_fd;
    int reserve_fd;         /* spare fd given up to shed connections on EMFILE */
    unsigned max_conns;
    unsigned nconns;        /* connections MHD holds */
    unsigned long rejected; /* closed at once: over max_connections */
    unsigned max_per_client;/* 0 = no cap */
    /* Connections per client address, counted when accepted (MHD tells us
     * of a new connection only later) and dropped when MHD closes it. */
    struct client_slot {
        struct sockaddr_storage addr;
        unsigned n;
    } *clients;
    size_t nclients, capclients;
    unsigned header_ms;     /* header deadline */
    bool tls;
    char name[16];
    uv_timer_t timer;       /* MHD_get_timeout */
    uv_timer_t sweep;       /* whole-request deadline */
    bool poll_inited;
    bool lpoll_inited;
    bool closing;
    bool in_run;            /* inside MHD_run (handlers run there) */
    bool draining;          /* closing: no new deferred answers */
    bool kick;              /* a connection was resumed: run MHD again soon */
    int open_handles;
    struct http_deferred *deferred; /* answers pending */
    unsigned ndeferred;
    struct route *routes;
    size_t nroutes, caproutes;
    struct conn *conns;
    unsigned read_timeout_s;
    int port;
    char addr[80];
    void (*close_cb)(void *data);
    void *close_data;
};

/* Queues resp on mc (gzip when allowed and accepted); takes resp->body. */
enum MHD_Result http__send_response(struct MHD_Connection *mc, struct http_response *resp);
/* Per-client places (server_clients.c): take one for the address of ss
 * (false when it holds max_per_client already, or out of memory), give
 * one back. */
bool http__client_take(struct http_server *s, const struct sockaddr_storage *ss);
void http__client_release(struct http_server *s, const struct sockaddr_storage *ss);
/* Frees resp's body and drops its shared body reference. */
void http__response_clear(struct http_response *resp);
/* Runs MHD again soon (a suspended connection was resumed). */
void http__wake(struct http_server *s);
/* MHD ended a request whose answer is pending: tells the owner, frees d. */
void http__drop_deferred(struct http_deferred *d);
/* http_server_close: every pending deferred answer gets its cancel
 * callback and goes out as 503 while MHD still runs. */
void http__cancel_pending(struct http_server *s);

#endif
