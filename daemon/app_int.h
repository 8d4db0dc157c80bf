/* Internals shared by app.c (lifecycle), app_kube.c (resources, readiness)
 * and app_check.c (the one-shot check). Not a public interface. */
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
#include "http/metrics.h"
#include "http/server.h"
#include "kube/client.h"
#include "kube/ha.h"
#include "kube/kubeconfig.h"
#include "kube/lease.h"
#include "kube/reflector.h"
#include "kube/store.h"
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

struct app {
    uv_loop_t loop;
    struct app_opts opts;
    struct config cfg;
    struct regions regions;
    struct kversions kversions;     /* kubernetes_versions_file */
    const char *backup_ns[CONFIG_MAX_BACKUP_NAMESPACES]; /* into cfg.vault.backup_namespaces */
    bool check_mode;

    struct metrics *metrics;
    struct metric_family *m_leader;  /* aks_backup_leader */
    struct readyz *readyz;
    struct watchdog watchdog;
    struct http_server *http;

    struct kube_config kcfg;
    struct kube_client *kube;
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
    uv_timer_t probe_timer;         /* GET /version: version and API health */
    bool probe_inflight;
    uv_timer_t files_timer;         /* GET the csi-azurefile-node DaemonSet every 10 min */
    bool files_inflight;
    bool files_done;                /* check mode: the first answer came */
    int64_t started_ms;

    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t stop_timer;
    int closing;                    /* handles still closing at shutdown */
    int exit_code;
    bool stopping;

    /* check mode */
    bool version_done;
    int api_error;                  /* check: 401/403/unreachable seen */
    char api_error_msg[384];
    uv_timer_t check_timer;
    struct cm_store *check_cm;      /* check: one read of accounting.state_configmap */
    struct lease_kube_ctx *check_kctx;
    bool check_cm_done;
};

/* app_kube.c */
/* Resolves API access (SPEC §3 order). 0, or an exit code with the reason
 * printed: APP_EXIT_NO_API when nothing usable exists, APP_EXIT_USAGE for a
 * malformed kubeconfig. */
int app_kube_config(struct app *a);
/* Creates the client, engine, quota and one store + reflector per watched
 * resource (mode: watch or list once). 0 / negative errno (logged). */
int app_kube_setup(struct app *a, enum reflector_mode mode);
int app_kube_start(struct app *a);
/* Closes reflectors, then the client; frees stores, engine and quota once
 * every handle is closed. Counts its closes in a->closing. */
void app_kube_close(struct app *a);
/* Maps the config onto the engine and quota options (start and reload). */
void app_engine_opts(const struct app *a, struct engine_opts *o);
/* The Azure Files CSI driver's version from a DaemonSet's JSON (the image
 * tag of its azurefile container) into out. 0, -ENOENT, -EINVAL. */
int app_files_version_from_daemonset(const char *body, char *out, size_t n);
void app_quota_opts(const struct app *a, struct quota_opts *o, bool read_only);
/* check: with accounting.state_configmap set, reads the shared ledger once
 * (the reservations a leader holds) into the quota; a->check_cm_done is set
 * when the read ended (merged, absent or failed, logged). 0 / -errno. */
int app_check_load_shared(struct app *a);
/* True when every reflector has synced once or its API is absent. */
bool app_all_synced(const struct app *a, char *waiting, size_t n);
int app_register_checks(struct app *a);
/* writers: leadership for the Event and admission ConfigMap writers (call
 * from ha's on_leading); reload re-reads admission.warnings_configmap. */
void app_writers_set_leader(struct app *a, bool leader);
void app_writers_reload(struct app *a);
int app_register_routes(struct app *a);
void app_handle_closed(void *data);

#endif
