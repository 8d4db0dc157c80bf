/* The own lexer of the streaming parser (sax_int.h): sax_feed hands it
 * each slice of a list page or watch stream; it calls sax__dispatch for
 * every parse event outside a skipped value. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube/sax_int.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- the own lexer ----
 * A JSON lexer and grammar check in one state machine, resumable at any
 * byte: a token cut by the end of a slice is kept (its bytes only when they
 * will be dispatched) and finished by the next slice. Inside a skipped
 * value nothing is dispatched or copied: strings are stepped over eight
 * bytes at a time, and only the grammar is checked, so bad input gets the
 * answers it got from yajl (configured as in sax_reset): the same grammar,
 * yajl's whitespace (\v and \f too), control characters refused inside
 * strings, bytes >= 0x80 taken as sent (no UTF-8 check), escapes decoded
 * as yajl decodes them. */

enum gstate { G_TOP, G_DONE, G_VALUE, G_AVALUE, G_OKEY, G_KEY, G_COLON, G_AFTER };
enum tok { TK_NONE, TK_STR, TK_KEY, TK_NUM, TK_LIT };
enum nstate { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

#define C_STOP 2 /* ends a run of plain string bytes: '"', '\\', control characters */
#define C_HEX 4  /* a \u digit */
#define C_ESC 8  /* may follow a backslash, besides 'u' */

static const uint8_t cls[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    1, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0,
    0, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0,
    0, 4, 12, 4, 4, 4, 12, 0, 0, 0, 0, 0, 0, 0, 8, 0,
    0, 0, 8, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static const char *const lits[] = {"true", "false", "null"};

static inline bool accepts_value(uint8_t gs)
{
    return gs == G_VALUE || gs == G_AVALUE || gs == G_TOP;
}

static inline bool top_is_obj(const struct sax *s)
{
    unsigned d = (unsigned)s->nest - 1;
    return (s->ctype[d >> 3] >> (d & 7)) & 1;
}

static inline void after_value(struct sax *s)
{
    s->gs = s->nest > 0 ? G_AFTER : s->mode == SAX_WATCH ? G_TOP : G_DONE;
}

/* Appends [a, b) to the open token's bytes, keeping room for a sentinel. */
static int tok_save(struct sax *s, const uint8_t *a, const uint8_t *b)
{
    size_t n = (size_t)(b - a);
    if (s->tlen + n + 1 > s->tcap) {
        size_t cap = s->tcap ? s->tcap : 256;
        while (cap < s->tlen + n + 1)
            cap *= 2;
        char *t = realloc(s->tbuf, cap);
        if (!t)
            return -ENOMEM;
        s->tbuf = t;
        s->tcap = cap;
    }
    memcpy(s->tbuf + s->tlen, a, n);
    s->tlen += n;
    return 0;
}

/* A bit set in the byte of v (little-endian) that is '"', '\\' or below
 * 0x20; the lowest set bit is exact (borrows only reach higher bytes). */
static inline uint64_t swar_stop(uint64_t v)
{
    const uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    uint64_t q = v ^ 0x2222222222222222ull, b = v ^ 0x5c5c5c5c5c5c5c5cull;
    return (((q - lo) & ~q) | ((b - lo) & ~b) | ((v - 0x2020202020202020ull) & ~v)) & hi;
}

/* The first byte of [q, e) that is '"', '\\' or a control character, or
 * e: 16 bytes at a time with SSE2 (every x86-64 has it), else 8 with
 * integer arithmetic, then byte by byte. */
static inline const uint8_t *str_plain(const uint8_t *q, const uint8_t *e)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), c1f = _mm_set1_epi8(0x1f);
    while (e - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                   _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v)); /* v <= 0x1f */
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m)
            return q + __builtin_ctz(m);
        q += 16;
    }
#endif
    while (e - q >= 8) {
        uint64_t v;
        memcpy(&v, q, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        uint64_t m = swar_stop(v);
        if (m)
            return q + (__builtin_ctzll(m) >> 3);
#else
        if (swar_stop(v))
            break;
#endif
        q += 8;
    }
    while (q < e && !(cls[*q] & C_STOP))
        q++;
    return q;
}

/* An escape's bytes from *qp (after a backslash or inside \u digits): 1
 * when done, 0 at the end of the slice, -EBADMSG. */
static int esc_run(struct sax *s, const uint8_t **qp, const uint8_t *e)
{
    const uint8_t *q = *qp;
    while (s->esc || s->hex) {
        if (q == e) {
            *qp = q;
            return 0;
        }
        uint8_t c = *q++;
        if (s->hex) {
            if (!(cls[c] & C_HEX))
                return -EBADMSG;
            s->hex--;
        } else {
            s->esc = false;
            if (c == 'u')
                s->hex = 4;
            else if (!(cls[c] & C_ESC))
                return -EBADMSG;
        }
    }
    *qp = q;
    return 1;
}

/* String bytes from *qp. 1 at the closing quote (*cend at it, *qp after
 * it), 0 at the end of the slice (*qp = e), -EBADMSG. */
static inline int str_run(struct sax *s, const uint8_t **qp, const uint8_t *e, const uint8_t **cend)
{
    const uint8_t *q = *qp;
    for (;;) {
        if (__builtin_expect(s->esc || s->hex, 0)) {
            int rc = esc_run(s, &q, e);
            if (rc <= 0) {
                *qp = q;
                return rc;
            }
        }
        q = str_plain(q, e);
        if (q == e)
            break;
        if (*q == '"') {
            *cend = q;
            *qp = q + 1;
            return 1;
        }
        if (*q != '\\')
            return -EBADMSG; /* a control character */
        s->esc = true;
        s->tesc = true;
        q++;
    }
    *qp = q;
    return 0;
}

/* Number bytes from *qp (its first byte already read into s->tsub). 1 when
 * the number ended before *qp, 0 at the end of the slice, -EBADMSG. */
static int num_run(struct sax *s, const uint8_t **qp, const uint8_t *e)
{
    const uint8_t *q = *qp;
    uint8_t st = s->tsub;
    int rc = 0;
    for (; q < e; q++) {
        uint8_t c = *q;
        bool dig = c >= '0' && c <= '9';
        switch (st) {
        case N_MINUS:
            if (!dig)
                return -EBADMSG;
            st = c == '0' ? N_ZERO : N_INT;
            continue;
        case N_ZERO:
        case N_INT:
            if (dig && st == N_INT)
                continue;
            if (c == '.')
                st = N_DOT;
            else if (c == 'e' || c == 'E')
                st = N_E;
            else
                break;
            continue;
        case N_DOT:
            if (!dig)
                return -EBADMSG;
            st = N_FRAC;
            continue;
        case N_FRAC:
            if (dig)
                continue;
            if (c == 'e' || c == 'E') {
                st = N_E;
                continue;
            }
            break;
        case N_E:
            if (c == '+' || c == '-') {
                st = N_ESIGN;
                continue;
            }
            if (!dig)
                return -EBADMSG;
            st = N_EXP;
            continue;
        case N_ESIGN:
            if (!dig)
                return -EBADMSG;
            st = N_EXP;
            continue;
        case N_EXP:
            if (dig)
                continue;
            break;
        }
        rc = 1;
        break;
    }
    s->tsub = st;
    *qp = q;
    return rc;
}

/* Literal bytes from *qp. 1 when complete, 0 at the end of the slice, -EBADMSG. */
static int lit_run(struct sax *s, const uint8_t **qp, const uint8_t *e)
{
    const char *l = lits[s->lit];
    const uint8_t *q = *qp;
    while (l[s->tsub]) {
        if (q == e) {
            *qp = q;
            return 0;
        }
        if (*q++ != (uint8_t)l[s->tsub])
            return -EBADMSG;
        s->tsub++;
    }
    *qp = q;
    return 1;
}

/* The value of 4 hex digits (checked by the lexer). */
static unsigned hex4(const uint8_t *h)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = h[i];
        if (c >= 'A')
            c = (unsigned char)((c & ~0x20) - 7);
        c = (unsigned char)(c - '0');
        v = (v << 4) | c;
    }
    return v;
}

static size_t utf8_put(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)((cp >> 6) | 0xC0);
        o[1] = (char)((cp & 0x3F) | 0x80);
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)((cp >> 12) | 0xE0);
        o[1] = (char)(((cp >> 6) & 0x3F) | 0x80);
        o[2] = (char)((cp & 0x3F) | 0x80);
        return 3;
    }
    if (cp < 0x200000) {
        o[0] = (char)((cp >> 18) | 0xF0);
        o[1] = (char)(((cp >> 12) & 0x3F) | 0x80);
        o[2] = (char)(((cp >> 6) & 0x3F) | 0x80);
        o[3] = (char)((cp & 0x3F) | 0x80);
        return 4;
    }
    o[0] = '?';
    return 1;
}

/* The escapes of a lexed string decoded into s->dbuf, byte for byte as
 * Debian's yajl 2.1 decodes them: a high surrogate followed by any \u
 * escape is combined with it, one that is not becomes '?', a lone low
 * surrogate is encoded as it is. */
static int decode(struct sax *s, const uint8_t *str, size_t len, size_t *out)
{
    if (len + 1 > s->dcap) {
        char *d = realloc(s->dbuf, len + 1);
        if (!d)
            return -ENOMEM;
        s->dbuf = d;
        s->dcap = len + 1;
    }
    char *o = s->dbuf;
    size_t beg = 0, end = 0;
    while (end < len) {
        if (str[end] != '\\') {
            end++;
            continue;
        }
        memcpy(o, str + beg, end - beg);
        o += end - beg;
        char u[4] = {'?'};
        size_t ulen = 1;
        switch (str[++end]) {
        case 'r': u[0] = '\r'; break;
        case 'n': u[0] = '\n'; break;
        case '\\': u[0] = '\\'; break;
        case '/': u[0] = '/'; break;
        case '"': u[0] = '"'; break;
        case 'f': u[0] = '\f'; break;
        case 'b': u[0] = '\b'; break;
        case 't': u[0] = '\t'; break;
        default: { /* 'u' and 4 hex digits (the lexer checked them) */
            unsigned cp = hex4(str + end + 1);
            end += 4;
            if ((cp & 0xFC00) == 0xD800) {
                if (end + 2 < len && str[end + 1] == '\\' && str[end + 2] == 'u') {
                    unsigned lo = hex4(str + end + 3);
                    cp = ((cp & 0x3F) << 10) | ((((cp >> 6) & 0xF) + 1) << 16) | (lo & 0x3FF);
                    end += 6;
                } else {
                    break; /* '?' */
                }
            }
            ulen = utf8_put(cp, u);
            break;
        }
        }
        memcpy(o, u, ulen);
        o += ulen;
        beg = ++end;
    }
    memcpy(o, str + beg, end - beg);
    o += end - beg;
    *out = (size_t)(o - s->dbuf);
    return 0;
}

static inline int lex_open(struct sax *s, bool obj, uint64_t pos)
{
    if (!accepts_value(s->gs) || ++s->nest > SAX_MAX_DEPTH)
        return -EBADMSG;
    unsigned d = (unsigned)s->nest - 1;
    if (obj)
        s->ctype[d >> 3] |= (uint8_t)(1u << (d & 7));
    else
        s->ctype[d >> 3] &= (uint8_t)~(1u << (d & 7));
    s->gs = obj ? G_OKEY : G_AVALUE;
    if (s->skip) {
        s->skip++;
        return 0;
    }
    s->tokpos = pos;
    return sax__dispatch(s, obj ? EV_MAP : EV_ARRAY, NULL, 0);
}

static inline int lex_close(struct sax *s, bool obj, size_t end)
{
    if ((s->gs != G_AFTER && s->gs != (obj ? G_OKEY : G_AVALUE)) || s->nest == 0 || top_is_obj(s) != obj)
        return -EBADMSG;
    s->nest--;
    after_value(s);
    if (s->skip) {
        s->skip--;
        return 0;
    }
    s->tokend = end;
    return sax__dispatch(s, EV_END, NULL, 0);
}

/* A string complete: p[n] is its closing quote. */
static inline int str_done(struct sax *s, bool key, const uint8_t *p, size_t n)
{
    if (s->gs == G_DONE)
        return -EBADMSG; /* a string after the list */
    if (key)
        s->gs = G_COLON;
    else
        after_value(s);
    if (s->skip)
        return 0;
    if (s->tesc) {
        int rc = decode(s, p, n, &n);
        if (rc)
            return rc;
        p = (const uint8_t *)s->dbuf;
    }
    return sax__dispatch(s, key ? EV_KEY : EV_STR, (const char *)p, n);
}

static inline int scalar_done(struct sax *s, enum ev e, const char *p, size_t n)
{
    after_value(s);
    return s->skip ? 0 : sax__dispatch(s, e, p, n);
}

static int lit_done(struct sax *s)
{
    return s->lit == 2 ? scalar_done(s, EV_NULL, NULL, 0) : scalar_done(s, EV_BOOL, NULL, s->lit == 0);
}

/* Finishes the token the last slice left open. */
static int lex_resume(struct sax *s, const uint8_t **qp, const uint8_t *e)
{
    const uint8_t *start = *qp;
    int rc, rc2;
    switch (s->tk) {
    case TK_STR:
    case TK_KEY: {
        const uint8_t *cend = NULL;
        if ((rc = str_run(s, qp, e, &cend)) < 0)
            return rc;
        if (!s->skip && !s->bad && (rc2 = tok_save(s, start, rc ? cend : e)) != 0)
            return rc2;
        if (rc == 0)
            return 0;
        bool key = s->tk == TK_KEY;
        s->tk = TK_NONE;
        if (s->bad)
            return -EBADMSG;
        if (s->skip)
            return str_done(s, key, NULL, 0);
        s->tbuf[s->tlen] = '"';
        return str_done(s, key, (const uint8_t *)s->tbuf, s->tlen);
    }
    case TK_NUM:
        if ((rc = num_run(s, qp, e)) < 0)
            return rc;
        if (!s->skip && !s->bad && (rc2 = tok_save(s, start, *qp)) != 0)
            return rc2;
        if (rc == 0)
            return 0;
        s->tk = TK_NONE;
        if (s->bad)
            return -EBADMSG;
        return scalar_done(s, EV_NUM, s->tbuf, s->tlen);
    case TK_LIT:
        if ((rc = lit_run(s, qp, e)) <= 0)
            return rc;
        s->tk = TK_NONE;
        if (s->bad)
            return -EBADMSG;
        return lit_done(s);
    default:
        return 0;
    }
}

/* Inside a skipped value (s->skip > 0, no token open): the same grammar
 * as sax__lex_slice, with its state in registers, nothing dispatched and
 * no token kept. 1 when the skipped value closed (*qp after it), 0 at the
 * end of the slice (a token possibly left open), -EBADMSG. */
static int skip_run(struct sax *s, const uint8_t **qp, const uint8_t *e)
{
    const uint8_t *q = *qp;
    uint8_t gs = s->gs;
    int nest = s->nest, skip = s->skip, rc = 0;
    while (q < e) {
        uint8_t c = *q;
        switch (c) {
        case ' ':
        case '\n':
        case '\r':
        case '\t':
        case '\v':
        case '\f':
            q++;
            continue;
        case '{':
        case '[': {
            if (!accepts_value(gs) || nest >= SAX_MAX_DEPTH) {
                rc = -EBADMSG;
                goto out;
            }
            unsigned d = (unsigned)nest++;
            if (c == '{') {
                s->ctype[d >> 3] |= (uint8_t)(1u << (d & 7));
                gs = G_OKEY;
            } else {
                s->ctype[d >> 3] &= (uint8_t)~(1u << (d & 7));
                gs = G_AVALUE;
            }
            skip++;
            q++;
            continue;
        }
        case '}':
        case ']': {
            bool obj = c == '}';
            unsigned d = (unsigned)nest - 1;
            if ((gs != G_AFTER && gs != (obj ? G_OKEY : G_AVALUE)) || (bool)((s->ctype[d >> 3] >> (d & 7)) & 1) != obj) {
                rc = -EBADMSG;
                goto out;
            }
            nest--;
            q++;
            gs = G_AFTER;
            if (--skip == 0) {
                rc = 1;
                goto out;
            }
            continue;
        }
        case ',': {
            unsigned d = (unsigned)nest - 1;
            if (gs != G_AFTER) {
                rc = -EBADMSG;
                goto out;
            }
            gs = (s->ctype[d >> 3] >> (d & 7)) & 1 ? G_KEY : G_VALUE;
            q++;
            continue;
        }
        case ':':
            if (gs != G_COLON) {
                rc = -EBADMSG;
                goto out;
            }
            gs = G_VALUE;
            q++;
            continue;
        case '"': {
            bool key = gs == G_OKEY || gs == G_KEY;
            if (!key && !accepts_value(gs)) { /* an error once lexed: the general path */
                s->gs = gs;
                s->nest = nest;
                s->skip = skip;
                *qp = q;
                return 2;
            }
            const uint8_t *z = str_plain(++q, e);
            if (z < e && *z == '"') { /* no escape: the common case */
                q = z + 1;
            } else {
                const uint8_t *cend;
                q = z;
                if ((rc = str_run(s, &q, e, &cend)) < 0)
                    goto out;
                if (rc == 0) {
                    s->tk = key ? TK_KEY : TK_STR;
                    gs = key ? G_COLON : G_AFTER; /* set again when the token ends */
                    goto out;
                }
                rc = 0;
            }
            gs = key ? G_COLON : G_AFTER;
            continue;
        }
        case 't':
        case 'f':
        case 'n':
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
            /* scalars: the general path (rare in skipped values) */
            s->gs = gs;
            s->nest = nest;
            s->skip = skip;
            *qp = q;
            return 2;
        default:
            rc = -EBADMSG;
            goto out;
        }
    }
out:
    s->gs = gs;
    s->nest = nest;
    s->skip = skip;
    if (rc == 1)
        after_value(s);
    *qp = q;
    return rc;
}

/* One slice through the own lexer: 0 or an error. */
int sax__lex_slice(struct sax *s, const uint8_t *p, size_t n)
{
    const uint8_t *q = p, *e = p + n;
    int rc;
    if (s->tk != TK_NONE && (rc = lex_resume(s, &q, e)) != 0)
        return rc;
    while (q < e) {
        if (s->skip && s->tk == TK_NONE) {
            if ((rc = skip_run(s, &q, e)) < 0)
                return rc;
            if (rc == 0)
                return 0; /* the slice ended inside the skipped value */
            if (rc == 1)
                continue;
            /* 2: a scalar at q, lexed below */
        }
        uint8_t c = *q;
        switch (c) {
        case ' ':
        case '\n':
        case '\r':
        case '\t':
        case '\v':
        case '\f':
            q++;
            continue;
        case '{':
        case '[':
            rc = lex_open(s, c == '{', s->fed + (uint64_t)(q - p));
            q++;
            break;
        case '}':
        case ']':
            q++;
            rc = lex_close(s, c == '}', (size_t)(q - p));
            break;
        case ',':
            if (s->gs != G_AFTER)
                return -EBADMSG;
            s->gs = top_is_obj(s) ? G_KEY : G_VALUE;
            q++;
            continue;
        case ':':
            if (s->gs != G_COLON)
                return -EBADMSG;
            s->gs = G_VALUE;
            q++;
            continue;
        case '"': {
            bool key = s->gs == G_OKEY || s->gs == G_KEY;
            bool bad = !key && !accepts_value(s->gs) && s->gs != G_DONE;
            const uint8_t *start = ++q, *cend = str_plain(q, e);
            s->tesc = false;
            if (cend < e && *cend == '"') { /* no escape: the common case */
                q = cend + 1;
                rc = 1;
            } else if ((rc = str_run(s, &q, e, &cend)) < 0) {
                return rc;
            }
            if (rc == 0) {
                s->tk = key ? TK_KEY : TK_STR;
                s->bad = bad;
                s->tlen = 0;
                return s->skip || bad ? 0 : tok_save(s, start, e);
            }
            if (bad)
                return -EBADMSG;
            rc = str_done(s, key, start, (size_t)(cend - start));
            break;
        }
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9': {
            bool bad = !accepts_value(s->gs);
            s->tsub = c == '-' ? N_MINUS : c == '0' ? N_ZERO : N_INT;
            const uint8_t *start = q++;
            if ((rc = num_run(s, &q, e)) < 0)
                return rc;
            if (rc == 0) {
                s->tk = TK_NUM;
                s->bad = bad;
                s->tlen = 0;
                return s->skip || bad ? 0 : tok_save(s, start, e);
            }
            if (bad)
                return -EBADMSG;
            rc = scalar_done(s, EV_NUM, (const char *)start, (size_t)(q - start));
            break;
        }
        case 't':
        case 'f':
        case 'n': {
            bool bad = !accepts_value(s->gs);
            s->lit = c == 't' ? 0 : c == 'f' ? 1 : 2;
            s->tsub = 1;
            q++;
            if ((rc = lit_run(s, &q, e)) < 0)
                return rc;
            if (rc == 0) {
                s->tk = TK_LIT;
                s->bad = bad;
                return 0;
            }
            if (bad)
                return -EBADMSG;
            rc = lit_done(s);
            break;
        }
        default:
            return -EBADMSG;
        }
        if (rc)
            return rc;
    }
    return 0;
}

void sax__lex_reset(struct sax *s)
{
    s->gs = G_TOP;
    s->tk = TK_NONE;
    s->bad = false;
    s->esc = false;
    s->hex = 0;
    s->tlen = 0;
}

bool sax__lex_list_end_ok(const struct sax *s)
{
    /* yajl finishes by lexing one more space: a string left open after the
     * list is taken (unless inside an escape), any other token is not */
    return s->gs == G_DONE && (s->tk == TK_NONE || (s->tk == TK_STR && !s->bad && !s->esc && !s->hex));
}
