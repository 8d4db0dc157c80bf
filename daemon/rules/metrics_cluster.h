/* The cluster-level metric families that come from the rules
 * engine, rendered by a METRIC_SCOPE_CLUSTER collector (only the leader
 * exports them). Per-PV series are written at scrape time from the
 * engine's verdicts straight into the output, marked in blocks of lines so
 * the gzip variant recompresses only blocks that changed. */
#ifndef ABC_RULES_METRICS_CLUSTER_H
#define ABC_RULES_METRICS_CLUSTER_H

#include "metrics/metrics.h"
#include "rules/engine.h"

/* Registers the collector on m for e (borrowed: e must outlive the
 * registration; call metrics_cluster_unregister before engine_free).
 * 0 / -ENOMEM. */
int metrics_cluster_register(struct metrics *m, struct engine *e);
void metrics_cluster_unregister(struct metrics *m, struct engine *e);

/* The collector itself (data = the engine); exposed for tests. */
void metrics_cluster_collect(struct metrics_writer *w, void *data);

/* aks_backup_persistent_volume_supported sample lines (each ending in
 * '\n' and NUL-terminated, rendered during the call: line is valid for the
 * callback only), in the engine's order (engine_foreach_pv). */
void engine_foreach_pv_line(const struct engine *e,
                            void (*cb)(void *data, const char *line, size_t len), void *data);

#endif
