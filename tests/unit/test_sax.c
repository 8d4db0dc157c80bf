/* sax.c: the streaming matcher gives, for every field table and every
 * fixture item, exactly the values that model_view_from_json reads from a
 * json-c tree of the same item, whatever the chunking; watch events take
 * the fast path only when their type is known first and is not ERROR;
 * skipped parts of an object are not copied; bad input is an error. */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/sax.h"
#include "model/fields.h"
#include "model/records.h"

/* The table-driven types (nodes are read from a json-c tree: their Ready
 * condition sits in an array the tables do not address). */
static const struct model_type *const types[] = {
    &model_pv_type,       &model_pvc_type,          &model_storageclass_type, &model_csidriver_type,
    &model_snapshot_type, &model_snapshotclass_type,
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static const char *const files[] = {"persistentvolumes.json", "persistentvolumeclaims.json",
                                    "volumesnapshots.json",   "storage.json",
                                    "nodes.json",             "pods.json",
                                    "velero.json",            "namespaces.json",
                                    /* labels and annotations under velero.io/, quantities,
                                     * volume attributes and class parameters */
                                    "matrix/persistentvolumes.json", "matrix/persistentvolumeclaims.json",
                                    "matrix/storage.json"};
#define NFILES (sizeof(files) / sizeof(files[0]))

static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
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

/* Views equal: same values set, same strings, same booleans, same keys. */
static void view_eq(const struct model_view *a, const struct model_view *b, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(a->v[i].set == b->v[i].set, "%s: field %zu set %d vs %d", what, i, a->v[i].set,
                      b->v[i].set);
        if (!a->v[i].set)
            continue;
        ck_assert_msg(a->v[i].b == b->v[i].b, "%s: field %zu bool", what, i);
        ck_assert_msg((a->v[i].s == NULL) == (b->v[i].s == NULL), "%s: field %zu string presence", what, i);
        if (a->v[i].s) {
            ck_assert_msg(strcmp(a->v[i].s, b->v[i].s) == 0, "%s: field %zu '%s' vs '%s'", what, i, a->v[i].s,
                          b->v[i].s);
            ck_assert_uint_eq(a->v[i].len, b->v[i].len);
        }
    }
    ck_assert_uint_eq(a->nkeys, b->nkeys);
    for (size_t i = 0; i < a->nkeys; i++)
        ck_assert_str_eq(a->keys[i], b->keys[i]);
}

struct expect {
    const struct model_type *t;
    struct json_object *items;
    size_t next;
    int fast, tree;
    const char *what;
};

static int check_item(void *data, const char *type, const struct sax_item *it)
{
    struct expect *e = data;
    ck_assert_uint_lt(e->next, json_object_array_length(e->items));
    struct json_object *want = json_object_array_get_idx(e->items, e->next++);
    struct model_view wv, tv;
    model_view_from_json(e->t->fields, want, &wv);
    const struct model_view *got = it->view;
    if (!got) {
        ck_assert_ptr_nonnull(it->json);
        model_view_from_json(e->t->fields, it->json, &tv);
        got = &tv;
        e->tree++;
    } else {
        e->fast++;
    }
    view_eq(got, &wv, e->t->fields->n, e->what);
    /* and the records built both ways agree on the head */
    void *r1 = NULL, *r2 = NULL;
    int rc1 = model_view_extract(e->t, got, &r1);
    int rc2 = e->t->extract(e->t, want, &r2);
    ck_assert_int_eq(rc1, rc2);
    if (rc1 == 0) {
        ck_assert_str_eq(model_meta(r1)->name, model_meta(r2)->name);
        char b1[MODEL_RV_BUF], b2[MODEL_RV_BUF];
        ck_assert_str_eq(model_meta_rv(model_meta(r1), b1), model_meta_rv(model_meta(r2), b2));
        ck_assert_int_eq(model_meta(r1)->created, model_meta(r2)->created);
        e->t->free(r1);
        e->t->free(r2);
    }
    (void)type;
    return 0;
}

static void feed_chunks(struct sax *s, const char *b, size_t len, size_t chunk, struct expect *e)
{
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        ck_assert_int_eq(sax_feed(s, b + off, n, check_item, e), 0);
    }
}

START_TEST(list_pages_match_json_views)
{
    static const size_t chunks[] = {1, 3, 61, 4096, 1 << 20};
    for (size_t f = 0; f < NFILES; f++) {
        size_t len;
        char *b = slurp(files[f], &len);
        struct json_object *whole = json_tokener_parse(b), *items;
        ck_assert(json_object_object_get_ex(whole, "items", &items));
        for (size_t t = 0; t < NTYPES; t++) {
            struct sax *s = sax_new(types[t], 0);
            for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
                if (chunks[c] == 1 && len > 20000 && t > 0)
                    continue; /* byte by byte once per large file is enough */
                char what[128];
                snprintf(what, sizeof(what), "%s as %s, chunks of %zu", files[f], types[t]->resource, chunks[c]);
                struct expect e = {.t = types[t], .items = items, .what = what};
                ck_assert_int_eq(sax_reset(s, SAX_LIST), 0);
                feed_chunks(s, b, len, chunks[c], &e);
                ck_assert_int_eq(sax_finish(s), 0);
                ck_assert_uint_eq(e.next, json_object_array_length(items));
                ck_assert_int_eq(e.tree, 0);
                ck_assert_ptr_nonnull(sax_list_metadata(s));
            }
            sax_free(s);
        }
        json_object_put(whole);
        free(b);
    }
}
END_TEST

/* The fixture's items as a watch stream: {"type":T,"object":item} per line
 * (or object first when object_first). */
static char *as_stream(struct json_object *items, const char *type, int object_first, size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        const char *o = json_object_to_json_string_ext(json_object_array_get_idx(items, i), JSON_C_TO_STRING_PLAIN);
        size_t need = strlen(o) + 64;
        while (n + need >= cap)
            out = realloc(out, cap *= 2);
        n += (size_t)(object_first ? snprintf(out + n, cap - n, "{\"object\":%s,\"type\":\"%s\"}\n", o, type)
                                   : snprintf(out + n, cap - n, "{\"type\":\"%s\",\"x\":[1,{\"y\":2}],\"object\":%s}\r\n",
                                              type, o));
    }
    *len = n;
    return out;
}

START_TEST(watch_events_match_json_views)
{
    size_t len;
    char *b = slurp("persistentvolumes.json", &len);
    struct json_object *whole = json_tokener_parse(b), *items;
    ck_assert(json_object_object_get_ex(whole, "items", &items));
    size_t nitems = json_object_array_length(items);
    struct sax *s = sax_new(&model_pv_type, 0);
    static const struct {
        const char *type;
        int object_first, fast;
    } cases[] = {{"ADDED", 0, 1}, {"MODIFIED", 0, 1}, {"DELETED", 0, 1}, {"ADDED", 1, 0}, {"ERROR", 0, 0}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t slen;
        char *stream = as_stream(items, cases[c].type, cases[c].object_first, &slen);
        static const size_t chunks[] = {1, 5, 997, 1 << 20};
        for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
            struct expect e = {.t = &model_pv_type, .items = items, .what = cases[c].type};
            ck_assert_int_eq(sax_reset(s, SAX_WATCH), 0);
            feed_chunks(s, stream, slen, chunks[k], &e);
            ck_assert_int_eq(sax_finish(s), 0);
            ck_assert_uint_eq(e.next, nitems);
            ck_assert_int_eq(e.fast, cases[c].fast ? (int)nitems : 0);
            ck_assert_int_eq(e.tree, cases[c].fast ? 0 : (int)nitems);
        }
        free(stream);
    }
    sax_free(s);
    json_object_put(whole);
    free(b);
}
END_TEST

static int count_cb(void *data, const char *type, const struct sax_item *it)
{
    (void)type;
    (void)it;
    (*(int *)data)++;
    return 0;
}

START_TEST(skipped_fields_are_not_copied)
{
    /* A PV with 1 MiB of managedFields and status noise: only the matched
     * values reach the arena. */
    size_t big = 1 << 20;
    char *doc = malloc(big + 1024);
    int n = snprintf(doc, 1024,
                     "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"pv-1\",\"uid\":\"u-1\","
                     "\"resourceVersion\":\"7\",\"managedFields\":[{\"x\":\"");
    memset(doc + n, 'm', big);
    n += (int)big;
    n += snprintf(doc + n, 1024, "\"}]},\"spec\":{\"csi\":{\"driver\":\"disk.csi.azure.com\"}},"
                                 "\"status\":{\"phase\":\"Bound\",\"message\":\"%s\"}}}\n",
                  "a status message that is not read");
    struct sax *s = sax_new(&model_pv_type, 0);
    int events = 0;
    ck_assert_int_eq(sax_feed(s, doc, (size_t)n, count_cb, &events), 0);
    ck_assert_int_eq(events, 1);
    ck_assert_uint_lt(sax_copied_bytes(s), 128);
    sax_free(s);
    free(doc);
}
END_TEST

START_TEST(bad_input)
{
    struct sax *s = sax_new(&model_pv_type, 4096);
    int n = 0;
    /* too deep */
    char deep[1024] = "{\"type\":\"ADDED\",\"object\":";
    size_t l = strlen(deep);
    for (int i = 0; i < 200; i++)
        deep[l++] = '[';
    deep[l] = '\0';
    ck_assert_int_eq(sax_feed(s, deep, l, count_cb, &n), -EBADMSG);
    /* not an object, trailing garbage, top-level scalar, no object */
    const char *bad[] = {"[1]\n", "{\"type\":\"ADDED\",\"object\":{}} x\n", "5\n",
                         "{\"type\":\"ADDED\"}\n", "{\"type\":\"ADDED\",\"object\":[]}\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(sax_reset(s, SAX_WATCH), 0);
        ck_assert_msg(sax_feed(s, bad[i], strlen(bad[i]), count_cb, &n) == -EBADMSG, "accepted %s", bad[i]);
    }
    /* lists */
    const char *badlist[] = {"{\"items\":3}", "{\"items\":{}}", "[]", "{\"kind\":\"X\"}"};
    for (size_t i = 0; i < sizeof(badlist) / sizeof(badlist[0]); i++) {
        ck_assert_int_eq(sax_reset(s, SAX_LIST), 0);
        int rc = sax_feed(s, badlist[i], strlen(badlist[i]), count_cb, &n);
        if (rc == 0)
            rc = sax_finish(s);
        ck_assert_msg(rc == -EBADMSG, "accepted %s", badlist[i]);
    }
    /* a non-object item is handed over as an item without fields */
    ck_assert_int_eq(sax_reset(s, SAX_LIST), 0);
    n = 0;
    const char *odd = "{\"items\":[1,\"x\",[2],{\"metadata\":{\"name\":\"a\"}}]}";
    ck_assert_int_eq(sax_feed(s, odd, strlen(odd), count_cb, &n), 0);
    ck_assert_int_eq(sax_finish(s), 0);
    ck_assert_int_eq(n, 4);
    sax_free(s);
}
END_TEST

START_TEST(last_value_wins_like_json_c)
{
    /* duplicate keys and wrong types: the matcher reads what json-c keeps */
    const char *page = "{\"items\":[{\"metadata\":{\"name\":\"a\",\"uid\":\"u\",\"resourceVersion\":\"1\","
                       "\"name\":\"b\"},\"spec\":{\"storageClassName\":\"x\",\"storageClassName\":1,"
                       "\"claimRef\":{\"name\":{\"n\":1}},\"hostPath\":{},\"csi\":{\"driver\":\"d\"},"
                       "\"local\":[]},\"status\":{\"phase\":null}}]}";
    struct json_object *whole = json_tokener_parse(page), *items;
    ck_assert(json_object_object_get_ex(whole, "items", &items));
    struct sax *s = sax_new(&model_pv_type, 0);
    struct expect e = {.t = &model_pv_type, .items = items, .what = "duplicates"};
    ck_assert_int_eq(sax_reset(s, SAX_LIST), 0);
    ck_assert_int_eq(sax_feed(s, page, strlen(page), check_item, &e), 0);
    ck_assert_int_eq(sax_finish(s), 0);
    ck_assert_int_eq(e.fast, 1);
    sax_free(s);
    json_object_put(whole);
}
END_TEST

static int name_cb(void *data, const char *type, const struct sax_item *it)
{
    (void)type;
    char *out = data;
    struct model_view tv;
    const struct model_view *v = it->view;
    if (!v) {
        model_view_from_json(model_pv_type.fields, it->json, &tv);
        v = &tv;
    }
    snprintf(out + strlen(out), 64, "%s;", model_view_str(v, MV_NAME));
    return 0;
}

START_TEST(invalid_utf8_taken_as_sent)
{
    /* json-c (the parser before) took strings with invalid UTF-8 as sent:
     * so does the streaming parser, on both of its paths */
    const char *ev = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\xff\xfe\"}}}\n"
                     "{\"object\":{\"metadata\":{\"name\":\"b\xc3\"}},\"type\":\"ADDED\"}\n";
    struct sax *s = sax_new(&model_pv_type, 0);
    char names[256] = "";
    ck_assert_int_eq(sax_feed(s, ev, strlen(ev), name_cb, names), 0);
    ck_assert_int_eq(sax_finish(s), 0);
    ck_assert_str_eq(names, "a\xff\xfe;b\xc3;");
    sax_free(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("sax");
    TCase *tc = tcase_create("sax");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, list_pages_match_json_views);
    tcase_add_test(tc, watch_events_match_json_views);
    tcase_add_test(tc, skipped_fields_are_not_copied);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, last_value_wins_like_json_c);
    tcase_add_test(tc, invalid_utf8_taken_as_sent);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
