/* Rules engine, volume side: PV verdicts with their pre-rendered metric
 * lines and per-reason counters, claims, storage classes, CSI drivers,
 * snapshot classes, nodes (region/subscription) and the prerequisites.
 * Fed by store consumers on the loop; read by report, metrics and readyz. */
#include "rules/engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/regions.h"
#include "util/buf.h"

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static void opts_free(struct engine_opts *o)
{
    free((char *)o->cluster_region);
    free((char *)o->cluster_subscription);
    free((char *)o->cluster_identity);
    free((char *)o->vault_region);
    free((char *)o->vault_subscription);
    free((char *)o->storage_region);
    free((char *)o->storage_subscription);
    free((char *)o->extension_namespace);
    free((char *)o->extension_selector);
    memset(o, 0, sizeof(*o));
}

static int opts_copy(struct engine_opts *dst, const struct engine_opts *src)
{
    *dst = *src;
    dst->cluster_region = dup_or_empty(src->cluster_region);
    dst->cluster_subscription = dup_or_empty(src->cluster_subscription);
    dst->cluster_identity = dup_or_empty(src->cluster_identity);
    dst->vault_region = dup_or_empty(src->vault_region);
    dst->vault_subscription = dup_or_empty(src->vault_subscription);
    dst->storage_region = dup_or_empty(src->storage_region);
    dst->storage_subscription = dup_or_empty(src->storage_subscription);
    dst->extension_namespace = dup_or_empty(src->extension_namespace);
    dst->extension_selector = dup_or_empty(src->extension_selector);
    if (!dst->cluster_region || !dst->cluster_subscription || !dst->cluster_identity ||
        !dst->vault_region || !dst->vault_subscription || !dst->storage_region ||
        !dst->storage_subscription || !dst->extension_namespace || !dst->extension_selector) {
        opts_free(dst);
        return -ENOMEM;
    }
    return 0;
}

void engine_opts_default(struct engine_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->backup_policies = -1;
    o->backup_instances = -1;
    o->policies_limit = 5000;
    o->instances_limit = 5000;
    o->snapshots_per_disk = 500;
    o->warn_ratio = 0.8;
    o->extension_namespace = "dataprotection-microsoft";
    o->extension_selector = "app.kubernetes.io/name=dataprotection-microsoft-kubernetes";
}

struct engine *engine_new(const struct engine_opts *o)
{
    struct engine *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    struct engine_opts def;
    engine_opts_default(&def);
    if (opts_copy(&e->o, o ? o : &def) < 0) {
        free(e);
        return NULL;
    }
    e->snapshot_api = -1;
    return e;
}

int engine_set_opts(struct engine *e, const struct engine_opts *o)
{
    struct engine_opts n;
    if (opts_copy(&n, o) < 0)
        return -ENOMEM;
    opts_free(&e->o);
    e->o = n;
    return 0;
}

const struct engine_opts *engine_get_opts(const struct engine *e)
{
    return &e->o;
}

static void intern_put(struct engine *e, const char *s)
{
    if (s)
        strmap_decr(&e->intern, s);
}

static void pv_ent_release(struct engine *e, struct pv_ent *p)
{
    intern_put(e, p->storage_class);
    intern_put(e, p->driver);
    intern_put(e, p->claim_ns);
    intern_put(e, p->phase);
    free(p->claim_name);
    free(p->line);
}

static bool free_pv_cb(void *data, const char *key, void *val)
{
    (void)key;
    pv_ent_release(data, val);
    free(val);
    return true;
}

void engine__free_sc(void *v)
{
    struct sc_ent *s = v;
    if (s)
        free(s->provisioner);
    free(s);
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    strmap_foreach(&e->pvs, free_pv_cb, e);
    strmap_clear(&e->pvs, NULL);
    strmap_clear(&e->intern, NULL);
    strmap_clear(&e->pvcs, free);
    strmap_clear(&e->pending_ns, NULL);
    strmap_clear(&e->classes, engine__free_sc);
    strmap_clear(&e->drivers, NULL);
    strmap_clear(&e->vsc, free);
    strmap_clear(&e->nodes, free);
    strmap_clear(&e->node_regions, NULL);
    strmap_clear(&e->node_subs, NULL);
    engine__free_ext(e);
    free(e->version);
    opts_free(&e->o);
    free(e);
}

void engine__notify(struct engine *e, unsigned what)
{
    if (what && e->on_change)
        e->on_change(e->on_change_data, what);
}

void engine_set_on_change(struct engine *e, engine_change_cb cb, void *data)
{
    e->on_change = cb;
    e->on_change_data = data;
}

/* ---- PersistentVolumes ---- */

static int escape_label(struct buf *b, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        int rc;
        if (*p == '\\')
            rc = buf_adds(b, "\\\\");
        else if (*p == '"')
            rc = buf_adds(b, "\\\"");
        else if (*p == '\n')
            rc = buf_adds(b, "\\n");
        else
            rc = buf_addc(b, *p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int render_pv_line(const char *name, const struct pv_ent *p, char **out, size_t *len)
{
    struct buf b;
    buf_init(&b, 0);
    const char *names[] = {"persistentvolume", "storageclass", "driver", "reason", "namespace",
                           "persistentvolumeclaim"};
    const char *vals[] = {name, p->storage_class, p->driver, pv_reason_code(p->reason),
                          p->claim_ns ? p->claim_ns : "", p->claim_name ? p->claim_name : ""};
    int rc = buf_adds(&b, "aks_backup_persistent_volume_supported{");
    for (size_t i = 0; rc == 0 && i < 6; i++) {
        rc = buf_printf(&b, "%s%s=\"", i ? "," : "", names[i]);
        if (rc == 0)
            rc = escape_label(&b, vals[i]);
        if (rc == 0)
            rc = buf_addc(&b, '"');
    }
    if (rc == 0)
        rc = buf_printf(&b, "} %d\n", p->reason == PV_REASON_SUPPORTED ? 1 : 0);
    if (rc < 0) {
        buf_free(&b);
        return -ENOMEM;
    }
    *out = buf_take(&b, len);
    return 0;
}

static void pv_remove(struct engine *e, const char *name, char **old_line)
{
    void *v;
    if (!strmap_remove(&e->pvs, name, &v))
        return;
    struct pv_ent *p = v;
    e->by_reason[p->reason]--;
    if (old_line) {
        *old_line = p->line;
        p->line = NULL;
    }
    pv_ent_release(e, p);
    free(p);
}

static void pv_upsert(struct engine *e, const struct pv_rec *rec)
{
    char *old_line = NULL;
    struct pv_ent *cur = strmap_get(&e->pvs, rec->meta.name);
    bool existed = cur != NULL;
    char old_phase[64] = "";
    if (cur && cur->phase)
        snprintf(old_phase, sizeof(old_phase), "%s", cur->phase);
    pv_remove(e, rec->meta.name, &old_line);

    struct pv_ent *p = calloc(1, sizeof(*p));
    if (!p) {
        free(old_line);
        return;
    }
    p->reason = classify_pv(rec);
    p->storage_class = strmap_incr(&e->intern, rec->storage_class ? rec->storage_class : "");
    p->driver = strmap_incr(&e->intern, classify_pv_driver(rec));
    p->phase = strmap_incr(&e->intern, rec->phase ? rec->phase : "");
    if (rec->claim_name) {
        p->claim_ns = strmap_incr(&e->intern, rec->claim_ns ? rec->claim_ns : "");
        p->claim_name = strdup(rec->claim_name);
    }
    if (!p->storage_class || !p->driver || !p->phase || (rec->claim_name && (!p->claim_ns || !p->claim_name)) ||
        render_pv_line(rec->meta.name, p, &p->line, &p->line_len) < 0 ||
        strmap_put(&e->pvs, rec->meta.name, p, NULL, &p->name) < 0) {
        pv_ent_release(e, p);
        free(p);
        free(old_line);
        engine__notify(e, existed ? ENGINE_CHANGED_VERDICTS : 0);
        return;
    }
    e->by_reason[p->reason]++;
    bool changed = !existed || !old_line || strcmp(old_line, p->line) != 0 ||
                   strcmp(old_phase, p->phase) != 0;
    free(old_line);
    if (changed)
        engine__notify(e, ENGINE_CHANGED_VERDICTS);
}

size_t engine_pv_count(const struct engine *e)
{
    return e->pvs.n;
}

size_t engine_pv_reason_count(const struct engine *e, enum pv_reason r)
{
    return (r >= 0 && r < PV_REASON_COUNT) ? e->by_reason[r] : 0;
}

static void fill_pub(const struct pv_ent *p, struct engine_pv *out)
{
    out->name = p->name;
    out->storage_class = p->storage_class;
    out->driver = p->driver;
    out->claim_ns = p->claim_ns;
    out->claim_name = p->claim_name;
    out->phase = p->phase;
    out->reason = p->reason;
}

bool engine_pv_get(const struct engine *e, const char *name, struct engine_pv *out)
{
    struct pv_ent *p = strmap_get(&e->pvs, name);
    if (!p)
        return false;
    fill_pub(p, out);
    return true;
}

struct collect {
    void **v;
    size_t n;
};

static bool collect_cb(void *data, const char *key, void *val)
{
    (void)key;
    struct collect *c = data;
    c->v[c->n++] = val;
    return true;
}

static int cmp_pv(const void *a, const void *b)
{
    const struct pv_ent *x = *(const struct pv_ent *const *)a, *y = *(const struct pv_ent *const *)b;
    return strcmp(x->name, y->name);
}

int engine_foreach_pv_sorted(const struct engine *e,
                             bool (*cb)(void *data, const struct engine_pv *pv), void *data)
{
    struct collect c = {calloc(e->pvs.n ? e->pvs.n : 1, sizeof(void *)), 0};
    if (!c.v)
        return -ENOMEM;
    strmap_foreach(&e->pvs, collect_cb, &c);
    qsort(c.v, c.n, sizeof(void *), cmp_pv);
    for (size_t i = 0; i < c.n; i++) {
        struct engine_pv pv;
        fill_pub(c.v[i], &pv);
        if (!cb(data, &pv))
            break;
    }
    free(c.v);
    return 0;
}

struct line_iter {
    void (*cb)(void *data, const char *line, size_t len);
    void *data;
};

static bool line_cb(void *data, const char *key, void *val)
{
    (void)key;
    struct line_iter *it = data;
    const struct pv_ent *p = val;
    it->cb(it->data, p->line, p->line_len);
    return true;
}

void engine_foreach_pv_line(const struct engine *e,
                            void (*cb)(void *data, const char *line, size_t len), void *data)
{
    struct line_iter it = {cb, data};
    strmap_foreach(&e->pvs, line_cb, &it);
}

/* ---- claims ---- */

static void claim_key(const struct obj_meta *m, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", m->ns ? m->ns : "", m->name);
}

static void pvc_remove(struct engine *e, const char *key)
{
    void *v;
    if (!strmap_remove(&e->pvcs, key, &v))
        return;
    struct pvc_ent *c = v;
    if (c->pending) {
        e->pending--;
        strmap_decr(&e->pending_ns, c->ns);
    }
    if (c->no_class)
        e->no_class--;
    free(c);
}

static void pvc_upsert(struct engine *e, const struct pvc_rec *rec)
{
    char key[512];
    claim_key(&rec->meta, key, sizeof(key));
    pvc_remove(e, key);
    struct pvc_ent *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->pending = (rec->phase && strcmp(rec->phase, "Pending") == 0) || !rec->volume_name;
    c->no_class = !rec->has_storage_class || !rec->storage_class || !*rec->storage_class;
    c->class_empty = rec->has_storage_class && rec->storage_class && !*rec->storage_class;
    if (c->pending) {
        c->ns = strmap_incr(&e->pending_ns, rec->meta.ns ? rec->meta.ns : "");
        if (!c->ns) {
            free(c);
            return;
        }
    }
    if (strmap_put(&e->pvcs, key, c, NULL, NULL) < 0) {
        if (c->pending)
            strmap_decr(&e->pending_ns, c->ns);
        free(c);
        return;
    }
    e->pending += c->pending;
    e->no_class += c->no_class;
}

size_t engine_claims_pending(const struct engine *e)
{
    return e->pending;
}

size_t engine_claims_pending_in(const struct engine *e, const char *ns)
{
    return strmap_count_of(&e->pending_ns, ns);
}

struct ns_iter {
    void (*cb)(void *data, const char *ns, size_t n);
    void *data;
};

static bool ns_cb(void *data, const char *key, void *val)
{
    struct ns_iter *it = data;
    it->cb(it->data, key, (size_t)(uintptr_t)val);
    return true;
}

void engine_foreach_pending_ns(const struct engine *e,
                               void (*cb)(void *data, const char *ns, size_t n), void *data)
{
    struct ns_iter it = {cb, data};
    strmap_foreach(&e->pending_ns, ns_cb, &it);
}

size_t engine_claims_without_class(const struct engine *e)
{
    return e->no_class;
}

/* ---- inputs ---- */

void engine_set_snapshot_api(struct engine *e, int served)
{
    e->snapshot_api = served < 0 ? -1 : served ? 1 : 0;
}

void engine_set_namespaced_count(struct engine *e, size_t n)
{
    e->namespaced = n;
}

/* ---- dispatch ---- */

static const struct {
    const char *resource;
    unsigned bit;
} resources[] = {
    {"persistentvolumes", ENGINE_RES_PV},   {"persistentvolumeclaims", ENGINE_RES_PVC},
    {"storageclasses", ENGINE_RES_SC},      {"csidrivers", ENGINE_RES_CSIDRIVER},
    {"volumesnapshotclasses", ENGINE_RES_VSC}, {"volumesnapshots", ENGINE_RES_SNAPSHOT},
    {"nodes", ENGINE_RES_NODE},             {"pods", ENGINE_RES_POD},
};

static unsigned res_bit(const char *resource)
{
    for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++)
        if (resource && strcmp(resource, resources[i].resource) == 0)
            return resources[i].bit;
    return 0;
}

void engine_apply(struct engine *e, const struct model_type *t, const void *old_rec,
                  const void *new_rec)
{
    if (!old_rec && !new_rec)
        return;
    switch (res_bit(t->resource)) {
    case ENGINE_RES_PV:
        if (new_rec)
            pv_upsert(e, new_rec);
        else {
            pv_remove(e, model_meta(old_rec)->name, NULL);
            engine__notify(e, ENGINE_CHANGED_VERDICTS);
        }
        break;
    case ENGINE_RES_PVC:
        if (new_rec)
            pvc_upsert(e, new_rec);
        else {
            char key[512];
            claim_key(model_meta(old_rec), key, sizeof(key));
            pvc_remove(e, key);
        }
        break;
    case ENGINE_RES_SC:
        engine__sc_apply(e, old_rec, new_rec);
        break;
    case ENGINE_RES_CSIDRIVER:
        if (new_rec)
            (void)strmap_put(&e->drivers, model_meta(new_rec)->name, NULL, NULL, NULL);
        else
            strmap_remove(&e->drivers, model_meta(old_rec)->name, NULL);
        break;
    case ENGINE_RES_VSC:
        engine__vsc_apply(e, old_rec, new_rec);
        break;
    case ENGINE_RES_SNAPSHOT:
        engine__apply_snapshot(e, old_rec, new_rec);
        break;
    case ENGINE_RES_NODE:
        engine__node_apply(e, old_rec, new_rec);
        break;
    case ENGINE_RES_POD:
        engine__apply_pod(e, old_rec, new_rec);
        break;
    default:
        break;
    }
}

void engine_mark_synced(struct engine *e, const char *resource)
{
    e->synced |= res_bit(resource);
}

static void c_add(void *data, const struct model_type *t, const void *rec)
{
    engine_apply(data, t, NULL, rec);
}

static void c_update(void *data, const struct model_type *t, const void *old_rec,
                     const void *new_rec)
{
    engine_apply(data, t, old_rec, new_rec);
}

static void c_delete(void *data, const struct model_type *t, const void *rec)
{
    engine_apply(data, t, rec, NULL);
}

static void c_synced(void *data, const struct model_type *t)
{
    engine_mark_synced(data, t->resource);
}

struct store_consumer engine_consumer(struct engine *e)
{
    struct store_consumer c = {
        .on_add = c_add, .on_update = c_update, .on_delete = c_delete,
        .on_synced = c_synced, .data = e,
    };
    return c;
}

