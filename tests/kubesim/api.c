/* kubesim API port: authentication, injected faults, routing of
 * /api and /apis resource paths to GET/LIST/WATCH/POST/PUT/PATCH/DELETE,
 * Status bodies and the request log. Called by main.c's MHD handler. */
#include "ks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <zlib.h>

const char *const ks_verbs[10] = {"get", "list", "watch", "create", "update",
                                  "patch", "delete", "deletecollection", "other", "none"};

int verb_index(const char *v)
{
    for (int i = 0; i < 9; i++)
        if (!strcmp(ks_verbs[i], v))
            return i;
    return 8;
}

struct cur {
    const char *verb, *method, *uri, *ua;
    bool logged;
    struct reqctx *rc;
};
static __thread struct cur *cur_req;
static __thread const char *cur_ctype; /* Content-Type of the request being answered */
static __thread char cur_user[64];      /* client certificate CN of that request, "" if none */

void log_request(const char *verb, const char *method, const char *uri, const char *ua, int code)
{
    pthread_mutex_lock(&sim.mu);
    sim.stat_verbs[verb_index(verb)]++;
    if (code >= 0 && code < 600)
        sim.stat_codes[code]++;
    if (sim.log_cap) {
        struct req_log *l;
        if (sim.log_n == sim.log_cap) {
            l = &sim.log[sim.log_head];
            free(l->path);
            free(l->query);
            free(l->ua);
            sim.log_head = (sim.log_head + 1) % sim.log_cap;
            sim.log_n--;
        }
        l = &sim.log[(sim.log_head + sim.log_n) % sim.log_cap];
        l->id = ++sim.log_seq;
        l->t = now_ms();
        struct reqctx *rc = cur_req && cur_req->uri == uri ? cur_req->rc : NULL;
        l->t_recv = rc ? rc->t0 : l->t;
        l->t_done = 0;
        l->done = 0;
        if (rc)
            rc->log_id = l->id;
        snprintf(l->verb, sizeof l->verb, "%s", verb);
        snprintf(l->method, sizeof l->method, "%s", method);
        snprintf(l->ctype, sizeof l->ctype, "%s", cur_ctype ? cur_ctype : "");
        const char *q = strchr(uri, '?');
        l->path = q ? strndup(uri, (size_t)(q - uri)) : xstrdup(uri);
        l->query = xstrdup(q ? q + 1 : "");
        l->ua = xstrdup(ua ? ua : "");
        snprintf(l->user, sizeof l->user, "%s", cur_user);
        l->code = code;
        sim.log_n++;
    }
    pthread_mutex_unlock(&sim.mu);
}

void log_request_done(uint64_t id, bool ok)
{
    pthread_mutex_lock(&sim.mu);
    uint64_t oldest = sim.log_seq - sim.log_n + 1;
    if (sim.log_n && id >= oldest && id <= sim.log_seq) {
        struct req_log *l = &sim.log[(sim.log_head + (id - oldest)) % sim.log_cap];
        l->t_done = now_ms();
        l->done = ok ? 1 : 2;
    }
    pthread_mutex_unlock(&sim.mu);
}

enum MHD_Result send_json(struct MHD_Connection *c, int code, char *body, size_t len,
                          const char *extra_hdr, const char *extra_val)
{
    if (cur_req && !cur_req->logged) {
        cur_req->logged = true;
        log_request(cur_req->verb, cur_req->method, cur_req->uri, cur_req->ua, code);
    }
    /* like kube-apiserver: bodies >= 128 KiB are gzipped (level 1) when accepted */
    const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
    bool gz = false;
    if (len >= 128 * 1024 && ae && strstr(ae, "gzip")) {
        z_stream zs = {0};
        if (deflateInit2(&zs, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
            uLong cap = deflateBound(&zs, (uLong)len);
            char *out = xmalloc(cap);
            zs.next_in = (Bytef *)body;
            zs.avail_in = (uInt)len;
            zs.next_out = (Bytef *)out;
            zs.avail_out = (uInt)cap;
            if (deflate(&zs, Z_FINISH) == Z_STREAM_END) {
                free(body);
                body = out;
                len = zs.total_out;
                gz = true;
            } else {
                free(out);
            }
            deflateEnd(&zs);
        }
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-cache, private");
    if (gz)
        MHD_add_response_header(r, "Content-Encoding", "gzip");
    if (extra_hdr)
        MHD_add_response_header(r, extra_hdr, extra_val);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)code, r);
    MHD_destroy_response(r);
    return ret;
}

char *too_large_status_json(uint64_t want, uint64_t current)
{
    struct sbuf b = {0};
    sbuf_printf(&b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                    "\"message\":\"Timeout: Too large resource version: %llu, current: %llu\",\"reason\":\"Timeout\","
                    "\"details\":{\"causes\":[{\"reason\":\"ResourceVersionTooLarge\",\"message\":"
                    "\"Too large resource version\"}],\"retryAfterSeconds\":1},\"code\":504}",
                (unsigned long long)want, (unsigned long long)current);
    return b.data;
}

bool wait_fresh_locked(uint64_t want)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 3; /* the watch cache's blockTimeout */
    while (want > sim.rv && pthread_cond_timedwait(&sim.cond, &sim.mu, &ts) != ETIMEDOUT) {
    }
    return want <= sim.rv;
}

char *status_json(int code, const char *reason, const char *message, const struct rdef *d,
                  const char *name)
{
    struct sbuf b = {0};
    sbuf_adds(&b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":");
    sbuf_add_json_str(&b, message);
    sbuf_adds(&b, ",\"reason\":");
    sbuf_add_json_str(&b, reason);
    sbuf_adds(&b, ",\"details\":{");
    if (d) {
        if (name) {
            sbuf_adds(&b, "\"name\":");
            sbuf_add_json_str(&b, name);
            sbuf_adds(&b, ",");
        }
        if (d->group[0]) {
            sbuf_adds(&b, "\"group\":");
            sbuf_add_json_str(&b, d->group);
            sbuf_adds(&b, ",");
        }
        sbuf_adds(&b, "\"kind\":");
        sbuf_add_json_str(&b, d->resource);
    }
    sbuf_printf(&b, "},\"code\":%d}", code);
    return b.data;
}

enum MHD_Result send_status(struct MHD_Connection *c, int code, const char *reason,
                            const char *message, const struct rdef *d, const char *name)
{
    char *s = status_json(code, reason, message, d, name);
    return send_json(c, code, s, strlen(s), NULL, NULL);
}

void qualified(const struct rdef *d, char *out, size_t n)
{
    if (d->group[0])
        snprintf(out, n, "%s.%s", d->resource, d->group);
    else
        snprintf(out, n, "%s", d->resource);
}

const char *qarg(struct MHD_Connection *c, const char *k)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

static bool qtrue(struct MHD_Connection *c, const char *k)
{
    const char *v = qarg(c, k);
    return v && (!strcmp(v, "true") || !strcmp(v, "1"));
}

/* ---- continue tokens: base64url of {"v":"meta.k8s.io/v1","rv":N,"ns":..,"name":..} ---- */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *token_make(uint64_t rv, const char *ns, const char *name)
{
    struct sbuf j = {0}, o = {0};
    sbuf_printf(&j, "{\"v\":\"meta.k8s.io/v1\",\"rv\":%llu,\"ns\":", (unsigned long long)rv);
    sbuf_add_json_str(&j, ns);
    sbuf_adds(&j, ",\"name\":");
    sbuf_add_json_str(&j, name);
    sbuf_adds(&j, "}");
    const unsigned char *p = (const unsigned char *)j.data;
    for (size_t i = 0; i < j.len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < j.len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < j.len)
            v |= p[i + 2];
        char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63], b64[(v >> 6) & 63], b64[v & 63]};
        sbuf_add(&o, q, i + 2 < j.len ? 4 : i + 1 < j.len ? 3 : 2);
    }
    sbuf_free(&j);
    return o.data;
}

static json_object *token_parse(const char *t)
{
    struct sbuf raw = {0};
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = t; *p && *p != '='; p++) {
        const char *k = strchr(b64, *p == '+' ? '-' : *p == '/' ? '_' : *p);
        if (!k || !*p) {
            sbuf_free(&raw);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)(k - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char ch = (char)((acc >> bits) & 0xff);
            sbuf_add(&raw, &ch, 1);
        }
    }
    json_object *o = raw.data ? json_tokener_parse(raw.data) : NULL;
    sbuf_free(&raw);
    if (o && (!jstr(o, "rv") || !jstr(o, "ns") || !jstr(o, "name"))) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* ---- table / item output ---- */
bool wants_table(struct MHD_Connection *c)
{
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    return a && strstr(a, "as=Table");
}

static void add_item(struct sbuf *b, const struct obj *o, bool builtin)
{
    if (builtin) {
        sbuf_add(b, "{", 1);
        sbuf_add(b, o->json + o->body_off, o->len - o->body_off);
    } else {
        sbuf_add(b, o->json, o->len);
    }
}

/* ListOptions validation as kube-apiserver's ValidateListOptions (apimachinery
 * meta/internalversion/validation, WatchList on): violations are answered 422
 * Invalid for kind ListOptions.meta.k8s.io with one cause each. Returns
 * MHD_YES/MHD_NO after answering, or -1 when the options are valid. */
static int validate_list_options(struct MHD_Connection *c, bool watch)
{
    const char *rv = qarg(c, "resourceVersion"), *match = qarg(c, "resourceVersionMatch");
    const char *cont = qarg(c, "continue"), *sie = qarg(c, "sendInitialEvents");
    struct { const char *field, *reason; char body[200]; } errs[6];
    size_t n = 0;
#define FORBID(f, msg)                                                                         \
    do {                                                                                       \
        errs[n].field = f;                                                                     \
        errs[n].reason = "FieldValueForbidden";                                                \
        snprintf(errs[n].body, sizeof errs[n].body, "Forbidden: %s", msg);                     \
        n++;                                                                                   \
    } while (0)
    bool has_match = match && *match, has_cont = cont && *cont;
    bool exact = has_match && !strcmp(match, "Exact"), not_older = has_match && !strcmp(match, "NotOlderThan");
    if (!watch) {
        if (has_match) {
            if (!rv || !*rv)
                FORBID("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided");
            if (has_cont)
                FORBID("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided");
            if (!exact && !not_older) {
                errs[n].field = "resourceVersionMatch";
                errs[n].reason = "FieldValueNotSupported";
                snprintf(errs[n].body, sizeof errs[n].body,
                         "Unsupported value: \"%.100s\": supported values: \"Exact\", \"NotOlderThan\", \"\"", match);
                n++;
            }
            if (exact && rv && !strcmp(rv, "0"))
                FORBID("resourceVersionMatch", "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"");
        }
        if (sie)
            FORBID("sendInitialEvents", "sendInitialEvents is forbidden for list");
    } else {
        if (sie && !not_older)
            FORBID("resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
        if (has_match) {
            if (!sie)
                FORBID("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
                       "provided");
            if (!not_older) {
                errs[n].field = "resourceVersionMatch";
                errs[n].reason = "FieldValueNotSupported";
                snprintf(errs[n].body, sizeof errs[n].body,
                         "Unsupported value: \"%.100s\": supported values: \"NotOlderThan\"", match);
                n++;
            }
            if (has_cont)
                FORBID("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided");
        }
    }
#undef FORBID
    if (!n)
        return -1;
    struct sbuf msg = {0}, b = {0};
    sbuf_adds(&msg, "ListOptions.meta.k8s.io \"\" is invalid: ");
    if (n > 1)
        sbuf_adds(&msg, "[");
    for (size_t i = 0; i < n; i++)
        sbuf_printf(&msg, "%s%s: %s", i ? ", " : "", errs[i].field, errs[i].body);
    if (n > 1)
        sbuf_adds(&msg, "]");
    sbuf_adds(&b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":");
    sbuf_add_json_str(&b, msg.data);
    sbuf_adds(&b, ",\"reason\":\"Invalid\",\"details\":{\"group\":\"meta.k8s.io\",\"kind\":\"ListOptions\",\"causes\":[");
    for (size_t i = 0; i < n; i++) {
        sbuf_printf(&b, "%s{\"reason\":\"%s\",\"message\":", i ? "," : "", errs[i].reason);
        sbuf_add_json_str(&b, errs[i].body);
        sbuf_printf(&b, ",\"field\":\"%s\"}", errs[i].field);
    }
    sbuf_adds(&b, "]},\"code\":422}");
    sbuf_free(&msg);
    return send_json(c, 422, b.data, b.len, NULL, NULL);
}

struct listq {
    int res;
    const char *ns;
    struct selector *lsel, *fsel;
};

/* ---- /list-pace: a list answer in two parts ---- */
struct paced {
    char *data;
    size_t len, head; /* head: bytes sent before the hold */
    int hold_ms;
    bool truncate, held;
};

static ssize_t paced_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct paced *p = cls;
    if (pos >= p->head && !p->held) { /* the head went out: hold, then the rest or a cut */
        p->held = true;
        usleep((useconds_t)p->hold_ms * 1000u);
        if (p->truncate)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (pos >= p->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t end = pos < p->head ? p->head : p->len, n = (size_t)(end - pos);
    if (n > max)
        n = max;
    memcpy(buf, p->data + pos, n);
    return (ssize_t)n;
}

static void paced_free(void *cls)
{
    struct paced *p = cls;
    free(p->data);
    free(p);
}

/* A 200 list answer; head = offset just after `"items":[`. Paced when a
 * /list-pace rule matches (gzip as send_json does, with a sync flush after
 * the head so that a client can inflate it alone). */
static enum MHD_Result send_list(struct MHD_Connection *c, int res, char *body, size_t len, size_t head)
{
    int hold = 0;
    bool trunc = false, paced = false;
    pthread_mutex_lock(&sim.mu);
    struct pace_rule *pr = &sim.pace;
    if (pr->active && (!pr->res[0] || !strcmp(pr->res, ks_rdefs[res].resource))) {
        if (pr->skip > 0) {
            pr->skip--;
        } else {
            paced = true;
            hold = pr->hold_ms;
            trunc = pr->truncate;
            if (pr->count > 0 && --pr->count == 0)
                pr->active = false;
        }
    }
    pthread_mutex_unlock(&sim.mu);
    if (!paced)
        return send_json(c, 200, body, len, NULL, NULL);
    if (cur_req && !cur_req->logged) {
        cur_req->logged = true;
        log_request(cur_req->verb, cur_req->method, cur_req->uri, cur_req->ua, 200);
    }
    struct paced *p = xcalloc(1, sizeof *p);
    p->hold_ms = hold;
    p->truncate = trunc;
    const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
    bool gz = len >= 128 * 1024 && ae && strstr(ae, "gzip");
    if (gz) {
        z_stream zs = {0};
        if (deflateInit2(&zs, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            abort();
        uLong cap = deflateBound(&zs, (uLong)len) + 64;
        p->data = xmalloc(cap);
        zs.next_out = (Bytef *)p->data;
        zs.avail_out = (uInt)cap;
        zs.next_in = (Bytef *)body;
        zs.avail_in = (uInt)head;
        if (deflate(&zs, Z_SYNC_FLUSH) != Z_OK)
            abort();
        p->head = zs.total_out;
        zs.next_in = (Bytef *)body + head;
        zs.avail_in = (uInt)(len - head);
        if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
            abort();
        p->len = zs.total_out;
        deflateEnd(&zs);
        free(body);
    } else {
        p->data = body;
        p->len = len;
        p->head = head;
    }
    struct MHD_Response *r = MHD_create_response_from_callback(p->len, 64 * 1024, paced_read, p, paced_free);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-cache, private");
    if (gz)
        MHD_add_response_header(r, "Content-Encoding", "gzip");
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result do_list(struct MHD_Connection *c, struct listq *q)
{
    const struct rdef *d = &ks_rdefs[q->res];
    const char *rvp = qarg(c, "resourceVersion"), *match = qarg(c, "resourceVersionMatch");
    const char *lim = qarg(c, "limit"), *cont = qarg(c, "continue");
    uint64_t limit = 0, rv = 0;
    if (lim && *lim && parse_u64(lim, &limit))
        return send_status(c, 400, "BadRequest", "invalid limit", NULL, NULL);
    if (rvp && *rvp && parse_u64(rvp, &rv))
        return send_status(c, 400, "BadRequest", "invalid resourceVersion", NULL, NULL);
    char *after_ns = xstrdup(q->ns ? q->ns : ""), *after_name = xstrdup("");
    pthread_mutex_lock(&sim.mu);
    uint64_t snap = sim.rv;
    if (cont && *cont) {
        json_object *t = token_parse(cont);
        uint64_t trv = 0;
        if (!t || parse_u64(jstr(t, "rv"), &trv)) {
            pthread_mutex_unlock(&sim.mu);
            json_object_put(t);
            free(after_ns);
            free(after_name);
            return send_status(c, 400, "BadRequest", "continue key is not valid", NULL, NULL);
        }
        free(after_ns);
        free(after_name);
        after_ns = xstrdup(jstr(t, "ns"));
        after_name = xstrdup(jstr(t, "name"));
        json_object_put(t);
        if (trv < sim.compacted_rv) {
            char *fresh = token_make(sim.rv, after_ns, after_name);
            pthread_mutex_unlock(&sim.mu);
            struct sbuf b = {0};
            sbuf_adds(&b, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{\"continue\":\"");
            sbuf_adds(&b, fresh);
            sbuf_adds(&b, "\"},\"status\":\"Failure\",\"message\":\"The provided continue parameter is too old "
                          "to display a consistent list result. You can start a new list without the continue "
                          "parameter, or use the continue token in this response to retrieve the remainder of "
                          "the results. Continuing with the provided token results in an inconsistent list - "
                          "objects that were created, modified, or deleted between the time the first chunk was "
                          "returned and now may show up in the list.\",\"reason\":\"Expired\",\"code\":410}");
            free(fresh);
            free(after_ns);
            free(after_name);
            return send_json(c, 410, b.data, b.len, NULL, NULL);
        }
        snap = trv;
    } else if (rvp && *rvp && rv != 0) {
        if (match && !strcmp(match, "Exact")) {
            if (rv < sim.compacted_rv) {
                pthread_mutex_unlock(&sim.mu);
                free(after_ns);
                free(after_name);
                char m[128];
                snprintf(m, sizeof m, "too old resource version: %llu (%llu)", (unsigned long long)rv,
                         (unsigned long long)sim.compacted_rv);
                return send_status(c, 410, "Expired", m, NULL, NULL);
            }
            snap = rv;
        }
        if (rv > sim.rv) {
            if (!wait_fresh_locked(rv)) {
                uint64_t cur = sim.rv;
                pthread_mutex_unlock(&sim.mu);
                free(after_ns);
                free(after_name);
                char *st = too_large_status_json(rv, cur);
                return send_json(c, 504, st, strlen(st), "Retry-After", "1");
            }
            if (!(match && !strcmp(match, "Exact")))
                snap = sim.rv;
        }
    } else if (rvp && !strcmp(rvp, "0")) {
        limit = 0; /* served from the watch cache: limit ignored (v1.30) */
    }
    if (snap > sim.rv)
        snap = sim.rv;
    struct obj **items = NULL;
    size_t n = store_snapshot(q->res, snap, after_ns, after_name, &items);
    bool table = wants_table(c);
    const char *incl = qarg(c, "includeObject");
    struct sbuf body = {0}, ib = {0};
    size_t count = 0, remaining = 0;
    const struct obj *last = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct obj *o = items[i];
        if (q->ns && strcmp(o->ns, q->ns))
            break;
        if (!selector_match(q->lsel, o) || !selector_match(q->fsel, o))
            continue;
        if (limit && count >= limit) {
            remaining++;
            continue;
        }
        if (count)
            sbuf_add(&ib, ",", 1);
        if (table) {
            sbuf_adds(&ib, "{\"cells\":");
            table_row(&ib, o);
            sbuf_adds(&ib, ",\"object\":");
            if (incl && !strcmp(incl, "Object")) {
                sbuf_add(&ib, o->json, o->len);
            } else {
                json_object *full = obj_parse(o), *m = NULL;
                json_object_object_get_ex(full, "metadata", &m);
                sbuf_adds(&ib, "{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":");
                sbuf_adds(&ib, m ? json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN) : "{}");
                sbuf_adds(&ib, "}");
                json_object_put(full);
            }
            sbuf_adds(&ib, "}");
        } else {
            add_item(&ib, o, d->builtin);
        }
        count++;
        last = o;
    }
    char av[128];
    rdef_apiversion(d, av, sizeof av);
    if (table)
        sbuf_adds(&body, "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{");
    else
        sbuf_printf(&body, "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{", d->kind, av);
    sbuf_printf(&body, "\"resourceVersion\":\"%llu\"", (unsigned long long)snap);
    if (remaining && last) {
        char *t = token_make(snap, last->ns, last->name);
        sbuf_printf(&body, ",\"continue\":\"%s\"", t);
        free(t);
        if (selector_empty(q->lsel) && selector_empty(q->fsel))
            sbuf_printf(&body, ",\"remainingItemCount\":%zu", remaining);
    }
    sbuf_adds(&body, "},");
    if (table) {
        table_columns(&body, d);
        sbuf_adds(&body, ",\"rows\":[");
    } else {
        sbuf_adds(&body, "\"items\":[");
    }
    size_t head = body.len;
    pthread_mutex_unlock(&sim.mu);
    free(items);
    free(after_ns);
    free(after_name);
    if (ib.len)
        sbuf_add(&body, ib.data, ib.len);
    sbuf_free(&ib);
    sbuf_adds(&body, "]}");
    size_t len = body.len;
    if (table)
        return send_json(c, 200, body.data, len, NULL, NULL);
    return send_list(c, q->res, body.data, len, head);
}

enum MHD_Result send_obj(struct MHD_Connection *c, int code, const struct obj *o, bool table)
{
    struct sbuf b = {0};
    if (table) {
        sbuf_printf(&b, "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":"
                        "{\"resourceVersion\":\"%llu\"},", (unsigned long long)o->rv);
        table_columns(&b, &ks_rdefs[o->res]);
        sbuf_adds(&b, ",\"rows\":[{\"cells\":");
        table_row(&b, o);
        sbuf_adds(&b, ",\"object\":");
        sbuf_add(&b, o->json, o->len);
        sbuf_adds(&b, "}]}");
    } else {
        sbuf_add(&b, o->json, o->len);
    }
    return send_json(c, code, b.data, b.len, NULL, NULL);
}


/* ---- routing ---- */
static void split_path(char *p, char **seg, int *nseg, int max)
{
    *nseg = (int)split_inplace(p, '/', seg, (size_t)max);
}

static int fault_check(struct MHD_Connection *c, const char *verb, const char *path, int *retry_after,
                       bool *hang)
{
    const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
    int code = 0, lat;
    pthread_mutex_lock(&sim.mu);
    if (sim.partition_ua[0] && now_ms() < sim.partition_until_ms && ua && strstr(ua, sim.partition_ua))
        *hang = true;
    lat = (!sim.latency_path[0] || strstr(path, sim.latency_path)) ? sim.latency_ms : 0;
    for (size_t i = 0; i < sim.nfails && !*hang; i++) {
        struct fail_rule *f = &sim.fails[i];
        const char *query = cur_req && cur_req->uri ? strchr(cur_req->uri, '?') : NULL;
        if (f->count <= 0 || (f->path[0] && !strstr(path, f->path)) || (f->verb[0] && strcmp(f->verb, verb)) ||
            (f->query[0] && (!query || !strstr(query, f->query))))
            continue;
        code = f->code;
        *retry_after = f->retry_after;
        if (--f->count == 0) {
            memmove(f, f + 1, (sim.nfails - i - 1) * sizeof *f);
            sim.nfails--;
        }
        break;
    }
    bool wait_out = *hang && sim.partition_hang;
    pthread_mutex_unlock(&sim.mu);
    while (wait_out) { /* mode hang: no answer at all until the partition ends, then a close */
        usleep(100000);
        pthread_mutex_lock(&sim.mu);
        wait_out = now_ms() < sim.partition_until_ms && sim.partition_hang;
        pthread_mutex_unlock(&sim.mu);
    }
    if (lat > 0 && !*hang)
        usleep((useconds_t)lat * 1000u);
    return code;
}

/* A client certificate on the TLS listener, as kube-apiserver's x509
 * authenticator reads it: verified against ca.crt, CN is the user and each
 * O a group. Returns 0 (no certificate), 1 (user set) or 401 (an unknown
 * issuer or an expired certificate: like kube-apiserver's union of
 * authenticators, a valid bearer token may still authenticate). */
static int cert_user(struct MHD_Connection *c, char *user, size_t ulen, char *groups, size_t glen)
{
    if (!sim.client_ca)
        return 0;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return 0; /* the plain backend listener */
    gnutls_session_t s = (gnutls_session_t)ci->tls_session;
    unsigned n = 0;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(s, &n);
    if (!peers || n == 0)
        return 0;
    unsigned status = 0;
    if (gnutls_certificate_verify_peers2(s, &status) != GNUTLS_E_SUCCESS || status != 0) {
        ks_log("client certificate rejected (verify status 0x%x%s%s)", status,
               status & GNUTLS_CERT_EXPIRED ? ", expired" : "",
               status & GNUTLS_CERT_SIGNER_NOT_FOUND ? ", unknown issuer" : "");
        return 401;
    }
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) != GNUTLS_E_SUCCESS)
        return 401;
    int rc = 401;
    size_t l = ulen;
    if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS &&
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, user, &l) == GNUTLS_E_SUCCESS &&
        user[0]) {
        rc = 1;
        groups[0] = '\0';
        size_t used = 0;
        for (unsigned i = 0; i < 16; i++) {
            char o[128];
            size_t ol = sizeof o;
            if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, i, 0, o, &ol) !=
                GNUTLS_E_SUCCESS)
                break;
            int w = snprintf(groups + used, glen - used, "%s%s", used ? "," : "", o);
            if (w < 0 || (size_t)w >= glen - used)
                break;
            used += (size_t)w;
        }
    }
    gnutls_x509_crt_deinit(crt);
    return rc;
}

static int auth_check(struct MHD_Connection *c, const char *url)
{
    if (!sim.tls)
        return 0;
    char user[64] = "", groups[256] = "";
    int cu = cert_user(c, user, sizeof user, groups, sizeof groups);
    if (cu == 1) {
        snprintf(cur_user, sizeof cur_user, "%s", user);
        int rc = 0;
        pthread_mutex_lock(&sim.mu);
        for (size_t i = 0; i < sim.nforbidden_users; i++)
            if (!strcmp(sim.forbidden_users[i], user))
                rc = 403;
        pthread_mutex_unlock(&sim.mu);
        /* system:masters may do anything, whatever the user list says */
        if (rc == 403 && strstr(groups, "system:masters"))
            rc = 0;
        return rc;
    }
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    /* anonymous requests may read what system:public-info-viewer allows */
    if (!h && (!strcmp(url, "/version") || !strcmp(url, "/healthz") || !strcmp(url, "/livez") ||
               !strcmp(url, "/readyz")))
        return 0;
    if (!h || strncasecmp(h, "Bearer ", 7))
        return 401;
    const char *t = h + 7;
    int rc = 401;
    pthread_mutex_lock(&sim.mu);
    for (size_t i = 0; i < sim.nforbidden; i++)
        if (!strcmp(sim.forbidden[i], t))
            rc = 403;
    for (size_t i = 0; rc == 401 && i < sim.ntokens; i++)
        if (!strcmp(sim.tokens[i], t))
            rc = 0;
    pthread_mutex_unlock(&sim.mu);
    return rc;
}

/* Protobuf bodies of POST/PUT/DELETE become JSON (rc->body replaced) for the
 * kinds proto.c knows; returns 0 to go on (err set when the body is malformed: 400)
 * or 415 (err says why) for other kinds, CBOR and protobuf patches. */
static int body_media(struct MHD_Connection *c, const char *method, struct reqctx *rc, char *err,
                      size_t errlen)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    err[0] = '\0';
    if (!ct || !rc->body.len || (!strstr(ct, "protobuf") && !strstr(ct, "cbor")))
        return 0; /* (an empty body is no body, whatever its declared type) */
    if (strstr(ct, "cbor") || (strcmp(method, "POST") && strcmp(method, "PUT") && strcmp(method, "DELETE"))) {
        snprintf(err, errlen, "the body of the request was in an unknown format - accepted media types "
                 "include: application/json, application/yaml, application/vnd.kubernetes.protobuf "
                 "(kubesim: protobuf for v1 ConfigMap, Secret, ServiceAccount, Namespace and DeleteOptions only)");
        return 415;
    }
    json_object *o = NULL;
    int r = proto_decode(rc->body.data, rc->body.len, &o, err, errlen);
    if (r == -ENOTSUP)
        return 415;
    if (r)
        return 0; /* err set: 400 */
    const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    sbuf_free(&rc->body);
    memset(&rc->body, 0, sizeof rc->body);
    sbuf_adds(&rc->body, js);
    json_object_put(o);
    return 0;
}

static const char *verb_of(const char *method, bool has_name, bool watch)
{
    if (!strcmp(method, "GET"))
        return watch ? "watch" : has_name ? "get" : "list";
    if (!strcmp(method, "POST"))
        return "create";
    if (!strcmp(method, "PUT"))
        return "update";
    if (!strcmp(method, "PATCH"))
        return "patch";
    if (!strcmp(method, "DELETE"))
        return has_name ? "delete" : "deletecollection";
    return "other";
}

enum MHD_Result api_handle(struct MHD_Connection *c, const char *url, const char *method,
                           struct reqctx *rc)
{
    char *path = xstrdup(url), *seg[12];
    int nseg = 0;
    split_path(path, seg, &nseg, 12);
    /* resource path? /api/v1/... or /apis/g/v/... */
    int base = -1;
    const char *group = "", *version = "";
    if (nseg >= 3 && !strcmp(seg[0], "api")) {
        version = seg[1];
        base = 2;
    } else if (nseg >= 4 && !strcmp(seg[0], "apis")) {
        group = seg[1];
        version = seg[2];
        base = 3;
    }
    const char *ns = NULL, *resname = NULL, *name = NULL, *sub = NULL;
    int res = -1;
    if (base > 0) {
        int i = base;
        if (nseg - i >= 3 && !strcmp(seg[i], "namespaces")) {
            int r2 = rdef_find(group, version, seg[i + 2]);
            if (r2 >= 0 && ks_rdefs[r2].namespaced) {
                ns = seg[i + 1];
                i += 2;
            }
        }
        resname = seg[i];
        name = nseg > i + 1 ? seg[i + 1] : NULL;
        sub = nseg > i + 2 ? seg[i + 2] : NULL;
        res = rdef_find(group, version, resname);
        if (nseg > i + 3)
            res = -1;
    }
    bool watch = qtrue(c, "watch");
    struct cur cr = {verb_of(method, name != NULL, watch), method, rc->uri,
                     MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent"), false, rc};
    if (base < 0 || res < 0)
        cr.verb = strcmp(method, "GET") ? cr.verb : "get";
    cur_req = &cr;
    cur_user[0] = '\0';
    cur_ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    enum MHD_Result ret;
    char berr[512] = "";
    int retry = 0;
    bool hang = false;
    int code = fault_check(c, cr.verb, url, &retry, &hang);
    if (hang) {
        log_request(cr.verb, method, rc->uri, cr.ua, 0);
        ret = MHD_NO;
        goto out;
    }
    int auth = auth_check(c, url);
    if (auth == 401) {
        ret = send_status(c, 401, "Unauthorized", "Unauthorized", NULL, NULL);
        goto out;
    }
    if (auth == 403) {
        char m[512];
        snprintf(m, sizeof m, "%s is forbidden: User \"%s\" cannot %s resource", url,
                 cur_user[0] ? cur_user : "system:serviceaccount:test:forbidden", cr.verb);
        ret = send_status(c, 403, "Forbidden", m, NULL, NULL);
        goto out;
    }
    if (code) {
        const char *reason = code == 429 ? "TooManyRequests" : code == 503 ? "ServiceUnavailable"
                             : code == 500 ? "InternalError" : "InternalError";
        char *s;
        if (code == 504) { /* "Too large resource version" for the request's RV (or the next one) */
            pthread_mutex_lock(&sim.mu);
            uint64_t cur = sim.rv, want = 0;
            pthread_mutex_unlock(&sim.mu);
            const char *rvq = qarg(c, "resourceVersion");
            if (!rvq || parse_u64(rvq, &want) || want <= cur)
                want = cur + 1;
            s = too_large_status_json(want, cur);
        } else {
            s = status_json(code, reason, "injected failure (kubesim /fail)", NULL, NULL);
        }
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry);
        ret = send_json(c, code, s, strlen(s), retry > 0 ? "Retry-After" : NULL, ra);
        goto out;
    }
    if (base < 0 || (res < 0 && nseg == base)) {
        bool handled = false;
        ret = discovery_handle(c, url, &handled);
        if (!handled)
            ret = send_status(c, 404, "NotFound", "the server could not find the requested resource", NULL, NULL);
        goto out;
    }
    if (res >= 0 && sim.disabled[res])
        res = -1;
    if (res < 0 || (ns && !ks_rdefs[res].namespaced) || (sub && strcmp(sub, "status"))) {
        ret = send_status(c, 404, "NotFound", "the server could not find the requested resource", NULL, NULL);
        goto out;
    }
    if (!strcmp(method, "GET")) {
        char err[256] = "";
        struct selector *ls = selector_parse_labels(qarg(c, "labelSelector"), err, sizeof err);
        struct selector *fs = ls ? selector_parse_fields(qarg(c, "fieldSelector"), err, sizeof err) : NULL;
        if (!ls || !fs) {
            selector_free(ls);
            ret = send_status(c, 400, "BadRequest", err, NULL, NULL);
            goto out;
        }
        int inv = name ? -1 : validate_list_options(c, watch);
        if (inv >= 0) {
            selector_free(ls);
            selector_free(fs);
            ret = (enum MHD_Result)inv;
        } else if (name) {
            selector_free(ls);
            selector_free(fs);
            ret = api_get(c, res, ns, name);
        } else if (watch) {
            const char *to = qarg(c, "timeoutSeconds");
            uint64_t tos = 0;
            if (to && parse_u64(to, &tos)) {
                selector_free(ls);
                selector_free(fs);
                ret = send_status(c, 400, "BadRequest", "invalid timeoutSeconds", NULL, NULL);
                goto out;
            }
            const char *rvm = qarg(c, "resourceVersionMatch");
            if (qtrue(c, "sendInitialEvents") &&
                (!qtrue(c, "allowWatchBookmarks") || !rvm || strcmp(rvm, "NotOlderThan"))) {
                selector_free(ls);
                selector_free(fs);
                ret = send_status(c, 422, "Invalid",
                                  "sendInitialEvents requires allowWatchBookmarks=true and "
                                  "resourceVersionMatch=NotOlderThan", NULL, NULL);
                goto out;
            }
            struct watch_params wp = {res, ns ? xstrdup(ns) : NULL, ls, fs, qarg(c, "resourceVersion"),
                                      qtrue(c, "allowWatchBookmarks"), qtrue(c, "sendInitialEvents"),
                                      wants_table(c), (long)tos, xstrdup(cr.ua ? cr.ua : "")};
            log_request("watch", method, rc->uri, cr.ua, 200);
            cr.logged = true;
            ret = watch_start(c, &wp);
        } else {
            struct listq q = {res, ns, ls, fs};
            ret = do_list(c, &q);
            selector_free(ls);
            selector_free(fs);
        }
    } else if (body_media(c, method, rc, berr, sizeof berr) != 0) {
        ret = send_status(c, 415, "UnsupportedMediaType", berr, NULL, NULL);
    } else if (berr[0]) {
        ret = send_status(c, 400, "BadRequest", berr, NULL, NULL);
    } else if (!strcmp(method, "POST") && !name && ks_rdefs[res].namespaced && !ns) {
        ret = send_status(c, 405, "MethodNotAllowed", "create needs a namespace in the path", NULL, NULL);
    } else if (!strcmp(method, "POST") && !name) {
        ret = api_create(c, res, ns, rc);
    } else if (!strcmp(method, "PUT") && name) {
        ret = api_update(c, res, ns, name, sub, rc);
    } else if (!strcmp(method, "PATCH") && name) {
        ret = api_patch(c, res, ns, name, sub, rc);
    } else if (!strcmp(method, "DELETE") && name) {
        ret = api_delete(c, res, ns, name, rc);
    } else {
        ret = send_status(c, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                          NULL, NULL);
    }
out:
    cur_req = NULL;
    cur_ctype = NULL;
    free(path);
    return ret;
}
