/* Quota figures from the Backup vault's own jobs (quota.h quota_set_jobs):
 * the Azure view hands over plain job records; the cluster-observed counts
 * stay as a cross-check, and a difference that lasts 15 minutes shows as
 * aks_backup_quota_source_disagreement. */
#include "quota/quota_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

void quota__apply_policy_schedule(struct quota *q)
{
    struct ledger_opts lo = *ledger_opts(q->ledger);
    if (q->o.has_schedule)
        return; /* vault.backup_schedule wins */
    bool want = q->policy_schedule;
    if (lo.has_schedule == want &&
        (!want || memcmp(&lo.schedule, &q->policy_sched, sizeof(lo.schedule)) == 0))
        return;
    lo.has_schedule = want;
    if (want)
        lo.schedule = q->policy_sched;
    ledger_set_opts(q->ledger, &lo);
}

void quota__azure_free(struct quota *q)
{
    for (size_t i = 0; i < q->ndis; i++)
        free(q->dis[i].instance);
    free(q->dis);
    q->dis = NULL;
    q->ndis = 0;
}

int quota_set_jobs(struct quota *q, const struct quota_jobs *j)
{
    bool was_ok = q->azure_ok;
    q->azure = j->enabled;
    q->azure_ok = j->enabled && j->available;
    snprintf(q->azure_reason, sizeof(q->azure_reason), "%s", j->reason ? j->reason : "");
    int rc = ledger_set_jobs(q->ledger, q->azure_ok, j->jobs, j->njobs, j->instances, j->ninstances);
    q->vault_instances = q->azure_ok ? j->ninstances : 0;
    if (rc)
        return rc;
    struct schedule s;
    char why[160];
    q->policy_schedule = j->schedule && *j->schedule && schedule_parse(j->schedule, &s, why, sizeof(why)) == 0;
    if (q->policy_schedule)
        q->policy_sched = s;
    quota__apply_policy_schedule(q);
    if (was_ok != q->azure_ok)
        log_kv(q->azure_ok ? LOG_INFO : LOG_WARN,
               q->azure_ok ? "quota: counting from the vault's jobs"
                           : "quota: the vault's jobs are not readable; counting from the cluster",
               "reason", q->azure_ok ? NULL : q->azure_reason, NULL);
    if (!q->azure_ok)
        quota__azure_free(q);
    else
        quota__write_disagreement(q, NULL, quota__now(q)); /* track between scrapes too */
    quota__warnings(q);
    return 0;
}

long quota__cluster_used(struct quota *q, const char *instance, enum acct_op op, int64_t now)
{
    long n = ledger_cluster_used(q->ledger, instance, op, now);
    if (!q->all_constant || q->nsources == 0 || q->vault_instances != 1 || !q->sources[0].constant)
        return n;
    const char *c = q->sources[0].constant;
    for (size_t i = 1; i < q->nsources; i++)
        if (!q->sources[i].constant || strcmp(q->sources[i].constant, c) != 0)
            return n;
    if (strcmp(c, instance) == 0)
        return n;
    const char **v;
    long ni = ledger_instances(q->ledger, &v);
    bool listed = false, is_vault_inst = false;
    for (long i = 0; i < ni; i++) {
        listed |= strcmp(v[i], c) == 0;
        is_vault_inst |= strcmp(v[i], instance) == 0;
    }
    free(v);
    if (listed || !is_vault_inst)
        return n;
    long m = ledger_cluster_used(q->ledger, c, op, now);
    return m > 0 ? n + m : n;
}

static struct quota_disagree *find_dis(struct quota *q, const char *inst, enum acct_op op)
{
    for (size_t i = 0; i < q->ndis; i++)
        if (q->dis[i].op == op && strcmp(q->dis[i].instance, inst) == 0)
            return &q->dis[i];
    return NULL;
}

void quota__write_disagreement(struct quota *q, struct metrics_writer *w, int64_t now)
{
    if (!q->azure_ok)
        return;
    const char **v;
    long n = ledger_instances(q->ledger, &v);
    if (n < 0)
        return;
    static const char *const ln[] = {"backup_instance", "operation"};
    if (w)
        metrics_write_family(w, "aks_backup_quota_source_disagreement", METRIC_GAUGE,
                         "1 when the count from the vault's jobs and the count observed in the cluster "
                         "have differed for more than 15 minutes.");
    for (size_t i = 0; i < q->ndis; i++)
        q->dis[i].seen = false;
    for (long i = 0; i < n; i++) {
        for (int op = 0; op < ACCT_NOPS; op++) {
            long a = ledger_used(q->ledger, v[i], (enum acct_op)op, now);
            long b = quota__cluster_used(q, v[i], (enum acct_op)op, now);
            struct quota_disagree *d = find_dis(q, v[i], (enum acct_op)op);
            if (a != b && !d) {
                struct quota_disagree *nd = realloc(q->dis, (q->ndis + 1) * sizeof(*nd));
                char *name = strdup(v[i]);
                if (nd)
                    q->dis = nd;
                if (!nd || !name) {
                    free(name);
                    continue;
                }
                d = &q->dis[q->ndis++];
                *d = (struct quota_disagree){.instance = name, .op = (enum acct_op)op, .since = now};
            }
            double val = 0;
            if (a != b) {
                d->seen = true;
                val = now - d->since >= QUOTA_DISAGREE_AFTER_S ? 1 : 0;
            }
            const char *lv[] = {v[i], op == ACCT_OP_BACKUP ? "backup" : "restore"};
            if (w)
                metrics_write_sample(w, "aks_backup_quota_source_disagreement", 2, ln, lv, val);
        }
    }
    free(v);
    for (size_t i = 0; i < q->ndis;) { /* agreeing again: forget */
        if (!q->dis[i].seen) {
            free(q->dis[i].instance);
            q->dis[i] = q->dis[--q->ndis];
        } else {
            i++;
        }
    }
}
