/* Readiness checks (synced, apiserver, extension, prerequisites)
 * and the JSON routes of the running daemon (/api/v1/report and, for the
 * convergence tests, /debug/store when ABC_DEBUG_ENDPOINTS=1). Owns no
 * part of struct app: it reads the core and kube parts (app_int.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "app_int.h"
#include "http/routes_quota.h"
#include "rules/report.h"
#include "util/clock.h"
#include "util/log.h"

bool app_all_synced(const struct app *a, char *waiting, size_t n)
{
    bool all = true;
    size_t off = 0;
    if (waiting && n)
        waiting[0] = '\0';
    for (size_t i = 0; i < a->kube.nres; i++) {
        const struct app_res *r = &a->kube.res[i];
        if (r->synced || r->absent)
            continue;
        all = false;
        if (waiting && off < n) {
            int k = snprintf(waiting + off, n - off, "%s%s", off ? ", " : "waiting for the first list of ",
                             r->type->resource);
            if (k > 0)
                off += (size_t)k;
        }
    }
    return all;
}

bool app_first_view_done(const struct app *a, char *waiting, size_t n)
{
    if (!app_all_synced(a, waiting, n))
        return false;
    if (!a->check.version_done || !a->check.files_done) {
        if (waiting && n)
            snprintf(waiting, n, "waiting for the first answer to %s",
                     !a->check.version_done ? "GET /version"
                                            : "GET daemonset kube-system/csi-azurefile-node");
        return false;
    }
    return true;
}

/* A follower on standby watches nothing: nothing to be in step with, no
 * cluster to judge; its checks pass (the leader's say how the cluster is). */
static bool check_synced(void *data, char *reason, size_t n)
{
    return app_on_standby(data) || app_first_view_done(data, reason, n);
}

static bool check_apiserver(void *data, char *reason, size_t n)
{
    struct app *a = data;
    int64_t last = a->kube.client ? kube_client_last_success_ms(a->kube.client) : 0;
    int64_t now = clock_mono_ms();
    if (last && now - last <= 30000)
        return true;
    if (!last)
        snprintf(reason, n, "no successful response from %s yet", a->kube.kcfg.server ? a->kube.kcfg.server : "the API server");
    else
        snprintf(reason, n, "no successful response from %s for %" PRId64 " s",
                 a->kube.kcfg.server ? a->kube.kcfg.server : "the API server", (now - last) / 1000);
    return false;
}

static bool check_extension(void *data, char *reason, size_t n)
{
    struct app *a = data;
    return app_on_standby(a) || engine_extension_ok(a->kube.engine, reason, n);
}

static bool check_prerequisites(void *data, char *reason, size_t n)
{
    struct app *a = data;
    return app_on_standby(a) || engine_prerequisites_ok(a->kube.engine, reason, n);
}

int app_register_checks(struct app *a)
{
    int rc = readyz_register(a->core.readyz, "synced", check_synced, a);
    if (!rc)
        rc = readyz_register(a->core.readyz, "apiserver", check_apiserver, a);
    if (!rc)
        rc = readyz_register(a->core.readyz, "extension", check_extension, a);
    if (!rc)
        rc = readyz_register(a->core.readyz, "prerequisites", check_prerequisites, a);
    return rc;
}

static void report_route(void *data, const struct http_request *req, struct http_response *resp)
{
    struct app *a = data;
    (void)req;
    if (app_on_standby(a)) { /* no watches here: the leader has the report */
        ha_answer_not_leader(ha_leader(a->kube.ha), resp);
        return;
    }
    struct json_object *q = quota_json(a->kube.quota);
    struct json_object *az = app_azure_json(a);
    struct report_opts ro = {
        .now = clock_now_ms() / 1000,
        .quota = q,
        .quota_warn = quota_any_warn(a->kube.quota),
        .azure = az,
    };
    const char *pretty = http_request_query(req, "pretty");
    if (report_json_render(a->kube.engine, &ro, pretty != NULL, &resp->body)) {
        resp->status = 500;
        buf_reset(&resp->body);
    } else {
        resp->content_type = "application/json";
        resp->allow_gzip = true;
    }
    json_object_put(q);
    json_object_put(az);
}

static void debug_store_route(void *data, const struct http_request *req, struct http_response *resp)
{
    struct app *a = data;
    const char *res = http_request_query(req, "resource");
    for (size_t i = 0; res && i < a->kube.nres; i++) {
        if (strcmp(a->kube.res[i].type->resource, res) != 0 || !a->kube.res[i].refl)
            continue;
        if (reflector_dump(a->kube.res[i].refl, &resp->body))
            resp->status = 500;
        resp->content_type = "application/json";
        resp->allow_gzip = true;
        return;
    }
    resp->status = 404;
    if (buf_adds(&resp->body, "unknown resource\n"))
        buf_reset(&resp->body);
}

int app_register_routes(struct app *a)
{
    int rc = http_server_route(a->core.http, "GET", "/api/v1/report", report_route, a);
    if (!rc && a->kube.ha) /* before quota's: a follower answers reservations with 503 */
        rc = ha_register_routes(a->kube.ha, a->core.http);
    if (!rc)
        rc = quota_register_routes(a->kube.quota, a->core.http);
    const char *dbg = getenv("ABC_DEBUG_ENDPOINTS");
    if (!rc && dbg && strcmp(dbg, "1") == 0) {
        log_kv(LOG_WARN, "debug endpoints enabled (ABC_DEBUG_ENDPOINTS=1)", NULL);
        rc = http_server_route(a->core.http, "GET", "/debug/store", debug_store_route, a);
    }
    return rc;
}
