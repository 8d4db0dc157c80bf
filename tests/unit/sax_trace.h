/* Test helper (unit tests and the sax_diff fuzz target): runs bytes through
 * kube/sax.c with the own lexer or with yajl and writes down everything
 * that comes out (each item's type, its view's values or its json-c tree,
 * the list's metadata) and the first error, so two runs compare as
 * strings. Header-only, static functions. */
#ifndef ABC_TESTS_SAX_TRACE_H
#define ABC_TESTS_SAX_TRACE_H

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/sax.h"
#include "model/fields.h"
#include "model/records.h"

struct sax_trace {
    char *b;
    size_t n, cap;
    const struct model_type *t;
    int items;
};

static void sax_trace_put(struct sax_trace *tr, const char *p, size_t n)
{
    if (tr->n + n + 1 > tr->cap) {
        size_t cap = tr->cap ? tr->cap : 1024;
        while (cap < tr->n + n + 1)
            cap *= 2;
        char *b = realloc(tr->b, cap);
        if (!b)
            abort();
        tr->b = b;
        tr->cap = cap;
    }
    memcpy(tr->b + tr->n, p, n);
    tr->n += n;
    tr->b[tr->n] = '\0';
}

static void sax_trace_printf(struct sax_trace *tr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sax_trace_printf(struct sax_trace *tr, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    sax_trace_put(tr, buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static void sax_trace_json(struct sax_trace *tr, struct json_object *o)
{
    const char *j = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : "NULL";
    sax_trace_put(tr, j, strlen(j));
}

static int sax_trace_item(void *data, const char *type, const struct sax_item *it)
{
    struct sax_trace *tr = data;
    tr->items++;
    sax_trace_printf(tr, "\n[%s] ", type ? type : "-");
    if (!it->view) {
        sax_trace_json(tr, it->json);
        return 0;
    }
    size_t nf = tr->t && tr->t->fields ? tr->t->fields->n : 0;
    for (size_t i = 0; i < nf; i++) {
        const struct model_val *v = &it->view->v[i];
        if (!v->set)
            continue;
        sax_trace_printf(tr, "%zu:%d:", i, v->b ? 1 : 0);
        if (v->s) {
            sax_trace_printf(tr, "%zu:", v->len);
            sax_trace_put(tr, v->s, v->len);
        }
        sax_trace_put(tr, ";", 1);
    }
    for (size_t i = 0; i < it->view->nkeys; i++) {
        sax_trace_put(tr, "k:", 2);
        sax_trace_put(tr, it->view->keys[i], strlen(it->view->keys[i]));
        sax_trace_put(tr, ";", 1);
    }
    return 0;
}

/* Feeds p[0..split) then p[split..n), each in chunks of at most chunk
 * bytes, then finishes; stops at the first error, which it returns. */
static int sax_trace_run(const struct model_type *t, bool yajl, enum sax_mode mode, size_t max_event, const char *p,
                         size_t n, size_t split, size_t chunk, struct sax_trace *tr)
{
    memset(tr, 0, sizeof(*tr));
    tr->t = t;
    sax_trace_put(tr, "", 0);
    struct sax *s = sax_new(t, max_event);
    if (!s || sax_use_yajl(s, yajl) != 0 || sax_reset(s, mode) != 0)
        abort();
    int rc = 0;
    size_t off = 0;
    while (off < n && rc == 0) {
        size_t lim = off < split ? split : n;
        size_t k = lim - off < chunk ? lim - off : chunk;
        rc = sax_feed(s, p + off, k, sax_trace_item, tr);
        off += k;
    }
    if (rc == 0)
        rc = sax_finish(s);
    if (rc == 0 && mode == SAX_LIST) {
        sax_trace_put(tr, "\nmetadata ", 10);
        sax_trace_json(tr, sax_list_metadata(s));
    }
    sax_free(s);
    return rc;
}

#endif
