/* Rules engine, cluster side: storage classes (skipped-class verdicts
 * for the admission ConfigMap, the default class), snapshot classes,
 * nodes (most common region and subscription), the /version input and
 * the prerequisites built from all of it. */
#include "rules/engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

/* ---- classes, drivers, nodes ---- */

void engine__sc_apply(struct engine *e, const struct storageclass_rec *old,
                     const struct storageclass_rec *rec)
{
    const char *name = rec ? rec->meta.name : old->meta.name;
    void *v = NULL;
    struct sc_ent *prev = strmap_get(&e->classes, name);
    bool changed = true;
    bool params_changed = rec ? (!prev || prev->params != rec->params) : (prev && prev->params);
    if (rec && prev && prev->is_default == rec->is_default && prev->params == rec->params &&
        strcmp(prev->provisioner, rec->provisioner) == 0)
        changed = false;
    if (!rec) {
        if (strmap_remove(&e->classes, name, &v))
            engine__free_sc(v);
        else
            changed = false;
    } else if (changed) {
        struct sc_ent *s = calloc(1, sizeof(*s));
        if (!s || !(s->provisioner = strdup(rec->provisioner))) {
            free(s);
            return;
        }
        s->is_default = rec->is_default;
        s->params = rec->params;
        if (strmap_put(&e->classes, name, s, &v, NULL) < 0) {
            engine__free_sc(s);
            return;
        }
        engine__free_sc(v);
    }
    if (params_changed)
        engine__pv_rejudge(e); /* a PV's verdict and notes read its class's parameters */
    if (changed)
        engine__notify(e, ENGINE_CHANGED_CLASSES);
}

void engine__free_bsl(void *v)
{
    struct bsl_ent *b = v;
    if (!b)
        return;
    free(b->phase);
    free(b->message);
    free(b);
}

void engine__bsl_apply(struct engine *e, const struct bsl_rec *old, const struct bsl_rec *rec)
{
    const struct obj_meta *m = rec ? &rec->meta : &old->meta;
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", model_meta_ns(m) ? model_meta_ns(m) : "", m->name);
    void *v = NULL;
    if (strmap_remove(&e->bsls, key, &v))
        engine__free_bsl(v);
    if (!rec)
        return;
    struct bsl_ent *b = calloc(1, sizeof(*b));
    if (!b)
        return;
    b->phase = strdup(rec->phase ? rec->phase : "");
    b->message = strdup(rec->message ? rec->message : "");
    if (!b->phase || !b->message || strmap_put(&e->bsls, key, b, NULL, NULL) < 0)
        engine__free_bsl(b);
}

struct class_iter {
    void (*cb)(void *data, const char *name, const char *provisioner, enum pv_reason reason,
               const char *message, bool is_default);
    void *data;
    const struct engine *e;
};

static bool class_cb(void *data, const char *key, void *val)
{
    struct class_iter *it = data;
    const struct sc_ent *s = val;
    struct classify_ctx ctx = engine__classify_ctx(it->e, NULL);
    ctx.class_params = s->params;
    enum pv_reason r = classify_class(&ctx, s->provisioner);
    if (r == PV_REASON_SUPPORTED)
        return true;
    char msg[512];
    classify_class_message_ctx(&ctx, key, s->provisioner, msg, sizeof(msg));
    it->cb(it->data, key, s->provisioner, r, msg, s->is_default);
    return true;
}

void engine_foreach_skipped_class(const struct engine *e,
                                  void (*cb)(void *data, const char *name, const char *provisioner,
                                             enum pv_reason reason, const char *message,
                                             bool is_default),
                                  void *data)
{
    struct class_iter it = {cb, data, e};
    strmap_foreach(&e->classes, class_cb, &it);
}

struct default_find {
    const char *name;
};

static bool default_cb(void *data, const char *key, void *val)
{
    struct default_find *d = data;
    const struct sc_ent *s = val;
    if (s->is_default && (!d->name || strcmp(key, d->name) < 0))
        d->name = key;
    return true;
}

const char *engine_default_class(const struct engine *e)
{
    struct default_find d = {NULL};
    strmap_foreach(&e->classes, default_cb, &d);
    return d.name;
}

void engine__vsc_apply(struct engine *e, const struct snapshotclass_rec *old,
                      const struct snapshotclass_rec *rec)
{
    const char *name = rec ? rec->meta.name : old->meta.name;
    void *v = NULL;
    if (strmap_remove(&e->vsc, name, &v)) {
        if (strcmp(v, DISK_CSI_DRIVER) == 0)
            e->disk_vsc--;
        free(v);
    }
    if (!rec)
        return;
    char *d = strdup(rec->driver);
    if (!d || strmap_put(&e->vsc, name, d, NULL, NULL) < 0) {
        free(d);
        return;
    }
    if (strcmp(d, DISK_CSI_DRIVER) == 0)
        e->disk_vsc++;
}

struct node_ent {
    const char *region; /* key in node_regions; NULL */
    const char *sub;    /* key in node_subs; NULL */
    bool linux_ready;   /* Ready, linux, amd64 */
};

void engine__node_apply(struct engine *e, const struct node_rec *old, const struct node_rec *rec)
{
    const char *name = rec ? rec->meta.name : old->meta.name;
    void *v = NULL;
    if (strmap_remove(&e->nodes, name, &v)) {
        struct node_ent *n = v;
        if (n->region)
            strmap_decr(&e->node_regions, n->region);
        if (n->sub)
            strmap_decr(&e->node_subs, n->sub);
        e->nodes_linux_ready -= n->linux_ready;
        free(n);
    }
    if (!rec)
        return;
    struct node_ent *n = calloc(1, sizeof(*n));
    if (!n)
        return;
    if (rec->region)
        n->region = strmap_incr(&e->node_regions, rec->region);
    if (rec->subscription_id)
        n->sub = strmap_incr(&e->node_subs, rec->subscription_id);
    if (strmap_put(&e->nodes, name, n, NULL, NULL) < 0) {
        if (n->region)
            strmap_decr(&e->node_regions, n->region);
        if (n->sub)
            strmap_decr(&e->node_subs, n->sub);
        free(n);
        return;
    }
    n->linux_ready = rec->ready && rec->linux_amd64;
    e->nodes_linux_ready += n->linux_ready;
}

struct most {
    const char *key;
    size_t n;
};

static bool most_cb(void *data, const char *key, void *val)
{
    struct most *m = data;
    size_t n = (size_t)(uintptr_t)val;
    if (n > m->n || (n == m->n && m->key && strcmp(key, m->key) < 0)) {
        m->key = key;
        m->n = n;
    }
    return true;
}

static const char *most_common(const struct strmap *m)
{
    struct most r = {NULL, 0};
    strmap_foreach(m, most_cb, &r);
    return r.key ? r.key : "";
}

const char *engine_cluster_region(const struct engine *e)
{
    return *e->o.cluster_region ? e->o.cluster_region : most_common(&e->node_regions);
}

const char *engine_cluster_subscription(const struct engine *e)
{
    return *e->o.cluster_subscription ? e->o.cluster_subscription : most_common(&e->node_subs);
}

const char *engine_kubernetes_version(const struct engine *e)
{
    return e->version ? e->version : "";
}

/* ---- inputs ---- */

void engine_set_version(struct engine *e, const char *git_version)
{
    engine_set_version_info(e, git_version, NULL, NULL);
}

void engine_set_version_info(struct engine *e, const char *git_version, const char *major,
                             const char *minor)
{
    int ma, mi;
    char buf[64];
    const char *v = git_version;
    if ((!v || prereq_parse_version(v, &ma, &mi) < 0) && major && minor) {
        char *end;
        long lma = strtol(major, &end, 10);
        if (end != major && *end == '\0' && lma >= 0 && lma < 1000 &&
            prereq_parse_minor(minor, &mi) == 0) {
            snprintf(buf, sizeof(buf), "v%ld.%d", lma, mi);
            v = buf;
        }
    }
    free(e->version);
    e->version = (v && *v) ? strdup(v) : NULL;
}

/* ---- prerequisites ---- */

struct prereq_facts engine_facts(const struct engine *e)
{
    struct prereq_facts f = {
        .cluster_identity = e->o.cluster_identity,
        .vault_region = e->o.vault_region,
        .vault_subscription = e->o.vault_subscription,
        .storage_region = e->o.storage_region,
        .storage_subscription = e->o.storage_subscription,
        .storage_kind = e->o.storage_kind,
        .storage_sku = e->o.storage_sku,
        .backup_policies = e->o.backup_policies,
        .backup_instances = e->o.backup_instances,
        .vault_tier = e->o.vault_tier,
    };
    return f;
}

struct bsl_scan {
    const char *ext_ns;
    long other;
    char *other_ex;
    size_t other_n;
    int state;        /* 1 all Available, 0 one Unavailable, -1 none */
    char *detail;
    size_t detail_n;
};

static bool bsl_cb(void *data, const char *key, void *val)
{
    struct bsl_scan *s = data;
    const struct bsl_ent *b = val;
    size_t nl = strlen(s->ext_ns);
    bool ours = strncmp(key, s->ext_ns, nl) == 0 && key[nl] == '/';
    if (!ours) {
        if (s->other++ == 0)
            snprintf(s->other_ex, s->other_n, "%s", key);
        return true;
    }
    bool avail = strcmp(b->phase, "Available") == 0;
    if (s->state != 0) {
        if (avail) {
            s->state = 1;
            snprintf(s->detail, s->detail_n, "%s: Available", key);
        } else {
            s->state = 0;
            snprintf(s->detail, s->detail_n, "%s: %s%s%s", key, *b->phase ? b->phase : "no phase yet",
                     *b->message ? ": " : "", b->message);
        }
    }
    return true;
}

struct ns_scope {
    const struct engine *e;
    long n;
};

static bool ns_scope_cb(void *data, const char *key, void *val)
{
    (void)val;
    struct ns_scope *s = data;
    if (!matrix_namespace_excluded(s->e->ed, key))
        s->n++;
    return true;
}

static void cluster_inputs(const struct engine *e, struct prereq_input *in, char *bsl_detail,
                           size_t bn, char *other, size_t on)
{
    in->files_pvs = e->smb_files;
    in->files_driver_version = engine_files_driver_version(e);
    if (!(e->synced & ENGINE_RES_NODE) && e->nodes.n == 0) {
        in->nodes = -1;
        in->linux_amd64_ready = -1;
    } else {
        in->nodes = (long)e->nodes.n;
        in->linux_amd64_ready = (long)e->nodes_linux_ready;
    }
    struct bsl_scan bs = {.ext_ns = e->o.extension_namespace, .other_ex = other, .other_n = on,
                          .state = -1, .detail = bsl_detail, .detail_n = bn};
    other[0] = bsl_detail[0] = '\0';
    strmap_foreach(&e->bsls, bsl_cb, &bs);
    bool bsl_listed = (e->synced & ENGINE_RES_BSL) || e->bsls.n > 0;
    in->other_velero_locations = bsl_listed ? bs.other : -1;
    in->other_velero_example = other;
    in->bsl_state = bs.state;
    in->bsl_detail = bs.state < 0 ? (bsl_listed ? NULL : "BackupStorageLocations not listed (velero.io not served?)")
                                  : bsl_detail;
    if (!(e->synced & ENGINE_RES_NAMESPACE) && e->namespaces.n == 0) {
        in->namespaces_in_scope = -1;
    } else if (e->o.n_backup_namespaces) {
        long n = 0;
        for (size_t i = 0; i < e->o.n_backup_namespaces; i++)
            if (!matrix_namespace_excluded(e->ed, e->o.backup_namespaces[i]))
                n++;
        in->namespaces_in_scope = n;
    } else {
        struct ns_scope s = {e, 0};
        strmap_foreach(&e->namespaces, ns_scope_cb, &s);
        in->namespaces_in_scope = s.n;
    }
}

void engine_prerequisites(const struct engine *e, struct prereq_result *out)
{
    char bsl_detail[192], other[300];
    char detail[192];
    int ext = engine_extension_running(e);
    if (ext == 1)
        snprintf(detail, sizeof(detail), "%zu pods Running and Ready", engine_extension_pod_count(e));
    else if (ext == 0)
        engine_extension_ok(e, detail, sizeof(detail));
    else
        snprintf(detail, sizeof(detail), "pods not listed yet");
    int snap_class = -1;
    if (e->snapshot_api == 0)
        snap_class = 0;
    else if (e->synced & ENGINE_RES_VSC)
        snap_class = e->disk_vsc > 0;
    struct prereq_input in = {
        .edition = e->ed,
        .now = e->now_override ? e->now_override : clock_now_ms() / 1000,
        .kversions = e->o.kversions,
        .facts = engine_facts(e),
        .kubernetes_version = e->version,
        .csi_disk_driver = (e->synced & ENGINE_RES_CSIDRIVER)
                               ? strmap_has(&e->drivers, DISK_CSI_DRIVER)
                               : (strmap_has(&e->drivers, DISK_CSI_DRIVER) ? 1 : -1),
        .snapshot_api = e->snapshot_api,
        .snapshot_class = snap_class,
        .cluster_region = engine_cluster_region(e),
        .cluster_subscription = engine_cluster_subscription(e),
        .regions = e->o.regions,
        .policies_limit = e->o.policies_limit,
        .instances_limit = e->o.instances_limit,
        .extension_running = ext,
        .extension_detail = detail,
    };
    in.trusted_access = -1;
    if (snap_class == -1 && e->disk_vsc > 0)
        in.snapshot_class = 1;
    cluster_inputs(e, &in, bsl_detail, sizeof(bsl_detail), other, sizeof(other));
    engine__azure_input(e, &in);
    prereq_evaluate(&in, out);
    engine__azure_patch(e, out);
}

bool engine_prerequisites_ok(const struct engine *e, char *reason, size_t n)
{
    struct prereq_result r[PREREQ_COUNT];
    engine_prerequisites(e, r);
    bool ok = true;
    size_t off = 0;
    if (n)
        reason[0] = '\0';
    for (int i = 0; i < PREREQ_COUNT; i++) {
        if (!r[i].applies || r[i].status != PREREQ_FAIL)
            continue;
        if (n > off) {
            int w = snprintf(reason + off, n - off, "%s%s: %s", ok ? "" : "; ",
                             prereq_check_name(i), r[i].observed);
            if (w > 0)
                off += (size_t)w < n - off ? (size_t)w : n - off - 1;
        }
        ok = false;
    }
    return ok;
}
