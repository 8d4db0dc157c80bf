/* A raw HTTP/1.x test client for the server tests (test_server.c,
 * test_http_deferred.c): dial 127.0.0.1, send, read to EOF, and the first
 * status line and body of what came back. Header-only, test code. */
#ifndef ABC_TESTS_HTTP_CLIENT_H
#define ABC_TESTS_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct result {
    char *text;  /* full raw response(s), malloc'd; results_free */
    size_t len;
    int status;  /* first status code, -1 = none, -2 = no connection */
    double secs; /* time until EOF / end */
};

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A connection to 127.0.0.1:port with a 5 s receive timeout, or -1. */
static inline int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static inline void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

/* Reads until EOF (or timeout / reset) into r; t0 from now_s(). */
static inline void read_all(int fd, struct result *r, double t0)
{
    size_t cap = 4096;
    r->text = malloc(cap);
    r->len = 0;
    for (;;) {
        if (r->len + 2048 > cap) {
            cap *= 2;
            r->text = realloc(r->text, cap);
        }
        ssize_t k = recv(fd, r->text + r->len, cap - r->len - 1, 0);
        if (k <= 0)
            break;
        r->len += (size_t)k;
    }
    r->text[r->len] = '\0';
    r->secs = now_s() - t0;
    r->status = -1;
    if (r->len > 12 && strncmp(r->text, "HTTP/1.", 7) == 0)
        r->status = atoi(r->text + 9);
}

/* One connection: send req, read the answer(s) to EOF into r. */
static inline void exchange_port(int port, const char *req, size_t len, struct result *r)
{
    int fd = dial(port);
    double t0 = now_s();
    if (fd < 0) {
        r->status = -2;
        return;
    }
    send_all(fd, req, len);
    read_all(fd, r, t0);
    close(fd);
}

static inline const char *body_of(const struct result *r)
{
    const char *p = r->text ? strstr(r->text, "\r\n\r\n") : NULL;
    return p ? p + 4 : "";
}

static inline void results_free(struct result *res, int n)
{
    for (int i = 0; i < n; i++)
        free(res[i].text);
}

#endif
