/* Wires the subsystems (DESIGN.md): config → kube client → reflectors →
 * stores → consumers (rules engine, quota) → HTTP. Owns the one uv loop,
 * the signals (SIGTERM/SIGINT stop, SIGHUP reload) and the exit codes. */
#include "app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "abc_version.h"
#include "config/config.h"
#include "config/regions.h"
#include "health/readyz.h"
#include "health/watchdog.h"
#include "http/metrics.h"
#include "http/routes_basic.h"
#include "http/server.h"
#include "util/clock.h"
#include "util/log.h"

extern char **environ;

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
    if (config_load(cfg, o->config_path, environ, flags, 3, &err, unknown, sizeof(unknown))) {
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
     * malformed one is reported here too, but a missing default path only
     * warns (the container ships it; a workstation may not have it). */
    struct regions regions = {0};
    char rerr[512];
    int rr = regions_load(&regions, cfg.regions_file, rerr, sizeof(rerr));
    if (rr == -EINVAL) {
        fprintf(stderr, "aks-backup-companion: %s\n", rerr);
        config_free(&cfg);
        return APP_EXIT_USAGE;
    }
    char summary[1024];
    config_summary(&cfg, summary, sizeof(summary));
    printf("%s\n", summary);
    if (rr)
        fprintf(stderr, "warning: %s (region_supported will be unknown)\n", rerr);
    regions_free(&regions);
    config_free(&cfg);
    return 0;
}

/* ---- the daemon ---------------------------------------------------------- */

struct app {
    uv_loop_t loop;
    struct config cfg;
    struct regions regions;
    struct metrics *metrics;
    struct readyz *readyz;
    struct watchdog watchdog;
    struct http_server *http;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t stop_timer;
    int exit_code;
    bool stopping;
};

static void load_regions(struct app *a)
{
    char err[512];
    struct regions r = {0};
    int rc = regions_load(&r, a->cfg.regions_file, err, sizeof(err));
    if (rc) {
        log_kv(LOG_WARN, "cannot load the supported-regions list; region_supported is unknown",
               "error", err, NULL);
        return;
    }
    regions_free(&a->regions);
    a->regions = r;
}

static void on_stop_timeout(uv_timer_t *t)
{
    struct app *a = t->data;
    log_kv(LOG_WARN, "shutdown took longer than 4 s; stopping the loop", NULL);
    uv_stop(&a->loop);
}

static void http_closed(void *data)
{
    struct app *a = data;
    a->http = NULL;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void app_stop(struct app *a, const char *why)
{
    if (a->stopping)
        return;
    a->stopping = true;
    log_kv(LOG_INFO, "stopping", "reason", why, NULL);
    uv_timer_start(&a->stop_timer, on_stop_timeout, 4000, 0);
    uv_unref((uv_handle_t *)&a->stop_timer);
    if (a->http)
        http_server_close(a->http, http_closed, a);
    watchdog_close(&a->watchdog, NULL, NULL);
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    uv_close((uv_handle_t *)&a->sig_hup, NULL);
}

static void reload(struct app *a)
{
    struct app_opts o = {0};
    (void)o;
    struct config next;
    struct config_err err;
    char unknown[512] = "";
    if (config_load(&next, a->cfg.path[0] ? a->cfg.path : NULL, environ, NULL, 0, &err,
                    unknown, sizeof(unknown))) {
        char msg[1600];
        config_err_format(&err, msg, sizeof(msg));
        log_kv(LOG_ERROR, "config reload failed; keeping the running configuration", "error",
               msg, NULL);
        return;
    }
    /* Flags given at start keep precedence over the file on reload. */
    struct config_err e2;
    if (config_set(&next, "http.listen", a->cfg.http.listen, &e2) ||
        config_set(&next, "log.level", a->cfg.log.level, &e2) ||
        config_set(&next, "log.format", a->cfg.log.format, &e2)) {
        config_free(&next);
        return;
    }
    config_free(&a->cfg);
    a->cfg = next;
    load_regions(a);
    log_kv(LOG_INFO, "configuration reloaded", "file", a->cfg.path[0] ? a->cfg.path : "(defaults)",
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

int app_run(const struct app_opts *o)
{
    struct app *a = calloc(1, sizeof(*a));
    if (!a)
        return APP_EXIT_FAIL;
    int rc = load_config(o, &a->cfg, false);
    if (rc) {
        free(a);
        return rc;
    }
    int tc = clock_init_from_env();
    if (tc < 0) {
        fprintf(stderr, "aks-backup-companion: ABC_TEST_NOW: expected an RFC 3339 time\n");
        config_free(&a->cfg);
        free(a);
        return APP_EXIT_USAGE;
    }
    if (tc > 0)
        log_kv(LOG_WARN, "ABC_TEST_NOW is set: the wall clock is shifted for testing", "test_now",
               getenv("ABC_TEST_NOW"), NULL);
    log_kv(LOG_INFO, "starting", "version", ABC_VERSION, "revision", ABC_REVISION, "config",
           a->cfg.path[0] ? a->cfg.path : "(defaults)", NULL);
    load_regions(a);

    uv_loop_init(&a->loop);
    a->metrics = metrics_new();
    a->readyz = readyz_new();
    if (!a->metrics || !a->readyz) {
        rc = APP_EXIT_FAIL;
        goto out;
    }
    metrics_add_process_collector(a->metrics);
    /* A single replica leads; leader election (when enabled) switches this. */
    metrics_set_cluster_enabled(a->metrics, true);

    watchdog_init(&a->watchdog, &a->loop);
    watchdog_start(&a->watchdog);
    uv_timer_init(&a->loop, &a->stop_timer);
    a->stop_timer.data = a;

    if (http_server_init(&a->http, &a->loop)) {
        rc = APP_EXIT_FAIL;
        goto out;
    }
    routes_basic_register(a->http, a->metrics, a->readyz, &a->watchdog);
    struct http_server_opts ho = {
        .listen = a->cfg.http.listen,
        .max_connections = (unsigned)a->cfg.http.max_connections,
        .read_timeout_s = (unsigned)a->cfg.http.read_timeout_seconds,
    };
    char err[512] = "";
    if (http_server_start(a->http, &ho, err, sizeof(err))) {
        log_kv(LOG_ERROR, "cannot listen; exiting", "listen", a->cfg.http.listen, "error", err,
               NULL);
        rc = APP_EXIT_FAIL;
        goto out;
    }

    uv_signal_init(&a->loop, &a->sig_term);
    uv_signal_init(&a->loop, &a->sig_int);
    uv_signal_init(&a->loop, &a->sig_hup);
    a->sig_term.data = a->sig_int.data = a->sig_hup.data = a;
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_int, on_signal, SIGINT);
    uv_signal_start(&a->sig_hup, on_signal, SIGHUP);

    uv_run(&a->loop, UV_RUN_DEFAULT);
    rc = a->exit_code;
out:
    /* Close whatever is still open (timeout path) and drain close callbacks. */
    uv_walk(&a->loop, close_walk, NULL);
    uv_run(&a->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&a->loop))
        log_kv(LOG_WARN, "event loop closed with handles open", NULL);
    readyz_free(a->readyz);
    metrics_free(a->metrics);
    regions_free(&a->regions);
    config_free(&a->cfg);
    log_kv(LOG_INFO, "stopped", NULL);
    free(a);
    return rc;
}

int app_check(const struct app_opts *o)
{
    struct config cfg;
    int rc = load_config(o, &cfg, true);
    if (rc)
        return rc;
    config_free(&cfg);
    fprintf(stderr, "aks-backup-companion: check is not wired yet\n");
    return APP_EXIT_NO_API;
}
