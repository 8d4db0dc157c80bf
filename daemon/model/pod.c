/* Pod records of the backup extension: phase, readiness, scheduling and
 * per-container restarts, waiting/termination reasons and memory limits
 * (extension health warnings). Also the quantity parser. */
#include "model/records.h"
#include "model/mjson.h"

#include <math.h>

int model_parse_quantity(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -EINVAL;
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    double v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (*p == '.') {
        p++;
        double scale = 0.1;
        while (*p >= '0' && *p <= '9') {
            v += (*p++ - '0') * scale;
            scale /= 10;
            digits++;
        }
    }
    if (digits == 0)
        return -EINVAL;
    double mult = 1;
    static const struct { const char *sfx; double mult; } sfx[] = {
        {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0},
        {"Ti", 1099511627776.0}, {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0},
        {"m", 1e-3}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
        {"", 1},
    };
    if ((*p == 'e' || *p == 'E') && p[1] != '\0' && p[1] != 'i') {
        /* Decimal exponent form: 1e3, 5E-2. */
        const char *q = p + 1;
        bool eneg = false;
        if (*q == '+' || *q == '-')
            eneg = *q++ == '-';
        if (*q < '0' || *q > '9')
            return -EINVAL;
        int e = 0;
        while (*q >= '0' && *q <= '9' && e < 100)
            e = e * 10 + (*q++ - '0');
        if (*q != '\0')
            return -EINVAL;
        mult = pow(10, eneg ? -e : e);
    } else {
        size_t i;
        for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++)
            if (strcmp(p, sfx[i].sfx) == 0)
                break;
        if (i == sizeof(sfx) / sizeof(sfx[0]))
            return -EINVAL;
        mult = sfx[i].mult;
    }
    double r = ceil(v * mult);
    if (r > 9.2e18)
        return -EINVAL;
    *out = (int64_t)(neg ? -r : r);
    return 0;
}

static void pod_free(void *p)
{
    struct pod_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r->phase);
    free(r->sched_message);
    for (size_t i = 0; i < r->ncontainers; i++) {
        free(r->containers[i].name);
        free(r->containers[i].waiting_reason);
        free(r->containers[i].last_term_reason);
    }
    free(r->containers);
    free(r);
}

static struct json_object *find_status(struct json_object *statuses, const char *name)
{
    if (!statuses || !json_object_is_type(statuses, json_type_array))
        return NULL;
    size_t n = json_object_array_length(statuses);
    for (size_t i = 0; i < n; i++) {
        struct json_object *st = json_object_array_get_idx(statuses, i);
        const char *sn = mj_str(st, "name");
        if (sn && strcmp(sn, name) == 0)
            return st;
    }
    return NULL;
}

static int fill_container(struct pod_container *c, struct json_object *spec_c,
                          struct json_object *st)
{
    c->memory_limit = -1;
    const char *mem = mj_str(mj_obj(mj_obj(spec_c, "resources"), "limits"), "memory");
    int64_t bytes;
    if (mem && model_parse_quantity(mem, &bytes) == 0)
        c->memory_limit = bytes;
    struct json_object *rc = mj_get(st, "restartCount");
    if (rc && json_object_is_type(rc, json_type_int))
        c->restarts = json_object_get_int(rc);
    const char *waiting = mj_str(mj_obj(mj_obj(st, "state"), "waiting"), "reason");
    const char *term = mj_str(mj_obj(mj_obj(st, "lastState"), "terminated"), "reason");
    if (!term) /* A container that died and was not restarted yet. */
        term = mj_str(mj_obj(mj_obj(st, "state"), "terminated"), "reason");
    c->oomkilled = term && strcmp(term, "OOMKilled") == 0;
    if (mj_dup(mj_str(spec_c, "name"), false, &c->name) || !c->name ||
        mj_dup(waiting, true, &c->waiting_reason) || mj_dup(term, true, &c->last_term_reason))
        return -ENOMEM;
    return 0;
}

static bool cond_is(struct json_object *conds, const char *type, const char *status,
                    const char *reason)
{
    if (!conds || !json_object_is_type(conds, json_type_array))
        return false;
    size_t n = json_object_array_length(conds);
    for (size_t i = 0; i < n; i++) {
        struct json_object *c = json_object_array_get_idx(conds, i);
        const char *t = mj_str(c, "type"), *s = mj_str(c, "status"), *r = mj_str(c, "reason");
        if (t && strcmp(t, type) == 0)
            return s && strcmp(s, status) == 0 && (!reason || (r && strcmp(r, reason) == 0));
    }
    return false;
}

static int pod_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new(obj, sizeof(struct pod_rec), &p);
    if (rc)
        return rc;
    struct pod_rec *r = p;
    struct json_object *status = mj_obj(obj, "status");
    struct json_object *conds = mj_get(status, "conditions");
    const char *phase = mj_str(status, "phase");
    r->phase = strdup(phase && *phase ? phase : "Unknown");
    if (!r->phase)
        goto nomem;
    r->ready = cond_is(conds, "Ready", "True", NULL);
    r->unschedulable = cond_is(conds, "PodScheduled", "False", "Unschedulable");
    if (cond_is(conds, "PodScheduled", "False", NULL) && conds) {
        for (size_t i = 0; i < json_object_array_length(conds); i++) {
            struct json_object *c = json_object_array_get_idx(conds, i);
            const char *ct = mj_str(c, "type");
            if (ct && strcmp(ct, "PodScheduled") == 0) {
                const char *m = mj_str(c, "message");
                if (mj_dup(m, true, &r->sched_message))
                    goto nomem;
                break;
            }
        }
    }
    struct json_object *cs = mj_get(mj_obj(obj, "spec"), "containers");
    struct json_object *sts = mj_get(status, "containerStatuses");
    if (cs && json_object_is_type(cs, json_type_array) && json_object_array_length(cs) > 0) {
        size_t n = json_object_array_length(cs);
        r->containers = calloc(n, sizeof(*r->containers));
        if (!r->containers)
            goto nomem;
        for (size_t i = 0; i < n; i++) {
            struct json_object *c = json_object_array_get_idx(cs, i);
            const char *name = mj_str(c, "name");
            if (!name)
                continue;
            rc = fill_container(&r->containers[r->ncontainers], c, find_status(sts, name));
            r->ncontainers++;
            if (rc < 0)
                goto nomem;
        }
    }
    *out = r;
    return 0;
nomem:
    pod_free(r);
    return -ENOMEM;
}

static const struct model_type pod_type = {
    .resource = "pods",
    .group = "",
    .version = "v1",
    .kind = "Pod",
    .namespaced = true,
    .extract = pod_extract,
    .free = pod_free,
};

struct model_type model_pod_type(const char *ns, const char *label_selector)
{
    struct model_type t = pod_type;
    t.namespace_ = (ns && *ns) ? ns : NULL;
    t.label_selector = (label_selector && *label_selector) ? label_selector : NULL;
    return t;
}
