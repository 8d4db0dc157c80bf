/* Rules engine, workload side: extension pod health (reason strings,
 * /readyz check), VolumeSnapshot counts and per-claim maxima, and the
 * warnings and informational items of the support matrix, computed on request. */
#include "rules/engine_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- extension pods ---- */

static void append(char *out, size_t n, size_t *off, const char *s)
{
    if (*off + 1 >= n)
        return;
    int w = snprintf(out + *off, n - *off, "%s", s);
    if (w > 0)
        *off += (size_t)w < n - *off ? (size_t)w : n - *off - 1;
}

void engine_pod_reason(const struct pod_rec *p, char *out, size_t n)
{
    size_t off = 0;
    if (!n)
        return;
    out[0] = '\0';
    if (p->unschedulable || (p->sched_message && strcmp(p->phase, "Pending") == 0)) {
        /* A Pending pod names what the scheduler said (taints, resources,
         * node selectors: the extension runs on Linux amd64 nodes only). */
        append(out, n, &off, p->unschedulable ? "Unschedulable" : "Pending");
        if (p->sched_message) {
            append(out, n, &off, ": ");
            append(out, n, &off, p->sched_message);
        }
    }
    for (size_t i = 0; i < p->ncontainers; i++) {
        const struct pod_container *c = &p->containers[i];
        if (!c->waiting_reason)
            continue;
        char part[256];
        char term[96] = "", rs[48] = "";
        if (c->last_term_reason)
            snprintf(term, sizeof(term), ", last terminated %s", c->last_term_reason);
        if (c->restarts > 0)
            snprintf(rs, sizeof(rs), ", %d restart%s", (int)c->restarts, c->restarts > 1 ? "s" : "");
        snprintf(part, sizeof(part), "%s%s%s%s", off ? "; " : "", c->waiting_reason, term, rs);
        append(out, n, &off, part);
    }
    if (off == 0 && strcmp(p->phase, "Running") != 0)
        append(out, n, &off, p->phase);
    else if (off == 0 && !p->ready)
        append(out, n, &off, "not ready");
}

static void pod_ent_free(void *v)
{
    struct pod_ent *p = v;
    if (!p)
        return;
    free(p->name);
    free(p->phase);
    free(p->reason);
    for (size_t i = 0; p->cnames && i < p->pub.ncontainers; i++)
        free(p->cnames[i]);
    free(p->cnames);
    free(p->c);
    free(p);
}

static struct pod_ent *pod_ent_new(const struct pod_rec *r)
{
    struct pod_ent *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    char reason[512];
    engine_pod_reason(r, reason, sizeof(reason));
    p->name = strdup(r->meta.name);
    p->phase = strdup(r->phase);
    p->reason = strdup(reason);
    size_t nc = r->ncontainers;
    p->c = calloc(nc ? nc : 1, sizeof(*p->c));
    p->cnames = calloc(nc ? nc : 1, sizeof(*p->cnames));
    p->pub.ncontainers = nc;
    if (!p->name || !p->phase || !p->reason || !p->c || !p->cnames)
        goto fail;
    for (size_t i = 0; i < nc; i++) {
        const struct pod_container *c = &r->containers[i];
        if (!(p->cnames[i] = strdup(c->name)))
            goto fail;
        p->c[i].name = p->cnames[i];
        p->c[i].restarts = c->restarts;
        p->c[i].oomkilled = c->oomkilled;
        p->c[i].memory_limit = c->memory_limit;
        p->pub.restarts += c->restarts;
        p->pub.oomkilled |= c->oomkilled;
    }
    p->unschedulable = r->unschedulable;
    p->pub.name = p->name;
    p->pub.phase = p->phase;
    p->pub.ready = r->ready;
    p->pub.reason = p->reason;
    p->pub.containers = p->c;
    return p;
fail:
    pod_ent_free(p);
    return NULL;
}

void engine__apply_pod(struct engine *e, const struct pod_rec *old, const struct pod_rec *rec)
{
    const char *name = rec ? rec->meta.name : old->meta.name;
    void *v = NULL;
    if (strmap_remove(&e->pods, name, &v))
        pod_ent_free(v);
    if (!rec)
        return;
    struct pod_ent *p = pod_ent_new(rec);
    if (p && strmap_put(&e->pods, name, p, NULL, NULL) < 0)
        pod_ent_free(p);
}

size_t engine_extension_pod_count(const struct engine *e)
{
    return e->pods.n;
}

static int cmp_pod(const void *a, const void *b)
{
    const struct pod_ent *x = *(const struct pod_ent *const *)a;
    const struct pod_ent *y = *(const struct pod_ent *const *)b;
    return strcmp(x->name, y->name);
}

struct pcollect {
    const struct pod_ent **v;
    size_t n;
};

static bool pcollect_cb(void *data, const char *key, void *val)
{
    (void)key;
    struct pcollect *c = data;
    c->v[c->n++] = val;
    return true;
}

/* Pods sorted by name into a fresh array (caller frees); NULL when none. */
static const struct pod_ent **sorted_pods(const struct engine *e, size_t *n)
{
    *n = 0;
    if (!e->pods.n)
        return NULL;
    struct pcollect c = {calloc(e->pods.n, sizeof(*c.v)), 0};
    if (!c.v)
        return NULL;
    strmap_foreach(&e->pods, pcollect_cb, &c);
    qsort(c.v, c.n, sizeof(*c.v), cmp_pod);
    *n = c.n;
    return c.v;
}

void engine_foreach_extension_pod(const struct engine *e,
                                  void (*cb)(void *data, const struct engine_ext_pod *p),
                                  void *data)
{
    size_t n;
    const struct pod_ent **v = sorted_pods(e, &n);
    for (size_t i = 0; i < n; i++)
        cb(data, &v[i]->pub);
    free(v);
}

static bool pod_ok(const struct pod_ent *p)
{
    return strcmp(p->phase, "Running") == 0 && p->pub.ready;
}

int engine_extension_running(const struct engine *e)
{
    if (!(e->synced & ENGINE_RES_POD) && e->pods.n == 0)
        return -1;
    if (e->pods.n == 0)
        return 0;
    size_t n;
    const struct pod_ent **v = sorted_pods(e, &n);
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        if (!pod_ok(v[i]))
            ok = 0;
    free(v);
    return ok;
}

bool engine_extension_ok(const struct engine *e, char *reason, size_t n)
{
    if (n)
        reason[0] = '\0';
    if (e->pods.n == 0) {
        if (!(e->synced & ENGINE_RES_POD))
            snprintf(reason, n, "extension pods not listed yet");
        else
            snprintf(reason, n, "no extension pods in namespace %s matching %s",
                     e->o.extension_namespace, e->o.extension_selector);
        return false;
    }
    size_t cnt;
    const struct pod_ent **v = sorted_pods(e, &cnt);
    bool ok = true;
    for (size_t i = 0; i < cnt && ok; i++) {
        if (pod_ok(v[i]))
            continue;
        ok = false;
        snprintf(reason, n, "%s: %s", v[i]->name, *v[i]->reason ? v[i]->reason : "not ready");
    }
    free(v);
    return ok;
}

bool engine_readyz_extension(void *data, char *reason, size_t n)
{
    return engine_extension_ok(data, reason, n);
}

bool engine_readyz_prerequisites(void *data, char *reason, size_t n)
{
    return engine_prerequisites_ok(data, reason, n);
}

/* ---- snapshots ---- */

const char *snapshot_status_name(enum snapshot_status s)
{
    switch (s) {
    case SNAPSHOT_READY: return "ready";
    case SNAPSHOT_PENDING: return "pending";
    case SNAPSHOT_FAILED: return "failed";
    default: return "unknown";
    }
}

static enum snapshot_status snap_status(const struct snapshot_rec *r)
{
    return r->has_error ? SNAPSHOT_FAILED : r->ready ? SNAPSHOT_READY : SNAPSHOT_PENDING;
}

/* ---- snapshots per claim ----
 * Counted when read (the largest count for /metrics and the report, each
 * count for the snapshots-near-limit warning), from the snapshot records
 * themselves: nothing is kept per claim between changes. A walk groups
 * them by namespace and source claim in a transient open-addressing table;
 * the largest count is kept until a snapshot changes. */

struct claim_count {
    const char *ns;    /* interned: equal namespaces are the same pointer */
    const char *claim; /* the record's spec.source.persistentVolumeClaimName */
    uint32_t hash;
    uint32_t n;
};

struct claim_counts {
    struct claim_count *v; /* v[i].claim NULL = empty */
    size_t cap, n;         /* cap a power of two */
    bool oom;
};

struct claim_max {
    bool valid;
    size_t max;
    char key[512]; /* "ns/claim" of the largest count (the smallest key among equals) */
};

static uint32_t claim_hash(const char *ns, const char *claim)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = ns ? ns : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ '/') * 1099511628211ULL;
    for (const char *p = claim; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (uint32_t)(h ^ (h >> 32));
}

static struct claim_count *cc_slot(struct claim_count *v, size_t cap, const char *ns, const char *claim,
                                   uint32_t h)
{
    size_t mask = cap - 1;
    size_t i = h & mask;
    while (v[i].claim && !(v[i].hash == h && v[i].ns == ns && strcmp(v[i].claim, claim) == 0))
        i = (i + 1) & mask;
    return &v[i];
}

static void cc_add(void *data, const void *rec)
{
    struct claim_counts *c = data;
    const struct snapshot_rec *r = rec;
    const char *claim = snapshot_source_pvc(r);
    if (!claim || c->oom)
        return;
    if ((c->n + 1) * 4 > c->cap * 3) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        struct claim_count *nv = calloc(nc, sizeof(*nv));
        if (!nv) {
            c->oom = true;
            return;
        }
        for (size_t i = 0; i < c->cap; i++)
            if (c->v[i].claim)
                *cc_slot(nv, nc, c->v[i].ns, c->v[i].claim, c->v[i].hash) = c->v[i];
        free(c->v);
        c->v = nv;
        c->cap = nc;
    }
    const char *ns = model_meta_ns(&r->meta);
    uint32_t h = claim_hash(ns, claim);
    struct claim_count *s = cc_slot(c->v, c->cap, ns, claim, h);
    if (!s->claim) {
        *s = (struct claim_count){.ns = ns, .claim = claim, .hash = h};
        c->n++;
    }
    s->n++;
}

/* The counts of every claim with snapshots; 0 or -ENOMEM (c freed). */
static int claim_counts(const struct engine *e, struct claim_counts *c)
{
    memset(c, 0, sizeof(*c));
    engine__rec_foreach(e, &engine__snap_ops, cc_add, c);
    if (!c->oom)
        return 0;
    free(c->v);
    return -ENOMEM;
}

static void claim_key(const struct claim_count *c, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", c->ns ? c->ns : "", c->claim);
}

/* Counts a snapshot's state; the per-claim maximum is counted anew. */
static void snap_count(struct engine *e, const void *rec, int d)
{
    const struct snapshot_rec *r = rec;
    e->snap_count[snap_status(r)] += (size_t)d;
    if (e->cmax)
        e->cmax->valid = false;
}

static struct rec_table *snap_table(struct engine *e)
{
    return &e->snaps;
}

static const void *snap_clone(const void *rec)
{
    return model_snapshot_clone(rec);
}

const struct rec_ops engine__snap_ops = {&model_snapshot_type, snap_table, snap_clone, snap_count, NULL};

size_t engine_snapshots(const struct engine *e, enum snapshot_status s)
{
    return (s >= 0 && s < SNAPSHOT_STATUS_COUNT) ? e->snap_count[s] : 0;
}

size_t engine_snapshots_max_per_claim(const struct engine *e, const char **claim)
{
    struct claim_max *m = e->cmax;
    if (!m || !m->valid) {
        if (!m && !(m = ((struct engine *)e)->cmax = calloc(1, sizeof(*m)))) {
            if (claim)
                *claim = NULL;
            return 0; /* out of memory: as if none */
        }
        struct claim_counts c;
        m->max = 0;
        m->key[0] = '\0';
        if (claim_counts(e, &c) == 0) {
            for (size_t i = 0; i < c.cap; i++) {
                if (!c.v[i].claim || c.v[i].n < m->max)
                    continue;
                char key[sizeof(m->key)];
                claim_key(&c.v[i], key, sizeof(key));
                if (c.v[i].n > m->max || strcmp(key, m->key) < 0) {
                    m->max = c.v[i].n;
                    memcpy(m->key, key, sizeof(key));
                }
            }
            free(c.v);
            m->valid = true;
        }
    }
    if (claim)
        *claim = m->max ? m->key : NULL;
    return m->max;
}

void engine__free_ext(struct engine *e)
{
    strmap_clear(&e->pods, pod_ent_free);
    engine__rec_free(e, &engine__snap_ops);
    free(e->cmax);
}

/* ---- warnings ---- */

struct wlist {
    struct engine_warning *v;
    size_t n, cap;
    int err;
    const struct engine *e;
    int64_t now;
};

__attribute__((format(printf, 4, 5)))
static void warn_add(struct wlist *w, const char *code, const char *object, const char *fmt, ...)
{
    if (w->err)
        return;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        struct engine_warning *v = realloc(w->v, cap * sizeof(*v));
        if (!v) {
            w->err = -ENOMEM;
            return;
        }
        w->v = v;
        w->cap = cap;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct engine_warning *x = &w->v[w->n];
    x->code = code;
    x->object = strdup(object);
    x->message = strdup(msg);
    if (!x->object || !x->message) {
        free(x->object);
        free(x->message);
        w->err = -ENOMEM;
        return;
    }
    w->n++;
}

/* cb(w, "namespace/name", record) for each record of a kind. */
struct keyed {
    struct wlist *w;
    void (*cb)(struct wlist *w, const char *key, const void *rec);
};

static void keyed_cb(void *data, const void *rec)
{
    struct keyed *k = data;
    const struct obj_meta *m = model_meta(rec);
    char key[512];
    snprintf(key, sizeof(key), "%s/%s", model_meta_ns(m) ? model_meta_ns(m) : "", m->name);
    k->cb(k->w, key, rec);
}

static void rec_foreach(const struct engine *e, const struct rec_ops *ops,
                        void (*cb)(struct wlist *w, const char *key, const void *rec), struct wlist *w)
{
    struct keyed k = {w, cb};
    engine__rec_foreach(e, ops, keyed_cb, &k);
}

static void warn_pvc(struct wlist *w, const char *key, const void *rec)
{
    const struct pvc_rec *c = rec;
    if (engine__pvc_pending(c))
        warn_add(w, "claim-pending", key, "claim is Pending or not bound to a volume");
    if (engine__pvc_no_class(c))
        warn_add(w, "claim-no-storage-class", key, "%s",
                 c->has_storage_class && pvc_storage_class(c) && !*pvc_storage_class(c) ? "storageClassName is \"\": the claim can only bind a pre-created "
                                  "volume, which AKS backup skips (static)"
                                : "storageClassName is not set: the claim depends on the default "
                                  "storage class at creation time");
}

static void warn_snap(struct wlist *w, const char *key, const void *rec)
{
    const struct snapshot_rec *s = rec;
    enum snapshot_status st = snap_status(s);
    int64_t created = s->meta.created;
    const char *msg = snapshot_error_message(s);
    if (st == SNAPSHOT_FAILED)
        warn_add(w, "snapshot-failed", key, "snapshot failed: %s", msg ? msg : "status.error set");
    else if (st == SNAPSHOT_PENDING && created > 0 && w->now - created > ENGINE_SNAPSHOT_STUCK_SECONDS)
        warn_add(w, "snapshot-stuck", key, "snapshot not ready %lld minutes after creation",
                 (long long)((w->now - created) / 60));
}

static void warn_claim_snaps(struct wlist *w, const char *key, size_t n)
{
    const struct engine_opts *o = &w->e->o;
    if (o->snapshots_per_disk > 0 && (double)n >= o->warn_ratio * (double)o->snapshots_per_disk)
        warn_add(w, "snapshots-near-limit", key,
                 "%zu snapshots of this claim (limit %ld per disk): delete old snapshots or "
                 "shorten retention", n, o->snapshots_per_disk);
}

/* ---- warnings of editions that have them ---- */

static bool outside_ext(const struct engine *e, const char *ns)
{
    return !ns || strcmp(ns, e->o.extension_namespace) != 0;
}

struct pv_warn {
    struct wlist *w;
    size_t disks_in_scope;
};

static bool in_backup_scope(const struct engine *e, const char *ns)
{
    if (!ns || matrix_namespace_excluded(e->ed, ns))
        return false;
    if (!e->o.n_backup_namespaces)
        return true;
    for (size_t i = 0; i < e->o.n_backup_namespaces; i++)
        if (strcmp(e->o.backup_namespaces[i], ns) == 0)
            return true;
    return false;
}

static void pv_warn_cb(void *data, const struct pv_rec *pv, enum pv_reason r)
{
    struct pv_warn *pw = data;
    const struct engine *e = pw->w->e;
    if (e->ed->velero_metadata_warning && (pv->flags & PV_F_VELERO_META) &&
        !(pv_claim_name(pv) && !outside_ext(e, pv_claim_ns(pv))))
        warn_add(pw->w, "velero-metadata", pv->meta.name,
                 "PersistentVolume carries a label or annotation under velero.io/: the backup "
                 "extension's Velero may act on it; remove it");
    if (r == PV_REASON_SUPPORTED && pv_csi_driver(pv) && strcmp(pv_csi_driver(pv), DISK_CSI_DRIVER) == 0 &&
        pv_claim_name(pv) && in_backup_scope(e, pv_claim_ns(pv)))
        pw->disks_in_scope++;
}

static void pvc_velero_cb(struct wlist *w, const char *key, const void *rec)
{
    const struct pvc_rec *c = rec;
    size_t nl = strlen(w->e->o.extension_namespace);
    bool ext = strncmp(key, w->e->o.extension_namespace, nl) == 0 && key[nl] == '/';
    if (c->velero_meta && !ext)
        warn_add(w, "velero-metadata", key,
                 "PersistentVolumeClaim carries a label or annotation under velero.io/: the "
                 "backup extension's Velero may act on it; remove it");
}

static bool ns_velero_cb(void *data, const char *key, void *val)
{
    struct wlist *w = data;
    if (val && outside_ext(w->e, key))
        warn_add(w, "velero-metadata", key,
                 "Namespace carries a label or annotation under velero.io/: the backup "
                 "extension's Velero may act on it; remove it");
    return true;
}

static void edition_warnings(const struct engine *e, struct wlist *w)
{
    const struct matrix_edition *ed = e->ed;
    struct pv_warn pw = {w, 0};
    engine__pv_scan(e, pv_warn_cb, &pw);
    if (ed->velero_metadata_warning) {
        rec_foreach(e, &engine__pvc_ops, pvc_velero_cb, w);
        strmap_foreach(&e->namespaces, ns_velero_cb, w);
    }
    if (ed->vault_tier && ed->vault_tier_disk_limit > 0 && e->o.vault_tier &&
        pw.disks_in_scope > (size_t)ed->vault_tier_disk_limit)
        warn_add(w, "vault-tier-too-many-disks", "vault",
                 "%zu supported disk volumes in the backup scope while the Vault tier takes at "
                 "most %ld per backup instance: split the backup into several instances",
                 pw.disks_in_scope, ed->vault_tier_disk_limit);
    if (ed->version_rule == MATRIX_VERSION_CALENDAR && e->version) {
        struct prereq_input in = {.kubernetes_version = e->version, .kversions = e->o.kversions,
                                  .now = e->now_override ? e->now_override : w->now};
        int64_t end;
        const char *date = "";
        int st = prereq_version_standing(&in, ed, &end, &date);
        if (st == 1)
            warn_add(w, "kubernetes-version-ending", e->version,
                     "AKS support for this Kubernetes minor ends on %s (in %lld days): upgrade "
                     "the cluster (az aks upgrade)",
                     date, (long long)((end - in.now + 86399) / 86400));
        else if (st == 2)
            warn_add(w, "kubernetes-version-lts-only", e->version,
                     "standard AKS support for this Kubernetes minor has ended; it is supported "
                     "until %s only on AKS long-term support (Premium tier, LTS plan), which the "
                     "API does not show: check the cluster's support plan or upgrade",
                     date);
    }
}

static int cmp_warning(const void *a, const void *b)
{
    const struct engine_warning *x = a, *y = b;
    int c = strcmp(x->code, y->code);
    return c ? c : strcmp(x->object, y->object);
}

int engine_warnings(const struct engine *e, int64_t now, struct engine_warning **out, size_t *n)
{
    struct wlist w = {.e = e, .now = now};
    rec_foreach(e, &engine__pvc_ops, warn_pvc, &w);
    rec_foreach(e, &engine__snap_ops, warn_snap, &w);
    struct claim_counts cc;
    if (claim_counts(e, &cc) == 0) {
        for (size_t i = 0; i < cc.cap; i++) {
            if (!cc.v[i].claim)
                continue;
            char key[512];
            claim_key(&cc.v[i], key, sizeof(key));
            warn_claim_snaps(&w, key, cc.v[i].n);
        }
        free(cc.v);
    } else {
        w.err = -ENOMEM;
    }
    size_t np;
    const struct pod_ent **pods = sorted_pods(e, &np);
    for (size_t i = 0; i < np; i++) {
        const struct pod_ent *p = pods[i];
        if (!pod_ok(p))
            warn_add(&w, "extension-not-ready", p->name, "extension pod %s: %s", p->phase,
                     *p->reason ? p->reason : "not ready");
        for (size_t j = 0; j < p->pub.ncontainers; j++) {
            const struct engine_ext_container *c = &p->c[j];
            char obj[512];
            snprintf(obj, sizeof(obj), "%s/%s", p->name, c->name);
            if (c->oomkilled)
                warn_add(&w, "extension-oomkilled", obj,
                         "container was OOMKilled: raise the extension's memory limit "
                         "(resources.limits.memory in its configuration settings, e.g. to "
                         "4400Mi)");
            if (c->restarts > 0)
                warn_add(&w, "extension-restarting", obj, "container restarted %d times",
                         c->restarts);
            if (e->namespaced > ENGINE_NAMESPACED_OBJECTS_WARN &&
                c->memory_limit == ENGINE_EXTENSION_DEFAULT_MEMORY)
                warn_add(&w, "extension-memory-limit", obj,
                         "%zu namespaced objects watched while the container runs with the "
                         "default 1280Mi memory limit: raise the extension's memory limit "
                         "(resources.limits.memory in its configuration settings, e.g. to "
                         "4400Mi)",
                         e->namespaced);
        }
    }
    free(pods);
    edition_warnings(e, &w);
    const struct engine_azure_warning *aw;
    size_t naw = engine__azure_warnings(e, &aw);
    for (size_t i = 0; i < naw; i++)
        warn_add(&w, aw[i].code, aw[i].object, "%s", aw[i].message);
    if (w.err) {
        engine_warnings_free(w.v, w.n);
        return w.err;
    }
    if (w.n)
        qsort(w.v, w.n, sizeof(*w.v), cmp_warning);
    *out = w.v;
    *n = w.n;
    return 0;
}

void engine_warnings_free(struct engine_warning *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(w[i].object);
        free(w[i].message);
    }
    free(w);
}

const struct engine_info *engine_informational(const struct engine *e, size_t *n)
{
    *n = e->ed->ninfo;
    return e->ed->info;
}
