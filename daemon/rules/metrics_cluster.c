/* Collector for the engine's cluster families: cluster info,
 * prerequisite status (enum style), per-PV support (pre-rendered lines),
 * derived counts per reason, pending claims, snapshots, extension pods
 * and the vault counts when configured. */
#include "rules/metrics_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the per-PV lines: the engine's verdicts rendered by metrics/ ---- */

static const struct metrics_lit pv_line_parts[] = {
    METRICS_LIT("aks_backup_persistent_volume_supported{persistentvolume=\""),
    METRICS_LIT("\",storageclass=\""), METRICS_LIT("\",driver=\""), METRICS_LIT("\",reason=\""),
    METRICS_LIT("\",claim_namespace=\""), METRICS_LIT("\",persistentvolumeclaim=\""),
};
static const struct metrics_lit pv_line_one = METRICS_LIT("\"} 1\n");
static const struct metrics_lit pv_line_zero = METRICS_LIT("\"} 0\n");

/* The one place that says what a PV's line holds: its label values (in
 * pv_line_parts' order) and its tail. */
static const struct metrics_lit *pv_line_vals(const struct engine_pv *pv, const char *vals[6])
{
    vals[0] = pv->name;
    vals[1] = pv->storage_class;
    vals[2] = pv->driver;
    vals[3] = pv_reason_code(pv->reason);
    vals[4] = pv->claim_ns ? pv->claim_ns : "";
    vals[5] = pv->claim_name ? pv->claim_name : "";
    return pv->reason == PV_REASON_SUPPORTED ? &pv_line_one : &pv_line_zero;
}

struct pv_lines {
    void (*cb)(void *data, const char *line, size_t len);
    void *data;
    bool skipped_only; /* metrics.per_pv: skipped */
};

static void pv_line(void *data, const struct engine_pv *pv)
{
    struct pv_lines *l = data;
    if (l->skipped_only && pv->reason == PV_REASON_SUPPORTED)
        return;
    const char *vals[6];
    const struct metrics_lit *tail = pv_line_vals(pv, vals);
    char tmp[2048];
    size_t n = metrics_format_line(tmp, sizeof(tmp), pv_line_parts, vals, 6, tail);
    if (n) {
        l->cb(l->data, tmp, n);
        return;
    }
    size_t cap = metrics_line_bound(pv_line_parts, vals, 6, tail); /* longer than Kubernetes allows */
    char *big = malloc(cap);
    if (big && (n = metrics_format_line(big, cap, pv_line_parts, vals, 6, tail)) > 0)
        l->cb(l->data, big, n);
    free(big);
}

void engine_foreach_pv_line(const struct engine *e,
                            void (*cb)(void *data, const char *line, size_t len), void *data)
{
    enum engine_per_pv mode = engine_get_opts(e)->per_pv;
    if (mode == ENGINE_PER_PV_NONE)
        return;
    struct pv_lines l = {.cb = cb, .data = data, .skipped_only = mode == ENGINE_PER_PV_SKIPPED};
    engine_foreach_pv(e, pv_line, &l);
}

/* Per-PV lines in blocks of this many, each block marked (metrics.h
 * metrics_write_mark): ~7 KB of text, so that a few hundred changed PVs
 * between two gzip'ed scrapes of 100k leave most blocks as they were. */
#define PV_LINES_PER_BLOCK 32

/* The collector's path: the same lines as engine_foreach_pv_line, written
 * straight into the output (no line copy), marked in blocks. */
struct pv_write {
    struct metrics_writer *w;
    bool skipped_only;
    size_t n;
};

static void pv_write(void *data, const struct engine_pv *pv)
{
    struct pv_write *pw = data;
    if (pw->skipped_only && pv->reason == PV_REASON_SUPPORTED)
        return;
    if (pw->n++ % PV_LINES_PER_BLOCK == 0)
        metrics_write_mark(pw->w);
    const char *vals[6];
    const struct metrics_lit *tail = pv_line_vals(pv, vals);
    metrics_write_line(pw->w, pv_line_parts, vals, 6, tail);
}

static void write_pv_lines(struct metrics_writer *w, const struct engine *e)
{
    enum engine_per_pv mode = engine_get_opts(e)->per_pv;
    if (mode == ENGINE_PER_PV_NONE)
        return;
    struct pv_write pw = {.w = w, .skipped_only = mode == ENGINE_PER_PV_SKIPPED, .n = 0};
    engine_foreach_pv(e, pv_write, &pw);
    metrics_write_mark(w);
}

static void pending_cb(void *data, const char *ns, size_t n)
{
    const char *names[] = {"claim_namespace"};
    const char *vals[] = {ns};
    metrics_write_sample(data, "aks_backup_persistent_volume_claims_pending", 1, names, vals,
                         (double)n);
}

static const char *const phases[] = {"Pending", "Running", "Succeeded", "Failed", "Unknown"};

struct pod_counts {
    size_t n[5];
};

static void phase_cb(void *data, const struct engine_ext_pod *p)
{
    struct pod_counts *c = data;
    size_t i;
    for (i = 0; i < 4; i++)
        if (strcmp(p->phase, phases[i]) == 0)
            break;
    c->n[i]++;
}

static void ready_cb(void *data, const struct engine_ext_pod *p)
{
    const char *names[] = {"extension_pod"};
    const char *vals[] = {p->name};
    metrics_write_sample(data, "aks_backup_extension_pod_ready", 1, names, vals, p->ready ? 1 : 0);
}

static void restarts_cb(void *data, const struct engine_ext_pod *p)
{
    const char *names[] = {"extension_pod", "extension_container"};
    for (size_t i = 0; i < p->ncontainers; i++) {
        const char *vals[] = {p->name, p->containers[i].name};
        metrics_write_sample(data, "aks_backup_extension_container_restarts_total", 2, names, vals,
                             p->containers[i].restarts);
    }
}

static void oom_cb(void *data, const struct engine_ext_pod *p)
{
    const char *names[] = {"extension_pod", "extension_container"};
    for (size_t i = 0; i < p->ncontainers; i++) {
        const char *vals[] = {p->name, p->containers[i].name};
        metrics_write_sample(data, "aks_backup_extension_container_oomkilled", 2, names, vals,
                             p->containers[i].oomkilled ? 1 : 0);
    }
}

static void gauge1(struct metrics_writer *w, const char *name, const char *help, double v)
{
    metrics_write_family(w, name, METRIC_GAUGE, help);
    metrics_write_sample(w, name, 0, NULL, NULL, v);
}

void metrics_cluster_collect(struct metrics_writer *w, void *data)
{
    const struct engine *e = data;

    metrics_write_family(w, "aks_backup_support_matrix_info", METRIC_GAUGE,
                         "The support-matrix edition the verdicts follow (matrix.edition); always 1.");
    {
        const char *names[] = {"edition"};
        const char *vals[] = {engine_edition(e)->name};
        metrics_write_sample(w, "aks_backup_support_matrix_info", 1, names, vals, 1);
    }

    metrics_write_family(w, "aks_backup_cluster_info", METRIC_GAUGE,
                         "Cluster facts as labels (Kubernetes version, region, subscription); always 1.");
    {
        const char *names[] = {"kubernetes_version", "region", "subscription_id"};
        const char *vals[] = {engine_kubernetes_version(e), engine_cluster_region(e),
                              engine_cluster_subscription(e)};
        metrics_write_sample(w, "aks_backup_cluster_info", 3, names, vals, 1);
    }

    metrics_write_family(w, "aks_backup_prerequisite_status", METRIC_GAUGE,
                         "AKS backup prerequisite status, 1 on the current status (pass, fail or unknown) of each check.");
    struct prereq_result pr[PREREQ_COUNT];
    engine_prerequisites(e, pr);
    for (int i = 0; i < PREREQ_COUNT; i++) {
        if (!pr[i].applies)
            continue;
        for (int s = PREREQ_PASS; s <= PREREQ_UNKNOWN; s++) {
            const char *names[] = {"check", "status"};
            const char *vals[] = {prereq_check_name(i), prereq_status_name(s)};
            metrics_write_sample(w, "aks_backup_prerequisite_status", 2, names, vals,
                                 pr[i].status == (enum prereq_status)s ? 1 : 0);
        }
    }

    metrics_write_family(w, "aks_backup_persistent_volume_supported", METRIC_GAUGE,
                         "Whether AKS backup includes the PersistentVolume (1) or skips it (0), with the reason code.");
    write_pv_lines(w, e);

    metrics_write_family(w, "aks_backup_persistent_volumes", METRIC_GAUGE,
                         "PersistentVolumes per support-matrix reason code (count, derived from the per-PV verdicts).");
    for (int r = 0; r < PV_REASON_COUNT; r++) {
        if (!matrix_has_reason(engine_edition(e), r))
            continue;
        const char *names[] = {"reason"};
        const char *vals[] = {pv_reason_code(r)};
        metrics_write_sample(w, "aks_backup_persistent_volumes", 1, names, vals,
                             (double)engine_pv_reason_count(e, r));
    }

    metrics_write_family(w, "aks_backup_persistent_volume_notes", METRIC_GAUGE,
                         "Supported PersistentVolumes carrying a support-matrix note (count per note code).");
    for (int n = 0; n < PV_NOTE_COUNT; n++) {
        const char *names[] = {"code"};
        const char *vals[] = {pv_note_code(n)};
        metrics_write_sample(w, "aks_backup_persistent_volume_notes", 1, names, vals,
                             (double)engine_pv_note_count(e, n));
    }

    metrics_write_family(w, "aks_backup_persistent_volume_claims_pending", METRIC_GAUGE,
                         "PersistentVolumeClaims Pending or without a volume per namespace (count).");
    engine_foreach_pending_ns(e, pending_cb, w);

    metrics_write_family(w, "aks_backup_volume_snapshots", METRIC_GAUGE,
                         "VolumeSnapshots by status: ready, pending or failed (count).");
    for (int s = 0; s < SNAPSHOT_STATUS_COUNT; s++) {
        const char *names[] = {"status"};
        const char *vals[] = {snapshot_status_name(s)};
        metrics_write_sample(w, "aks_backup_volume_snapshots", 1, names, vals,
                             (double)engine_snapshots(e, s));
    }
    gauge1(w, "aks_backup_volume_snapshots_per_claim_max",
           "Largest number of VolumeSnapshots of one claim (count).",
           (double)engine_snapshots_max_per_claim(e, NULL));

    struct pod_counts pc = {{0}};
    engine_foreach_extension_pod(e, phase_cb, &pc);
    metrics_write_family(w, "aks_backup_extension_pods", METRIC_GAUGE,
                         "Backup extension pods by phase (count).");
    for (size_t i = 0; i < 5; i++) {
        const char *names[] = {"phase"};
        const char *vals[] = {phases[i]};
        metrics_write_sample(w, "aks_backup_extension_pods", 1, names, vals, (double)pc.n[i]);
    }
    metrics_write_family(w, "aks_backup_extension_pod_ready", METRIC_GAUGE,
                         "Whether the backup extension pod is Ready (1) or not (0).");
    engine_foreach_extension_pod(e, ready_cb, w);
    metrics_write_family(w, "aks_backup_extension_container_restarts_total", METRIC_COUNTER,
                         "Restarts of a backup extension container, the restartCount the kubelet reports.");
    engine_foreach_extension_pod(e, restarts_cb, w);
    metrics_write_family(w, "aks_backup_extension_container_oomkilled", METRIC_GAUGE,
                         "Whether the backup extension container's last termination was OOMKilled (1) or not (0).");
    engine_foreach_extension_pod(e, oom_cb, w);

    const struct engine_opts *o = engine_get_opts(e);
    if (o->backup_policies >= 0) {
        gauge1(w, "aks_backup_vault_backup_policies",
               "Backup policies in the vault, as configured (count).", (double)o->backup_policies);
        gauge1(w, "aks_backup_vault_backup_policies_limit",
               "Backup policies allowed per vault (count).", (double)o->policies_limit);
    }
    if (o->backup_instances >= 0) {
        gauge1(w, "aks_backup_vault_backup_instances",
               "Backup instances in the vault, as configured (count).", (double)o->backup_instances);
        gauge1(w, "aks_backup_vault_backup_instances_limit",
               "Backup instances allowed per vault (count).", (double)o->instances_limit);
    }
}

int metrics_cluster_register(struct metrics *m, struct engine *e)
{
    return metrics_add_collector(m, METRIC_SCOPE_CLUSTER, metrics_cluster_collect, e);
}

void metrics_cluster_unregister(struct metrics *m, struct engine *e)
{
    metrics_remove_collector(m, metrics_cluster_collect, e);
}
