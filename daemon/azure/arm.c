/* ARM reads (arm.h): a small state machine per read: token -> GET ->
 * (401: drop token, once) -> (429/5xx: timer, retry) -> (nextLink: next
 * page) -> callback. Bodies are capped; error bodies give the ARM error
 * code and message ({"error":{"code","message"}}). */
#include "azure/arm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "azure/cred.h"
#include "metrics/metrics.h"
#include "kube/http.h"
#include "util/buf.h"
#include "util/log.h"

#define ARM_BODY_MAX (32u << 20)
#define ARM_MAX_PAGES 1000
#define ARM_RETRY_AFTER_CAP_S 600

struct az_arm_req {
    struct az_arm_opts o;
    char label[48];
    char *url;            /* current page */
    bool list;
    az_arm_cb cb;
    void *data;
    struct az_arm_req **out;
    struct kube_call *call;
    struct buf body;
    struct json_object *items; /* list: joined values */
    int pages;
    int attempt;          /* failures of this page */
    bool auth_retried;
    bool cancelled;
    bool waiting_token;
    char *token;          /* the one used for the call in flight (to drop on 401) */
    uv_timer_t timer;
    bool timer_init;
};

static void req_free(struct az_arm_req *r)
{
    free(r->url);
    buf_free(&r->body);
    json_object_put(r->items);
    if (r->token) {
        memset(r->token, 0, strlen(r->token));
        free(r->token);
    }
    free(r);
}

static void on_timer_closed(uv_handle_t *hd)
{
    req_free(hd->data);
}

static void req_release(struct az_arm_req *r)
{
    if (r->out && *r->out == r)
        *r->out = NULL;
    if (r->timer_init) {
        uv_timer_stop(&r->timer);
        r->timer.data = r;
        uv_close((uv_handle_t *)&r->timer, on_timer_closed);
    } else {
        req_free(r);
    }
}

static void count(struct az_arm_req *r, long http)
{
    if (!r->o.requests)
        return;
    char cs[16] = "error";
    if (http > 0)
        snprintf(cs, sizeof(cs), "%ld", http);
    const char *lv[] = {r->label, cs};
    metric_add(r->o.requests, lv, 1);
}

static void complete(struct az_arm_req *r, struct az_arm_result *res)
{
    if (!r->cancelled) {
        r->cancelled = true; /* no second completion */
        r->cb(r->data, res);
    }
    req_release(r);
}

static void fail(struct az_arm_req *r, long http, const char *code, const char *reason)
{
    struct az_arm_result res = {.ok = false, .http = http, .pages = r->pages};
    snprintf(res.code, sizeof(res.code), "%s", code ? code : "");
    snprintf(res.reason, sizeof(res.reason), "%s", reason);
    complete(r, &res);
}

static void send_page(struct az_arm_req *r);

static void on_retry_timer(uv_timer_t *t)
{
    struct az_arm_req *r = t->data;
    send_page(r);
}

static void retry_later(struct az_arm_req *r, int retry_after_s)
{
    int64_t ms;
    if (retry_after_s >= 0)
        ms = (int64_t)(retry_after_s > ARM_RETRY_AFTER_CAP_S ? ARM_RETRY_AFTER_CAP_S : retry_after_s) * 1000;
    else
        ms = (r->o.backoff_ms > 0 ? r->o.backoff_ms : 1000) << (r->attempt > 5 ? 5 : r->attempt - 1);
    if (!r->timer_init) {
        uv_timer_init(r->o.loop, &r->timer);
        r->timer_init = true;
    }
    r->timer.data = r;
    uv_timer_start(&r->timer, on_retry_timer, (uint64_t)ms, 0);
}

static int on_chunk(void *data, const char *p, size_t n)
{
    struct az_arm_req *r = data;
    return buf_add(&r->body, p, n) ? 1 : 0;
}

/* ARM error body: {"error":{"code":"...","message":"..."}}. */
static void arm_error(const char *body, char *code, size_t cn, char *msg, size_t mn)
{
    *code = *msg = '\0';
    struct json_object *o = body ? json_tokener_parse(body) : NULL, *e, *v;
    if (o && json_object_object_get_ex(o, "error", &e) && json_object_is_type(e, json_type_object)) {
        if (json_object_object_get_ex(e, "code", &v) && json_object_is_type(v, json_type_string))
            snprintf(code, cn, "%s", json_object_get_string(v));
        if (json_object_object_get_ex(e, "message", &v) && json_object_is_type(v, json_type_string))
            snprintf(msg, mn, "%s", json_object_get_string(v));
    }
    json_object_put(o);
}

static void on_done(void *data, const struct kube_status *st)
{
    struct az_arm_req *r = data;
    r->call = NULL;
    int max = r->o.max_attempts > 0 ? r->o.max_attempts : 4;
    char reason[320];
    if (st->err) {
        count(r, 0);
        buf_reset(&r->body);
        if (st->err == -E2BIG || ++r->attempt >= max) {
            snprintf(reason, sizeof(reason), "%s", st->reason);
            fail(r, 0, "", reason);
            return;
        }
        retry_later(r, -1);
        return;
    }
    count(r, st->http);
    if (st->http == 401 && !r->auth_retried) {
        /* ExpiredAuthenticationToken / InvalidAuthenticationToken: a new token, once */
        r->auth_retried = true;
        az_cred_drop(r->o.cred, r->token);
        buf_reset(&r->body);
        send_page(r);
        return;
    }
    if (st->http < 200 || st->http >= 300) {
        char code[64], msg[200];
        arm_error(r->body.data, code, sizeof(code), msg, sizeof(msg));
        buf_reset(&r->body);
        bool transient = st->http == 429 || st->http >= 500;
        if (transient && ++r->attempt < max) {
            retry_later(r, st->retry_after);
            return;
        }
        snprintf(reason, sizeof(reason), "HTTP %ld%s%s%s%s", st->http, *code ? " " : "", code,
                 *msg ? ": " : "", msg);
        fail(r, st->http, code, reason);
        return;
    }
    struct json_object *o = r->body.data ? json_tokener_parse(r->body.data) : NULL;
    buf_reset(&r->body);
    r->pages++;
    r->attempt = 0;
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        fail(r, st->http, "", "the answer is not a JSON object");
        return;
    }
    if (!r->list) {
        struct az_arm_result res = {.ok = true, .http = st->http, .body = o, .pages = r->pages};
        complete(r, &res);
        json_object_put(o);
        return;
    }
    struct json_object *val, *next;
    if (json_object_object_get_ex(o, "value", &val) && json_object_is_type(val, json_type_array)) {
        size_t n = json_object_array_length(val);
        for (size_t i = 0; i < n; i++)
            json_object_array_add(r->items, json_object_get(json_object_array_get_idx(val, i)));
    }
    const char *nl = NULL;
    if (json_object_object_get_ex(o, "nextLink", &next) && json_object_is_type(next, json_type_string))
        nl = json_object_get_string(next);
    if (nl && *nl && r->pages < ARM_MAX_PAGES) {
        char *u = strdup(nl);
        json_object_put(o);
        if (!u) {
            fail(r, st->http, "", "out of memory");
            return;
        }
        free(r->url);
        r->url = u;
        r->auth_retried = false;
        send_page(r);
        return;
    }
    json_object_put(o);
    struct az_arm_result res = {.ok = true, .http = st->http, .body = r->items, .pages = r->pages};
    complete(r, &res);
}

static void on_token(void *data, const char *token, const char *why)
{
    struct az_arm_req *r = data;
    r->waiting_token = false;
    if (r->cancelled) {
        req_release(r);
        return;
    }
    if (!token) {
        fail(r, 0, "", why ? why : "no access token");
        return;
    }
    if (r->token) {
        memset(r->token, 0, strlen(r->token));
        free(r->token);
    }
    r->token = strdup(token);
    struct kube_req kr = {.method = "GET", .verb = "get", .url = r->url, .bearer = token,
                          .error_bodies = true, .no_metrics = true, .ca_file = r->o.ca_file,
                          .timeout_ms = 60000};
    if (!r->token || kube_http_start(r->o.h, &kr, on_chunk, on_done, r, &r->call) != 0)
        fail(r, 0, "", "cannot start the request");
}

static void send_page(struct az_arm_req *r)
{
    r->waiting_token = true;
    if (az_cred_get(r->o.cred, on_token, r) != 0) {
        r->waiting_token = false;
        fail(r, 0, "", "out of memory");
    }
}

int az_arm_get(const struct az_arm_opts *o, const char *label, const char *path_query, bool list,
               az_arm_cb cb, void *data, struct az_arm_req **out)
{
    struct az_arm_req *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->o = *o;
    snprintf(r->label, sizeof(r->label), "%s", label);
    size_t ul = strlen(o->base) + strlen(path_query) + 1;
    r->url = malloc(ul);
    r->items = list ? json_object_new_array() : NULL;
    if (!r->url || (list && !r->items)) {
        req_free(r);
        return -ENOMEM;
    }
    snprintf(r->url, ul, "%s%s", o->base, path_query);
    r->list = list;
    r->cb = cb;
    r->data = data;
    r->out = out;
    buf_init(&r->body, ARM_BODY_MAX);
    if (out)
        *out = r;
    send_page(r); /* may complete at once (no token); then *out is NULL again */
    return 0;
}

void az_arm_cancel(struct az_arm_req *r)
{
    if (!r || r->cancelled)
        return;
    r->cancelled = true;
    if (r->out && *r->out == r)
        *r->out = NULL;
    r->out = NULL;
    if (r->call) {
        kube_http_cancel(r->call);
        r->call = NULL;
    }
    if (r->waiting_token)
        return; /* released when the token answer comes (or the cred is freed: see azure.c) */
    req_release(r);
}
