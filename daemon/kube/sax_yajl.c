/* yajl (Debian libyajl 2.1) as the streaming parser's lexer (sax_int.h):
 * the lexer the own one replaced, kept as the reference tests and
 * benchmarks compare it with (sax_use_yajl). */
#include <errno.h>
#include <stdlib.h>

#include "kube/sax_int.h"

/* ---- the reference lexer: yajl (sax_use_yajl) ---- */

/* Every yajl callback outside skipped values lands here. */
static int on_ev(struct sax *s, enum ev e, const char *p, size_t n)
{
    if (e == EV_MAP || e == EV_ARRAY) {
        if (++s->nest > SAX_MAX_DEPTH) {
            s->rc = -EBADMSG;
            return 0;
        }
        s->tokpos = s->fed + yajl_get_bytes_consumed(s->h) - 1;
    } else if (e == EV_END) {
        s->nest--;
        s->tokend = yajl_get_bytes_consumed(s->h);
    }
    int rc = sax__dispatch(s, e, p, n);
    if (rc) {
        s->rc = rc;
        return 0;
    }
    return 1;
}

/* The callbacks step over skipped values themselves, without a call into
 * on_ev. */
static int cb_null(void *c)
{
    struct sax *s = c;
    return s->skip ? 1 : on_ev(s, EV_NULL, NULL, 0);
}
static int cb_bool(void *c, int b)
{
    struct sax *s = c;
    return s->skip ? 1 : on_ev(s, EV_BOOL, NULL, b ? 1 : 0);
}
static int cb_number(void *c, const char *p, size_t n)
{
    struct sax *s = c;
    return s->skip ? 1 : on_ev(s, EV_NUM, p, n);
}
static int cb_string(void *c, const unsigned char *p, size_t n)
{
    struct sax *s = c;
    return s->skip ? 1 : on_ev(s, EV_STR, (const char *)p, n);
}
static int cb_key(void *c, const unsigned char *p, size_t n)
{
    struct sax *s = c;
    return s->skip ? 1 : on_ev(s, EV_KEY, (const char *)p, n);
}
static int skip_open(struct sax *s)
{
    if (++s->nest > SAX_MAX_DEPTH) {
        s->rc = -EBADMSG;
        return 0;
    }
    s->skip++;
    return 1;
}
static int cb_start_map(void *c)
{
    struct sax *s = c;
    return s->skip ? skip_open(s) : on_ev(s, EV_MAP, NULL, 0);
}
static int cb_start_array(void *c)
{
    struct sax *s = c;
    return s->skip ? skip_open(s) : on_ev(s, EV_ARRAY, NULL, 0);
}
static int cb_end(void *c)
{
    struct sax *s = c;
    if (s->skip) {
        s->nest--;
        s->skip--;
        return 1;
    }
    return on_ev(s, EV_END, NULL, 0);
}

static const yajl_callbacks callbacks = {
    cb_null, cb_bool, NULL, NULL, cb_number, cb_string, cb_start_map, cb_key, cb_end, cb_start_array, cb_end,
};

int sax__yajl_reset(struct sax *s, enum sax_mode mode)
{
    sax__yajl_free(s);
    if (!s->yajl)
        return 0;
    s->h = yajl_alloc(&callbacks, NULL, s);
    if (!s->h)
        return -ENOMEM;
    /* Strings are not checked for UTF-8: a name with invalid bytes is
     * taken as sent, as it always was. */
    yajl_config(s->h, yajl_dont_validate_strings, 1);
    if (mode == SAX_WATCH)
        yajl_config(s->h, yajl_allow_multiple_values, 1);
    return 0;
}

int sax__yajl_slice(struct sax *s, const char *p, size_t n)
{
    yajl_status st = yajl_parse(s->h, (const unsigned char *)p, n);
    if (st == yajl_status_client_canceled)
        return s->rc ? s->rc : -EBADMSG;
    return st == yajl_status_ok ? 0 : -EBADMSG;
}

int sax__yajl_finish(struct sax *s)
{
    return yajl_complete_parse(s->h) == yajl_status_ok ? 0 : -EBADMSG;
}

void sax__yajl_free(struct sax *s)
{
    if (s->h)
        yajl_free(s->h);
    s->h = NULL;
}
