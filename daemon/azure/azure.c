/* The Azure view (azure.h): two poll timers (resources, jobs), one ARM
 * read per resource type, each parsed into struct azure_view; a read that
 * fails marks only its own facts unknown and keeps its status and ARM error
 * code. Metrics: a cluster-scope collector plus the request counter. */
#include "azure/azure_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "azure/arm.h"
#include "azure/cred.h"
#include "metrics/metrics.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

extern char **environ;

static const char *const read_names[AZ_NREADS] = {
    "vault", "backup_policies", "backup_instances", "backup_jobs", "managed_cluster",
    "trusted_access_role_bindings", "storage_account", "snapshots", "locks",
};

const char *az_read_name(enum az_read r)
{
    return r < AZ_NREADS ? read_names[r] : "?";
}

static void set_ok(struct azure *a, enum az_read r, const struct az_arm_result *res)
{
    struct az_read_state *st = &a->v.r[r];
    st->done = true;
    st->ok = res->ok;
    st->http = res->http;
    snprintf(st->code, sizeof(st->code), "%s", res->code);
    snprintf(st->reason, sizeof(st->reason), "%s", res->reason);
    if (!res->ok)
        log_kv(LOG_WARN, "Azure read failed", "resource", read_names[r], "reason", res->reason, NULL);
}

static void notify(struct azure *a)
{
    if (a->cb && !a->closing)
        a->cb(a->cb_data, &a->v);
}


/* ---- reads ---- */


static void start_read(struct azure *a, enum az_read r);

static void clear_facts(struct azure *a, enum az_read r)
{
    switch (r) {
    case AZ_READ_VAULT:
        a->v.vault_location[0] = a->v.vault_subscription[0] = a->v.vault_redundancy[0] = a->v.vault_crr[0] = '\0';
        break;
    case AZ_READ_POLICIES:
        a->v.policies = -1;
        a->v.schedule[0] = '\0';
        a->v.vault_tier = -1;
        break;
    case AZ_READ_INSTANCES:
        a->v.instances = -1;
        break; /* the instance list itself is kept for the jobs (ids do not change) */
    case AZ_READ_JOBS:
        break; /* jobs read failing: the quota falls back (the app sees r[JOBS].ok) */
    case AZ_READ_CLUSTER:
        a->v.identity[0] = a->v.cluster_location[0] = '\0';
        break;
    case AZ_READ_TRUSTED_ACCESS:
        a->v.trusted_access = -1;
        break;
    case AZ_READ_STORAGE:
        a->v.storage_location[0] = a->v.storage_kind[0] = a->v.storage_sku[0] = '\0';
        a->v.storage_blocked = -1;
        break;
    case AZ_READ_SNAPSHOTS:
        free(a->v.snaps);
        a->v.snaps = NULL;
        a->v.nsnaps = 0;
        break;
    case AZ_READ_LOCKS:
        a->v.delete_lock = -1;
        break;
    default:
        break;
    }
}

static void on_read(void *data, const struct az_arm_result *res)
{
    struct read_ctx *c = data;
    struct azure *a = c->a;
    enum az_read r = c->r;
    a->req[r] = NULL;
    set_ok(a, r, res);
    if (!res->ok) {
        clear_facts(a, r);
    } else {
        struct json_object *b = res->body;
        switch (r) {
        case AZ_READ_VAULT:
            az__parse_vault(a, b);
            break;
        case AZ_READ_POLICIES:
            a->v.policies = (long)json_object_array_length(b);
            json_object_put(a->policies);
            a->policies = json_object_get(b);
            az__apply_policy(a, a->policies);
            break;
        case AZ_READ_INSTANCES:
            az__parse_instances(a, b);
            az__apply_policy(a, a->policies);
            break;
        case AZ_READ_JOBS:
            az__parse_jobs(a, b);
            break;
        case AZ_READ_CLUSTER:
            az__parse_cluster(a, b);
            break;
        case AZ_READ_TRUSTED_ACCESS:
            az__parse_trusted(a, b);
            break;
        case AZ_READ_STORAGE:
            az__parse_storage(a, b);
            break;
        case AZ_READ_SNAPSHOTS:
            az__parse_snapshots(a, b);
            break;
        case AZ_READ_LOCKS:
            az__parse_locks(a, b);
            break;
        default:
            break;
        }
    }
    if (r == AZ_READ_INSTANCES && !a->closing) {
        /* what depends on the instance list: jobs, and the snapshot group */
        if (res->ok) {
            start_read(a, AZ_READ_JOBS);
            start_read(a, AZ_READ_SNAPSHOTS);
            start_read(a, AZ_READ_LOCKS);
        } else {
            /* never read: they need the instance list (ids, snapshot group) */
            static const enum az_read deps[] = {AZ_READ_JOBS, AZ_READ_SNAPSHOTS, AZ_READ_LOCKS};
            for (size_t i = 0; i < sizeof(deps) / sizeof(deps[0]); i++) {
                if (a->v.r[deps[i]].done)
                    continue;
                struct az_arm_result dep = {.ok = false, .http = res->http};
                snprintf(dep.code, sizeof(dep.code), "%s", res->code);
                snprintf(dep.reason, sizeof(dep.reason), "backup instances not read: %.280s", res->reason);
                set_ok(a, deps[i], &dep);
            }
        }
    }
    notify(a);
}

/* The snapshot resource group: the first of this cluster's instances that names one. */
static const char *snapshot_rg(const struct azure *a)
{
    for (size_t i = 0; i < a->v.ninst; i++)
        if (a->v.inst[i].snapshot_rg[0])
            return a->v.inst[i].snapshot_rg;
    return NULL;
}

static void start_read(struct azure *a, enum az_read r)
{
    if (a->closing || a->req[r] || !a->v.r[r].configured)
        return;
    char path[1400];
    bool list = true;
    const char *rg = snapshot_rg(a);
    switch (r) {
    case AZ_READ_VAULT:
        snprintf(path, sizeof(path), "%s?api-version=" AZ_API_DATAPROTECTION, a->vault);
        list = false;
        break;
    case AZ_READ_POLICIES:
        snprintf(path, sizeof(path), "%s/backupPolicies?api-version=" AZ_API_DATAPROTECTION, a->vault);
        break;
    case AZ_READ_INSTANCES:
        snprintf(path, sizeof(path), "%s/backupInstances?api-version=" AZ_API_DATAPROTECTION, a->vault);
        break;
    case AZ_READ_JOBS:
        if (!a->v.r[AZ_READ_INSTANCES].done)
            return; /* started once the instances are known */
        snprintf(path, sizeof(path), "%s/backupJobs?api-version=" AZ_API_DATAPROTECTION, a->vault);
        break;
    case AZ_READ_CLUSTER:
        snprintf(path, sizeof(path), "%s?api-version=" AZ_API_CONTAINERSERVICE, a->cluster);
        list = false;
        break;
    case AZ_READ_TRUSTED_ACCESS:
        snprintf(path, sizeof(path), "%s/trustedAccessRoleBindings?api-version=" AZ_API_CONTAINERSERVICE,
                 a->cluster);
        break;
    case AZ_READ_STORAGE:
        snprintf(path, sizeof(path), "%s?api-version=" AZ_API_STORAGE, a->storage);
        list = false;
        break;
    case AZ_READ_SNAPSHOTS:
    case AZ_READ_LOCKS:
        if (!rg) { /* no instance names a snapshot group: nothing to read */
            clear_facts(a, r);
            a->v.r[r].done = a->v.r[r].ok = true;
            return;
        }
        if (r == AZ_READ_SNAPSHOTS)
            snprintf(path, sizeof(path), "%s/providers/Microsoft.Compute/snapshots?api-version=" AZ_API_COMPUTE, rg);
        else
            snprintf(path, sizeof(path), "%s/providers/Microsoft.Authorization/locks?api-version=" AZ_API_LOCKS, rg);
        break;
    default:
        return;
    }
    struct read_ctx *c = &a->ctx[r];
    c->a = a;
    c->r = r;
    if (az_arm_get(&a->arm, read_names[r], path, list, on_read, c, &a->req[r]) != 0)
        log_kv(LOG_WARN, "Azure read not started: out of memory", "resource", read_names[r], NULL);
}

static void on_poll(uv_timer_t *t)
{
    struct azure *a = t->data;
    start_read(a, AZ_READ_VAULT);
    start_read(a, AZ_READ_POLICIES);
    start_read(a, AZ_READ_INSTANCES);
    start_read(a, AZ_READ_CLUSTER);
    start_read(a, AZ_READ_TRUSTED_ACCESS);
    start_read(a, AZ_READ_STORAGE);
}

static void on_jobs_poll(uv_timer_t *t)
{
    struct azure *a = t->data;
    start_read(a, AZ_READ_JOBS);
}

/* ---- metrics ---- */

static void collect(struct metrics_writer *w, void *data)
{
    struct azure *a = data;
    const struct azure_view *v = &a->v;
    metrics_write_family(w, "aks_backup_azure_up", METRIC_GAUGE,
                         "1 when the last poll of every Azure Resource Manager read succeeded.");
    metrics_write_sample(w, "aks_backup_azure_up", 0, NULL, NULL, azure_up(a) ? 1 : 0);
    static const char *const il[] = {"backup_instance", "protection_status", "policy"};
    metrics_write_family(w, "aks_backup_backup_instance_info", METRIC_GAUGE,
                         "This cluster's backup instances in the vault (1 per instance).");
    for (size_t i = 0; i < v->ninst; i++) {
        const char *pol = strrchr(v->inst[i].policy_id, '/');
        const char *lv[] = {v->inst[i].name, v->inst[i].protection, pol ? pol + 1 : v->inst[i].policy_id};
        metrics_write_sample(w, "aks_backup_backup_instance_info", 3, il, lv, 1);
    }
    static const char *const bl[] = {"backup_instance"};
    metrics_write_family(w, "aks_backup_last_successful_backup_timestamp_seconds", METRIC_GAUGE,
                         "End time of the latest completed backup job of the instance (scheduled or on-demand).");
    for (size_t i = 0; i < v->ninst; i++) {
        if (!v->inst[i].last_success)
            continue;
        const char *lv[] = {v->inst[i].name};
        metrics_write_sample(w, "aks_backup_last_successful_backup_timestamp_seconds", 1, bl, lv,
                             (double)v->inst[i].last_success);
    }
    metrics_write_family(w, "aks_backup_backup_schedule_interval_seconds", METRIC_GAUGE,
                         "Seconds between the scheduled backups of the instance's backup policy.");
    for (size_t i = 0; i < v->ninst; i++) {
        if (!v->inst[i].interval_s)
            continue;
        const char *lv[] = {v->inst[i].name};
        metrics_write_sample(w, "aks_backup_backup_schedule_interval_seconds", 1, bl, lv,
                             (double)v->inst[i].interval_s);
    }
    static const char *const jl[] = {"backup_instance", "operation", "status"};
    metrics_write_family(w, "aks_backup_jobs", METRIC_GAUGE, "Today's backup and restore jobs by status.");
    int64_t today = az__day_start(a, clock_now_ms() / 1000);
    for (size_t i = 0; i < v->njobs; i++) {
        if (v->jobs[i].start < today)
            continue;
        /* one sample per (instance, op, status): count those equal, first occurrence only */
        bool first = true;
        long n = 0;
        for (size_t k = 0; k < v->njobs; k++) {
            if (v->jobs[k].start < today || v->jobs[k].inst != v->jobs[i].inst || v->jobs[k].op != v->jobs[i].op ||
                strcmp(v->jobs[k].status, v->jobs[i].status) != 0)
                continue;
            if (k < i) {
                first = false;
                break;
            }
            n++;
        }
        if (!first)
            continue;
        const char *lv[] = {v->inst[v->jobs[i].inst].name, v->jobs[i].op == AZ_OP_BACKUP ? "backup" : "restore",
                            v->jobs[i].status};
        metrics_write_sample(w, "aks_backup_jobs", 3, jl, lv, (double)n);
    }
    static const char *const dl[] = {"disk"};
    metrics_write_family(w, "aks_backup_disk_snapshots", METRIC_GAUGE,
                         "Snapshots of a disk in the snapshot resource group, for disks at or above the warn ratio "
                         "of the per-disk limit.");
    for (size_t i = 0; i < v->nsnaps; i++) {
        if ((double)v->snaps[i].n < a->warn_ratio * (double)a->snap_limit)
            continue;
        const char *slash = strrchr(v->snaps[i].disk, '/');
        const char *lv[] = {slash ? slash + 1 : v->snaps[i].disk};
        metrics_write_sample(w, "aks_backup_disk_snapshots", 1, dl, lv, (double)v->snaps[i].n);
    }
}

bool azure_up(const struct azure *a)
{
    for (int r = 0; r < AZ_NREADS; r++)
        if (a->v.r[r].configured && (!a->v.r[r].done || !a->v.r[r].ok))
            return false;
    return true;
}

const struct azure_view *azure_get_view(const struct azure *a)
{
    return &a->v;
}

/* ---- lifecycle ---- */

static const char *env_get(char *const *envp, const char *name)
{
    size_t l = strlen(name);
    for (char *const *e = envp ? envp : environ; e && *e; e++)
        if (!strncmp(*e, name, l) && (*e)[l] == '=')
            return *e + l + 1;
    return NULL;
}

static char *dup_id(const char *s)
{
    if (!s || !*s)
        return NULL;
    char *d = strdup(s);
    if (d) {
        size_t l = strlen(d);
        while (l > 0 && d[l - 1] == '/')
            d[--l] = '\0';
    }
    return d;
}

static void free_strings(struct azure *a)
{
    free(a->vault);
    free(a->cluster);
    free(a->storage);
    free(a->rm);
    free(a->authority);
    free(a->imds);
    free(a->ca);
    for (size_t i = 0; i < a->nfailed_seen; i++)
        free(a->failed_seen[i]);
    free(a->failed_seen);
    json_object_put(a->policies);
    free(a->v.inst);
    free(a->v.jobs);
    free(a->v.snaps);
}

int azure_new(uv_loop_t *loop, struct kube_http *h, struct metrics *m, const struct azure_opts *o,
              azure_update_cb cb, void *data, struct azure **out)
{
    struct azure *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->loop = loop;
    a->h = h;
    a->m = m;
    a->vault = dup_id(o->vault_id);
    a->cluster = dup_id(o->cluster_id);
    a->storage = dup_id(o->storage_account_id);
    a->rm = dup_id(o->resource_manager_url);
    const char *ah = env_get(o->envp, "AZURE_AUTHORITY_HOST"); /* as AKS injects it: wins */
    a->authority = dup_id(ah && *ah ? ah : o->authority_host);
    a->imds = dup_id(o->imds_url);
    a->ca = o->ca_file && *o->ca_file ? strdup(o->ca_file) : NULL;
    a->poll_s = o->poll_seconds > 0 ? o->poll_seconds : 300;
    a->jobs_poll_s = o->jobs_poll_seconds > 0 ? o->jobs_poll_seconds : 60;
    a->day_offset = o->day_offset;
    a->snap_limit = o->snapshots_per_disk > 0 ? o->snapshots_per_disk : 500;
    a->warn_ratio = o->warn_ratio > 0 ? o->warn_ratio : 0.8;
    a->cb = cb;
    a->cb_data = data;
    if (!a->vault || !a->rm || !a->authority || !a->imds) {
        free_strings(a);
        free(a);
        return -ENOMEM;
    }
    struct az_cred_opts co = {
        .authority = a->authority,
        .tenant_id = env_get(o->envp, "AZURE_TENANT_ID"),
        .client_id = env_get(o->envp, "AZURE_CLIENT_ID"),
        .token_file = env_get(o->envp, "AZURE_FEDERATED_TOKEN_FILE"),
        .imds_url = a->imds,
        .resource = a->rm,
        .ca_file = a->ca,
    };
    if (az_cred_new(h, &co, &a->cred) != 0) {
        free_strings(a);
        free(a);
        return -ENOMEM;
    }
    if (m) {
        static const char *const rl[] = {"resource", "code"};
        static const char *const fl[] = {"backup_instance", "operation", "error_code"};
        a->m_requests = metrics_family(m, "aks_backup_azure_requests_total", METRIC_COUNTER, METRIC_SCOPE_CLUSTER,
                                       "Azure Resource Manager requests by resource and HTTP code.", 2, rl, NULL, 0);
        a->m_failures = metrics_family(m, "aks_backup_job_failures_total", METRIC_COUNTER, METRIC_SCOPE_CLUSTER,
                                       "Failed backup and restore jobs of this cluster's instances, by error code.",
                                       3, fl, NULL, 0);
        metrics_add_collector(m, METRIC_SCOPE_CLUSTER, collect, a);
    }
    a->arm = (struct az_arm_opts){.loop = loop, .h = h, .cred = a->cred, .base = a->rm, .ca_file = a->ca,
                                  .requests = a->m_requests};
    a->v.policies = a->v.instances = -1;
    a->v.vault_tier = a->v.trusted_access = a->v.storage_blocked = a->v.delete_lock = -1;
    for (int r = 0; r < AZ_NREADS; r++)
        a->v.r[r].configured = true;
    a->v.r[AZ_READ_CLUSTER].configured = a->v.r[AZ_READ_TRUSTED_ACCESS].configured = a->cluster != NULL;
    a->v.r[AZ_READ_STORAGE].configured = a->storage != NULL;
    uv_timer_init(loop, &a->poll_timer);
    uv_timer_init(loop, &a->jobs_timer);
    a->poll_timer.data = a->jobs_timer.data = a;
    log_kv(LOG_INFO, "Azure view enabled", "credential", az_cred_kind(a->cred), "resource_manager", a->rm,
           "vault_id", a->vault, NULL);
    *out = a;
    return 0;
}

int azure_start(struct azure *a)
{
    if (a->started)
        return 0;
    a->started = true;
    uv_timer_start(&a->poll_timer, on_poll, 0, (uint64_t)a->poll_s * 1000);
    uv_timer_start(&a->jobs_timer, on_jobs_poll, (uint64_t)a->jobs_poll_s * 1000, (uint64_t)a->jobs_poll_s * 1000);
    return 0;
}

static void on_closed(uv_handle_t *hd)
{
    struct azure *a = hd->data;
    if (--a->pending_closes > 0)
        return;
    void (*cb)(void *) = a->close_cb;
    void *d = a->close_data;
    free_strings(a);
    free(a);
    if (cb)
        cb(d);
}

void azure_close(struct azure *a, void (*cb)(void *data), void *data)
{
    if (a->closing)
        return;
    a->closing = true;
    a->close_cb = cb;
    a->close_data = data;
    if (a->m)
        metrics_remove_collector(a->m, collect, a);
    for (int r = 0; r < AZ_NREADS; r++) {
        struct az_arm_req *q = a->req[r];
        if (q)
            az_arm_cancel(q); /* one waiting for a token is released by az_cred_free */
    }
    az_cred_free(a->cred);
    a->cred = NULL;
    a->pending_closes = 2;
    uv_close((uv_handle_t *)&a->poll_timer, on_closed);
    uv_close((uv_handle_t *)&a->jobs_timer, on_closed);
}
