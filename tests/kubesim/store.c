/* kubesim store: the known resource table, immutable objects kept sorted by
 * (namespace, name) per resource, one global resourceVersion and a bounded
 * event history used by watches and by consistent list pages.
 * Callers hold sim.mu for every store_* call. */
#include "ks.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sim sim;

const struct rdef ks_rdefs[] = {
    {"", "v1", "persistentvolumes", "PersistentVolume", "persistentvolume", false, true, "pv"},
    {"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", "persistentvolumeclaim", true, true, "pvc"},
    {"", "v1", "pods", "Pod", "pod", true, true, "po"},
    {"", "v1", "nodes", "Node", "node", false, true, "no"},
    {"", "v1", "namespaces", "Namespace", "namespace", false, true, "ns"},
    {"", "v1", "configmaps", "ConfigMap", "configmap", true, true, "cm"},
    {"", "v1", "events", "Event", "event", true, true, "ev"},
    {"", "v1", "secrets", "Secret", "secret", true, true, NULL},
    {"", "v1", "serviceaccounts", "ServiceAccount", "serviceaccount", true, true, "sa"},
    {"", "v1", "services", "Service", "service", true, true, "svc"},
    {"storage.k8s.io", "v1", "storageclasses", "StorageClass", "storageclass", false, true, "sc"},
    {"storage.k8s.io", "v1", "csidrivers", "CSIDriver", "csidriver", false, true, NULL},
    {"snapshot.storage.k8s.io", "v1", "volumesnapshots", "VolumeSnapshot", "volumesnapshot", true, false, "vs"},
    {"snapshot.storage.k8s.io", "v1", "volumesnapshotclasses", "VolumeSnapshotClass", "volumesnapshotclass", false, false, "vsclass,vsclasses"},
    {"snapshot.storage.k8s.io", "v1", "volumesnapshotcontents", "VolumeSnapshotContent", "volumesnapshotcontent", false, false, "vsc,vscs"},
    {"velero.io", "v1", "backups", "Backup", "backup", true, false, NULL},
    {"velero.io", "v1", "restores", "Restore", "restore", true, false, NULL},
    {"velero.io", "v1", "schedules", "Schedule", "schedule", true, false, NULL},
    {"velero.io", "v1", "backupstoragelocations", "BackupStorageLocation", "backupstoragelocation", true, false, "bsl"},
    {"coordination.k8s.io", "v1", "leases", "Lease", "lease", true, true, NULL},
    {"events.k8s.io", "v1", "events", "Event", "event", true, true, "ev"},
    {"apps", "v1", "deployments", "Deployment", "deployment", true, true, "deploy"},
    {"admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy", "validatingadmissionpolicy", false, true, NULL},
    {"admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybinding", false, true, NULL},
    {"apps", "v1", "statefulsets", "StatefulSet", "statefulset", true, true, "sts"},
    {"apps", "v1", "daemonsets", "DaemonSet", "daemonset", true, true, "ds"},
    {"apps", "v1", "replicasets", "ReplicaSet", "replicaset", true, true, "rs"},
    {"rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", "clusterrole", false, true, NULL},
    {"rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", "clusterrolebinding", false, true, NULL},
    {"rbac.authorization.k8s.io", "v1", "roles", "Role", "role", true, true, NULL},
    {"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", "rolebinding", true, true, NULL},
    {"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", "poddisruptionbudget", true, true, "pdb"},
    {"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", "customresourcedefinition", false, true, "crd,crds"},
    {"monitoring.coreos.com", "v1", "prometheusrules", "PrometheusRule", "prometheusrule", true, false, "promrule"},
    {"monitoring.coreos.com", "v1", "servicemonitors", "ServiceMonitor", "servicemonitor", true, false, "smon"},
};
const size_t ks_nrdefs = sizeof ks_rdefs / sizeof ks_rdefs[0];

int rdef_find(const char *group, const char *version, const char *resource)
{
    for (size_t i = 0; i < ks_nrdefs; i++)
        if (!strcmp(ks_rdefs[i].group, group) && !strcmp(ks_rdefs[i].version, version) &&
            !strcmp(ks_rdefs[i].resource, resource))
            return (int)i;
    return -1;
}

int rdef_find_resource(const char *resource)
{
    for (size_t i = 0; i < ks_nrdefs; i++)
        if (!strcmp(ks_rdefs[i].resource, resource))
            return (int)i;
    return -1;
}

void rdef_apiversion(const struct rdef *d, char *out, size_t n)
{
    if (d->group[0])
        snprintf(out, n, "%s/%s", d->group, d->version);
    else
        snprintf(out, n, "%s", d->version);
}

int rdef_find_kind(const char *apiversion, const char *kind)
{
    if (!apiversion || !kind)
        return -1;
    char av[128];
    for (size_t i = 0; i < ks_nrdefs; i++) {
        rdef_apiversion(&ks_rdefs[i], av, sizeof av);
        if (!strcmp(av, apiversion) && !strcmp(ks_rdefs[i].kind, kind))
            return (int)i;
    }
    return -1;
}

void store_init(size_t history)
{
    sim.stores = xcalloc(ks_nrdefs, sizeof *sim.stores);
    sim.disabled = xcalloc(ks_nrdefs, sizeof *sim.disabled);
    sim.drop_res_gen = xcalloc(ks_nrdefs, sizeof *sim.drop_res_gen);
    sim.hist_cap = history ? history : 1;
    sim.hist = xcalloc(sim.hist_cap, sizeof *sim.hist);
}

static int key_cmp(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
    int c = strcmp(ns1, ns2);
    return c ? c : strcmp(n1, n2);
}

/* What selectors, tables and writes read without parsing the full object.
 * Keep in sync with select.c field_ok and discovery.c cols. */
static const char *const lite_paths[] = {
    "metadata.name", "metadata.namespace", "metadata.uid", "metadata.creationTimestamp",
    "spec.nodeName", "status.phase", "spec.schedulerName", "spec.serviceAccountName", "involvedObject.kind",
    "involvedObject.name", "involvedObject.namespace", "involvedObject.uid", "reason", "type", "source",
    "regarding.kind", "regarding.name", "regarding.namespace", "reportingController", "spec.claimRef.name",
    "spec.claimRef.namespace", "spec.storageClassName", "spec.volumeName", "spec.capacity.storage",
    "spec.persistentVolumeReclaimPolicy", "status.capacity.storage", "status.nodeInfo.kubeletVersion",
    "status.readyToUse", "spec.source.persistentVolumeClaimName", "spec.volumeSnapshotClassName",
    "spec.holderIdentity", "provisioner",
};

static void lite_of(struct obj *ob, json_object *full)
{
    struct sbuf f = {0}, l = {0};
    for (size_t i = 0; i < sizeof lite_paths / sizeof lite_paths[0]; i++) {
        const char *v = jstr(full, lite_paths[i]);
        if (!v)
            continue;
        sbuf_add(&f, lite_paths[i], strlen(lite_paths[i]) + 1);
        sbuf_add(&f, v, strlen(v) + 1);
    }
    sbuf_add(&f, "", 1);
    json_object *meta = NULL, *labels = NULL;
    if (json_object_object_get_ex(full, "metadata", &meta) && json_object_object_get_ex(meta, "labels", &labels) &&
        json_object_is_type(labels, json_type_object)) {
        json_object_object_foreach(labels, k, v) {
            const char *s = v ? json_object_get_string(v) : "";
            sbuf_add(&l, k, strlen(k) + 1);
            sbuf_add(&l, s, strlen(s) + 1);
        }
        if (l.len)
            sbuf_add(&l, "", 1);
    }
    ob->fields = f.data;
    ob->labels = l.data;
}

static const char *pairs_find(const char *p, const char *key)
{
    while (p && *p) {
        size_t kl = strlen(p);
        const char *v = p + kl + 1;
        if (!strcmp(p, key))
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

const char *obj_field(const struct obj *o, const char *path)
{
    return pairs_find(o->fields, path);
}

const char *obj_label(const struct obj *o, const char *key)
{
    return pairs_find(o->labels, key);
}

json_object *obj_parse(const struct obj *o)
{
    return json_tokener_parse(o->json);
}

struct obj *obj_make(int res, json_object *o, uint64_t rv)
{
    const struct rdef *d = &ks_rdefs[res];
    char av[128], rvs[32];
    rdef_apiversion(d, av, sizeof av);
    json_object *meta = NULL;
    if (!json_object_object_get_ex(o, "metadata", &meta) || !json_object_is_type(meta, json_type_object)) {
        meta = json_object_new_object();
        json_object_object_add(o, "metadata", meta);
    }
    snprintf(rvs, sizeof rvs, "%llu", (unsigned long long)rv);
    json_object_object_add(meta, "resourceVersion", json_object_new_string(rvs));
    if (!d->namespaced)
        json_object_object_del(meta, "namespace");
    if (!jstr(meta, "uid")) {
        char uid[37];
        gen_uid(uid);
        json_object_object_add(meta, "uid", json_object_new_string(uid));
    }
    if (!jstr(meta, "creationTimestamp")) {
        char ts[32];
        now_rfc3339(ts);
        json_object_object_add(meta, "creationTimestamp", json_object_new_string(ts));
    }
    json_object *n = json_object_new_object();
    json_object_object_add(n, "apiVersion", json_object_new_string(av));
    json_object_object_add(n, "kind", json_object_new_string(d->kind));
    json_object_object_add(n, "metadata", json_object_get(meta));
    json_object_object_foreach(o, k, v) {
        if (!strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata"))
            continue;
        json_object_object_add(n, k, json_object_get(v));
    }
    json_object_put(o);

    struct obj *ob = xcalloc(1, sizeof *ob);
    ob->refs = 1;
    ob->res = res;
    ob->rv = rv;
    const char *ns = jstr(n, "metadata.namespace");
    const char *name = jstr(n, "metadata.name");
    ob->ns = xstrdup(d->namespaced && ns ? ns : "");
    ob->name = xstrdup(name ? name : "");
    size_t len = 0;
    const char *s = json_object_to_json_string_length(
        n, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    ob->json = xmalloc(len + 1);
    memcpy(ob->json, s, len + 1);
    ob->len = len;
    lite_of(ob, n);
    json_object_put(n);
    /* {"apiVersion":"...","kind":"...",  -> body starts after the second comma */
    const char *kp = strstr(ob->json, "\"kind\":");
    const char *comma = kp ? strchr(kp + 7 + 1, '"') : NULL;
    ob->body_off = comma ? (size_t)(comma + 2 - ob->json) : 1;
    if (ob->body_off > len)
        ob->body_off = len;
    return ob;
}

void obj_unref(struct obj *o)
{
    if (!o || --o->refs > 0)
        return;
    free(o->fields);
    free(o->labels);
    free(o->json);
    free(o->ns);
    free(o->name);
    free(o);
}

size_t store_lower_bound(int res, const char *ns, const char *name, bool after)
{
    struct resstore *st = &sim.stores[res];
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = key_cmp(st->items[mid]->ns, st->items[mid]->name, ns, name);
        if (c < 0 || (after && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct obj *store_get(int res, const char *ns, const char *name)
{
    struct resstore *st = &sim.stores[res];
    size_t i = store_lower_bound(res, ns, name, false);
    if (i < st->n && !key_cmp(st->items[i]->ns, st->items[i]->name, ns, name))
        return st->items[i];
    return NULL;
}

static void hist_push(int type, struct obj *o, struct obj *prev)
{
    if (sim.hist_n == sim.hist_cap) {
        struct event *old = &sim.hist[sim.hist_head];
        sim.compacted_rv = old->rv;
        obj_unref(old->obj);
        obj_unref(old->prev);
        sim.hist_head = (sim.hist_head + 1) % sim.hist_cap;
        sim.hist_n--;
    }
    struct event *e = &sim.hist[(sim.hist_head + sim.hist_n) % sim.hist_cap];
    e->rv = o->rv;
    e->type = type;
    e->obj = o;
    o->refs++;
    e->prev = prev; /* takes the caller's reference */
    sim.hist_n++;
    pthread_cond_broadcast(&sim.cond);
}

struct event *hist_at(size_t i)
{
    return &sim.hist[(sim.hist_head + i) % sim.hist_cap];
}

size_t hist_find(uint64_t after)
{
    size_t lo = 0, hi = sim.hist_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (hist_at(mid)->rv <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void store_put(struct obj *o, int type)
{
    struct resstore *st = &sim.stores[o->res];
    size_t i = store_lower_bound(o->res, o->ns, o->name, false);
    struct obj *prev = NULL;
    if (i < st->n && !key_cmp(st->items[i]->ns, st->items[i]->name, o->ns, o->name)) {
        prev = st->items[i];
        st->items[i] = o;
    } else {
        if (st->n == st->cap) {
            st->cap = st->cap ? st->cap * 2 : 64;
            st->items = realloc(st->items, st->cap * sizeof *st->items);
            if (!st->items)
                abort();
        }
        memmove(st->items + i + 1, st->items + i, (st->n - i) * sizeof *st->items);
        st->items[i] = o;
        st->n++;
    }
    (void)type;
    hist_push(prev ? EV_MODIFIED : EV_ADDED, o, prev);
}

int store_delete(int res, const char *ns, const char *name, struct obj **last_out)
{
    struct resstore *st = &sim.stores[res];
    size_t i = store_lower_bound(res, ns, name, false);
    if (i >= st->n || key_cmp(st->items[i]->ns, st->items[i]->name, ns, name))
        return -ENOENT;
    struct obj *old = st->items[i];
    memmove(st->items + i, st->items + i + 1, (st->n - i - 1) * sizeof *st->items);
    st->n--;
    struct obj *gone = obj_make(res, obj_parse(old), ++sim.rv);
    hist_push(EV_DELETED, gone, old);
    if (last_out)
        *last_out = gone; /* borrowed: the history holds it */
    obj_unref(gone);      /* history keeps its own reference */
    return 0;
}

struct changed {
    const char *ns, *name;
    struct obj *state; /* state at the snapshot RV, NULL = absent */
    uint64_t rv;
};

static int changed_cmp(const void *a, const void *b)
{
    const struct changed *x = a, *y = b;
    int c = key_cmp(x->ns, x->name, y->ns, y->name);
    if (c)
        return c;
    return x->rv < y->rv ? -1 : x->rv > y->rv;
}

size_t store_snapshot(int res, uint64_t rv, const char *ns, const char *name, struct obj ***out)
{
    struct resstore *st = &sim.stores[res];
    size_t start = store_lower_bound(res, ns, name, true);
    if (rv >= sim.rv) {
        size_t n = st->n - start;
        *out = xmalloc((n ? n : 1) * sizeof **out);
        if (n)
            memcpy(*out, st->items + start, n * sizeof **out);
        return n;
    }
    /* Undo the events after rv: the first event per key gives its state at rv. */
    size_t hi = hist_find(rv), nch = 0;
    struct changed *ch = xmalloc((sim.hist_n - hi + 1) * sizeof *ch);
    for (size_t i = hi; i < sim.hist_n; i++) {
        struct event *e = hist_at(i);
        if (e->obj->res != res)
            continue;
        ch[nch++] = (struct changed){e->obj->ns, e->obj->name, e->prev, e->rv};
    }
    qsort(ch, nch, sizeof *ch, changed_cmp);
    size_t w = 0;
    for (size_t i = 0; i < nch; i++)
        if (w == 0 || key_cmp(ch[w - 1].ns, ch[w - 1].name, ch[i].ns, ch[i].name))
            ch[w++] = ch[i];
    nch = w;
    *out = xmalloc((st->n - start + nch + 1) * sizeof **out);
    size_t n = 0, ci = 0;
    while (ci < nch && key_cmp(ch[ci].ns, ch[ci].name, ns, name) <= 0)
        ci++;
    for (size_t i = start; i < st->n || ci < nch;) {
        int c = i >= st->n ? 1 : ci >= nch ? -1
                : key_cmp(st->items[i]->ns, st->items[i]->name, ch[ci].ns, ch[ci].name);
        if (c < 0) {
            (*out)[n++] = st->items[i++];
        } else {
            if (ch[ci].state)
                (*out)[n++] = ch[ci].state;
            if (c == 0)
                i++;
            ci++;
        }
    }
    free(ch);
    return n;
}

void store_compact(void)
{
    for (size_t i = 0; i < sim.hist_n; i++) {
        struct event *e = hist_at(i);
        obj_unref(e->obj);
        obj_unref(e->prev);
    }
    sim.hist_n = 0;
    sim.hist_head = 0;
    sim.compacted_rv = sim.rv;
    pthread_cond_broadcast(&sim.cond);
}

int store_upsert_json(json_object *o, bool keep_rv, char *err, size_t errlen)
{
    (void)keep_rv;
    int res = rdef_find_kind(jstr(o, "apiVersion"), jstr(o, "kind"));
    if (res < 0) {
        snprintf(err, errlen, "unknown kind %s/%s", jstr(o, "apiVersion") ? jstr(o, "apiVersion") : "?",
                 jstr(o, "kind") ? jstr(o, "kind") : "?");
        json_object_put(o);
        return 400;
    }
    const char *name = jstr(o, "metadata.name");
    if (!name || !*name) {
        snprintf(err, errlen, "metadata.name is required");
        json_object_put(o);
        return 400;
    }
    json_object *meta = NULL;
    json_object_object_get_ex(o, "metadata", &meta);
    if (ks_rdefs[res].namespaced && !jstr(o, "metadata.namespace"))
        json_object_object_add(meta, "namespace", json_object_new_string("default"));
    const char *ns = ks_rdefs[res].namespaced ? jstr(o, "metadata.namespace") : "";
    struct obj *old = store_get(res, ns, name);
    if (old) {
        if (!jstr(o, "metadata.uid") && obj_field(old, "metadata.uid"))
            json_object_object_add(meta, "uid", json_object_new_string(obj_field(old, "metadata.uid")));
        if (!jstr(o, "metadata.creationTimestamp") && obj_field(old, "metadata.creationTimestamp"))
            json_object_object_add(meta, "creationTimestamp",
                                   json_object_new_string(obj_field(old, "metadata.creationTimestamp")));
    }
    store_put(obj_make(res, o, ++sim.rv), 0);
    return 0;
}

static int upsert_list(json_object *root, char *err, size_t errlen, long *count)
{
    json_object *items = NULL;
    const char *kind = jstr(root, "kind");
    if (kind && strlen(kind) >= 4 && !strcmp(kind + strlen(kind) - 4, "List") &&
        json_object_object_get_ex(root, "items", &items) && json_object_is_type(items, json_type_array)) {
        char ikind[128] = "";
        if (strcmp(kind, "List"))
            snprintf(ikind, sizeof ikind, "%.*s", (int)(strlen(kind) - 4), kind);
        for (size_t i = 0; i < json_object_array_length(items); i++) {
            json_object *it = jcopy(json_object_array_get_idx(items, i));
            if (!jstr(it, "kind") && ikind[0])
                json_object_object_add(it, "kind", json_object_new_string(ikind));
            if (!jstr(it, "apiVersion") && jstr(root, "apiVersion"))
                json_object_object_add(it, "apiVersion", json_object_new_string(jstr(root, "apiVersion")));
            int rc = store_upsert_json(it, false, err, errlen);
            if (rc)
                return rc;
            (*count)++;
        }
        return 0;
    }
    int rc = store_upsert_json(jcopy(root), false, err, errlen);
    if (!rc)
        (*count)++;
    return rc;
}

int store_apply_doc(json_object *root, char *err, size_t errlen, long *count)
{
    return upsert_list(root, err, errlen, count);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int seed_load_dir(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "cannot open seed dir %s", dir);
        return -errno;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 5 && !strcmp(de->d_name + l - 5, ".json")) {
            names = realloc(names, (n + 1) * sizeof *names);
            names[n++] = xstrdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        json_object *root = json_object_from_file(path);
        if (!root) {
            snprintf(err, errlen, "%s: invalid JSON", path);
            rc = -EINVAL;
            break;
        }
        if (!strcmp(names[i], "version.json")) {
            free(sim.version_json);
            sim.version_json = xstrdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
        } else {
            long cnt = 0;
            char e2[512] = "";
            if (upsert_list(root, e2, sizeof e2, &cnt)) {
                snprintf(err, errlen, "%s: %s", path, e2);
                rc = -EINVAL;
            }
        }
        json_object_put(root);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}
