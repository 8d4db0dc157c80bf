/* Quota metric families, rendered at scrape time from the
 * ledger (a handful of series: one per backup instance and operation).
 * Cluster scope: only the leader exports them. */
#include "quota/quota_int.h"

#include <stdlib.h>

static void collect(struct metrics_writer *w, void *data)
{
    struct quota *q = data;
    if (q->stale)
        return; /* a new leader before its first read of the shared ledger */
    int64_t now = quota__now(q);
    const struct ledger_opts *lo = ledger_opts(q->ledger);
    const char **v;
    long n = ledger_instances(q->ledger, &v);
    if (n < 0)
        return;
    static const char *const lname[] = {"backup_instance"};
    static const struct {
        const char *name, *help;
        enum acct_op op;
    } used[] = {
        {"aks_backup_on_demand_backups_used",
         "On-demand backups counted today per backup instance, reservations included.",
         ACCT_OP_BACKUP},
        {"aks_backup_restores_used",
         "Restores counted today per backup instance, reservations included.", ACCT_OP_RESTORE},
    };
    for (size_t f = 0; f < 2; f++) {
        metrics_write_family(w, used[f].name, METRIC_GAUGE, used[f].help);
        for (long i = 0; i < n; i++) {
            const char *lv[] = {v[i]};
            metrics_write_sample(w, used[f].name, 1, lname, lv,
                                 (double)ledger_used(q->ledger, v[i], used[f].op, now));
        }
    }
    free(v);
    metrics_write_family(w, "aks_backup_on_demand_backups_limit", METRIC_GAUGE,
                         "On-demand backups allowed per backup instance per day.");
    metrics_write_sample(w, "aks_backup_on_demand_backups_limit", 0, NULL, NULL,
                         (double)lo->limit[ACCT_OP_BACKUP]);
    metrics_write_family(w, "aks_backup_restores_limit", METRIC_GAUGE,
                         "Restores allowed per backup instance per day.");
    metrics_write_sample(w, "aks_backup_restores_limit", 0, NULL, NULL,
                         (double)lo->limit[ACCT_OP_RESTORE]);
    metrics_write_family(w, "aks_backup_quota_reset_timestamp_seconds", METRIC_GAUGE,
                         "Unix time in seconds of the next day boundary, when the counts reset.");
    metrics_write_sample(w, "aks_backup_quota_reset_timestamp_seconds", 0, NULL, NULL,
                         (double)ledger_resets_at(q->ledger, now));
    quota__write_disagreement(q, w, now);
}

int quota_register_metrics(struct quota *q, struct metrics *m)
{
    return metrics_add_collector(m, METRIC_SCOPE_CLUSTER, collect, q);
}
