/* The daemon's configuration: a plain struct with every key,
 * filled in the order defaults -> YAML file -> ABC_* environment -> flags,
 * then validated as a whole. Every error carries file, line and column
 * (1-based, from libyaml marks) or the variable/flag that caused it.
 * Called by main.c/app.c (start, SIGHUP reload, `config validate`, `check`). */
#ifndef ABC_CONFIG_CONFIG_H
#define ABC_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/schedule.h"
#include "util/log.h"

#define CONFIG_PATH_MAX 1024
#define CONFIG_DEFAULT_REGIONS_FILE "/etc/aks-backup-companion/regions.txt"
#define CONFIG_DEFAULT_KVERSIONS_PATH "/etc/aks-backup-companion/kubernetes-versions.txt"
/* matrix.edition's default; the editions themselves are rules/' data (rules/matrix.h). */
#define CONFIG_DEFAULT_EDITION "2026-01"
#define CONFIG_NAME_MAX 254 /* Kubernetes object names, label keys */
#define CONFIG_NKEYS 72     /* capacity of the scalar-key table */
#define CONFIG_MAX_BACKUP_NAMESPACES 256
#define CONFIG_WUR __attribute__((warn_unused_result))

struct config_err {
    char file[CONFIG_PATH_MAX]; /* config file; "" for env/flag errors */
    int line, col;              /* 1-based; 0 when not from the file */
    char msg[640];              /* "what is wrong (expected ...)" */
};

/* "FILE:LINE:COL: msg", or "FILE: msg" without a position, or "msg". */
void config_err_format(const struct config_err *e, char *out, size_t n);

enum config_op { CONFIG_OP_BACKUP = 0, CONFIG_OP_RESTORE };

/* accounting.sources[].on_demand */
enum config_match {
    CONFIG_MATCH_ALWAYS = 0,
    CONFIG_MATCH_LABEL_ABSENT,  /* label-absent:<key> */
    CONFIG_MATCH_LABEL_PRESENT, /* label-present:<key> */
    CONFIG_MATCH_LABEL_EQ,      /* label:<key>=<value> */
    CONFIG_MATCH_FIELD_EQ,      /* field:<dotted.path>=<value> */
};

/* accounting.sources[].instance */
enum config_instance {
    CONFIG_INSTANCE_CONSTANT = 0, /* constant:<id> */
    CONFIG_INSTANCE_LABEL,        /* label:<key> */
    CONFIG_INSTANCE_FIELD,        /* field:<dotted.path> */
};

struct config_source {
    char name[64];
    enum config_op operation;
    char group[CONFIG_NAME_MAX]; /* "" = core group */
    char version[64];
    char resource[CONFIG_NAME_MAX];
    char namespace_[64];             /* "" = all namespaces */
    char on_demand[512];             /* as written */
    enum config_match match;         /* parsed on_demand */
    char match_key[CONFIG_NAME_MAX]; /* label key or dotted field path */
    char match_value[256];           /* for LABEL_EQ / FIELD_EQ */
    char instance[512];              /* as written */
    enum config_instance instance_kind;
    char instance_arg[CONFIG_NAME_MAX]; /* id, label key or dotted path */
};

/* Where a scalar key got its value (for cross-key errors). */
struct config_origin {
    int line, col; /* > 0 when set by the file */
    char var[64];  /* env var or "flag" key, else "" */
};

struct config {
    char path[CONFIG_PATH_MAX]; /* file loaded; "" = none */
    struct {
        char region[64];
        char subscription_id[64];
        char identity[32]; /* system | user | service-principal | "" */
    } cluster;
    struct {
        char edition[16]; /* support-matrix edition (2026-01, 2023-08); checked by the app
                           * against rules/matrix.h's editions */
    } matrix;
    struct {
        char region[64];
        char subscription_id[64];
        long backup_policies;      /* -1 = unknown */
        long backup_instances;     /* -1 = unknown */
        char backup_schedule[128]; /* "" = unknown */
        bool has_schedule;
        struct schedule schedule; /* valid when has_schedule */
        long schedule_tolerance_minutes; /* -1 = the edition's default */
        bool tier_vault;           /* tiers contains vault */
        bool tier_operational;     /* tiers contains operational */
        char backup_namespaces[CONFIG_MAX_BACKUP_NAMESPACES][64]; /* [] = all */
        size_t n_backup_namespaces;
    } vault;
    struct {
        char region[64];
        char subscription_id[64];
        char kind[32]; /* StorageV2, Storage, BlobStorage, ... ; "" unknown */
        char sku[32];  /* Standard_LRS, Premium_LRS, ... ; "" unknown */
    } storage;
    struct {
        char azure_files_version[32]; /* overrides the DaemonSet's; "" */
    } driver;
    struct {
        char namespace_[64];
        char pod_selector[512];
    } extension;
    struct {
        long on_demand_backups_per_day;
        long restores_per_day;
        long backup_policies_per_vault;
        long backup_instances_per_vault;
        long snapshots_per_disk;
        double warn_ratio;     /* 0 < r <= 1 */
        char day_boundary[16]; /* "UTC" or "+HH:MM"/"-HH:MM" */
        int day_offset;        /* seconds east of UTC */
    } limits;
    struct {
        struct config_source *sources; /* owned; freed by config_free */
        size_t n_sources;
        char state_file[CONFIG_PATH_MAX];
        char state_configmap[CONFIG_NAME_MAX];
    } accounting;
    struct {
        char token_file[CONFIG_PATH_MAX]; /* "" = write API disabled */
    } api;
    struct {
        char listen[280]; /* HOST:PORT, [v6]:PORT; port 0 = any */
        char health_listen[280]; /* "" = no probe listener */
        long max_connections_per_client; /* 0 = no cap */
        char tls_cert_file[CONFIG_PATH_MAX]; /* both set = HTTPS on listen */
        char tls_key_file[CONFIG_PATH_MAX];
        long max_connections;
        long read_timeout_seconds;
    } http;
    struct {
        bool enabled;
        char lease_name[CONFIG_NAME_MAX];
        char lease_namespace[64]; /* "" = POD_NAMESPACE */
        long lease_duration_seconds;
        long renew_deadline_seconds;
        long retry_period_seconds;
    } leader_election;
    char regions_file[CONFIG_PATH_MAX];
    char kubernetes_versions_file[CONFIG_PATH_MAX];
    struct {
        char warnings_configmap[CONFIG_NAME_MAX]; /* "" = off */
    } admission;
    struct { /* the Azure view (read-only ARM reads); off unless enabled */
        bool enabled;
        char vault_id[512];           /* ARM id of the Backup vault */
        char cluster_id[512];         /* ARM id of the managed cluster; "" = not read */
        char storage_account_id[512]; /* ARM id of the extension's storage account; "" = not read */
        char resource_manager_url[256];
        char authority_host[256];     /* AZURE_AUTHORITY_HOST wins at run time */
        char imds_url[256];
        char ca_file[CONFIG_PATH_MAX];
        long poll_seconds;
        long jobs_poll_seconds;
    } azure;
    struct {
        char per_pv[16];         /* all|skipped|none */
        enum config_per_pv { CONFIG_PER_PV_ALL = 0, CONFIG_PER_PV_SKIPPED, CONFIG_PER_PV_NONE } per_pv_v;
    } metrics;
    struct {
        bool http2; /* false: HTTP/1.1 only towards the API server (read at start) */
    } kubernetes;
    struct {
        char level[8];  /* debug|info|warn|error */
        char format[8]; /* json|text */
        enum log_level level_v;
        enum log_format format_v;
    } log;
    /* Private to config/: where each scalar key was set. */
    struct config_origin origin[CONFIG_NKEYS];
};

/* Fills c with the documented defaults (including the two Velero accounting
 * sources). c need not be initialised; call config_free when done.
 * Returns 0 or -ENOMEM. */
CONFIG_WUR int config_defaults(struct config *c);
/* Frees what c owns (the sources array); c may then be reused or dropped.
 * Safe on a zeroed struct and twice. */
void config_free(struct config *c);
/* Deep copy (for keeping the old config across a failed reload).
 * dst is overwritten (not freed first). 0 or -ENOMEM. */
CONFIG_WUR int config_copy(struct config *dst, const struct config *src);

/* Reads path (YAML) on top of c (normally fresh defaults): keys present in
 * the file replace the values in c; accounting.sources, when present,
 * replaces the whole list. Empty file or only comments = no change.
 * Returns 0; -ENOENT/-EACCES/... when the file cannot be read (err names the
 * path); -EINVAL for a syntax or validation error (err has line/col).
 * On error c keeps valid but partially updated values: load into a scratch
 * config and swap on success (reload). */
CONFIG_WUR int config_load_file(struct config *c, const char *path, struct config_err *err);
/* Same from a buffer; name is used as err->file. */
CONFIG_WUR int config_load_string(struct config *c, const char *name, const char *text, size_t len,
                                  struct config_err *err);

/* Applies ABC_<SECTION>_<KEY> / ABC_<KEY> overrides from envp
 * ("NAME=value" strings, NULL-terminated; pass `environ`). Lists are
 * file-only (ABC_ACCOUNTING_SOURCES is an error). ABC_* names that match no
 * key are not errors: they are written space-separated into unknown
 * (may be NULL) so the caller can warn; ABC_TEST_NOW and the test harness's
 * ABC_BIN/ABC_SRCROOT/ABC_BUILDROOT are skipped silently.
 * Returns 0 or -EINVAL (err->msg names the variable, line 0). */
CONFIG_WUR int config_apply_env(struct config *c, char *const *envp, struct config_err *err,
                                char *unknown, size_t unknown_len);

/* Sets one scalar key by its dotted name ("http.listen", "log.level",
 * "regions_file"), validating the value as the file would. Used for flags
 * (--listen, --log-level, --log-format). Returns 0, -ENOENT for an unknown
 * key (with a suggestion in err), -EINVAL for a bad value. */
CONFIG_WUR int config_set(struct config *c, const char *dotted_key, const char *value,
                          struct config_err *err);

/* Cross-key checks (renew_deadline < lease_duration, retry_period <
 * renew_deadline, a place to keep quota state). Call once after the last
 * override. The error points at the file position of the offending key
 * when the file set it, else names the variable/flag. 0 or -EINVAL. */
CONFIG_WUR int config_validate(const struct config *c, struct config_err *err);

/* Everything above in the documented order: defaults, file (path may be
 * NULL = none), env (envp may be NULL = none), the nflags flag pairs
 * ({dotted_key, value}; value NULL = flag not given), validate.
 * On error c is freed and err says why; returns as the step that failed. */
struct config_flag {
    const char *key;
    const char *value;
};
CONFIG_WUR int config_load(struct config *c, const char *path, char *const *envp,
                           const struct config_flag *flags, size_t nflags, struct config_err *err,
                           char *unknown_env, size_t unknown_len);

/* One line for `config validate`: "config OK: PATH: listen 0.0.0.0:8080,
 * 2 accounting sources, day boundary UTC, leader election off, write API
 * disabled, backup schedule unknown". */
void config_summary(const struct config *c, char *out, size_t n);

/* An error about one key in the shape config_validate gives: at the key's
 * file position when the file set it, else naming the variable or flag.
 * For checks made above config/ (the support-matrix edition). -EINVAL. */
__attribute__((format(printf, 4, 5))) int config_key_error(const struct config *c,
                                                           struct config_err *err,
                                                           const char *dotted_key,
                                                           const char *fmt, ...);

/* Seconds east of UTC of limits.day_boundary (UTC = 0, +05:30 = 19800). */
int config_day_offset(const struct config *c);

/* Parsers shared with other modules and tests; 0 or -EINVAL. */
int config_parse_day_boundary(const char *s, int *offset_secs);
int config_parse_listen(const char *s, char *host, size_t hostlen, int *port);
int config_parse_matcher(const char *s, struct config_source *src, char *why, size_t n);
int config_parse_instance(const char *s, struct config_source *src, char *why, size_t n);

/* The scalar keys, for docs and tests: i-th key's dotted name and its
 * environment variable. Returns 0, or -ENOENT when i >= the key count. */
int config_key_at(size_t i, char *dotted, size_t dn, char *env, size_t en);

/* Levenshtein distance (for "did you mean"). */
size_t config_edit_distance(const char *a, const char *b);

#endif
