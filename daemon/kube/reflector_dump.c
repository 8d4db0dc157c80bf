/* The reflector's debug dump (reflector_dump in reflector.h) for
 * GET /debug/store: every object's key and resourceVersion, sorted, so a
 * convergence test can compare it with the API server's state. Uses only
 * the reflector's and store's public API. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube/reflector.h"
#include "util/buf.h"

struct collect {
    const struct obj_meta **v;
    size_t n, cap;
    bool oom;
};

static bool collect_cb(void *data, const void *rec)
{
    struct collect *c = data;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        const struct obj_meta **nv = realloc(c->v, nc * sizeof(*nv));
        if (!nv) {
            c->oom = true;
            return false;
        }
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n++] = model_meta(rec);
    return true;
}

static int cmp_meta(const void *a, const void *b)
{
    const struct obj_meta *x = *(const struct obj_meta *const *)a, *y = *(const struct obj_meta *const *)b;
    const char *xn = model_meta_ns(x), *yn = model_meta_ns(y);
    int c = strcmp(xn ? xn : "", yn ? yn : "");
    return c ? c : strcmp(x->name, y->name);
}

int reflector_dump(const struct reflector *r, struct buf *out)
{
    struct collect c = {0};
    store_foreach(reflector_store(r), collect_cb, &c);
    if (c.oom) {
        free(c.v);
        return -ENOMEM;
    }
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), cmp_meta);
    int rc = buf_adds(out, "{\"resource\":");
    rc = rc ? rc : buf_add_json_str(out, store_type(reflector_store(r))->resource);
    rc = rc ? rc : buf_adds(out, ",\"resourceVersion\":");
    rc = rc ? rc : buf_add_json_str(out, reflector_resource_version(r));
    rc = rc ? rc : buf_printf(out, ",\"synced\":%s,\"absent\":%s,\"items\":[",
                              reflector_synced(r) ? "true" : "false", reflector_absent(r) ? "true" : "false");
    for (size_t i = 0; i < c.n && rc == 0; i++) {
        rc = buf_adds(out, i ? ",{\"namespace\":" : "{\"namespace\":");
        const char *ns = model_meta_ns(c.v[i]);
        rc = rc ? rc : buf_add_json_str(out, ns ? ns : "");
        rc = rc ? rc : buf_adds(out, ",\"name\":");
        rc = rc ? rc : buf_add_json_str(out, c.v[i]->name);
        rc = rc ? rc : buf_adds(out, ",\"resourceVersion\":");
        char rbuf[MODEL_RV_BUF];
        rc = rc ? rc : buf_add_json_str(out, model_meta_rv(c.v[i], rbuf));
        rc = rc ? rc : buf_addc(out, '}');
    }
    rc = rc ? rc : buf_adds(out, "]}");
    free(c.v);
    return rc;
}
