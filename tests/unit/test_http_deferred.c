/* Deferred HTTP answers (http/server.h http_request_defer): the server runs
 * on a libuv loop in the main thread, client threads speak raw HTTP/1.1;
 * answers finished later from a timer, inside the handler, all at once for
 * concurrent requests, after the client left, and cancelled by a close. */
#include <check.h>
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

#include "http/server.h"
#include "http_client.h"

#define MAXR 32
#define MAXHOLD 32

struct fixture {
    uv_loop_t loop;
    uv_async_t done;
    struct http_server *srv;
    int port;
    void (*scenario)(struct fixture *f);
    struct result res[MAXR];
    int nres;
    pthread_mutex_t mu;
    pthread_t extra[MAXR];
    int nextra;
    /* loop side */
    struct http_deferred *held[MAXHOLD];
    int nheld;
    int cancels;
    int server_closed;
};

static struct fixture *g;

static struct result *slot(struct fixture *f)
{
    pthread_mutex_lock(&f->mu);
    struct result *r = &f->res[f->nres++];
    pthread_mutex_unlock(&f->mu);
    return r;
}

/* Sends raw, reads until EOF into r. */
static void exchange_into(struct fixture *f, struct result *r, const char *raw)
{
    exchange_port(f->port, raw, strlen(raw), r);
}

static struct result *get(struct fixture *f, const char *target)
{
    char raw[512];
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target);
    struct result *r = slot(f);
    exchange_into(f, r, raw);
    return r;
}

/* ---- routes (run on the loop) ---- */

struct later {
    uv_timer_t t;
    struct http_deferred *d;
    int status;
};

static void later_fire(uv_timer_t *t)
{
    struct later *l = (struct later *)t;
    struct http_response resp;
    http_response_init(&resp);
    resp.status = l->status;
    resp.content_type = "application/json";
    (void)http_response_header(&resp, "X-Late", "yes");
    (void)!buf_adds(&resp.body, "{\"late\":true}");
    http_deferred_finish(l->d, &resp);
    ck_assert_ptr_null(resp.body.data); /* taken */
    buf_free(&resp.body);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void h_later(void *data, const struct http_request *req, struct http_response *resp)
{
    struct fixture *f = data;
    (void)!buf_adds(&resp->body, "not this"); /* discarded once deferred */
    const char *ms = http_request_query(req, "ms");
    const char *st = http_request_query(req, "status");
    struct later *l = calloc(1, sizeof(*l));
    ck_assert_ptr_nonnull(l);
    l->d = http_request_defer(req, NULL, NULL);
    ck_assert_ptr_nonnull(l->d);
    ck_assert_ptr_null(http_request_defer(req, NULL, NULL)); /* once per request */
    l->status = st ? (int)strtol(st, NULL, 10) : 200;
    uv_timer_init(&f->loop, &l->t);
    uv_timer_start(&l->t, later_fire, ms ? strtoul(ms, NULL, 10) : 50, 0);
}

static void h_now(void *data, const struct http_request *req, struct http_response *resp)
{
    (void)data;
    (void)resp;
    struct http_deferred *d = http_request_defer(req, NULL, NULL);
    ck_assert_ptr_nonnull(d);
    struct http_response r2;
    http_response_init(&r2);
    (void)!buf_adds(&r2.body, "now");
    http_deferred_finish(d, &r2);
    buf_free(&r2.body);
}

static void on_cancel(void *data, struct http_response *resp)
{
    struct fixture *f = data;
    f->cancels++;
    /* the owner forgets its handles; the client gets the owner's text */
    f->nheld = 0;
    buf_reset(&resp->body);
    (void)!buf_adds(&resp->body, "cancelled by owner");
}

static void h_hold(void *data, const struct http_request *req, struct http_response *resp)
{
    struct fixture *f = data;
    (void)resp;
    ck_assert_int_lt(f->nheld, MAXHOLD);
    struct http_deferred *d = http_request_defer(req, on_cancel, f);
    ck_assert_ptr_nonnull(d);
    f->held[f->nheld++] = d;
}

static void h_release(void *data, const struct http_request *req, struct http_response *resp)
{
    (void)req;
    struct fixture *f = data;
    for (int i = 0; i < f->nheld; i++) {
        struct http_response r;
        http_response_init(&r);
        (void)!buf_printf(&r.body, "released %d", i);
        http_deferred_finish(f->held[i], &r);
        buf_free(&r.body);
    }
    (void)!buf_printf(&resp->body, "released %d", f->nheld);
    f->nheld = 0;
}

static void h_count(void *data, const struct http_request *req, struct http_response *resp)
{
    (void)req;
    struct fixture *f = data;
    (void)!buf_printf(&resp->body, "%u", http_server_deferred_count(f->srv));
}

/* ---- fixture ---- */

static void on_server_closed(void *data)
{
    struct fixture *f = data;
    f->server_closed++;
}

static void on_done(uv_async_t *a)
{
    struct fixture *f = a->data;
    http_server_close(f->srv, on_server_closed, f);
    uv_close((uv_handle_t *)a, NULL);
}

static void *client_main(void *arg)
{
    struct fixture *f = arg;
    f->scenario(f);
    uv_async_send(&f->done);
    for (int i = 0; i < f->nextra; i++)
        pthread_join(f->extra[i], NULL);
    return NULL;
}

static void run_fixture(struct fixture *f, void (*scenario)(struct fixture *))
{
    memset(f, 0, sizeof(*f));
    g = f;
    pthread_mutex_init(&f->mu, NULL);
    ck_assert_int_eq(uv_loop_init(&f->loop), 0);
    ck_assert_int_eq(http_server_init(&f->srv, &f->loop), 0);
    ck_assert_int_eq(http_server_route(f->srv, "GET", "/later", h_later, f), 0);
    ck_assert_int_eq(http_server_route(f->srv, "GET", "/now", h_now, f), 0);
    ck_assert_int_eq(http_server_route(f->srv, "GET", "/hold", h_hold, f), 0);
    ck_assert_int_eq(http_server_route(f->srv, "GET", "/release", h_release, f), 0);
    ck_assert_int_eq(http_server_route(f->srv, "GET", "/count", h_count, f), 0);
    struct http_server_opts o = {.listen = "127.0.0.1:0", .max_connections = 64,
                                 .read_timeout_s = 5};
    char err[256] = "";
    ck_assert_msg(http_server_start(f->srv, &o, err, sizeof(err)) == 0, "%s", err);
    f->port = http_server_port(f->srv);
    f->scenario = scenario;
    uv_async_init(&f->loop, &f->done, on_done);
    f->done.data = f;
    pthread_t th;
    pthread_create(&th, NULL, client_main, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    ck_assert_int_eq(f->server_closed, 1);
    ck_assert_int_eq(uv_loop_close(&f->loop), 0);
    pthread_mutex_destroy(&f->mu);
}

static void fixture_done(struct fixture *f) { results_free(f->res, f->nres); }

/* Polls /count until it says want (at most 3 s). */
static bool wait_count(struct fixture *f, unsigned want)
{
    char w[16];
    snprintf(w, sizeof(w), "%u", want);
    for (int i = 0; i < 300; i++) {
        struct result r = {0};
        exchange_into(f, &r, "GET /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        bool ok = r.status == 200 && strcmp(body_of(&r), w) == 0;
        free(r.text);
        if (ok)
            return true;
        usleep(10000);
    }
    return false;
}

struct hold_arg {
    struct fixture *f;
    struct result *r;
};

static void *hold_main(void *arg)
{
    struct hold_arg *h = arg;
    exchange_into(h->f, h->r, "GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    free(h);
    return NULL;
}

static void spawn_hold(struct fixture *f)
{
    struct hold_arg *h = malloc(sizeof(*h));
    h->f = f;
    h->r = slot(f);
    pthread_create(&f->extra[f->nextra++], NULL, hold_main, h);
}

/* ---- tests ---- */

static void sc_basic(struct fixture *f)
{
    get(f, "/later?ms=150&status=201"); /* 0 */
    get(f, "/now");                     /* 1 */
    /* keep-alive: a deferred answer, then the next request on the same
     * connection (pipelined in one write) */
    struct result *r = slot(f);         /* 2 */
    exchange_into(f, r,
                  "GET /later?ms=30 HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    get(f, "/count");                   /* 3 */
}

START_TEST(answers_later_now_and_keepalive)
{
    struct fixture f;
    run_fixture(&f, sc_basic);
    ck_assert_int_eq(f.res[0].status, 201);
    ck_assert_str_eq(body_of(&f.res[0]), "{\"late\":true}");
    ck_assert_ptr_nonnull(strstr(f.res[0].text, "X-Late: yes"));
    ck_assert_ptr_nonnull(strstr(f.res[0].text, "Content-Type: application/json"));
    ck_assert_double_ge(f.res[0].secs, 0.14);
    ck_assert_double_lt(f.res[0].secs, 2.0);
    ck_assert_int_eq(f.res[1].status, 200);
    ck_assert_str_eq(body_of(&f.res[1]), "now");
    ck_assert_int_eq(f.res[2].status, 200);
    const char *second = strstr(f.res[2].text + 5, "HTTP/1.1 200");
    ck_assert_ptr_nonnull(second);
    ck_assert_ptr_nonnull(strstr(f.res[2].text, "{\"late\":true}"));
    ck_assert_ptr_nonnull(strstr(second, "\r\n\r\nnow"));
    ck_assert_str_eq(body_of(&f.res[3]), "0");
    ck_assert_int_eq(f.cancels, 0);
    fixture_done(&f);
}
END_TEST

static void sc_concurrent(struct fixture *f)
{
    for (int i = 0; i < 8; i++)
        spawn_hold(f);
    ck_assert(wait_count(f, 8));
    struct result *r = get(f, "/release");
    ck_assert_str_eq(body_of(r), "released 8");
    for (int i = 0; i < f->nextra; i++)
        pthread_join(f->extra[i], NULL);
    f->nextra = 0;
    ck_assert(wait_count(f, 0));
}

START_TEST(concurrent_deferred_all_complete)
{
    struct fixture f;
    run_fixture(&f, sc_concurrent);
    int released = 0;
    for (int i = 0; i < f.nres; i++)
        if (strstr(body_of(&f.res[i]), "released ") && f.res[i].status == 200)
            released++;
    ck_assert_int_eq(released, 9); /* 8 held + /release itself */
    ck_assert_int_eq(f.cancels, 0);
    fixture_done(&f);
}
END_TEST

static void sc_disconnect(struct fixture *f)
{
    int fd = dial(f->port);
    ck_assert_int_ge(fd, 0);
    const char *raw = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
    ck_assert_int_eq(send(fd, raw, strlen(raw), MSG_NOSIGNAL), (ssize_t)strlen(raw));
    ck_assert(wait_count(f, 1));
    close(fd); /* the client goes away while the answer is pending */
    usleep(50000);
    struct result *r = get(f, "/release"); /* the answer to nobody is dropped */
    ck_assert_str_eq(body_of(r), "released 1");
    ck_assert(wait_count(f, 0));
    r = get(f, "/now");
    ck_assert_str_eq(body_of(r), "now");
}

START_TEST(client_gone_before_answer)
{
    struct fixture f;
    run_fixture(&f, sc_disconnect);
    ck_assert_int_eq(f.cancels, 0);
    fixture_done(&f);
}
END_TEST

static void sc_close_pending(struct fixture *f)
{
    spawn_hold(f);
    spawn_hold(f);
    ck_assert(wait_count(f, 2));
    /* returning closes the server with both answers pending */
}

START_TEST(close_answers_pending_with_503)
{
    struct fixture f;
    double t0 = now_s();
    run_fixture(&f, sc_close_pending);
    ck_assert_double_lt(now_s() - t0, 4.0);
    ck_assert_int_ge(f.cancels, 1);
    ck_assert_int_le(f.cancels, 2);
    int got = 0;
    for (int i = 0; i < f.nres; i++) {
        if (f.res[i].status != 503)
            continue;
        got++;
        ck_assert_ptr_nonnull(strstr(f.res[i].text, "Retry-After: 1"));
        /* the first cancel replaced its body; the other handle was then
         * forgotten by the owner, so its body is the server's */
        const char *b = body_of(&f.res[i]);
        ck_assert(strcmp(b, "cancelled by owner") == 0 ||
                  strstr(b, "\"error\":\"shutting_down\"") != NULL);
    }
    ck_assert_int_eq(got, 2);
    fixture_done(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_deferred");
    TCase *tc = tcase_create("deferred");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, answers_later_now_and_keepalive);
    tcase_add_test(tc, concurrent_deferred_all_complete);
    tcase_add_test(tc, client_gone_before_answer);
    tcase_add_test(tc, close_answers_pending_with_503);
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
