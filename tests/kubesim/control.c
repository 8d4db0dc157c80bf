/* kubesim control port (plain HTTP, JSON): seeding and deleting objects,
 * fault injection (/fail, /latency, /stall-watches, /drop-watches, /garbage,
 * /partition, /compact), token and API-group switches, the mutator, and
 * read-outs (/state, /objects, /stats, /requests). Called by main.c. */
#include "ks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result reply(struct MHD_Connection *c, int code, struct sbuf *b)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(b->len, b->data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_err(struct MHD_Connection *c, int code, const char *msg)
{
    struct sbuf b = {0};
    sbuf_adds(&b, "{\"error\":");
    sbuf_add_json_str(&b, msg);
    sbuf_adds(&b, "}");
    return reply(c, code, &b);
}

static enum MHD_Result reply_rv(struct MHD_Connection *c, const char *key, long n)
{
    struct sbuf b = {0};
    pthread_mutex_lock(&sim.mu);
    sbuf_printf(&b, "{\"%s\":%ld,\"resourceVersion\":\"%llu\"}", key, n, (unsigned long long)sim.rv);
    pthread_mutex_unlock(&sim.mu);
    return reply(c, 200, &b);
}

/* "persistentvolumes" or "events.events.k8s.io" */
static int resource_arg(const char *s)
{
    if (!s)
        return -1;
    const char *dot = strchr(s, '.');
    if (!dot)
        return rdef_find_resource(s);
    char r[128];
    snprintf(r, sizeof r, "%.*s", (int)(dot - s), s);
    for (size_t i = 0; i < ks_nrdefs; i++)
        if (!strcmp(ks_rdefs[i].resource, r) && !strcmp(ks_rdefs[i].group, dot + 1))
            return (int)i;
    return -1;
}

static long jint(json_object *o, const char *k, long def)
{
    json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, k, &v) || !v)
        return def;
    return (long)json_object_get_int64(v);
}

static double jnum(json_object *o, const char *k, double def)
{
    json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, k, &v) || !v)
        return def;
    return json_object_get_double(v);
}

static enum MHD_Result do_delete(struct MHD_Connection *c, json_object *body)
{
    json_object *items = NULL;
    size_t n = 1;
    if (json_object_object_get_ex(body, "items", &items) && json_object_is_type(items, json_type_array))
        n = json_object_array_length(items);
    else
        items = NULL;
    long deleted = 0;
    char missing[512] = "";
    pthread_mutex_lock(&sim.mu);
    for (size_t i = 0; i < n; i++) {
        json_object *it = items ? json_object_array_get_idx(items, i) : body;
        const char *av = jstr(it, "apiVersion"), *kind = jstr(it, "kind"), *name = jstr(it, "name");
        const char *ns = jstr(it, "namespace");
        if (!name)
            name = jstr(it, "metadata.name");
        if (!ns)
            ns = jstr(it, "metadata.namespace");
        int res = rdef_find_kind(av, kind);
        if (res < 0 || !name) {
            snprintf(missing, sizeof missing, "unknown kind or missing name");
            continue;
        }
        if (!ks_rdefs[res].namespaced)
            ns = "";
        else if (!ns)
            ns = "default";
        if (store_delete(res, ns, name, NULL) == 0)
            deleted++;
        else
            snprintf(missing, sizeof missing, "%s %s/%s not found", kind, ns, name);
    }
    pthread_mutex_unlock(&sim.mu);
    if (!deleted && missing[0])
        return reply_err(c, 404, missing);
    return reply_rv(c, "deleted", deleted);
}

static void set_tokens(json_object *arr, char ***list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
    if (!arr || !json_object_is_type(arr, json_type_array))
        return;
    size_t len = json_object_array_length(arr);
    *list = xcalloc(len + 1, sizeof **list);
    for (size_t i = 0; i < len; i++)
        (*list)[(*n)++] = xstrdup(json_object_get_string(json_object_array_get_idx(arr, i)));
}

static enum MHD_Result api_switch(struct MHD_Connection *c, json_object *body, bool disable)
{
    const char *g = jstr(body, "group"), *v = jstr(body, "version");
    if (!g)
        g = "";
    if (!v)
        v = "v1";
    long n = 0;
    pthread_mutex_lock(&sim.mu);
    for (size_t i = 0; i < ks_nrdefs; i++)
        if (!strcmp(ks_rdefs[i].group, g) && !strcmp(ks_rdefs[i].version, v)) {
            sim.disabled[i] = disable;
            n++;
        }
    pthread_cond_broadcast(&sim.cond);
    pthread_mutex_unlock(&sim.mu);
    if (!n)
        return reply_err(c, 404, "unknown group/version");
    return reply_rv(c, "resources", n);
}

static enum MHD_Result get_state(struct MHD_Connection *c, bool full)
{
    int res = resource_arg(qarg(c, "resource"));
    if (res < 0)
        return reply_err(c, 400, "unknown or missing resource");
    const char *ns = qarg(c, "namespace"), *name = qarg(c, "name");
    struct sbuf b = {0};
    pthread_mutex_lock(&sim.mu);
    if (full && name) {
        struct obj *o = store_get(res, ks_rdefs[res].namespaced ? (ns ? ns : "default") : "", name);
        if (!o) {
            pthread_mutex_unlock(&sim.mu);
            return reply_err(c, 404, "not found");
        }
        sbuf_add(&b, o->json, o->len);
        pthread_mutex_unlock(&sim.mu);
        return reply(c, 200, &b);
    }
    struct resstore *st = &sim.stores[res];
    sbuf_printf(&b, "{\"resourceVersion\":\"%llu\",\"items\":[", (unsigned long long)sim.rv);
    bool first = true;
    for (size_t i = 0; i < st->n; i++) {
        struct obj *o = st->items[i];
        if (ns && strcmp(o->ns, ns))
            continue;
        if (!first)
            sbuf_adds(&b, ",");
        first = false;
        if (full) {
            sbuf_add(&b, o->json, o->len);
            continue;
        }
        sbuf_adds(&b, "{\"namespace\":");
        sbuf_add_json_str(&b, o->ns);
        sbuf_adds(&b, ",\"name\":");
        sbuf_add_json_str(&b, o->name);
        sbuf_adds(&b, ",\"uid\":");
        const char *uid = obj_field(o, "metadata.uid");
        sbuf_add_json_str(&b, uid ? uid : "");
        sbuf_printf(&b, ",\"resourceVersion\":\"%llu\"}", (unsigned long long)o->rv);
    }
    sbuf_adds(&b, "]}");
    pthread_mutex_unlock(&sim.mu);
    return reply(c, 200, &b);
}

/* Every stored object, as a List a later --seed can load (harness restarts). */
static enum MHD_Result get_dump(struct MHD_Connection *c)
{
    struct sbuf b = {0};
    pthread_mutex_lock(&sim.mu);
    sbuf_printf(&b, "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"%llu\"},\"items\":[",
                (unsigned long long)sim.rv);
    bool first = true;
    for (size_t r = 0; r < ks_nrdefs; r++)
        for (size_t i = 0; i < sim.stores[r].n; i++) {
            struct obj *o = sim.stores[r].items[i];
            if (!first)
                sbuf_adds(&b, ",");
            sbuf_add(&b, o->json, o->len);
            first = false;
        }
    sbuf_adds(&b, "]}");
    pthread_mutex_unlock(&sim.mu);
    return reply(c, 200, &b);
}

static enum MHD_Result get_stats(struct MHD_Connection *c)
{
    struct sbuf b = {0};
    pthread_mutex_lock(&sim.mu);
    sbuf_adds(&b, "{\"requests\":{");
    for (int i = 0; i < 9; i++)
        sbuf_printf(&b, "%s\"%s\":%ld", i ? "," : "", ks_verbs[i], sim.stat_verbs[i]);
    sbuf_adds(&b, "},\"codes\":{");
    bool first = true;
    for (int i = 0; i < 600; i++)
        if (sim.stat_codes[i]) {
            sbuf_printf(&b, "%s\"%d\":%ld", first ? "" : ",", i, sim.stat_codes[i]);
            first = false;
        }
    sbuf_printf(&b, "},\"watches_open\":%ld,\"resourceVersion\":\"%llu\",\"compactedResourceVersion\":\"%llu\"}",
                sim.watches_open, (unsigned long long)sim.rv, (unsigned long long)sim.compacted_rv);
    pthread_mutex_unlock(&sim.mu);
    return reply(c, 200, &b);
}

static enum MHD_Result get_requests(struct MHD_Connection *c)
{
    uint64_t since = 0;
    const char *s = qarg(c, "since");
    if (s && parse_u64(s, &since))
        return reply_err(c, 400, "invalid since");
    struct sbuf b = {0};
    sbuf_adds(&b, "[");
    pthread_mutex_lock(&sim.mu);
    bool first = true;
    for (size_t i = 0; i < sim.log_n; i++) {
        struct req_log *l = &sim.log[(sim.log_head + i) % sim.log_cap];
        if (l->t < since)
            continue;
        sbuf_printf(&b, "%s{\"t\":%llu,\"t_recv\":%llu,\"t_done\":%llu,\"completed\":%s,\"verb\":\"%s\","
                        "\"method\":\"%s\",\"path\":",
                    first ? "" : ",", (unsigned long long)l->t, (unsigned long long)l->t_recv,
                    (unsigned long long)l->t_done, l->done == 1 ? "true" : l->done == 2 ? "false" : "null", l->verb,
                    l->method);
        sbuf_add_json_str(&b, l->path);
        sbuf_adds(&b, ",\"query\":");
        sbuf_add_json_str(&b, l->query);
        sbuf_adds(&b, ",\"user_agent\":");
        sbuf_add_json_str(&b, l->ua);
        sbuf_adds(&b, ",\"content_type\":");
        sbuf_add_json_str(&b, l->ctype);
        sbuf_adds(&b, ",\"user\":");
        sbuf_add_json_str(&b, l->user);
        sbuf_printf(&b, ",\"code\":%d}", l->code);
        first = false;
    }
    pthread_mutex_unlock(&sim.mu);
    sbuf_adds(&b, "]");
    return reply(c, 200, &b);
}

static enum MHD_Result mutator(struct MHD_Connection *c, json_object *body)
{
    if (!body) {
        struct sbuf b = {0};
        pthread_mutex_lock(&sim.mu);
        sbuf_printf(&b, "{\"running\":%s,\"rate\":%d,\"added\":%ld,\"updated\":%ld,\"deleted\":%ld,"
                        "\"resourceVersion\":\"%llu\"}",
                    sim.mut_running ? "true" : "false", sim.mut_rate, sim.mut_done[0], sim.mut_done[1],
                    sim.mut_done[2], (unsigned long long)sim.rv);
        pthread_mutex_unlock(&sim.mu);
        return reply(c, 200, &b);
    }
    int res = resource_arg(jstr(body, "resource") ? jstr(body, "resource") : "persistentvolumes");
    if (res < 0)
        return reply_err(c, 400, "unknown resource");
    json_object *mix = NULL;
    json_object_object_get_ex(body, "mix", &mix);
    int m[3] = {(int)jint(mix, "add", 1), (int)jint(mix, "update", 2), (int)jint(mix, "delete", 1)};
    if (m[0] < 0 || m[1] < 0 || m[2] < 0 || m[0] + m[1] + m[2] <= 0)
        return reply_err(c, 400, "invalid mix");
    if (mutator_set((int)jint(body, "rate", 0), res, (uint64_t)jint(body, "seed", 1), m))
        return reply_err(c, 500, "cannot start mutator");
    return reply_rv(c, "rate", jint(body, "rate", 0));
}

enum MHD_Result control_handle(struct MHD_Connection *c, const char *url, const char *method,
                               struct reqctx *rc)
{
    bool post = !strcmp(method, "POST");
    if (!strcmp(method, "GET")) {
        if (!strcmp(url, "/state"))
            return get_state(c, false);
        if (!strcmp(url, "/objects"))
            return get_state(c, true);
        if (!strcmp(url, "/stats"))
            return get_stats(c);
        if (!strcmp(url, "/dump"))
            return get_dump(c);
        if (!strcmp(url, "/requests"))
            return get_requests(c);
        if (!strcmp(url, "/mutator"))
            return mutator(c, NULL);
        if (!strcmp(url, "/healthz")) {
            struct sbuf b = {0};
            sbuf_adds(&b, "{\"ok\":true}");
            return reply(c, 200, &b);
        }
        return reply_err(c, 404, "unknown control path");
    }
    if (!post)
        return reply_err(c, 405, "use GET or POST");
    json_object *body = rc->body.data ? json_tokener_parse(rc->body.data) : json_object_new_object();
    if (!body || !json_object_is_type(body, json_type_object)) {
        json_object_put(body);
        return reply_err(c, 400, "body must be a JSON object");
    }
    enum MHD_Result ret;
    if (!strcmp(url, "/apply")) {
        char err[512] = "";
        long n = 0;
        pthread_mutex_lock(&sim.mu);
        int rcode = store_apply_doc(body, err, sizeof err, &n);
        pthread_mutex_unlock(&sim.mu);
        ret = rcode ? reply_err(c, rcode, err) : reply_rv(c, "applied", n);
    } else if (!strcmp(url, "/delete")) {
        ret = do_delete(c, body);
    } else if (!strcmp(url, "/drop-watches")) {
        /* {"resource": R} cuts only the watches of R (over the HTTP/2 front:
         * an RST_STREAM of those streams, the connection stays up) */
        const char *rname = jstr(body, "resource");
        int res = rname ? rdef_find_resource(rname) : -1;
        if (rname && res < 0) {
            ret = reply_err(c, 404, "unknown resource");
        } else {
            pthread_mutex_lock(&sim.mu);
            long n = sim.watches_open;
            if (res >= 0)
                sim.drop_res_gen[res]++;
            else
                sim.drop_gen++;
            pthread_cond_broadcast(&sim.cond);
            pthread_mutex_unlock(&sim.mu);
            ret = reply_rv(c, "dropped", n);
        }
    } else if (!strcmp(url, "/fail")) {
        long code = jint(body, "code", 500), count = jint(body, "count", 1);
        pthread_mutex_lock(&sim.mu);
        if (sim.nfails < sizeof sim.fails / sizeof sim.fails[0] && count > 0) {
            struct fail_rule *f = &sim.fails[sim.nfails++];
            memset(f, 0, sizeof *f);
            f->count = (int)count;
            f->code = (int)code;
            f->retry_after = (int)jint(body, "retry_after", 0);
            snprintf(f->path, sizeof f->path, "%s", jstr(body, "path") ? jstr(body, "path") : "");
            snprintf(f->verb, sizeof f->verb, "%s", jstr(body, "verb") ? jstr(body, "verb") : "");
            snprintf(f->query, sizeof f->query, "%s", jstr(body, "query") ? jstr(body, "query") : "");
        } else if (count <= 0) {
            sim.nfails = 0; /* count 0 clears every rule */
        }
        pthread_mutex_unlock(&sim.mu);
        ret = reply_rv(c, "count", count);
    } else if (!strcmp(url, "/latency")) {
        pthread_mutex_lock(&sim.mu);
        sim.latency_ms = (int)jint(body, "ms", 0);
        snprintf(sim.latency_path, sizeof sim.latency_path, "%s", jstr(body, "path") ? jstr(body, "path") : "");
        pthread_mutex_unlock(&sim.mu);
        ret = reply_rv(c, "ms", jint(body, "ms", 0));
    } else if (!strcmp(url, "/list-pace")) {
        const char *mode = jstr(body, "mode") ? jstr(body, "mode") : "hold";
        const char *res = jstr(body, "resource") ? jstr(body, "resource") : "";
        int rix = *res ? resource_arg(res) : 0;
        if (strcmp(mode, "hold") && strcmp(mode, "truncate")) {
            ret = reply_err(c, 400, "mode must be hold or truncate");
        } else if (rix < 0) {
            ret = reply_err(c, 400, "unknown resource");
        } else {
            pthread_mutex_lock(&sim.mu);
            struct pace_rule *pr = &sim.pace;
            memset(pr, 0, sizeof *pr);
            pr->hold_ms = (int)jint(body, "hold_ms", 0);
            pr->truncate = !strcmp(mode, "truncate");
            pr->skip = (int)jint(body, "skip", 0);
            pr->count = (int)jint(body, "count", 0);
            snprintf(pr->res, sizeof pr->res, "%s", *res ? ks_rdefs[rix].resource : "");
            pr->active = pr->hold_ms > 0 || pr->truncate;
            pthread_mutex_unlock(&sim.mu);
            ret = reply_rv(c, "hold_ms", pr->hold_ms);
        }
    } else if (!strcmp(url, "/stall-watches")) {
        pthread_mutex_lock(&sim.mu);
        sim.stall_until_ms = now_ms() + (uint64_t)(jnum(body, "seconds", 0) * 1000.0);
        pthread_cond_broadcast(&sim.cond);
        pthread_mutex_unlock(&sim.mu);
        ret = reply_rv(c, "seconds", jint(body, "seconds", 0));
    } else if (!strcmp(url, "/compact")) {
        pthread_mutex_lock(&sim.mu);
        store_compact();
        pthread_mutex_unlock(&sim.mu);
        ret = reply_rv(c, "compacted", 1);
    } else if (!strcmp(url, "/mutator")) {
        ret = mutator(c, body);
    } else if (!strcmp(url, "/garbage")) {
        const char *mode = jstr(body, "mode");
        if (!mode || (strcmp(mode, "malformed") && strcmp(mode, "truncated"))) {
            ret = reply_err(c, 400, "mode must be malformed or truncated");
        } else {
            pthread_mutex_lock(&sim.mu);
            snprintf(sim.garbage_mode, sizeof sim.garbage_mode, "%s", mode);
            snprintf(sim.garbage_res, sizeof sim.garbage_res, "%s",
                     jstr(body, "resource") ? jstr(body, "resource") : "");
            pthread_mutex_unlock(&sim.mu);
            ret = reply_rv(c, "armed", 1);
        }
    } else if (!strcmp(url, "/partition")) {
        pthread_mutex_lock(&sim.mu);
        snprintf(sim.partition_ua, sizeof sim.partition_ua, "%s",
                 jstr(body, "user_agent_contains") ? jstr(body, "user_agent_contains") : "");
        sim.partition_until_ms = now_ms() + (uint64_t)(jnum(body, "seconds", 0) * 1000.0);
        sim.partition_hang = jstr(body, "mode") && !strcmp(jstr(body, "mode"), "hang");
        pthread_cond_broadcast(&sim.cond);
        pthread_mutex_unlock(&sim.mu);
        ret = reply_rv(c, "seconds", jint(body, "seconds", 0));
    } else if (!strcmp(url, "/tokens")) {
        json_object *v = NULL, *f = NULL;
        json_object_object_get_ex(body, "valid", &v);
        json_object_object_get_ex(body, "forbidden", &f);
        pthread_mutex_lock(&sim.mu);
        set_tokens(v, &sim.tokens, &sim.ntokens);
        set_tokens(f, &sim.forbidden, &sim.nforbidden);
        pthread_mutex_unlock(&sim.mu);
        ret = reply_rv(c, "valid", (long)sim.ntokens);
    } else if (!strcmp(url, "/api-enable") || !strcmp(url, "/api-disable")) {
        ret = api_switch(c, body, !strcmp(url, "/api-disable"));
    } else if (!strcmp(url, "/version")) {
        pthread_mutex_lock(&sim.mu);
        free(sim.version_json);
        sim.version_json = xstrdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
        pthread_mutex_unlock(&sim.mu);
        ret = reply_rv(c, "ok", 1);
    } else {
        ret = reply_err(c, 404, "unknown control path");
    }
    json_object_put(body);
    return ret;
}
