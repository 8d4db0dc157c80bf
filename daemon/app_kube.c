/* The watched resources wired together: kube client, one store
 * and reflector per resource, the rules engine and the quota ledger as
 * consumers, the readiness checks and the JSON routes that read them. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "app_int.h"
#include "ha/ha.h" /* writers */
#include "kube/clientcert.h"
#include "model/acct.h"
#include "model/records.h"
#include "rules/matrix.h"
#include "rules/metrics_cluster.h"
#include "rules/report.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

/* GET /version (every 5 min); sooner again after a failure so the
 * kubernetes_version prerequisite does not stay unknown for 5 min. API
 * health itself comes from every response and open watch (apiserver check). */
#define PROBE_INTERVAL_MS 300000
#define PROBE_RETRY_MS 10000
#define APISERVER_FRESH_MS 30000

int app_kube_config(struct app *a)
{
    struct kube_config_err err;
    int rc = kube_config_resolve(a->opts.kubeconfig, a->opts.context, &a->kcfg, &err);
    if (rc == 0) {
        /* The server would answer an expired certificate with a bare 401. */
        char why[1400];
        if (kube_client_cert_check(&a->kcfg, (int64_t)time(NULL), why, sizeof(why)) != 0) {
            fprintf(stderr, "aks-backup-companion: cannot authenticate to the API: %s\n", why);
            return APP_EXIT_NO_API;
        }
        return 0;
    }
    char msg[1200];
    kube_config_err_format(&err, msg, sizeof(msg));
    fprintf(stderr, "aks-backup-companion: %s\n", msg);
    return rc == -ENOENT && !a->opts.kubeconfig ? APP_EXIT_NO_API : APP_EXIT_USAGE;
}

int app_check_edition(const struct config *c, struct config_err *err)
{
    if (matrix_edition_find(c->matrix.edition))
        return 0;
    char list[128];
    matrix_edition_list(list, sizeof(list));
    return config_key_error(c, err, "matrix.edition",
                            "unknown support-matrix edition '%s' (expected one of: %s)",
                            c->matrix.edition, list);
}

long app_schedule_tolerance(const struct config *c)
{
    if (c->vault.schedule_tolerance_minutes >= 0)
        return c->vault.schedule_tolerance_minutes;
    const struct matrix_edition *e = matrix_edition_find(c->matrix.edition);
    return (e ? e : matrix_edition_default())->schedule_tolerance_minutes;
}

void app_engine_opts(const struct app *a, struct engine_opts *o)
{
    const struct config *c = &a->cfg;
    engine_opts_default(o);
    o->cluster_region = c->cluster.region;
    o->cluster_subscription = c->cluster.subscription_id;
    o->cluster_identity = c->cluster.identity;
    o->vault_region = c->vault.region;
    o->vault_subscription = c->vault.subscription_id;
    o->storage_region = c->storage.region;
    o->storage_subscription = c->storage.subscription_id;
    o->backup_policies = c->vault.backup_policies;
    o->backup_instances = c->vault.backup_instances;
    o->policies_limit = c->limits.backup_policies_per_vault;
    o->instances_limit = c->limits.backup_instances_per_vault;
    o->snapshots_per_disk = c->limits.snapshots_per_disk;
    o->warn_ratio = c->limits.warn_ratio;
    o->extension_namespace = a->pod_ns;
    o->extension_selector = a->pod_selector;
    o->regions = a->regions.n ? &a->regions : NULL;
    o->kversions = a->kversions.n ? &a->kversions : NULL;
    o->edition = matrix_edition_find(c->matrix.edition);
    o->storage_kind = c->storage.kind;
    o->storage_sku = c->storage.sku;
    o->vault_tier = c->vault.tier_vault;
    o->azure_files_version = c->driver.azure_files_version;
    struct app *ma = (struct app *)a; /* the pointer array lives in the app */
    for (size_t i = 0; i < c->vault.n_backup_namespaces; i++)
        ma->backup_ns[i] = c->vault.backup_namespaces[i];
    o->backup_namespaces = ma->backup_ns;
    o->n_backup_namespaces = c->vault.n_backup_namespaces;
    o->per_pv = c->metrics.per_pv_v == CONFIG_PER_PV_NONE      ? ENGINE_PER_PV_NONE
                : c->metrics.per_pv_v == CONFIG_PER_PV_SKIPPED ? ENGINE_PER_PV_SKIPPED
                                                               : ENGINE_PER_PV_ALL;
}

void app_quota_opts(const struct app *a, struct quota_opts *o, bool read_only)
{
    const struct config *c = &a->cfg;
    memset(o, 0, sizeof(*o));
    o->backup_limit = c->limits.on_demand_backups_per_day;
    o->restore_limit = c->limits.restores_per_day;
    o->warn_ratio = c->limits.warn_ratio;
    o->day_offset = config_day_offset(c);
    o->day_boundary = c->limits.day_boundary;
    o->has_schedule = c->vault.has_schedule;
    o->schedule = c->vault.schedule;
    o->tolerance_minutes = app_schedule_tolerance(c);
    o->state_file = c->accounting.state_configmap[0] && !read_only ? NULL : c->accounting.state_file;
    o->read_only = read_only;
    o->token_file = c->api.token_file;
}

/* ---- per-resource bookkeeping (a consumer on every store) ---------------- */

static void count_namespaced(struct app *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nres; i++) {
        const struct model_type *t = a->res[i].type;
        if (t->namespaced && strcmp(t->resource, "pods") != 0)
            n += store_count(a->res[i].store);
    }
    engine_set_namespaced_count(a->engine, n);
}

static void res_changed(void *data, const struct model_type *t, const void *rec)
{
    struct app_res *r = data;
    (void)rec;
    if (t->namespaced && r->synced)
        count_namespaced(r->app);
}

static void res_updated(void *data, const struct model_type *t, const void *o, const void *n)
{
    (void)data;
    (void)t;
    (void)o;
    (void)n;
}

static void res_synced(void *data, const struct model_type *t)
{
    struct app_res *r = data;
    struct app *a = r->app;
    r->synced = true;
    r->absent = false;
    if (strcmp(t->resource, "volumesnapshots") == 0)
        engine_set_snapshot_api(a->engine, 1);
    if (r->acct_type)
        quota_set_source_available(a->quota, acct_type_source(r->acct_type)->name, true);
    count_namespaced(a);
}

static void on_absent(void *data, const struct model_type *t, bool absent)
{
    struct app_res *r = data;
    struct app *a = r->app;
    r->absent = absent;
    log_kv(absent ? LOG_WARN : LOG_INFO,
           absent ? "API not served; reported absent and retried" : "API served again",
           "resource", t->resource, "group", t->group[0] ? t->group : "core", "version",
           t->version, NULL);
    if (strcmp(t->resource, "volumesnapshots") == 0)
        engine_set_snapshot_api(a->engine, absent ? 0 : 1);
    if (r->acct_type)
        quota_set_source_available(a->quota, acct_type_source(r->acct_type)->name, !absent);
}

/* Only a client certificate authenticates: a 401 cannot get better by
 * retrying (the certificate is read once, at start). */
static bool cert_only(const struct app *a)
{
    return a->kcfg.cert_pem && !a->kcfg.token && !a->kcfg.token_file && !a->kcfg.exec;
}

static void on_list_error(void *data, const struct model_type *t, const struct kube_status *st)
{
    struct app_res *r = data;
    struct app *a = r->app;
    if (a->api_error)
        return;
    if (st->err == 0 && st->http == 401 && cert_only(a)) {
        a->api_error = 401;
        snprintf(a->api_error_msg, sizeof(a->api_error_msg),
                 "listing %s: unauthorized (401): the API server does not accept client certificate %s "
                 "(not signed by a CA it trusts for clients, or revoked)",
                 t->resource, a->kcfg.cert_source ? a->kcfg.cert_source : "");
        if (a->check_mode) {
            uv_stop(&a->loop);
        } else {
            log_kv(LOG_ERROR, "cannot authenticate to the API; exiting", "error", a->api_error_msg, NULL);
            fprintf(stderr, "aks-backup-companion: cannot use the API at %s: %s\n", a->kcfg.server,
                    a->api_error_msg);
            a->exit_code = APP_EXIT_NO_API;
            /* the usual SIGTERM stop, from the loop rather than from inside
             * this reflector's callback */
            raise(SIGTERM);
        }
        return;
    }
    if (!a->check_mode)
        return;
    if (st->http == 0 || st->http == 401 || st->http == 403) {
        a->api_error = (int)(st->http ? st->http : -1);
        snprintf(a->api_error_msg, sizeof(a->api_error_msg), "listing %s: %s%s%s",
                 t->resource, st->http == 401 ? "unauthorized (401): " :
                 st->http == 403 ? "forbidden (403): " : "", st->reason,
                 st->http == 0 ? "" : "");
        uv_stop(&a->loop);
    }
}

static int add_res(struct app *a, const struct model_type *t, enum reflector_mode mode,
                   struct model_type *acct)
{
    if (a->nres == APP_MAX_RES)
        return -E2BIG;
    struct app_res *r = &a->res[a->nres];
    memset(r, 0, sizeof(*r));
    r->app = a;
    r->acct_type = acct;
    if (t == NULL) {
        r->runtime_type = model_pod_type(a->pod_ns, a->pod_selector);
        t = &r->runtime_type;
    }
    r->type = t;
    r->store = store_new(t);
    if (!r->store)
        return -ENOMEM;
    a->nres++;
    struct store_consumer bookkeeping = {
        .on_add = res_changed, .on_update = res_updated, .on_delete = res_changed,
        .on_synced = res_synced, .data = r,
    };
    int rc = store_add_consumer(r->store, &bookkeeping);
    if (!rc && !acct) /* the engine points at the store's PV records (no copy) */
        rc = engine_attach_store(a->engine, r->store);
    if (!rc && acct) {
        struct store_consumer qc;
        rc = quota_add_source(a->quota, acct, &qc);
        if (!rc)
            rc = store_add_consumer(r->store, &qc);
    }
    struct reflector_hooks hooks = {.on_absent = on_absent, .on_list_error = on_list_error, .data = r};
    if (!rc)
        rc = reflector_init(&r->refl, &a->loop, a->kube, r->store, a->metrics, mode, &hooks);
    return rc;
}

/* ---- writers: Events and the admission ConfigMap ---------------------- */

static const struct store *res_store(const struct app *a, const struct model_type *t)
{
    for (size_t i = 0; i < a->nres; i++)
        if (a->res[i].type == t)
            return a->res[i].store;
    return NULL;
}

/* The pod's namespace, for the Lease, the quota ConfigMap and the admission
 * ConfigMap alike: POD_NAMESPACE (downward API), else the credentials'
 * namespace (in-cluster: the service account's; else the context's). */
static void pod_namespace(const struct app *a, char *out, size_t n)
{
    const char *ns = getenv("POD_NAMESPACE");
    if (!ns || !*ns)
        ns = a->kcfg.namespace_;
    snprintf(out, n, "%s", ns && *ns ? ns : "default");
}

static void engine_changed(void *data, unsigned what)
{
    struct app *a = data;
    event_writer_notify(a->events, what);
    admission_writer_notify(a->admission, what);
}

static int writers_setup(struct app *a)
{
    char ns[256], id[256] = "";
    pod_namespace(a, ns, sizeof(ns));
    (void)ha_identity(id, sizeof(id));
    a->writers_tr.client = a->kube;
    a->writers_tr.timeout_ms = 10000;
    struct event_writer_opts eo = {
        .transport = kube_transport_get(&a->writers_tr), .engine = a->engine,
        .pvs = res_store(a, &model_pv_type), .namespace_ = "default", .instance = id,
    };
    struct admission_opts ao = {
        .name = a->cfg.admission.warnings_configmap, .namespace_ = ns,
        .transport = kube_transport_get(&a->writers_tr), .engine = a->engine,
        .classes = res_store(a, &model_storageclass_type),
    };
    int rc = event_writer_new(&a->events, &a->loop, &eo);
    if (!rc)
        rc = admission_writer_new(&a->admission, &a->loop, &ao);
    if (!rc)
        engine_set_on_change(a->engine, engine_changed, a);
    return rc;
}

void app_writers_set_leader(struct app *a, bool leader)
{
    event_writer_set_leader(a->events, leader);
    admission_writer_set_leader(a->admission, leader);
}

void app_writers_reload(struct app *a)
{
    char ns[256];
    pod_namespace(a, ns, sizeof(ns));
    if (a->admission)
        (void)admission_writer_set_target(a->admission, a->cfg.admission.warnings_configmap, ns);
}

static void writer_closed(void *data)
{
    struct app *a = data;
    app_handle_closed(a);
}

static void writers_close(struct app *a)
{
    if (a->engine)
        engine_set_on_change(a->engine, NULL, NULL);
    if (a->events) {
        app_closing_begin(a);
        event_writer_close(a->events, writer_closed, a);
        a->events = NULL;
    }
    if (a->admission) {
        app_closing_begin(a);
        admission_writer_close(a->admission, writer_closed, a);
        a->admission = NULL;
    }
}

bool app_on_standby(const struct app *a)
{
    return a->standby && !(a->ha && ha_is_leader(a->ha));
}

/* With leader election only the leader watches the cluster: a follower
 * holds no reflectors (N replicas of a DaemonSet would multiply the lists
 * and watches on the API server by N). Started when this replica starts
 * leading, stopped when it stops; the stores keep their records, which the
 * next term's first list replaces. */
static void reflectors_set_active(struct app *a, bool on)
{
    if (a->stopping)
        return;
    for (size_t i = 0; i < a->nres; i++) {
        struct app_res *r = &a->res[i];
        if (!r->refl)
            continue;
        if (on) {
            int rc = reflector_start(r->refl);
            if (rc)
                log_kv(LOG_ERROR, "cannot start watching", "resource", r->type->resource, "error",
                       strerror(-rc), NULL);
        } else {
            reflector_stop(r->refl);
            reflector_standby(r->refl);
            r->synced = false;
        }
    }
    log_kv(LOG_INFO, on ? "leading: watching the cluster" : "standby: not watching the cluster",
           "resources", on ? "started" : "stopped", NULL);
}

/* Only the leader writes Events and the admission ConfigMap, and (with
 * leader election) only the leader watches. */
static void ha_on_leading(void *data, bool leading)
{
    struct app *a = data;
    app_writers_set_leader(a, leading);
    if (a->standby)
        reflectors_set_active(a, leading);
}

int app_kube_setup(struct app *a, enum reflector_mode mode)
{
    char err[512] = "";
    a->kcfg.http1_only = !a->cfg.kubernetes.http2;
    int rc = kube_client_new(&a->loop, &a->kcfg, a->metrics, &a->kube, err, sizeof(err));
    if (rc) {
        log_kv(LOG_ERROR, "cannot create the API client", "error", err, NULL);
        return rc;
    }
    /* With replicas, "aks-backup-companion/<version> (<pod>)": the API
     * server's audit log (and kubesim's partition fault) tell the replicas
     * apart by it. One replica sends the plain User-Agent. */
    char ident[256], ua[272];
    if (a->cfg.leader_election.enabled && ha_identity(ident, sizeof(ident)) == 0) {
        snprintf(ua, sizeof(ua), "(%s)", ident);
        kube_client_set_user_agent_suffix(a->kube, ua);
    }

    snprintf(a->pod_ns, sizeof(a->pod_ns), "%s", a->cfg.extension.namespace_);
    snprintf(a->pod_selector, sizeof(a->pod_selector), "%s", a->cfg.extension.pod_selector);
    struct engine_opts eo;
    app_engine_opts(a, &eo);
    a->engine = engine_new(&eo);
    struct quota_opts qo;
    app_quota_opts(a, &qo, a->check_mode);
    if (!a->engine || quota_init(&a->quota, a->check_mode ? NULL : &a->loop, &qo))
        return -ENOMEM;

    const struct model_type *core[] = {
        &model_pv_type,       &model_pvc_type,           &model_storageclass_type,
        &model_csidriver_type, &model_snapshotclass_type, &model_snapshot_type,
        &model_node_type,     NULL /* pods */,         &model_namespace_type,
        &model_bsl_type,
    };
    for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
        if ((rc = add_res(a, core[i], mode, NULL)))
            return rc;
    for (size_t i = 0; i < a->cfg.accounting.n_sources; i++) {
        const struct config_source *s = &a->cfg.accounting.sources[i];
        struct acct_source_opts so = {
            .name = s->name, .operation = s->operation == CONFIG_OP_BACKUP ? ACCT_OP_BACKUP : ACCT_OP_RESTORE,
            .group = s->group, .version = s->version, .resource = s->resource,
            .namespace_ = s->namespace_, .on_demand = s->on_demand, .instance = s->instance,
        };
        struct model_type *t = NULL;
        char why[256] = "";
        if ((rc = acct_type_new(&so, &t, why, sizeof(why)))) {
            log_kv(LOG_ERROR, "bad accounting source", "source", s->name, "error", why, NULL);
            return rc;
        }
        if ((rc = add_res(a, t, mode, t))) {
            if (a->nres == 0 || a->res[a->nres - 1].acct_type != t)
                acct_type_free(t);
            return rc;
        }
    }
    if (!a->check_mode) {
        metrics_cluster_register(a->metrics, a->engine);
        quota_register_metrics(a->quota, a->metrics);
        if ((rc = writers_setup(a))) /* writers */
            return rc;
        char pns[256];
        pod_namespace(a, pns, sizeof(pns));
        struct ha_opts ho = {.cfg = &a->cfg, .client = a->kube, .metrics = a->metrics,
                             .quota = a->quota, .namespace_ = pns, .on_leading = ha_on_leading,
                             .data = a};
        if ((rc = ha_init(&a->ha, &a->loop, &ho))) {
            log_kv(LOG_ERROR, "cannot set up leader election / the quota ConfigMap", "error",
                   strerror(-rc), NULL);
            return rc;
        }
    }
    return 0;
}

/* ---- /version probe ------------------------------------------------------ */

static void probe(uv_timer_t *t);

static void on_version(void *data, const struct kube_status *st, const char *git_version)
{
    struct app *a = data;
    a->probe_inflight = false;
    if (git_version) {
        if (strcmp(engine_kubernetes_version(a->engine), git_version) != 0)
            log_kv(LOG_INFO, "kubernetes version", "version", git_version, NULL);
        engine_set_version(a->engine, git_version);
    } else if (!a->check_mode) {
        log_kv(LOG_DEBUG, "GET /version failed", "error", st->reason, NULL);
    } else if (!a->api_error && (st->http == 0 || st->http == 401 || st->http == 403)) {
        a->api_error = (int)(st->http ? st->http : -1);
        snprintf(a->api_error_msg, sizeof(a->api_error_msg), "GET /version: %s%s",
                 st->http == 401 ? "unauthorized (401): " : st->http == 403 ? "forbidden (403): " : "",
                 st->reason);
        uv_stop(&a->loop);
    }
    a->version_done = true;
    if (!a->check_mode && !a->stopping && !uv_is_closing((uv_handle_t *)&a->probe_timer))
        uv_timer_start(&a->probe_timer, probe, git_version ? PROBE_INTERVAL_MS : PROBE_RETRY_MS, 0);
}

static void probe(uv_timer_t *t)
{
    struct app *a = t->data;
    if (a->probe_inflight || a->stopping)
        return;
    if (kube_get_version(a->kube, on_version, a) == 0)
        a->probe_inflight = true;
    else if (!a->check_mode)
        uv_timer_start(&a->probe_timer, probe, PROBE_RETRY_MS, 0);
}

/* ---- the Azure Files CSI driver's version --------------------------------
 * GET apps/v1 DaemonSet kube-system/csi-azurefile-node every 10 min (a Role
 * with resourceNames grants exactly that); the image tag of its azurefile
 * container is the version. Not found or not readable: unknown. */

#define FILES_INTERVAL_MS (10 * 60 * 1000)
#define FILES_PATH "/apis/apps/v1/namespaces/kube-system/daemonsets/csi-azurefile-node"

static void files_probe(uv_timer_t *t);

/* "mcr.microsoft.com/oss/kubernetes-csi/azurefile-csi:v1.32.5" -> "v1.32.5". */
int app_files_version_from_daemonset(const char *body, char *out, size_t n)
{
    out[0] = '\0';
    struct json_object *o = json_tokener_parse(body);
    if (!o)
        return -EINVAL;
    struct json_object *spec = NULL, *tpl = NULL, *pspec = NULL, *cs = NULL;
    int rc = -ENOENT;
    if (json_object_object_get_ex(o, "spec", &spec) &&
        json_object_object_get_ex(spec, "template", &tpl) &&
        json_object_object_get_ex(tpl, "spec", &pspec) &&
        json_object_object_get_ex(pspec, "containers", &cs) &&
        json_object_is_type(cs, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(cs); i++) {
            struct json_object *c = json_object_array_get_idx(cs, i), *nm = NULL, *img = NULL;
            if (!json_object_object_get_ex(c, "name", &nm) ||
                !json_object_object_get_ex(c, "image", &img) ||
                strcmp(json_object_get_string(nm), "azurefile") != 0)
                continue;
            const char *im = json_object_get_string(img);
            const char *slash = strrchr(im, '/');
            const char *colon = strrchr(slash ? slash : im, ':');
            if (colon && colon[1]) {
                snprintf(out, n, "%.*s", (int)strcspn(colon + 1, "@"), colon + 1);
                rc = 0;
            }
            break;
        }
    }
    json_object_put(o);
    return rc;
}

static void on_files(void *data, const struct kube_status *st, const char *body, size_t len)
{
    (void)len;
    struct app *a = data;
    a->files_inflight = false;
    a->files_done = true;
    char v[64] = "";
    if (st->err == 0 && st->http == 200 && body)
        app_files_version_from_daemonset(body, v, sizeof(v));
    else
        log_kv(LOG_DEBUG, "GET DaemonSet kube-system/csi-azurefile-node failed", "error",
               st->reason, NULL);
    if (a->engine) {
        if (strcmp(engine_files_driver_version(a->engine), v) != 0 && *v)
            log_kv(LOG_INFO, "Azure Files CSI driver version", "version", v, NULL);
        engine_set_files_driver_version(a->engine, v);
    }
    if (!a->check_mode && !a->stopping && !uv_is_closing((uv_handle_t *)&a->files_timer))
        uv_timer_start(&a->files_timer, files_probe, FILES_INTERVAL_MS, 0);
}

static void files_probe(uv_timer_t *t)
{
    struct app *a = t->data;
    if (a->files_inflight || a->stopping)
        return;
    if (kube_request(a->kube, "GET", FILES_PATH, NULL, NULL, 0, on_files, a) == 0)
        a->files_inflight = true;
    else if (!a->check_mode)
        uv_timer_start(&a->files_timer, files_probe, PROBE_RETRY_MS, 0);
    else
        a->files_done = true;
}

int app_kube_start(struct app *a)
{
    a->started_ms = clock_mono_ms();
    a->standby = !a->check_mode && a->ha && a->cfg.leader_election.enabled;
    for (size_t i = 0; i < a->nres; i++) {
        if (a->standby) { /* until ha says this replica leads */
            reflector_standby(a->res[i].refl);
            continue;
        }
        int rc = reflector_start(a->res[i].refl);
        if (rc)
            return rc;
    }
    quota_start(a->quota);
    /* Leader election, or leading at once when it is off: ha's
     * on_leading switches the writers. */
    if (a->ha) {
        int rc = ha_start(a->ha);
        if (rc)
            return rc;
    }
    uv_timer_init(&a->loop, &a->files_timer);
    a->files_timer.data = a;
    uv_timer_start(&a->files_timer, files_probe, 0, 0);
    uv_timer_init(&a->loop, &a->probe_timer);
    a->probe_timer.data = a;
    return uv_timer_start(&a->probe_timer, probe, 0, 0);
}

static void kube_closed(void *data)
{
    struct app *a = data;
    a->kube = NULL;
    for (size_t i = 0; i < a->nres; i++) {
        store_free(a->res[i].store);
        a->res[i].store = NULL;
    }
    app_handle_closed(a);
}

static void refl_closed(void *data)
{
    struct app_res *r = data;
    struct app *a = r->app;
    r->refl = NULL;
    for (size_t i = 0; i < a->nres; i++)
        if (a->res[i].refl)
            return;
    /* Every reflector is gone: nothing uses the client any more. */
    if (a->kube)
        kube_client_close(a->kube, kube_closed, a);
    else
        app_handle_closed(a);
}

static void probe_closed(uv_handle_t *h)
{
    struct app *a = h->data;
    app_handle_closed(a);
}

static void quota_closed(void *data)
{
    struct app *a = data;
    a->quota = NULL;
    app_handle_closed(a);
}

static void close_rest(struct app *a);

/* HA goes first: its last ledger write and the Lease release need the
 * client, which is closed (cancelling everything) after the reflectors. */
static void ha_closed(void *data)
{
    struct app *a = data;
    a->ha = NULL;
    app_handle_closed(a);
    close_rest(a);
}

void app_kube_close(struct app *a)
{
    if (a->ha) {
        app_closing_begin(a);
        ha_close(a->ha, ha_closed, a);
        return;
    }
    close_rest(a);
}

static void check_cm_closed(void *data)
{
    struct app *a = data;
    free(a->check_kctx);
    a->check_kctx = NULL;
    app_handle_closed(a);
}

static void on_check_cm_loaded(void *data, int err, int http)
{
    struct app *a = data;
    a->check_cm_done = true;
    if (err == 0)
        return;
    char st[16];
    snprintf(st, sizeof(st), "%d", http);
    log_kv(LOG_WARN,
           "cannot read the quota ConfigMap; the quota shows what the API and the state file show",
           "configmap", a->cfg.accounting.state_configmap, "error", strerror(-err), "http", st,
           NULL);
}

int app_check_load_shared(struct app *a)
{
    a->check_cm_done = true;
    if (!a->cfg.accounting.state_configmap[0] || !a->quota)
        return 0;
    char ns[256];
    pod_namespace(a, ns, sizeof(ns));
    a->check_kctx = calloc(1, sizeof(*a->check_kctx));
    if (!a->check_kctx)
        return -ENOMEM;
    a->check_kctx->client = a->kube;
    a->check_kctx->timeout_ms = 10000;
    /* can_write NULL means "always": never asked, check only loads */
    struct cm_store_opts co = {.name = a->cfg.accounting.state_configmap, .namespace_ = ns,
                               .transport = kube_transport_get(a->check_kctx),
                               .ledger = quota_ledger(a->quota), .timeout_ms = 10000};
    int rc = cm_store_init(&a->check_cm, &a->loop, &co);
    if (!rc)
        rc = cm_store_load(a->check_cm, on_check_cm_loaded, a);
    if (rc) {
        if (a->check_cm) {
            app_closing_begin(a);
            cm_store_close(a->check_cm, check_cm_closed, a);
            a->check_cm = NULL;
        } else {
            free(a->check_kctx);
            a->check_kctx = NULL;
        }
        return rc;
    }
    a->check_cm_done = false;
    return 0;
}

static void close_rest(struct app *a)
{
    if (a->check_cm) {
        if (a->check_kctx)
            kube_transport_cancel_all(a->check_kctx);
        app_closing_begin(a);
        cm_store_close(a->check_cm, check_cm_closed, a);
        a->check_cm = NULL;
    }
    writers_close(a); /* writers: before the client goes */
    if (a->probe_timer.data && !uv_is_closing((uv_handle_t *)&a->probe_timer)) {
        app_closing_begin(a);
        a->probe_timer.data = a;
        uv_close((uv_handle_t *)&a->probe_timer, probe_closed);
    }
    if (a->files_timer.data && !uv_is_closing((uv_handle_t *)&a->files_timer)) {
        app_closing_begin(a);
        a->files_timer.data = a;
        uv_close((uv_handle_t *)&a->files_timer, probe_closed);
    }
    if (a->quota) {
        /* Its collector stays registered but is never called again: the
         * HTTP server is closed before, and metrics_free calls nothing. */
        app_closing_begin(a);
        quota_close(a->quota, quota_closed, a);
    }
    bool any = false;
    for (size_t i = 0; i < a->nres; i++)
        any |= a->res[i].refl != NULL;
    app_closing_begin(a); /* released when the client is closed (or now) */
    if (!any) {
        if (a->kube)
            kube_client_close(a->kube, kube_closed, a);
        else
            kube_closed(a);
        return;
    }
    for (size_t i = 0; i < a->nres; i++)
        if (a->res[i].refl)
            reflector_close(a->res[i].refl, refl_closed, &a->res[i]);
}
