/* In-process micro-benchmark of list-page parsing, records included: the
 * daemon's streaming path (kube/sax.c with the type's field table, fed in
 * 64 KiB chunks, a record built per item; `sax` with its own lexer, `yajl`
 * with yajl lexing instead, as before the own lexer) against a json-c tree
 * per page with the same extractor (what the daemon did before either). No sockets, no
 * gzip: run it under `valgrind --tool=callgrind` to compare instruction
 * counts on a loaded machine. Pages come from kubesim (bench/bench.py
 * captures them; any `{"items":[...]}` files do).
 * Build against a meson build's static library:
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Idaemon -Ibuild bench/parse.c build/daemon/libabc.a \
 *      $(pkg-config --cflags --libs json-c yajl libuv libcurl yaml-0.1 libmicrohttpd zlib gnutls) -lm
 * Usage: parse sax|yajl|jsonc RESOURCE PASSES FILE...   (RESOURCE: persistentvolumes,
 * persistentvolumeclaims, volumesnapshots, nodes). Prints MB/s and records.
 * PARSE_CHUNK (bytes, default 65536) sets the size of the pieces fed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "kube/sax.h"
#include "model/fields.h"
#include "model/records.h"

static long records;

static int on_item(void *data, const char *type, const struct sax_item *it)
{
    const struct model_type *t = data;
    (void)type;
    void *rec = NULL;
    if ((it->view ? model_view_extract(t, it->view, &rec) : t->extract(t, it->json, &rec)) == 0) {
        records++;
        t->free(rec);
    }
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b)
        b[n] = '\0';
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: parse sax|yajl|jsonc RESOURCE PASSES FILE...\n");
        return 2;
    }
    const struct model_type *types[] = {&model_pv_type, &model_pvc_type, &model_snapshot_type, &model_node_type};
    const struct model_type *t = NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i]->resource, argv[2]) == 0)
            t = types[i];
    long passes = strtol(argv[3], NULL, 10);
    if (!t || passes <= 0) {
        fprintf(stderr, "parse: unknown resource or bad PASSES\n");
        return 2;
    }
    int nf = argc - 4;
    char **data = calloc((size_t)nf, sizeof(*data));
    size_t *len = calloc((size_t)nf, sizeof(*len)), bytes = 0;
    for (int i = 0; i < nf; i++) {
        if (!(data[i] = slurp(argv[4 + i], &len[i]))) {
            fprintf(stderr, "parse: cannot read %s\n", argv[4 + i]);
            return 1;
        }
        bytes += len[i];
    }
    bool yajl = strcmp(argv[1], "yajl") == 0, sax = yajl || strcmp(argv[1], "sax") == 0;
    struct sax *s = sax_new(t, 0);
    if (!s || sax_use_yajl(s, yajl) != 0)
        return 1;
    const char *ce = getenv("PARSE_CHUNK");
    size_t chunk = ce && atol(ce) > 0 ? (size_t)atol(ce) : 65536;
    struct timespec t0, t1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    for (long p = 0; p < passes; p++)
        for (int i = 0; i < nf; i++) {
            if (sax) {
                if (sax_reset(s, SAX_LIST) != 0)
                    return 1;
                for (size_t off = 0; off < len[i]; off += chunk) {
                    size_t n = len[i] - off < chunk ? len[i] - off : chunk;
                    if (sax_feed(s, data[i] + off, n, on_item, (void *)t) != 0)
                        return 1;
                }
                if (sax_finish(s) != 0)
                    return 1;
            } else {
                struct json_object *page = json_tokener_parse(data[i]), *items;
                if (!page || !json_object_object_get_ex(page, "items", &items))
                    return 1;
                for (size_t k = 0; k < json_object_array_length(items); k++) {
                    struct sax_item it = {.json = json_object_array_get_idx(items, k)};
                    on_item((void *)t, NULL, &it);
                }
                json_object_put(page);
            }
        }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"mode\":\"%s\",\"resource\":\"%s\",\"bytes\":%zu,\"passes\":%ld,\"cpu_seconds\":%.4f,"
           "\"mb_per_cpu_s\":%.1f,\"records\":%ld}\n",
           argv[1], t->resource, bytes, passes, el, (double)bytes * (double)passes / el / 1e6, records);
    sax_free(s);
    for (int i = 0; i < nf; i++)
        free(data[i]);
    free(data);
    free(len);
    return 0;
}
