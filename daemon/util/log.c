/* Structured logger: see log.h. Lines are assembled in a stack buffer and
 * written with one write(2) so concurrent writers (kubesim, tests) never
 * interleave inside a line. */
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level g_min = LOG_INFO;
static enum log_format g_fmt = LOG_FORMAT_JSON;
static unsigned long g_errors;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level min, enum log_format fmt)
{
    g_min = min;
    g_fmt = fmt;
}

enum log_level log_min_level(void) { return g_min; }
unsigned long log_error_count(void) { return g_errors; }

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (s && strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    if (s && strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (s && strcmp(s, "json") == 0) {
        *out = LOG_FORMAT_JSON;
        return 0;
    }
    if (s && strcmp(s, "text") == 0) {
        *out = LOG_FORMAT_TEXT;
        return 0;
    }
    return -EINVAL;
}

struct line {
    char b[8192];
    size_t n;
    int trunc;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->n + n >= sizeof(l->b) - 2) {
        n = sizeof(l->b) - 2 - l->n;
        l->trunc = 1;
    }
    memcpy(l->b + l->n, s, n);
    l->n += n;
}

static void puts_(struct line *l, const char *s) { put(l, s, strlen(s)); }

static void put_json_str(struct line *l, const char *s)
{
    if (!s) {
        puts_(l, "null");
        return;
    }
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': puts_(l, "\\\""); break;
        case '\\': puts_(l, "\\\\"); break;
        case '\n': puts_(l, "\\n"); break;
        case '\r': puts_(l, "\\r"); break;
        case '\t': puts_(l, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", *p);
                puts_(l, esc);
            } else {
                put(l, (const char *)p, 1);
            }
        }
    }
    put(l, "\"", 1);
}

static void put_text_val(struct line *l, const char *s)
{
    if (!s) {
        puts_(l, "-");
        return;
    }
    int quote = s[0] == '\0' || strpbrk(s, " \t\"=") != NULL;
    if (!quote) {
        for (const char *p = s; *p; p++)
            put(l, *p == '\n' ? " " : p, 1);
        return;
    }
    put(l, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            put(l, "\\", 1);
        put(l, *p == '\n' ? " " : p, 1);
    }
    put(l, "\"", 1);
}

static void timestamp(char *out, size_t n)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

static void emit(enum log_level lvl, const char *msg, va_list ap)
{
    struct line l = {.n = 0};
    char ts[40];
    timestamp(ts, sizeof(ts));
    if (g_fmt == LOG_FORMAT_JSON) {
        puts_(&l, "{\"ts\":\"");
        puts_(&l, ts);
        puts_(&l, "\",\"level\":\"");
        puts_(&l, level_names[lvl]);
        puts_(&l, "\",\"msg\":");
        put_json_str(&l, msg);
    } else {
        puts_(&l, ts);
        puts_(&l, " ");
        char lv[8];
        snprintf(lv, sizeof(lv), "%-5s", level_names[lvl]);
        for (char *p = lv; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        puts_(&l, lv);
        puts_(&l, " ");
        puts_(&l, msg ? msg : "");
    }
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (g_fmt == LOG_FORMAT_JSON) {
            puts_(&l, ",");
            put_json_str(&l, k);
            puts_(&l, ":");
            put_json_str(&l, v);
        } else {
            puts_(&l, " ");
            puts_(&l, k);
            puts_(&l, "=");
            put_text_val(&l, v);
        }
    }
    if (g_fmt == LOG_FORMAT_JSON)
        puts_(&l, l.trunc ? ",\"truncated\":true}" : "}");
    l.b[l.n++] = '\n';
    ssize_t off = 0;
    while ((size_t)off < l.n) {
        ssize_t w = write(STDERR_FILENO, l.b + off, l.n - (size_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        off += w;
    }
}

void log_kvv(enum log_level lvl, const char *msg, va_list ap)
{
    if (lvl == LOG_ERROR)
        g_errors++;
    if (lvl < g_min)
        return;
    emit(lvl, msg, ap);
}

void log_kv(enum log_level lvl, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    log_kvv(lvl, msg, ap);
    va_end(ap);
}

static void emit_noargs(enum log_level lvl, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    emit(lvl, msg, ap);
    va_end(ap);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl == LOG_ERROR)
        g_errors++;
    if (lvl < g_min)
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit_noargs(lvl, msg, (const char *)NULL);
}
