/* Metrics registry and Prometheus/OpenMetrics exposition.
 *
 * Two ways to export a family:
 *  - registry families (counters, gauges, histograms with label values kept
 *    here): for small, closed label sets (requests by verb/code, checks);
 *  - collectors: a callback run at scrape time that writes its families
 *    straight into the output (per-PV series, 100k of them, live in the
 *    rules engine and must not be copied here).
 * Families and collectors carry a scope: METRIC_SCOPE_CLUSTER ones are only
 * rendered while metrics_set_cluster_enabled(m, true) (the leader).
 * Every module declares its own families here (metrics/ includes none of
 * them); http/ only serves the rendered bytes. Not thread-safe: everything
 * runs on the one loop. */
#ifndef ABC_METRICS_METRICS_H
#define ABC_METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };
enum metric_scope { METRIC_SCOPE_PROCESS = 0, METRIC_SCOPE_CLUSTER = 1 };

struct metrics;
struct metric_family;
struct metrics_writer;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
void metrics_set_cluster_enabled(struct metrics *m, bool on);

/* Declares a registry family. name/help/label names are copied. For a
 * histogram, buckets (ascending upper bounds, +Inf implied) are copied.
 * Returns a family owned by m (valid until metrics_free), or NULL on ENOMEM
 * or when the name is already declared with another type. */
struct metric_family *metrics_family(struct metrics *m, const char *name,
                                     enum metric_type type, enum metric_scope scope,
                                     const char *help, size_t nlabels,
                                     const char *const *label_names,
                                     const double *buckets, size_t nbuckets);

/* label_values has the family's nlabels entries (NULL = ""). The series is
 * created on first use. Return 0 or -ENOMEM / -EINVAL (wrong type). */
int metric_set(struct metric_family *f, const char *const *label_values, double v);
int metric_add(struct metric_family *f, const char *const *label_values, double delta);
int metric_observe(struct metric_family *f, const char *const *label_values, double v);
/* Removes one series (0 or -ENOENT) / all series of the family. */
int metric_remove(struct metric_family *f, const char *const *label_values);
void metric_clear(struct metric_family *f);
/* Current value of a counter/gauge series (tests); NAN when absent. */
double metric_get(const struct metric_family *f, const char *const *label_values);

/* Collector: called at render time, in registration order, after the
 * registry families. It writes whole families with metrics_write_family
 * followed by samples of that family. */
typedef void (*metrics_collect_cb)(struct metrics_writer *w, void *data);
int metrics_add_collector(struct metrics *m, enum metric_scope scope,
                          metrics_collect_cb cb, void *data);
void metrics_remove_collector(struct metrics *m, metrics_collect_cb cb, void *data);

void metrics_write_family(struct metrics_writer *w, const char *name,
                          enum metric_type type, const char *help);
/* One sample line: name (the family name, or with _bucket/_sum/_count),
 * labels escaped here (backslash, quote, newline), value formatted as
 * Prometheus expects (+Inf, -Inf, NaN, integers without exponent). */
void metrics_write_sample(struct metrics_writer *w, const char *name, size_t nlabels,
                          const char *const *label_names,
                          const char *const *label_values, double value);
/* Pre-rendered sample lines (each ending in '\n'), appended verbatim; for
 * per-object series rendered when the object changed. */
void metrics_write_raw(struct metrics_writer *w, const char *text, size_t len);
/* A literal piece of a sample line and its length. */
struct metrics_lit {
    const char *s;
    size_t n;
};
#define METRICS_LIT(str) {str, sizeof(str) - 1}
/* Renders parts[0] vals[0] parts[1] vals[1] ... parts[n-1] vals[n-1] tail
 * into out, NUL-terminated, the values escaped as label values (backslash,
 * double quote, newline). For per-object series rendered at scrape time:
 * the caller owns the layout (family and label names in parts, the value
 * in tail, ending in '\n'). Returns the length without the NUL, or 0 when
 * size is too small. */
size_t metrics_format_line(char *out, size_t size, const struct metrics_lit *parts,
                           const char *const *vals, size_t n, const struct metrics_lit *tail);
/* metrics_format_line straight into the output (no copy). */
void metrics_write_line(struct metrics_writer *w, const struct metrics_lit *parts,
                        const char *const *vals, size_t n, const struct metrics_lit *tail);
/* A size always large enough for metrics_format_line (every byte escaped). */
size_t metrics_line_bound(const struct metrics_lit *parts, const char *const *vals, size_t n,
                          const struct metrics_lit *tail);
/* Appends a label value with exposition escaping (for pre-rendering). */
int metrics_escape_label(struct buf *out, const char *value);

/* Renders everything into out (appended). openmetrics: OpenMetrics 1.0.0
 * text (counters' family name without _total, "# EOF" at the end).
 * Returns 0 or -ENOMEM. */
int metrics_render(struct metrics *m, bool openmetrics, struct buf *out);

/* Block boundaries in a rendered body: offsets into out, ascending. A
 * collector writing many lines that mostly stay the same between scrapes
 * (the per-PV family) marks every few of them, so that a consumer keeping
 * per-block state (the gzip of /metrics) finds unchanged blocks at the
 * same positions. Marks never change the bytes rendered. */
struct metrics_marks {
    size_t *v;
    size_t n, cap;
};
void metrics_marks_free(struct metrics_marks *mk);
/* metrics_render, and the marks written (mk reset first, its array reused;
 * a mark that cannot be stored for lack of memory is left out). */
int metrics_render_marked(struct metrics *m, bool openmetrics, struct buf *out,
                          struct metrics_marks *mk);
/* From a collector: a block boundary at the current end of the output
 * (nothing when the render keeps no marks). */
void metrics_write_mark(struct metrics_writer *w);

/* Standard process collector (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds). */
int metrics_add_process_collector(struct metrics *m);

#endif
