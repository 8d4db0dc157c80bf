/* kubesim helpers: growable buffer, allocation that aborts on OOM (a test
 * tool), clocks, uids, JSON path lookup and logging to stderr. */
#include "ks.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("kubesim: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) {
        fputs("kubesim: out of memory\n", stderr);
        abort();
    }
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *p = xmalloc(n + 1);
    memcpy(p, s ? s : "", n + 1);
    return p;
}

static void sbuf_grow(struct sbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + extra + 1)
        nc *= 2;
    char *p = realloc(b->data, nc);
    if (!p) {
        fputs("kubesim: out of memory\n", stderr);
        abort();
    }
    b->data = p;
    b->cap = nc;
}

void sbuf_add(struct sbuf *b, const void *p, size_t n)
{
    sbuf_grow(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sbuf_add_base64(struct sbuf *b, const void *data, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {tbl[(v >> 18) & 63], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=',
                     i + 2 < n ? tbl[v & 63] : '='};
        sbuf_add(b, q, 4);
    }
}

void sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    sbuf_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sbuf_add_json_str(struct sbuf *b, const char *s)
{
    sbuf_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sbuf_add(b, "\\\"", 2); break;
        case '\\': sbuf_add(b, "\\\\", 2); break;
        case '\n': sbuf_add(b, "\\n", 2); break;
        case '\r': sbuf_add(b, "\\r", 2); break;
        case '\t': sbuf_add(b, "\\t", 2); break;
        default:
            if (*p < 0x20)
                sbuf_printf(b, "\\u%04x", *p);
            else
                sbuf_add(b, p, 1);
        }
    }
    sbuf_add(b, "\"", 1);
}

void sbuf_free(struct sbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void now_rfc3339(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void gen_uid(char out[37])
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)rand();
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
}

int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        if (v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return 0;
}

const char *jstr(json_object *o, const char *path)
{
    char seg[256];
    const char *p = path;
    while (o && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof seg)
            return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        json_object *next = NULL;
        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, seg, &next))
            return NULL;
        o = next;
        p = dot ? dot + 1 : p + n;
    }
    if (!o || json_object_is_type(o, json_type_object) || json_object_is_type(o, json_type_array))
        return NULL;
    return json_object_get_string(o);
}

void ks_log(const char *fmt, ...)
{
    char ts[32];
    now_rfc3339(ts);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s kubesim: ", ts);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

json_object *jcopy(json_object *o)
{
    json_object *d = NULL;
    if (!o || json_object_deep_copy(o, &d, NULL) != 0)
        return NULL;
    return d;
}

size_t split_inplace(char *s, char sep, char **out, size_t max)
{
    size_t n = 0;
    while (*s && n < max) {
        while (*s == sep)
            s++;
        if (!*s)
            break;
        out[n++] = s;
        char *e = strchr(s, sep);
        if (!e)
            break;
        *e = '\0';
        s = e + 1;
    }
    return n;
}
