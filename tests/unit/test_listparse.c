/* listparse: list pages parsed item by item give exactly what one json-c
 * parse of the whole page gives, and malformed or truncated pages are
 * errors (never a crash, never an item that is not in the page). */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/listparse.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

struct names {
    char v[64][256];
    int n;
};

static int collect(void *data, struct json_object *item)
{
    struct names *ns = data;
    struct json_object *md, *name;
    if (ns->n < 64 && json_object_object_get_ex(item, "metadata", &md) &&
        json_object_object_get_ex(md, "name", &name))
        snprintf(ns->v[ns->n], sizeof(ns->v[0]), "%s", json_object_get_string(name));
    ns->n++;
    return 0;
}

START_TEST(fixture_pages_match_whole_parse)
{
    const char *files[] = {"persistentvolumes.json", "persistentvolumeclaims.json", "pods.json",
                           "storage.json", "velero.json"};
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", FIXTURES, files[f]);
        size_t len;
        char *b = slurp(path, &len);
        struct json_object *whole = json_tokener_parse(b), *items;
        ck_assert(json_object_object_get_ex(whole, "items", &items));
        struct names got = {.n = 0};
        struct json_object *md = NULL;
        ck_assert_int_eq(listparse_page(b, len, collect, &got, &md), 0);
        ck_assert_int_eq(got.n, (int)json_object_array_length(items));
        for (int i = 0; i < got.n && i < 64; i++) {
            struct json_object *m, *n;
            json_object_object_get_ex(json_object_array_get_idx(items, (size_t)i), "metadata", &m);
            json_object_object_get_ex(m, "name", &n);
            ck_assert_str_eq(got.v[i], json_object_get_string(n));
        }
        ck_assert_ptr_nonnull(md); /* the fixtures carry "metadata": {"resourceVersion": ""} */
        json_object_put(md);
        json_object_put(whole);
        free(b);
    }
}
END_TEST

START_TEST(metadata_anywhere_and_empty_forms)
{
    const char *page = " {\"items\" : [ {\"metadata\":{\"name\":\"a\",\"items\":[1]}} ,{\"metadata\":{\"name\":\"b\"}}],"
                       "\"kind\":\"PersistentVolumeList\",\"metadata\":{\"resourceVersion\":\"42\",\"continue\":\"c1\"}}\n";
    struct names got = {.n = 0};
    struct json_object *md = NULL, *v;
    ck_assert_int_eq(listparse_page(page, strlen(page), collect, &got, &md), 0);
    ck_assert_int_eq(got.n, 2);
    ck_assert_str_eq(got.v[0], "a");
    ck_assert_str_eq(got.v[1], "b");
    ck_assert(json_object_object_get_ex(md, "continue", &v));
    ck_assert_str_eq(json_object_get_string(v), "c1");
    json_object_put(md);
    const char *empty[] = {"{\"items\":[]}", "{\"items\":null,\"metadata\":{}}", "{ \"items\" : [ ] }"};
    for (size_t i = 0; i < 3; i++) {
        got.n = 0;
        ck_assert_int_eq(listparse_page(empty[i], strlen(empty[i]), collect, &got, NULL), 0);
        ck_assert_int_eq(got.n, 0);
    }
}
END_TEST

START_TEST(malformed_pages_are_errors)
{
    const char *bad[] = {"", "[]", "{}", "{\"kind\":\"X\"}", "{\"items\":{}}", "{\"items\":[1,]}",
                         "{\"items\":[{}] \"x\":1}", "{\"items\":[{}]", "{items:[]}",
                         "{\"items\":[{}],}", "{\"items\":\"no\"}", "null"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct names got = {.n = 0};
        struct json_object *md = (struct json_object *)1;
        ck_assert_msg(listparse_page(bad[i], strlen(bad[i]), collect, &got, &md) == -EBADMSG,
                      "accepted: %s", bad[i]);
        ck_assert_ptr_null(md);
    }
}
END_TEST

START_TEST(truncated_at_every_offset)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/storage.json", FIXTURES);
    size_t len;
    char *b = slurp(path, &len);
    struct names all = {.n = 0};
    ck_assert_int_eq(listparse_page(b, len, collect, &all, NULL), 0);
    /* The closing brace may be followed by whitespace: cut before it. */
    size_t end = len;
    while (end > 0 && b[end - 1] != '}')
        end--;
    for (size_t cut = 0; cut < end - 1; cut++) {
        struct names got = {.n = 0};
        int rc = listparse_page(b, cut, collect, &got, NULL);
        ck_assert_msg(rc == -EBADMSG, "cut at %zu gave %d", cut, rc);
        ck_assert_int_le(got.n, all.n);
    }
    free(b);
}
END_TEST

static int stop_at_two(void *data, struct json_object *item)
{
    (void)item;
    return ++*(int *)data == 2 ? 7 : 0;
}

START_TEST(callback_stops)
{
    const char *page = "{\"items\":[{},{},{}]}";
    int n = 0;
    ck_assert_int_eq(listparse_page(page, strlen(page), stop_at_two, &n, NULL), 7);
    ck_assert_int_eq(n, 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("listparse");
    TCase *tc = tcase_create("listparse");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fixture_pages_match_whole_parse);
    tcase_add_test(tc, metadata_anywhere_and_empty_forms);
    tcase_add_test(tc, malformed_pages_are_errors);
    tcase_add_test(tc, truncated_at_every_offset);
    tcase_add_test(tc, callback_stops);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
