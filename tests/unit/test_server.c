/* HTTP server over real sockets: the server runs on a libuv loop in the
 * test's main thread, a client thread speaks raw HTTP/1.x and records what
 * it saw; assertions run after the loop has closed every handle. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>

#include "http_client.h"
#include "health/readyz.h"
#include "health/watchdog.h"
#include "http/gzip_blocks.h"
#include "http/http_util.h"
#include "metrics/metrics.h"
#include "http/routes_basic.h"
#include "http/server.h"
#include "util/clock.h"

#define MAXR 64

struct fixture {
    uv_loop_t loop;
    uv_async_t done;
    struct http_server *srv;
    struct metrics *m;
    struct readyz *r;
    struct watchdog w;
    struct routes_basic *basic;
    int port;
    void (*scenario)(struct fixture *f);
    struct result res[MAXR];
    int nres;
    int closed_count;   /* connection-limit scenario */
    int live_after;
    int server_closed;
    int close_requested; /* a handler closed the server already */
};

static struct result *exchange(struct fixture *f, const char *req, size_t len)
{
    struct result *r = &f->res[f->nres++];
    exchange_port(f->port, req, len, r);
    return r;
}

static struct result *get(struct fixture *f, const char *method, const char *target,
                          const char *extra)
{
    size_t cap = 256 + strlen(target) + (extra ? strlen(extra) : 0);
    char *req = malloc(cap);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n",
                     method, target, extra ? extra : "");
    struct result *r = exchange(f, req, (size_t)n);
    free(req);
    return r;
}

/* ---- test routes ---- */

static void h_echo(void *data, const struct http_request *req, struct http_response *resp)
{
    (void)data;
    (void)!buf_printf(&resp->body, "len=%zu", req->body_len);
}

static void h_big(void *data, const struct http_request *req, struct http_response *resp)
{
    (void)data;
    (void)req;
    resp->allow_gzip = true;
    for (int i = 0; i < 500; i++)
        (void)!buf_printf(&resp->body, "line %d of a compressible body\n", i);
}

static void add_q(void *data, const char *v)
{
    (void)!buf_printf(data, "[%s]", v);
}

static void h_query(void *data, const struct http_request *req, struct http_response *resp)
{
    (void)data;
    const char *v = http_request_query(req, "verbose");
    (void)!buf_printf(&resp->body, "verbose=%s path=%s ", v ? (*v ? v : "(empty)") : "(null)",
                      req->path);
    http_request_query_all(req, "exclude", add_q, &resp->body);
    http_response_header(resp, "Retry-After", "7");
}

static struct fixture *g_fix;

static void on_server_closed(void *data);

static void h_stop(void *data, const struct http_request *req, struct http_response *resp)
{
    (void)data;
    (void)req;
    (void)!buf_adds(&resp->body, "bye");
    g_fix->close_requested = 1;
    http_server_close(g_fix->srv, on_server_closed, g_fix);
}

static bool check_ok(void *data, char *reason, size_t n)
{
    (void)data;
    (void)reason;
    (void)n;
    return true;
}

static bool check_bad(void *data, char *reason, size_t n)
{
    (void)data;
    snprintf(reason, n, "not synced yet");
    return false;
}

static void *client_main(void *arg)
{
    struct fixture *f = arg;
    f->scenario(f);
    uv_async_send(&f->done);
    return NULL;
}

static void on_server_closed(void *data)
{
    struct fixture *f = data;
    f->server_closed++;
}

static void on_done(uv_async_t *a)
{
    struct fixture *f = a->data;
    if (!f->close_requested)
        http_server_close(f->srv, on_server_closed, f);
    watchdog_close(&f->w, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

/* When set, the watchdog is not started and its last tick lies 20 s back. */
static bool g_stale_watchdog;
/* When set, /metrics also has collect_many's 3000 lines. */
static bool g_many_metrics;
static void collect_many(struct metrics_writer *w, void *data);
static char *gunzip_all(const char *z, size_t zlen, size_t *out_len);

static void run_fixture(struct fixture *f, unsigned maxc, unsigned rto,
                        void (*scenario)(struct fixture *))
{
    memset(f, 0, sizeof(*f));
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    f->m = metrics_new();
    f->r = readyz_new();
    ck_assert_int_eq(readyz_register(f->r, "synced", check_ok, NULL), 0);
    ck_assert_int_eq(readyz_register(f->r, "extension", check_bad, NULL), 0);
    ck_assert_int_eq(watchdog_init(&f->w, &f->loop), 0);
    if (g_stale_watchdog)
        f->w.last_tick_ms = clock_mono_ms() - 20000;
    else
        ck_assert_int_eq(watchdog_start(&f->w), 0);
    ck_assert_int_eq(http_server_init(&f->srv, &f->loop), 0);
    ck_assert_int_eq(routes_basic_register(f->srv, f->m, f->r, &f->w, &f->basic), 0);
    if (g_many_metrics)
        ck_assert_int_eq(metrics_add_collector(f->m, METRIC_SCOPE_PROCESS, collect_many, NULL), 0);
    ck_assert_int_eq(http_server_route(f->srv, "POST", "/echo", h_echo, NULL), 0);
    ck_assert_int_eq(http_server_route(f->srv, "GET", "/big", h_big, NULL), 0);
    ck_assert_int_eq(http_server_route(f->srv, NULL, "/q/", h_query, NULL), 0);
    ck_assert_int_eq(http_server_route(f->srv, "POST", "/stop", h_stop, NULL), 0);
    g_fix = f;
    struct http_server_opts o = {.listen = "127.0.0.1:0", .max_connections = maxc,
                                 .read_timeout_s = rto};
    char err[256] = "";
    ck_assert_msg(http_server_start(f->srv, &o, err, sizeof(err)) == 0, "%s", err);
    f->port = http_server_port(f->srv);
    ck_assert_int_gt(f->port, 0);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%d", f->port);
    ck_assert_str_eq(http_server_listen_addr(f->srv), want);
    f->scenario = scenario;
    uv_async_init(&f->loop, &f->done, on_done);
    f->done.data = f;
    pthread_t th;
    pthread_create(&th, NULL, client_main, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    ck_assert_int_eq(f->server_closed, 1);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
    metrics_free(f->m);
    readyz_free(f->r);
    routes_basic_free(f->basic);
}

static void free_results(struct fixture *f) { results_free(f->res, f->nres); }

/* ---- basic answers ---- */

static void sc_basic(struct fixture *f)
{
    get(f, "GET", "/livez", NULL);                      /* 0 */
    get(f, "GET", "/nope", NULL);                       /* 1 */
    get(f, "POST", "/livez", NULL);                     /* 2 */
    get(f, "BREW", "/livez", NULL);                     /* 3 */
    get(f, "GET", "/healthz", NULL);                    /* 4 */
    get(f, "GET", "/readyz", NULL);                     /* 5 */
    get(f, "GET", "/readyz/synced", NULL);              /* 6 */
    get(f, "GET", "/readyz/nope", NULL);                /* 7 */
    get(f, "GET", "/readyz?verbose&exclude=extension", NULL); /* 8 */
    get(f, "GET", "/q/x?verbose&exclude=a&exclude=b", NULL);  /* 9 */
    get(f, "HEAD", "/livez", NULL);                     /* 10 */
    get(f, "GET", "/livez", NULL);                      /* 11 */
}

START_TEST(test_basic_answers)
{
    struct fixture f;
    run_fixture(&f, 16, 5, sc_basic);
    ck_assert_int_eq(f.res[0].status, 200);
    ck_assert_str_eq(body_of(&f.res[0]), "ok");
    ck_assert_ptr_nonnull(strstr(f.res[0].text, "Content-Length: 2\r\n"));
    ck_assert_int_eq(f.res[1].status, 404);
    ck_assert_int_eq(f.res[2].status, 405);
    ck_assert_ptr_nonnull(strstr(f.res[2].text, "Allow: GET, HEAD\r\n"));
    ck_assert_int_eq(f.res[3].status, 501);
    ck_assert_int_eq(f.res[4].status, 200);
    ck_assert_int_eq(f.res[5].status, 503);
    ck_assert_str_eq(body_of(&f.res[5]),
                     "[+]synced ok\n[-]extension failed: not synced yet\nreadyz check failed\n");
    ck_assert_int_eq(f.res[6].status, 200);
    ck_assert_str_eq(body_of(&f.res[6]), "ok");
    ck_assert_int_eq(f.res[7].status, 404);
    ck_assert_int_eq(f.res[8].status, 200);
    ck_assert_str_eq(body_of(&f.res[8]),
                     "[+]synced ok\n[+]extension excluded: ok\nreadyz check passed\n");
    ck_assert_int_eq(f.res[9].status, 200);
    ck_assert_str_eq(body_of(&f.res[9]), "verbose=(empty) path=/q/x [a][b]");
    ck_assert_ptr_nonnull(strstr(f.res[9].text, "Retry-After: 7\r\n"));
    ck_assert_int_eq(f.res[10].status, 200);
    ck_assert_str_eq(body_of(&f.res[10]), "");
    ck_assert_int_eq(f.res[11].status, 200);
    free_results(&f);
}
END_TEST

/* ---- limits ---- */

static void sc_limits(struct fixture *f)
{
    /* 0: 9 KiB header → 431 from us */
    size_t hl = 9 * 1024;
    char *h = malloc(hl + 64);
    memcpy(h, "X-Big: ", 7);
    memset(h + 7, 'a', hl);
    memcpy(h + 7 + hl, "\r\n", 3);
    get(f, "GET", "/livez", h);
    /* 1: 40 KiB header → past MHD's pool */
    size_t hl2 = 40 * 1024;
    char *req = malloc(hl2 + 200);
    int n = snprintf(req, 200, "GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'b', hl2);
    memcpy(req + n + hl2, "\r\n\r\n", 5);
    exchange(f, req, (size_t)n + hl2 + 4);
    /* 2: Content-Length beyond 64 KiB → 413 before the body is sent */
    get(f, "POST", "/echo", "Content-Length: 66560\r\n");
    /* 3: chunked body growing past 64 KiB → 413 */
    {
        struct result *r = &f->res[f->nres++];
        int fd = dial(f->port);
        double t0 = now_s();
        const char *hdr = "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n";
        send_all(fd, hdr, strlen(hdr));
        char chunk[4096 + 16];
        int cl = snprintf(chunk, 16, "1000\r\n");
        memset(chunk + cl, 'c', 4096);
        memcpy(chunk + cl + 4096, "\r\n", 2);
        for (int i = 0; i < 17; i++)
            send_all(fd, chunk, (size_t)cl + 4096 + 2);
        send_all(fd, "0\r\n\r\n", 5);
        read_all(fd, r, t0);
        close(fd);
    }
    /* 4: a body within limits */
    {
        char small[1200];
        int k = snprintf(small, 200, "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                     "Content-Length: 1000\r\n\r\n");
        memset(small + k, 'd', 1000);
        exchange(f, small, (size_t)k + 1000);
    }
    /* 5-9: paths */
    get(f, "GET", "/../etc/passwd", NULL);
    get(f, "GET", "/%2e%2e/etc/passwd", NULL);
    get(f, "GET", "/live%00z", NULL);
    get(f, "GET", "/livez%zz", NULL);
    get(f, "GET", "/readyz/./synced", NULL);
    /* 10: HTTP/1.0 */
    {
        const char *r10 = "GET /livez HTTP/1.0\r\n\r\n";
        exchange(f, r10, strlen(r10));
    }
    /* 11: pipelining: two requests in one write */
    {
        const char *pp = "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /readyz/synced HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        exchange(f, pp, strlen(pp));
    }
    /* 12: gzip */
    get(f, "GET", "/big", "Accept-Encoding: deflate, gzip\r\n");
    /* 13: gzip refused with q=0 */
    get(f, "GET", "/big", "Accept-Encoding: gzip;q=0\r\n");
    /* 14: still alive */
    get(f, "GET", "/livez", NULL);
    free(h);
    free(req);
}

START_TEST(test_limits)
{
    struct fixture f;
    run_fixture(&f, 16, 5, sc_limits);
    ck_assert_int_eq(f.res[0].status, 431);
    ck_assert_int_eq(f.res[1].status, 431);
    ck_assert_int_eq(f.res[2].status, 413);
    ck_assert_int_eq(f.res[3].status, 413);
    ck_assert_int_eq(f.res[4].status, 200);
    ck_assert_str_eq(body_of(&f.res[4]), "len=1000");
    for (int i = 5; i <= 9; i++)
        ck_assert_msg(f.res[i].status == 400, "case %d: %d", i, f.res[i].status);
    ck_assert_int_eq(f.res[10].status, 200);
    ck_assert_str_eq(body_of(&f.res[10]), "ok");
    /* both pipelined responses */
    const char *second = strstr(f.res[11].text + 1, "HTTP/1.1 200");
    ck_assert_int_eq(f.res[11].status, 200);
    ck_assert_ptr_nonnull(second);
    ck_assert_str_eq(body_of(&(struct result){.text = (char *)second}), "ok");
    /* gzip: header, Vary, and the body inflates to the original */
    ck_assert_int_eq(f.res[12].status, 200);
    ck_assert_ptr_nonnull(strstr(f.res[12].text, "Content-Encoding: gzip\r\n"));
    ck_assert_ptr_nonnull(strstr(f.res[12].text, "Vary: Accept-Encoding\r\n"));
    {
        const char *b = body_of(&f.res[12]);
        size_t blen = f.res[12].len - (size_t)(b - f.res[12].text);
        char out[65536];
        z_stream zs = {0};
        ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
        zs.next_in = (Bytef *)(uintptr_t)b;
        zs.avail_in = (uInt)blen;
        zs.next_out = (Bytef *)out;
        zs.avail_out = sizeof(out) - 1;
        ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
        out[zs.total_out] = '\0';
        inflateEnd(&zs);
        ck_assert_ptr_nonnull(strstr(out, "line 0 of a compressible body\n"));
        ck_assert_ptr_nonnull(strstr(out, "line 499 of a compressible body\n"));
        ck_assert_uint_gt(zs.total_out, blen);
    }
    ck_assert_int_eq(f.res[13].status, 200);
    ck_assert_ptr_null(strstr(f.res[13].text, "Content-Encoding"));
    ck_assert_ptr_nonnull(strstr(body_of(&f.res[13]), "line 499 of"));
    ck_assert_int_eq(f.res[14].status, 200);
    free_results(&f);
}
END_TEST

/* ---- connection limit ---- */

#define LIMIT 4
#define EXTRA 5

static void sc_conn_limit(struct fixture *f)
{
    int fds[LIMIT + EXTRA];
    for (int i = 0; i < LIMIT + EXTRA; i++)
        fds[i] = dial(f->port);
    /* Extra connections are closed at once: EOF within a second. */
    double t0 = now_s();
    int closed = 0;
    bool seen[LIMIT + EXTRA] = {false};
    while (now_s() - t0 < 1.5) {
        for (int i = 0; i < LIMIT + EXTRA; i++) {
            if (seen[i] || fds[i] < 0)
                continue;
            struct pollfd p = {.fd = fds[i], .events = POLLIN};
            if (poll(&p, 1, 0) == 1) {
                char c;
                if (recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0) {
                    seen[i] = true;
                    closed++;
                }
            }
        }
        usleep(20000);
    }
    f->closed_count = closed;
    for (int i = 0; i < LIMIT + EXTRA; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
    usleep(200000);
    struct result *r = get(f, "GET", "/livez", NULL);
    f->live_after = r->status;
}

START_TEST(test_connection_limit)
{
    struct fixture f;
    run_fixture(&f, LIMIT, 10, sc_conn_limit);
    ck_assert_int_eq(f.closed_count, EXTRA);
    ck_assert_int_eq(f.live_after, 200);
    free_results(&f);
}
END_TEST

/* ---- whole-request deadline (slowloris) ---- */

static void sc_slow(struct fixture *f)
{
    struct result *r = &f->res[f->nres++];
    int fd = dial(f->port);
    double t0 = now_s();
    const char *start = "GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    send_all(fd, start, strlen(start));
    /* one byte every 200 ms: never idle for read_timeout (1 s) */
    r->status = 0;
    for (int i = 0; i < 25; i++) {
        usleep(200000);
        if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) == 1)
            break;
    }
    read_all(fd, r, t0);
    close(fd);
    get(f, "GET", "/livez", NULL);
}

START_TEST(test_slow_request_deadline)
{
    struct fixture f;
    run_fixture(&f, 8, 1, sc_slow);
    /* closed by the deadline (~1 s), long before the 5 s of trickling */
    ck_assert_msg(f.res[0].secs < 2.5, "slow request lived %.2fs", f.res[0].secs);
    ck_assert_int_ne(f.res[0].status, 200);
    ck_assert_int_eq(f.res[1].status, 200);
    free_results(&f);
}
END_TEST

/* ---- /livez follows the watchdog; /metrics negotiation ---- */

static void sc_stale(struct fixture *f)
{
    get(f, "GET", "/metrics", NULL);
    get(f, "GET", "/metrics", "Accept: application/openmetrics-text; version=1.0.0\r\n");
    get(f, "GET", "/metrics", "Accept-Encoding: gzip\r\n");
    get(f, "GET", "/livez", NULL);
    get(f, "GET", "/healthz", NULL);
}

/* A collector of many lines, marked every 32 as the per-PV family is;
 * line 1000 follows g_variant (set from the client thread). */
static int g_variant;

static void collect_many(struct metrics_writer *w, void *data)
{
    (void)data;
    int v = __atomic_load_n(&g_variant, __ATOMIC_SEQ_CST);
    metrics_write_family(w, "test_many", METRIC_GAUGE, "Many lines.");
    for (int i = 0; i < 3000; i++) {
        if (i % 32 == 0)
            metrics_write_mark(w);
        char line[128];
        int n = snprintf(line, sizeof(line), "test_many{line=\"%d\"} %d\n", i, i == 1000 ? v : 0);
        metrics_write_raw(w, line, (size_t)n);
    }
    metrics_write_mark(w);
}

static void sc_many(struct fixture *f)
{
    get(f, "GET", "/metrics", NULL);
    get(f, "GET", "/metrics", "Accept-Encoding: gzip\r\n");
    __atomic_store_n(&g_variant, 7, __ATOMIC_SEQ_CST);
    get(f, "GET", "/metrics", "Accept-Encoding: gzip\r\n");
    get(f, "GET", "/metrics", NULL);
    get(f, "GET", "/metrics", "Accept-Encoding: gzip\r\n");
}

/* /metrics gzip'ed in blocks: each answer inflates to the plain text of
 * the same state, before and after a line changed. */
START_TEST(test_metrics_gzip_blocks)
{
    struct fixture f;
    g_variant = 0;
    g_many_metrics = true;
    run_fixture(&f, 8, 5, sc_many);
    g_many_metrics = false;
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(f.res[i].status, 200);
    const size_t plain_of[5] = {0, 0, 3, 3, 3};
    for (size_t i = 1; i < 5; i++) {
        if (i == 3)
            continue;
        ck_assert_ptr_nonnull(strstr(f.res[i].text, "Content-Encoding: gzip\r\n"));
        const char *zb = body_of(&f.res[i]);
        size_t zlen = f.res[i].len - (size_t)(zb - f.res[i].text), plen = 0;
        char *plain = gunzip_all(zb, zlen, &plen);
        const struct result *pr = &f.res[plain_of[i]];
        const char *want = body_of(pr);
        /* the process collector's figures move; compare the test family */
        const char *a = strstr(plain, "# HELP test_many"), *b = strstr(want, "# HELP test_many");
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_uint_eq(strlen(a), strlen(b));
        ck_assert_str_eq(a, b);
        ck_assert_ptr_nonnull(strstr(a, i == 1 ? "test_many{line=\"1000\"} 0\n" : "test_many{line=\"1000\"} 7\n"));
        free(plain);
    }
    free_results(&f);
}
END_TEST

START_TEST(test_livez_stale_and_metrics)
{
    struct fixture f;
    g_stale_watchdog = true;
    run_fixture(&f, 8, 5, sc_stale);
    g_stale_watchdog = false;
    ck_assert_int_eq(f.res[0].status, 200);
    ck_assert_ptr_nonnull(strstr(f.res[0].text,
                                 "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    ck_assert_ptr_nonnull(strstr(body_of(&f.res[0]),
                                 "aks_backup_ready{check=\"extension\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(body_of(&f.res[0]), "aks_backup_ready{check=\"synced\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(body_of(&f.res[0]), "aks_backup_build_info{version=\""));
    ck_assert_int_eq(f.res[1].status, 200);
    ck_assert_ptr_nonnull(strstr(f.res[1].text, "Content-Type: application/openmetrics-text; "
                                                "version=1.0.0; charset=utf-8\r\n"));
    ck_assert_ptr_nonnull(strstr(body_of(&f.res[1]), "# EOF\n"));
    ck_assert_int_eq(f.res[2].status, 200);
    ck_assert_ptr_nonnull(strstr(f.res[2].text, "Vary: Accept-Encoding\r\n"));
    ck_assert_int_eq(f.res[3].status, 503);
    ck_assert_int_eq(f.res[4].status, 503);
    free_results(&f);
}
END_TEST

static void sc_stop(struct fixture *f)
{
    get(f, "GET", "/livez", NULL);
    get(f, "POST", "/stop", NULL);
    /* the listener is gone now */
    struct result *r = &f->res[f->nres++];
    r->status = 0;
    for (int i = 0; i < 100 && r->status == 0; i++) {
        int fd = dial(f->port);
        if (fd < 0)
            r->status = -2;
        else
            close(fd);
        usleep(20000);
    }
}

START_TEST(test_close_from_handler)
{
    struct fixture f;
    run_fixture(&f, 8, 5, sc_stop);
    ck_assert_int_eq(f.res[0].status, 200);
    ck_assert_int_ne(f.res[1].status, 500);
    ck_assert_int_eq(f.res[2].status, -2);
    free_results(&f);
}
END_TEST

START_TEST(test_bad_listen)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_server *s = NULL;
    ck_assert_int_eq(http_server_init(&s, &loop), 0);
    struct http_server_opts o = {.listen = "nonsense"};
    char err[256] = "";
    ck_assert_int_lt(http_server_start(s, &o, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, "nonsense"));
    http_server_close(s, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST


/* ---- helpers without sockets ---- */

START_TEST(test_decode_path)
{
    char out[64];
    ck_assert_int_eq(http_decode_path("/a%20b/c?x=%zz", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/a b/c");
    ck_assert_int_eq(http_decode_path("/readyz/", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/readyz/");
    ck_assert_int_eq(http_decode_path("/a..b/...", out, sizeof(out)), 0);
    const char *bad[] = {"/../etc/passwd", "/%2e%2e/x", "/a/%2E%2E", "/a/./b", "/a/.",
                         "/x%00", "/x%2", "/x%g0", "*", "http://h/x", "", "/..%2f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(http_decode_path(bad[i], out, sizeof(out)) == -EINVAL, "%s", bad[i]);
    ck_assert_int_eq(http_decode_path(NULL, out, sizeof(out)), -EINVAL);
    char tiny[4];
    ck_assert_int_eq(http_decode_path("/abcdef", tiny, sizeof(tiny)), -EINVAL);
}
END_TEST

static int released;
static size_t released_cap;
static void on_release(void *cls, struct http_body *b, char *data, size_t cap)
{
    (void)b;
    ck_assert_ptr_eq(cls, &released);
    released++;
    released_cap = cap;
    free(data);
}

/* A shared body lives while any reference does, is released once, with
 * its buffer handed back (the /metrics renderer reuses it). */
START_TEST(test_shared_body_refcount)
{
    unsigned long live0 = http_body_live();
    char *data = malloc(64);
    memcpy(data, "hello", 6);
    struct http_body *b = http_body_new(data, 5, 64, on_release, &released);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(http_body_live(), live0 + 1);
    ck_assert_ptr_eq(http_body_ref(b), b);
    ck_assert_ptr_eq(http_body_ref(b), b);
    ck_assert_uint_eq(http_body_refs(b), 3);
    http_body_unref(b);
    http_body_unref(b);
    ck_assert_int_eq(released, 0);
    http_body_unref(b);
    ck_assert_int_eq(released, 1);
    ck_assert_uint_eq(released_cap, 64);
    ck_assert_uint_eq(http_body_live(), live0);
    http_body_unref(NULL);
}
END_TEST

/* Header lines as libmicrohttpd leaves them (the colon turned into NUL,
 * the value after it), and the obs-fold shape it produces. */
START_TEST(test_header_line_and_query_checks)
{
    static char line[] = "Idempotency-Key\0 fold-1";
    ck_assert(http_header_well_formed(line, line + 17));
    ck_assert(http_header_well_formed(line, NULL));
    static char glued[] = "Idempotency-Keycontinued";
    ck_assert(!http_header_well_formed(glued, line + 17)); /* value before the name's end */
    static char spaced[] = "Bad Name\0x";
    ck_assert(!http_header_well_formed(spaced, spaced + 9));
    static char far[] = "K\0  zz v";
    ck_assert(!http_header_well_formed(far, far + 8)); /* non-blank between */
    ck_assert(!http_header_well_formed("", NULL));
    ck_assert_uint_eq(http_query_arg_count("/readyz"), 0);
    ck_assert_uint_eq(http_query_arg_count("/readyz?"), 0);
    ck_assert_uint_eq(http_query_arg_count("/readyz?verbose"), 1);
    ck_assert_uint_eq(http_query_arg_count("/readyz?exclude=a&exclude=b;x"), 3);
}
END_TEST

/* Inflates a gzip member into a malloc'ed, NUL-terminated buffer. */
static char *gunzip_all(const char *z, size_t zlen, size_t *out_len)
{
    size_t cap = 1 << 20;
    char *out = malloc(cap);
    z_stream zs = {0};
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)z;
    zs.avail_in = (uInt)zlen;
    int rc;
    do {
        if (zs.total_out + 1 >= cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
        zs.next_out = (Bytef *)out + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out - 1);
        rc = inflate(&zs, Z_FINISH);
    } while (rc == Z_BUF_ERROR && zs.avail_in);
    ck_assert_int_eq(rc, Z_STREAM_END);
    ck_assert_uint_eq(zs.avail_in, 0); /* one member, nothing after it */
    *out_len = zs.total_out;
    out[zs.total_out] = '\0';
    inflateEnd(&zs);
    return out;
}

/* Blocks deflated on their own inflate, joined, to the very bytes given;
 * a run on the same bytes deflates nothing, a changed block deflates
 * itself and the block after it (whose dictionary it is). */
START_TEST(test_gzip_blocks)
{
    struct gzip_blocks *g = gzip_blocks_new();
    ck_assert_ptr_nonnull(g);
    struct buf t;
    buf_init(&t, 0);
    size_t cuts[200];
    size_t ncuts = 0;
    for (int i = 0; i < 3000; i++) {
        if (i % 32 == 0)
            cuts[ncuts++] = t.len;
        ck_assert_int_eq(buf_printf(&t, "aks_backup_persistent_volume_supported{persistentvolume=\"pv-%05d\","
                                        "reason=\"%s\"} %d\n", i, i % 7 ? "supported" : "in-tree", i % 7 != 0), 0);
    }
    cuts[ncuts++] = t.len;     /* a cut at the end: no empty block */
    cuts[ncuts++] = 12;        /* out of order: ignored */
    cuts[ncuts++] = t.len + 5; /* beyond the end: ignored */
    const size_t nblocks = 94; /* 94 cuts at every 32nd line, the first at 0 */

    char *z = NULL;
    size_t zlen = 0, blocks = 0, deflated = 0, plen = 0;
    ck_assert_int_eq(gzip_blocks_run(g, t.data, t.len, cuts, ncuts, &z, &zlen), 0);
    gzip_blocks_last(g, &blocks, &deflated);
    ck_assert_uint_eq(blocks, nblocks);
    ck_assert_uint_eq(deflated, nblocks);
    ck_assert_uint_lt(zlen, t.len / 10);
    char *plain = gunzip_all(z, zlen, &plen);
    ck_assert_uint_eq(plen, t.len);
    ck_assert_int_eq(memcmp(plain, t.data, t.len), 0);
    free(plain);

    /* the same bytes: every block from the cache, the same output */
    char *z2 = NULL;
    size_t zlen2 = 0;
    ck_assert_int_eq(gzip_blocks_run(g, t.data, t.len, cuts, ncuts, &z2, &zlen2), 0);
    gzip_blocks_last(g, &blocks, &deflated);
    ck_assert_uint_eq(deflated, 0);
    ck_assert_uint_eq(zlen2, zlen);
    ck_assert_int_eq(memcmp(z2, z, zlen), 0);
    free(z2);

    /* one byte changed in block 40, same length */
    size_t at = cuts[40] + 50;
    t.data[at] = t.data[at] == 'x' ? 'y' : 'x';
    ck_assert_int_eq(gzip_blocks_run(g, t.data, t.len, cuts, ncuts, &z2, &zlen2), 0);
    gzip_blocks_last(g, &blocks, &deflated);
    ck_assert_uint_eq(deflated, 2);
    plain = gunzip_all(z2, zlen2, &plen);
    ck_assert_uint_eq(plen, t.len);
    ck_assert_int_eq(memcmp(plain, t.data, t.len), 0);
    free(plain);
    free(z2);

    /* fewer blocks (the body shrank): the cache follows */
    ck_assert_int_eq(gzip_blocks_run(g, t.data, cuts[10], cuts, 10, &z2, &zlen2), 0);
    gzip_blocks_last(g, &blocks, &deflated);
    ck_assert_uint_eq(blocks, 10);
    ck_assert_uint_eq(deflated, 0); /* the first 10 blocks as they were */
    plain = gunzip_all(z2, zlen2, &plen);
    ck_assert_uint_eq(plen, cuts[10]);
    ck_assert_int_eq(memcmp(plain, t.data, plen), 0);
    free(plain);
    free(z2);

    /* no cuts, and an empty body */
    ck_assert_int_eq(gzip_blocks_run(g, t.data, t.len, NULL, 0, &z2, &zlen2), 0);
    plain = gunzip_all(z2, zlen2, &plen);
    ck_assert_uint_eq(plen, t.len);
    ck_assert_int_eq(memcmp(plain, t.data, t.len), 0);
    free(plain);
    free(z2);
    ck_assert_int_eq(gzip_blocks_run(g, "", 0, NULL, 0, &z2, &zlen2), 0);
    plain = gunzip_all(z2, zlen2, &plen);
    ck_assert_uint_eq(plen, 0);
    free(plain);
    free(z2);

    free(z);
    buf_free(&t);
    gzip_blocks_free(g);
}
END_TEST

START_TEST(test_accept_encoding)
{
    ck_assert(http_accepts_gzip("gzip"));
    ck_assert(http_accepts_gzip("deflate, gzip;q=0.5"));
    ck_assert(http_accepts_gzip("br, GZIP"));
    ck_assert(!http_accepts_gzip("gzip;q=0"));
    ck_assert(!http_accepts_gzip("x-gzip2, deflate"));
    ck_assert(!http_accepts_gzip("identity"));
    ck_assert(!http_accepts_gzip(NULL));
    ck_assert(http_known_method("PATCH"));
    ck_assert(!http_known_method("BREW"));
    ck_assert(!http_known_method("get"));
}
END_TEST

/* /metrics format negotiation follows client_golang's expfmt.Negotiate. */
START_TEST(test_metrics_negotiation)
{
    /* what Prometheus sends */
    ck_assert(routes_basic_wants_openmetrics(
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
        "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
    ck_assert(routes_basic_wants_openmetrics("application/openmetrics-text; version=1.0.0"));
    ck_assert(!routes_basic_wants_openmetrics("text/plain;version=0.0.4"));
    ck_assert(!routes_basic_wants_openmetrics(NULL));
    ck_assert(!routes_basic_wants_openmetrics("*/*"));
    ck_assert(!routes_basic_wants_openmetrics("application/json"));
    /* q decides, not the order */
    ck_assert(!routes_basic_wants_openmetrics(
        "application/openmetrics-text;version=1.0.0;q=0.1, text/plain;version=0.0.4;q=0.9"));
    ck_assert(routes_basic_wants_openmetrics(
        "text/plain;q=0.2, application/openmetrics-text;q=0.3"));
    /* a tie keeps the order; q=0 and a malformed q are not acceptable */
    ck_assert(!routes_basic_wants_openmetrics("text/plain, application/openmetrics-text"));
    ck_assert(!routes_basic_wants_openmetrics("application/openmetrics-text;q=0"));
    ck_assert(!routes_basic_wants_openmetrics("application/openmetrics-text;q=abc"));
    ck_assert(!routes_basic_wants_openmetrics("application/openmetrics-text-x"));
}
END_TEST

START_TEST(test_ipv6_listen)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_server *s = NULL;
    ck_assert_int_eq(http_server_init(&s, &loop), 0);
    struct http_server_opts o = {.listen = "[::1]:0"};
    char err[256] = "";
    int rc = http_server_start(s, &o, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_gt(http_server_port(s), 0);
    char want[64];
    snprintf(want, sizeof(want), "[::1]:%d", http_server_port(s));
    ck_assert_str_eq(http_server_listen_addr(s), want);
    /* the port is taken now */
    struct http_server *s2 = NULL;
    ck_assert_int_eq(http_server_init(&s2, &loop), 0);
    struct http_server_opts o2 = {.listen = want};
    ck_assert_int_eq(http_server_start(s2, &o2, err, sizeof(err)), -EADDRINUSE);
    ck_assert_ptr_nonnull(strstr(err, "cannot listen on"));
    http_server_close(s2, NULL, NULL);
    http_server_close(s, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("util");
    tcase_add_test(tc, test_decode_path);
    tcase_add_test(tc, test_accept_encoding);
    tcase_add_test(tc, test_gzip_blocks);
    tcase_add_test(tc, test_header_line_and_query_checks);
    tcase_add_test(tc, test_shared_body_refcount);
    tcase_add_test(tc, test_metrics_negotiation);
    suite_add_tcase(s, tc);
    tc = tcase_create("answers");
    tcase_add_test(tc, test_basic_answers);
    tcase_add_test(tc, test_bad_listen);
    tcase_add_test(tc, test_ipv6_listen);
    tcase_add_test(tc, test_close_from_handler);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_connection_limit);
    tcase_add_test(tc, test_slow_request_deadline);
    suite_add_tcase(s, tc);
    tc = tcase_create("probes");
    tcase_add_test(tc, test_livez_stale_and_metrics);
    tcase_add_test(tc, test_metrics_gzip_blocks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
