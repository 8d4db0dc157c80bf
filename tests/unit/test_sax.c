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
#include "sax_trace.h"

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
    /* a duplicate object replaces the whole earlier one (its fields and
     * the names of its object members); a member name keeps the place of
     * its first occurrence and the kind of its last value */
    const char *dup = "{\"items\":[{\"metadata\":{\"name\":\"a\",\"uid\":\"u\",\"resourceVersion\":\"1\"},"
                      "\"spec\":{\"csi\":{\"driver\":\"d\"},\"nfs\":{},\"claimRef\":{\"name\":\"c\"}},"
                      "\"spec\":{\"local\":1,\"hostPath\":{},\"local\":{},\"csi\":{\"fsType\":\"x\"},"
                      "\"hostPath\":[],\"iscsi\":{},\"iscsi\":{},\"metadata\":{\"name\":\"z\"}},"
                      "\"metadata\":{\"name\":\"b\",\"uid\":\"u\",\"resourceVersion\":\"2\",\"labels\":"
                      "{\"velero.io/x\":\"1\"},\"labels\":{\"y\":\"2\"}}}]}";
    const char *pages[] = {page, dup};
    for (size_t i = 0; i < 2; i++) {
        struct json_object *whole = json_tokener_parse(pages[i]), *items;
        ck_assert(json_object_object_get_ex(whole, "items", &items));
        struct sax *s = sax_new(&model_pv_type, 0);
        struct expect e = {.t = &model_pv_type, .items = items, .what = "duplicates"};
        ck_assert_int_eq(sax_reset(s, SAX_LIST), 0);
        ck_assert_int_eq(sax_feed(s, pages[i], strlen(pages[i]), check_item, &e), 0);
        ck_assert_int_eq(sax_finish(s), 0);
        ck_assert_int_eq(e.fast, 1);
        sax_free(s);
        json_object_put(whole);
    }
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


/* ---- the own lexer against yajl ---- */

/* A PV event as kubesim and the API server send it (managedFields, status). */
#define PV_EVENT                                                                                                     \
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"pvc-gen-000500\",\"uid\":"                            \
    "\"a4909894-86bf-4d44-9c61-cb6b3a53474c\",\"creationTimestamp\":\"2026-03-14T09:40:00Z\",\"labels\":"           \
    "{\"kubesim/generated\":\"true\",\"velero.io/exclude-from-backup\":\"true\"},\"annotations\":"                  \
    "{\"pv.kubernetes.io/provisioned-by\":\"disk.csi.azure.com\",\"x\":\"\"},\"finalizers\":"                      \
    "[\"kubernetes.io/pv-protection\"],\"managedFields\":[{\"manager\":\"csi-provisioner\",\"operation\":"         \
    "\"Update\",\"time\":\"2026-03-14T09:40:00Z\",\"fieldsV1\":{\"f:metadata\":{\"f:annotations\":{\".\":{},"      \
    "\"f:pv.kubernetes.io/provisioned-by\":{}},\"f:finalizers\":{\".\":{},\"v:\\\"kubernetes.io/pv-protection\\\"\"" \
    ":{}}}}}],\"resourceVersion\":\"601\"},\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"capacity\":"             \
    "{\"storage\":\"309Gi\"},\"claimRef\":{\"kind\":\"PersistentVolumeClaim\",\"namespace\":\"load-0\",\"name\":" \
    "\"data-000500\",\"uid\":\"c7518ade-8baa-4459-bb06-d3ebada5a1a8\",\"resourceVersion\":\"1000\"},"               \
    "\"persistentVolumeReclaimPolicy\":\"Delete\",\"storageClassName\":\"managed-csi\",\"csi\":{\"driver\":"        \
    "\"disk.csi.azure.com\",\"fsType\":\"ext4\",\"volumeHandle\":\"/subscriptions/6b0f/disks/pvc-gen-000500\"},"   \
    "\"nodeAffinity\":{\"required\":{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"zone\",\"values\":"  \
    "[\"westeurope-3\"]}]}]}}},\"status\":{\"phase\":\"Bound\",\"lastPhaseTransitionTime\":\"2026-03-14T09:40:01Z\"}}}\n"

/* Watch streams: every kind of token, escapes (\u, surrogate pairs and
 * yajl's decoding of lone surrogates), numbers, deep nesting, invalid
 * UTF-8 in kept and skipped values, and bad input of every kind. */
static const char *const lex_docs[] = {
    PV_EVENT PV_EVENT,
    PV_EVENT "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"ok\":true,\"no\":false,\"x\":null}}\n"
             "{\"object\":{\"metadata\":{\"name\":\"b\",\"uid\":\"u\",\"resourceVersion\":\"2\"}},\"type\":\"DELETED\"}\r\n"
             "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"e\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\uD83D\\uDE00"
    "\\u0000z\",\"uid\":\"\\u0075\",\"resourceVersion\":\"1\",\"managedFields\":[\"\\uD800x\\\\\\\"\\u12aB\"]},"
    "\"spec\":{\"storageClassName\":\"\\uD800x\",\"claimRef\":{\"name\":\"\\uDC00\",\"namespace\":\"\\uD800\\u0041\"},"
    "\"csi\":{\"driver\":\"\\uD800\\n\",\"volumeHandle\":\"\\uDBFF\\uDFFF\\ud800\\udc00\"}}}}\n",
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"n\",\"generation\":-0.5e+10,\"x\":[0,-1,1.25,3E7,"
    "1e-2,12345678901234567890,-0,0.0e0,1E+2]},\"spec\":{\"capacity\":1,\"storageClassName\":123e4}}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\xff\xfe\",\"labels\":{\"l\":\"\xc3\"},\"managedFields\":"
    "[{\"\xe2\x82\":\"\x80\x80\xf0\"}]},\"status\":{\"phase\":\"B\xc3\xa9\"}}}\n",
    " \t\v\f\r\n{\"type\":\"ADDED\",\"object\":{}}\n\f{\"type\":\"ADDED\",\"object\":{}}\v",
    /* bad input */
    "{\"type\":\"ADDED\",\"object\":{\"a\":01}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":-}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":1.}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":1e}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":1e+}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":.5}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":tru}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":nulL}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":truex}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":\"\x01\"}}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\tb\"}}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":\"\\q\"}}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":\"\\u12G4\"}}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"\\u12\"}}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":[1,]}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":1,}}\n",
    "{\"type\":\"ADDED\",\"object\":{,}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\" 1}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":1 \"b\":2}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":[}]}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":{]}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":[1:2]}}\n",
    "{\"type\":\"ADDED\",\"object\":{1:2}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":\x80}}\n",
    "{\"type\":\"ADDED\",\"object\":{\"a\":/**/1}}\n",
    "{\"type\":\"ADDED\",\"object\":{}}}\n",
    "{\"type\":\"ADDED\",\"object\":{}} x\n",
    "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"ADDED\",\"obj",
    "{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"ADDED\",\"object\":{\"a\":\"x",
    "{\"type\":\"ADDED\",\"object\":{}}\f",
    "\"x\"\n",
    "5 ",
    "[1]\n",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}},\"type\":\"ADDED\",\"x\":[[[{}]]]}\n",
    /* a token where the grammar allows none: an error once it is lexed (a
     * token cut by the end of a slice waits, and the size bound may come first) */
    "{\"items\":[0,\"x\",[1,[4]],null,true,{}te\xf3[}",
    "{\"type\":\"ADDED\",\"object\":{\"a\":{}\"abcdefgh\"}}",
    "{\"type\":\"ADDED\",\"object\":{\"a\":{}12345678}}",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":[{}\"abcdefgh\\\"\"]}}}",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":[{}12345678]}}}",
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":[{}nul]}}}",
};

/* A list page: metadata, odd items (scalars, arrays, nulls), a real PV. */
#define PV_ITEM_FROM_EVENT(e) e
static const char *const lex_lists[] = {
    "{\"kind\":\"PersistentVolumeList\",\"metadata\":{\"resourceVersion\":\"15600\",\"continue\":\"eyJ2\","
    "\"remainingItemCount\":4000,\"f\":1.5,\"t\":true,\"n\":null,\"a\":[1,\"x\",{}]},\"items\":[1,\"x\",[2,[3]],null,"
    "true,{\"metadata\":{\"name\":\"a\",\"uid\":\"u\",\"resourceVersion\":\"1\",\"managedFields\":[{\"a\":{}}]}},"
    "{}],\"extra\":{\"items\":[{}]}}  \n",
    "{\"items\":null,\"metadata\":{}}",
    "{\"metadata\":{},\"items\":[]}{}",
    "{\"items\":[]} x",
    "{\"items\":[]}\"",
    "{\"items\":[]} \"abc",
    "{\"items\":[]} \"a\\",
    "{\"items\":[]} \"\\u12",
    "{\"items\":[]} \"a\"",
    "{\"items\":[]} 5",
    "{\"items\":[{\"metadata\":{\"name\":\"a\"}}]",
    "{\"items\":3}",
    "[]",
    "{\"items\":[{\"a\":1e5x}]}",
    " tru",
};

/* Bad input inside a skipped value (managedFields), where the own lexer
 * checks the grammar without dispatching anything. */
#define IN_SKIPPED(f) "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"managedFields\":[" f "],\"name\":\"n\"}}}\n"
static const char *const skipped_docs[] = {
    IN_SKIPPED("{\"a\":{\"b\":[1,\"x\",true,null,-2.5e3,{},[]]},\"c\":\"\\u00e9\\\"\\/\"}"),
    IN_SKIPPED("{\"a\":\"\x01\"}"),       IN_SKIPPED("{\"a\" 1}"),     IN_SKIPPED("{\"a\":1,}"),
    IN_SKIPPED("{,}"),                    IN_SKIPPED("{\"a\":[}]}"),   IN_SKIPPED("{\"a\":{]}"),
    IN_SKIPPED("[1:2]"),                  IN_SKIPPED("{1:2}"),         IN_SKIPPED("\"\\q\""),
    IN_SKIPPED("\"\\u12G4\""),           IN_SKIPPED("tru"),           IN_SKIPPED("01"),
    IN_SKIPPED("{\"a\":\"\xff\xfe\xc3\"}"), IN_SKIPPED("{}{}"),          IN_SKIPPED("[,1]"),
    IN_SKIPPED("{\"a\":}"),                IN_SKIPPED("{\"a\"}"),         IN_SKIPPED("{\"a\":1 \"b\":2}"),
    IN_SKIPPED("[\"a\" \"b\"]"),            IN_SKIPPED("{\"a\":1}}"),     IN_SKIPPED("\x80"),
    IN_SKIPPED("{\"a\":[[[[[[[[{\"b\":{}}]]]]]]]]}"),
};

static void lex_compare(const struct model_type *t, enum sax_mode mode, size_t max_event, const char *doc, size_t n,
                        size_t split, size_t chunk)
{
    struct sax_trace a, b;
    int ra = sax_trace_run(t, false, mode, max_event, doc, n, split, chunk, &a);
    int rb = sax_trace_run(t, true, mode, max_event, doc, n, split, chunk, &b);
    ck_assert_msg(ra == rb && strcmp(a.b, b.b) == 0,
                  "%s %s, split at %zu, chunks of %zu: own %d '%s'\nyajl %d '%s'\ninput '%s'",
                  t ? t->resource : "trees", mode == SAX_LIST ? "list" : "watch", split, chunk, ra, a.b, rb, b.b, doc);
    free(a.b);
    free(b.b);
}

START_TEST(own_lexer_answers_as_yajl_at_every_split)
{
    /* every document, every type, both modes, cut in two at every byte,
     * and byte by byte: the same items, views, trees and errors */
    const struct model_type *ts[] = {&model_pv_type, &model_pvc_type, &model_snapshot_type, NULL};
    size_t nd = sizeof(lex_docs) / sizeof(lex_docs[0]), ns = sizeof(skipped_docs) / sizeof(skipped_docs[0]);
    for (size_t d = 0; d < nd + ns + sizeof(lex_lists) / sizeof(lex_lists[0]); d++) {
        const char *doc = d < nd ? lex_docs[d] : d < nd + ns ? skipped_docs[d - nd] : lex_lists[d - nd - ns];
        size_t n = strlen(doc);
        for (size_t t = 0; t < sizeof(ts) / sizeof(ts[0]); t++)
            for (int m = 0; m < 2; m++) {
                enum sax_mode mode = m ? SAX_LIST : SAX_WATCH;
                for (size_t k = 0; k <= n; k++)
                    lex_compare(ts[t], mode, 0, doc, n, k, n);
                lex_compare(ts[t], mode, 0, doc, n, n, 1);
                /* oversize events: the bound is checked at the same places */
                for (size_t c = 1; c <= 3; c++) {
                    lex_compare(ts[t], mode, 200, doc, n, n, c);
                    lex_compare(ts[t], mode, 36, doc, n, n, c);
                }
                lex_compare(ts[t], mode, 200, doc, n, n, n);
            }
    }
}
END_TEST

START_TEST(own_lexer_depth_and_large_tokens)
{
    /* 128 open containers are allowed, 129 are not, in skipped values as
     * in matched ones; tokens much larger than a slice (64 KiB) */
    for (int depth = 126; depth <= 129; depth++) {
        char doc[1024];
        size_t l = (size_t)snprintf(doc, sizeof(doc), "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"x\":");
        for (int i = 0; i < depth - 3; i++)
            doc[l++] = '[';
        for (int i = 0; i < depth - 3; i++)
            doc[l++] = ']';
        l += (size_t)snprintf(doc + l, sizeof(doc) - l, "}}}\n");
        for (size_t k = 0; k <= l; k += 7) {
            lex_compare(&model_pv_type, SAX_WATCH, 0, doc, l, k, l);
            lex_compare(NULL, SAX_WATCH, 0, doc, l, k, l);
        }
        struct sax_trace a;
        int rc = sax_trace_run(&model_pv_type, false, SAX_WATCH, 0, doc, l, l, l, &a);
        ck_assert_int_eq(rc, depth <= SAX_MAX_DEPTH ? 0 : -EBADMSG);
        free(a.b);
    }
    size_t big = 200000;
    char *doc = malloc(big + 512);
    for (int kept = 0; kept < 2; kept++) {
        size_t l = (size_t)snprintf(doc, 512, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"%s\":\"",
                                    kept ? "name" : "managedFields");
        for (size_t i = 0; i < big; i++)
            doc[l++] = i % 1000 == 999 ? '\\' : "abcdefgh\xc3\xa9"[i % 10];
        doc[l - 1] = 'x';
        l += (size_t)snprintf(doc + l, 512, "\",\"uid\":\"u\",\"resourceVersion\":123456789012345678901234}}}\n");
        static const size_t chunks[] = {1 << 20, 65535, 4097, 3};
        for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
            lex_compare(&model_pv_type, SAX_WATCH, 0, doc, l, l, chunks[c]);
            lex_compare(NULL, SAX_WATCH, 0, doc, l, l, chunks[c]);
            lex_compare(&model_pv_type, SAX_WATCH, 100000, doc, l, l, chunks[c]);
        }
    }
    free(doc);
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
    tcase_add_test(tc, own_lexer_answers_as_yajl_at_every_split);
    tcase_add_test(tc, own_lexer_depth_and_large_tokens);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
