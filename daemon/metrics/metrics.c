/* Metrics registry and text exposition (Prometheus 0.0.4 / OpenMetrics
 * 1.0.0); see metrics.h. Series of a registry family live in a chained hash
 * table keyed by their label values and in an insertion-ordered list, so an
 * update is O(1) and a scrape prints series in the order they appeared. */
#include "metrics/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

struct series {
    struct series *hnext;              /* hash chain */
    struct series *prev, *next;        /* insertion order */
    uint64_t hash;
    char **values;                     /* nlabels copies */
    double value;                      /* counter/gauge */
    double sum;                        /* histogram */
    uint64_t count;                    /* histogram */
    uint64_t *bucket_counts;           /* nbuckets + 1, non-cumulative */
};

struct metric_family {
    char *name;
    char *help;
    enum metric_type type;
    enum metric_scope scope;
    size_t nlabels;
    char **label_names;
    double *buckets;
    size_t nbuckets;
    struct series **table;
    size_t table_size;                 /* power of two */
    size_t nseries;
    struct series *first, *last;
};

struct collector {
    enum metric_scope scope;
    metrics_collect_cb cb;
    void *data;
};

struct metrics {
    struct metric_family **fams;
    size_t nfams, capfams;
    struct collector *cols;
    size_t ncols, capcols;
    bool cluster_enabled;
};

struct metrics_writer {
    struct buf *out;
    bool om;
    int err;
    struct metrics_marks *marks; /* NULL: none kept */
};

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

struct metrics *metrics_new(void)
{
    return calloc(1, sizeof(struct metrics));
}

static void series_free(struct series *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->bucket_counts);
    free(s);
}

static void family_free(struct metric_family *f)
{
    if (!f)
        return;
    metric_clear(f);
    free(f->table);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->label_names[i]);
    free(f->label_names);
    free(f->buckets);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfams; i++)
        family_free(m->fams[i]);
    free(m->fams);
    free(m->cols);
    free(m);
}

void metrics_set_cluster_enabled(struct metrics *m, bool on)
{
    m->cluster_enabled = on;
}

struct metric_family *metrics_family(struct metrics *m, const char *name,
                                     enum metric_type type, enum metric_scope scope,
                                     const char *help, size_t nlabels,
                                     const char *const *label_names,
                                     const double *buckets, size_t nbuckets)
{
    for (size_t i = 0; i < m->nfams; i++) {
        if (strcmp(m->fams[i]->name, name) == 0)
            return m->fams[i]->type == type ? m->fams[i] : NULL;
    }
    if (m->nfams == m->capfams) {
        size_t ncap = m->capfams ? m->capfams * 2 : 16;
        struct metric_family **p = realloc(m->fams, ncap * sizeof(*p));
        if (!p)
            return NULL;
        m->fams = p;
        m->capfams = ncap;
    }
    struct metric_family *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->type = type;
    f->scope = scope;
    f->name = xstrdup(name);
    f->help = xstrdup(help ? help : "");
    f->table_size = 16;
    f->table = calloc(f->table_size, sizeof(*f->table));
    if (nlabels)
        f->label_names = calloc(nlabels, sizeof(char *));
    if (!f->name || !f->help || !f->table || (nlabels && !f->label_names))
        goto fail;
    for (size_t i = 0; i < nlabels; i++) {
        f->label_names[i] = xstrdup(label_names[i]);
        if (!f->label_names[i])
            goto fail;
        f->nlabels = i + 1;
    }
    if (type == METRIC_HISTOGRAM && nbuckets) {
        f->buckets = malloc(nbuckets * sizeof(double));
        if (!f->buckets)
            goto fail;
        memcpy(f->buckets, buckets, nbuckets * sizeof(double));
        f->nbuckets = nbuckets;
    }
    m->fams[m->nfams++] = f;
    return f;
fail:
    family_free(f);
    return NULL;
}

/* FNV-1a over the values, each terminated by 0xff (never in UTF-8 text). */
static uint64_t hash_values(size_t n, const char *const *values)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)(values[i] ? values[i] : "");
        for (; *p; p++) {
            h ^= *p;
            h *= 1099511628211ULL;
        }
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    return h;
}

static bool values_equal(const struct series *s, size_t n, const char *const *values)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s->values[i], values[i] ? values[i] : "") != 0)
            return false;
    }
    return true;
}

static struct series *lookup(const struct metric_family *f, const char *const *values,
                             uint64_t h)
{
    for (struct series *s = f->table[h & (f->table_size - 1)]; s; s = s->hnext) {
        if (s->hash == h && values_equal(s, f->nlabels, values))
            return s;
    }
    return NULL;
}

static void rehash(struct metric_family *f)
{
    size_t nsize = f->table_size * 2;
    struct series **nt = calloc(nsize, sizeof(*nt));
    if (!nt)
        return; /* keep the old table: slower, still correct */
    for (struct series *s = f->first; s; s = s->next) {
        size_t b = s->hash & (nsize - 1);
        s->hnext = nt[b];
        nt[b] = s;
    }
    free(f->table);
    f->table = nt;
    f->table_size = nsize;
}

static struct series *get_or_create(struct metric_family *f, const char *const *values)
{
    static const char *const none[1] = {NULL};
    if (f->nlabels == 0)
        values = none;
    uint64_t h = hash_values(f->nlabels, values);
    struct series *s = lookup(f, values, h);
    if (s)
        return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->hash = h;
    s->values = calloc(f->nlabels ? f->nlabels : 1, sizeof(char *));
    if (!s->values)
        goto fail;
    for (size_t i = 0; i < f->nlabels; i++) {
        s->values[i] = xstrdup(values[i] ? values[i] : "");
        if (!s->values[i])
            goto fail;
    }
    if (f->type == METRIC_HISTOGRAM) {
        s->bucket_counts = calloc(f->nbuckets + 1, sizeof(uint64_t));
        if (!s->bucket_counts)
            goto fail;
    }
    size_t b = h & (f->table_size - 1);
    s->hnext = f->table[b];
    f->table[b] = s;
    s->prev = f->last;
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->nseries++;
    if (f->nseries > f->table_size)
        rehash(f);
    return s;
fail:
    series_free(s, f->nlabels);
    return NULL;
}

int metric_set(struct metric_family *f, const char *const *label_values, double v)
{
    if (f->type == METRIC_HISTOGRAM)
        return -EINVAL;
    struct series *s = get_or_create(f, label_values);
    if (!s)
        return -ENOMEM;
    s->value = v;
    return 0;
}

int metric_add(struct metric_family *f, const char *const *label_values, double delta)
{
    if (f->type == METRIC_HISTOGRAM || (f->type == METRIC_COUNTER && delta < 0))
        return -EINVAL;
    struct series *s = get_or_create(f, label_values);
    if (!s)
        return -ENOMEM;
    s->value += delta;
    return 0;
}

int metric_observe(struct metric_family *f, const char *const *label_values, double v)
{
    if (f->type != METRIC_HISTOGRAM)
        return -EINVAL;
    struct series *s = get_or_create(f, label_values);
    if (!s)
        return -ENOMEM;
    /* First bucket whose upper bound is >= v (le is inclusive). */
    size_t lo = 0, hi = f->nbuckets;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= f->buckets[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    s->bucket_counts[lo]++;
    s->count++;
    s->sum += v;
    return 0;
}

static void unlink_series(struct metric_family *f, struct series *s)
{
    struct series **pp = &f->table[s->hash & (f->table_size - 1)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    if (s->prev)
        s->prev->next = s->next;
    else
        f->first = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        f->last = s->prev;
    f->nseries--;
}

int metric_remove(struct metric_family *f, const char *const *label_values)
{
    static const char *const none[1] = {NULL};
    if (f->nlabels == 0)
        label_values = none;
    uint64_t h = hash_values(f->nlabels, label_values);
    struct series *s = lookup(f, label_values, h);
    if (!s)
        return -ENOENT;
    unlink_series(f, s);
    series_free(s, f->nlabels);
    return 0;
}

void metric_clear(struct metric_family *f)
{
    struct series *s = f->first;
    while (s) {
        struct series *n = s->next;
        series_free(s, f->nlabels);
        s = n;
    }
    f->first = f->last = NULL;
    f->nseries = 0;
    if (f->table)
        memset(f->table, 0, f->table_size * sizeof(*f->table));
}

double metric_get(const struct metric_family *f, const char *const *label_values)
{
    static const char *const none[1] = {NULL};
    if (f->nlabels == 0)
        label_values = none;
    struct series *s = lookup(f, label_values, hash_values(f->nlabels, label_values));
    if (!s)
        return NAN;
    return f->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
}

int metrics_add_collector(struct metrics *m, enum metric_scope scope,
                          metrics_collect_cb cb, void *data)
{
    if (m->ncols == m->capcols) {
        size_t ncap = m->capcols ? m->capcols * 2 : 8;
        struct collector *p = realloc(m->cols, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        m->cols = p;
        m->capcols = ncap;
    }
    m->cols[m->ncols++] = (struct collector){scope, cb, data};
    return 0;
}

void metrics_remove_collector(struct metrics *m, metrics_collect_cb cb, void *data)
{
    for (size_t i = 0; i < m->ncols; i++) {
        if (m->cols[i].cb == cb && m->cols[i].data == data) {
            memmove(&m->cols[i], &m->cols[i + 1], (m->ncols - i - 1) * sizeof(*m->cols));
            m->ncols--;
            return;
        }
    }
}

/* ---- exposition ---- */

static void w_add(struct metrics_writer *w, const char *s, size_t n)
{
    if (!w->err)
        w->err = buf_add(w->out, s, n);
}

static void w_adds(struct metrics_writer *w, const char *s)
{
    w_add(w, s, strlen(s));
}

/* Go's strconv 'g' -1 for non-integers (shortest text that reads back as
 * the same double); integers up to 2^53 in plain digits. */
static size_t format_value(char *out, size_t n, double v)
{
    if (isnan(v))
        return (size_t)snprintf(out, n, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
    if (v == 0)
        return (size_t)snprintf(out, n, signbit(v) ? "-0" : "0");
    if (v == trunc(v) && fabs(v) <= 9007199254740992.0)
        return (size_t)snprintf(out, n, "%.0f", v);
    for (int prec = 1; prec <= 17; prec++) {
        int len = snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return (size_t)len;
    }
    return (size_t)snprintf(out, n, "%.17g", v);
}

static void w_value(struct metrics_writer *w, double v)
{
    char tmp[40];
    size_t n = format_value(tmp, sizeof(tmp), v);
    w_add(w, tmp, n);
}

/* Escapes backslash and newline, and the double quote when quote is set. */
static int escape_into(struct buf *out, const char *s, bool quote)
{
    const char *run = s;
    int rc = 0;
    for (const char *p = s; *p && !rc; p++) {
        const char *rep = NULL;
        size_t replen = 2;
        unsigned cp;
        if ((unsigned char)*p >= 0x80) {
            size_t k = utf8_seq((const unsigned char *)p, strnlen(p, 4), &cp);
            if (k) {
                p += k - 1; /* well-formed: copied as it is */
                continue;
            }
            rep = "\xEF\xBF\xBD"; /* U+FFFD for a byte that is not UTF-8 */
            replen = 3;
        } else if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (*p == '"' && quote)
            rep = "\\\"";
        if (rep) {
            rc = buf_add(out, run, (size_t)(p - run));
            if (!rc)
                rc = buf_add(out, rep, replen);
            run = p + 1;
        }
    }
    if (!rc)
        rc = buf_adds(out, run);
    return rc;
}

int metrics_escape_label(struct buf *out, const char *value)
{
    return escape_into(out, value ? value : "", true);
}

void metrics_write_family(struct metrics_writer *w, const char *name,
                          enum metric_type type, const char *help)
{
    size_t nlen = strlen(name);
    /* OpenMetrics names the counter family without the _total suffix. */
    if (w->om && type == METRIC_COUNTER && nlen > 6 && strcmp(name + nlen - 6, "_total") == 0)
        nlen -= 6;
    if (help && *help) {
        w_adds(w, "# HELP ");
        w_add(w, name, nlen);
        w_adds(w, " ");
        if (!w->err)
            w->err = escape_into(w->out, help, w->om);
        w_adds(w, "\n");
    }
    w_adds(w, "# TYPE ");
    w_add(w, name, nlen);
    w_adds(w, type == METRIC_COUNTER ? " counter\n"
              : type == METRIC_GAUGE ? " gauge\n" : " histogram\n");
}

static void write_labels(struct metrics_writer *w, size_t n, const char *const *names,
                         const char *const *values, const char *extra_name,
                         const char *extra_value)
{
    if (n == 0 && !extra_name)
        return;
    w_adds(w, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            w_adds(w, ",");
        w_adds(w, names[i]);
        w_adds(w, "=\"");
        if (!w->err)
            w->err = metrics_escape_label(w->out, values ? values[i] : NULL);
        w_adds(w, "\"");
    }
    if (extra_name) {
        if (n)
            w_adds(w, ",");
        w_adds(w, extra_name);
        w_adds(w, "=\"");
        w_adds(w, extra_value);
        w_adds(w, "\"");
    }
    w_adds(w, "}");
}

void metrics_write_sample(struct metrics_writer *w, const char *name, size_t nlabels,
                          const char *const *label_names,
                          const char *const *label_values, double value)
{
    w_adds(w, name);
    write_labels(w, nlabels, label_names, label_values, NULL, NULL);
    w_adds(w, " ");
    w_value(w, value);
    w_adds(w, "\n");
}

void metrics_write_raw(struct metrics_writer *w, const char *text, size_t len)
{
    w_add(w, text, len);
}

static void write_suffixed(struct metrics_writer *w, const struct metric_family *f,
                           const struct series *s, const char *suffix,
                           const char *le, double v)
{
    w_adds(w, f->name);
    w_adds(w, suffix);
    write_labels(w, f->nlabels, (const char *const *)f->label_names,
                 (const char *const *)s->values, le ? "le" : NULL, le);
    w_adds(w, " ");
    w_value(w, v);
    w_adds(w, "\n");
}

static void render_family(struct metrics_writer *w, const struct metric_family *f)
{
    if (f->nseries == 0)
        return; /* like client_golang: no series, no family */
    metrics_write_family(w, f->name, f->type, f->help);
    for (const struct series *s = f->first; s; s = s->next) {
        if (f->type != METRIC_HISTOGRAM) {
            write_suffixed(w, f, s, "", NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        char le[48];
        for (size_t i = 0; i < f->nbuckets; i++) {
            cum += s->bucket_counts[i];
            size_t n = format_value(le, sizeof(le) - 2, f->buckets[i]);
            /* OpenMetrics wants canonical floats in le ("1.0"). */
            if (w->om && !strpbrk(le, ".eIN"))
                memcpy(le + n, ".0", 3);
            write_suffixed(w, f, s, "_bucket", le, (double)cum);
        }
        write_suffixed(w, f, s, "_bucket", "+Inf", (double)s->count);
        write_suffixed(w, f, s, "_sum", NULL, s->sum);
        write_suffixed(w, f, s, "_count", NULL, (double)s->count);
    }
}

void metrics_marks_free(struct metrics_marks *mk)
{
    free(mk->v);
    *mk = (struct metrics_marks){0};
}

void metrics_write_mark(struct metrics_writer *w)
{
    struct metrics_marks *mk = w->marks;
    if (!mk || w->err)
        return;
    if (mk->n == mk->cap) {
        size_t nc = mk->cap ? mk->cap * 2 : 1024;
        size_t *nv = realloc(mk->v, nc * sizeof(*nv));
        if (!nv)
            return; /* a hint only: the block just gets longer */
        mk->v = nv;
        mk->cap = nc;
    }
    mk->v[mk->n++] = w->out->len;
}

int metrics_render(struct metrics *m, bool openmetrics, struct buf *out)
{
    return metrics_render_marked(m, openmetrics, out, NULL);
}

int metrics_render_marked(struct metrics *m, bool openmetrics, struct buf *out,
                          struct metrics_marks *mk)
{
    if (mk)
        mk->n = 0;
    struct metrics_writer w = {.out = out, .om = openmetrics, .err = 0, .marks = mk};
    for (size_t i = 0; i < m->nfams; i++) {
        const struct metric_family *f = m->fams[i];
        if (f->scope == METRIC_SCOPE_CLUSTER && !m->cluster_enabled)
            continue;
        render_family(&w, f);
    }
    for (size_t i = 0; i < m->ncols; i++) {
        if (m->cols[i].scope == METRIC_SCOPE_CLUSTER && !m->cluster_enabled)
            continue;
        m->cols[i].cb(&w, m->cols[i].data);
    }
    if (openmetrics)
        w_adds(&w, "# EOF\n");
    return w.err ? -ENOMEM : 0;
}

/* ---- fast sample lines (metrics_format_line, metrics_write_line) ---- */

/* memcpy for the short pieces of a sample line (label names, values of
 * a few dozen bytes): fixed-size copies, overlapping at the end, that the
 * compiler emits as a few moves, where a call to memcpy with a variable
 * size cost more than the copy (callgrind: 13 calls per per-PV line). */
static inline void copy_short(char *d, const char *s, size_t n)
{
    if (n >= 16) {
        if (n > 256) {
            memcpy(d, s, n);
            return;
        }
        size_t i = 0;
        for (; i + 16 <= n; i += 16)
            memcpy(d + i, s + i, 16);
        if (i < n)
            memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    }
}

static inline bool put_bytes(char **q, const char *end, const char *s, size_t n)
{
    if ((size_t)(end - *q) < n)
        return false;
    copy_short(*q, s, n);
    *q += n;
    return true;
}

/* Bytes that end a plain run in a label value: NUL and the three that the
 * exposition format escapes. */
static const unsigned char stop_byte[256] = {[0] = 1, ['\\'] = 1, ['"'] = 1, ['\n'] = 1};

/* Label value with exposition escaping (backslash, double quote, newline):
 * plain runs found with a table lookup per byte and copied with memcpy
 * (a strcspn per value cost more than the copy; values are short; so did
 * strlen and a scan 8 bytes at a time, by callgrind). */
static inline bool put_label(char **q, const char *end, const char *v)
{
    for (;;) {
        size_t run = 0;
        while (!stop_byte[(unsigned char)v[run]])
            run++;
        if (!put_bytes(q, end, v, run))
            return false;
        v += run;
        if (!*v)
            return true;
        const char esc[2] = {'\\', *v == '\n' ? 'n' : *v};
        if (!put_bytes(q, end, esc, 2))
            return false;
        v++;
    }
}

/* The line without its NUL into out[0..size); its length, 0 if too small. */
static size_t format_into(char *out, size_t size, const struct metrics_lit *parts,
                          const char *const *vals, size_t n, const struct metrics_lit *tail)
{
    char *q = out;
    const char *end = out + size;
    for (size_t i = 0; i < n; i++)
        if (!put_bytes(&q, end, parts[i].s, parts[i].n) || !put_label(&q, end, vals[i]))
            return 0;
    if (!put_bytes(&q, end, tail->s, tail->n))
        return 0;
    return (size_t)(q - out);
}

size_t metrics_format_line(char *out, size_t size, const struct metrics_lit *parts,
                           const char *const *vals, size_t n, const struct metrics_lit *tail)
{
    if (!size)
        return 0;
    size_t len = format_into(out, size - 1, parts, vals, n, tail);
    if (len)
        out[len] = '\0';
    return len;
}

size_t metrics_line_bound(const struct metrics_lit *parts, const char *const *vals, size_t n,
                          const struct metrics_lit *tail)
{
    size_t len = tail->n + 1;
    for (size_t i = 0; i < n; i++)
        len += parts[i].n + 2 * strlen(vals[i]);
    return len;
}

/* Room most lines fit in; a longer one is sized exactly on the retry. */
#define LINE_ROOM 1024

void metrics_write_line(struct metrics_writer *w, const struct metrics_lit *parts,
                        const char *const *vals, size_t n, const struct metrics_lit *tail)
{
    struct buf *b = w->out;
    for (int attempt = 0; attempt < 2 && !w->err; attempt++) {
        size_t need = attempt ? metrics_line_bound(parts, vals, n, tail) : LINE_ROOM;
        if ((!b->data || b->cap - b->len <= need) && (w->err = buf_reserve(b, need)) != 0)
            return;
        size_t len = format_into(b->data + b->len, b->cap - b->len - 1, parts, vals, n, tail);
        if (len) {
            b->len += len;
            b->data[b->len] = '\0';
            return;
        }
    }
}
