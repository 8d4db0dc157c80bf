/* kubesim discovery and other non-resource paths: /version, /api, /apis,
 * /api/v1, /apis/<g>[/<v>], /openapi/v3 (enough for kubectl create/apply),
 * /healthz; plus the server-side Table columns kubectl asks for. */
#include "ks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char default_version[] =
    "{\"major\":\"1\",\"minor\":\"30\",\"gitVersion\":\"v1.30.6\",\"gitCommit\":\"kubesim\","
    "\"gitTreeState\":\"clean\",\"buildDate\":\"2025-01-01T00:00:00Z\",\"goVersion\":\"go1.22\","
    "\"compiler\":\"gc\",\"platform\":\"linux/amd64\"}";

static bool gv_enabled(const char *group, const char *version)
{
    for (size_t i = 0; i < ks_nrdefs; i++)
        if (!strcmp(ks_rdefs[i].group, group) && (!version || !strcmp(ks_rdefs[i].version, version)) &&
            !sim.disabled[i])
            return true;
    return false;
}

static void verbs(struct sbuf *b)
{
    sbuf_adds(b, "[\"create\",\"delete\",\"deletecollection\",\"get\",\"list\",\"patch\",\"update\",\"watch\"]");
}

static void resource_list(struct sbuf *b, const char *group, const char *version)
{
    char gv[128];
    if (group[0])
        snprintf(gv, sizeof gv, "%s/%s", group, version);
    else
        snprintf(gv, sizeof gv, "%s", version);
    sbuf_printf(b, "{\"kind\":\"APIResourceList\",\"apiVersion\":\"v1\",\"groupVersion\":\"%s\",\"resources\":[", gv);
    bool first = true;
    for (size_t i = 0; i < ks_nrdefs; i++) {
        const struct rdef *d = &ks_rdefs[i];
        if (strcmp(d->group, group) || strcmp(d->version, version) || sim.disabled[i])
            continue;
        sbuf_printf(b, "%s{\"name\":\"%s\",\"singularName\":\"%s\",\"namespaced\":%s,\"kind\":\"%s\",\"verbs\":",
                    first ? "" : ",", d->resource, d->singular, d->namespaced ? "true" : "false", d->kind);
        verbs(b);
        if (d->shortnames) {
            sbuf_adds(b, ",\"shortNames\":[");
            const char *p = d->shortnames;
            bool f2 = true;
            while (*p) {
                const char *e = strchr(p, ',');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                sbuf_printf(b, "%s\"%.*s\"", f2 ? "" : ",", (int)n, p);
                f2 = false;
                p += n + (e ? 1 : 0);
            }
            sbuf_adds(b, "]");
        }
        if (!strcmp(d->resource, "pods"))
            sbuf_adds(b, ",\"categories\":[\"all\"]");
        sbuf_adds(b, "}");
        sbuf_printf(b, ",{\"name\":\"%s/status\",\"singularName\":\"\",\"namespaced\":%s,\"kind\":\"%s\","
                       "\"verbs\":[\"get\",\"patch\",\"update\"]}",
                    d->resource, d->namespaced ? "true" : "false", d->kind);
        first = false;
    }
    sbuf_adds(b, "]}");
}

static void group_obj(struct sbuf *b, const char *group)
{
    sbuf_printf(b, "{\"name\":\"%s\",\"versions\":[", group);
    const char *pref = NULL;
    bool first = true;
    for (size_t i = 0; i < ks_nrdefs; i++) {
        const struct rdef *d = &ks_rdefs[i];
        if (strcmp(d->group, group) || sim.disabled[i])
            continue;
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(ks_rdefs[k].group, group) && !strcmp(ks_rdefs[k].version, d->version) && !sim.disabled[k])
                dup = true;
        if (dup)
            continue;
        sbuf_printf(b, "%s{\"groupVersion\":\"%s/%s\",\"version\":\"%s\"}", first ? "" : ",", group, d->version,
                    d->version);
        if (!pref)
            pref = d->version;
        first = false;
    }
    sbuf_printf(b, "],\"preferredVersion\":{\"groupVersion\":\"%s/%s\",\"version\":\"%s\"}}", group,
                pref ? pref : "v1", pref ? pref : "v1");
}

static void schema_id(const struct rdef *d, char *out, size_t n)
{
    if (!d->builtin) {
        /* CRDs: reversed group, like the apiserver does */
        snprintf(out, n, "%s.%s.%s", d->group, d->version, d->kind);
        return;
    }
    char g[64];
    snprintf(g, sizeof g, "%s", d->group[0] ? d->group : "core");
    char *dot = strchr(g, '.');
    if (dot && !strcmp(dot, ".k8s.io"))
        *dot = '\0';
    snprintf(out, n, "io.k8s.api.%s.%s.%s", g, d->version, d->kind);
}

static void openapi_gv(struct sbuf *b, const char *group, const char *version)
{
    sbuf_adds(b, "{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"Kubernetes\",\"version\":\"kubesim\"},\"paths\":{");
    bool first = true;
    for (size_t i = 0; i < ks_nrdefs; i++) {
        const struct rdef *d = &ks_rdefs[i];
        if (strcmp(d->group, group) || strcmp(d->version, version) || sim.disabled[i])
            continue;
        char base[256], gvk[256];
        if (group[0])
            snprintf(base, sizeof base, "/apis/%s/%s", group, version);
        else
            snprintf(base, sizeof base, "/api/%s", version);
        snprintf(gvk, sizeof gvk, "\"x-kubernetes-group-version-kind\":{\"group\":\"%s\",\"kind\":\"%s\",\"version\":\"%s\"}",
                 group, d->kind, version);
        const char *nsp = d->namespaced ? "/namespaces/{namespace}" : "";
        const char *param = "\"parameters\":[{\"name\":\"fieldValidation\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}},"
                            "{\"name\":\"dryRun\",\"in\":\"query\",\"schema\":{\"type\":\"string\"}}]";
        sbuf_printf(b, "%s\"%s%s/%s\":{\"get\":{\"operationId\":\"list%s\",%s,\"x-kubernetes-action\":\"list\"},"
                       "\"post\":{\"operationId\":\"create%s\",%s,%s,\"x-kubernetes-action\":\"post\"}}",
                    first ? "" : ",", base, nsp, d->resource, d->kind, gvk, d->kind, param, gvk);
        sbuf_printf(b, ",\"%s%s/%s/{name}\":{\"get\":{\"operationId\":\"read%s\",%s,\"x-kubernetes-action\":\"get\"},"
                       "\"put\":{\"operationId\":\"replace%s\",%s,%s,\"x-kubernetes-action\":\"put\"},"
                       "\"patch\":{\"operationId\":\"patch%s\",%s,%s,\"x-kubernetes-action\":\"patch\"},"
                       "\"delete\":{\"operationId\":\"delete%s\",%s,%s,\"x-kubernetes-action\":\"delete\"}}",
                    base, nsp, d->resource, d->kind, gvk, d->kind, param, gvk, d->kind, param, gvk, d->kind,
                    param, gvk);
        first = false;
    }
    sbuf_adds(b, "},\"components\":{\"schemas\":{");
    first = true;
    for (size_t i = 0; i < ks_nrdefs; i++) {
        const struct rdef *d = &ks_rdefs[i];
        if (strcmp(d->group, group) || strcmp(d->version, version) || sim.disabled[i])
            continue;
        char id[256];
        schema_id(d, id, sizeof id);
        sbuf_printf(b, "%s\"%s\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true,"
                       "\"properties\":{\"apiVersion\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\"},"
                       "\"metadata\":{\"type\":\"object\",\"x-kubernetes-preserve-unknown-fields\":true}},"
                       "\"x-kubernetes-group-version-kind\":[{\"group\":\"%s\",\"kind\":\"%s\",\"version\":\"%s\"}]}",
                    first ? "" : ",", id, group, d->kind, version);
        first = false;
    }
    sbuf_adds(b, "}}}");
}

static void openapi_root(struct sbuf *b)
{
    sbuf_adds(b, "{\"paths\":{");
    bool first = true;
    for (size_t i = 0; i < ks_nrdefs; i++) {
        const struct rdef *d = &ks_rdefs[i];
        if (sim.disabled[i])
            continue;
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(ks_rdefs[k].group, d->group) && !strcmp(ks_rdefs[k].version, d->version) && !sim.disabled[k])
                dup = true;
        if (dup)
            continue;
        char p[160];
        if (d->group[0])
            snprintf(p, sizeof p, "apis/%s/%s", d->group, d->version);
        else
            snprintf(p, sizeof p, "api/%s", d->version);
        sbuf_printf(b, "%s\"%s\":{\"serverRelativeURL\":\"/openapi/v3/%s?hash=%016llx\"}", first ? "" : ",", p, p,
                    0x5eedull + i);
        first = false;
    }
    sbuf_adds(b, "}}");
}

enum MHD_Result discovery_handle(struct MHD_Connection *c, const char *url, bool *handled)
{
    struct sbuf b = {0};
    char g[128] = "", v[64] = "";
    *handled = true;
    pthread_mutex_lock(&sim.mu);
    if (!strcmp(url, "/version") || !strcmp(url, "/version/")) {
        sbuf_adds(&b, sim.version_json ? sim.version_json : default_version);
    } else if (!strcmp(url, "/healthz") || !strcmp(url, "/readyz") || !strcmp(url, "/livez")) {
        pthread_mutex_unlock(&sim.mu);
        char *ok = xstrdup("ok");
        struct MHD_Response *r = MHD_create_response_from_buffer(2, ok, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "text/plain");
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        log_request("get", "GET", url, "", 200);
        return ret;
    } else if (!strcmp(url, "/api") || !strcmp(url, "/api/")) {
        sbuf_adds(&b, "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],\"serverAddressByClientCIDRs\":"
                      "[{\"clientCIDR\":\"0.0.0.0/0\",\"serverAddress\":\"127.0.0.1:443\"}]}");
    } else if (!strcmp(url, "/api/v1") || !strcmp(url, "/api/v1/")) {
        resource_list(&b, "", "v1");
    } else if (!strcmp(url, "/apis") || !strcmp(url, "/apis/")) {
        sbuf_adds(&b, "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[");
        bool first = true;
        for (size_t i = 0; i < ks_nrdefs; i++) {
            const char *grp = ks_rdefs[i].group;
            if (!grp[0] || !gv_enabled(grp, NULL))
                continue;
            bool dup = false;
            for (size_t k = 0; k < i; k++)
                if (!strcmp(ks_rdefs[k].group, grp))
                    dup = true;
            if (dup)
                continue;
            if (!first)
                sbuf_adds(&b, ",");
            group_obj(&b, grp);
            first = false;
        }
        sbuf_adds(&b, "]}");
    } else if (sscanf(url, "/apis/%127[^/]/%63[^/]", g, v) == 2 && gv_enabled(g, v)) {
        resource_list(&b, g, v);
    } else if (sscanf(url, "/apis/%127[^/]", g) == 1 && !strchr(url + 6, '/') && gv_enabled(g, NULL)) {
        sbuf_adds(&b, "{\"kind\":\"APIGroup\",\"apiVersion\":\"v1\",");
        struct sbuf t = {0};
        group_obj(&t, g);
        sbuf_add(&b, t.data + 1, t.len - 1);
        sbuf_free(&t);
    } else if (!strcmp(url, "/openapi/v3") || !strcmp(url, "/openapi/v3/")) {
        openapi_root(&b);
    } else if (!strcmp(url, "/openapi/v3/api/v1")) {
        openapi_gv(&b, "", "v1");
    } else if (sscanf(url, "/openapi/v3/apis/%127[^/]/%63[^/?]", g, v) == 2 && gv_enabled(g, v)) {
        openapi_gv(&b, g, v);
    } else {
        *handled = false;
    }
    pthread_mutex_unlock(&sim.mu);
    if (!*handled) {
        sbuf_free(&b);
        return MHD_NO;
    }
    return send_json(c, 200, b.data, b.len, NULL, NULL);
}

/* ---- Table columns ---- */
struct col {
    const char *res, *title, *type, *path;
};
static const struct col cols[] = {
    {"persistentvolumes", "Capacity", "string", "spec.capacity.storage"},
    {"persistentvolumes", "Reclaim Policy", "string", "spec.persistentVolumeReclaimPolicy"},
    {"persistentvolumes", "Status", "string", "status.phase"},
    {"persistentvolumes", "Claim", "string", "@claim"},
    {"persistentvolumes", "StorageClass", "string", "spec.storageClassName"},
    {"persistentvolumeclaims", "Status", "string", "status.phase"},
    {"persistentvolumeclaims", "Volume", "string", "spec.volumeName"},
    {"persistentvolumeclaims", "Capacity", "string", "status.capacity.storage"},
    {"persistentvolumeclaims", "StorageClass", "string", "spec.storageClassName"},
    {"pods", "Status", "string", "status.phase"},
    {"pods", "Node", "string", "spec.nodeName"},
    {"nodes", "Version", "string", "status.nodeInfo.kubeletVersion"},
    {"volumesnapshots", "ReadyToUse", "string", "status.readyToUse"},
    {"volumesnapshots", "SourcePVC", "string", "spec.source.persistentVolumeClaimName"},
    {"volumesnapshots", "SnapshotClass", "string", "spec.volumeSnapshotClassName"},
    {"leases", "Holder", "string", "spec.holderIdentity"},
    {"storageclasses", "Provisioner", "string", "provisioner"},
    {"backups", "Phase", "string", "status.phase"},
    {"restores", "Phase", "string", "status.phase"},
};

void table_columns(struct sbuf *b, const struct rdef *d)
{
    sbuf_adds(b, "\"columnDefinitions\":[{\"name\":\"Name\",\"type\":\"string\",\"format\":\"name\","
                 "\"description\":\"Name\",\"priority\":0}");
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        if (!strcmp(cols[i].res, d->resource))
            sbuf_printf(b, ",{\"name\":\"%s\",\"type\":\"%s\",\"format\":\"\",\"description\":\"\",\"priority\":0}",
                        cols[i].title, cols[i].type);
    sbuf_adds(b, ",{\"name\":\"Age\",\"type\":\"string\",\"format\":\"\",\"description\":\"\",\"priority\":0}]");
}

static void age(char *out, size_t n, const char *ts)
{
    struct tm tm = {0};
    if (!ts || !strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm)) {
        snprintf(out, n, "<unknown>");
        return;
    }
    long s = (long)(time(NULL) - timegm(&tm));
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, n, "%lds", s);
    else if (s < 7200)
        snprintf(out, n, "%ldm", s / 60);
    else if (s < 172800)
        snprintf(out, n, "%ldh", s / 3600);
    else
        snprintf(out, n, "%ldd", s / 86400);
}

void table_row(struct sbuf *b, const struct obj *o)
{
    const struct rdef *d = &ks_rdefs[o->res];
    sbuf_adds(b, "[");
    sbuf_add_json_str(b, o->name);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        if (strcmp(cols[i].res, d->resource))
            continue;
        char tmp[512];
        const char *v;
        if (!strcmp(cols[i].path, "@claim")) {
            const char *cn = obj_field(o, "spec.claimRef.name"), *cns = obj_field(o, "spec.claimRef.namespace");
            snprintf(tmp, sizeof tmp, "%s%s%s", cns ? cns : "", cn ? "/" : "", cn ? cn : "");
            v = tmp;
        } else {
            v = obj_field(o, cols[i].path);
        }
        sbuf_adds(b, ",");
        sbuf_add_json_str(b, v && *v ? v : "<none>");
    }
    char a[32];
    age(a, sizeof a, obj_field(o, "metadata.creationTimestamp"));
    sbuf_adds(b, ",");
    sbuf_add_json_str(b, a);
    sbuf_adds(b, "]");
}
