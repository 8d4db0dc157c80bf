/* regions.txt loading and region/subscription comparison.
 * Pure apart from regions_load reading one file. */
#include "config/regions.h"

#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int region_normalize(const char *in, char *out, size_t n)
{
    size_t j = 0;
    int rc = 0;
    if (!n)
        return -ENAMETOOLONG;
    for (const char *p = in ? in : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (isspace(c))
            continue;
        if (j + 1 >= n) {
            rc = -ENAMETOOLONG;
            break;
        }
        out[j++] = (char)tolower(c);
    }
    out[j] = '\0';
    return rc;
}

bool region_equal(const char *a, const char *b)
{
    char na[REGION_NAME_MAX * 2], nb[REGION_NAME_MAX * 2];
    if (region_normalize(a, na, sizeof na) || region_normalize(b, nb, sizeof nb))
        return false;
    return na[0] && strcmp(na, nb) == 0;
}

bool subscription_equal(const char *a, const char *b)
{
    return a && b && a[0] && strcasecmp(a, b) == 0;
}

static int add(struct regions *r, size_t *cap, const char *name, bool op_only)
{
    if (r->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct region_entry *nv = realloc(r->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        r->v = nv;
        *cap = nc;
    }
    snprintf(r->v[r->n].name, sizeof r->v[r->n].name, "%s", name);
    r->v[r->n].operational_only = op_only;
    r->n++;
    return 0;
}

static bool mentions_operational_only(const char *comment)
{
    /* Case-insensitive search for the phrase, with spaces or dashes
     * ("operational tier only", "operational-tier-only"). */
    static const char phrase[] = "operational tier only";
    size_t pl = sizeof phrase - 1;
    for (const char *p = comment; *p; p++) {
        size_t i = 0;
        for (; i < pl && p[i]; i++) {
            char c = p[i] == '-' ? ' ' : p[i];
            if (tolower((unsigned char)c) != phrase[i])
                break;
        }
        if (i == pl)
            return true;
    }
    return false;
}

static int parse_named(struct regions *r, const char *text, const char *src, char *err,
                       size_t errlen)
{
    size_t cap = 0;
    int lineno = 0;
    r->v = NULL;
    r->n = 0;
    const char *line = text;
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        lineno++;
        const char *hash = memchr(line, '#', len);
        size_t body = hash ? (size_t)(hash - line) : len;
        char raw[256];
        if (body >= sizeof raw) {
            if (err)
                snprintf(err, errlen, "%s:%d: line too long", src, lineno);
            regions_free(r);
            return -EINVAL;
        }
        memcpy(raw, line, body);
        raw[body] = '\0';
        char name[REGION_NAME_MAX];
        if (region_normalize(raw, name, sizeof name)) {
            if (err)
                snprintf(err, errlen, "%s:%d: region name longer than %d characters", src, lineno,
                         REGION_NAME_MAX - 1);
            regions_free(r);
            return -EINVAL;
        }
        if (name[0]) {
            bool op_only = false;
            if (hash) {
                char comment[256];
                size_t cl = len - body;
                if (cl >= sizeof comment)
                    cl = sizeof comment - 1;
                memcpy(comment, hash, cl);
                comment[cl] = '\0';
                op_only = mentions_operational_only(comment);
            }
            if (add(r, &cap, name, op_only)) {
                if (err)
                    snprintf(err, errlen, "%s: out of memory", src);
                regions_free(r);
                return -ENOMEM;
            }
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    return 0;
}

int regions_parse(struct regions *r, const char *text, char *err, size_t errlen)
{
    return parse_named(r, text, "regions", err, errlen);
}

int regions_load(struct regions *r, const char *path, char *err, size_t errlen)
{
    r->v = NULL;
    r->n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        if (err)
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    int rc = 0;
    while (text) {
        if (len + 1 >= cap) {
            if (cap >= (1u << 20)) {
                rc = -EFBIG;
                break;
            }
            char *nt = realloc(text, cap * 2);
            if (!nt) {
                rc = -ENOMEM;
                break;
            }
            text = nt;
            cap *= 2;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = -EIO;
            break;
        }
    }
    if (!text)
        rc = -ENOMEM;
    fclose(f);
    if (rc) {
        if (err)
            snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        free(text);
        return rc;
    }
    text[len] = '\0';
    rc = parse_named(r, text, path, err, errlen);
    free(text);
    return rc;
}

void regions_free(struct regions *r)
{
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

static const struct region_entry *find(const struct regions *r, const char *region)
{
    char n[REGION_NAME_MAX * 2];
    if (!region || region_normalize(region, n, sizeof n) || !n[0])
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, n) == 0)
            return &r->v[i];
    return NULL;
}

bool regions_contains(const struct regions *r, const char *region)
{
    return find(r, region) != NULL;
}

bool regions_is_operational_only(const struct regions *r, const char *region)
{
    const struct region_entry *e = find(r, region);
    return e && e->operational_only;
}

int regions_load_or_builtin(struct regions *r, const char *path, bool *builtin, char *err,
                            size_t errlen)
{
    if (builtin)
        *builtin = false;
    int rc = regions_load(r, path, err, errlen);
    if (rc != -ENOENT || strcmp(path, CONFIG_DEFAULT_REGIONS_FILE) != 0)
        return rc;
    rc = regions_parse(r, regions_builtin, err, errlen);
    if (rc == 0 && builtin)
        *builtin = true;
    return rc;
}
