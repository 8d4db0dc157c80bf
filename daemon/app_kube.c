/* The watched resources wired together: kube client, one store
 * and reflector per resource, the rules engine and the quota ledger as
 * consumers, the writers and the version/DaemonSet probes. Owns the kube
 * part of struct app (a->kube, app_int.h); counts its closes through
 * app_closing_begin / app_handle_closed. */
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
    int rc = kube_config_resolve(a->core.opts.kubeconfig, a->core.opts.context, &a->kube.kcfg, &err);
    if (rc == 0) {
        /* The server would answer an expired certificate with a bare 401. */
        char why[1400];
        if (kube_client_cert_check(&a->kube.kcfg, (int64_t)time(NULL), why, sizeof(why)) != 0) {
            fprintf(stderr, "aks-backup-companion: cannot authenticate to the API: %s\n", why);
            return APP_EXIT_NO_API;
        }
        return 0;
    }
    char msg[1200];
    kube_config_err_format(&err, msg, sizeof(msg));
    fprintf(stderr, "aks-backup-companion: %s\n", msg);
    return rc == -ENOENT && !a->core.opts.kubeconfig ? APP_EXIT_NO_API : APP_EXIT_USAGE;
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
    const struct config *c = &a->core.cfg;
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
    o->extension_namespace = a->kube.pod_ns;
    o->extension_selector = a->kube.pod_selector;
    o->regions = a->core.regions.n ? &a->core.regions : NULL;
    o->kversions = a->core.kversions.n ? &a->core.kversions : NULL;
    o->edition = matrix_edition_find(c->matrix.edition);
    o->storage_kind = c->storage.kind;
    o->storage_sku = c->storage.sku;
    o->vault_tier = c->vault.tier_vault;
    o->azure_files_version = c->driver.azure_files_version;
    struct app *ma = (struct app *)a; /* the pointer array lives in the app */
    for (size_t i = 0; i < c->vault.n_backup_namespaces; i++)
        ma->kube.backup_ns[i] = c->vault.backup_namespaces[i];
    o->backup_namespaces = ma->kube.backup_ns;
    o->n_backup_namespaces = c->vault.n_backup_namespaces;
    o->per_pv = c->metrics.per_pv_v == CONFIG_PER_PV_NONE      ? ENGINE_PER_PV_NONE
                : c->metrics.per_pv_v == CONFIG_PER_PV_SKIPPED ? ENGINE_PER_PV_SKIPPED
                                                               : ENGINE_PER_PV_ALL;
}

void app_quota_opts(const struct app *a, struct quota_opts *o, bool read_only)
{
    const struct config *c = &a->core.cfg;
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
    for (size_t i = 0; i < a->kube.nres; i++) {
        const struct model_type *t = a->kube.res[i].type;
        if (t->namespaced && strcmp(t->resource, "pods") != 0)
            n += store_count(a->kube.res[i].store);
    }
    engine_set_namespaced_count(a->kube.engine, n);
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
        engine_set_snapshot_api(a->kube.engine, 1);
    if (r->acct_type)
        quota_set_source_available(a->kube.quota, acct_type_source(r->acct_type)->name, true);
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
        engine_set_snapshot_api(a->kube.engine, absent ? 0 : 1);
    if (r->acct_type)
        quota_set_source_available(a->kube.quota, acct_type_source(r->acct_type)->name, !absent);
}

/* Only a client certificate authenticates: a 401 cannot get better by
 * retrying (the certificate is read once, at start). */
static bool cert_only(const struct app *a)
{
    return a->kube.kcfg.cert_pem && !a->kube.kcfg.token && !a->kube.kcfg.token_file && !a->kube.kcfg.exec;
}

static void on_list_error(void *data, const struct model_type *t, const struct kube_status *st)
{
    struct app_res *r = data;
    struct app *a = r->app;
    if (a->check.api_error)
        return;
    if (st->err == 0 && st->http == 401 && cert_only(a)) {
        a->check.api_error = 401;
        snprintf(a->check.api_error_msg, sizeof(a->check.api_error_msg),
                 "listing %s: unauthorized (401): the API server does not accept client certificate %s "
                 "(not signed by a CA it trusts for clients, or revoked)",
                 t->resource, a->kube.kcfg.cert_source ? a->kube.kcfg.cert_source : "");
        if (a->core.check_mode) {
            uv_stop(&a->core.loop);
        } else {
            log_kv(LOG_ERROR, "cannot authenticate to the API; exiting", "error", a->check.api_error_msg, NULL);
            fprintf(stderr, "aks-backup-companion: cannot use the API at %s: %s\n", a->kube.kcfg.server,
                    a->check.api_error_msg);
            app_set_exit_code(a, APP_EXIT_NO_API);
            /* the usual SIGTERM stop, from the loop rather than from inside
             * this reflector's callback */
            raise(SIGTERM);
        }
        return;
    }
    if (!a->core.check_mode)
        return;
    if (st->http == 0 || st->http == 401 || st->http == 403) {
        a->check.api_error = (int)(st->http ? st->http : -1);
        snprintf(a->check.api_error_msg, sizeof(a->check.api_error_msg), "listing %s: %s%s%s",
                 t->resource, st->http == 401 ? "unauthorized (401): " :
                 st->http == 403 ? "forbidden (403): " : "", st->reason,
                 st->http == 0 ? "" : "");
        uv_stop(&a->core.loop);
    }
}

static int add_res(struct app *a, const struct model_type *t, enum reflector_mode mode,
                   struct model_type *acct)
{
    if (a->kube.nres == APP_MAX_RES)
        return -E2BIG;
    struct app_res *r = &a->kube.res[a->kube.nres];
    memset(r, 0, sizeof(*r));
    r->app = a;
    r->acct_type = acct;
    if (t == NULL) {
        r->runtime_type = model_pod_type(a->kube.pod_ns, a->kube.pod_selector);
        t = &r->runtime_type;
    }
    r->type = t;
    r->store = store_new(t);
    if (!r->store)
        return -ENOMEM;
    a->kube.nres++;
    struct store_consumer bookkeeping = {
        .on_add = res_changed, .on_update = res_updated, .on_delete = res_changed,
        .on_synced = res_synced, .data = r,
    };
    int rc = store_add_consumer(r->store, &bookkeeping);
    if (!rc && !acct) /* the engine points at the store's PV records (no copy) */
        rc = engine_attach_store(a->kube.engine, r->store);
    if (!rc && acct) {
        struct store_consumer qc;
        rc = quota_add_source(a->kube.quota, acct, &qc);
        if (!rc)
            rc = store_add_consumer(r->store, &qc);
    }
    struct reflector_hooks hooks = {.on_absent = on_absent, .on_list_error = on_list_error, .data = r};
    if (!rc)
        rc = reflector_init(&r->refl, &a->core.loop, a->kube.client, r->store, a->core.metrics, mode, &hooks);
    return rc;
}

/* ---- writers: Events and the admission ConfigMap ---------------------- */

static const struct store *res_store(const struct app *a, const struct model_type *t)
{
    for (size_t i = 0; i < a->kube.nres; i++)
        if (a->kube.res[i].type == t)
            return a->kube.res[i].store;
    return NULL;
}

/* The pod's namespace, for the Lease, the quota ConfigMap and the admission
 * ConfigMap alike: POD_NAMESPACE (downward API), else the credentials'
 * namespace (in-cluster: the service account's; else the context's). */
static void pod_namespace(const struct app *a, char *out, size_t n)
{
    const char *ns = getenv("POD_NAMESPACE");
    if (!ns || !*ns)
        ns = a->kube.kcfg.namespace_;
    snprintf(out, n, "%s", ns && *ns ? ns : "default");
}

static void engine_changed(void *data, unsigned what)
{
    struct app *a = data;
    event_writer_notify(a->kube.events, what);
    admission_writer_notify(a->kube.admission, what);
}

static int writers_setup(struct app *a)
{
    char ns[256], id[256] = "";
    pod_namespace(a, ns, sizeof(ns));
    (void)ha_identity(id, sizeof(id));
    a->kube.writers_tr.client = a->kube.client;
    a->kube.writers_tr.timeout_ms = 10000;
    struct event_writer_opts eo = {
        .transport = kube_transport_get(&a->kube.writers_tr), .engine = a->kube.engine,
        .pvs = res_store(a, &model_pv_type), .namespace_ = "default", .instance = id,
    };
    struct admission_opts ao = {
        .name = a->core.cfg.admission.warnings_configmap, .namespace_ = ns,
        .transport = kube_transport_get(&a->kube.writers_tr), .engine = a->kube.engine,
        .classes = res_store(a, &model_storageclass_type),
    };
    int rc = event_writer_new(&a->kube.events, &a->core.loop, &eo);
    if (!rc)
        rc = admission_writer_new(&a->kube.admission, &a->core.loop, &ao);
    if (!rc)
        engine_set_on_change(a->kube.engine, engine_changed, a);
    return rc;
}

void app_writers_set_leader(struct app *a, bool leader)
{
    event_writer_set_leader(a->kube.events, leader);
    admission_writer_set_leader(a->kube.admission, leader);
}

void app_writers_reload(struct app *a)
{
    char ns[256];
    pod_namespace(a, ns, sizeof(ns));
    if (a->kube.admission)
        (void)admission_writer_set_target(a->kube.admission, a->core.cfg.admission.warnings_configmap, ns);
}

static void writer_closed(void *data)
{
    struct app *a = data;
    app_handle_closed(a);
}

static void writers_close(struct app *a)
{
    if (a->kube.engine)
        engine_set_on_change(a->kube.engine, NULL, NULL);
    if (a->kube.events) {
        app_closing_begin(a);
        event_writer_close(a->kube.events, writer_closed, a);
        a->kube.events = NULL;
    }
    if (a->kube.admission) {
        app_closing_begin(a);
        admission_writer_close(a->kube.admission, writer_closed, a);
        a->kube.admission = NULL;
    }
}

bool app_on_standby(const struct app *a)
{
    return a->kube.standby && !(a->kube.ha && ha_is_leader(a->kube.ha));
}

/* With leader election only the leader watches the cluster: a follower
 * holds no reflectors (N replicas of a DaemonSet would multiply the lists
 * and watches on the API server by N). Started when this replica starts
 * leading, stopped when it stops; the stores keep their records, which the
 * next term's first list replaces. */
static void reflectors_set_active(struct app *a, bool on)
{
    if (a->core.stopping)
        return;
    for (size_t i = 0; i < a->kube.nres; i++) {
        struct app_res *r = &a->kube.res[i];
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
    if (a->kube.standby)
        reflectors_set_active(a, leading);
}

int app_kube_setup(struct app *a, enum reflector_mode mode)
{
    char err[512] = "";
    a->kube.kcfg.http1_only = !a->core.cfg.kubernetes.http2;
    int rc = kube_client_new(&a->core.loop, &a->kube.kcfg, a->core.metrics, &a->kube.client, err, sizeof(err));
    if (rc) {
        log_kv(LOG_ERROR, "cannot create the API client", "error", err, NULL);
        return rc;
    }
    /* With replicas, "aks-backup-companion/<version> (<pod>)": the API
     * server's audit log (and kubesim's partition fault) tell the replicas
     * apart by it. One replica sends the plain User-Agent. */
    char ident[256], ua[272];
    if (a->core.cfg.leader_election.enabled && ha_identity(ident, sizeof(ident)) == 0) {
        snprintf(ua, sizeof(ua), "(%s)", ident);
        kube_client_set_user_agent_suffix(a->kube.client, ua);
    }

    snprintf(a->kube.pod_ns, sizeof(a->kube.pod_ns), "%s", a->core.cfg.extension.namespace_);
    snprintf(a->kube.pod_selector, sizeof(a->kube.pod_selector), "%s", a->core.cfg.extension.pod_selector);
    struct engine_opts eo;
    app_engine_opts(a, &eo);
    a->kube.engine = engine_new(&eo);
    struct quota_opts qo;
    app_quota_opts(a, &qo, a->core.check_mode);
    if (!a->kube.engine || quota_init(&a->kube.quota, a->core.check_mode ? NULL : &a->core.loop, &qo))
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
    for (size_t i = 0; i < a->core.cfg.accounting.n_sources; i++) {
        const struct config_source *s = &a->core.cfg.accounting.sources[i];
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
            if (a->kube.nres == 0 || a->kube.res[a->kube.nres - 1].acct_type != t)
                acct_type_free(t);
            return rc;
        }
    }
    if (!a->core.check_mode) {
        metrics_cluster_register(a->core.metrics, a->kube.engine);
        quota_register_metrics(a->kube.quota, a->core.metrics);
        if ((rc = writers_setup(a))) /* writers */
            return rc;
        char pns[256];
        pod_namespace(a, pns, sizeof(pns));
        struct ha_opts ho = {.cfg = &a->core.cfg, .client = a->kube.client, .metrics = a->core.metrics,
                             .quota = a->kube.quota, .namespace_ = pns, .on_leading = ha_on_leading,
                             .data = a};
        if ((rc = ha_init(&a->kube.ha, &a->core.loop, &ho))) {
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
    a->kube.probe_inflight = false;
    if (git_version) {
        if (strcmp(engine_kubernetes_version(a->kube.engine), git_version) != 0)
            log_kv(LOG_INFO, "kubernetes version", "version", git_version, NULL);
        engine_set_version(a->kube.engine, git_version);
    } else if (!a->core.check_mode) {
        log_kv(LOG_DEBUG, "GET /version failed", "error", st->reason, NULL);
    } else if (!a->check.api_error && (st->http == 0 || st->http == 401 || st->http == 403)) {
        a->check.api_error = (int)(st->http ? st->http : -1);
        snprintf(a->check.api_error_msg, sizeof(a->check.api_error_msg), "GET /version: %s%s",
                 st->http == 401 ? "unauthorized (401): " : st->http == 403 ? "forbidden (403): " : "",
                 st->reason);
        uv_stop(&a->core.loop);
    }
    a->check.version_done = true;
    if (!a->core.check_mode && !a->core.stopping && !uv_is_closing((uv_handle_t *)&a->kube.probe_timer))
        uv_timer_start(&a->kube.probe_timer, probe, git_version ? PROBE_INTERVAL_MS : PROBE_RETRY_MS, 0);
}

static void probe(uv_timer_t *t)
{
    struct app *a = t->data;
    if (a->kube.probe_inflight || a->core.stopping)
        return;
    if (kube_get_version(a->kube.client, on_version, a) == 0)
        a->kube.probe_inflight = true;
    else if (!a->core.check_mode)
        uv_timer_start(&a->kube.probe_timer, probe, PROBE_RETRY_MS, 0);
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
    a->kube.files_inflight = false;
    a->check.files_done = true;
    char v[64] = "";
    if (st->err == 0 && st->http == 200 && body)
        app_files_version_from_daemonset(body, v, sizeof(v));
    else
        log_kv(LOG_DEBUG, "GET DaemonSet kube-system/csi-azurefile-node failed", "error",
               st->reason, NULL);
    if (a->kube.engine) {
        if (strcmp(engine_files_driver_version(a->kube.engine), v) != 0 && *v)
            log_kv(LOG_INFO, "Azure Files CSI driver version", "version", v, NULL);
        engine_set_files_driver_version(a->kube.engine, v);
    }
    if (!a->core.check_mode && !a->core.stopping && !uv_is_closing((uv_handle_t *)&a->kube.files_timer))
        uv_timer_start(&a->kube.files_timer, files_probe, FILES_INTERVAL_MS, 0);
}

static void files_probe(uv_timer_t *t)
{
    struct app *a = t->data;
    if (a->kube.files_inflight || a->core.stopping)
        return;
    if (kube_request(a->kube.client, "GET", FILES_PATH, NULL, NULL, 0, on_files, a) == 0)
        a->kube.files_inflight = true;
    else if (!a->core.check_mode)
        uv_timer_start(&a->kube.files_timer, files_probe, PROBE_RETRY_MS, 0);
    else
        a->check.files_done = true;
}

int app_kube_start(struct app *a)
{
    a->kube.started_ms = clock_mono_ms();
    a->kube.standby = !a->core.check_mode && a->kube.ha && a->core.cfg.leader_election.enabled;
    for (size_t i = 0; i < a->kube.nres; i++) {
        if (a->kube.standby) { /* until ha says this replica leads */
            reflector_standby(a->kube.res[i].refl);
            continue;
        }
        int rc = reflector_start(a->kube.res[i].refl);
        if (rc)
            return rc;
    }
    quota_start(a->kube.quota);
    /* Leader election, or leading at once when it is off: ha's
     * on_leading switches the writers. */
    if (a->kube.ha) {
        int rc = ha_start(a->kube.ha);
        if (rc)
            return rc;
    }
    uv_timer_init(&a->core.loop, &a->kube.files_timer);
    a->kube.files_timer.data = a;
    uv_timer_start(&a->kube.files_timer, files_probe, 0, 0);
    uv_timer_init(&a->core.loop, &a->kube.probe_timer);
    a->kube.probe_timer.data = a;
    return uv_timer_start(&a->kube.probe_timer, probe, 0, 0);
}

static void kube_closed(void *data)
{
    struct app *a = data;
    a->kube.client = NULL;
    for (size_t i = 0; i < a->kube.nres; i++) {
        store_free(a->kube.res[i].store);
        a->kube.res[i].store = NULL;
    }
    app_handle_closed(a);
}

static void refl_closed(void *data)
{
    struct app_res *r = data;
    struct app *a = r->app;
    r->refl = NULL;
    for (size_t i = 0; i < a->kube.nres; i++)
        if (a->kube.res[i].refl)
            return;
    /* Every reflector is gone: nothing uses the client any more. */
    if (a->kube.client)
        kube_client_close(a->kube.client, kube_closed, a);
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
    a->kube.quota = NULL;
    app_handle_closed(a);
}

static void close_rest(struct app *a);

/* HA goes first: its last ledger write and the Lease release need the
 * client, which is closed (cancelling everything) after the reflectors. */
static void ha_closed(void *data)
{
    struct app *a = data;
    a->kube.ha = NULL;
    app_handle_closed(a);
    close_rest(a);
}

void app_kube_close(struct app *a)
{
    if (a->kube.ha) {
        app_closing_begin(a);
        ha_close(a->kube.ha, ha_closed, a);
        return;
    }
    close_rest(a);
}

static void check_cm_closed(void *data)
{
    struct app *a = data;
    free(a->check.check_kctx);
    a->check.check_kctx = NULL;
    app_handle_closed(a);
}

static void on_check_cm_loaded(void *data, int err, int http)
{
    struct app *a = data;
    a->check.check_cm_done = true;
    if (err == 0)
        return;
    char st[16];
    snprintf(st, sizeof(st), "%d", http);
    log_kv(LOG_WARN,
           "cannot read the quota ConfigMap; the quota shows what the API and the state file show",
           "configmap", a->core.cfg.accounting.state_configmap, "error", strerror(-err), "http", st,
           NULL);
}

int app_check_load_shared(struct app *a)
{
    a->check.check_cm_done = true;
    if (!a->core.cfg.accounting.state_configmap[0] || !a->kube.quota)
        return 0;
    char ns[256];
    pod_namespace(a, ns, sizeof(ns));
    a->check.check_kctx = calloc(1, sizeof(*a->check.check_kctx));
    if (!a->check.check_kctx)
        return -ENOMEM;
    a->check.check_kctx->client = a->kube.client;
    a->check.check_kctx->timeout_ms = 10000;
    /* can_write NULL means "always": never asked, check only loads */
    struct cm_store_opts co = {.name = a->core.cfg.accounting.state_configmap, .namespace_ = ns,
                               .transport = kube_transport_get(a->check.check_kctx),
                               .ledger = quota_ledger(a->kube.quota), .timeout_ms = 10000};
    int rc = cm_store_init(&a->check.check_cm, &a->core.loop, &co);
    if (!rc)
        rc = cm_store_load(a->check.check_cm, on_check_cm_loaded, a);
    if (rc) {
        if (a->check.check_cm) {
            app_closing_begin(a);
            cm_store_close(a->check.check_cm, check_cm_closed, a);
            a->check.check_cm = NULL;
        } else {
            free(a->check.check_kctx);
            a->check.check_kctx = NULL;
        }
        return rc;
    }
    a->check.check_cm_done = false;
    return 0;
}

void app_kube_free(struct app *a)
{
    if (a->kube.engine)
        engine_free(a->kube.engine);
    for (size_t i = 0; i < a->kube.nres; i++) {
        if (a->kube.res[i].store)
            store_free(a->kube.res[i].store);
        if (a->kube.res[i].acct_type)
            acct_type_free(a->kube.res[i].acct_type);
    }
    kube_config_clear(&a->kube.kcfg);
}

static void close_rest(struct app *a)
{
    if (a->check.check_cm) {
        if (a->check.check_kctx)
            kube_transport_cancel_all(a->check.check_kctx);
        app_closing_begin(a);
        cm_store_close(a->check.check_cm, check_cm_closed, a);
        a->check.check_cm = NULL;
    }
    writers_close(a); /* writers: before the client goes */
    if (a->kube.probe_timer.data && !uv_is_closing((uv_handle_t *)&a->kube.probe_timer)) {
        app_closing_begin(a);
        a->kube.probe_timer.data = a;
        uv_close((uv_handle_t *)&a->kube.probe_timer, probe_closed);
    }
    if (a->kube.files_timer.data && !uv_is_closing((uv_handle_t *)&a->kube.files_timer)) {
        app_closing_begin(a);
        a->kube.files_timer.data = a;
        uv_close((uv_handle_t *)&a->kube.files_timer, probe_closed);
    }
    if (a->kube.quota) {
        /* Its collector stays registered but is never called again: the
         * HTTP server is closed before, and metrics_free calls nothing. */
        app_closing_begin(a);
        quota_close(a->kube.quota, quota_closed, a);
    }
    bool any = false;
    for (size_t i = 0; i < a->kube.nres; i++)
        any |= a->kube.res[i].refl != NULL;
    app_closing_begin(a); /* released when the client is closed (or now) */
    if (!any) {
        if (a->kube.client)
            kube_client_close(a->kube.client, kube_closed, a);
        else
            kube_closed(a);
        return;
    }
    for (size_t i = 0; i < a->kube.nres; i++)
        if (a->kube.res[i].refl)
            reflector_close(a->kube.res[i].refl, refl_closed, &a->kube.res[i]);
}
