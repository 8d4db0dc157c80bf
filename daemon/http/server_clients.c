/* Connections per client address for http.max_connections_per_client:
 * the accept path takes a place before handing a socket to libmicrohttpd
 * (which reports new connections only later), the close notification
 * gives it back. Private to http/ (server.c). */
#include "http/server_int.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return false;
}

static struct client_slot *client_slot(struct http_server *s, const struct sockaddr_storage *ss)
{
    for (size_t i = 0; i < s->nclients; i++)
        if (same_host(&s->clients[i].addr, ss))
            return &s->clients[i];
    return NULL;
}

/* Takes a place for ss unless its address holds max_per_client already.
 * False when over the cap (or out of memory: refused rather than
 * uncounted). */
bool http__client_take(struct http_server *s, const struct sockaddr_storage *ss)
{
    struct client_slot *c = client_slot(s, ss);
    if (c) {
        if (c->n >= s->max_per_client)
            return false;
        c->n++;
        return true;
    }
    if (s->nclients == s->capclients) {
        size_t ncap = s->capclients ? s->capclients * 2 : 16;
        struct client_slot *p = realloc(s->clients, ncap * sizeof(*p));
        if (!p)
            return false;
        s->clients = p;
        s->capclients = ncap;
    }
    c = &s->clients[s->nclients++];
    memset(c, 0, sizeof(*c));
    memcpy(&c->addr, ss, sizeof(*ss));
    c->n = 1;
    return true;
}

void http__client_release(struct http_server *s, const struct sockaddr_storage *ss)
{
    struct client_slot *c = client_slot(s, ss);
    if (c && (c->n <= 1 || --c->n == 0))
        *c = s->clients[--s->nclients];
}
