/* Wires the subsystems (docs/design.md): config → kube client → reflectors →
 * stores → consumers (rules engine, quota) → HTTP. Owns the core part of
 * struct app (a->core, app_int.h): the one uv loop, the signals
 * (SIGTERM/SIGINT stop, SIGHUP reload), the count of handles still closing
 * and the exit codes. */
#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "abc_version.h"
#include "config/config.h"
#include "config/regions.h"
#include "health/readyz.h"
#include "health/watchdog.h"
#include "metrics/metrics.h"
#include "http/routes_basic.h"
#include "rules/report.h"
#include <json-c/json.h>
#include "http/server.h"
#include "app_int.h"
#include "rules/metrics_cluster.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

extern char **environ;

/* Connections the probe listener (http.health_listen) keeps open at most. */
#define HEALTH_MAX_CONNECTIONS 16

/* Loads the configuration in the documented order (defaults, file, env,
 * flags) and sets up logging from it. On error prints FILE:LINE:COL and
 * returns APP_EXIT_USAGE. */
static int load_config(const struct app_opts *o, struct config *cfg, bool quiet_unknown)
{
    struct config_flag flags[] = {
        {"http.listen", o->listen},
        {"log.level", o->log_level},
        {"log.format", o->log_format},
    };
    struct config_err err;
    char unknown[512] = "";
    int rc = config_load(cfg, o->config_path, environ, flags, 3, &err, unknown, sizeof(unknown));
    if (rc == 0 && app_check_edition(cfg, &err)) {
        config_free(cfg); /* config_load frees on its own errors */
        rc = -EINVAL;
    }
    if (rc) {
        char msg[1600];
        config_err_format(&err, msg, sizeof(msg));
        fprintf(stderr, "aks-backup-companion: %s\n", msg);
        return APP_EXIT_USAGE;
    }
    log_setup(cfg->log.level_v, cfg->log.format_v);
    if (unknown[0] && !quiet_unknown)
        log_kv(LOG_WARN, "ignoring environment variables that match no config key", "vars",
               unknown, NULL);
    return 0;
}

int app_version(void)
{
    printf("aks-backup-companion %s (revision %s)\n", ABC_VERSION, ABC_REVISION);
    return 0;
}

int app_config_validate(const struct app_opts *o)
{
    struct config cfg;
    int rc = load_config(o, &cfg, true);
    if (rc)
        return rc;
    /* The regions file is part of the configuration: an unreadable or
     * malformed one is reported here too; a missing default path means the
     * built-in copy of config/regions.txt, a missing explicit one warns. */
    struct regions regions = {0};
    char rerr[512];
    bool builtin = false;
    int rr = regions_load_or_builtin(&regions, cfg.regions_file, &builtin, rerr, sizeof(rerr));
    if (rr == -EINVAL) {
        fprintf(stderr, "aks-backup-companion: %s\n", rerr);
        config_free(&cfg);
        return APP_EXIT_USAGE;
    }
    struct kversions kv = {0};
    char kerr[512];
    bool kbuiltin = false;
    int kr = kversions_load_or_builtin(&kv, cfg.kubernetes_versions_file, &kbuiltin, kerr, sizeof(kerr));
    if (kr == -EINVAL) {
        fprintf(stderr, "aks-backup-companion: %s\n", kerr);
        regions_free(&regions);
        config_free(&cfg);
        return APP_EXIT_USAGE;
    }
    char summary[1024];
    config_summary(&cfg, summary, sizeof(summary));
    printf("%s\n", summary);
    if (rr)
        fprintf(stderr, "warning: %s (region_supported will be unknown)\n", rerr);
    else if (builtin)
        fprintf(stderr, "note: %s is absent; the built-in list of %zu regions is used\n",
               cfg.regions_file, regions.n);
    if (kr)
        fprintf(stderr, "warning: %s (kubernetes_version will be unknown under edition 2026-01)\n",
                kerr);
    kversions_free(&kv);
    regions_free(&regions);
    config_free(&cfg);
    return 0;
}

/* ---- the daemon ---------------------------------------------------------- */

static void app_apply_config(struct app *a);

static void load_kversions(struct app *a)
{
    char err[512];
    struct kversions kv = {0};
    bool builtin = false;
    int rc = kversions_load_or_builtin(&kv, a->core.cfg.kubernetes_versions_file, &builtin, err,
                                       sizeof(err));
    if (rc) {
        log_kv(LOG_WARN, "cannot load the Kubernetes versions list; kubernetes_version is unknown",
               "error", err, NULL);
        kversions_free(&a->core.kversions);
        return;
    }
    if (builtin)
        log_kv(LOG_INFO, "the Kubernetes versions file is absent; using the built-in list", "path",
               a->core.cfg.kubernetes_versions_file, NULL);
    kversions_free(&a->core.kversions);
    a->core.kversions = kv;
}

static void load_regions(struct app *a)
{
    char err[512];
    struct regions r = {0};
    bool builtin = false;
    int rc = regions_load_or_builtin(&r, a->core.cfg.regions_file, &builtin, err, sizeof(err));
    if (rc) {
        log_kv(LOG_WARN, "cannot load the supported-regions list; region_supported is unknown",
               "error", err, NULL);
        regions_free(&a->core.regions);
        return;
    }
    if (builtin)
        log_kv(LOG_INFO, "the regions file is absent; using the built-in list", "path",
               a->core.cfg.regions_file, NULL);
    regions_free(&a->core.regions);
    a->core.regions = r;
}

/* Said at start, not at the first reservation: a state file whose
 * directory cannot be written (a non-root run with the default path) makes
 * every reservation answer 503 state_not_saved. */
static void warn_unwritable_state(struct app *a)
{
    const char *f = a->core.cfg.accounting.state_file;
    if (!f[0] || a->core.cfg.accounting.state_configmap[0])
        return;
    char dir[CONFIG_PATH_MAX];
    const char *slash = strrchr(f, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash == f ? 1 : slash - f) : 1,
             slash ? f : ".");
    /* a missing directory is made at the first save: judge its nearest
     * existing ancestor */
    char *cut;
    while (access(dir, F_OK) != 0 && (cut = strrchr(dir, '/')) != NULL)
        *(cut == dir ? cut + 1 : cut) = '\0';
    struct stat st;
    int e = stat(dir, &st) ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR
                                     : access(dir, W_OK) ? errno : 0;
    if (!e)
        return;
    log_kv(LOG_WARN,
           "the quota state file's directory is not writable: counts will not survive a restart "
           "and reservations answer 503 state_not_saved",
           "state_file", f, "error", strerror(e), NULL);
}

/* Reads a PEM file for the TLS listener (at most 1 MiB). 0, or -1 with
 * the error logged naming the file. */
static int read_pem(const char *path, char **out)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        log_kv(LOG_ERROR, "cannot read the TLS file", "file", path, "error", strerror(errno), NULL);
        return -1;
    }
    struct buf b;
    buf_init(&b, 1024 * 1024);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if ((rc = buf_add(&b, chunk, n)))
            break;
    if (ferror(f))
        rc = -EIO;
    fclose(f);
    if (rc || !b.len) {
        log_kv(LOG_ERROR, "cannot read the TLS file", "file", path, "error",
               rc ? strerror(-rc) : "empty file", NULL);
        buf_free(&b);
        return -1;
    }
    *out = buf_take(&b, &n);
    return 0;
}

static void on_stop_timeout(uv_timer_t *t)
{
    struct app *a = t->data;
    log_kv(LOG_WARN, "shutdown took longer than 4 s; stopping the loop", NULL);
    uv_stop(&a->core.loop);
}

static void http_closed(void *data)
{
    struct app *a = data;
    a->core.http = NULL;
    a->core.closing--;
}

static void health_closed(void *data)
{
    struct app *a = data;
    a->core.health = NULL;
    a->core.closing--;
}

void app_set_exit_code(struct app *a, int code)
{
    a->core.exit_code = code;
}

void app_closing_begin(struct app *a)
{
    a->core.closing++;
}

void app_handle_closed(void *data)
{
    struct app *a = data;
    a->core.closing--;
}

static void handle_closed(uv_handle_t *h)
{
    app_handle_closed(h->data);
}

static void watchdog_closed(void *data)
{
    app_handle_closed(data);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes the main and the probe listeners (each counted in closing). */
static void close_listeners(struct app *a)
{
    if (a->core.http) {
        a->core.closing++;
        http_server_close(a->core.http, http_closed, a);
    }
    if (a->core.health) {
        a->core.closing++;
        http_server_close(a->core.health, health_closed, a);
    }
}

static void app_stop(struct app *a, const char *why)
{
    if (a->core.stopping)
        return;
    a->core.stopping = true;
    log_kv(LOG_INFO, "stopping", "reason", why, NULL);
    uv_timer_start(&a->core.stop_timer, on_stop_timeout, 4000, 0);
    uv_unref((uv_handle_t *)&a->core.stop_timer);
    close_listeners(a);
    app_azure_close(a); /* before the client: its calls ride on the client's transport */
    app_kube_close(a);
    a->core.closing++;
    watchdog_close(&a->core.watchdog, watchdog_closed, a);
    uv_signal_t *sigs[] = {&a->core.sig_term, &a->core.sig_int, &a->core.sig_hup};
    for (int i = 0; i < 3; i++) {
        a->core.closing++;
        sigs[i]->data = a;
        uv_close((uv_handle_t *)sigs[i], handle_closed);
    }
}

/* What a reload changes in the running subsystems. The keys restart_keys()
 * names are fixed at start; a change to them is logged as needing a
 * restart. */
static void app_apply_config(struct app *a)
{
    if (a->kube.engine) {
        struct engine_opts eo;
        app_engine_opts(a, &eo);
        if (engine_set_opts(a->kube.engine, &eo))
            log_kv(LOG_ERROR, "reload: cannot apply the rules options; keeping the old ones", NULL);
    }
    if (a->kube.quota) {
        struct quota_opts qo;
        app_quota_opts(a, &qo, false);
        if (quota_reload(a->kube.quota, &qo))
            log_kv(LOG_ERROR, "reload: cannot apply the quota options; keeping the old ones", NULL);
    }
    app_writers_reload(a);
}

static bool sources_equal(const struct config *x, const struct config *y)
{
    if (x->accounting.n_sources != y->accounting.n_sources)
        return false;
    for (size_t i = 0; i < x->accounting.n_sources; i++) {
        const struct config_source *p = &x->accounting.sources[i], *q = &y->accounting.sources[i];
        if (p->operation != q->operation || strcmp(p->name, q->name) || strcmp(p->group, q->group) ||
            strcmp(p->version, q->version) || strcmp(p->resource, q->resource) ||
            strcmp(p->namespace_, q->namespace_) || strcmp(p->on_demand, q->on_demand) ||
            strcmp(p->instance, q->instance))
            return false;
    }
    return true;
}

/* The keys a reload cannot apply (they decide what is watched, where the
 * server listens, where counts are kept and who leads): names the changed
 * ones in out ("" when none). */
static void restart_keys(const struct config *o, const struct config *n, char *out, size_t len)
{
    const struct {
        const char *name;
        bool changed;
    } k[] = {
        {"extension.namespace", strcmp(o->extension.namespace_, n->extension.namespace_) != 0},
        {"extension.pod_selector", strcmp(o->extension.pod_selector, n->extension.pod_selector) != 0},
        {"accounting.sources", !sources_equal(o, n)},
        {"accounting.state_file", strcmp(o->accounting.state_file, n->accounting.state_file) != 0},
        {"accounting.state_configmap",
         strcmp(o->accounting.state_configmap, n->accounting.state_configmap) != 0},
        {"http.listen", strcmp(o->http.listen, n->http.listen) != 0},
        {"kubernetes.http2", o->kubernetes.http2 != n->kubernetes.http2},
        {"http.max_connections", o->http.max_connections != n->http.max_connections},
        {"http.health_listen", strcmp(o->http.health_listen, n->http.health_listen) != 0},
        {"http.max_connections_per_client",
         o->http.max_connections_per_client != n->http.max_connections_per_client},
        {"http.tls_cert_file", strcmp(o->http.tls_cert_file, n->http.tls_cert_file) != 0},
        {"http.tls_key_file", strcmp(o->http.tls_key_file, n->http.tls_key_file) != 0},
        {"http.read_timeout_seconds", o->http.read_timeout_seconds != n->http.read_timeout_seconds},
        {"leader_election",
         o->leader_election.enabled != n->leader_election.enabled ||
             strcmp(o->leader_election.lease_name, n->leader_election.lease_name) ||
             strcmp(o->leader_election.lease_namespace, n->leader_election.lease_namespace) ||
             o->leader_election.lease_duration_seconds != n->leader_election.lease_duration_seconds ||
             o->leader_election.renew_deadline_seconds != n->leader_election.renew_deadline_seconds ||
             o->leader_election.retry_period_seconds != n->leader_election.retry_period_seconds},
        {"azure",
         o->azure.enabled != n->azure.enabled || strcmp(o->azure.vault_id, n->azure.vault_id) ||
             strcmp(o->azure.cluster_id, n->azure.cluster_id) ||
             strcmp(o->azure.storage_account_id, n->azure.storage_account_id) ||
             strcmp(o->azure.resource_manager_url, n->azure.resource_manager_url) ||
             strcmp(o->azure.authority_host, n->azure.authority_host) ||
             strcmp(o->azure.imds_url, n->azure.imds_url) || strcmp(o->azure.ca_file, n->azure.ca_file) ||
             o->azure.poll_seconds != n->azure.poll_seconds ||
             o->azure.jobs_poll_seconds != n->azure.jobs_poll_seconds},
    };
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        if (k[i].changed && used < len) {
            int w = snprintf(out + used, len - used, "%s%s", used ? "," : "", k[i].name);
            used += w > 0 ? (size_t)w : 0;
        }
}

static void reload(struct app *a)
{
    /* Same order as at start: the flags given then keep precedence. */
    struct config_flag flags[] = {
        {"http.listen", a->core.opts.listen},
        {"log.level", a->core.opts.log_level},
        {"log.format", a->core.opts.log_format},
    };
    struct config next;
    struct config_err err;
    char unknown[512] = "";
    int lrc = config_load(&next, a->core.opts.config_path, environ, flags, 3, &err, unknown,
                          sizeof(unknown));
    if (lrc == 0 && app_check_edition(&next, &err)) {
        config_free(&next);
        lrc = -EINVAL;
    }
    if (lrc) {
        char msg[1600];
        config_err_format(&err, msg, sizeof(msg));
        log_kv(LOG_ERROR, "config reload failed; keeping the running configuration", "error",
               msg, NULL);
        return;
    }
    char later[512];
    restart_keys(&a->core.cfg, &next, later, sizeof(later));
    config_free(&a->core.cfg);
    a->core.cfg = next;
    log_setup(a->core.cfg.log.level_v, a->core.cfg.log.format_v);
    if (later[0])
        log_kv(LOG_WARN, "reload: these keys changed but take effect only at restart; the running "
                         "values stay in use",
               "keys", later, NULL);
    load_kversions(a);
    load_regions(a);
    app_apply_config(a);
    log_kv(LOG_INFO, "configuration reloaded", "file", a->core.cfg.path[0] ? a->core.cfg.path : "(defaults)",
           NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct app *a = s->data;
    if (signum == SIGHUP) {
        reload(a);
        return;
    }
    app_stop(a, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Shared by run and check: config, test clock, regions, API access. */
static int app_prepare(struct app *a, const struct app_opts *o)
{
    a->core.opts = *o;
    int rc = load_config(o, &a->core.cfg, a->core.check_mode);
    if (rc)
        return rc;
    int tc = clock_init_from_env();
    if (tc < 0) {
        fprintf(stderr, "aks-backup-companion: ABC_TEST_NOW: expected an RFC 3339 time\n");
        return APP_EXIT_USAGE;
    }
    if (tc > 0)
        log_kv(LOG_WARN, "ABC_TEST_NOW is set: the wall clock is shifted for testing", "test_now",
               getenv("ABC_TEST_NOW"), NULL);
    if ((rc = app_kube_config(a)))
        return rc;
    load_kversions(a);
    load_regions(a);
    uv_loop_init(&a->core.loop);
    a->core.metrics = metrics_new();
    return a->core.metrics ? 0 : APP_EXIT_FAIL;
}

static void app_free(struct app *a)
{
    if (a->core.loop.data == a) {
        /* Failure paths before the loop ran: close what owns handles
         * properly first, then anything else. */
        close_listeners(a);
        if (a->core.watchdog.timer.loop && !uv_is_closing((uv_handle_t *)&a->core.watchdog.timer))
            watchdog_close(&a->core.watchdog, NULL, NULL);
        uv_run(&a->core.loop, UV_RUN_NOWAIT);
        uv_walk(&a->core.loop, close_walk, NULL);
        uv_run(&a->core.loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&a->core.loop))
            log_kv(LOG_WARN, "event loop closed with handles open", NULL);
    }
    app_kube_free(a);
    readyz_free(a->core.readyz);
    metrics_free(a->core.metrics);
    routes_basic_free(a->core.basic); /* after the servers and the collector's registry */
    regions_free(&a->core.regions);
    kversions_free(&a->core.kversions);
    config_free(&a->core.cfg);
    free(a);
}

int app_run(const struct app_opts *o)
{
    struct app *a = calloc(1, sizeof(*a));
    if (!a)
        return APP_EXIT_FAIL;
    int rc = app_prepare(a, o);
    if (rc) {
        app_free(a);
        return rc;
    }
    a->core.loop.data = a;
    log_kv(LOG_INFO, "starting", "version", ABC_VERSION, "revision", ABC_REVISION, "config",
           a->core.cfg.path[0] ? a->core.cfg.path : "(defaults)", "api", a->kube.kcfg.server, "credentials",
           a->kube.kcfg.source, NULL);
    a->core.readyz = readyz_new();
    if (!a->core.readyz) {
        app_free(a);
        return APP_EXIT_FAIL;
    }
    metrics_add_process_collector(a->core.metrics);
    /* A single replica leads; leader election (when enabled) switches this. */
    metrics_set_cluster_enabled(a->core.metrics, true);
    a->core.m_leader = metrics_family(a->core.metrics, "aks_backup_leader", METRIC_GAUGE, METRIC_SCOPE_PROCESS,
                                 "1 on the replica that leads (exports cluster-level families "
                                 "and writes shared state), else 0.",
                                 0, NULL, NULL, 0);
    if (a->core.m_leader)
        metric_set(a->core.m_leader, NULL, 1);

    watchdog_init(&a->core.watchdog, &a->core.loop);
    watchdog_start(&a->core.watchdog);
    uv_timer_init(&a->core.loop, &a->core.stop_timer);
    a->core.stop_timer.data = a;

    char err[512] = "";
    if (quota_token_check(a->core.cfg.api.token_file, err, sizeof(err))) {
        fprintf(stderr, "aks-backup-companion: %s\n", err);
        log_kv(LOG_ERROR, "write token too short; exiting", "error", err, NULL);
        app_free(a);
        return APP_EXIT_USAGE;
    }
    char *cert = NULL, *key = NULL;
    if (a->core.cfg.http.tls_cert_file[0] || a->core.cfg.http.tls_key_file[0]) {
        if (!a->core.cfg.http.tls_cert_file[0] || !a->core.cfg.http.tls_key_file[0]) {
            log_kv(LOG_ERROR, "http.tls_cert_file and http.tls_key_file must be set together",
                   NULL);
            app_free(a);
            return APP_EXIT_USAGE;
        }
        if (read_pem(a->core.cfg.http.tls_cert_file, &cert) || read_pem(a->core.cfg.http.tls_key_file, &key)) {
            free(cert); /* key is NULL here: read_pem failed on it or was not reached */
            app_free(a);
            return APP_EXIT_USAGE;
        }
    }
    if ((rc = app_kube_setup(a, REFLECTOR_WATCH)) || (rc = http_server_init(&a->core.http, &a->core.loop)) ||
        (rc = routes_basic_register(a->core.http, a->core.metrics, a->core.readyz, &a->core.watchdog, &a->core.basic)) ||
        (rc = app_register_checks(a)) || (rc = app_register_routes(a))) {
        log_kv(LOG_ERROR, "cannot start", "error", strerror(-rc), NULL);
        free(cert);
        if (key)
            explicit_bzero(key, strlen(key));
        free(key);
        app_free(a);
        return APP_EXIT_FAIL;
    }
    struct http_server_opts ho = {
        .listen = a->core.cfg.http.listen,
        .max_connections = (unsigned)a->core.cfg.http.max_connections,
        .read_timeout_s = (unsigned)a->core.cfg.http.read_timeout_seconds,
        .max_per_client = (unsigned)a->core.cfg.http.max_connections_per_client,
        .tls_cert_pem = cert,
        .tls_key_pem = key,
        .name = "http",
    };
    rc = http_server_start(a->core.http, &ho, err, sizeof(err));
    if (key)
        explicit_bzero(key, strlen(key));
    free(cert);
    free(key);
    if (rc) {
        log_kv(LOG_ERROR, "cannot listen; exiting", "listen", a->core.cfg.http.listen, "error", err,
               NULL);
        app_free(a);
        return APP_EXIT_FAIL;
    }
    if (a->core.cfg.http.health_listen[0]) {
        /* Probes on their own listener with their own connection limit:
         * clients of the main port cannot starve them. */
        struct http_server_opts hh = {
            .listen = a->core.cfg.http.health_listen,
            .max_connections = HEALTH_MAX_CONNECTIONS,
            .read_timeout_s = (unsigned)a->core.cfg.http.read_timeout_seconds,
            .name = "health",
        };
        if (http_server_init(&a->core.health, &a->core.loop) || routes_basic_register_health(a->core.health, a->core.basic) ||
            http_server_start(a->core.health, &hh, err, sizeof(err))) {
            log_kv(LOG_ERROR, "cannot listen; exiting", "listen", a->core.cfg.http.health_listen,
                   "error", err[0] ? err : "out of memory", NULL);
            app_free(a);
            return APP_EXIT_FAIL;
        }
    }
    warn_unwritable_state(a);
    if ((rc = app_kube_start(a)) || (rc = app_azure_start(a))) {
        log_kv(LOG_ERROR, "cannot start watching", "error", strerror(-rc), NULL);
        app_free(a);
        return APP_EXIT_FAIL;
    }

    uv_signal_init(&a->core.loop, &a->core.sig_term);
    uv_signal_init(&a->core.loop, &a->core.sig_int);
    uv_signal_init(&a->core.loop, &a->core.sig_hup);
    a->core.sig_term.data = a->core.sig_int.data = a->core.sig_hup.data = a;
    uv_signal_start(&a->core.sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->core.sig_int, on_signal, SIGINT);
    uv_signal_start(&a->core.sig_hup, on_signal, SIGHUP);

    uv_run(&a->core.loop, UV_RUN_DEFAULT);
    rc = a->core.exit_code;
    log_kv(LOG_INFO, "stopped", NULL);
    app_free(a);
    return rc;
}

/* ---- check: list once, evaluate, print, exit ------------------------------ */

static void check_poll(uv_timer_t *t)
{
    struct app *a = t->data;
    if (a->check.check_cm_done && app_first_view_done(a, NULL, 0) && app_azure_settled(a))
        uv_stop(&a->core.loop);
}

static void check_deadline(uv_timer_t *t)
{
    struct app *a = t->data;
    /* The cluster answered but an Azure read still waits (a long Retry-After):
     * report what is known; that read stays unknown. */
    bool kube_ok = a->check.check_cm_done && app_first_view_done(a, NULL, 0);
    if (!a->check.api_error && !kube_ok) {
        char waiting[512];
        app_first_view_done(a, waiting, sizeof(waiting));
        a->check.api_error = -1;
        snprintf(a->check.api_error_msg, sizeof(a->check.api_error_msg),
                 "timed out after 30 s talking to %s (%s)", a->kube.kcfg.server,
                 waiting[0] ? waiting : "waiting for the quota ConfigMap");
    }
    uv_stop(&a->core.loop);
}

int app_check(const struct app_opts *o_in)
{
    /* A one-shot command: only warnings and errors on stderr unless
     * --log-level asks for more (the deployed config says info for the
     * daemon, which would bury the report under progress lines). */
    struct app_opts oc = *o_in;
    const struct app_opts *o = &oc;
    if (!oc.log_level)
        oc.log_level = "warn";
    if (!o->output_json) {
        /* First line: which configuration this report was made with. */
        if (o->config_path)
            printf("config: %s\n", o->config_path);
        else
            printf("config: built-in defaults (no --config, and %s does not exist)\n",
                   APP_DEFAULT_CONFIG);
        fflush(stdout);
    }
    struct app *a = calloc(1, sizeof(*a));
    if (!a)
        return APP_EXIT_FAIL;
    a->core.check_mode = true;
    int rc = app_prepare(a, o);
    if (rc) {
        app_free(a);
        return rc;
    }
    a->core.loop.data = a;
    if ((rc = app_kube_setup(a, REFLECTOR_LIST_ONLY)) || (rc = app_kube_start(a)) ||
        (rc = app_check_load_shared(a)) || (rc = app_azure_start(a))) {
        log_kv(LOG_ERROR, "cannot start", "error", strerror(-rc), NULL);
        app_free(a);
        return APP_EXIT_FAIL;
    }
    uv_timer_init(&a->core.loop, &a->check.check_timer);
    a->check.check_timer.data = a;
    uv_timer_start(&a->check.check_timer, check_poll, 20, 20);
    uv_timer_t deadline;
    uv_timer_init(&a->core.loop, &deadline);
    deadline.data = a;
    uv_timer_start(&deadline, check_deadline, 30000, 0);
    uv_run(&a->core.loop, UV_RUN_DEFAULT);

    if (a->check.api_error) {
        fprintf(stderr, "aks-backup-companion: cannot use the API at %s: %s\n", a->kube.kcfg.server,
                a->check.api_error_msg);
        rc = APP_EXIT_NO_API;
    } else {
        struct buf out, qt;
        buf_init(&out, 0);
        buf_init(&qt, 0);
        struct json_object *q = quota_json(a->kube.quota);
        struct json_object *az = app_azure_json(a);
        (void)quota_text(a->kube.quota, &qt);
        struct report_opts ro = {
            .now = clock_now_ms() / 1000,
            .quota = q,
            .quota_text = qt.data,
            .quota_warn = quota_any_warn(a->kube.quota),
            .azure = az,
        };
        /* quota_text starts with its own "quota" line; the report has a
         * section title already. */
        const char *qbody = qt.data ? strchr(qt.data, '\n') : NULL;
        ro.quota_text = qbody ? qbody + 1 : qt.data;
        int r2 = o->output_json ? report_json_render(a->kube.engine, &ro, true, &out)
                                : report_text(a->kube.engine, &ro, &out);
        if (r2 == 0) {
            fwrite(out.data, 1, out.len, stdout);
            if (out.len && out.data[out.len - 1] != '\n')
                fputc('\n', stdout);
            rc = report_exit_code(a->kube.engine, &ro);
        } else {
            rc = APP_EXIT_FAIL;
        }
        json_object_put(q);
        json_object_put(az);
        buf_free(&out);
        buf_free(&qt);
    }
    fflush(stdout);
    a->core.stopping = true;
    uv_close((uv_handle_t *)&a->check.check_timer, NULL);
    uv_close((uv_handle_t *)&deadline, NULL);
    app_azure_close(a);
    app_kube_close(a);
    uv_run(&a->core.loop, UV_RUN_DEFAULT); /* let every close finish */
    app_free(a);
    return rc;
}
