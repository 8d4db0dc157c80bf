/* The benchmark's floor: what json-c alone costs on the very bytes the daemon
 * received, what yajl (the streaming lexer the daemon used) costs walking
 * them, what the daemon's own lexer (kube/sax*.c, compiled in) costs
 * stepping over them, and what a memchr pass over them costs (memory
 * bandwidth). Built ad hoc by bench/run.sh (cc -O2 -Idaemon ... -ljson-c
 * -lyajl); not part of the daemon.
 *
 *   floor lines|pages|yajl-pages|yajl-lines|own-pages|own-lines|memchr MIN_SECONDS FILE...
 *
 * lines:  every '\n'-terminated line of every file is one JSON document (a
 *         watch event), parsed with json_tokener_parse and freed at once.
 * pages:  every file is one JSON document (a list page), parsed and freed.
 * yajl-pages: every file through yajl_parse in 64 KiB chunks (as libcurl
 *         hands them over) with callbacks that only count objects: the
 *         streaming parser's own cost, no tree built.
 * yajl-lines: the same over the watch streams (one handle per file, many
 *         values).
 * own-pages, own-lines: the same bytes through the daemon's streaming
 *         parser (kube/sax.c and sax_lex.c) with a field table that
 *         matches nothing: every item or event object is checked byte for
 *         byte and stepped over, nothing is copied; the lexer's own cost.
 * memchr: counts '\n' over all the bytes with memchr.
 * Repeats the pass until MIN_SECONDS have gone by (at least once) and prints
 * one JSON line: {"mode","bytes","passes","seconds","mb_per_s","docs","peak_rss_kb"}. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <json-c/json.h>
#include <yajl/yajl_parse.h>

#include "kube/sax.c" /* the daemon's streaming parser, compiled in */
#include "kube/sax_lex.c"
#include "kube/sax_yajl.c"

struct blob {
    char *data;
    size_t len;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_file(const char *path, struct blob *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    size_t cap = 1 << 20, len = 0;
    char *p = malloc(cap + 1);
    while (p) {
        size_t n = fread(p + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
        if (len == cap) {
            char *q = realloc(p, cap * 2 + 1);
            if (!q) {
                free(p);
                p = NULL;
                break;
            }
            p = q;
            cap *= 2;
        }
    }
    fclose(f);
    if (!p)
        return -ENOMEM;
    p[len] = '\0';
    b->data = p;
    b->len = len;
    return 0;
}

static int y_map(void *ctx)
{
    (*(long *)ctx)++;
    return 1;
}

static int y_any(void *ctx)
{
    (void)ctx;
    return 1;
}

static int y_str(void *ctx, const unsigned char *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return 1;
}

static int y_num(void *ctx, const char *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return 1;
}

static int y_bool(void *ctx, int b)
{
    (void)ctx;
    (void)b;
    return 1;
}

static const yajl_callbacks ycb = {y_any, y_bool, NULL, NULL, y_num, y_str, y_map, y_str, y_any, y_any, y_any};

/* yajl over one buffer in 64 KiB chunks; objects seen, -1 on error. */
static long yajl_walk(const char *p, size_t len, int multi)
{
    long maps = 0;
    yajl_handle h = yajl_alloc(&ycb, NULL, &maps);
    if (!h)
        return -1;
    yajl_config(h, yajl_dont_validate_strings, 1);
    if (multi)
        yajl_config(h, yajl_allow_multiple_values, 1);
    for (size_t off = 0; off < len; off += 65536) {
        size_t n = len - off < 65536 ? len - off : 65536;
        if (yajl_parse(h, (const unsigned char *)p + off, n) != yajl_status_ok) {
            yajl_free(h);
            return -1;
        }
    }
    int ok = yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    return ok ? maps : -1;
}

/* A table whose one path matches no key: each object is stepped over. */
static const struct model_field nothing_f[] = {{.path = {"\x01"}, .kind = MF_STR}};
static const struct model_fields nothing = {.f = nothing_f, .n = 1};
static const struct model_type nothing_type = {.resource = "floor", .fields = &nothing};

static int own_item(void *data, const char *type, const struct sax_item *it)
{
    (void)type;
    (void)it;
    (*(long *)data)++;
    return 0;
}

/* The own lexer over one buffer in 64 KiB chunks; objects seen, -1 on error. */
static long own_walk(struct sax *s, const char *p, size_t len, int lines)
{
    long items = 0;
    if (sax_reset(s, lines ? SAX_WATCH : SAX_LIST) != 0)
        return -1;
    for (size_t off = 0; off < len; off += 65536) {
        size_t n = len - off < 65536 ? len - off : 65536;
        if (sax_feed(s, p + off, n, own_item, &items) != 0)
            return -1;
    }
    return sax_finish(s) == 0 ? items : -1;
}

static struct sax *own;

/* One pass; returns the number of documents parsed (or '\n' found), -1 on a parse error. */
static long pass(const char *mode, struct blob *v, size_t n)
{
    long docs = 0;
    for (size_t i = 0; i < n; i++) {
        char *p = v[i].data, *end = v[i].data + v[i].len;
        if (strcmp(mode, "memchr") == 0) {
            while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
                docs++;
                p++;
            }
        } else if (strncmp(mode, "own-", 4) == 0) {
            if (own_walk(own, p, v[i].len, strcmp(mode, "own-lines") == 0) < 0)
                return -1;
            docs++;
        } else if (strncmp(mode, "yajl-", 5) == 0) {
            long m = yajl_walk(p, v[i].len, strcmp(mode, "yajl-lines") == 0);
            if (m < 0)
                return -1;
            docs++;
        } else if (strcmp(mode, "pages") == 0) {
            json_object *o = json_tokener_parse(p);
            if (!o)
                return -1;
            json_object_put(o);
            docs++;
        } else {
            while (p < end) {
                char *nl = memchr(p, '\n', (size_t)(end - p));
                if (!nl)
                    nl = end;
                if (nl > p) {
                    char save = *nl;
                    *nl = '\0';
                    json_object *o = json_tokener_parse(p);
                    *nl = save;
                    if (!o)
                        return -1;
                    json_object_put(o);
                    docs++;
                }
                p = nl + 1;
            }
        }
    }
    return docs;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "lines") && strcmp(argv[1], "pages") && strcmp(argv[1], "memchr") &&
                     strcmp(argv[1], "yajl-pages") && strcmp(argv[1], "yajl-lines") &&
                     strcmp(argv[1], "own-pages") && strcmp(argv[1], "own-lines"))) {
        fprintf(stderr, "usage: floor lines|pages|yajl-pages|yajl-lines|own-pages|own-lines|memchr MIN_SECONDS "
                        "FILE...\n");
        return 2;
    }
    char *endp;
    double min_s = strtod(argv[2], &endp);
    if (*endp || min_s < 0) {
        fprintf(stderr, "floor: invalid MIN_SECONDS %s\n", argv[2]);
        return 2;
    }
    size_t n = (size_t)(argc - 3);
    struct blob *v = calloc(n, sizeof(*v));
    size_t bytes = 0;
    for (size_t i = 0; v && i < n; i++) {
        int rc = read_file(argv[3 + i], &v[i]);
        if (rc) {
            fprintf(stderr, "floor: %s: %s\n", argv[3 + i], strerror(-rc));
            return 1;
        }
        bytes += v[i].len;
    }
    if (!v || !(own = sax_new(&nothing_type, 0)))
        return 1;
    long docs = 0, passes = 0;
    double t0 = now_s(), el = 0;
    volatile long sink = 0;
    do {
        docs = pass(argv[1], v, n);
        if (docs < 0) {
            fprintf(stderr, "floor: invalid JSON in the input\n");
            return 1;
        }
        sink += docs;
        passes++;
        el = now_s() - t0;
    } while (el < min_s);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"mode\":\"%s\",\"bytes\":%zu,\"passes\":%ld,\"seconds\":%.6f,\"mb_per_s\":%.3f,\"docs\":%ld,"
           "\"peak_rss_kb\":%ld}\n",
           argv[1], bytes, passes, el, (double)bytes * (double)passes / el / 1e6, docs, ru.ru_maxrss);
    for (size_t i = 0; i < n; i++)
        free(v[i].data);
    free(v);
    sax_free(own);
    return sink >= 0 ? 0 : 1;
}
