/* kubesim writes on the API port: GET of one object, POST (201/409
 * AlreadyExists), PUT (409 Conflict on a stale resourceVersion, no-op keeps
 * the RV), PATCH (merge / strategic-merge treated as merge / apply-patch as
 * merge with create) and DELETE. Called by api.c after routing. */
#include "ks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_object *json_merge_patch(json_object *target, json_object *patch)
{
    if (!json_object_is_type(patch, json_type_object)) {
        json_object_put(target);
        return jcopy(patch);
    }
    if (!target || !json_object_is_type(target, json_type_object)) {
        json_object_put(target);
        target = json_object_new_object();
    }
    json_object_object_foreach(patch, k, v) {
        if (k[0] == '$')
            continue; /* strategic-merge directives */
        if (!strncmp(k, "$setElementOrder", 16))
            continue;
        if (!v) {
            json_object_object_del(target, k);
            continue;
        }
        json_object *cur = NULL;
        if (json_object_object_get_ex(target, k, &cur))
            cur = json_object_get(cur);
        json_object_object_add(target, k, json_merge_patch(cur, v));
    }
    return target;
}

/* RFC 6902 JSON patch (add, remove, replace, test) applied to doc in place.
 * Returns 0 or -1 with err filled. */
static int json_patch_apply(json_object *doc, json_object *ops, char *err, size_t errlen)
{
    if (!json_object_is_type(ops, json_type_array)) {
        snprintf(err, errlen, "a JSON patch must be an array of operations");
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(ops); i++) {
        json_object *op = json_object_array_get_idx(ops, i), *val = NULL;
        const char *o = jstr(op, "op"), *path = jstr(op, "path");
        bool has_val = json_object_object_get_ex(op, "value", &val);
        if (!o || !path || path[0] != '/') {
            snprintf(err, errlen, "operation %zu: op and an absolute path are required", i);
            return -1;
        }
        char *segs[32], *copy = xstrdup(path + 1);
        size_t n = 0;
        for (char *p = copy, *start = copy;; p++) {
            if (*p == '/' || !*p) {
                bool end = !*p;
                *p = '\0';
                if (n < 32)
                    segs[n++] = start;
                start = p + 1;
                if (end)
                    break;
            }
        }
        for (size_t k = 0; k < n; k++) { /* ~1 -> /, ~0 -> ~ */
            char *w = segs[k];
            for (char *r = segs[k]; *r; r++, w++) {
                if (r[0] == '~' && (r[1] == '0' || r[1] == '1')) {
                    *w = r[1] == '0' ? '~' : '/';
                    r++;
                } else {
                    *w = *r;
                }
            }
            *w = '\0';
        }
        json_object *parent = doc;
        for (size_t k = 0; parent && k + 1 < n; k++) {
            json_object *next = NULL;
            if (json_object_is_type(parent, json_type_array)) {
                uint64_t idx;
                next = parse_u64(segs[k], &idx) ? NULL : json_object_array_get_idx(parent, (size_t)idx);
            } else if (json_object_is_type(parent, json_type_object)) {
                json_object_object_get_ex(parent, segs[k], &next);
            }
            parent = next;
        }
        const char *last = n ? segs[n - 1] : "";
        int rc = -1;
        if (parent && json_object_is_type(parent, json_type_object)) {
            json_object *cur = NULL;
            bool exists = json_object_object_get_ex(parent, last, &cur);
            if (!strcmp(o, "add") && has_val) {
                json_object_object_add(parent, last, json_object_get(val));
                rc = 0;
            } else if (!strcmp(o, "replace") && has_val && exists) {
                json_object_object_add(parent, last, json_object_get(val));
                rc = 0;
            } else if (!strcmp(o, "remove") && exists) {
                json_object_object_del(parent, last);
                rc = 0;
            } else if (!strcmp(o, "test") && has_val) {
                rc = exists && json_object_equal(cur, val) ? 0 : -1;
            }
        } else if (parent && json_object_is_type(parent, json_type_array)) {
            size_t len = json_object_array_length(parent);
            uint64_t idx = len;
            bool dash = !strcmp(last, "-");
            if ((dash || !parse_u64(last, &idx)) && idx <= len) {
                if (!strcmp(o, "add") && has_val) {
                    json_object_array_add(parent, json_object_get(val));
                    for (size_t m = len; m > idx; m--) /* shift into place */
                        json_object_array_put_idx(parent, m, json_object_get(json_object_array_get_idx(parent, m - 1)));
                    if (idx < len)
                        json_object_array_put_idx(parent, (size_t)idx, json_object_get(val));
                    rc = 0;
                } else if (!strcmp(o, "replace") && has_val && idx < len) {
                    json_object_array_put_idx(parent, (size_t)idx, json_object_get(val));
                    rc = 0;
                } else if (!strcmp(o, "remove") && idx < len) {
                    json_object_array_del_idx(parent, (size_t)idx, 1);
                    rc = 0;
                } else if (!strcmp(o, "test") && has_val && idx < len) {
                    rc = json_object_equal(json_object_array_get_idx(parent, (size_t)idx), val) ? 0 : -1;
                }
            }
        }
        if (rc) {
            snprintf(err, errlen, "the JSON patch operation %zu (%s %s) cannot be applied", i, o, path);
            free(copy);
            return -1;
        }
        free(copy);
    }
    return 0;
}

static enum MHD_Result not_found(struct MHD_Connection *c, int res, const char *name)
{
    char q[160], m[512];
    qualified(&ks_rdefs[res], q, sizeof q);
    snprintf(m, sizeof m, "%s \"%s\" not found", q, name);
    return send_status(c, 404, "NotFound", m, &ks_rdefs[res], name);
}

static enum MHD_Result conflict(struct MHD_Connection *c, int res, const char *name)
{
    char q[160], m[600];
    qualified(&ks_rdefs[res], q, sizeof q);
    snprintf(m, sizeof m,
             "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please apply "
             "your changes to the latest version and try again", q, name);
    return send_status(c, 409, "Conflict", m, &ks_rdefs[res], name);
}

enum MHD_Result api_get(struct MHD_Connection *c, int res, const char *ns, const char *name)
{
    bool table = wants_table(c);
    pthread_mutex_lock(&sim.mu);
    struct obj *o = store_get(res, ns ? ns : "", name);
    if (!o) {
        pthread_mutex_unlock(&sim.mu);
        return not_found(c, res, name);
    }
    o->refs++;
    pthread_mutex_unlock(&sim.mu);
    /* o->json is immutable; the reference keeps it alive. */
    enum MHD_Result r = send_obj(c, 200, o, table);
    pthread_mutex_lock(&sim.mu);
    obj_unref(o);
    pthread_mutex_unlock(&sim.mu);
    return r;
}

static json_object *parse_body(struct reqctx *rc)
{
    if (!rc->body.data)
        return NULL;
    json_object *o = json_tokener_parse(rc->body.data);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static bool dry_run(struct MHD_Connection *c)
{
    const char *d = qarg(c, "dryRun");
    return d && *d;
}

/* Checks kind/apiVersion/namespace of a body against the URL. Returns an error message or NULL. */
static const char *check_body(json_object *o, int res, const char *ns, const char *name)
{
    const struct rdef *d = &ks_rdefs[res];
    char av[128];
    rdef_apiversion(d, av, sizeof av);
    const char *k = jstr(o, "kind"), *a = jstr(o, "apiVersion");
    if ((k && strcmp(k, d->kind)) || (a && strcmp(a, av)))
        return "the API version in the data does not match the expected API version";
    const char *bns = jstr(o, "metadata.namespace");
    if (d->namespaced && bns && *bns && ns && strcmp(bns, ns))
        return "the namespace of the provided object does not match the namespace sent on the request";
    const char *bn = jstr(o, "metadata.name");
    if (name && bn && strcmp(bn, name))
        return "the name of the object does not match the name on the URL";
    return NULL;
}

static json_object *meta_of(json_object *o);

/* What the API server's defaulting, conversion and create strategy do to the
 * kinds clients create: a v1 Secret's type defaults to Opaque and its
 * write-only stringData overwrites data[key] (base64); a Namespace gets the
 * kubernetes.io/metadata.name label and, on create, phase Active and the
 * "kubernetes" finalizer. */
static void normalize(int res, json_object *o, bool create)
{
    const struct rdef *d = &ks_rdefs[res];
    if (d->group[0] || !json_object_is_type(o, json_type_object))
        return;
    if (!strcmp(d->kind, "Namespace")) {
        const char *name = jstr(o, "metadata.name");
        json_object *m = meta_of(o), *labels = NULL;
        if (!json_object_object_get_ex(m, "labels", &labels) || !json_object_is_type(labels, json_type_object)) {
            labels = json_object_new_object();
            json_object_object_add(m, "labels", labels);
        }
        if (name)
            json_object_object_add(labels, "kubernetes.io/metadata.name", json_object_new_string(name));
        if (!create)
            return;
        json_object *spec = NULL, *fin = NULL, *status = json_object_new_object();
        json_object_object_add(status, "phase", json_object_new_string("Active"));
        json_object_object_add(o, "status", status);
        if (!json_object_object_get_ex(o, "spec", &spec) || !json_object_is_type(spec, json_type_object)) {
            spec = json_object_new_object();
            json_object_object_add(o, "spec", spec);
        }
        if (!json_object_object_get_ex(spec, "finalizers", &fin) || !json_object_is_type(fin, json_type_array)) {
            fin = json_object_new_array();
            json_object_object_add(spec, "finalizers", fin);
        }
        bool has = false;
        for (size_t i = 0; i < json_object_array_length(fin); i++) {
            const char *f = json_object_get_string(json_object_array_get_idx(fin, i));
            has = has || (f && !strcmp(f, "kubernetes"));
        }
        if (!has)
            json_object_array_add(fin, json_object_new_string("kubernetes"));
        return;
    }
    if (strcmp(d->kind, "Secret"))
        return;
    json_object *sd = NULL, *data = NULL;
    const char *t = jstr(o, "type");
    if (!t || !*t)
        json_object_object_add(o, "type", json_object_new_string("Opaque"));
    if (!json_object_object_get_ex(o, "stringData", &sd))
        return;
    if (json_object_is_type(sd, json_type_object)) {
        if (!json_object_object_get_ex(o, "data", &data) || !json_object_is_type(data, json_type_object)) {
            data = json_object_new_object();
            json_object_object_add(o, "data", data);
        }
        json_object_object_foreach(sd, k, v) {
            const char *sv = json_object_get_string(v);
            struct sbuf b = {0};
            sbuf_add_base64(&b, sv ? sv : "", sv ? strlen(sv) : 0);
            json_object_object_add(data, k, json_object_new_string(b.data ? b.data : ""));
            sbuf_free(&b);
        }
    }
    json_object_object_del(o, "stringData");
}

static json_object *meta_of(json_object *o)
{
    json_object *m = NULL;
    if (!json_object_object_get_ex(o, "metadata", &m) || !json_object_is_type(m, json_type_object)) {
        m = json_object_new_object();
        json_object_object_add(o, "metadata", m);
    }
    return m;
}

enum MHD_Result api_create(struct MHD_Connection *c, int res, const char *ns, struct reqctx *rc)
{
    const struct rdef *d = &ks_rdefs[res];
    json_object *o = parse_body(rc);
    if (!o)
        return send_status(c, 400, "BadRequest", "the request body is not a JSON object", NULL, NULL);
    const char *bad = check_body(o, res, ns, NULL);
    if (bad) {
        json_object_put(o);
        return send_status(c, 400, "BadRequest", bad, NULL, NULL);
    }
    json_object *m = meta_of(o);
    char nm[300];
    const char *name = jstr(o, "metadata.name"), *gen = jstr(o, "metadata.generateName");
    if ((!name || !*name) && gen && *gen) {
        char uid[37];
        gen_uid(uid);
        snprintf(nm, sizeof nm, "%s%.5s", gen, uid);
        json_object_object_add(m, "name", json_object_new_string(nm));
        name = jstr(o, "metadata.name");
    }
    if (!name || !*name) {
        json_object_put(o);
        return send_status(c, 422, "Invalid", "metadata.name: Required value: name or generateName is required",
                           d, NULL);
    }
    snprintf(nm, sizeof nm, "%s", name);
    normalize(res, o, true);
    m = meta_of(o);
    if (d->namespaced)
        json_object_object_add(m, "namespace", json_object_new_string(ns ? ns : "default"));
    json_object_object_del(m, "resourceVersion");
    json_object_object_del(m, "uid");
    json_object_object_del(m, "creationTimestamp");
    bool dry = dry_run(c), table = wants_table(c);
    pthread_mutex_lock(&sim.mu);
    if (store_get(res, d->namespaced ? (ns ? ns : "default") : "", nm)) {
        pthread_mutex_unlock(&sim.mu);
        json_object_put(o);
        char q[160], msg[512];
        qualified(d, q, sizeof q);
        snprintf(msg, sizeof msg, "%s \"%s\" already exists", q, nm);
        return send_status(c, 409, "AlreadyExists", msg, d, nm);
    }
    struct obj *ob = obj_make(res, o, dry ? sim.rv : sim.rv + 1);
    if (!dry) {
        sim.rv++;
        store_put(ob, EV_ADDED);
    }
    ob->refs++;
    pthread_mutex_unlock(&sim.mu);
    enum MHD_Result r = send_obj(c, 201, ob, table);
    pthread_mutex_lock(&sim.mu);
    obj_unref(ob);
    if (dry)
        obj_unref(ob);
    pthread_mutex_unlock(&sim.mu);
    return r;
}

/* Stores `o` (taken) as the new state of old unless it equals old. Returns the
 * object to answer with (a new reference). Lock held. */
static struct obj *commit(int res, struct obj *old, json_object *o, bool dry)
{
    normalize(res, o, false);
    json_object *m = meta_of(o);
    const char *keep[] = {"uid", "creationTimestamp"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = obj_field(old, i ? "metadata.creationTimestamp" : "metadata.uid");
        if (v)
            json_object_object_add(m, keep[i], json_object_new_string(v));
    }
    if (ks_rdefs[res].namespaced)
        json_object_object_add(m, "namespace", json_object_new_string(old->ns));
    json_object_object_add(m, "name", json_object_new_string(old->name));
    json_object *copy = jcopy(o);
    struct obj *same = obj_make(res, copy, old->rv);
    bool eq = same->len == old->len && !memcmp(same->json, old->json, old->len);
    if (!eq) {
        json_object *a = obj_parse(same), *b = obj_parse(old);
        eq = a && b && json_object_equal(a, b);
        json_object_put(a);
        json_object_put(b);
    }
    if (eq || dry) {
        obj_unref(same);
        json_object_put(o);
        old->refs++;
        return old;
    }
    obj_unref(same);
    struct obj *ob = obj_make(res, o, ++sim.rv);
    store_put(ob, EV_MODIFIED);
    ob->refs++;
    return ob;
}

static enum MHD_Result finish(struct MHD_Connection *c, struct obj *ob, bool table)
{
    enum MHD_Result r = send_obj(c, 200, ob, table);
    pthread_mutex_lock(&sim.mu);
    obj_unref(ob);
    pthread_mutex_unlock(&sim.mu);
    return r;
}

enum MHD_Result api_update(struct MHD_Connection *c, int res, const char *ns, const char *name,
                           const char *sub, struct reqctx *rc)
{
    json_object *o = parse_body(rc);
    if (!o)
        return send_status(c, 400, "BadRequest", "the request body is not a JSON object", NULL, NULL);
    const char *bad = check_body(o, res, ns, name);
    if (bad) {
        json_object_put(o);
        return send_status(c, 400, "BadRequest", bad, NULL, NULL);
    }
    bool table = wants_table(c);
    pthread_mutex_lock(&sim.mu);
    struct obj *old = store_get(res, ns ? ns : "", name);
    if (!old) {
        pthread_mutex_unlock(&sim.mu);
        json_object_put(o);
        return not_found(c, res, name);
    }
    const char *brv = jstr(o, "metadata.resourceVersion");
    uint64_t want = 0;
    if (brv && *brv && (parse_u64(brv, &want) || want != old->rv)) {
        pthread_mutex_unlock(&sim.mu);
        json_object_put(o);
        return conflict(c, res, name);
    }
    if (sub) { /* status subresource: only .status changes */
        json_object *st = NULL;
        json_object *n = obj_parse(old);
        if (json_object_object_get_ex(o, "status", &st))
            json_object_object_add(n, "status", json_object_get(st));
        json_object_put(o);
        o = n;
    }
    struct obj *ob = commit(res, old, o, dry_run(c));
    pthread_mutex_unlock(&sim.mu);
    return finish(c, ob, table);
}

enum MHD_Result api_patch(struct MHD_Connection *c, int res, const char *ns, const char *name,
                          const char *sub, struct reqctx *rc)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    bool apply = ct && strstr(ct, "application/apply-patch");
    bool jpatch = ct && strstr(ct, "application/json-patch+json");
    if (!ct || (!strstr(ct, "merge-patch+json") && !apply && !jpatch))
        return send_status(c, 415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, "
                           "application/strategic-merge-patch+json, application/apply-patch+yaml", NULL, NULL);
    json_object *p = jpatch && rc->body.data ? json_tokener_parse(rc->body.data) : parse_body(rc);
    if (!p)
        return send_status(c, 400, "BadRequest", "the request body is not a JSON object (kubesim reads JSON only)",
                           NULL, NULL);
    bool table = wants_table(c);
    pthread_mutex_lock(&sim.mu);
    struct obj *old = store_get(res, ns ? ns : "", name);
    if (!old && !apply) { /* (json-patch: also 404) */
        pthread_mutex_unlock(&sim.mu);
        json_object_put(p);
        return not_found(c, res, name);
    }
    const char *prv = jpatch ? NULL : jstr(p, "metadata.resourceVersion");
    uint64_t want = 0;
    if (old && prv && *prv && (parse_u64(prv, &want) || want != old->rv)) {
        pthread_mutex_unlock(&sim.mu);
        json_object_put(p);
        return conflict(c, res, name);
    }
    if (!old) {
        json_object *n = json_merge_patch(json_object_new_object(), p);
        json_object *m = meta_of(n);
        json_object_object_add(m, "name", json_object_new_string(name));
        if (ks_rdefs[res].namespaced)
            json_object_object_add(m, "namespace", json_object_new_string(ns ? ns : "default"));
        json_object_object_del(m, "resourceVersion");
        json_object_put(p);
        normalize(res, n, true);
        struct obj *ob = obj_make(res, n, ++sim.rv);
        store_put(ob, EV_ADDED);
        ob->refs++;
        pthread_mutex_unlock(&sim.mu);
        enum MHD_Result r = send_obj(c, 201, ob, table);
        pthread_mutex_lock(&sim.mu);
        obj_unref(ob);
        pthread_mutex_unlock(&sim.mu);
        return r;
    }
    json_object *n = obj_parse(old);
    if (jpatch) {
        char err[300];
        if (json_patch_apply(n, p, err, sizeof err)) {
            pthread_mutex_unlock(&sim.mu);
            json_object_put(p);
            json_object_put(n);
            return send_status(c, 422, "Invalid", err, &ks_rdefs[res], name);
        }
        const char *nrv = jstr(n, "metadata.resourceVersion");
        if (nrv && (parse_u64(nrv, &want) || want != old->rv)) { /* a patched RV is a precondition */
            pthread_mutex_unlock(&sim.mu);
            json_object_put(p);
            json_object_put(n);
            return conflict(c, res, name);
        }
    } else if (sub) {
        json_object *st = NULL;
        if (json_object_object_get_ex(p, "status", &st)) {
            json_object *cur = NULL;
            if (json_object_object_get_ex(n, "status", &cur))
                cur = json_object_get(cur);
            json_object_object_add(n, "status", json_merge_patch(cur, st));
        }
    } else {
        n = json_merge_patch(n, p);
    }
    json_object_put(p);
    json_object_object_del(meta_of(n), "resourceVersion");
    struct obj *ob = commit(res, old, n, dry_run(c));
    pthread_mutex_unlock(&sim.mu);
    return finish(c, ob, table);
}

enum MHD_Result api_delete(struct MHD_Connection *c, int res, const char *ns, const char *name,
                           struct reqctx *rc)
{
    json_object *opts = parse_body(rc);
    pthread_mutex_lock(&sim.mu);
    struct obj *old = store_get(res, ns ? ns : "", name);
    if (!old) {
        pthread_mutex_unlock(&sim.mu);
        json_object_put(opts);
        return not_found(c, res, name);
    }
    const char *prv = opts ? jstr(opts, "preconditions.resourceVersion") : NULL;
    const char *puid = opts ? jstr(opts, "preconditions.uid") : NULL;
    const char *ouid = obj_field(old, "metadata.uid");
    uint64_t want = 0;
    if ((prv && (parse_u64(prv, &want) || want != old->rv)) || (puid && (!ouid || strcmp(puid, ouid)))) {
        pthread_mutex_unlock(&sim.mu);
        json_object_put(opts);
        return conflict(c, res, name);
    }
    json_object_put(opts);
    struct obj *last = old;
    if (!dry_run(c))
        store_delete(res, ns ? ns : "", name, &last);
    last->refs++;
    pthread_mutex_unlock(&sim.mu);
    return finish(c, last, false);
}
