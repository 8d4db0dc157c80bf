/* The scalar configuration keys with their defaults, types, ranges and value
 * checks, plus the small parsers (listen, day boundary, matchers) that the
 * YAML walker, the environment and the flags share (config.c). */
#include "config/config_int.h"
#include "config/selector.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

static int why(char *w, size_t n, const char *msg)
{
    if (w && n)
        snprintf(w, n, "%s", msg);
    return -EINVAL;
}

/* ---- value checks ---- */

static int ck_region(struct config *c, const char *v, char *w, size_t n)
{
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != ' ')
            return why(w, n, "a region has only letters, digits and spaces");
    return 0;
}

static int ck_guid(struct config *c, const char *v, char *w, size_t n)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    const char *p = v;
    if (!*v)
        return 0;
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, p++)
            if (!isxdigit((unsigned char)*p))
                return why(w, n, "not a GUID");
        if (g < 4 && *p++ != '-')
            return why(w, n, "not a GUID");
    }
    return *p ? why(w, n, "not a GUID") : 0;
}

static int ck_identity(struct config *c, const char *v, char *w, size_t n)
{
    if (!*v || !strcmp(v, "system") || !strcmp(v, "user") || !strcmp(v, "service-principal"))
        return 0;
    return why(w, n, "unknown identity");
}

static int ck_version_opt(struct config *c, const char *v, char *w, size_t n)
{
    const char *p = v;
    if (!*v)
        return 0;
    if (*p == 'v')
        p++;
    if (!isdigit((unsigned char)*p))
        return why(w, n, "not a version");
    while (isdigit((unsigned char)*p))
        p++;
    if (*p != '.' || !isdigit((unsigned char)p[1]))
        return why(w, n, "not a version");
    return 0;
}

static int ck_word(struct config *c, const char *v, char *w, size_t n)
{
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return why(w, n, "only letters, digits and '_'");
    return 0;
}

static int ck_schedule(struct config *c, const char *v, char *w, size_t n)
{
    struct schedule s;
    if (!*v) {
        c->vault.has_schedule = false;
        memset(&c->vault.schedule, 0, sizeof c->vault.schedule);
        return 0;
    }
    if (schedule_parse(v, &s, w, n))
        return -EINVAL;
    c->vault.schedule = s;
    c->vault.has_schedule = true;
    return 0;
}

static bool dns_label(const char *v, size_t max)
{
    size_t len = strlen(v);
    if (len == 0 || len > max || !isalnum((unsigned char)v[0]) ||
        !isalnum((unsigned char)v[len - 1]))
        return false;
    for (const char *p = v; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-'))
            return false;
    return true;
}

static bool dns_subdomain(const char *v)
{
    char part[64];
    size_t len = strlen(v);
    if (len == 0 || len > 253)
        return false;
    for (const char *p = v; *p;) {
        const char *dot = strchr(p, '.');
        size_t pl = dot ? (size_t)(dot - p) : strlen(p);
        if (pl == 0 || pl >= sizeof part)
            return false;
        memcpy(part, p, pl);
        part[pl] = '\0';
        if (!dns_label(part, 63))
            return false;
        p += pl + (dot ? 1 : 0);
        if (dot && !*p)
            return false;
    }
    return true;
}

bool config__namespace_ok(const char *v)
{
    return dns_label(v, 63);
}

static int ck_ns(struct config *c, const char *v, char *w, size_t n)
{
    return dns_label(v, 63) ? 0 : why(w, n, "not a namespace name");
}

static int ck_ns_opt(struct config *c, const char *v, char *w, size_t n)
{
    return !*v ? 0 : ck_ns(c, v, w, n);
}

static int ck_name(struct config *c, const char *v, char *w, size_t n)
{
    return dns_subdomain(v) ? 0 : why(w, n, "not a Kubernetes object name");
}

static int ck_name_opt(struct config *c, const char *v, char *w, size_t n)
{
    return !*v ? 0 : ck_name(c, v, w, n);
}

static int ck_nonempty(struct config *c, const char *v, char *w, size_t n)
{
    return *v ? 0 : why(w, n, "must not be empty");
}

static int ck_selector(struct config *c, const char *v, char *w, size_t n)
{
    return label_selector_check(v, w, n);
}

static int ck_listen(struct config *c, const char *v, char *w, size_t n)
{
    char host[256];
    int port;
    return config_parse_listen(v, host, sizeof host, &port) ? why(w, n, "not HOST:PORT") : 0;
}

static int ck_listen_opt(struct config *c, const char *v, char *w, size_t n)
{
    return *v ? ck_listen(c, v, w, n) : 0;
}

static int ck_day(struct config *c, const char *v, char *w, size_t n)
{
    int off;
    if (config_parse_day_boundary(v, &off))
        return why(w, n, "not a day boundary");
    c->limits.day_offset = off;
    return 0;
}

/* An ARM resource id of the given provider type ("" allowed):
 * /subscriptions/<guid>/resourceGroups/<rg>/providers/<type>/<name>. */
static int ck_arm_id(const char *v, const char *type, char *w, size_t n)
{
    char msg[256];
    if (!*v)
        return 0;
    snprintf(msg, sizeof msg,
             "not an ARM resource id /subscriptions/<id>/resourceGroups/<group>/providers/%s/<name>", type);
    if (strncasecmp(v, "/subscriptions/", 15) != 0)
        return why(w, n, msg);
    const char *rg = strchr(v + 15, '/');
    if (!rg || rg == v + 15 || strncasecmp(rg, "/resourceGroups/", 16) != 0)
        return why(w, n, msg);
    const char *pr = strchr(rg + 16, '/');
    size_t tl = strlen(type);
    if (!pr || pr == rg + 16 || strncasecmp(pr, "/providers/", 11) != 0 ||
        strncasecmp(pr + 11, type, tl) != 0 || pr[11 + tl] != '/' || !pr[12 + tl] ||
        strchr(pr + 12 + tl, '/') || strpbrk(v, " ?#%\"\\"))
        return why(w, n, msg);
    return 0;
}

static int ck_vault_id(struct config *c, const char *v, char *w, size_t n)
{
    return ck_arm_id(v, "Microsoft.DataProtection/backupVaults", w, n);
}

static int ck_cluster_id(struct config *c, const char *v, char *w, size_t n)
{
    return ck_arm_id(v, "Microsoft.ContainerService/managedClusters", w, n);
}

static int ck_storage_id(struct config *c, const char *v, char *w, size_t n)
{
    return ck_arm_id(v, "Microsoft.Storage/storageAccounts", w, n);
}

/* http:// or https:// and a host; no query, fragment or spaces. */
static int ck_url(struct config *c, const char *v, char *w, size_t n)
{
    const char *h = NULL;
    if (!strncmp(v, "https://", 8))
        h = v + 8;
    else if (!strncmp(v, "http://", 7))
        h = v + 7;
    if (!h || !*h || *h == '/' || strpbrk(v, " ?#\"\\"))
        return why(w, n, "not an http:// or https:// URL");
    return 0;
}

static int ck_per_pv(struct config *c, const char *v, char *w, size_t n)
{
    if (!strcmp(v, "all"))
        c->metrics.per_pv_v = CONFIG_PER_PV_ALL;
    else if (!strcmp(v, "skipped"))
        c->metrics.per_pv_v = CONFIG_PER_PV_SKIPPED;
    else if (!strcmp(v, "none"))
        c->metrics.per_pv_v = CONFIG_PER_PV_NONE;
    else
        return why(w, n, "metrics.per_pv is all, skipped or none");
    return 0;
}

static int ck_level(struct config *c, const char *v, char *w, size_t n)
{
    enum log_level l;
    if (log_level_parse(v, &l) || !strcmp(v, "warning"))
        return why(w, n, "unknown log level");
    c->log.level_v = l;
    return 0;
}

static int ck_format(struct config *c, const char *v, char *w, size_t n)
{
    enum log_format f;
    if (log_format_parse(v, &f))
        return why(w, n, "unknown log format");
    c->log.format_v = f;
    return 0;
}

const struct config__key config__keys[] = {
    {"cluster", "region", CK_STR, F(cluster.region), 0, 0, ck_region,
     "an Azure region such as westeurope, or \"\""},
    {"cluster", "subscription_id", CK_STR, F(cluster.subscription_id), 0, 0, ck_guid,
     "a subscription GUID or \"\""},
    {"cluster", "identity", CK_STR, F(cluster.identity), 0, 0, ck_identity,
     "system, user, service-principal or \"\""},
    /* Which editions exist is the rules' data: the app checks the value
     * (app_check_edition) and reports it at this key's position. */
    {"matrix", "edition", CK_STR, F(matrix.edition), 0, 0, NULL,
     "a support-matrix edition such as 2026-01"},
    {"vault", "region", CK_STR, F(vault.region), 0, 0, ck_region,
     "an Azure region such as westeurope, or \"\""},
    {"vault", "subscription_id", CK_STR, F(vault.subscription_id), 0, 0, ck_guid,
     "a subscription GUID or \"\""},
    {"vault", "backup_policies", CK_INT, F(vault.backup_policies), -1, 1000000000L, NULL, NULL},
    {"vault", "backup_instances", CK_INT, F(vault.backup_instances), -1, 1000000000L, NULL, NULL},
    {"vault", "backup_schedule", CK_STR, F(vault.backup_schedule), 0, 0, ck_schedule,
     "an ISO 8601 repeating interval R[n]/<RFC 3339 start>/<duration> such as "
     "R/2026-01-01T02:00:00+00:00/PT4H, or \"\""},
    {"vault", "schedule_tolerance_minutes", CK_INT, F(vault.schedule_tolerance_minutes), -1, 1440,
     NULL, "an integer from 0 to 1440, or -1 for the edition's default (120 for 2026-01, 30 for 2023-08)"},
    {"storage", "region", CK_STR, F(storage.region), 0, 0, ck_region,
     "an Azure region such as westeurope, or \"\""},
    {"storage", "subscription_id", CK_STR, F(storage.subscription_id), 0, 0, ck_guid,
     "a subscription GUID or \"\""},
    {"storage", "kind", CK_STR, F(storage.kind), 0, 0, ck_word,
     "the storage account's kind such as StorageV2, or \"\""},
    {"storage", "sku", CK_STR, F(storage.sku), 0, 0, ck_word,
     "the storage account's SKU such as Standard_LRS, or \"\""},
    {"driver", "azure_files_version", CK_STR, F(driver.azure_files_version), 0, 0, ck_version_opt,
     "an Azure Files CSI driver version such as v1.32.5, or \"\""},
    {"extension", "namespace", CK_STR, F(extension.namespace_), 0, 0, ck_ns, "a namespace name"},
    {"extension", "pod_selector", CK_STR, F(extension.pod_selector), 0, 0, ck_selector,
     "a label selector such as app.kubernetes.io/name=x"},
    {"limits", "on_demand_backups_per_day", CK_INT, F(limits.on_demand_backups_per_day), 1,
     1000000000L, NULL, NULL},
    {"limits", "restores_per_day", CK_INT, F(limits.restores_per_day), 1, 1000000000L, NULL, NULL},
    {"limits", "backup_policies_per_vault", CK_INT, F(limits.backup_policies_per_vault), 1,
     1000000000L, NULL, NULL},
    {"limits", "backup_instances_per_vault", CK_INT, F(limits.backup_instances_per_vault), 1,
     1000000000L, NULL, NULL},
    {"limits", "snapshots_per_disk", CK_INT, F(limits.snapshots_per_disk), 1, 1000000000L, NULL,
     NULL},
    {"limits", "warn_ratio", CK_RATIO, F(limits.warn_ratio), 0, 0, NULL,
     "a number with 0 < warn_ratio <= 1"},
    {"limits", "day_boundary", CK_STR, F(limits.day_boundary), 0, 0, ck_day,
     "UTC or a fixed offset +HH:MM / -HH:MM"},
    {"accounting", "state_file", CK_STR, F(accounting.state_file), 0, 0, NULL, "a file path"},
    {"accounting", "state_configmap", CK_STR, F(accounting.state_configmap), 0, 0, ck_name_opt,
     "a ConfigMap name or \"\""},
    {"api", "token_file", CK_STR, F(api.token_file), 0, 0, NULL, "a file path or \"\""},
    {"http", "listen", CK_STR, F(http.listen), 0, 0, ck_listen,
     "HOST:PORT with a port from 0 to 65535"},
    {"http", "health_listen", CK_STR, F(http.health_listen), 0, 0, ck_listen_opt,
     "HOST:PORT with a port from 0 to 65535, or \"\""},
    {"http", "max_connections", CK_INT, F(http.max_connections), 1, 100000, NULL, NULL},
    {"http", "max_connections_per_client", CK_INT, F(http.max_connections_per_client), 0, 100000,
     NULL, NULL},
    {"http", "read_timeout_seconds", CK_INT, F(http.read_timeout_seconds), 1, 3600, NULL, NULL},
    {"http", "tls_cert_file", CK_STR, F(http.tls_cert_file), 0, 0, NULL, "a file path or \"\""},
    {"http", "tls_key_file", CK_STR, F(http.tls_key_file), 0, 0, NULL, "a file path or \"\""},
    {"leader_election", "enabled", CK_BOOL, F(leader_election.enabled), 0, 0, NULL,
     "true or false"},
    {"leader_election", "lease_name", CK_STR, F(leader_election.lease_name), 0, 0, ck_name,
     "a Lease name"},
    {"leader_election", "lease_namespace", CK_STR, F(leader_election.lease_namespace), 0, 0,
     ck_ns_opt, "a namespace name or \"\""},
    {"leader_election", "lease_duration_seconds", CK_INT, F(leader_election.lease_duration_seconds),
     1, 3600, NULL, NULL},
    {"leader_election", "renew_deadline_seconds", CK_INT, F(leader_election.renew_deadline_seconds),
     1, 3600, NULL, NULL},
    {"leader_election", "retry_period_seconds", CK_INT, F(leader_election.retry_period_seconds), 1,
     3600, NULL, NULL},
    {NULL, "regions_file", CK_STR, F(regions_file), 0, 0, ck_nonempty, "a file path"},
    {NULL, "kubernetes_versions_file", CK_STR, F(kubernetes_versions_file), 0, 0, ck_nonempty,
     "a file path"},
    {"admission", "warnings_configmap", CK_STR, F(admission.warnings_configmap), 0, 0, ck_name_opt,
     "a ConfigMap name or \"\""},
    {"azure", "enabled", CK_BOOL, F(azure.enabled), 0, 0, NULL, "true or false"},
    {"azure", "vault_id", CK_STR, F(azure.vault_id), 0, 0, ck_vault_id,
     "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.DataProtection/backupVaults/<name>"},
    {"azure", "cluster_id", CK_STR, F(azure.cluster_id), 0, 0, ck_cluster_id,
     "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ContainerService/managedClusters/<name>"},
    {"azure", "storage_account_id", CK_STR, F(azure.storage_account_id), 0, 0, ck_storage_id,
     "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Storage/storageAccounts/<name>"},
    {"azure", "resource_manager_url", CK_STR, F(azure.resource_manager_url), 0, 0, ck_url,
     "an http:// or https:// URL such as https://management.azure.com"},
    {"azure", "authority_host", CK_STR, F(azure.authority_host), 0, 0, ck_url,
     "an http:// or https:// URL such as https://login.microsoftonline.com"},
    {"azure", "imds_url", CK_STR, F(azure.imds_url), 0, 0, ck_url,
     "an http:// or https:// URL such as http://169.254.169.254"},
    {"azure", "ca_file", CK_STR, F(azure.ca_file), 0, 0, NULL, "a file path or \"\""},
    {"azure", "poll_seconds", CK_INT, F(azure.poll_seconds), 5, 86400, NULL, NULL},
    {"azure", "jobs_poll_seconds", CK_INT, F(azure.jobs_poll_seconds), 5, 86400, NULL, NULL},
    {"metrics", "per_pv", CK_STR, F(metrics.per_pv), 0, 0, ck_per_pv, "all, skipped or none"},
    {"kubernetes", "http2", CK_BOOL, F(kubernetes.http2), 0, 0, NULL, "true or false"},
    {"log", "level", CK_STR, F(log.level), 0, 0, ck_level, "debug, info, warn or error"},
    {"log", "format", CK_STR, F(log.format), 0, 0, ck_format, "json or text"},
};
const size_t config__nkeys = sizeof config__keys / sizeof config__keys[0];
_Static_assert(sizeof config__keys / sizeof config__keys[0] <= CONFIG_NKEYS, "raise CONFIG_NKEYS");

const char *const config__top[] = {
    "cluster", "matrix",          "vault",        "storage",   "driver", "extension",
    "limits",  "accounting",      "api",          "http",      "leader_election", "regions_file",
    "kubernetes_versions_file",   "admission",    "azure",     "metrics",   "log",    "kubernetes", NULL,
};

const char *const config__source_keys[] = {
    "name", "operation", "group", "version", "resource", "namespace", "on_demand", "instance", NULL,
};

bool config__is_section(const char *name)
{
    for (size_t i = 0; config__top[i]; i++)
        if (!strcmp(config__top[i], name))
            return strcmp(name, "regions_file") != 0 && strcmp(name, "kubernetes_versions_file") != 0;
    return false;
}

const struct config__key *config__find(const char *section, const char *name)
{
    for (size_t i = 0; i < config__nkeys; i++) {
        const struct config__key *k = &config__keys[i];
        if (!strcmp(k->name, name) &&
            ((!section && !k->section) || (section && k->section && !strcmp(section, k->section))))
            return k;
    }
    return NULL;
}

size_t config_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 128 || lb > 128)
        return (la > lb ? la : lb);
    size_t row[129];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void consider(const char *cand, const char *name, const char **best, size_t *bd, char *list,
                     size_t ln)
{
    size_t d = config_edit_distance(name, cand);
    if (d < *bd) {
        *bd = d;
        *best = cand;
    }
    size_t used = strlen(list);
    if (used < ln)
        snprintf(list + used, ln - used, "%s%s", used ? ", " : "", cand);
}

void config__suggest(const char *section, const char *name, char *did, size_t dn, char *list,
                     size_t ln)
{
    const char *best = NULL;
    size_t bd = (size_t)-1;
    list[0] = '\0';
    if (!section) {
        for (size_t i = 0; config__top[i]; i++)
            consider(config__top[i], name, &best, &bd, list, ln);
    } else if (!strcmp(section, "accounting.sources[]")) {
        for (size_t i = 0; config__source_keys[i]; i++)
            consider(config__source_keys[i], name, &best, &bd, list, ln);
    } else {
        for (size_t i = 0; i < config__nkeys; i++)
            if (config__keys[i].section && !strcmp(config__keys[i].section, section))
                consider(config__keys[i].name, name, &best, &bd, list, ln);
        if (!strcmp(section, "accounting"))
            consider("sources", name, &best, &bd, list, ln);
        if (!strcmp(section, "vault")) {
            consider("tiers", name, &best, &bd, list, ln);
            consider("backup_namespaces", name, &best, &bd, list, ln);
        }
    }
    if (best)
        snprintf(did, dn, "did you mean '%s'?", best);
    else
        did[0] = '\0';
}

void config__dotted(const struct config__key *k, char *out, size_t n)
{
    if (k->section)
        snprintf(out, n, "%s.%s", k->section, k->name);
    else
        snprintf(out, n, "%s", k->name);
}

void config__expected(const struct config__key *k, char *out, size_t n)
{
    if (k->expected)
        snprintf(out, n, "%s", k->expected);
    else if (k->type == CK_INT && k->min == -1)
        snprintf(out, n, "an integer >= -1 (-1 = unknown)");
    else
        snprintf(out, n, "an integer from %ld to %ld", k->min, k->max);
}

int config__assign(struct config *c, const struct config__key *k, const char *label, const char *v,
                   bool quoted, bool is_null, char *msg, size_t n)
{
    char exp[256], w[200];
    void *field = (char *)c + k->off;
    config__expected(k, exp, sizeof exp);
    switch (k->type) {
    case CK_STR: {
        if (is_null)
            v = "";
        if (strlen(v) >= k->size) {
            snprintf(msg, n, "%s: value longer than %zu characters (expected %s)", label,
                     k->size - 1, exp);
            return -EINVAL;
        }
        w[0] = '\0';
        if (k->check && k->check(c, v, w, sizeof w)) {
            snprintf(msg, n, "%s: invalid value '%s'%s%s (expected %s)", label, v, w[0] ? ": " : "",
                     w, exp);
            return -EINVAL;
        }
        snprintf(field, k->size, "%s", v);
        return 0;
    }
    case CK_INT: {
        char *end;
        if (is_null || quoted) {
            snprintf(msg, n, "%s: got %s%s%s, not a number (expected %s)", label,
                     is_null ? "null" : "the string '", is_null ? "" : v, is_null ? "" : "'", exp);
            return -EINVAL;
        }
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || isspace((unsigned char)*v)) {
            snprintf(msg, n, "%s: '%s' is not an integer (expected %s)", label, v, exp);
            return -EINVAL;
        }
        if (errno == ERANGE || x < k->min || x > k->max) {
            snprintf(msg, n, "%s: %s is out of range (expected %s)", label, v, exp);
            return -EINVAL;
        }
        *(long *)field = (long)x;
        return 0;
    }
    case CK_RATIO: {
        char *end;
        if (is_null || quoted) {
            snprintf(msg, n, "%s: got %s%s%s, not a number (expected %s)", label,
                     is_null ? "null" : "the string '", is_null ? "" : v, is_null ? "" : "'", exp);
            return -EINVAL;
        }
        double x = strtod(v, &end);
        if (!*v || *end || isspace((unsigned char)*v) || !isfinite(x)) {
            snprintf(msg, n, "%s: '%s' is not a number (expected %s)", label, v, exp);
            return -EINVAL;
        }
        if (!(x > 0.0 && x <= 1.0)) {
            snprintf(msg, n, "%s: %s is out of range (expected %s)", label, v, exp);
            return -EINVAL;
        }
        *(double *)field = x;
        return 0;
    }
    case CK_BOOL: {
        bool t = !strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE");
        bool f = !strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE");
        if (is_null || quoted || (!t && !f)) {
            snprintf(msg, n, "%s: %s%s%s is not a boolean (expected %s)", label,
                     is_null  ? "null"
                     : quoted ? "the string '"
                              : "'",
                     is_null ? "" : v, is_null ? "" : "'", exp);
            return -EINVAL;
        }
        *(bool *)field = t;
        return 0;
    }
    }
    return -EINVAL;
}

/* ---- shared parsers ---- */

int config_parse_day_boundary(const char *s, int *offset_secs)
{
    if (!strcmp(s, "UTC") || !strcmp(s, "Z")) {
        *offset_secs = 0;
        return 0;
    }
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || !isdigit((unsigned char)s[1]) ||
        !isdigit((unsigned char)s[2]) || s[3] != ':' || !isdigit((unsigned char)s[4]) ||
        !isdigit((unsigned char)s[5]))
        return -EINVAL;
    int h = (s[1] - '0') * 10 + (s[2] - '0');
    int m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 14 || m > 59 || (h == 14 && m))
        return -EINVAL;
    *offset_secs = (s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    return 0;
}

int config_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon, *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':' || rb == s + 1)
            return -EINVAL;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s)))
            return -EINVAL;
        hl = (size_t)(colon - s);
    }
    for (size_t i = 0; i < hl; i++)
        if (isspace((unsigned char)h[i]) || h[i] == '/')
            return -EINVAL;
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5)
        return -EINVAL;
    long v = 0;
    for (; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535 || hl >= hostlen)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return 0;
}

static bool label_key_ok(const char *k, size_t len)
{
    if (len == 0 || len >= CONFIG_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)k[i]) && !strchr("._/-", k[i]))
            return false;
    return true;
}

static bool path_ok(const char *p, size_t len)
{
    if (len == 0 || len >= CONFIG_NAME_MAX || p[0] == '.' || p[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '.' && p[i + 1] == '.')
            return false;
        if (!isalnum((unsigned char)p[i]) && !strchr("._-/", p[i]))
            return false;
    }
    return true;
}

int config_parse_matcher(const char *s, struct config_source *src, char *w, size_t n)
{
    const char *rest, *eq;
    src->match_key[0] = src->match_value[0] = '\0';
    if (!strcmp(s, "always")) {
        src->match = CONFIG_MATCH_ALWAYS;
        return 0;
    }
    if (!strncmp(s, "label-absent:", 13) || !strncmp(s, "label-present:", 14)) {
        bool absent = s[6] == 'a';
        rest = s + (absent ? 13 : 14);
        if (!label_key_ok(rest, strlen(rest)))
            return why(w, n, "missing or invalid label key");
        src->match = absent ? CONFIG_MATCH_LABEL_ABSENT : CONFIG_MATCH_LABEL_PRESENT;
        snprintf(src->match_key, sizeof src->match_key, "%s", rest);
        return 0;
    }
    bool label = !strncmp(s, "label:", 6), field = !strncmp(s, "field:", 6);
    if (!label && !field)
        return why(w, n, "unknown matcher");
    rest = s + 6;
    eq = strchr(rest, '=');
    if (!eq)
        return why(w, n, "missing '=<value>'");
    size_t kl = (size_t)(eq - rest);
    if (label ? !label_key_ok(rest, kl) : !path_ok(rest, kl))
        return why(w, n, label ? "missing or invalid label key" : "missing or invalid field path");
    if (strlen(eq + 1) >= sizeof src->match_value)
        return why(w, n, "value too long");
    src->match = label ? CONFIG_MATCH_LABEL_EQ : CONFIG_MATCH_FIELD_EQ;
    memcpy(src->match_key, rest, kl);
    src->match_key[kl] = '\0';
    snprintf(src->match_value, sizeof src->match_value, "%s", eq + 1);
    return 0;
}

int config_parse_instance(const char *s, struct config_source *src, char *w, size_t n)
{
    const char *rest = strchr(s, ':');
    if (!rest)
        return why(w, n, "missing ':'");
    rest++;
    size_t len = strlen(rest);
    if (!strncmp(s, "constant:", 9)) {
        if (len == 0 || len >= sizeof src->instance_arg)
            return why(w, n, "missing or overlong instance id");
        for (const char *p = rest; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
                return why(w, n, "an instance id has only letters, digits, '.', '_' and '-'");
        src->instance_kind = CONFIG_INSTANCE_CONSTANT;
    } else if (!strncmp(s, "label:", 6)) {
        if (!label_key_ok(rest, len))
            return why(w, n, "missing or invalid label key");
        src->instance_kind = CONFIG_INSTANCE_LABEL;
    } else if (!strncmp(s, "field:", 6)) {
        if (!path_ok(rest, len))
            return why(w, n, "missing or invalid field path");
        src->instance_kind = CONFIG_INSTANCE_FIELD;
    } else {
        return why(w, n, "unknown instance kind");
    }
    snprintf(src->instance_arg, sizeof src->instance_arg, "%s", rest);
    return 0;
}

int config__source_defaults(struct config_source *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->on_demand, sizeof s->on_demand, "always");
    s->match = CONFIG_MATCH_ALWAYS;
    snprintf(s->instance, sizeof s->instance, "constant:default");
    s->instance_kind = CONFIG_INSTANCE_CONSTANT;
    snprintf(s->instance_arg, sizeof s->instance_arg, "default");
    return 0;
}

static void velero(struct config_source *s, const char *name, enum config_op op,
                   const char *resource, const char *on_demand)
{
    config__source_defaults(s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->operation = op;
    snprintf(s->group, sizeof s->group, "velero.io");
    snprintf(s->version, sizeof s->version, "v1");
    snprintf(s->resource, sizeof s->resource, "%s", resource);
    snprintf(s->on_demand, sizeof s->on_demand, "%s", on_demand);
    config_parse_matcher(on_demand, s, NULL, 0);
}

int config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    c->vault.backup_policies = -1;
    c->vault.backup_instances = -1;
    c->vault.schedule_tolerance_minutes = -1;
    c->vault.tier_operational = true;
    snprintf(c->matrix.edition, sizeof c->matrix.edition, "%s", CONFIG_DEFAULT_EDITION);
    snprintf(c->extension.namespace_, sizeof c->extension.namespace_, "dataprotection-microsoft");
    snprintf(c->extension.pod_selector, sizeof c->extension.pod_selector,
             "app.kubernetes.io/name=dataprotection-microsoft-kubernetes");
    c->limits.on_demand_backups_per_day = 10;
    c->limits.restores_per_day = 10;
    c->limits.backup_policies_per_vault = 5000;
    c->limits.backup_instances_per_vault = 5000;
    c->limits.snapshots_per_disk = 500;
    c->limits.warn_ratio = 0.8;
    snprintf(c->limits.day_boundary, sizeof c->limits.day_boundary, "UTC");
    c->accounting.sources = calloc(2, sizeof *c->accounting.sources);
    if (!c->accounting.sources)
        return -ENOMEM;
    c->accounting.n_sources = 2;
    velero(&c->accounting.sources[0], "velero-backups", CONFIG_OP_BACKUP, "backups",
           "label-absent:velero.io/schedule-name");
    velero(&c->accounting.sources[1], "velero-restores", CONFIG_OP_RESTORE, "restores", "always");
    snprintf(c->accounting.state_file, sizeof c->accounting.state_file,
             "/var/lib/aks-backup-companion/quota.json");
    snprintf(c->http.listen, sizeof c->http.listen, "0.0.0.0:8080");
    c->http.max_connections = 64;
    c->http.read_timeout_seconds = 10;
    snprintf(c->leader_election.lease_name, sizeof c->leader_election.lease_name,
             "aks-backup-companion");
    c->leader_election.lease_duration_seconds = 15;
    c->leader_election.renew_deadline_seconds = 10;
    c->leader_election.retry_period_seconds = 2;
    snprintf(c->regions_file, sizeof c->regions_file, "%s", CONFIG_DEFAULT_REGIONS_FILE);
    snprintf(c->kubernetes_versions_file, sizeof c->kubernetes_versions_file, "%s",
             CONFIG_DEFAULT_KVERSIONS_PATH);
    snprintf(c->admission.warnings_configmap, sizeof c->admission.warnings_configmap,
             "aks-backup-companion-storage-classes");
    snprintf(c->azure.resource_manager_url, sizeof c->azure.resource_manager_url,
             "https://management.azure.com");
    snprintf(c->azure.authority_host, sizeof c->azure.authority_host,
             "https://login.microsoftonline.com");
    snprintf(c->azure.imds_url, sizeof c->azure.imds_url, "http://169.254.169.254");
    c->azure.poll_seconds = 300;
    c->azure.jobs_poll_seconds = 60;
    snprintf(c->metrics.per_pv, sizeof c->metrics.per_pv, "all");
    c->metrics.per_pv_v = CONFIG_PER_PV_ALL;
    c->kubernetes.http2 = true;
    snprintf(c->log.level, sizeof c->log.level, "info");
    snprintf(c->log.format, sizeof c->log.format, "json");
    c->log.level_v = LOG_INFO;
    c->log.format_v = LOG_FORMAT_JSON;
    return 0;
}
