/* The ledger's second source of truth (ledger.h ledger_set_jobs): the
 * Backup vault's job list read by the Azure view. Kept beside the
 * cluster-observed objects, which then serve as a cross-check; which
 * reservation a job stands for is decided at query time, like the rest. */
#include "quota/ledger_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ledger__jobs_free(struct ledger *l)
{
    for (size_t i = 0; i < l->njobs; i++) {
        free(l->jobs[i].id);
        free(l->jobs[i].instance);
    }
    free(l->jobs);
    for (size_t i = 0; i < l->njinst; i++)
        free(l->jinst[i]);
    free(l->jinst);
    l->jobs = NULL;
    l->njobs = 0;
    l->jinst = NULL;
    l->njinst = 0;
}

static int cmp_job(const void *a, const void *b)
{
    const struct ljob *x = a, *y = b;
    int c = strcmp(x->instance, y->instance);
    if (c)
        return c;
    if (x->op != y->op)
        return x->op < y->op ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return strcmp(x->id, y->id);
}

int ledger_set_jobs(struct ledger *l, bool on, const struct ledger_job *jobs, size_t n,
                    const char *const *instances, size_t ninstances)
{
    struct ljob *v = calloc(n ? n : 1, sizeof(*v));
    char **iv = calloc(ninstances ? ninstances : 1, sizeof(*iv));
    size_t k = 0, ki = 0;
    if (!v || !iv)
        goto nomem;
    for (size_t i = 0; on && i < n; i++) {
        bool dup = false; /* a job listed twice counts once */
        for (size_t j = 0; j < k && !dup; j++)
            dup = strcmp(v[j].id, jobs[i].id) == 0;
        if (dup || !jobs[i].id || !jobs[i].instance)
            continue;
        v[k].id = strdup(jobs[i].id);
        v[k].instance = strdup(jobs[i].instance);
        v[k].op = jobs[i].op;
        v[k].start = jobs[i].start;
        if (!v[k].id || !v[k].instance) {
            k++;
            goto nomem;
        }
        k++;
    }
    for (size_t i = 0; on && i < ninstances; i++) {
        if (!(iv[ki] = strdup(instances[i])))
            goto nomem;
        ki++;
    }
    qsort(v, k, sizeof(*v), cmp_job);
    ledger__jobs_free(l);
    l->jobs_on = on;
    l->jobs = v;
    l->njobs = k;
    l->jinst = iv;
    l->njinst = ki;
    l->cache_ok = false;
    return 0;
nomem:
    for (size_t i = 0; i < k; i++) {
        free(v[i].id);
        free(v[i].instance);
    }
    for (size_t i = 0; i < ki; i++)
        free(iv[i]);
    free(v);
    free(iv);
    return -ENOMEM;
}

bool ledger_jobs_on(const struct ledger *l)
{
    return l->jobs_on;
}

#define JOB_SKEW_S 60

void ledger__jobs_match(struct ledger *l, int64_t day)
{
    for (size_t i = 0; i < l->nres; i++)
        l->res[i].job_matched = false;
    /* jobs are sorted by (instance, op, start): each takes the earliest
     * unmatched reservation of its instance and op made before it */
    for (size_t i = 0; i < l->njobs; i++) {
        const struct ljob *j = &l->jobs[i];
        if (ledger_day_of(l, j->start) != day)
            continue;
        struct lres *best = NULL;
        for (size_t r = 0; r < l->nres; r++) {
            struct lres *x = &l->res[r];
            if (x->job_matched || x->op != j->op || strcmp(x->instance, j->instance) != 0 ||
                ledger_day_of(l, x->created) != day || x->created > j->start + JOB_SKEW_S)
                continue;
            if (!best || x->created < best->created)
                best = x;
        }
        if (best)
            best->job_matched = true;
    }
}
