/* Reservations answered from their write (quota/pending.c): quota behind a
 * real HTTP server on a loop, with a fake asynchronous store whose writes
 * the client thread completes through control routes. 200 only after the
 * write landed, 503 and nothing counted when it fails, times out, is
 * refused, leadership is lost or the server closes; an idempotent retry
 * meanwhile waits for the same outcome. */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "http/server.h"
#include "http/routes_quota.h"
#include "quota/quota.h"
#include "quota/state.h"

#define MAXW 32
#define TOKEN "wait-token-1-0123456789abcdefghijk"

struct waitrec {
    quota_store_done_cb done;
    void *data;
};

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    struct http_server *srv;
    struct quota *q;
    int port;
    /* fake store, loop side */
    struct waitrec w[MAXW];
    int nw;
    int refuse;       /* save_wait answers this errno (negative) */
    int saves;        /* synchronous saves */
    int closed;
};

static struct fixture F;
static char tokfile[] = "/tmp/abc-qwait-token-XXXXXX";

/* ---- fake store ---- */

static int fs_load(void *ctx, char **data, size_t *len)
{
    (void)ctx;
    *data = NULL;
    *len = 0;
    return -ENOENT;
}

static int fs_save(void *ctx, const char *data, size_t len)
{
    (void)data;
    (void)len;
    ((struct fixture *)ctx)->saves++;
    return 0;
}

static int fs_set_aside(void *ctx, int64_t now, char *where, size_t n)
{
    (void)ctx;
    (void)now;
    if (n)
        where[0] = '\0';
    return 0;
}

static void fs_free(void *ctx) { (void)ctx; }

static int fs_save_wait(void *ctx, quota_store_done_cb done, void *data)
{
    struct fixture *f = ctx;
    if (f->refuse)
        return f->refuse;
    ck_assert_int_lt(f->nw, MAXW);
    f->w[f->nw].done = done;
    f->w[f->nw].data = data;
    f->nw++;
    return 0;
}

static const struct quota_store_ops fs_ops = {
    .name = "fake", .load = fs_load, .save = fs_save, .set_aside = fs_set_aside,
    .free = fs_free, .save_wait = fs_save_wait};

static void complete_all(struct fixture *f, int err)
{
    int n = f->nw;
    f->nw = 0;
    for (int i = 0; i < n; i++)
        f->w[i].done(f->w[i].data, err, err ? 500 : 200);
}

/* ---- control routes (loop side) ---- */

static void h_ctl(void *data, const struct http_request *req, struct http_response *resp)
{
    struct fixture *f = data;
    const char *what = req->path + strlen("/ctl/");
    if (strcmp(what, "land") == 0)
        complete_all(f, 0);
    else if (strcmp(what, "fail") == 0)
        complete_all(f, -EIO);
    else if (strcmp(what, "abort") == 0)
        quota_abort_pending(f->q);
    else if (strcmp(what, "refuse") == 0)
        f->refuse = -EPERM;
    else if (strcmp(what, "accept") == 0)
        f->refuse = 0;
    (void)!buf_printf(&resp->body, "%zu %d %ld", quota_pending_count(f->q), f->nw,
                      quota_used(f->q, "inst", ACCT_OP_BACKUP));
}

/* ---- client side ---- */

struct reply {
    int status;
    char text[4096];
    double secs;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void exchange(const char *raw, struct reply *r)
{
    memset(r, 0, sizeof(*r));
    r->status = -2;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    double t0 = now_s();
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
        (void)!send(fd, raw, strlen(raw), MSG_NOSIGNAL);
        size_t len = 0;
        for (;;) {
            ssize_t k = recv(fd, r->text + len, sizeof(r->text) - len - 1, 0);
            if (k <= 0)
                break;
            len += (size_t)k;
        }
        r->text[len] = '\0';
        if (len > 12)
            r->status = atoi(r->text + 9);
    }
    r->secs = now_s() - t0;
    close(fd);
}

static void post(const char *key, struct reply *r)
{
    char raw[512];
    snprintf(raw, sizeof(raw),
             "POST /api/v1/quota/inst/backup HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "Authorization: Bearer " TOKEN "\r\nIdempotency-Key: %s\r\nContent-Length: 0\r\n\r\n",
             key);
    exchange(raw, r);
}

/* "pending waits used" after the control action */
static void ctl(const char *what, int *pending, int *waits, long *used)
{
    char raw[256];
    snprintf(raw, sizeof(raw), "POST /ctl/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "Content-Length: 0\r\n\r\n", what);
    struct reply r;
    exchange(raw, &r);
    ck_assert_int_eq(r.status, 200);
    const char *b = strstr(r.text, "\r\n\r\n");
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(sscanf(b + 4, "%d %d %ld", pending, waits, used), 3);
}

static void wait_pending(int want_pending, int want_waits)
{
    int p = -1, w = -1;
    long u;
    for (int i = 0; i < 500 && (p != want_pending || w != want_waits); i++) {
        ctl("count", &p, &w, &u);
        if (p != want_pending || w != want_waits)
            usleep(10000);
    }
    ck_assert_int_eq(p, want_pending);
    ck_assert_int_eq(w, want_waits);
}

static const char *body_of(const struct reply *r)
{
    const char *p = strstr(r->text, "\r\n\r\n");
    return p ? p + 4 : "";
}

static long jused(const struct reply *r)
{
    struct json_object *o = json_tokener_parse(body_of(r)), *v;
    ck_assert_ptr_nonnull(o);
    ck_assert(json_object_object_get_ex(o, "used", &v));
    long n = (long)json_object_get_int64(v);
    json_object_put(o);
    return n;
}

struct bg {
    pthread_t th;
    const char *key;
    struct reply r;
    int done;   /* atomic: the answer arrived */
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    post(b->key, &b->r);
    __atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void bg_start(struct bg *b, const char *key)
{
    memset(b, 0, sizeof(*b));
    b->key = key;
    pthread_create(&b->th, NULL, bg_main, b);
}

/* ---- fixture ---- */

static void on_stop(uv_async_t *a)
{
    http_server_close(F.srv, NULL, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

static void on_quota_closed(void *data) { ((struct fixture *)data)->closed++; }

static void (*g_scenario)(void);
static void *client_main(void *arg)
{
    (void)arg;
    g_scenario();
    uv_async_send(&F.stop);
    return NULL;
}

static void run(void (*scenario)(void))
{
    memset(&F, 0, sizeof(F));
    ck_assert_int_eq(uv_loop_init(&F.loop), 0);
    struct quota_opts o = {.backup_limit = 10, .restore_limit = 10, .warn_ratio = 0.8,
                           .day_boundary = "UTC", .token_file = tokfile};
    ck_assert_int_eq(quota_init(&F.q, &F.loop, &o), 0);
    struct quota_store st = {.ops = &fs_ops, .ctx = &F};
    ck_assert_int_eq(quota_set_store(F.q, &st), 0);
    ck_assert_int_eq(http_server_init(&F.srv, &F.loop), 0);
    ck_assert_int_eq(quota_register_routes(F.q, F.srv), 0);
    ck_assert_int_eq(http_server_route(F.srv, "POST", "/ctl/", h_ctl, &F), 0);
    struct http_server_opts ho = {.listen = "127.0.0.1:0", .max_connections = 32,
                                  .read_timeout_s = 10};
    char err[256];
    ck_assert_int_eq(http_server_start(F.srv, &ho, err, sizeof(err)), 0);
    F.port = http_server_port(F.srv);
    uv_async_init(&F.loop, &F.stop, on_stop);
    g_scenario = scenario;
    pthread_t th;
    pthread_create(&th, NULL, client_main, NULL);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    quota_close(F.q, on_quota_closed, &F);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(F.closed, 1);
    complete_all(&F, -ECANCELED); /* writes outliving quota: records freed */
    ck_assert_int_eq(uv_loop_close(&F.loop), 0);
}

/* ---- tests ---- */

static void sc_land_and_replay(void)
{
    struct bg a, a2;
    bg_start(&a, "key-a");
    wait_pending(1, 1);
    usleep(100000);
    /* no answer before the write landed */
    ck_assert_int_eq(__atomic_load_n(&a.done, __ATOMIC_SEQ_CST), 0);
    bg_start(&a2, "key-a");          /* a retry meanwhile waits for the same write */
    usleep(100000);
    int p, w;
    long u;
    ctl("count", &p, &w, &u);
    ck_assert_int_eq(p, 1);
    ck_assert_int_eq(w, 1);
    ck_assert_int_eq(u, 1); /* in the ledger while waiting */
    ck_assert_int_eq(__atomic_load_n(&a2.done, __ATOMIC_SEQ_CST), 0);
    ctl("land", &p, &w, &u);
    pthread_join(a.th, NULL);
    pthread_join(a2.th, NULL);
    ck_assert_int_eq(a.r.status, 200);
    ck_assert_int_eq(jused(&a.r), 1);
    ck_assert_ptr_null(strstr(a.r.text, "Idempotent-Replayed"));
    ck_assert_int_eq(a2.r.status, 200);
    ck_assert_int_eq(jused(&a2.r), 1);
    ck_assert_ptr_nonnull(strstr(a2.r.text, "Idempotent-Replayed: true"));
    /* a retry after it landed: answered at once, nothing new to wait for */
    struct reply r;
    post("key-a", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.text, "Idempotent-Replayed: true"));
    ctl("count", &p, &w, &u);
    ck_assert_int_eq(w, 0);
    ck_assert_int_eq(u, 1);

    /* concurrent new reservations all complete */
    struct bg c[5];
    char keys[5][16];
    for (int i = 0; i < 5; i++) {
        snprintf(keys[i], sizeof(keys[i]), "key-c%d", i);
        bg_start(&c[i], keys[i]);
    }
    wait_pending(5, 5);
    ctl("land", &p, &w, &u);
    for (int i = 0; i < 5; i++) {
        pthread_join(c[i].th, NULL);
        ck_assert_int_eq(c[i].r.status, 200);
    }
    ctl("count", &p, &w, &u);
    ck_assert_int_eq(u, 6);
}

START_TEST(answered_once_landed)
{
    run(sc_land_and_replay);
}
END_TEST

static void sc_fail_then_retry(void)
{
    struct bg b;
    bg_start(&b, "key-b");
    wait_pending(1, 1);
    int p, w;
    long u;
    ctl("fail", &p, &w, &u);
    pthread_join(b.th, NULL);
    ck_assert_int_eq(b.r.status, 503);
    ck_assert_ptr_nonnull(strstr(body_of(&b.r), "\"error\":\"state_not_saved\""));
    ck_assert_ptr_nonnull(strstr(body_of(&b.r), "nothing was counted"));
    ck_assert_ptr_nonnull(strstr(b.r.text, "Retry-After: "));
    ck_assert_int_eq(p, 0);
    ck_assert_int_eq(u, 0); /* dropped */
    /* the same key again: a new reservation, counted once it lands */
    bg_start(&b, "key-b");
    wait_pending(1, 1);
    ctl("land", &p, &w, &u);
    pthread_join(b.th, NULL);
    ck_assert_int_eq(b.r.status, 200);
    ck_assert_int_eq(jused(&b.r), 1);
    ck_assert_ptr_null(strstr(b.r.text, "Idempotent-Replayed"));

    /* not even queued (not the leader): 503 at once */
    ctl("refuse", &p, &w, &u);
    struct reply r;
    post("key-e", &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_ptr_nonnull(strstr(body_of(&r), "state_not_saved"));
    ctl("accept", &p, &w, &u);
    ck_assert_int_eq(u, 1);

    /* leadership lost while waiting */
    bg_start(&b, "key-d");
    wait_pending(1, 1);
    ctl("abort", &p, &w, &u);
    pthread_join(b.th, NULL);
    ck_assert_int_eq(b.r.status, 503);
    ck_assert_int_eq(p, 0);
    ck_assert_int_eq(u, 1);
    ctl("land", &p, &w, &u); /* that write lands late: it changes nothing */
    ck_assert_int_eq(u, 1);
}

START_TEST(failed_refused_aborted_not_counted)
{
    run(sc_fail_then_retry);
}
END_TEST

static struct bg g_close_bg;

static void sc_deadline_and_close(void)
{
    struct bg b;
    bg_start(&b, "key-slow");
    pthread_join(b.th, NULL);
    ck_assert_int_eq(b.r.status, 503);
    ck_assert_double_ge(b.r.secs, QUOTA_WRITE_DEADLINE_MS / 1000.0 - 0.1);
    ck_assert_double_le(b.r.secs, QUOTA_WRITE_DEADLINE_MS / 1000.0 + 1.0);
    int p, w;
    long u;
    ctl("count", &p, &w, &u);
    ck_assert_int_eq(p, 0);
    ck_assert_int_eq(w, 1); /* the write is still out */
    ck_assert_int_eq(u, 0);
    ctl("land", &p, &w, &u);
    ck_assert_int_eq(u, 0);
    /* the server closes with one waiting: 503, nothing counted */
    bg_start(&g_close_bg, "key-close");
    wait_pending(1, 1);
    /* returning closes the server; joined in the test after the loop */
}

START_TEST(deadline_and_close)
{
    run(sc_deadline_and_close);
    struct bg *b = &g_close_bg;
    pthread_join(b->th, NULL);
    ck_assert_int_eq(b->r.status, 503);
    ck_assert_ptr_nonnull(strstr(body_of(&b->r), "state_not_saved"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("quota_wait");
    TCase *tc = tcase_create("wait");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, answered_once_landed);
    tcase_add_test(tc, failed_refused_aborted_not_counted);
    tcase_add_test(tc, deadline_and_close);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int fd = mkstemp(tokfile);
    if (fd < 0 || write(fd, TOKEN "\n", strlen(TOKEN) + 1) != (ssize_t)strlen(TOKEN) + 1) {
        perror("token file");
        return EXIT_FAILURE;
    }
    close(fd);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    unlink(tokfile);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
