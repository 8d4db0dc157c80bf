/* Rules engine, volume side (PVs in engine_pv.c): claims, storage classes, CSI drivers,
 * snapshot classes, nodes (region/subscription) and the prerequisites.
 * Fed by store consumers on the loop; read by report, metrics and readyz. */
#include "rules/engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/regions.h"

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
    free((char *)o->storage_kind);
    free((char *)o->storage_sku);
    free((char *)o->azure_files_version);
    for (size_t i = 0; o->backup_namespaces && i < o->n_backup_namespaces; i++)
        free((char *)o->backup_namespaces[i]);
    free((void *)o->backup_namespaces);
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
    dst->storage_kind = dup_or_empty(src->storage_kind);
    dst->storage_sku = dup_or_empty(src->storage_sku);
    dst->azure_files_version = dup_or_empty(src->azure_files_version);
    dst->backup_namespaces = NULL;
    dst->n_backup_namespaces = 0;
    if (src->n_backup_namespaces) {
        char **v = calloc(src->n_backup_namespaces, sizeof(*v));
        dst->backup_namespaces = (const char *const *)v;
        for (size_t i = 0; v && i < src->n_backup_namespaces; i++) {
            if (!(v[i] = strdup(src->backup_namespaces[i]))) {
                opts_free(dst);
                return -ENOMEM;
            }
            dst->n_backup_namespaces = i + 1;
        }
        if (!v) {
            opts_free(dst);
            return -ENOMEM;
        }
    }
    if (!dst->storage_kind || !dst->storage_sku || !dst->azure_files_version ||
        !dst->cluster_region || !dst->cluster_subscription || !dst->cluster_identity ||
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
    e->ed = e->o.edition ? e->o.edition : matrix_edition_default();
    return e;
}

int engine_set_opts(struct engine *e, const struct engine_opts *o)
{
    struct engine_opts n;
    if (opts_copy(&n, o) < 0)
        return -ENOMEM;
    opts_free(&e->o);
    e->o = n;
    e->ed = e->o.edition ? e->o.edition : matrix_edition_default();
    engine__pv_rejudge(e); /* edition, tiers or the driver override may have changed */
    engine__notify(e, ENGINE_CHANGED_CLASSES);
    return 0;
}

const struct matrix_edition *engine_edition(const struct engine *e)
{
    return e->ed;
}

void engine_set_now(struct engine *e, int64_t now)
{
    e->now_override = now;
}

void engine_set_files_driver_version(struct engine *e, const char *version)
{
    const char *old = e->files_version ? e->files_version : "";
    const char *nv = version ? version : "";
    if (strcmp(old, nv) == 0)
        return;
    free(e->files_version);
    e->files_version = *nv ? strdup(nv) : NULL;
    engine__pv_rejudge(e);
    engine__notify(e, ENGINE_CHANGED_CLASSES);
}

const char *engine_files_driver_version(const struct engine *e)
{
    if (e->o.azure_files_version && *e->o.azure_files_version)
        return e->o.azure_files_version;
    return e->files_version ? e->files_version : "";
}

int engine__files_driver_ok(const struct engine *e)
{
    int ma, mi;
    const char *v = engine_files_driver_version(e);
    if (!*v || prereq_parse_tag_version(v, &ma, &mi) < 0)
        return -1;
    return ma > e->ed->files_min_major || (ma == e->ed->files_min_major && mi >= e->ed->files_min_minor);
}

struct classify_ctx engine__classify_ctx(const struct engine *e, const struct pv_rec *pv)
{
    struct classify_ctx c = {.ed = e->ed, .files_driver_ok = engine__files_driver_ok(e),
                             .vault_tier = e->o.vault_tier};
    if (pv && pv_storage_class(pv)) {
        const struct sc_ent *s = strmap_get(&e->classes, pv_storage_class(pv));
        if (s)
            c.class_params = s->params;
    }
    return c;
}

const struct engine_opts *engine_get_opts(const struct engine *e)
{
    return &e->o;
}

void engine__free_sc(void *v)
{
    struct sc_ent *s = v;
    if (s)
        free(s->provisioner);
    free(s);
}

static void detach_all(struct engine *e);

void engine_free(struct engine *e)
{
    if (!e)
        return;
    detach_all(e);
    engine__azure_free(e);
    engine__pv_free(e);
    engine__rec_free(e, &engine__pvc_ops);
    strmap_clear(&e->pending_ns, NULL);
    strmap_clear(&e->classes, engine__free_sc);
    strmap_clear(&e->drivers, NULL);
    strmap_clear(&e->vsc, free);
    strmap_clear(&e->nodes, free);
    strmap_clear(&e->node_regions, NULL);
    strmap_clear(&e->node_subs, NULL);
    strmap_clear(&e->namespaces, NULL);
    strmap_clear(&e->bsls, engine__free_bsl);
    engine__free_ext(e);
    free(e->version);
    free(e->files_version);
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

/* ---- claims ---- */

/* Whether a claim counts as pending / without a storage class. */
bool engine__pvc_pending(const struct pvc_rec *r)
{
    return (pvc_phase(r) && strcmp(pvc_phase(r), "Pending") == 0) || !pvc_volume_name(r);
}

bool engine__pvc_no_class(const struct pvc_rec *r)
{
    return !r->has_storage_class || !pvc_storage_class(r) || !*pvc_storage_class(r);
}

static void pvc_count(struct engine *e, const void *rec, int d)
{
    const struct pvc_rec *r = rec;
    const char *ns = model_meta_ns(&r->meta) ? model_meta_ns(&r->meta) : "";
    if (engine__pvc_pending(r)) {
        if (d > 0)
            (void)strmap_incr(&e->pending_ns, ns); /* NULL: out of memory, left out */
        else
            strmap_decr(&e->pending_ns, ns);
        e->pending += (size_t)d;
    }
    if (engine__pvc_no_class(r))
        e->no_class += (size_t)d;
}

static struct rec_table *pvc_table(struct engine *e)
{
    return &e->pvcs;
}

static const void *pvc_clone(const void *rec)
{
    return model_pvc_clone(rec);
}

const struct rec_ops engine__pvc_ops = {&model_pvc_type, pvc_table, pvc_clone, pvc_count, NULL};

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
    {"namespaces", ENGINE_RES_NAMESPACE},   {"backupstoragelocations", ENGINE_RES_BSL},
};

static unsigned res_bit(const char *resource)
{
    for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++)
        if (resource && strcmp(resource, resources[i].resource) == 0)
            return resources[i].bit;
    return 0;
}

static void apply(struct engine *e, const struct model_type *t, const void *old_rec,
                  const void *new_rec, uint16_t src)
{
    if (!old_rec && !new_rec)
        return;
    switch (res_bit(t->resource)) {
    case ENGINE_RES_PV:
        engine__pv_apply(e, old_rec, new_rec, src);
        break;
    case ENGINE_RES_PVC:
        engine__rec_apply(e, &engine__pvc_ops, old_rec, new_rec, src);
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
        engine__rec_apply(e, &engine__snap_ops, old_rec, new_rec, src);
        break;
    case ENGINE_RES_NODE:
        engine__node_apply(e, old_rec, new_rec);
        break;
    case ENGINE_RES_POD:
        engine__apply_pod(e, old_rec, new_rec);
        break;
    case ENGINE_RES_NAMESPACE:
        if (new_rec)
            (void)strmap_put(&e->namespaces, model_meta(new_rec)->name,
                             (void *)(uintptr_t)(((const struct namespace_rec *)new_rec)->velero_meta ? 1 : 0),
                             NULL, NULL);
        else
            strmap_remove(&e->namespaces, model_meta(old_rec)->name, NULL);
        break;
    case ENGINE_RES_BSL:
        engine__bsl_apply(e, old_rec, new_rec);
        break;
    default:
        break;
    }
}

void engine_apply(struct engine *e, const struct model_type *t, const void *old_rec,
                  const void *new_rec)
{
    apply(e, t, old_rec, new_rec, 0);
}

void engine_mark_synced(struct engine *e, const char *resource)
{
    unsigned bit = res_bit(resource);
    e->synced |= bit;
    if (bit == ENGINE_RES_PV)
        engine__pv_trim(e);
}

/* engine_attach_store: the same, indexing the store's PV records (data is
 * the struct engine_attach). */
static void b_add(void *data, const struct model_type *t, const void *rec)
{
    struct engine_attach *a = data;
    apply(a->e, t, NULL, rec, a->id);
}

static void b_update(void *data, const struct model_type *t, const void *old_rec,
                     const void *new_rec)
{
    struct engine_attach *a = data;
    apply(a->e, t, old_rec, new_rec, a->id);
}

static void b_delete(void *data, const struct model_type *t, const void *rec)
{
    struct engine_attach *a = data;
    apply(a->e, t, rec, NULL, a->id);
}

static void b_synced(void *data, const struct model_type *t)
{
    struct engine_attach *a = data;
    engine_mark_synced(a->e, t->resource);
}

static void b_release(void *data, const struct model_type *t)
{
    struct engine_attach *a = data;
    const struct store *s = a->store;
    a->store = NULL; /* being freed (its records still there) */
    unsigned bit = res_bit(t->resource);
    if (bit == ENGINE_RES_PV)
        engine__pv_release(a->e, a->id);
    else if (bit == ENGINE_RES_PVC)
        engine__rec_release(a->e, &engine__pvc_ops, s);
    else if (bit == ENGINE_RES_SNAPSHOT)
        engine__rec_release(a->e, &engine__snap_ops, s);
}

int engine_attach_store(struct engine *e, struct store *s)
{
    if (e->next_attach_id == UINT16_MAX)
        return -ENOSPC;
    struct engine_attach *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->e = e;
    a->store = s;
    a->id = ++e->next_attach_id;
    struct store_consumer c = {
        .on_add = b_add, .on_update = b_update, .on_delete = b_delete,
        .on_synced = b_synced, .data = a,
    };
    int rc = store_add_release_hook(s, b_release, a);
    if (rc) {
        free(a);
        return rc;
    }
    rc = store_add_consumer(s, &c);
    if (rc) {
        store_remove_release_hook(s, b_release, a);
        free(a);
        return rc;
    }
    a->next = e->attached;
    e->attached = a;
    return 0;
}

/* engine_free: stores that outlive the engine must not call it back. */
static void detach_all(struct engine *e)
{
    while (e->attached) {
        struct engine_attach *a = e->attached;
        e->attached = a->next;
        if (a->store)
            store_remove_release_hook(a->store, b_release, a);
        free(a);
    }
}

