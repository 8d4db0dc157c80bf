/* The benchmark's floor: what json-c alone costs on the very bytes the daemon
 * received, and what a memchr pass over them costs (memory bandwidth).
 * Built ad hoc by bench/run.sh (cc -O2 ... -ljson-c); not part of the daemon.
 *
 *   floor lines|pages|memchr MIN_SECONDS FILE...
 *
 * lines:  every '\n'-terminated line of every file is one JSON document (a
 *         watch event), parsed with json_tokener_parse and freed at once.
 * pages:  every file is one JSON document (a list page), parsed and freed.
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
    if (argc < 4 || (strcmp(argv[1], "lines") && strcmp(argv[1], "pages") && strcmp(argv[1], "memchr"))) {
        fprintf(stderr, "usage: floor lines|pages|memchr MIN_SECONDS FILE...\n");
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
    if (!v)
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
    return sink >= 0 ? 0 : 1;
}
