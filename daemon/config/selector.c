/* A validating scanner for label selectors (extension.pod_selector),
 * following the grammar of apimachinery's labels.Parse: qualified-name keys,
 * label values, the set operators and exists / !exists. Nothing is built. */
#include "config/selector.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scan {
    const char *s;
    size_t i;
    char *why;
    size_t n;
};

static int fail(struct scan *c, const char *msg)
{
    if (c->why && c->n)
        snprintf(c->why, c->n, "%s at character %zu of the label selector", msg, c->i + 1);
    return -EINVAL;
}

static void skip_ws(struct scan *c)
{
    while (c->s[c->i] == ' ' || c->s[c->i] == '\t')
        c->i++;
}

/* characters that can be part of a key or value token */
static bool tok_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.' || ch == '/';
}

static size_t token(struct scan *c)
{
    size_t st = c->i;
    while (tok_char(c->s[c->i]))
        c->i++;
    return c->i - st;
}

/* [A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?, at most max; empty allowed if empty_ok */
static bool name_part(const char *p, size_t len, size_t max, bool empty_ok)
{
    if (len == 0)
        return empty_ok;
    if (len > max || !isalnum((unsigned char)p[0]) || !isalnum((unsigned char)p[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)p[i]) && p[i] != '-' && p[i] != '_' && p[i] != '.')
            return false;
    return true;
}

/* a DNS-1123 subdomain: lower-case labels joined by dots, at most 253 */
static bool dns_subdomain(const char *p, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t lab = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == '.') {
            if (lab == 0 || p[i - 1] == '-' || p[i - lab] == '-')
                return false;
            lab = 0;
            continue;
        }
        if (!islower((unsigned char)p[i]) && !isdigit((unsigned char)p[i]) && p[i] != '-')
            return false;
        lab++;
    }
    return true;
}

static int key(struct scan *c)
{
    size_t st = c->i, len = token(c);
    const char *p = c->s + st;
    if (len == 0) {
        c->i = st;
        return fail(c, "expected a label key");
    }
    const char *slash = memchr(p, '/', len);
    bool ok;
    if (slash)
        ok = dns_subdomain(p, (size_t)(slash - p)) &&
             name_part(slash + 1, len - (size_t)(slash - p) - 1, 63, false) &&
             !memchr(slash + 1, '/', len - (size_t)(slash - p) - 1);
    else
        ok = name_part(p, len, 63, false);
    if (!ok) {
        c->i = st;
        return fail(c, "not a valid label key ([prefix/]name, name at most 63 characters)");
    }
    return 0;
}

static int value(struct scan *c, bool integer)
{
    size_t st = c->i, len = token(c);
    if (integer) {
        bool ok = len > 0;
        for (size_t i = 0; i < len && ok; i++)
            ok = isdigit((unsigned char)c->s[st + i]) || (i == 0 && c->s[st] == '-');
        if (!ok) {
            c->i = st;
            return fail(c, "expected an integer after > or <");
        }
        return 0;
    }
    if (!name_part(c->s + st, len, 63, true) || memchr(c->s + st, '/', len)) {
        c->i = st;
        return fail(c, "not a valid label value (at most 63 letters, digits, '-', '_', '.')");
    }
    return 0;
}

static bool word(struct scan *c, const char *w)
{
    size_t l = strlen(w);
    if (strncmp(c->s + c->i, w, l) != 0 || tok_char(c->s[c->i + l]))
        return false;
    c->i += l;
    return true;
}

static int set(struct scan *c)
{
    skip_ws(c);
    if (c->s[c->i] != '(')
        return fail(c, "expected '(' after in/notin");
    c->i++;
    skip_ws(c);
    if (c->s[c->i] == ')')
        return fail(c, "the value set of in/notin must not be empty");
    for (;;) {
        skip_ws(c);
        int rc = value(c, false);
        if (rc)
            return rc;
        skip_ws(c);
        if (c->s[c->i] == ')') {
            c->i++;
            return 0;
        }
        if (c->s[c->i] != ',')
            return fail(c, "expected ',' or ')' in a value set");
        c->i++;
    }
}

static int requirement(struct scan *c)
{
    skip_ws(c);
    if (c->s[c->i] == '!') {
        c->i++;
        skip_ws(c);
        return key(c);
    }
    int rc = key(c);
    if (rc)
        return rc;
    skip_ws(c);
    char ch = c->s[c->i];
    if (ch == '\0' || ch == ',')
        return 0; /* exists */
    if (ch == '=' || (ch == '!' && c->s[c->i + 1] == '=')) {
        c->i += ch == '!' ? 2 : (c->s[c->i + 1] == '=' ? 2 : 1);
        skip_ws(c);
        return value(c, false);
    }
    if (ch == '>' || ch == '<') {
        c->i++;
        skip_ws(c);
        return value(c, true);
    }
    if (word(c, "in") || word(c, "notin"))
        return set(c);
    return fail(c, "expected =, ==, !=, in, notin, >, < or ','");
}

int label_selector_check(const char *s, char *why, size_t n)
{
    struct scan c = {.s = s, .i = 0, .why = why, .n = n};
    skip_ws(&c);
    if (!s[c.i])
        return fail(&c, "empty");
    for (;;) {
        int rc = requirement(&c);
        if (rc)
            return rc;
        skip_ws(&c);
        if (!s[c.i])
            return 0;
        if (s[c.i] != ',')
            return fail(&c, "expected ',' between requirements");
        c.i++;
    }
}
