/* /readyz bodies and codes in kube-apiserver's format (all pass, one fails,
 * verbose, exclude, one check, unknown check) and the loop watchdog. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "health/readyz.h"
#include "health/watchdog.h"
#include "util/clock.h"

struct flag {
    bool ok;
    const char *reason;
    int calls;
};

static bool check_flag(void *data, char *reason, size_t n)
{
    struct flag *f = data;
    f->calls++;
    if (!f->ok)
        snprintf(reason, n, "%s", f->reason);
    return f->ok;
}

static struct flag synced = {true, NULL, 0};
static struct flag apiserver = {true, NULL, 0};
static struct flag extension = {true, NULL, 0};

static struct readyz *make(void)
{
    synced = (struct flag){true, NULL, 0};
    apiserver = (struct flag){true, NULL, 0};
    extension = (struct flag){true, NULL, 0};
    struct readyz *r = readyz_new();
    ck_assert_int_eq(readyz_register(r, "synced", check_flag, &synced), 0);
    ck_assert_int_eq(readyz_register(r, "apiserver", check_flag, &apiserver), 0);
    ck_assert_int_eq(readyz_register(r, "extension", check_flag, &extension), 0);
    return r;
}

static int run(struct readyz *r, const char *only, const char *const *ex, size_t nex,
               bool verbose, char *out, size_t outlen)
{
    struct buf b;
    buf_init(&b, 0);
    int code = readyz_http(r, only, ex, nex, verbose, &b);
    snprintf(out, outlen, "%s", b.data ? b.data : "");
    buf_free(&b);
    return code;
}

START_TEST(test_all_pass)
{
    struct readyz *r = make();
    char out[1024];
    ck_assert_int_eq(run(r, NULL, NULL, 0, false, out, sizeof(out)), 200);
    ck_assert_str_eq(out, "ok");
    ck_assert_int_eq(run(r, NULL, NULL, 0, true, out, sizeof(out)), 200);
    ck_assert_str_eq(out, "[+]synced ok\n[+]apiserver ok\n[+]extension ok\nreadyz check passed\n");
    ck_assert_int_eq(synced.calls, 2);
    ck_assert_int_eq(readyz_count(r), 3);
    ck_assert_str_eq(readyz_name(r, 1), "apiserver");
    ck_assert_ptr_null(readyz_name(r, 3));
    readyz_free(r);
}
END_TEST

START_TEST(test_one_fails)
{
    struct readyz *r = make();
    extension.ok = false;
    extension.reason = "no Running dataprotection-microsoft pod\nsecond line";
    char out[1024];
    /* non-verbose failure prints the listing, as kube-apiserver does */
    const char *want = "[+]synced ok\n[+]apiserver ok\n"
                       "[-]extension failed: no Running dataprotection-microsoft pod second line\n"
                       "readyz check failed\n";
    ck_assert_int_eq(run(r, NULL, NULL, 0, false, out, sizeof(out)), 503);
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(run(r, NULL, NULL, 0, true, out, sizeof(out)), 503);
    ck_assert_str_eq(out, want);
    /* empty reason still gives a line */
    extension.reason = "";
    ck_assert_int_eq(run(r, "extension", NULL, 0, false, out, sizeof(out)), 503);
    ck_assert_str_eq(out, "[-]extension failed: unknown\n");
    readyz_free(r);
}
END_TEST

START_TEST(test_exclude)
{
    struct readyz *r = make();
    extension.ok = false;
    extension.reason = "down";
    char out[1024];
    const char *ex[] = {"extension"};
    ck_assert_int_eq(run(r, NULL, ex, 1, false, out, sizeof(out)), 200);
    ck_assert_str_eq(out, "ok");
    ck_assert_int_eq(extension.calls, 0); /* excluded checks are not run */
    ck_assert_int_eq(run(r, NULL, ex, 1, true, out, sizeof(out)), 200);
    ck_assert_str_eq(out, "[+]synced ok\n[+]apiserver ok\n[+]extension excluded: ok\n"
                          "readyz check passed\n");
    const char *ex2[] = {"extension", "nosuch", "other"};
    ck_assert_int_eq(run(r, NULL, ex2, 3, true, out, sizeof(out)), 200);
    ck_assert_str_eq(out, "[+]synced ok\n[+]apiserver ok\n[+]extension excluded: ok\n"
                          "warn: some health checks cannot be excluded: no matches for "
                          "\"nosuch\", \"other\"\nreadyz check passed\n");
    readyz_free(r);
}
END_TEST

START_TEST(test_single_and_unknown)
{
    struct readyz *r = make();
    apiserver.ok = false;
    apiserver.reason = "last request failed: 503";
    char out[1024];
    ck_assert_int_eq(run(r, "synced", NULL, 0, false, out, sizeof(out)), 200);
    ck_assert_str_eq(out, "ok");
    ck_assert_int_eq(run(r, "apiserver", NULL, 0, false, out, sizeof(out)), 503);
    ck_assert_str_eq(out, "[-]apiserver failed: last request failed: 503\n");
    ck_assert_int_eq(run(r, "nosuch", NULL, 0, false, out, sizeof(out)), 404);
    ck_assert_int_eq(readyz_register(r, "synced", check_flag, &synced), -EEXIST);
    readyz_free(r);
}
END_TEST

/* ---- watchdog ---- */

struct wd_fix {
    struct watchdog w;
    uv_timer_t stop;
    int closed;
};

static void on_wd_closed(void *data)
{
    ((struct wd_fix *)data)->closed++;
}

static void on_stop(uv_timer_t *t)
{
    struct wd_fix *f = t->data;
    watchdog_close(&f->w, on_wd_closed, f);
    uv_close((uv_handle_t *)t, NULL);
}

START_TEST(test_watchdog_ticks)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct wd_fix f = {.closed = 0};
    ck_assert_int_eq(watchdog_init(&f.w, &loop), 0);
    ck_assert_int_eq(watchdog_start(&f.w), 0);
    int64_t t0 = f.w.last_tick_ms;
    uv_timer_init(&loop, &f.stop);
    f.stop.data = &f;
    uv_timer_start(&f.stop, on_stop, 2 * WATCHDOG_INTERVAL_MS + 300, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(f.closed, 1);
    ck_assert_uint_eq(f.w.ticks, 2);
    ck_assert_int_ge(f.w.last_tick_ms - t0, 2 * WATCHDOG_INTERVAL_MS - 100);
    ck_assert(watchdog_alive(&f.w, clock_mono_ms()));
    ck_assert(watchdog_alive(&f.w, f.w.last_tick_ms + 10000));
    ck_assert(!watchdog_alive(&f.w, f.w.last_tick_ms + 10001));
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("readyz");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_all_pass);
    tcase_add_test(tc, test_one_fails);
    tcase_add_test(tc, test_exclude);
    tcase_add_test(tc, test_single_and_unknown);
    suite_add_tcase(s, tc);
    tc = tcase_create("watchdog");
    tcase_add_test(tc, test_watchdog_ticks);
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
