/* The Azure view in the daemon (app.c): starts daemon/azure on the
 * Kubernetes client's transport when azure.enabled, and after each ARM
 * read maps the view onto plain facts for the rules engine (prerequisites,
 * warnings) and plain job records for the quota. Nothing here without it.
 * Owns the azure part of struct app (a->azure, app_int.h). */
#include "app_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "azure/azure.h"
#include "util/clock.h"
#include "util/log.h"

static const char *why(const struct azure_view *v, enum az_read r)
{
    return v->r[r].configured && v->r[r].done && !v->r[r].ok ? v->r[r].reason : "";
}

static int64_t today_start(const struct app *a)
{
    int64_t now = clock_now_ms() / 1000, off = a->core.cfg.limits.day_offset;
    int64_t local = now + off;
    int64_t d = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    return d * 86400 - off;
}

static void map_engine(struct app *a, const struct azure_view *v)
{
    size_t cap = v->njobs + v->nsnaps + 4, n = 0;
    struct engine_azure_warning *w = calloc(cap, sizeof(*w));
    char **bufs = calloc(cap * 2, sizeof(*bufs));
    if (!w || !bufs) {
        free(w);
        free(bufs);
        return;
    }
    size_t nb = 0;
    int64_t t0 = today_start(a);
    for (size_t i = 0; i < v->njobs; i++) {
        const struct az_job *j = &v->jobs[i];
        if (strcmp(j->status, "Failed") != 0 || j->start < t0)
            continue;
        char obj[400], msg[400];
        snprintf(obj, sizeof(obj), "%s/%s", v->inst[j->inst].name, j->id);
        snprintf(msg, sizeof(msg), "%s job failed with %s", j->op == AZ_OP_BACKUP ? "backup" : "restore",
                 j->error_code[0] ? j->error_code : "an unknown error (no error code in the job)");
        bufs[nb] = strdup(obj);
        bufs[nb + 1] = strdup(msg);
        w[n++] = (struct engine_azure_warning){"backup-job-failed", bufs[nb], bufs[nb + 1]};
        nb += 2;
    }
    long lim = a->core.cfg.limits.snapshots_per_disk;
    for (size_t i = 0; i < v->nsnaps; i++) {
        if ((double)v->snaps[i].n < a->core.cfg.limits.warn_ratio * (double)lim)
            continue;
        char msg[200];
        snprintf(msg, sizeof(msg), "%ld snapshots of this disk in the snapshot resource group (limit %ld per disk)",
                 v->snaps[i].n, lim);
        bufs[nb] = strdup(v->snaps[i].disk);
        bufs[nb + 1] = strdup(msg);
        w[n++] = (struct engine_azure_warning){"disk-snapshots-near-limit", bufs[nb], bufs[nb + 1]};
        nb += 2;
    }
    if (v->delete_lock == 1) {
        char msg[300];
        snprintf(msg, sizeof(msg), "management lock %s (CanNotDelete) on the snapshot resource group keeps "
                                   "expired recovery points: remove it or make it ReadOnly-free",
                 v->delete_lock_name);
        const char *rg = NULL;
        for (size_t i = 0; i < v->ninst && !rg; i++)
            if (v->inst[i].snapshot_rg[0])
                rg = v->inst[i].snapshot_rg;
        bufs[nb] = strdup(rg ? rg : "");
        bufs[nb + 1] = strdup(msg);
        w[n++] = (struct engine_azure_warning){"snapshot-delete-lock", bufs[nb], bufs[nb + 1]};
        nb += 2;
    }
    if (v->storage_blocked == 1) {
        bufs[nb] = strdup(a->core.cfg.azure.storage_account_id);
        bufs[nb + 1] = strdup("public network access to the storage account is denied and the vault is not a "
                              "trusted service (networkAcls bypass AzureServices or a resource access rule for "
                              "the vault): backups cannot write there");
        w[n++] = (struct engine_azure_warning){"storage-public-access", bufs[nb], bufs[nb + 1]};
        nb += 2;
    }
    bool oom = false;
    for (size_t i = 0; i < nb; i++)
        oom |= bufs[i] == NULL;
    long nsmax = v->ninst ? 0 : -1;
    for (size_t i = 0; i < v->ninst; i++)
        nsmax = v->inst[i].namespaces < 0 || nsmax < 0 ? -1
                : v->inst[i].namespaces > nsmax ? v->inst[i].namespaces : nsmax;
    struct engine_azure_facts f = {
        .on = true,
        .identity = v->identity,
        .identity_why = why(v, AZ_READ_CLUSTER),
        .vault_region = v->vault_location,
        .vault_subscription = v->vault_subscription,
        .vault_why = why(v, AZ_READ_VAULT),
        .storage_region = v->storage_location,
        .storage_kind = v->storage_kind,
        .storage_sku = v->storage_sku,
        .storage_why = why(v, AZ_READ_STORAGE),
        .policies = v->policies,
        .instances = v->instances,
        .policies_why = why(v, AZ_READ_POLICIES),
        .instances_why = why(v, AZ_READ_INSTANCES),
        .trusted_access = v->trusted_access,
        .vault_tier = v->vault_tier,
        .namespaces = nsmax,
        .trusted_why = v->r[AZ_READ_TRUSTED_ACCESS].configured ? why(v, AZ_READ_TRUSTED_ACCESS)
                                                                : "azure.cluster_id is not set",
        .warnings = w,
        .nwarnings = oom ? 0 : n,
    };
    if (a->kube.engine && engine_set_azure(a->kube.engine, &f) != 0)
        log_kv(LOG_WARN, "Azure view: out of memory applying the facts", NULL);
    for (size_t i = 0; i < nb; i++)
        free(bufs[i]);
    free(bufs);
    free(w);
}

static void map_quota(struct app *a, const struct azure_view *v)
{
    if (!a->kube.quota)
        return;
    struct ledger_job *jobs = calloc(v->njobs ? v->njobs : 1, sizeof(*jobs));
    const char **inst = calloc(v->ninst ? v->ninst : 1, sizeof(*inst));
    if (!jobs || !inst) {
        free(jobs);
        free(inst);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < v->njobs; i++) {
        const struct az_job *j = &v->jobs[i];
        if (j->op == AZ_OP_BACKUP && !j->user)
            continue; /* the policy's scheduled backups are not on-demand */
        jobs[n++] = (struct ledger_job){.id = j->id, .instance = v->inst[j->inst].name,
                                        .op = j->op == AZ_OP_BACKUP ? ACCT_OP_BACKUP : ACCT_OP_RESTORE,
                                        .start = j->start};
    }
    for (size_t i = 0; i < v->ninst; i++)
        inst[i] = v->inst[i].name;
    const struct az_read_state *ri = &v->r[AZ_READ_INSTANCES], *rj = &v->r[AZ_READ_JOBS];
    char reason[400] = "";
    bool avail = ri->done && ri->ok && rj->done && rj->ok;
    if (!avail)
        snprintf(reason, sizeof(reason), "%s", !ri->done || !rj->done ? "not read yet"
                                               : !ri->ok ? ri->reason : rj->reason);
    struct quota_jobs qj = {.enabled = true, .available = avail, .reason = reason, .jobs = jobs, .njobs = n,
                            .instances = inst, .ninstances = v->ninst, .schedule = v->schedule};
    if (quota_set_jobs(a->kube.quota, &qj) != 0)
        log_kv(LOG_WARN, "Azure view: out of memory applying the jobs", NULL);
    free(jobs);
    free(inst);
}

static void on_update(void *data, const struct azure_view *v)
{
    struct app *a = data;
    map_engine(a, v);
    map_quota(a, v);
}

int app_azure_start(struct app *a)
{
    if (!a->core.cfg.azure.enabled)
        return 0;
    struct azure_opts o = {
        .vault_id = a->core.cfg.azure.vault_id,
        .cluster_id = a->core.cfg.azure.cluster_id,
        .storage_account_id = a->core.cfg.azure.storage_account_id,
        .resource_manager_url = a->core.cfg.azure.resource_manager_url,
        .authority_host = a->core.cfg.azure.authority_host,
        .imds_url = a->core.cfg.azure.imds_url,
        .ca_file = a->core.cfg.azure.ca_file,
        .poll_seconds = a->core.cfg.azure.poll_seconds,
        .jobs_poll_seconds = a->core.cfg.azure.jobs_poll_seconds,
        .day_offset = a->core.cfg.limits.day_offset,
        .snapshots_per_disk = a->core.cfg.limits.snapshots_per_disk,
        .warn_ratio = a->core.cfg.limits.warn_ratio,
    };
    int rc = azure_new(&a->core.loop, kube_client_http(a->kube.client), a->core.metrics, &o, on_update, a, &a->azure.view);
    if (rc)
        return rc;
    /* until the first reads answer: the view's facts are unknown, not the config's */
    on_update(a, azure_get_view(a->azure.view));
    return azure_start(a->azure.view);
}

static void azure_closed(void *data)
{
    struct app *a = data;
    a->azure.view = NULL;
    app_handle_closed(a);
}

void app_azure_close(struct app *a)
{
    if (!a->azure.view)
        return;
    app_closing_begin(a);
    azure_close(a->azure.view, azure_closed, a);
}

static void jstr(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v && *v ? json_object_new_string(v) : NULL);
}

static void jtime(struct json_object *o, const char *k, int64_t t)
{
    char ts[40];
    if (t <= 0) {
        json_object_object_add(o, k, NULL);
        return;
    }
    clock_format_rfc3339(t, ts, sizeof(ts));
    json_object_object_add(o, k, json_object_new_string(ts));
}

struct json_object *app_azure_json(struct app *a)
{
    if (!a->azure.view)
        return NULL;
    const struct azure_view *v = azure_get_view(a->azure.view);
    struct json_object *o = json_object_new_object(), *vault = json_object_new_object(),
                       *inst = json_object_new_array(), *reads = json_object_new_array();
    if (!o || !vault || !inst || !reads) {
        json_object_put(o);
        json_object_put(vault);
        json_object_put(inst);
        json_object_put(reads);
        return NULL;
    }
    json_object_object_add(o, "up", json_object_new_boolean(azure_up(a->azure.view)));
    jstr(vault, "id", a->core.cfg.azure.vault_id);
    jstr(vault, "location", v->vault_location);
    jstr(vault, "storage_redundancy", v->vault_redundancy);
    jstr(vault, "cross_region_restore", v->vault_crr);
    json_object_object_add(vault, "vault_tier", v->vault_tier < 0 ? NULL : json_object_new_boolean(v->vault_tier));
    jstr(vault, "schedule", v->schedule);
    json_object_object_add(o, "vault", vault);
    for (size_t i = 0; i < v->ninst; i++) {
        struct json_object *x = json_object_new_object();
        if (!x)
            continue;
        const char *pol = strrchr(v->inst[i].policy_id, '/');
        jstr(x, "name", v->inst[i].name);
        jstr(x, "protection_status", v->inst[i].protection);
        jstr(x, "policy", pol ? pol + 1 : v->inst[i].policy_id);
        jtime(x, "last_successful_backup", v->inst[i].last_success);
        json_object_array_add(inst, x);
    }
    json_object_object_add(o, "backup_instances", inst);
    for (int r = 0; r < AZ_NREADS; r++) {
        const struct az_read_state *st = &v->r[r];
        if (!st->configured)
            continue;
        struct json_object *x = json_object_new_object();
        if (!x)
            continue;
        jstr(x, "resource", az_read_name((enum az_read)r));
        json_object_object_add(x, "ok", st->done ? json_object_new_boolean(st->ok) : NULL);
        if (st->done && !st->ok) {
            json_object_object_add(x, "http", json_object_new_int64(st->http));
            jstr(x, "code", st->code);
            jstr(x, "reason", st->reason);
        }
        json_object_array_add(reads, x);
    }
    json_object_object_add(o, "reads", reads);
    return o;
}

bool app_azure_settled(struct app *a)
{
    if (!a->azure.view)
        return true;
    const struct azure_view *v = azure_get_view(a->azure.view);
    for (int r = 0; r < AZ_NREADS; r++)
        if (v->r[r].configured && !v->r[r].done)
            return false;
    return true;
}
