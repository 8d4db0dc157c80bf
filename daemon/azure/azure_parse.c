/* What each Azure Resource Manager answer means for the Azure view
 * (azure_int.h): the vault, its policies, instances and jobs, the managed
 * cluster and its trusted-access bindings, the storage account, and the
 * snapshots and locks of the snapshot resource group. Pure parsing. */
#include "azure/azure_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "config/schedule.h"
#include "metrics/metrics.h"
#include "util/clock.h"

/* ---- JSON helpers ---- */

static struct json_object *jget(struct json_object *o, const char *path)
{
    char key[64];
    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t l = dot ? (size_t)(dot - path) : strlen(path);
        if (l >= sizeof(key) || !json_object_is_type(o, json_type_object))
            return NULL;
        memcpy(key, path, l);
        key[l] = '\0';
        struct json_object *n;
        if (!json_object_object_get_ex(o, key, &n))
            return NULL;
        o = n;
        path += l + (dot ? 1 : 0);
    }
    return o;
}

static const char *jstr(struct json_object *o, const char *path)
{
    struct json_object *v = jget(o, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static int64_t jtime(struct json_object *o, const char *path)
{
    int64_t s, ms;
    const char *t = jstr(o, path);
    /* ARM writes 7 fractional digits ("2021-03-17T11:14:02.5319646Z") */
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%s", t);
    char *dot = strchr(tmp, '.');
    if (dot) {
        char *z = dot + 1;
        while (*z >= '0' && *z <= '9')
            z++;
        memmove(dot, z, strlen(z) + 1);
    }
    return *tmp && clock_parse_rfc3339(tmp, &s, &ms) == 0 ? s : 0;
}

/* The subscription GUID of an ARM id. */
static void id_subscription(const char *id, char *out, size_t n)
{
    *out = '\0';
    if (strncasecmp(id, "/subscriptions/", 15) != 0)
        return;
    const char *s = id + 15, *e = strchr(s, '/');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    snprintf(out, n, "%.*s", (int)l, s);
}

int64_t az__day_start(const struct azure *a, int64_t now)
{
    int64_t local = now + a->day_offset;
    int64_t d = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    return d * 86400 - a->day_offset;
}

/* ---- parsers ---- */

void az__parse_vault(struct azure *a, struct json_object *o)
{
    snprintf(a->v.vault_location, sizeof(a->v.vault_location), "%s", jstr(o, "location"));
    id_subscription(a->vault, a->v.vault_subscription, sizeof(a->v.vault_subscription));
    struct json_object *ss = jget(o, "properties.storageSettings");
    a->v.vault_redundancy[0] = '\0';
    if (ss && json_object_is_type(ss, json_type_array) && json_object_array_length(ss) > 0)
        snprintf(a->v.vault_redundancy, sizeof(a->v.vault_redundancy), "%s",
                 jstr(json_object_array_get_idx(ss, 0), "type"));
    snprintf(a->v.vault_crr, sizeof(a->v.vault_crr), "%s",
             jstr(o, "properties.featureSettings.crossRegionRestoreSettings.state"));
}

/* Schedule and tiers of the first instance's policy, from the last lists. */
/* The first repeating interval of a policy's rules; "" when none. */
static const char *policy_schedule(struct json_object *p)
{
    struct json_object *rules = jget(p, "properties.policyRules");
    size_t nr = rules && json_object_is_type(rules, json_type_array) ? json_object_array_length(rules) : 0;
    for (size_t k = 0; k < nr; k++) {
        struct json_object *rti = jget(json_object_array_get_idx(rules, k), "trigger.schedule.repeatingTimeIntervals");
        if (rti && json_object_is_type(rti, json_type_array) && json_object_array_length(rti) > 0 &&
            json_object_is_type(json_object_array_get_idx(rti, 0), json_type_string))
            return json_object_get_string(json_object_array_get_idx(rti, 0));
    }
    return "";
}

void az__apply_policy(struct azure *a, struct json_object *policies)
{
    a->v.schedule[0] = '\0';
    a->v.vault_tier = -1;
    if (!policies || a->v.ninst == 0)
        return;
    size_t np = json_object_array_length(policies);
    for (size_t i = 0; i < a->v.ninst; i++) { /* each instance's interval (AKSBackupNoRecentBackup) */
        a->v.inst[i].interval_s = 0;
        for (size_t k = 0; k < np; k++) {
            struct json_object *p = json_object_array_get_idx(policies, k);
            struct schedule s;
            if (!strcasecmp(jstr(p, "id"), a->v.inst[i].policy_id) &&
                schedule_parse(policy_schedule(p), &s, NULL, 0) == 0)
                a->v.inst[i].interval_s = s.period;
        }
    }
    const char *want = a->v.inst[0].policy_id;
    size_t n = json_object_array_length(policies);
    for (size_t i = 0; i < n; i++) {
        struct json_object *p = json_object_array_get_idx(policies, i);
        if (strcasecmp(jstr(p, "id"), want) != 0)
            continue;
        struct json_object *rules = jget(p, "properties.policyRules");
        size_t nr = rules && json_object_is_type(rules, json_type_array) ? json_object_array_length(rules) : 0;
        a->v.vault_tier = 0;
        for (size_t k = 0; k < nr; k++) {
            struct json_object *r = json_object_array_get_idx(rules, k);
            struct json_object *rti = jget(r, "trigger.schedule.repeatingTimeIntervals");
            if (!a->v.schedule[0] && rti && json_object_is_type(rti, json_type_array) &&
                json_object_array_length(rti) > 0) {
                struct json_object *s0 = json_object_array_get_idx(rti, 0);
                if (json_object_is_type(s0, json_type_string))
                    snprintf(a->v.schedule, sizeof(a->v.schedule), "%s", json_object_get_string(s0));
            }
            if (!strcasecmp(jstr(r, "dataStore.dataStoreType"), "VaultStore"))
                a->v.vault_tier = 1;
            struct json_object *lc = jget(r, "lifecycles");
            size_t nl = lc && json_object_is_type(lc, json_type_array) ? json_object_array_length(lc) : 0;
            for (size_t j = 0; j < nl; j++) {
                struct json_object *l = json_object_array_get_idx(lc, j);
                if (!strcasecmp(jstr(l, "sourceDataStore.dataStoreType"), "VaultStore"))
                    a->v.vault_tier = 1;
                struct json_object *cp = jget(l, "targetDataStoreCopySettings");
                size_t nc = cp && json_object_is_type(cp, json_type_array) ? json_object_array_length(cp) : 0;
                for (size_t q = 0; q < nc; q++)
                    if (!strcasecmp(jstr(json_object_array_get_idx(cp, q), "dataStore.dataStoreType"),
                                    "VaultStore"))
                        a->v.vault_tier = 1;
            }
        }
        return;
    }
}

void az__parse_instances(struct azure *a, struct json_object *arr)
{
    size_t n = json_object_array_length(arr);
    struct az_instance *v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(arr, i);
        const char *dst = jstr(o, "properties.dataSourceInfo.datasourceType");
        const char *rid = jstr(o, "properties.dataSourceInfo.resourceID");
        if (strcasecmp(dst, "Microsoft.ContainerService/managedClusters") != 0)
            continue;
        if (a->cluster && strcasecmp(rid, a->cluster) != 0)
            continue; /* another cluster's instance */
        struct az_instance *x = &v[k++];
        snprintf(x->name, sizeof(x->name), "%s", jstr(o, "name"));
        snprintf(x->id, sizeof(x->id), "%s", jstr(o, "id"));
        snprintf(x->policy_id, sizeof(x->policy_id), "%s", jstr(o, "properties.policyInfo.policyId"));
        snprintf(x->protection, sizeof(x->protection), "%s", jstr(o, "properties.protectionStatus.status"));
        x->namespaces = -1;
        struct json_object *dsl = jget(o, "properties.policyInfo.policyParameters.dataStoreParametersList");
        size_t nd = dsl && json_object_is_type(dsl, json_type_array) ? json_object_array_length(dsl) : 0;
        for (size_t j = 0; j < nd; j++) {
            const char *rg = jstr(json_object_array_get_idx(dsl, j), "resourceGroupId");
            if (*rg) {
                snprintf(x->snapshot_rg, sizeof(x->snapshot_rg), "%s", rg);
                break;
            }
        }
        struct json_object *bdl =
            jget(o, "properties.policyInfo.policyParameters.backupDatasourceParametersList");
        size_t nb = bdl && json_object_is_type(bdl, json_type_array) ? json_object_array_length(bdl) : 0;
        for (size_t j = 0; j < nb; j++) {
            struct json_object *inc = jget(json_object_array_get_idx(bdl, j), "includedNamespaces");
            if (inc && json_object_is_type(inc, json_type_array) && json_object_array_length(inc) > 0)
                x->namespaces = (long)json_object_array_length(inc);
        }
        /* keep what the jobs already told */
        for (size_t j = 0; j < a->v.ninst; j++)
            if (!strcasecmp(a->v.inst[j].id, x->id))
                x->last_success = a->v.inst[j].last_success;
    }
    free(a->v.inst);
    a->v.inst = v;
    a->v.ninst = k;
    a->v.instances = (long)n;
    /* jobs refer to instances by index: they are re-read on the next jobs poll */
    free(a->v.jobs);
    a->v.jobs = NULL;
    a->v.njobs = 0;
}

static int cmp_job(const void *x, const void *y)
{
    return strcasecmp(((const struct az_job *)x)->id, ((const struct az_job *)y)->id);
}

static bool failed_seen(struct azure *a, const char *id)
{
    for (size_t i = 0; i < a->nfailed_seen; i++)
        if (!strcasecmp(a->failed_seen[i], id))
            return true;
    char **n = realloc(a->failed_seen, (a->nfailed_seen + 1) * sizeof(*n));
    if (!n)
        return true;
    a->failed_seen = n;
    n[a->nfailed_seen] = strdup(id);
    if (n[a->nfailed_seen])
        a->nfailed_seen++;
    return false;
}

static bool is_success(const char *status)
{
    return !strcasecmp(status, "Completed") || !strcasecmp(status, "Succeeded");
}

void az__parse_jobs(struct azure *a, struct json_object *arr)
{
    size_t n = json_object_array_length(arr);
    struct az_job *v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return;
    int64_t since = az__day_start(a, clock_now_ms() / 1000) - 86400;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(arr, i);
        const char *bi = jstr(o, "properties.backupInstanceId");
        size_t idx = a->v.ninst;
        for (size_t j = 0; j < a->v.ninst; j++)
            if (!strcasecmp(a->v.inst[j].id, bi))
                idx = j;
        if (idx == a->v.ninst)
            continue; /* not one of this cluster's instances */
        const char *cat = jstr(o, "properties.operationCategory");
        enum az_op op;
        if (!strcasecmp(cat, "Backup"))
            op = AZ_OP_BACKUP;
        else if (!strcasecmp(cat, "Restore"))
            op = AZ_OP_RESTORE;
        else
            continue;
        struct az_job *j = &v[k];
        const char *id = jstr(o, "name");
        snprintf(j->id, sizeof(j->id), "%s", *id ? id : jstr(o, "id"));
        j->inst = idx;
        j->op = op;
        struct json_object *ut = jget(o, "properties.isUserTriggered");
        j->user = ut && json_object_get_boolean(ut);
        snprintf(j->status, sizeof(j->status), "%s", jstr(o, "properties.status"));
        j->start = jtime(o, "properties.startTime");
        j->end = jtime(o, "properties.endTime");
        struct json_object *ed = jget(o, "properties.errorDetails");
        if (ed && json_object_is_type(ed, json_type_array) && json_object_array_length(ed) > 0)
            snprintf(j->error_code, sizeof(j->error_code), "%s", jstr(json_object_array_get_idx(ed, 0), "code"));
        if (op == AZ_OP_BACKUP && is_success(j->status)) {
            int64_t t = j->end ? j->end : j->start;
            if (t > a->v.inst[idx].last_success)
                a->v.inst[idx].last_success = t;
        }
        if (j->start > 0 && j->start < since)
            continue;
        k++;
    }
    qsort(v, k, sizeof(*v), cmp_job);
    size_t u = 0; /* a job listed twice counts once */
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcasecmp(v[u - 1].id, v[i].id) != 0)
            v[u++] = v[i];
    for (size_t i = 0; i < u; i++) {
        if (!strcasecmp(v[i].status, "Failed") && a->m_failures && !failed_seen(a, v[i].id)) {
            const char *lv[] = {a->v.inst[v[i].inst].name, v[i].op == AZ_OP_BACKUP ? "backup" : "restore",
                                v[i].error_code[0] ? v[i].error_code : "unknown"};
            metric_add(a->m_failures, lv, 1);
        }
    }
    /* forget the failed jobs that left the window: they cannot come back */
    size_t keep = 0;
    for (size_t i = 0; i < a->nfailed_seen; i++) {
        bool listed = false;
        for (size_t j = 0; j < u && !listed; j++)
            listed = !strcasecmp(a->failed_seen[i], v[j].id);
        if (listed)
            a->failed_seen[keep++] = a->failed_seen[i];
        else
            free(a->failed_seen[i]);
    }
    a->nfailed_seen = keep;
    free(a->v.jobs);
    a->v.jobs = v;
    a->v.njobs = u;
}

void az__parse_cluster(struct azure *a, struct json_object *o)
{
    snprintf(a->v.cluster_location, sizeof(a->v.cluster_location), "%s", jstr(o, "location"));
    const char *t = jstr(o, "identity.type");
    const char *sp = jstr(o, "properties.servicePrincipalProfile.clientId");
    if (!strcasecmp(t, "SystemAssigned"))
        snprintf(a->v.identity, sizeof(a->v.identity), "system");
    else if (!strcasecmp(t, "UserAssigned"))
        snprintf(a->v.identity, sizeof(a->v.identity), "user");
    else if (*sp && strcasecmp(sp, "msi") != 0)
        snprintf(a->v.identity, sizeof(a->v.identity), "service-principal");
    else
        a->v.identity[0] = '\0';
}

#define BACKUP_ROLE "Microsoft.DataProtection/backupVaults/backup-operator"

void az__parse_trusted(struct azure *a, struct json_object *arr)
{
    size_t n = json_object_array_length(arr);
    a->v.trusted_access = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(arr, i);
        if (strcasecmp(jstr(o, "properties.sourceResourceId"), a->vault) != 0)
            continue;
        struct json_object *roles = jget(o, "properties.roles");
        size_t nr = roles && json_object_is_type(roles, json_type_array) ? json_object_array_length(roles) : 0;
        for (size_t k = 0; k < nr; k++) {
            struct json_object *r = json_object_array_get_idx(roles, k);
            if (json_object_is_type(r, json_type_string) && !strcasecmp(json_object_get_string(r), BACKUP_ROLE))
                a->v.trusted_access = 1;
        }
    }
}

void az__parse_storage(struct azure *a, struct json_object *o)
{
    snprintf(a->v.storage_location, sizeof(a->v.storage_location), "%s", jstr(o, "location"));
    snprintf(a->v.storage_kind, sizeof(a->v.storage_kind), "%s", jstr(o, "kind"));
    snprintf(a->v.storage_sku, sizeof(a->v.storage_sku), "%s", jstr(o, "sku.name"));
    bool denied = !strcasecmp(jstr(o, "properties.publicNetworkAccess"), "Disabled") ||
                  !strcasecmp(jstr(o, "properties.networkAcls.defaultAction"), "Deny");
    bool trusted = strcasestr(jstr(o, "properties.networkAcls.bypass"), "AzureServices") != NULL;
    struct json_object *rar = jget(o, "properties.networkAcls.resourceAccessRules");
    size_t n = rar && json_object_is_type(rar, json_type_array) ? json_object_array_length(rar) : 0;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(jstr(json_object_array_get_idx(rar, i), "resourceId"), a->vault))
            trusted = true;
    a->v.storage_blocked = denied && !trusted;
}

static int cmp_snap(const void *x, const void *y)
{
    return strcasecmp(((const struct az_snapdisk *)x)->disk, ((const struct az_snapdisk *)y)->disk);
}

void az__parse_snapshots(struct azure *a, struct json_object *arr)
{
    size_t n = json_object_array_length(arr);
    struct az_snapdisk *v = calloc(n ? n : 1, sizeof(*v));
    if (!v)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *src = jstr(json_object_array_get_idx(arr, i), "properties.creationData.sourceResourceId");
        if (!*src)
            continue;
        snprintf(v[k].disk, sizeof(v[k].disk), "%s", src);
        for (char *p = v[k].disk; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        v[k++].n = 1;
    }
    qsort(v, k, sizeof(*v), cmp_snap);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u > 0 && !strcmp(v[u - 1].disk, v[i].disk))
            v[u - 1].n++;
        else
            v[u++] = v[i];
    }
    free(a->v.snaps);
    a->v.snaps = v;
    a->v.nsnaps = u;
}

void az__parse_locks(struct azure *a, struct json_object *arr)
{
    size_t n = json_object_array_length(arr);
    a->v.delete_lock = 0;
    a->v.delete_lock_name[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(arr, i);
        if (!strcasecmp(jstr(o, "properties.level"), "CanNotDelete")) {
            a->v.delete_lock = 1;
            snprintf(a->v.delete_lock_name, sizeof(a->v.delete_lock_name), "%s", jstr(o, "name"));
        }
    }
}
