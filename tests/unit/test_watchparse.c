/* watchparse.c: a sample watch stream split at every byte offset (and in
 * three pieces) yields the same events; malformed, truncated, oversized
 * and non-event input are errors. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "kube/watchparse.h"

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"pv-1\",\"resourceVersion\":\"10\"},"
    "\"spec\":{\"capacity\":{\"storage\":\"1Gi\"},\"n\":12345,\"f\":1.5e3,\"u\":\"\\u00e9\\\"x\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"pv-1\",\"resourceVersion\":\"11\"}}}\n"
    "\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"12\"}}}\r\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"pv-1\",\"resourceVersion\":\"13\"},\"a\":[1,2,{\"b\":null}],\"t\":true}}\n";

struct seen {
    char log[1024];
    int n;
};

static int on_ev(void *d, const char *type, struct json_object *obj)
{
    struct seen *s = d;
    struct json_object *md, *rv;
    json_object_object_get_ex(obj, "metadata", &md);
    json_object_object_get_ex(md, "resourceVersion", &rv);
    size_t l = strlen(s->log);
    snprintf(s->log + l, sizeof(s->log) - l, "%s:%s;", type, json_object_get_string(rv));
    s->n++;
    return 0;
}

static const char *expected = "ADDED:10;MODIFIED:11;BOOKMARK:12;DELETED:13;";

START_TEST(every_split)
{
    size_t len = strlen(stream);
    struct watchparse *p = watchparse_new(0);
    for (size_t cut = 0; cut <= len; cut++) {
        struct seen s = {{0}, 0};
        watchparse_reset(p);
        ck_assert_int_eq(watchparse_feed(p, stream, cut, on_ev, &s), 0);
        ck_assert_int_eq(watchparse_feed(p, stream + cut, len - cut, on_ev, &s), 0);
        ck_assert_int_eq(watchparse_finish(p), 0);
        ck_assert_msg(strcmp(s.log, expected) == 0, "cut %zu: %s", cut, s.log);
    }
    watchparse_free(p);
}
END_TEST

START_TEST(three_pieces_and_bytes)
{
    size_t len = strlen(stream);
    struct watchparse *p = watchparse_new(0);
    for (size_t a = 0; a <= len; a += 7) {
        for (size_t b = a; b <= len; b += 13) {
            struct seen s = {{0}, 0};
            watchparse_reset(p);
            ck_assert_int_eq(watchparse_feed(p, stream, a, on_ev, &s), 0);
            ck_assert_int_eq(watchparse_feed(p, stream + a, b - a, on_ev, &s), 0);
            ck_assert_int_eq(watchparse_feed(p, stream + b, len - b, on_ev, &s), 0);
            ck_assert_str_eq(s.log, expected);
        }
    }
    /* byte by byte */
    struct seen s = {{0}, 0};
    watchparse_reset(p);
    for (size_t i = 0; i < len; i++)
        ck_assert_int_eq(watchparse_feed(p, stream + i, 1, on_ev, &s), 0);
    ck_assert_str_eq(s.log, expected);
    watchparse_free(p);
}
END_TEST

START_TEST(truncated)
{
    size_t len = strlen(stream);
    struct watchparse *p = watchparse_new(0);
    /* every prefix that ends inside an event is truncated at finish */
    int ntrunc = 0;
    for (size_t cut = 1; cut < len; cut++) {
        struct seen s = {{0}, 0};
        watchparse_reset(p);
        ck_assert_int_eq(watchparse_feed(p, stream, cut, on_ev, &s), 0);
        int rc = watchparse_finish(p);
        bool at_boundary = stream[cut - 1] == '}' && (stream[cut] == '\n' || stream[cut] == '\r');
        bool in_ws = stream[cut - 1] == '\n' || stream[cut - 1] == '\r';
        if (at_boundary || in_ws) {
            ck_assert_msg(rc == 0, "cut %zu", cut);
        } else {
            ck_assert_msg(rc == -EBADMSG, "cut %zu rc %d", cut, rc);
            ntrunc++;
        }
    }
    ck_assert_int_gt(ntrunc, 200);
    watchparse_free(p);
}
END_TEST

static int feed_str(const char *in)
{
    struct watchparse *p = watchparse_new(0);
    struct seen s = {{0}, 0};
    int rc = watchparse_feed(p, in, strlen(in), on_ev, &s);
    watchparse_free(p);
    return rc;
}

START_TEST(malformed)
{
    ck_assert_int_eq(feed_str("{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}\n"), 0);
    ck_assert_int_eq(feed_str("{not json}\n"), -EBADMSG);
    ck_assert_int_eq(feed_str("{\"type\":\"ADDED\",\"object\":{]}\n"), -EBADMSG);
    ck_assert_int_eq(feed_str("[1,2]\n"), -EBADMSG);
    ck_assert_int_eq(feed_str("garbage\n"), -EBADMSG);
    ck_assert_int_eq(feed_str("{\"type\":\"ADDED\"}\n"), -EBADMSG);          /* no object */
    ck_assert_int_eq(feed_str("{\"type\":1,\"object\":{}}\n"), -EBADMSG);    /* type not a string */
    ck_assert_int_eq(feed_str("{\"type\":\"ADDED\",\"object\":3}\n"), -EBADMSG);
    ck_assert_int_eq(feed_str("{'type':'ADDED','object':{}}\n"), -EBADMSG);  /* strict */
    /* error after a good event: the good one was delivered */
    struct watchparse *p = watchparse_new(0);
    struct seen s = {{0}, 0};
    const char *two = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}\n{oops\n";
    ck_assert_int_eq(watchparse_feed(p, two, strlen(two), on_ev, &s), -EBADMSG);
    ck_assert_int_eq(s.n, 1);
    watchparse_free(p);
}
END_TEST

START_TEST(too_big)
{
    struct watchparse *p = watchparse_new(1024);
    struct seen s = {{0}, 0};
    char big[4096];
    int n = snprintf(big, sizeof(big), "{\"type\":\"ADDED\",\"object\":{\"x\":\"");
    memset(big + n, 'a', 2000);
    memcpy(big + n + 2000, "\"}}\n", 5);
    /* in one piece and in small pieces */
    ck_assert_int_eq(watchparse_feed(p, big, strlen(big), on_ev, &s), -E2BIG);
    watchparse_reset(p);
    int rc = 0;
    for (size_t i = 0; i < strlen(big) && rc == 0; i += 100)
        rc = watchparse_feed(p, big + i, strlen(big) - i < 100 ? strlen(big) - i : 100, on_ev, &s);
    ck_assert_int_eq(rc, -E2BIG);
    ck_assert_int_eq(s.n, 0);
    /* an event just under the bound passes */
    watchparse_reset(p);
    char ok[1024];
    n = snprintf(ok, sizeof(ok), "{\"type\":\"ADDED\",\"object\":{\"x\":\"");
    memset(ok + n, 'b', 900);
    memcpy(ok + n + 900, "\"}}\n", 5);
    ck_assert_int_eq(watchparse_feed(p, ok, strlen(ok), on_ev, &s), 0);
    ck_assert_int_eq(s.n, 1);
    watchparse_free(p);
}
END_TEST

static int stop_cb(void *d, const char *type, struct json_object *obj)
{
    (*(int *)d)++;
    return 7;
}

START_TEST(callback_stops)
{
    struct watchparse *p = watchparse_new(0);
    int n = 0;
    ck_assert_int_eq(watchparse_feed(p, stream, strlen(stream), stop_cb, &n), 7);
    ck_assert_int_eq(n, 1);
    watchparse_free(p);
}
END_TEST

START_TEST(type_labels_closed_set)
{
    ck_assert_str_eq(watchparse_type_label("ADDED"), "ADDED");
    ck_assert_str_eq(watchparse_type_label("MODIFIED"), "MODIFIED");
    ck_assert_str_eq(watchparse_type_label("DELETED"), "DELETED");
    ck_assert_str_eq(watchparse_type_label("BOOKMARK"), "BOOKMARK");
    ck_assert_str_eq(watchparse_type_label("ERROR"), "ERROR");
    /* Anything else from the server gets no label (no new series). */
    ck_assert_ptr_null(watchparse_type_label("added"));
    ck_assert_ptr_null(watchparse_type_label("ADDED2"));
    ck_assert_ptr_null(watchparse_type_label(""));
    ck_assert_ptr_null(watchparse_type_label(NULL));
}
END_TEST

int main(void)
{
    Suite *su = suite_create("watchparse");
    TCase *tc = tcase_create("chunking");
    tcase_add_test(tc, every_split);
    tcase_add_test(tc, three_pieces_and_bytes);
    suite_add_tcase(su, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, truncated);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, too_big);
    tcase_add_test(tc, callback_stops);
    tcase_add_test(tc, type_labels_closed_set);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
