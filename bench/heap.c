/* In-process micro-benchmark of the PV path without kubesim or sockets:
 * N synthetic PVs (kubesim's names and volume mix) through model extract ->
 * store -> rules engine, then heap bytes retained per PV (mallinfo2, exact,
 * unlike RSS) and the CPU time of rendering /metrics (min/p50/p99 of K).
 * Build against a meson build's static library:
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Idaemon bench/heap.c BUILD/daemon/libabc.a \
 *      $(pkg-config --cflags --libs json-c libuv libcurl yaml-0.1 libmicrohttpd zlib) -lm
 * Usage: heap [N (100000)] [K (30)] [mutate-per-render (0)]; HEAP_COPY=1
 * feeds the engine through a plain store consumer calling engine_apply (a
 * copy per PV) instead of engine_attach_store; HEAP_REUSE=1 keeps one output buffer across renders
 * (the daemon allocates a fresh one per scrape). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "metrics/metrics.h"
#include "store/store.h"
#include "model/records.h"
#include "rules/engine.h"
#include "rules/metrics_cluster.h"

static int pv_text(char *js, size_t n, long i, int rv);

static void *pv(long i, int rv)
{
    char js[1024];
    pv_text(js, sizeof(js), i, rv);
    struct json_object *o = json_tokener_parse(js);
    void *rec = NULL;
    if (!o || model_pv_type.extract(&model_pv_type, o, &rec) != 0) {
        fprintf(stderr, "extract failed\n");
        exit(1);
    }
    json_object_put(o);
    return rec;
}

/* One list page as the reflector handles it: a DOM of `per` items, each
 * extracted and stored, then the DOM freed. */
static void page(struct store *s, struct store_replace *r, long first, long per, long n)
{
    size_t cap = (size_t)per * 1100 + 16, len = 1;
    char *buf = malloc(cap);
    buf[0] = '[';
    for (long i = first; i < first + per && i < n; i++) {
        if (i > first)
            buf[len++] = ',';
        len += (size_t)pv_text(buf + len, cap - len, i, 1000);
    }
    buf[len++] = ']';
    buf[len] = 0;
    struct json_object *arr = json_tokener_parse(buf);
    free(buf);
    for (size_t k = 0; k < json_object_array_length(arr); k++) {
        void *rec = NULL;
        if (model_pv_type.extract(&model_pv_type, json_object_array_get_idx(arr, k), &rec) == 0)
            (void)(r ? store_replace_add(r, rec) : store_upsert(s, rec));
    }
    json_object_put(arr);
}

static int pv_text(char *js, size_t n, long i, int rv)
{
    static const char *const sc[] = {"managed-csi", "managed-csi", "managed-csi", "managed-csi", "managed-csi",
                                     "azurefile-csi", "azureblob-fuse-premium", "managed-premium", "manual", ""};
    int kind = (int)(i % 10);
    const char *src = kind == 5   ? "\"csi\":{\"driver\":\"file.csi.azure.com\"}"
                      : kind == 6 ? "\"csi\":{\"driver\":\"blob.csi.azure.com\"}"
                      : kind == 7 ? "\"azureDisk\":{\"diskName\":\"d\"}"
                      : kind == 8 ? "\"hostPath\":{\"path\":\"/mnt\"}"
                                  : "\"csi\":{\"driver\":\"disk.csi.azure.com\"}";
    return snprintf(js, n,
             "{\"metadata\":{\"name\":\"pvc-gen-%06ld\",\"uid\":\"%08lx-1c2d-4e5f-8a9b-0c1d2e3f4a5b\","
             "\"resourceVersion\":\"%d\",\"creationTimestamp\":\"2026-03-14T09:40:00Z\",\"annotations\":"
             "{\"pv.kubernetes.io/provisioned-by\":\"disk.csi.azure.com\"}},\"spec\":{\"claimRef\":"
             "{\"namespace\":\"load-%d\",\"name\":\"data-%06ld\"},%s%s%s%s},\"status\":{\"phase\":\"Bound\"}}",
             i, (unsigned long)i, rv, kind, i, sc[kind][0] ? "\"storageClassName\":\"" : "", sc[kind],
             sc[kind][0] ? "\"," : "", src);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool count_pv(void *data, const struct engine_pv *pv)
{
    (void)pv;
    (*(long *)data)++;
    return true;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A plain consumer: the engine copies each PV it is given. */
static void c_add(void *d, const struct model_type *t, const void *rec)
{
    engine_apply(d, t, NULL, rec);
}
static void c_update(void *d, const struct model_type *t, const void *o, const void *n)
{
    engine_apply(d, t, o, n);
}
static void c_delete(void *d, const struct model_type *t, const void *rec)
{
    engine_apply(d, t, rec, NULL);
}
static void c_synced(void *d, const struct model_type *t)
{
    engine_mark_synced(d, t->resource);
}
static struct store_consumer copy_consumer(struct engine *e)
{
    struct store_consumer c = {.on_add = c_add, .on_update = c_update, .on_delete = c_delete,
                               .on_synced = c_synced, .data = e};
    return c;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int k = argc > 2 ? atoi(argv[2]) : 30;
    long mut = argc > 3 ? atol(argv[3]) : 0;
    struct engine *e = engine_new(NULL);
    struct store *s = store_new(&model_pv_type);
    if (getenv("HEAP_COPY")) { /* the engine copies each PV */
        struct store_consumer c = copy_consumer(e);
        store_add_consumer(s, &c);
    }
#ifndef HEAP_NO_ATTACH
    else if (engine_attach_store(e, s) != 0) { /* the daemon's way: no copy */
        return 1;
    }
#else
    else {
        struct store_consumer c = copy_consumer(e);
        store_add_consumer(s, &c);
    }
#endif
    struct metrics *m = metrics_new();
    metrics_cluster_register(m, e);
    metrics_set_cluster_enabled(m, true);
    struct buf warm;
    buf_init(&warm, 0);
    if (metrics_render(m, false, &warm) != 0) /* registry and engine maps at their idle size */
        return 1;
    malloc_trim(0);
    struct mallinfo2 mi = mallinfo2();
    size_t h0 = mi.uordblks + mi.hblkhd; /* large tables are mmapped: hblkhd */
    double tl = now();
    struct store_replace *rp = store_replace_begin(s); /* a relist, as the reflector's first list */
    for (long i = 0; i < n; i += 500) /* 500-item pages */
        page(s, rp, i, 500, n);
    store_replace_end(rp);
    tl = now() - tl;
    mi = mallinfo2();
    size_t h1 = mi.uordblks + mi.hblkhd;
    printf("list %ld PVs in 500-item pages (parse, extract, store, engine): %.2f s\n", n, tl);
    printf("%ld PVs: heap in use %.1f MiB, %.0f bytes per PV (store + engine + records)\n", n,
           (double)(h1 - h0) / 1048576.0, (double)(h1 - h0) / (double)n);
    double *t = calloc((size_t)k, sizeof(*t));
    size_t len = 0;
    long seq = 0;
    bool reuse = getenv("HEAP_REUSE") != NULL;
    struct buf keep;
    buf_init(&keep, 0);
    for (int r = 0; r < k; r++) {
        for (long j = 0; j < mut; j++, seq++) /* updates between scrapes scatter the heap */
            store_upsert(s, pv((seq * 7919) % n, 2000 + (int)seq));
        struct buf b;
        if (reuse) { /* one output buffer kept across scrapes */
            b = keep;
            buf_reset(&b);
        } else { /* what the daemon does: a fresh buffer of the last size */
            buf_init(&b, 0);
            if (len && buf_reserve(&b, len + len / 8))
                return 1;
        }
        double t0 = now();
        if (metrics_render(m, false, &b) != 0)
            return 1;
        t[r] = now() - t0;
        len = b.len;
        if (reuse)
            keep = b;
        else
            buf_free(&b);
    }
    qsort(t, (size_t)k, sizeof(*t), cmpd);
    double ts[5];
    for (int r = 0; r < 5; r++) {
        long cnt = 0;
        double t0 = now();
        engine_foreach_pv_sorted(e, count_pv, &cnt);
        ts[r] = now() - t0;
    }
    qsort(ts, 5, sizeof(*ts), cmpd);
    printf("engine_foreach_pv_sorted (the Events writer's scan): min %.1f ms, p50 %.1f ms\n", ts[0] * 1e3,
           ts[2] * 1e3);
    printf("render /metrics (%.1f MB): min %.1f ms, p50 %.1f ms, p99 %.1f ms over %d\n", (double)len / 1e6,
           t[0] * 1e3, t[k / 2] * 1e3, t[(k * 99) / 100 < k ? (k * 99) / 100 : k - 1] * 1e3, k);
    free(t);
    buf_free(&warm);
    buf_free(&keep);
    metrics_free(m);
    store_free(s);
    engine_free(e);
    return 0;
}
