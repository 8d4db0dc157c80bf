/* Readiness checks behind /readyz in kube-apiserver's format
 * (k8s.io/apiserver/pkg/server/healthz: handleRootHealth), except that a
 * failing check prints its reason instead of "reason withheld". */
#include "health/readyz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct check {
    char *name;
    readyz_check_cb cb;
    void *data;
};

struct readyz {
    struct check *checks;
    size_t n, cap;
};

struct readyz *readyz_new(void)
{
    return calloc(1, sizeof(struct readyz));
}

void readyz_free(struct readyz *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->checks[i].name);
    free(r->checks);
    free(r);
}

static long find(const struct readyz *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->checks[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

int readyz_register(struct readyz *r, const char *name, readyz_check_cb cb, void *data)
{
    if (find(r, name) >= 0)
        return -EEXIST;
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 8;
        struct check *p = realloc(r->checks, ncap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        r->checks = p;
        r->cap = ncap;
    }
    size_t len = strlen(name) + 1;
    char *copy = malloc(len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, name, len);
    r->checks[r->n++] = (struct check){copy, cb, data};
    return 0;
}

size_t readyz_count(const struct readyz *r) { return r->n; }

const char *readyz_name(const struct readyz *r, size_t i)
{
    return i < r->n ? r->checks[i].name : NULL;
}

bool readyz_run_one(const struct readyz *r, size_t i, char *reason, size_t reason_len)
{
    if (reason_len)
        reason[0] = '\0';
    bool ok = r->checks[i].cb(r->checks[i].data, reason, reason_len);
    if (!ok && reason_len) {
        /* Keep the output one line per check whatever the callback wrote. */
        for (char *p = reason; *p; p++) {
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        }
        if (!reason[0])
            snprintf(reason, reason_len, "unknown");
    }
    return ok;
}

static int fail_line(struct buf *out, const char *name, const char *reason)
{
    return buf_printf(out, "[-]%s failed: %s\n", name, reason);
}

int readyz_http(const struct readyz *r, const char *only, const char *const *excludes,
                size_t n_ex, bool verbose, struct buf *out)
{
    char reason[256];
    int rc = 0;
    if (only) {
        long i = find(r, only);
        if (i < 0)
            return buf_adds(out, "404 page not found\n") ? 500 : 404;
        if (readyz_run_one(r, (size_t)i, reason, sizeof(reason)))
            return buf_adds(out, "ok") ? 500 : 200;
        return fail_line(out, only, reason) ? 500 : 503;
    }

    bool used[64] = {false};
    struct buf lines;
    buf_init(&lines, 0);
    bool failed = false;
    for (size_t i = 0; i < r->n && !rc; i++) {
        const char *name = r->checks[i].name;
        bool excluded = false;
        for (size_t e = 0; e < n_ex; e++) {
            if (excludes[e] && strcmp(excludes[e], name) == 0) {
                excluded = true;
                if (e < 64)
                    used[e] = true;
            }
        }
        if (excluded) {
            rc = buf_printf(&lines, "[+]%s excluded: ok\n", name);
        } else if (readyz_run_one(r, i, reason, sizeof(reason))) {
            rc = buf_printf(&lines, "[+]%s ok\n", name);
        } else {
            failed = true;
            rc = fail_line(&lines, name, reason);
        }
    }
    /* kube-apiserver: warn: some health checks cannot be excluded: no matches for "x" */
    bool warned = false;
    for (size_t e = 0; e < n_ex && e < 64 && !rc; e++) {
        if (used[e] || !excludes[e])
            continue;
        rc = buf_adds(&lines, warned ? ", " : "warn: some health checks cannot be excluded: no matches for ");
        if (!rc)
            rc = buf_printf(&lines, "\"%s\"", excludes[e]);
        warned = true;
    }
    if (warned && !rc)
        rc = buf_addc(&lines, '\n');

    int status;
    if (failed) {
        status = 503;
        if (!rc && lines.len)
            rc = buf_add(out, lines.data, lines.len);
        if (!rc)
            rc = buf_adds(out, "readyz check failed\n");
    } else if (!verbose) {
        status = 200;
        rc = buf_adds(out, "ok");
    } else {
        status = 200;
        if (!rc && lines.len)
            rc = buf_add(out, lines.data, lines.len);
        if (!rc)
            rc = buf_adds(out, "readyz check passed\n");
    }
    buf_free(&lines);
    return rc ? 500 : status;
}
