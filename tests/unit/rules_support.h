/* Shared by the rules/ and model/ unit tests: load a fixture List, run
 * each item through a model_type's extract and feed the records to an
 * engine, the way the reflector and store would. */
#ifndef ABC_TEST_RULES_SUPPORT_H
#define ABC_TEST_RULES_SUPPORT_H

#include <check.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "config/regions.h"
#include "model/records.h"
#include "rules/engine.h"

#define DEFAULT_SELECTOR_KEY "app.kubernetes.io/name"
#define DEFAULT_SELECTOR_VAL "dataprotection-microsoft-kubernetes"

static inline struct json_object *fixture_items(const char *file, struct json_object **root)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", FIXTURES, file);
    *root = json_object_from_file(path);
    ck_assert_msg(*root != NULL, "cannot parse %s", path);
    struct json_object *items = NULL;
    ck_assert(json_object_object_get_ex(*root, "items", &items));
    return items;
}

static inline bool item_is(struct json_object *it, const char *kind, const char *lk, const char *lv)
{
    struct json_object *k = NULL, *md = NULL, *labels = NULL, *v = NULL;
    if (kind && (!json_object_object_get_ex(it, "kind", &k) ||
                 strcmp(json_object_get_string(k), kind) != 0))
        return false;
    if (!lk)
        return true;
    return json_object_object_get_ex(it, "metadata", &md) &&
           json_object_object_get_ex(md, "labels", &labels) &&
           json_object_object_get_ex(labels, lk, &v) && strcmp(json_object_get_string(v), lv) == 0;
}

/* Extracts every matching item of file and applies it to e; returns how
 * many were fed. Marks the resource synced. */
static inline int feed_file(struct engine *e, const struct model_type *t, const char *file,
                            const char *kind, const char *lk, const char *lv)
{
    struct json_object *root;
    struct json_object *items = fixture_items(file, &root);
    int n = 0;
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        struct json_object *it = json_object_array_get_idx(items, i);
        if (!item_is(it, kind, lk, lv))
            continue;
        void *rec = NULL;
        ck_assert_int_eq(t->extract(t, it, &rec), 0);
        engine_apply(e, t, NULL, rec);
        t->free(rec);
        n++;
    }
    json_object_put(root);
    engine_mark_synced(e, t->resource);
    return n;
}

/* One change to a fixture item before it is extracted (records are packed
 * into one allocation, so tests edit the JSON rather than the record):
 * path is up to 4 object keys (missing objects are created), value NULL
 * removes the last key. */
struct fx_edit {
    const char *path[4];
    const char *value;
};

static inline void fx_apply(struct json_object *it, const struct fx_edit *ed)
{
    struct json_object *o = it;
    size_t depth = 0;
    while (depth < 4 && ed->path[depth])
        depth++;
    ck_assert_uint_gt(depth, 0);
    for (size_t i = 0; i + 1 < depth; i++) {
        struct json_object *c = NULL;
        if (!json_object_object_get_ex(o, ed->path[i], &c) || !json_object_is_type(c, json_type_object)) {
            c = json_object_new_object();
            json_object_object_add(o, ed->path[i], c);
        }
        o = c;
    }
    if (ed->value)
        json_object_object_add(o, ed->path[depth - 1], json_object_new_string(ed->value));
    else
        json_object_object_del(o, ed->path[depth - 1]);
}

/* Loads one record of kind/name from file after n edits (caller frees with
 * t->free). */
static inline void *fixture_record_edited(const struct model_type *t, const char *file,
                                          const char *name, size_t n, const struct fx_edit *ed)
{
    struct json_object *root;
    struct json_object *items = fixture_items(file, &root);
    void *rec = NULL;
    for (size_t i = 0; i < json_object_array_length(items) && !rec; i++) {
        struct json_object *it = json_object_array_get_idx(items, i);
        struct json_object *md, *nm, *kind;
        json_object_object_get_ex(it, "metadata", &md);
        json_object_object_get_ex(md, "name", &nm);
        json_object_object_get_ex(it, "kind", &kind);
        if (strcmp(json_object_get_string(nm), name) == 0 &&
            strcmp(json_object_get_string(kind), t->kind) == 0) {
            for (size_t k = 0; k < n; k++)
                fx_apply(it, &ed[k]);
            ck_assert_int_eq(t->extract(t, it, &rec), 0);
        }
    }
    json_object_put(root);
    ck_assert_msg(rec != NULL, "no %s %s in %s", t->kind, name, file);
    return rec;
}

/* Loads one record of kind/name from file (caller frees with t->free). */
static inline void *fixture_record(const struct model_type *t, const char *file, const char *name)
{
    return fixture_record_edited(t, file, name, 0, NULL);
}

/* The same PV with the provisioned-by annotation set (the fixture's
 * static PVs become dynamically provisioned). */
static inline void *fixture_pv_provisioned(const char *name, const char *provisioner)
{
    const struct fx_edit ed = {{"metadata", "annotations", "pv.kubernetes.io/provisioned-by"}, provisioner};
    return fixture_record_edited(&model_pv_type, "persistentvolumes.json", name, 1, &ed);
}

/* The whole fixture cluster with the default extension selector. */
static inline void feed_cluster(struct engine *e)
{
    struct model_type pod = model_pod_type("dataprotection-microsoft", DEFAULT_SELECTOR_KEY "="
                                           DEFAULT_SELECTOR_VAL);
    feed_file(e, &model_pv_type, "persistentvolumes.json", NULL, NULL, NULL);
    feed_file(e, &model_pvc_type, "persistentvolumeclaims.json", NULL, NULL, NULL);
    feed_file(e, &model_storageclass_type, "storage.json", "StorageClass", NULL, NULL);
    feed_file(e, &model_csidriver_type, "storage.json", "CSIDriver", NULL, NULL);
    feed_file(e, &model_snapshotclass_type, "storage.json", "VolumeSnapshotClass", NULL, NULL);
    feed_file(e, &model_snapshot_type, "volumesnapshots.json", NULL, NULL, NULL);
    feed_file(e, &model_node_type, "nodes.json", NULL, NULL, NULL);
    feed_file(e, &pod, "pods.json", NULL, DEFAULT_SELECTOR_KEY, DEFAULT_SELECTOR_VAL);
    engine_set_version(e, "v1.30.6");
    engine_set_snapshot_api(e, 1);
}

static inline void load_regions(struct regions *r)
{
    char err[256];
    ck_assert_int_eq(regions_load(r, SRCROOT "/config/regions.txt", err, sizeof(err)), 0);
}

/* Engine with the default options and the shipped regions list, judging
 * by the named support-matrix edition. */
static inline struct engine *cluster_engine_ed(struct regions *r, bool full_config,
                                               const char *edition)
{
    struct engine_opts o;
    engine_opts_default(&o);
    o.regions = r;
    o.edition = matrix_edition_find(edition);
    ck_assert_ptr_nonnull(o.edition);
    if (full_config) {
        o.cluster_identity = "system";
        o.vault_region = "West Europe";
        o.vault_subscription = "6B0F2F3E-8C1D-4A5B-9E7F-2D3C4B5A6E7F";
        o.storage_region = "westeurope";
        o.storage_subscription = "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f";
        o.backup_policies = 12;
        o.backup_instances = 40;
    }
    struct engine *e = engine_new(&o);
    ck_assert_ptr_nonnull(e);
    feed_cluster(e);
    return e;
}

/* The fixture cluster judged by the 2023-08 page (the verdicts the older
 * tests were written against). */
static inline struct engine *cluster_engine(struct regions *r, bool full_config)
{
    return cluster_engine_ed(r, full_config, "2023-08");
}

#endif
