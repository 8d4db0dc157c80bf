/* kubesim selectors: labelSelector (=, ==, !=, in, notin, exists, !exists)
 * and fieldSelector (=, ==, != on metadata.name, metadata.namespace,
 * spec.nodeName and a few other fields the real server indexes). */
#include "ks.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum sel_op { OP_EXISTS, OP_NOTEXISTS, OP_EQ, OP_NE, OP_IN, OP_NOTIN };

struct sel_req {
    char *key;
    int op;
    char **vals;
    size_t nvals;
};

struct selector {
    bool fields;
    struct sel_req *reqs;
    size_t n;
};

static const char *const field_ok[] = {
    "metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "spec.schedulerName",
    "spec.serviceAccountName", "involvedObject.kind", "involvedObject.name",
    "involvedObject.namespace", "involvedObject.uid", "reason", "type", "source",
    "regarding.kind", "regarding.name", "regarding.namespace", "reportingController",
    "spec.claimRef.name", "spec.claimRef.namespace", "spec.storageClassName", "spec.volumeName",
};

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static bool valid_token(const char *s, bool allow_empty)
{
    if (!*s)
        return allow_empty;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._/-", *s))
            return false;
    return true;
}

static void add_val(struct sel_req *r, const char *v)
{
    r->vals = realloc(r->vals, (r->nvals + 1) * sizeof *r->vals);
    if (!r->vals)
        abort();
    r->vals[r->nvals++] = xstrdup(v);
}

static int parse_req(struct selector *sel, char *s, char *err, size_t errlen)
{
    struct sel_req r = {0};
    s = trim(s);
    char *p;
    if (!*s) {
        snprintf(err, errlen, "empty requirement");
        return -1;
    }
    if (!sel->fields && s[0] == '!') {
        r.op = OP_NOTEXISTS;
        r.key = xstrdup(trim(s + 1));
    } else if ((p = strstr(s, "!=")) != NULL) {
        *p = '\0';
        r.op = OP_NE;
        r.key = xstrdup(trim(s));
        add_val(&r, trim(p + 2));
    } else if ((p = strstr(s, "==")) != NULL) {
        *p = '\0';
        r.op = OP_EQ;
        r.key = xstrdup(trim(s));
        add_val(&r, trim(p + 2));
    } else if ((p = strchr(s, '=')) != NULL) {
        *p = '\0';
        r.op = OP_EQ;
        r.key = xstrdup(trim(s));
        add_val(&r, trim(p + 1));
    } else if (!sel->fields && (p = strchr(s, '(')) != NULL) {
        char *close = strrchr(s, ')');
        if (!close || close < p || *trim(close + 1)) {
            snprintf(err, errlen, "unable to parse requirement: missing ')'");
            return -1;
        }
        *close = '\0';
        *p = '\0';
        char *head = trim(s);
        char *sp = head;
        while (*sp && !isspace((unsigned char)*sp))
            sp++;
        char *opw = trim(sp);
        if (*sp)
            *sp = '\0';
        if (!strcmp(opw, "in"))
            r.op = OP_IN;
        else if (!strcmp(opw, "notin"))
            r.op = OP_NOTIN;
        else {
            snprintf(err, errlen, "unable to parse requirement: unknown operator '%s'", opw);
            return -1;
        }
        r.key = xstrdup(head);
        char *vals[64];
        size_t nv = split_inplace(p + 1, ',', vals, 64);
        for (size_t k = 0; k < nv; k++)
            add_val(&r, trim(vals[k]));
        if (!r.nvals) {
            snprintf(err, errlen, "for 'in', 'notin' operators, values set can't be empty");
            free(r.key);
            return -1;
        }
    } else if (!sel->fields) {
        r.op = OP_EXISTS;
        r.key = xstrdup(s);
    } else {
        snprintf(err, errlen, "invalid selector: '%s'; can't understand '%s'", s, s);
        return -1;
    }
    bool ok = valid_token(r.key, false);
    for (size_t i = 0; ok && i < r.nvals; i++)
        ok = sel->fields ? true : valid_token(r.vals[i], true);
    if (ok && sel->fields) {
        ok = false;
        for (size_t i = 0; i < sizeof field_ok / sizeof field_ok[0]; i++)
            if (!strcmp(field_ok[i], r.key))
                ok = true;
        if (!ok)
            snprintf(err, errlen, "field label not supported: %s", r.key);
    } else if (!ok) {
        snprintf(err, errlen, "unable to parse requirement: invalid label key or value in '%s'", s);
    }
    if (!ok) {
        free(r.key);
        for (size_t i = 0; i < r.nvals; i++)
            free(r.vals[i]);
        free(r.vals);
        return -1;
    }
    sel->reqs = realloc(sel->reqs, (sel->n + 1) * sizeof *sel->reqs);
    if (!sel->reqs)
        abort();
    sel->reqs[sel->n++] = r;
    return 0;
}

static struct selector *parse(const char *in, bool fields, char *err, size_t errlen)
{
    struct selector *sel = xcalloc(1, sizeof *sel);
    sel->fields = fields;
    if (!in || !*in)
        return sel;
    char *copy = xstrdup(in);
    int depth = 0;
    char *start = copy;
    for (char *p = copy;; p++) {
        if (*p == '(')
            depth++;
        else if (*p == ')')
            depth--;
        if ((*p == ',' && depth == 0) || *p == '\0') {
            bool end = *p == '\0';
            *p = '\0';
            if (parse_req(sel, start, err, errlen)) {
                free(copy);
                selector_free(sel);
                return NULL;
            }
            if (end)
                break;
            start = p + 1;
        }
    }
    free(copy);
    return sel;
}

struct selector *selector_parse_labels(const char *s, char *err, size_t errlen)
{
    return parse(s, false, err, errlen);
}

struct selector *selector_parse_fields(const char *s, char *err, size_t errlen)
{
    return parse(s, true, err, errlen);
}

bool selector_empty(const struct selector *sel)
{
    return !sel || sel->n == 0;
}

bool selector_match(const struct selector *sel, const struct obj *o)
{
    if (!sel)
        return true;
    for (size_t i = 0; i < sel->n; i++) {
        const struct sel_req *r = &sel->reqs[i];
        const char *v;
        bool has;
        if (sel->fields) {
            v = obj_field(o, r->key);
            has = true;
            if (!v)
                v = "";
        } else {
            v = obj_label(o, r->key);
            has = v != NULL;
        }
        bool in = false;
        for (size_t k = 0; has && k < r->nvals; k++)
            if (!strcmp(r->vals[k], v))
                in = true;
        switch (r->op) {
        case OP_EXISTS: if (!has) return false; break;
        case OP_NOTEXISTS: if (has) return false; break;
        case OP_EQ:
        case OP_IN: if (!has || !in) return false; break;
        case OP_NE:
        case OP_NOTIN: if (has && in) return false; break;
        default: return false;
        }
    }
    return true;
}

void selector_free(struct selector *sel)
{
    if (!sel)
        return;
    for (size_t i = 0; i < sel->n; i++) {
        free(sel->reqs[i].key);
        for (size_t k = 0; k < sel->reqs[i].nvals; k++)
            free(sel->reqs[i].vals[k]);
        free(sel->reqs[i].vals);
    }
    free(sel->reqs);
    free(sel);
}
