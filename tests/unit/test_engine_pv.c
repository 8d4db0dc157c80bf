/* The engine's PV table (rules/engine_pv.c) and its zero-copy store path:
 * engine_attach_store indexes the store's own records and drops them when
 * the store is freed; many adds/updates/deletes keep the hash index, the
 * counters and the rendered lines consistent. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "store/store.h"
#include "util/buf.h"
#include "rules/engine.h"
#include "rules/metrics_cluster.h"
#include "rules_support.h"

/* An engine judging by the 2023-08 page (these tests predate 2026-01). */
static struct engine *engine_2023(void)
{
    struct engine_opts o;
    engine_opts_default(&o);
    o.edition = matrix_edition_find("2023-08");
    return engine_new(&o);
}

/* A PV record like kubesim's generated ones (kind i % 10 picks the source). */
static struct pv_rec *mkpv(long i, int rv)
{
    static const char *const src[] = {"\"csi\":{\"driver\":\"disk.csi.azure.com\"}",
                                      "\"csi\":{\"driver\":\"file.csi.azure.com\"}",
                                      "\"hostPath\":{\"path\":\"/mnt\"}"};
    char js[768];
    snprintf(js, sizeof(js),
             "{\"metadata\":{\"name\":\"pvc-gen-%06ld\",\"uid\":\"u-%ld\",\"resourceVersion\":\"%d\","
             "\"annotations\":{\"pv.kubernetes.io/provisioned-by\":\"disk.csi.azure.com\"}},"
             "\"spec\":{\"claimRef\":{\"namespace\":\"load-%ld\",\"name\":\"data-%06ld\"},"
             "\"storageClassName\":\"managed-csi\",%s},\"status\":{\"phase\":\"Bound\"}}",
             i, i, rv, i % 10, i, src[i % 3]);
    struct json_object *o = json_tokener_parse(js);
    ck_assert_ptr_nonnull(o);
    void *rec = NULL;
    ck_assert_int_eq(model_pv_type.extract(&model_pv_type, o, &rec), 0);
    json_object_put(o);
    return rec;
}

static void count_line(void *data, const char *line, size_t len)
{
    size_t *n = data;
    ck_assert_uint_eq(strlen(line), len);
    ck_assert(line[len - 1] == '\n');
    (*n)++;
}

static bool sorted_cb(void *data, const struct engine_pv *pv)
{
    char *prev = data;
    ck_assert_int_lt(strcmp(prev, pv->name), 0);
    snprintf(prev, 64, "%s", pv->name);
    return true;
}

/* extra: PVs the engine holds besides pvc-gen-0..n-1. */
static void check_consistent_x(struct engine *e, const bool *present, long n, size_t extra)
{
    size_t count = 0;
    for (long i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "pvc-gen-%06ld", i);
        struct engine_pv pv;
        bool found = engine_pv_get(e, name, &pv);
        ck_assert_msg(found == present[i], "%s: found %d, expected %d", name, found, present[i]);
        if (found) {
            ck_assert_str_eq(pv.name, name);
            count++;
        }
    }
    count += extra;
    ck_assert_uint_eq(engine_pv_count(e), count);
    size_t by_reason = 0;
    for (int r = 0; r < PV_REASON_COUNT; r++)
        by_reason += engine_pv_reason_count(e, r);
    ck_assert_uint_eq(by_reason, count);
    size_t lines = 0;
    engine_foreach_pv_line(e, count_line, &lines);
    ck_assert_uint_eq(lines, count);
    char prev[64] = "";
    ck_assert_int_eq(engine_foreach_pv_sorted(e, sorted_cb, prev), 0);
}

static void check_consistent(struct engine *e, const bool *present, long n)
{
    check_consistent_x(e, present, n, 0);
}

START_TEST(churn_keeps_index_consistent)
{
    enum { N = 3000 };
    static bool present[N];
    memset(present, 0, sizeof(present));
    struct engine *e = engine_2023();
    ck_assert_ptr_nonnull(e);
    for (long i = 0; i < N; i++) {
        struct pv_rec *r = mkpv(i, 1);
        engine_apply(e, &model_pv_type, NULL, r);
        model_pv_type.free(r); /* engine_apply copies */
        present[i] = true;
    }
    check_consistent(e, present, N);
    /* Deletes in a scattered order exercise backward-shift deletion. */
    for (long i = 0; i < N; i += 3) {
        long j = (i * 7919) % N;
        struct pv_rec *r = mkpv(j, 1);
        engine_apply(e, &model_pv_type, r, NULL);
        model_pv_type.free(r);
        present[j] = false;
    }
    check_consistent(e, present, N);
    /* Updates in place and re-adds. */
    for (long i = 0; i < N; i += 2) {
        struct pv_rec *r = mkpv(i, 2);
        engine_apply(e, &model_pv_type, NULL, r);
        model_pv_type.free(r);
        present[i] = true;
    }
    check_consistent(e, present, N);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_NOT_CSI) +
                          engine_pv_reason_count(e, PV_REASON_SUPPORTED) +
                          engine_pv_reason_count(e, PV_REASON_AZURE_FILES),
                      engine_pv_count(e));
    engine_free(e);
}
END_TEST

static unsigned changes;
static void on_change(void *data, unsigned what)
{
    (void)data;
    changes |= what;
}

START_TEST(attach_indexes_store_records)
{
    struct engine *e = engine_2023();
    struct store *s = store_new(&model_pv_type);
    ck_assert_int_eq(engine_attach_store(e, s), 0);
    engine_set_on_change(e, on_change, NULL);
    for (long i = 0; i < 50; i++)
        ck_assert_int_eq(store_upsert(s, mkpv(i, 1)), 0);
    ck_assert_uint_eq(engine_pv_count(e), 50);
    /* No copy: the engine hands out the store's own strings. */
    const struct pv_rec *r7 = store_get(s, NULL, "pvc-gen-000007");
    struct engine_pv pv;
    ck_assert(engine_pv_get(e, "pvc-gen-000007", &pv));
    ck_assert_ptr_eq(pv.name, r7->meta.name);
    ck_assert_ptr_eq(pv.claim_name, pv_claim_name(r7));
    ck_assert_str_eq(pv.claim_ns, "load-7");
    ck_assert_int_eq(pv.reason, PV_REASON_AZURE_FILES);
    /* Same labels, new resourceVersion: no change notified, new record indexed. */
    changes = 0;
    ck_assert_int_eq(store_upsert(s, mkpv(7, 2)), 0);
    ck_assert_uint_eq(changes, 0);
    r7 = store_get(s, NULL, "pvc-gen-000007");
    ck_assert(engine_pv_get(e, "pvc-gen-000007", &pv));
    ck_assert_ptr_eq(pv.name, r7->meta.name);
    /* Delete through the store. */
    struct pv_rec *gone = mkpv(8, 1);
    ck_assert_int_eq(store_delete(s, gone), 0);
    ck_assert_uint_eq(changes, ENGINE_CHANGED_VERDICTS);
    ck_assert(!engine_pv_get(e, "pvc-gen-000008", &pv));
    ck_assert_uint_eq(engine_pv_count(e), 49);
    /* A relist keeping half of them. */
    struct store_replace *rp = store_replace_begin(s);
    for (long i = 0; i < 50; i += 2)
        ck_assert_int_eq(store_replace_add(rp, mkpv(i, 3)), 0);
    ck_assert_int_eq(store_replace_end(rp), 0);
    ck_assert_uint_eq(engine_pv_count(e), 25);
    size_t lines = 0;
    engine_foreach_pv_line(e, count_line, &lines);
    ck_assert_uint_eq(lines, 25);
    /* A PV fed directly is the engine's own copy and outlives the store. */
    struct pv_rec *own = mkpv(1000, 1);
    engine_apply(e, &model_pv_type, NULL, own);
    model_pv_type.free(own);
    store_free(s); /* release hook: the borrowed records are dropped first */
    ck_assert_uint_eq(engine_pv_count(e), 1);
    ck_assert(engine_pv_get(e, "pvc-gen-001000", &pv));
    ck_assert_str_eq(pv.claim_name, "data-001000");
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_SUPPORTED) +
                          engine_pv_reason_count(e, PV_REASON_NOT_CSI) +
                          engine_pv_reason_count(e, PV_REASON_AZURE_FILES),
                      1);
    lines = 0;
    engine_foreach_pv_line(e, count_line, &lines);
    ck_assert_uint_eq(lines, 1);
    engine_free(e);
}
END_TEST

static void grab_line(void *data, const char *line, size_t len)
{
    (void)len;
    snprintf(data, 512, "%s", line);
}

START_TEST(line_escapes_and_long_values)
{
    struct engine *e = engine_2023();
    const struct fx_edit ed = {{"spec", "claimRef", "name"}, "we\"ird\\name\n"};
    struct pv_rec *pv = fixture_record_edited(&model_pv_type, "persistentvolumes.json", "pv-nfs-archive", 1, &ed);
    engine_apply(e, &model_pv_type, NULL, pv);
    model_pv_type.free(pv);
    char line[512];
    engine_foreach_pv_line(e, grab_line, line);
    ck_assert_str_eq(line, "aks_backup_persistent_volume_supported{persistentvolume=\"pv-nfs-archive\","
                           "storageclass=\"\",driver=\"nfs\",reason=\"not-csi\",claim_namespace=\"analytics\","
                           "persistentvolumeclaim=\"we\\\"ird\\\\name\\n\"} 0\n");
    engine_apply(e, &model_pv_type, pv = fixture_record_edited(&model_pv_type, "persistentvolumes.json",
                                                               "pv-nfs-archive", 1, &ed), NULL);
    model_pv_type.free(pv);
    ck_assert_uint_eq(engine_pv_count(e), 0);
    /* A value longer than the stack buffer still renders whole. */
    static char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[1000] = '"';
    const struct fx_edit ed2 = {{"spec", "claimRef", "name"}, big};
    pv = fixture_record_edited(&model_pv_type, "persistentvolumes.json", "pv-nfs-archive", 1, &ed2);
    engine_apply(e, &model_pv_type, NULL, pv);
    model_pv_type.free(pv);
    size_t n = 0;
    engine_foreach_pv_line(e, count_line, &n);
    ck_assert_uint_eq(n, 1);
    engine_free(e);
}
END_TEST

static void len_line(void *data, const char *line, size_t len)
{
    (void)line;
    *(size_t *)data = len;
}

START_TEST(long_line_length)
{
    struct engine *e = engine_2023();
    static char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[1000] = '"';
    const struct fx_edit ed = {{"spec", "claimRef", "name"}, big};
    struct pv_rec *pv = fixture_record_edited(&model_pv_type, "persistentvolumes.json", "pv-nfs-archive", 1, &ed);
    engine_apply(e, &model_pv_type, NULL, pv);
    model_pv_type.free(pv);
    size_t len = 0;
    engine_foreach_pv_line(e, len_line, &len);
    const char *rest = "aks_backup_persistent_volume_supported{persistentvolume=\"pv-nfs-archive\","
                       "storageclass=\"\",driver=\"nfs\",reason=\"not-csi\",claim_namespace=\"analytics\","
                       "persistentvolumeclaim=\"\"} 0\n";
    ck_assert_uint_eq(len, strlen(rest) + (sizeof(big) - 1) + 1); /* one escaped quote */
    engine_free(e);
}
END_TEST

static struct pv_rec *named_pv(const char *name)
{
    char js[512];
    snprintf(js, sizeof(js),
             "{\"metadata\":{\"name\":\"%s\",\"uid\":\"u\",\"resourceVersion\":\"1\"},"
             "\"spec\":{\"csi\":{\"driver\":\"disk.csi.azure.com\"}}}", name);
    struct json_object *o = json_tokener_parse(js);
    void *rec = NULL;
    ck_assert_int_eq(model_pv_type.extract(&model_pv_type, o, &rec), 0);
    json_object_put(o);
    return rec;
}

struct order {
    const char *got[16];
    size_t n;
};

static bool order_cb(void *data, const struct engine_pv *pv)
{
    struct order *o = data;
    ck_assert_uint_lt(o->n, 16);
    o->got[o->n++] = pv->name;
    return true;
}

START_TEST(sorted_by_whole_name)
{
    /* Short names, a shared 16-byte prefix, bytes above 0x7f. */
    static const char *const names[] = {
        "pvc-0123456789abcdef-1", "b", "pvc-0123456789abcdef-0", "a", "ab", "pvc-0123456789abcdef",
        "pvc-0123456789abcdee-9", "z\xc3\xa9", "z", "pvc-01234567",
    };
    static const char *const want[] = {
        "a", "ab", "b", "pvc-01234567", "pvc-0123456789abcdee-9", "pvc-0123456789abcdef",
        "pvc-0123456789abcdef-0", "pvc-0123456789abcdef-1", "z", "z\xc3\xa9",
    };
    struct engine *e = engine_2023();
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct pv_rec *r = named_pv(names[i]);
        engine_apply(e, &model_pv_type, NULL, r);
        model_pv_type.free(r);
    }
    struct order o = {.n = 0};
    ck_assert_int_eq(engine_foreach_pv_sorted(e, order_cb, &o), 0);
    ck_assert_uint_eq(o.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < o.n; i++)
        ck_assert_str_eq(o.got[i], want[i]);
    engine_free(e);
}
END_TEST

/* metrics.per_pv: all renders every PV, skipped only the 0 lines, none no
 * line at all; the per-reason counts stay whole in every mode. */
START_TEST(per_pv_modes)
{
    struct engine_opts o;
    engine_opts_default(&o);
    struct engine *e = engine_new(&o);
    for (long i = 0; i < 30; i++) { /* i % 3: disk (supported), files, hostPath */
        struct pv_rec *r = mkpv(i, 1);
        engine_apply(e, &model_pv_type, NULL, r);
        model_pv_type.free(r);
    }
    size_t all = 0, skipped = 0, none = 0;
    engine_foreach_pv_line(e, count_line, &all);
    ck_assert_uint_eq(all, 30);
    size_t supported = engine_pv_reason_count(e, PV_REASON_SUPPORTED);
    ck_assert_uint_gt(supported, 0);
    ck_assert_uint_lt(supported, 30);
    o.per_pv = ENGINE_PER_PV_SKIPPED;
    ck_assert_int_eq(engine_set_opts(e, &o), 0);
    engine_foreach_pv_line(e, count_line, &skipped);
    ck_assert_uint_eq(skipped, 30 - supported);
    char line[512];
    engine_foreach_pv_line(e, grab_line, line);
    ck_assert_ptr_nonnull(strstr(line, "} 0\n"));
    o.per_pv = ENGINE_PER_PV_NONE;
    ck_assert_int_eq(engine_set_opts(e, &o), 0);
    engine_foreach_pv_line(e, count_line, &none);
    ck_assert_uint_eq(none, 0);
    ck_assert_uint_eq(engine_pv_reason_count(e, PV_REASON_SUPPORTED), supported);
    engine_free(e);
}
END_TEST

/* The per-PV lines as they were rendered before the collector wrote them
 * straight into the output: each label value escaped byte by byte
 * (backslash, double quote, newline; other bytes as they are). */
static void ref_label(struct buf *b, const char *v)
{
    for (; *v; v++) {
        int rc = *v == '\\' ? buf_add(b, "\\\\", 2)
                 : *v == '"' ? buf_add(b, "\\\"", 2)
                 : *v == '\n' ? buf_add(b, "\\n", 2)
                              : buf_addc(b, *v);
        ck_assert_int_eq(rc, 0);
    }
}

static void ref_line(void *data, const struct engine_pv *pv)
{
    struct buf *b = data;
    static const char *const names[] = {"persistentvolume", "storageclass", "driver", "reason",
                                        "claim_namespace", "persistentvolumeclaim"};
    const char *vals[] = {pv->name, pv->storage_class, pv->driver, pv_reason_code(pv->reason),
                          pv->claim_ns ? pv->claim_ns : "", pv->claim_name ? pv->claim_name : ""};
    ck_assert_int_eq(buf_adds(b, "aks_backup_persistent_volume_supported{"), 0);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(buf_printf(b, "%s%s=\"", i ? "," : "", names[i]), 0);
        ref_label(b, vals[i]);
        ck_assert_int_eq(buf_addc(b, '"'), 0);
    }
    ck_assert_int_eq(buf_printf(b, "} %d\n", pv->reason == PV_REASON_SUPPORTED), 0);
}

static void cat_line(void *data, const char *line, size_t len)
{
    ck_assert_int_eq(buf_add(data, line, len), 0);
}

/* The collector's per-PV family is byte for byte the reference rendering
 * (and engine_foreach_pv_line's) on a generated state: kubesim-like PVs,
 * unbound ones, values with quotes, backslashes, newlines, UTF-8 and
 * invalid bytes, one longer than any line buffer, after churn. */
START_TEST(collector_lines_match_reference)
{
    struct engine *e = engine_2023();
    for (long i = 0; i < 500; i++) {
        struct pv_rec *r = mkpv(i, 1);
        engine_apply(e, &model_pv_type, NULL, r);
        model_pv_type.free(r);
    }
    for (long i = 0; i < 500; i += 7) { /* deletes move the last PVs into the holes */
        struct pv_rec *r = mkpv(i, 1);
        engine_apply(e, &model_pv_type, r, NULL);
        model_pv_type.free(r);
    }
    static char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[1000] = '"';
    big[2000] = '\\';
    const char *odd[] = {"we\"ird\\name\n", "caf\xc3\xa9-\xe2\x82\xac", "bad\xff\xfe", "", big,
                         "\"\"\"", "ends-with\\"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(*odd); i++) {
        char name[32];
        snprintf(name, sizeof(name), "pv-odd-%zu", i);
        const struct fx_edit ed[] = {{{"spec", "claimRef", "name"}, odd[i]},
                                     {{"metadata", "name"}, name},
                                     {{"spec", "storageClassName"}, odd[(i + 1) % 7]}};
        struct pv_rec *r = fixture_record_edited(&model_pv_type, "persistentvolumes.json", "pv-nfs-archive",
                                                 3, ed);
        engine_apply(e, &model_pv_type, NULL, r);
        model_pv_type.free(r);
    }
    struct metrics *m = metrics_new();
    ck_assert_int_eq(metrics_cluster_register(m, e), 0);
    metrics_set_cluster_enabled(m, true);
    for (int mode = ENGINE_PER_PV_ALL; mode <= ENGINE_PER_PV_SKIPPED; mode++) {
        struct engine_opts o = *engine_get_opts(e);
        o.per_pv = (enum engine_per_pv)mode;
        ck_assert_int_eq(engine_set_opts(e, &o), 0);
        struct buf out, ref, cat;
        buf_init(&out, 0);
        buf_init(&ref, 0);
        buf_init(&cat, 0);
        ck_assert_int_eq(metrics_render(m, false, &out), 0);
        const char *head = "# TYPE aks_backup_persistent_volume_supported gauge\n";
        const char *from = strstr(out.data, head);
        ck_assert_ptr_nonnull(from);
        from += strlen(head);
        const char *to = strstr(from, "# HELP aks_backup_persistent_volumes ");
        ck_assert_ptr_nonnull(to);
        engine_foreach_pv(e, ref_line, &ref);
        if (mode == ENGINE_PER_PV_SKIPPED) { /* keep the 0 lines only */
            struct buf only;
            buf_init(&only, 0);
            for (const char *p = ref.data; *p;) {
                const char *nl = strchr(p, '\n');
                /* a value's newline is escaped: each line ends at its own '\n' */
                if (nl[-1] == '0')
                    ck_assert_int_eq(buf_add(&only, p, (size_t)(nl + 1 - p)), 0);
                p = nl + 1;
            }
            buf_free(&ref);
            ref = only;
        }
        engine_foreach_pv_line(e, cat_line, &cat);
        ck_assert_uint_gt(ref.len, 1000);
        ck_assert_ptr_nonnull(strstr(ref.data, "persistentvolumeclaim=\"we\\\"ird\\\\name\\n\"}"));
        ck_assert_ptr_nonnull(strstr(ref.data, "persistentvolumeclaim=\"bad\xff\xfe\"}"));
        ck_assert_ptr_nonnull(strstr(ref.data, "{persistentvolume=\"pv-odd-4\""));
        ck_assert_uint_eq((size_t)(to - from), ref.len);
        ck_assert_int_eq(memcmp(from, ref.data, ref.len), 0);
        ck_assert_uint_eq(cat.len, ref.len);
        ck_assert_int_eq(memcmp(cat.data, ref.data, ref.len), 0);
        buf_free(&out);
        buf_free(&ref);
        buf_free(&cat);
    }
    metrics_free(m);
    engine_free(e);
}
END_TEST

/* ---- PVs borrowed from stores: the verdict's position kept in the record ---- */

/* The engine's order as a reference model: an add appends, a delete moves
 * the last entry into the hole, an update stays in place. */
struct order_model {
    long id[4096];
    size_t n;
};

static void model_add(struct order_model *m, long i)
{
    m->id[m->n++] = i;
}

static void model_del(struct order_model *m, long i)
{
    for (size_t k = 0; k < m->n; k++)
        if (m->id[k] == i) {
            m->id[k] = m->id[--m->n];
            return;
        }
    ck_abort_msg("model: %ld absent", i);
}

struct order_walk {
    const struct order_model *m;
    size_t k;
};

static void pos_order_cb(void *data, const struct engine_pv *pv)
{
    struct order_walk *w = data;
    char name[32];
    ck_assert_uint_lt(w->k, w->m->n);
    snprintf(name, sizeof(name), "pvc-gen-%06ld", w->m->id[w->k]);
    ck_assert_str_eq(pv->name, name);
    w->k++;
}

static void check_order(struct engine *e, const struct order_model *m)
{
    struct order_walk w = {m, 0};
    engine_foreach_pv(e, pos_order_cb, &w);
    ck_assert_uint_eq(w.k, m->n);
}

START_TEST(attached_churn_keeps_positions)
{
    enum { N = 3000 };
    static bool present[N];
    static struct order_model m;
    memset(present, 0, sizeof(present));
    memset(&m, 0, sizeof(m));
    struct engine *e = engine_2023();
    /* A second engine on the same store, attached last: it holds a copy of
     * its own first, so its positions differ from e's and overwrite e's
     * hints in the records (e then finds its verdicts by a search). */
    struct engine *e2 = engine_2023();
    struct store *s = store_new(&model_pv_type);
    ck_assert_int_eq(engine_attach_store(e, s), 0);
    ck_assert_int_eq(engine_attach_store(e2, s), 0);
    struct pv_rec *own = mkpv(N, 1);
    engine_apply(e2, &model_pv_type, NULL, own);
    model_pv_type.free(own);
    for (long i = 0; i < N; i++) {
        ck_assert_int_eq(store_upsert(s, mkpv(i, 1)), 0);
        present[i] = true;
        model_add(&m, i);
    }
    engine_mark_synced(e, "persistentvolumes"); /* trims the array */
    check_consistent(e, present, N);
    check_consistent_x(e2, present, N, 1);
    check_order(e, &m);
        /* Scattered deletes move the last verdict into each hole; updates keep
     * their place; re-adds append. */
    for (long i = 0; i < N; i += 3) {
        long j = (i * 7919) % N;
        ck_assert_int_eq(store_delete(s, mkpv(j, 1)), 0);
        present[j] = false;
        model_del(&m, j);
    }
    check_consistent(e, present, N);
    check_order(e, &m);
        for (long i = 0; i < N; i += 2) {
        ck_assert_int_eq(store_upsert(s, mkpv(i, 2)), 0);
        if (!present[i])
            model_add(&m, i);
        present[i] = true;
    }
    check_consistent(e, present, N);
    check_consistent_x(e2, present, N, 1);
    check_order(e, &m);
        /* A relist that drops every fifth PV and updates the rest. */
    struct store_replace *r = store_replace_begin(s);
    ck_assert_ptr_nonnull(r);
    for (long i = 0; i < N; i++) {
        present[i] = i % 5 != 0;
        if (present[i])
            ck_assert_int_eq(store_replace_add(r, mkpv(i, 3)), 0);
    }
    ck_assert_int_eq(store_replace_end(r), 0);
    check_consistent(e, present, N);
    check_consistent_x(e2, present, N, 1);
    /* A copy of the engine's own beside the borrowed ones builds the name
     * index over all of them; a borrowed update then replaces it by name. */
    struct pv_rec *c = mkpv(0, 9);
    engine_apply(e, &model_pv_type, NULL, c);
    model_pv_type.free(c);
    present[0] = true;
    check_consistent(e, present, N);
    ck_assert_int_eq(store_upsert(s, mkpv(0, 10)), 0);
    check_consistent(e, present, N);
    ck_assert_int_eq(store_delete(s, mkpv(0, 10)), 0);
    present[0] = false;
    check_consistent(e, present, N);
    ck_assert_int_eq(store_delete(s, mkpv(1, 3)), 0);
    present[1] = false;
    check_consistent(e, present, N);
    check_consistent_x(e2, present, N, 1);
    store_free(s); /* drops the borrowed verdicts of both engines */
    ck_assert_uint_eq(engine_pv_count(e), 0);
    ck_assert_uint_eq(engine_pv_count(e2), 1); /* its own copy */
    engine_free(e);
    engine_free(e2);
}
END_TEST

START_TEST(engine_freed_before_store)
{
    struct engine *e = engine_2023();
    struct store *s = store_new(&model_pv_type);
    struct store *other = store_new(&model_pv_type);
    ck_assert_int_eq(engine_attach_store(e, s), 0);
    ck_assert_int_eq(engine_attach_store(e, other), 0);
    for (long i = 0; i < 20; i++)
        ck_assert_int_eq(store_upsert(s, mkpv(i, 1)), 0);
    ck_assert_uint_eq(engine_pv_count(e), 20);
    store_free(other); /* one store first, then the engine, then the other store */
    ck_assert_uint_eq(engine_pv_count(e), 20);
    engine_free(e);    /* unregisters its release hook from s */
    store_free(s);     /* must not call the freed engine (ASan build) */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("engine_pv");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, churn_keeps_index_consistent);
    tcase_add_test(tc, attach_indexes_store_records);
    tcase_add_test(tc, line_escapes_and_long_values);
    tcase_add_test(tc, long_line_length);
    tcase_add_test(tc, sorted_by_whole_name);
    tcase_add_test(tc, engine_freed_before_store);
    tcase_add_test(tc, attached_churn_keeps_positions);
    tcase_add_test(tc, per_pv_modes);
    tcase_add_test(tc, collector_lines_match_reference);
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
