/* kubernetes-versions.txt: parsing and lookup. Pure apart from reading one
 * file. */
#include "config/kversions.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

/* "YYYY-MM-DD" (a real calendar date) -> Unix seconds of the next day's
 * midnight UTC. 0 or -EINVAL. */
static int parse_date(const char *s, int64_t *end_excl)
{
    char buf[40];
    int64_t t;
    if (strlen(s) != 10)
        return -EINVAL;
    snprintf(buf, sizeof buf, "%sT00:00:00Z", s);
    if (clock_parse_rfc3339(buf, &t, NULL))
        return -EINVAL;
    *end_excl = t + 86400;
    return 0;
}

static int fail(struct kversions *kv, char *err, size_t errlen, const char *src, int line,
                const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s:%d: %s", src, line, why);
    kversions_free(kv);
    return -EINVAL;
}

int kversions_parse(struct kversions *kv, const char *text, const char *src, char *err,
                    size_t errlen)
{
    size_t cap = 0;
    int lineno = 0;
    kv->v = NULL;
    kv->n = 0;
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        lineno++;
        char raw[256];
        if (len >= sizeof raw)
            return fail(kv, err, errlen, src, lineno, "line too long");
        memcpy(raw, line, len);
        raw[len] = '\0';
        char *hash = strchr(raw, '#');
        if (hash)
            *hash = '\0';
        char ver[32] = "", date[32] = "", kw[32] = "", lts[32] = "", extra[8] = "";
        int got = sscanf(raw, "%31s %31s %31s %31s %7s", ver, date, kw, lts, extra);
        line = eol ? eol + 1 : NULL;
        if (got <= 0)
            continue;
        struct kversion k = {0};
        char *dot = strchr(ver, '.'), *end;
        if (!dot || !isdigit((unsigned char)ver[0]) || !isdigit((unsigned char)dot[1]))
            return fail(kv, err, errlen, src, lineno, "expected <major>.<minor> such as 1.33");
        long ma = strtol(ver, &end, 10);
        long mi = strtol(dot + 1, &end, 10);
        if (*end || ma > 1000 || mi > 100000)
            return fail(kv, err, errlen, src, lineno, "expected <major>.<minor> such as 1.33");
        if (got < 2 || parse_date(date, &k.end))
            return fail(kv, err, errlen, src, lineno,
                        "expected an end-of-support date YYYY-MM-DD after the version");
        if (got >= 3 && (strcmp(kw, "lts") != 0 || got < 4 || parse_date(lts, &k.lts_end)))
            return fail(kv, err, errlen, src, lineno,
                        "expected 'lts YYYY-MM-DD' after the end-of-support date");
        if (got > 4)
            return fail(kv, err, errlen, src, lineno, "unexpected text after the LTS date");
        k.major = (int)ma;
        k.minor = (int)mi;
        snprintf(k.end_date, sizeof k.end_date, "%s", date);
        if (k.lts_end)
            snprintf(k.lts_date, sizeof k.lts_date, "%s", lts);
        if (kv->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct kversion *nv = realloc(kv->v, nc * sizeof *nv);
            if (!nv) {
                kversions_free(kv);
                return -ENOMEM;
            }
            kv->v = nv;
            cap = nc;
        }
        kv->v[kv->n++] = k;
    }
    return 0;
}

int kversions_load_or_builtin(struct kversions *kv, const char *path, bool *builtin, char *err,
                              size_t errlen)
{
    if (builtin)
        *builtin = false;
    kv->v = NULL;
    kv->n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        if (e == ENOENT && strcmp(path, CONFIG_DEFAULT_KVERSIONS_FILE) == 0) {
            int rc = kversions_parse(kv, kversions_builtin, "built-in kubernetes-versions.txt",
                                     err, errlen);
            if (rc == 0 && builtin)
                *builtin = true;
            return rc;
        }
        if (err)
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char *text = malloc(65537);
    if (!text) {
        fclose(f);
        return -ENOMEM;
    }
    size_t len = fread(text, 1, 65536, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(text);
        if (err)
            snprintf(err, errlen, "%s: read error", path);
        return -EIO;
    }
    text[len] = '\0';
    int rc = kversions_parse(kv, text, path, err, errlen);
    free(text);
    return rc;
}

void kversions_free(struct kversions *kv)
{
    free(kv->v);
    kv->v = NULL;
    kv->n = 0;
}

const struct kversion *kversions_find(const struct kversions *kv, int major, int minor)
{
    for (size_t i = 0; kv && i < kv->n; i++)
        if (kv->v[i].major == major && kv->v[i].minor == minor)
            return &kv->v[i];
    return NULL;
}
