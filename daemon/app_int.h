/* Internals shared by app.c (lifecycle, signals, reload, the one-shot
 * check), app_kube.c (resources, writers, readiness checks), app_routes.c
 * (HTTP routes) and app_azure.c (the Azure view): struct app, split into
 * the parts each of them owns. Not a public interface. */
#ifndef ABC_APP_INT_H
#define ABC_APP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "app.h"
#include "config/config.h"
#include "config/kversions.h"
#include "config/regions.h"
#include "health/readyz.h"
#include "health/watchdog.h"
#include "metrics/metrics.h"
#include "http/routes_basic.h"
#include "http/server.h"
#include "kube/client.h"
#include "ha/ha.h"
#include "kube/kubeconfig.h"
#include "kube/lease.h"
#include "kube/transport.h"
#include "kube/reflector.h"
#include "store/store.h"
#include "model/model.h"
#include "quota/cm_store.h"
#include "quota/quota.h"
#include "rules/engine.h"
#include "writers/admission.h" /* writers */
#include "writers/events.h"    /* writers */

#define APP_MAX_RES 24

/* One watched resource: its type, store and reflector. */
struct app_res {
    struct app *app;
    const struct model_type *type;
    struct model_type runtime_type; /* pods: namespace and selector from config */
    struct model_type *acct_type;   /* accounting sources: owned (acct_type_free) */
    struct store *store;
    struct reflector *refl;
    bool absent;                    /* group/version not served */
    bool synced;                    /* first list applied */
};

/* struct app is split into named parts, one per owning file (the file
 * that creates, writes and closes that part's fields); the other files only
 * read them, and change another part only through the functions declared
 * below (e.g. the closing count through app_closing_begin and
 * app_handle_closed). The parts are embedded by value, so C needs their
 * complete types here: the ownership is a rule of the house, not enforced. */

/* app.c: process lifecycle and shared infrastructure. */
struct app_core {
    uv_loop_t loop;
    struct app_opts opts;
    struct config cfg;
    struct regions regions;
    struct kversions kversions;     /* kubernetes_versions_file */
    bool check_mode;

    struct metrics *metrics;
    struct metric_family *m_leader; /* aks_backup_leader */
    struct readyz *readyz;
    struct watchdog watchdog;
    struct http_server *http;
    struct http_server *health;     /* http.health_listen; NULL when "" */
    struct routes_basic *basic;     /* the basic routes' context (both servers) */

    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t stop_timer;
    int closing;                    /* handles still closing at shutdown (only
                                       app.c touches it; see app_closing_begin) */
    int exit_code;
    bool stopping;
};

/* app_kube.c: the client, the watched resources and what they feed. */
struct app_kube_state {
    struct kube_config kcfg;
    struct kube_client *client;
    struct app_res res[APP_MAX_RES];
    size_t nres;
    char pod_ns[64];                /* copies that outlive config reloads */
    char pod_selector[512];
    struct engine *engine;
    struct quota *quota;
    struct ha *ha;                  /* leader election + shared ledger (run only) */
    /* writers: BackupUnsupported Events and the admission ConfigMap (leader only) */
    struct event_writer *events;
    struct admission_writer *admission;
    struct kube_transport writers_tr; /* the writers' requests (10 s each) */
    uv_timer_t probe_timer;         /* GET /version: version and API health */
    bool probe_inflight;
    uv_timer_t files_timer;         /* GET the csi-azurefile-node DaemonSet every 10 min */
    bool files_inflight;
    const char *backup_ns[CONFIG_MAX_BACKUP_NAMESPACES]; /* into cfg.vault.backup_namespaces */
    int64_t started_ms;
    bool standby;                   /* leader election on: watch only while leading */
};

/* check mode: app.c's app_check (its timer and verdict) and app_kube.c's
 * probes and shared-ledger read (the answers they record). version_done and
 * files_done are set in both modes: the daemon's `synced` readiness waits
 * for them as `check` does (app_first_view_done). */
struct app_check_state {
    bool version_done;              /* GET /version answered (either way) */
    bool files_done;                /* the DaemonSet GET answered (either way) */
    int api_error;                  /* 401/403/unreachable seen */
    char api_error_msg[384];
    uv_timer_t check_timer;
    struct cm_store *check_cm;      /* one read of accounting.state_configmap */
    struct kube_transport *check_kctx;
    bool check_cm_done;
};

/* app_azure.c: the Azure view (run, azure.enabled only). */
struct app_azure_state {
    struct azure *view;
};

struct app {
    struct app_core core;
    struct app_kube_state kube;
    struct app_check_state check;
    struct app_azure_state azure;
};

/* app_kube.c */
/* Resolves API access (flag, in-cluster, $KUBECONFIG, ~/.kube/config). 0, or an exit code with the reason
 * printed: APP_EXIT_NO_API when nothing usable exists, APP_EXIT_USAGE for a
 * malformed kubeconfig. */
int app_kube_config(struct app *a);
/* Creates the client, engine, quota and one store + reflector per watched
 * resource (mode: watch or list once). 0 / negative errno (logged). */
int app_kube_setup(struct app *a, enum reflector_mode mode);
int app_kube_start(struct app *a);
/* Closes reflectors, then the client; frees stores, engine and quota once
 * every handle is closed. Counts its closes with app_closing_begin. */
void app_kube_close(struct app *a);
/* Last step of app_free (the loop closed): frees the engine, the stores and
 * accounting types, and the resolved kubeconfig. */
void app_kube_free(struct app *a);
/* Maps the config onto the engine and quota options (start and reload). */
void app_engine_opts(const struct app *a, struct engine_opts *o);
void app_quota_opts(const struct app *a, struct quota_opts *o, bool read_only);
/* matrix.edition names a known support-matrix edition; else -EINVAL with
 * err at the key's position and the valid editions listed. */
int app_check_edition(const struct config *c, struct config_err *err);
/* vault.schedule_tolerance_minutes, or the edition's default when -1. */
long app_schedule_tolerance(const struct config *c);
/* The Azure Files CSI driver's version from a DaemonSet's JSON (the image
 * tag of its azurefile container) into out. 0, -ENOENT, -EINVAL. */
int app_files_version_from_daemonset(const char *body, char *out, size_t n);
/* A follower on standby: leader election is on and this replica does not
 * lead, so it holds the Lease watch only, no reflectors (its readiness
 * checks pass, /api/v1/report names the leader). */
bool app_on_standby(const struct app *a);
/* check: with accounting.state_configmap set, reads the shared ledger once
 * (the reservations a leader holds) into the quota; a->check.check_cm_done is set
 * when the read ended (merged, absent or failed, logged). 0 / -errno. */
int app_check_load_shared(struct app *a);
/* True when every reflector has synced once or its API is absent. */
bool app_all_synced(const struct app *a, char *waiting, size_t n);
/* The first view of the cluster is complete: every reflector synced (or
 * absent) and the first GET /version and DaemonSet read answered. Both the
 * daemon's `synced` readiness and `check` wait for it, so a report served
 * once `synced` passes and `check`'s report judge the same state. */
bool app_first_view_done(const struct app *a, char *waiting, size_t n);
int app_register_checks(struct app *a);
/* writers: leadership for the Event and admission ConfigMap writers (call
 * from ha's on_leading); reload re-reads admission.warnings_configmap. */
void app_writers_set_leader(struct app *a, bool leader);
void app_writers_reload(struct app *a);
int app_register_routes(struct app *a);
/* app_azure.c: the Azure view (no-op unless azure.enabled). */
int app_azure_start(struct app *a);
/* `check`: true when the view is off or every configured read answered once. */
bool app_azure_settled(struct app *a);
/* The report's "azure" section (caller puts); NULL when the view is off. */
struct json_object *app_azure_json(struct app *a);
void app_azure_close(struct app *a);
/* app.c owns the count of handles still closing at shutdown: call
 * app_closing_begin before starting a close and app_handle_closed (data:
 * the app) from its callback. */
void app_closing_begin(struct app *a);
void app_handle_closed(void *data);
/* The exit code app_run returns (set by app_kube.c when the API refuses
 * its credentials). */
void app_set_exit_code(struct app *a, int code);

#endif
