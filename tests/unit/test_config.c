/* config.c / config_keys.c: defaults, good files (including the shipped
 * config/aks-backup-companion.yaml), every error kind with its exact line
 * and column, environment overrides, flags, validation and the summary. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/selector.h"

#define CFG FIXTURES "/config/"

static void assert_defaults(const struct config *c)
{
    ck_assert_str_eq(c->cluster.region, "");
    ck_assert_str_eq(c->cluster.subscription_id, "");
    ck_assert_str_eq(c->cluster.identity, "");
    ck_assert_str_eq(c->vault.region, "");
    ck_assert_int_eq(c->vault.backup_policies, -1);
    ck_assert_int_eq(c->vault.backup_instances, -1);
    ck_assert_str_eq(c->vault.backup_schedule, "");
    ck_assert(!c->vault.has_schedule);
    /* -1: the edition's default, 120 minutes under 2026-01 (the default edition) */
    ck_assert_int_eq(c->vault.schedule_tolerance_minutes, -1);
    ck_assert_str_eq(c->matrix.edition, "2026-01");
    ck_assert(c->vault.tier_operational && !c->vault.tier_vault);
    ck_assert_uint_eq(c->vault.n_backup_namespaces, 0);
    ck_assert_str_eq(c->storage.kind, "");
    ck_assert_str_eq(c->storage.sku, "");
    ck_assert_str_eq(c->driver.azure_files_version, "");
    ck_assert_str_eq(c->storage.region, "");
    ck_assert_str_eq(c->extension.namespace_, "dataprotection-microsoft");
    ck_assert_str_eq(c->extension.pod_selector,
                     "app.kubernetes.io/name=dataprotection-microsoft-kubernetes");
    ck_assert_int_eq(c->limits.on_demand_backups_per_day, 10);
    ck_assert_int_eq(c->limits.restores_per_day, 10);
    ck_assert_int_eq(c->limits.backup_policies_per_vault, 5000);
    ck_assert_int_eq(c->limits.backup_instances_per_vault, 5000);
    ck_assert_int_eq(c->limits.snapshots_per_disk, 500);
    ck_assert_double_eq(c->limits.warn_ratio, 0.8);
    ck_assert_str_eq(c->limits.day_boundary, "UTC");
    ck_assert_int_eq(config_day_offset(c), 0);
    ck_assert_uint_eq(c->accounting.n_sources, 2);
    const struct config_source *b = &c->accounting.sources[0], *r = &c->accounting.sources[1];
    ck_assert_str_eq(b->name, "velero-backups");
    ck_assert_int_eq(b->operation, CONFIG_OP_BACKUP);
    ck_assert_str_eq(b->group, "velero.io");
    ck_assert_str_eq(b->version, "v1");
    ck_assert_str_eq(b->resource, "backups");
    ck_assert_str_eq(b->namespace_, "");
    ck_assert_str_eq(b->on_demand, "label-absent:velero.io/schedule-name");
    ck_assert_int_eq(b->match, CONFIG_MATCH_LABEL_ABSENT);
    ck_assert_str_eq(b->match_key, "velero.io/schedule-name");
    ck_assert_str_eq(b->instance, "constant:default");
    ck_assert_int_eq(b->instance_kind, CONFIG_INSTANCE_CONSTANT);
    ck_assert_str_eq(b->instance_arg, "default");
    ck_assert_str_eq(r->name, "velero-restores");
    ck_assert_int_eq(r->operation, CONFIG_OP_RESTORE);
    ck_assert_str_eq(r->resource, "restores");
    ck_assert_int_eq(r->match, CONFIG_MATCH_ALWAYS);
    ck_assert_str_eq(c->accounting.state_file, "/var/lib/aks-backup-companion/quota.json");
    ck_assert_str_eq(c->accounting.state_configmap, "");
    ck_assert_str_eq(c->api.token_file, "");
    ck_assert_str_eq(c->http.listen, "0.0.0.0:8080");
    ck_assert_int_eq(c->http.max_connections, 64);
    ck_assert_int_eq(c->http.read_timeout_seconds, 10);
    ck_assert(!c->leader_election.enabled);
    ck_assert_str_eq(c->leader_election.lease_name, "aks-backup-companion");
    ck_assert_str_eq(c->leader_election.lease_namespace, "");
    ck_assert_int_eq(c->leader_election.lease_duration_seconds, 15);
    ck_assert_int_eq(c->leader_election.renew_deadline_seconds, 10);
    ck_assert_int_eq(c->leader_election.retry_period_seconds, 2);
    ck_assert_str_eq(c->regions_file, "/etc/aks-backup-companion/regions.txt");
    ck_assert_str_eq(c->admission.warnings_configmap, "aks-backup-companion-storage-classes");
    ck_assert_str_eq(c->log.level, "info");
    ck_assert_str_eq(c->log.format, "json");
    ck_assert_int_eq(c->log.level_v, LOG_INFO);
    ck_assert_int_eq(c->log.format_v, LOG_FORMAT_JSON);
}

START_TEST(defaults)
{
    struct config c;
    struct config_err e;
    ck_assert_int_eq(config_defaults(&c), 0);
    assert_defaults(&c);
    ck_assert_int_eq(config_validate(&c, &e), 0);
    char s[512];
    config_summary(&c, s, sizeof s);
    ck_assert_str_eq(s, "config OK: (defaults): listen 0.0.0.0:8080, 2 accounting sources, "
                        "day boundary UTC, leader election off, write API disabled, "
                        "backup schedule unknown");
    ck_assert(c.kubernetes.http2); /* HTTP/2 when the server offers it */
    config_free(&c);
    config_free(&c); /* twice is safe */
}
END_TEST

static void load_ok(struct config *c, const char *path)
{
    struct config_err e = {0};
    char buf[1024];
    ck_assert_int_eq(config_defaults(c), 0);
    int rc = config_load_file(c, path, &e);
    config_err_format(&e, buf, sizeof buf);
    ck_assert_msg(rc == 0, "%s: %s", path, buf);
    rc = config_validate(c, &e);
    config_err_format(&e, buf, sizeof buf);
    ck_assert_msg(rc == 0, "%s: %s", path, buf);
}

START_TEST(empty_and_comment_files)
{
    struct config c;
    load_ok(&c, CFG "empty.yaml");
    assert_defaults(&c);
    config_free(&c);
    load_ok(&c, CFG "comments.yaml");
    assert_defaults(&c);
    config_free(&c);
}
END_TEST

START_TEST(shipped_file)
{
    struct config c;
    load_ok(&c, SRCROOT "/config/aks-backup-companion.yaml");
    assert_defaults(&c);
    /* Field for field the same as the built-in defaults. */
    struct config d;
    ck_assert_int_eq(config_defaults(&d), 0);
    ck_assert_uint_eq(c.accounting.n_sources, d.accounting.n_sources);
    ck_assert_int_eq(memcmp(c.accounting.sources, d.accounting.sources,
                            d.accounting.n_sources * sizeof *d.accounting.sources),
                     0);
    config_free(&d);
    config_free(&c);
}
END_TEST

START_TEST(full_file)
{
    struct config c;
    load_ok(&c, CFG "full.yaml");
    ck_assert_str_eq(c.cluster.region, "West Europe");
    ck_assert_str_eq(c.cluster.subscription_id, "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f");
    ck_assert_str_eq(c.cluster.identity, "system");
    ck_assert_str_eq(c.vault.subscription_id, "6B0F2F3E-8C1D-4A5B-9E7F-2D3C4B5A6E7F");
    ck_assert_int_eq(c.vault.backup_policies, 12);
    ck_assert_int_eq(c.vault.backup_instances, 40);
    ck_assert(c.vault.has_schedule);
    ck_assert_int_eq(c.vault.schedule.period, 4 * 3600);
    ck_assert_int_eq(c.vault.schedule.start, 1767232800); /* 2026-01-01T02:00:00Z */
    ck_assert_int_eq(c.vault.schedule_tolerance_minutes, 45);
    ck_assert_str_eq(c.storage.subscription_id, "00000000-0000-0000-0000-000000000001");
    ck_assert_str_eq(c.extension.namespace_, "backup-ext");
    ck_assert_str_eq(c.extension.pod_selector, "app=velero");
    ck_assert_int_eq(c.limits.on_demand_backups_per_day, 5);
    ck_assert_int_eq(c.limits.restores_per_day, 7);
    ck_assert_int_eq(c.limits.backup_policies_per_vault, 100);
    ck_assert_int_eq(c.limits.backup_instances_per_vault, 200);
    ck_assert_int_eq(c.limits.snapshots_per_disk, 450);
    ck_assert_double_eq(c.limits.warn_ratio, 0.9);
    ck_assert_int_eq(config_day_offset(&c), 19800);
    ck_assert_uint_eq(c.accounting.n_sources, 3);
    const struct config_source *s = c.accounting.sources;
    ck_assert_str_eq(s[0].namespace_, "dataprotection-microsoft");
    ck_assert_int_eq(s[0].match, CONFIG_MATCH_LABEL_EQ);
    ck_assert_str_eq(s[0].match_key, "app.example.com/kind");
    ck_assert_str_eq(s[0].match_value, "manual");
    ck_assert_int_eq(s[0].instance_kind, CONFIG_INSTANCE_LABEL);
    ck_assert_str_eq(s[0].instance_arg, "app.example.com/instance");
    ck_assert_str_eq(s[1].name, "custom-restores");
    ck_assert_int_eq(s[1].operation, CONFIG_OP_RESTORE);
    ck_assert_str_eq(s[1].version, "v1beta1");
    ck_assert_int_eq(s[1].match, CONFIG_MATCH_FIELD_EQ);
    ck_assert_str_eq(s[1].match_key, "spec.trigger");
    ck_assert_str_eq(s[1].match_value, "manual");
    ck_assert_int_eq(s[1].instance_kind, CONFIG_INSTANCE_FIELD);
    ck_assert_str_eq(s[1].instance_arg, "spec.target.name");
    ck_assert_str_eq(s[2].group, "");
    ck_assert_int_eq(s[2].match, CONFIG_MATCH_LABEL_PRESENT);
    ck_assert_str_eq(s[2].match_key, "backup-now");
    ck_assert_int_eq(s[2].instance_kind, CONFIG_INSTANCE_CONSTANT); /* default */
    ck_assert_str_eq(s[2].instance_arg, "default");
    ck_assert_str_eq(c.accounting.state_file, "/data/quota.json");
    ck_assert_str_eq(c.accounting.state_configmap, "abc-quota");
    ck_assert_str_eq(c.api.token_file, "/var/run/secrets/abc/token");
    ck_assert_str_eq(c.http.listen, "127.0.0.1:9090");
    ck_assert_int_eq(c.http.max_connections, 128);
    ck_assert_int_eq(c.http.read_timeout_seconds, 5);
    ck_assert(c.leader_election.enabled);
    ck_assert_str_eq(c.leader_election.lease_name, "abc-leader");
    ck_assert_str_eq(c.leader_election.lease_namespace, "kube-system");
    ck_assert_int_eq(c.leader_election.lease_duration_seconds, 30);
    ck_assert_int_eq(c.leader_election.renew_deadline_seconds, 20);
    ck_assert_int_eq(c.leader_election.retry_period_seconds, 5);
    ck_assert_str_eq(c.regions_file, "/opt/abc/regions.txt");
    ck_assert_str_eq(c.admission.warnings_configmap, "");
    ck_assert_int_eq(c.log.level_v, LOG_DEBUG);
    ck_assert_int_eq(c.log.format_v, LOG_FORMAT_TEXT);
    char sum[512];
    config_summary(&c, sum, sizeof sum);
    ck_assert_str_eq(sum, "config OK: " CFG "full.yaml: listen 127.0.0.1:9090, 3 accounting "
                          "sources, day boundary +05:30, leader election on, write API "
                          "enabled, backup schedule R/2026-01-01T02:00:00+00:00/PT4H");

    struct config copy;
    ck_assert_int_eq(config_copy(&copy, &c), 0);
    ck_assert_ptr_ne(copy.accounting.sources, c.accounting.sources);
    config_free(&c);
    ck_assert_str_eq(copy.accounting.sources[1].name, "custom-restores");
    config_free(&copy);
}
END_TEST

/* The shipped file documents every scalar key with its variable. */
START_TEST(shipped_file_documents_every_key)
{
    FILE *f = fopen(SRCROOT "/config/aks-backup-companion.yaml", "r");
    ck_assert_ptr_nonnull(f);
    static char text[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    char dotted[96], env[96], want[128];
    size_t n = 0;
    for (; config_key_at(n, dotted, sizeof dotted, env, sizeof env) == 0; n++) {
        const char *dot = strchr(dotted, '.');
        snprintf(want, sizeof want, "\n%s%s:", dot ? "  " : "", dot ? dot + 1 : dotted);
        ck_assert_msg(strstr(text, want), "key %s not in the shipped file", dotted);
        snprintf(want, sizeof want, "Env: %s\n", env);
        ck_assert_msg(strstr(text, want), "variable %s (%s) not documented", env, dotted);
    }
    ck_assert_uint_eq(n, 57);
    ck_assert_int_eq(config_key_at(0, dotted, sizeof dotted, env, sizeof env), 0);
    ck_assert_str_eq(dotted, "cluster.region");
    ck_assert_str_eq(env, "ABC_CLUSTER_REGION");
}
END_TEST

/* ---- error files: exact position and message ---- */

struct bad_file {
    const char *file;
    int line, col;
    const char *msg; /* substring of the formatted error */
};

static const struct bad_file bad_files[] = {
    {"bad_unknown_key.yaml", 2, 3,
     "unknown key 'lisen' in section 'http'; did you mean 'listen'? (expected one of: listen, "
     "health_listen, max_connections, max_connections_per_client, read_timeout_seconds, "
     "tls_cert_file, tls_key_file)"},
    {"bad_type.yaml", 3, 20, "http.max_connections: 'lots' is not an integer (expected an integer"},
    {"bad_range.yaml", 2, 15,
     "limits.warn_ratio: 1.5 is out of range (expected a number with 0 < "
     "warn_ratio <= 1)"},
    {"bad_matcher.yaml", 8, 18,
     "accounting source #1: invalid on_demand "
     "'label-missing:velero.io/schedule-name': unknown matcher"},
    {"bad_schedule.yaml", 3, 20,
     "vault.backup_schedule: invalid value "
     "'R/2026-01-01T02:00:00+00:00/P1M': years and months"},
    {"bad_day_boundary.yaml", 2, 17, "limits.day_boundary: invalid value '+5:30'"},
    {"bad_duplicate.yaml", 4, 3, "duplicate key 'listen' in section 'http' (first at line 2)"},
    {"bad_syntax.yaml", 3, 4, "YAML syntax error: did not find expected ',' or ']'"},
    {"bad_tab.yaml", 2, 1, "tab character in indentation"},
    {"bad_lease.yaml", 4, 27,
     "leader_election.renew_deadline_seconds: 10 is not less than "
     "lease_duration_seconds 10"},
};

START_TEST(error_files)
{
    const struct bad_file *b = &bad_files[_i];
    char path[512], buf[1024], want[1200];
    struct config c;
    struct config_err e;
    snprintf(path, sizeof path, CFG "%s", b->file);
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(config_defaults(&c), 0);
    int rc = config_load_file(&c, path, &e);
    if (rc == 0)
        rc = config_validate(&c, &e);
    config_free(&c);
    ck_assert_int_eq(rc, -EINVAL);
    config_err_format(&e, buf, sizeof buf);
    ck_assert_str_eq(e.file, path);
    ck_assert_msg(e.line == b->line && e.col == b->col, "%s: got %d:%d, want %d:%d (%s)", b->file,
                  e.line, e.col, b->line, b->col, buf);
    snprintf(want, sizeof want, "%s:%d:%d: ", path, b->line, b->col);
    ck_assert_msg(strncmp(buf, want, strlen(want)) == 0, "prefix: %s", buf);
    ck_assert_msg(strstr(buf, b->msg), "%s: message '%s' lacks '%s'", b->file, buf, b->msg);
    ck_assert_msg(strstr(buf, "(expected "), "no expected part: %s", buf);
}
END_TEST

START_TEST(missing_file)
{
    struct config c;
    struct config_err e;
    char buf[1024];
    ck_assert_int_eq(config_defaults(&c), 0);
    ck_assert_int_eq(config_load_file(&c, CFG "does-not-exist.yaml", &e), -ENOENT);
    config_err_format(&e, buf, sizeof buf);
    ck_assert_str_eq(buf,
                     CFG "does-not-exist.yaml: cannot read config file: No such file or directory");
    config_free(&c);
}
END_TEST

/* ---- inline error cases ---- */

struct bad_text {
    const char *yaml;
    int line, col;
    const char *msg;
};

static const struct bad_text bad_texts[] = {
    {"http:\n  listen:\n    host: a\n", 3, 5,
     "http.listen: got a mapping (expected a single value: HOST:PORT"},
    {"http:\n  listen: [a, b]\n", 2, 11, "http.listen: got a list (expected a single value"},
    {"http: 8080\n", 1, 7, "section 'http': got a scalar (expected a mapping of keys)"},
    {"http:\n  max_connections: \"64\"\n", 2, 20, "got the string '64', not a number"},
    {"http:\n  max_connections: 0\n", 2, 20, "http.max_connections: 0 is out of range"},
    {"http:\n  max_connections:\n", 2, 19, "got null, not a number"},
    {"http:\n  listen: 0.0.0.0:70000\n", 2, 11, "expected HOST:PORT with a port from 0 to 65535"},
    {"http:\n  listen: localhost\n", 2, 11, "http.listen: invalid value 'localhost'"},
    {"http:\n  listen: :8080\n", 2, 11, "http.listen: invalid value ':8080'"},
    {"leader_election:\n  enabled: yes\n", 2, 12,
     "'yes' is not a boolean (expected true or false)"},
    {"leader_election:\n  enabled: \"true\"\n", 2, 12, "the string 'true' is not a boolean"},
    {"leader_election:\n  retry_period_seconds: 10\n", 2, 25,
     "retry_period_seconds: 10 is not less than renew_deadline_seconds 10"},
    {"leader-election:\n  enabled: true\n", 1, 1,
     "unknown top-level key 'leader-election'; did you mean 'leader_election'?"},
    {"region_file: /x\n", 1, 1, "did you mean 'regions_file'?"},
    {"vault:\n  backup_policies: -2\n", 2, 20,
     "vault.backup_policies: -2 is out of range (expected an integer >= -1"},
    {"vault:\n  backup_schedule: R/2026-01-01T02:00:00/PT4H\n", 2, 20, "start is not an RFC 3339"},
    {"vault:\n  subscription_id: not-a-guid\n", 2, 20, "not a GUID"},
    {"cluster:\n  identity: managed\n", 2, 13,
     "(expected system, user, service-principal or \"\")"},
    {"limits:\n  warn_ratio: 0\n", 2, 15, "limits.warn_ratio: 0 is out of range"},
    {"limits:\n  snapshots_per_disk: -5\n", 2, 23, "out of range (expected an integer from 1 to"},
    {"limits:\n  day_boundary: \"+15:00\"\n", 2, 17, "invalid value '+15:00'"},
    {"log:\n  level: verbose\n", 2, 10, "(expected debug, info, warn or error)"},
    {"kubernetes:\n  http2: h1\n", 2, 10, "kubernetes.http2: 'h1' is not a boolean (expected true or false)"},
    {"kubernetes:\n  http_2: false\n", 2, 3, "did you mean 'http2'?"},
    {"log:\n  format: xml\n", 2, 11, "(expected json or text)"},
    {"extension:\n  namespace: Bad_NS\n", 2, 14, "not a namespace name"},
    {"accounting:\n  sources:\n    - name: a\n      operation: delete\n      version: v1\n      "
     "resource: x\n",
     4, 18, "invalid operation 'delete' (expected backup or restore)"},
    {"accounting:\n  sources:\n    - name: a\n      operation: backup\n      version: v1\n", 3, 7,
     "accounting source #1: missing 'resource'"},
    {"accounting:\n  sources:\n    - name: a\n      operation: backup\n      version: v1\n      "
     "resource: x\n      instanse: constant:a\n",
     7, 7, "unknown key 'instanse' in an accounting source; did you mean 'instance'?"},
    {"accounting:\n  sources:\n    - name: a\n      operation: backup\n      version: v1\n      "
     "resource: x\n      instance: \"cluster:x\"\n",
     7, 17, "invalid instance 'cluster:x': unknown instance kind"},
    {"accounting:\n  sources:\n    - name: a\n      operation: backup\n      version: v1\n      "
     "resource: x\n      on_demand: \"label:=v\"\n",
     7, 18, "missing or invalid label key"},
    {"accounting:\n  sources:\n    - name: a\n      operation: backup\n      version: v1\n      "
     "resource: x\n      on_demand: \"field:spec..x=v\"\n",
     7, 18, "missing or invalid field path"},
    {"accounting:\n  sources:\n    - {name: a, operation: backup, version: v1, resource: x}\n    - "
     "{name: a, operation: restore, version: v1, resource: y}\n",
     4, 7, "accounting source #2: name 'a' is already used by source #1"},
    {"accounting:\n  sources:\n    - {name: a, operation: backup, version: v1, resource: x, "
     "namespace: NS}\n",
     3, 73, "accounting source #1: invalid namespace 'NS'"},
    {"accounting:\n  sources: velero\n", 2, 12,
     "accounting.sources: got a scalar (expected a list of sources)"},
    {"accounting:\n  sources:\n    - velero\n", 3, 7,
     "accounting source #1: got a scalar (expected a mapping with keys"},
    {"accounting:\n  state_file: \"\"\n", 2, 15,
     "accounting.state_file: empty while state_configmap is empty"},
    {"- http\n", 1, 1, "the top level is a list (expected a mapping of sections)"},
    {"log:\n  level: info\n---\nlog:\n  level: debug\n", 3, 1, "a second YAML document"},
    {"log:\n  level: info\n  level: debug\n", 3, 3, "duplicate key 'level' in section 'log'"},
    {"http:\n  listen: \"0.0.0.0:8080\n", 3, 1,
     "YAML syntax error: found unexpected end of stream"},
    {"http:\n  listen: 0.0.0.0:8080\n   max_connections: 5\n", 3, 19, "YAML syntax error"},
    {"log:\n  level: info\n  \tformat: text\n", 3, 3, "tab character in indentation"},
    {"vault:\r\n  backup_policies: many\r\n", 2, 20, "'many' is not an integer"},
    {"azure:\n  enabled: true\n", 2, 12, "azure.enabled: true without azure.vault_id"},
    {"azure:\n  vault_id: /subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/"
     "storageAccounts/s\n", 2, 13, "not an ARM resource id"},
    {"azure:\n  cluster_id: /subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/"
     "managedClusters/a/b\n", 2, 15, "Microsoft.ContainerService/managedClusters/<name>"},
    {"azure:\n  resource_manager_url: management.azure.com\n", 2, 25, "not an http:// or https:// URL"},
    {"azure:\n  poll_seconds: 2\n", 2, 17, "azure.poll_seconds: 2 is out of range"},
    {"azure:\n  jobs_poll_secs: 60\n", 2, 3, "did you mean 'jobs_poll_seconds'?"},
};

START_TEST(error_texts)
{
    const struct bad_text *b = &bad_texts[_i];
    struct config c;
    struct config_err e;
    char buf[1024];
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(config_defaults(&c), 0);
    int rc = config_load_string(&c, "t.yaml", b->yaml, strlen(b->yaml), &e);
    if (rc == 0)
        rc = config_validate(&c, &e);
    config_free(&c);
    config_err_format(&e, buf, sizeof buf);
    ck_assert_msg(rc == -EINVAL, "case %d accepted: %s", _i, b->yaml);
    ck_assert_msg(e.line == b->line && e.col == b->col, "case %d: got %d:%d, want %d:%d (%s)", _i,
                  e.line, e.col, b->line, b->col, buf);
    ck_assert_msg(strstr(buf, b->msg), "case %d: '%s' lacks '%s'", _i, buf, b->msg);
    ck_assert_msg(strncmp(buf, "t.yaml:", 7) == 0, "case %d: %s", _i, buf);
    ck_assert_msg(strstr(buf, "(expected "), "case %d: no expected part: %s", _i, buf);
}
END_TEST

START_TEST(good_texts)
{
    static const char *good[] = {
        "~\n",
        "http:\n",
        "vault:\n  backup_schedule: \"\"\n",
        "vault:\n  backup_schedule: R5/2026-01-01T02:00:00Z/P1W\n  subscription_id: \"\"\n",
        "limits:\n  day_boundary: \"-08:00\"\n  warn_ratio: 1\n",
        "http:\n  listen: \"[::]:0\"\n",
        "accounting:\n  sources: []\n  state_file: \"\"\n  state_configmap: abc-quota\n",
        "leader_election:\n  enabled: True\n",
        "kubernetes:\n  http2: false\n",
        "regions_file: /tmp/r.txt # comment\n",
        "azure:\n  enabled: true\n  vault_id: /subscriptions/6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f/"
        "resourcegroups/rg/providers/Microsoft.DataProtection/BackupVaults/v1\n"
        "  authority_host: http://127.0.0.1:9/\n  jobs_poll_seconds: 5\n",
        "a: &x info\nlog:\n  level: *x\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct config c;
        struct config_err e = {0}; /* formatted below also on success */
        char buf[1024];
        ck_assert_int_eq(config_defaults(&c), 0);
        int rc = config_load_string(&c, "g.yaml", good[i], strlen(good[i]), &e);
        if (rc == 0)
            rc = config_validate(&c, &e);
        config_err_format(&e, buf, sizeof buf);
        /* The anchor case puts an unknown top-level key first on purpose. */
        if (i == sizeof good / sizeof good[0] - 1) {
            ck_assert_int_eq(rc, -EINVAL);
            ck_assert_ptr_nonnull(strstr(buf, "unknown top-level key 'a'"));
        } else {
            ck_assert_msg(rc == 0, "good case %zu rejected: %s", i, buf);
        }
        if (strstr(good[i], "http2"))
            ck_assert(!c.kubernetes.http2);
        if (i == 4)
            ck_assert_int_eq(config_day_offset(&c), -28800);
        if (i == 6)
            ck_assert_uint_eq(c.accounting.n_sources, 0);
        if (i == 3) {
            ck_assert_int_eq(c.vault.schedule.count, 5);
            ck_assert_int_eq(c.vault.schedule.period, 7 * 86400);
        }
        config_free(&c);
    }
}
END_TEST

/* ---- environment and flags ---- */

START_TEST(env_overrides)
{
    struct config c;
    struct config_err e;
    char unknown[256];
    char *env[] = {
        "PATH=/usr/bin",
        "ABC_HTTP_LISTEN=127.0.0.1:9999",
        "ABC_LEADER_ELECTION_ENABLED=true",
        "ABC_LEADER_ELECTION_LEASE_DURATION_SECONDS=60",
        "ABC_ACCOUNTING_STATE_FILE=/tmp/q.json",
        "ABC_REGIONS_FILE=/tmp/regions.txt",
        "ABC_LOG_LEVEL=warn",
        "ABC_ADMISSION_WARNINGS_CONFIGMAP=",
        "ABC_VAULT_BACKUP_SCHEDULE=R/2026-01-01T02:00:00Z/P1D",
        "ABC_LIMITS_WARN_RATIO=0.5",
        "ABC_TEST_NOW=2026-03-14T10:00:00Z",
        "ABC_LISTEN=1.2.3.4:1",
        "ABC_HTTP_LISTENER=x",
        NULL,
    };
    load_ok(&c, CFG "full.yaml");
    ck_assert_int_eq(config_apply_env(&c, env, &e, unknown, sizeof unknown), 0);
    ck_assert_str_eq(c.http.listen, "127.0.0.1:9999");
    ck_assert(c.leader_election.enabled);
    ck_assert_int_eq(c.leader_election.lease_duration_seconds, 60);
    ck_assert_str_eq(c.accounting.state_file, "/tmp/q.json");
    ck_assert_str_eq(c.regions_file, "/tmp/regions.txt");
    ck_assert_int_eq(c.log.level_v, LOG_WARN);
    ck_assert_str_eq(c.admission.warnings_configmap, "");
    ck_assert(c.vault.has_schedule);
    ck_assert_int_eq(c.vault.schedule.period, 86400);
    ck_assert_double_eq(c.limits.warn_ratio, 0.5);
    ck_assert_str_eq(unknown, "ABC_LISTEN ABC_HTTP_LISTENER");
    /* The file's value stays where no variable is set. */
    ck_assert_int_eq(c.http.max_connections, 128);
    config_free(&c);

    char *env2[] = {"ABC_LEADER_ELECTION_ENABLED=false", NULL};
    ck_assert_int_eq(config_defaults(&c), 0);
    c.leader_election.enabled = true;
    ck_assert_int_eq(config_apply_env(&c, env2, &e, NULL, 0), 0);
    ck_assert(!c.leader_election.enabled);
    config_free(&c);
}
END_TEST

START_TEST(env_errors)
{
    struct config c;
    struct config_err e;
    char buf[1024];
    char *bad_listen[] = {"ABC_HTTP_LISTEN=nonsense", NULL};
    ck_assert_int_eq(config_defaults(&c), 0);
    ck_assert_int_eq(config_apply_env(&c, bad_listen, &e, NULL, 0), -EINVAL);
    config_err_format(&e, buf, sizeof buf);
    ck_assert_int_eq(e.line, 0);
    ck_assert_str_eq(buf, "ABC_HTTP_LISTEN: invalid value 'nonsense': not HOST:PORT (expected "
                          "HOST:PORT with a port from 0 to 65535)");
    ck_assert_str_eq(c.http.listen, "0.0.0.0:8080"); /* unchanged */

    char *bad_bool[] = {"ABC_LEADER_ELECTION_ENABLED=1", NULL};
    ck_assert_int_eq(config_apply_env(&c, bad_bool, &e, NULL, 0), -EINVAL);
    config_err_format(&e, buf, sizeof buf);
    ck_assert_str_eq(buf,
                     "ABC_LEADER_ELECTION_ENABLED: '1' is not a boolean (expected true or false)");

    char *bad_int[] = {"ABC_HTTP_MAX_CONNECTIONS=", NULL};
    ck_assert_int_eq(config_apply_env(&c, bad_int, &e, NULL, 0), -EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "ABC_HTTP_MAX_CONNECTIONS: '' is not an integer"));

    char *list[] = {"ABC_ACCOUNTING_SOURCES=x", NULL};
    ck_assert_int_eq(config_apply_env(&c, list, &e, NULL, 0), -EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "ABC_ACCOUNTING_SOURCES: lists cannot be set"));

    /* A cross-key error caused by a variable names the variable. */
    char *renew[] = {"ABC_LEADER_ELECTION_RENEW_DEADLINE_SECONDS=20", NULL};
    ck_assert_int_eq(config_apply_env(&c, renew, &e, NULL, 0), 0);
    ck_assert_int_eq(config_validate(&c, &e), -EINVAL);
    config_err_format(&e, buf, sizeof buf);
    ck_assert_msg(strncmp(buf,
                          "ABC_LEADER_ELECTION_RENEW_DEADLINE_SECONDS: 20 is not less than "
                          "lease_duration_seconds 15",
                          87) == 0,
                  "%s", buf);
    config_free(&c);
}
END_TEST

START_TEST(set_and_load_order)
{
    struct config c;
    struct config_err e;
    char buf[1024];
    ck_assert_int_eq(config_defaults(&c), 0);
    ck_assert_int_eq(config_set(&c, "http.listen", "127.0.0.1:1234", &e), 0);
    ck_assert_str_eq(c.http.listen, "127.0.0.1:1234");
    ck_assert_int_eq(config_set(&c, "log.format", "text", &e), 0);
    ck_assert_int_eq(c.log.format_v, LOG_FORMAT_TEXT);
    ck_assert_int_eq(config_set(&c, "regions_file", "/r.txt", &e), 0);
    ck_assert_str_eq(c.regions_file, "/r.txt");
    ck_assert_int_eq(config_set(&c, "log.level", "loud", &e), -EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "log.level: invalid value 'loud'"));
    ck_assert_int_eq(config_set(&c, "http.lisen", "x", &e), -ENOENT);
    ck_assert_ptr_nonnull(strstr(e.msg, "unknown key 'http.lisen'; did you mean 'listen'?"));
    ck_assert_int_eq(config_set(&c, "htp.listen", "x", &e), -ENOENT);
    config_free(&c);

    /* defaults -> file -> env -> flags, then validate. */
    char *env[] = {"ABC_HTTP_LISTEN=10.0.0.1:1", "ABC_HTTP_MAX_CONNECTIONS=7", "ABC_FOO=1", NULL};
    struct config_flag flags[] = {{"http.listen", "10.0.0.2:2"}, {"log.level", NULL}};
    char unknown[64];
    ck_assert_int_eq(config_load(&c, CFG "full.yaml", env, flags, 2, &e, unknown, sizeof unknown),
                     0);
    ck_assert_str_eq(c.http.listen, "10.0.0.2:2");
    ck_assert_int_eq(c.http.max_connections, 7);
    ck_assert_int_eq(c.http.read_timeout_seconds, 5); /* file */
    ck_assert_int_eq(c.limits.snapshots_per_disk, 450);
    ck_assert_int_eq(c.log.level_v, LOG_DEBUG); /* flag not given */
    ck_assert_str_eq(unknown, "ABC_FOO");
    config_free(&c);

    ck_assert_int_eq(config_load(&c, NULL, NULL, NULL, 0, &e, NULL, 0), 0);
    assert_defaults(&c);
    config_free(&c);

    ck_assert_int_eq(config_load(&c, CFG "bad_lease.yaml", NULL, NULL, 0, &e, NULL, 0), -EINVAL);
    ck_assert_int_eq(e.line, 4);
    ck_assert_ptr_null(c.accounting.sources);
    /* A flag can repair what the file got wrong before validation. */
    struct config_flag fix[] = {{"leader_election.renew_deadline_seconds", "8"}};
    ck_assert_int_eq(config_load(&c, CFG "bad_lease.yaml", NULL, fix, 1, &e, NULL, 0), 0);
    config_free(&c);
    ck_assert_int_eq(config_load(&c, CFG "nope.yaml", NULL, NULL, 0, &e, NULL, 0), -ENOENT);
    config_err_format(&e, buf, sizeof buf);
    ck_assert_ptr_nonnull(strstr(buf, "nope.yaml: cannot read config file"));
}
END_TEST

/* ---- small parsers ---- */

START_TEST(parsers)
{
    int off, port;
    char host[64];
    ck_assert_int_eq(config_parse_day_boundary("UTC", &off), 0);
    ck_assert_int_eq(off, 0);
    ck_assert_int_eq(config_parse_day_boundary("+05:30", &off), 0);
    ck_assert_int_eq(off, 19800);
    ck_assert_int_eq(config_parse_day_boundary("-08:00", &off), 0);
    ck_assert_int_eq(off, -28800);
    ck_assert_int_eq(config_parse_day_boundary("+14:00", &off), 0);
    static const char *bad_day[] = {"",       "utc",    "+5:30",   "05:30",
                                    "+05:60", "+15:00", "+05:30x", "+0530"};
    for (size_t i = 0; i < sizeof bad_day / sizeof bad_day[0]; i++)
        ck_assert_msg(config_parse_day_boundary(bad_day[i], &off) == -EINVAL, "%s", bad_day[i]);

    ck_assert_int_eq(config_parse_listen("0.0.0.0:8080", host, sizeof host, &port), 0);
    ck_assert_str_eq(host, "0.0.0.0");
    ck_assert_int_eq(port, 8080);
    ck_assert_int_eq(config_parse_listen("[::1]:0", host, sizeof host, &port), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_int_eq(port, 0);
    ck_assert_int_eq(config_parse_listen("localhost:65535", host, sizeof host, &port), 0);
    static const char *bad_listen[] = {"",        ":80",    "host",    "host:",  "host:65536",
                                       "host:-1", "::1:80", "[::1]80", "a b:80", "host:8o"};
    for (size_t i = 0; i < sizeof bad_listen / sizeof bad_listen[0]; i++)
        ck_assert_msg(config_parse_listen(bad_listen[i], host, sizeof host, &port) == -EINVAL, "%s",
                      bad_listen[i]);

    struct config_source s;
    char why[128];
    ck_assert_int_eq(config_parse_matcher("label:a=", &s, why, sizeof why), 0);
    ck_assert_int_eq(s.match, CONFIG_MATCH_LABEL_EQ);
    ck_assert_str_eq(s.match_value, "");
    ck_assert_int_eq(config_parse_matcher("field:metadata.annotations.x=a=b", &s, why, sizeof why),
                     0);
    ck_assert_str_eq(s.match_key, "metadata.annotations.x");
    ck_assert_str_eq(s.match_value, "a=b");
    static const char *bad_m[] = {"",        "Always",   "label-absent:", "label-present:",
                                  "label:k", "field:=v", "field:.a=v",    "labels:k=v"};
    for (size_t i = 0; i < sizeof bad_m / sizeof bad_m[0]; i++)
        ck_assert_msg(config_parse_matcher(bad_m[i], &s, why, sizeof why) == -EINVAL, "%s",
                      bad_m[i]);
    static const char *bad_i[] = {
        "", "constant:", "constant:a/b", "label:", "field:", "field:a..b", "default"};
    for (size_t i = 0; i < sizeof bad_i / sizeof bad_i[0]; i++)
        ck_assert_msg(config_parse_instance(bad_i[i], &s, why, sizeof why) == -EINVAL, "%s",
                      bad_i[i]);

    ck_assert_uint_eq(config_edit_distance("lisen", "listen"), 1);
    ck_assert_uint_eq(config_edit_distance("", "abc"), 3);
    ck_assert_uint_eq(config_edit_distance("kitten", "sitting"), 3);
}
END_TEST

/* The API server's label-selector grammar (apimachinery labels.Parse). */
START_TEST(label_selectors)
{
    static const char *good[] = {
        "app=x", "app==x", "app!=x", "app", "!app", "app=", "a.b/c-d_e.f=v_1.2-3",
        "app.kubernetes.io/name=dataprotection-microsoft", " a = b , c in (x, y) ,!d ",
        "tier notin (a,b)", "n>3", "n < -1", "k in (a,)",
    };
    static const struct {
        const char *s;
        unsigned at; /* 1-based character the message names */
    } bad[] = {
        {"", 1},         {"  ", 3},        {"app in (a", 10},  {"!!x", 2},
        {"a=b c", 5},    {"a=b,", 5},      {"-a=b", 1},        {"A_/b=c", 1},
        {"a/b/c=d", 1},  {"a=b/c", 3},     {"a in b", 6},      {"a>x", 3},
        {"a=-b", 3},     {"a@b", 2},         {"app in ( )", 10},
    };
    char why[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(label_selector_check(good[i], why, sizeof why) == 0, "%s: %s", good[i], why);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(label_selector_check(bad[i].s, why, sizeof why) == -EINVAL, "%s", bad[i].s);
        char at[32];
        snprintf(at, sizeof at, "at character %u ", bad[i].at);
        ck_assert_msg(strstr(why, at), "'%s': %s", bad[i].s, why);
    }
    char big[100];
    memset(big, 'a', 64);
    snprintf(big + 64, sizeof big - 64, "=x");
    ck_assert_int_eq(label_selector_check(big, why, sizeof why), -EINVAL); /* name > 63 */
}
END_TEST

int main(void)
{
    Suite *su = suite_create("config");
    TCase *tc = tcase_create("good");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, empty_and_comment_files);
    tcase_add_test(tc, shipped_file);
    tcase_add_test(tc, shipped_file_documents_every_key);
    tcase_add_test(tc, full_file);
    tcase_add_test(tc, good_texts);
    suite_add_tcase(su, tc);
    tc = tcase_create("errors");
    tcase_add_loop_test(tc, error_files, 0, (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_loop_test(tc, error_texts, 0, (int)(sizeof bad_texts / sizeof bad_texts[0]));
    tcase_add_test(tc, missing_file);
    suite_add_tcase(su, tc);
    tc = tcase_create("overrides");
    tcase_add_test(tc, env_overrides);
    tcase_add_test(tc, env_errors);
    tcase_add_test(tc, set_and_load_order);
    suite_add_tcase(su, tc);
    tc = tcase_create("parsers");
    tcase_add_test(tc, parsers);
    tcase_add_test(tc, label_selectors);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
