/* Token provider of the Azure view (cred.h): one exchange at a time, its
 * waiters queued; the federated token file is read synchronously (a few
 * hundred bytes from a projected volume) right before each exchange. No
 * token, assertion or response body ever reaches the log. */
#include "azure/cred.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "kube/http.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

#define TOKEN_BODY_MAX (64u << 10)
#define REFRESH_BEFORE_MS (5 * 60 * 1000)

struct waiter {
    az_token_cb cb;
    void *data;
    struct waiter *next;
};

struct az_cred {
    struct kube_http *h;
    char *authority, *tenant, *client_id, *token_file, *imds, *resource, *ca_file;
    bool wi;
    int64_t (*now_ms)(void);
    char *token;
    int64_t refresh_at_ms; /* monotonic */
    struct kube_call *call;
    struct buf body;
    struct waiter *waiters, **wtail;
    unsigned long exchanges;
};

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

int az_cred_new(struct kube_http *h, const struct az_cred_opts *o, struct az_cred **out)
{
    struct az_cred *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->h = h;
    c->authority = strdup(o->authority ? o->authority : "");
    c->tenant = dup_or_null(o->tenant_id);
    c->client_id = dup_or_null(o->client_id);
    c->token_file = dup_or_null(o->token_file);
    c->imds = strdup(o->imds_url ? o->imds_url : "");
    c->resource = strdup(o->resource ? o->resource : "");
    c->ca_file = dup_or_null(o->ca_file);
    c->now_ms = o->now_ms ? o->now_ms : clock_mono_ms;
    c->wtail = &c->waiters;
    buf_init(&c->body, TOKEN_BODY_MAX);
    if (!c->authority || !c->imds || !c->resource) {
        az_cred_free(c);
        return -ENOMEM;
    }
    /* trailing slashes: AKS injects AZURE_AUTHORITY_HOST with one */
    char *trim[] = {c->authority, c->imds, c->resource};
    for (size_t i = 0; i < sizeof(trim) / sizeof(trim[0]); i++) {
        size_t l = strlen(trim[i]);
        while (l > 0 && trim[i][l - 1] == '/')
            trim[i][--l] = '\0';
    }
    c->wi = c->tenant && c->token_file;
    *out = c;
    return 0;
}

const char *az_cred_kind(const struct az_cred *c)
{
    return c->wi ? "workload-identity" : "managed-identity";
}

unsigned long az_cred_exchanges(const struct az_cred *c)
{
    return c->exchanges;
}

void az_cred_drop(struct az_cred *c, const char *token)
{
    if (c->token && token && strcmp(c->token, token) == 0) {
        wipe_free(c->token);
        c->token = NULL;
    }
}

static void finish(struct az_cred *c, const char *reason)
{
    struct waiter *w = c->waiters;
    c->waiters = NULL;
    c->wtail = &c->waiters;
    while (w) {
        struct waiter *n = w->next;
        w->cb(w->data, reason ? NULL : c->token, reason);
        free(w);
        w = n;
    }
}

/* Percent-encodes s (RFC 3986 unreserved kept) onto b. */
static int add_form(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            if (buf_addc(b, (char)ch))
                return -ENOMEM;
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            if (buf_add(b, e, 3))
                return -ENOMEM;
        }
    }
    return 0;
}

/* The projected token (a JWT), read fresh: kubelet rotates the file. */
static int read_assertion(const char *path, struct buf *out, char *why, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, n, "cannot read the federated token file %s: %s", path, strerror(errno));
        return -errno;
    }
    char tmp[4096];
    ssize_t r;
    int rc = 0;
    while ((r = read(fd, tmp, sizeof(tmp))) > 0) {
        if (buf_add(out, tmp, (size_t)r)) {
            rc = -E2BIG;
            break;
        }
    }
    if (r < 0)
        rc = -errno;
    close(fd);
    memset(tmp, 0, sizeof(tmp));
    while (out->len > 0 && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r' ||
                            out->data[out->len - 1] == ' '))
        out->data[--out->len] = '\0';
    if (rc == 0 && out->len == 0)
        rc = -ENODATA;
    if (rc)
        snprintf(why, n, "cannot read the federated token file %s: %s", path,
                 rc == -ENODATA ? "empty" : strerror(-rc));
    return rc;
}

static int on_chunk(void *data, const char *p, size_t n)
{
    struct az_cred *c = data;
    return buf_add(&c->body, p, n) ? 1 : 0;
}

static int64_t num_field(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v))
        return -1;
    if (json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    if (json_object_is_type(v, json_type_string)) {
        char *end;
        const char *s = json_object_get_string(v);
        long long x = strtoll(s, &end, 10);
        return end != s && *end == '\0' ? (int64_t)x : -1;
    }
    return -1;
}

static void on_done(void *data, const struct kube_status *st)
{
    struct az_cred *c = data;
    c->call = NULL;
    char why[320] = "";
    struct json_object *o = NULL;
    if (st->err) {
        snprintf(why, sizeof(why), "%s token request failed: %s", c->wi ? "Entra ID" : "IMDS", st->reason);
    } else {
        o = c->body.data ? json_tokener_parse(c->body.data) : NULL;
        struct json_object *v;
        if (st->http != 200) {
            const char *desc = "";
            if (o && (json_object_object_get_ex(o, "error", &v)) && json_object_is_type(v, json_type_string))
                desc = json_object_get_string(v);
            snprintf(why, sizeof(why), "%s token request answered HTTP %ld%s%s", c->wi ? "Entra ID" : "IMDS",
                     st->http, *desc ? " " : "", desc);
        } else if (!o || !json_object_object_get_ex(o, "access_token", &v) ||
                   !json_object_is_type(v, json_type_string) || !*json_object_get_string(v)) {
            snprintf(why, sizeof(why), "%s token response has no access_token", c->wi ? "Entra ID" : "IMDS");
        } else {
            int64_t now = c->now_ms();
            int64_t life = num_field(o, "expires_in");
            if (life < 0) {
                int64_t on = num_field(o, "expires_on");
                life = on > 0 ? on - clock_now_ms() / 1000 : 300;
            }
            int64_t life_ms = life * 1000;
            /* refresh 5 min before expiry; a short-lived token at half its life */
            c->refresh_at_ms = now + (life_ms > 2 * REFRESH_BEFORE_MS ? life_ms - REFRESH_BEFORE_MS : life_ms / 2);
            wipe_free(c->token);
            c->token = strdup(json_object_get_string(v));
            if (!c->token)
                snprintf(why, sizeof(why), "out of memory");
        }
    }
    if (c->body.data)
        memset(c->body.data, 0, c->body.len);
    buf_reset(&c->body);
    json_object_put(o);
    if (*why)
        log_kv(LOG_WARN, "Azure: no access token", "credential", az_cred_kind(c), "reason", why, NULL);
    finish(c, *why ? why : NULL);
}

static int start_exchange(struct az_cred *c, char *why, size_t whyn)
{
    struct buf url, form;
    buf_init(&url, 8192);
    buf_init(&form, 64u << 10);
    const char *hdr_meta[] = {"Metadata: true", NULL};
    struct kube_req req = {.method = "GET", .verb = "token", .error_bodies = true, .no_metrics = true,
                           .ca_file = c->ca_file, .timeout_ms = 30000};
    int rc;
    if (c->wi) {
        struct buf assertion;
        buf_init(&assertion, 32u << 10);
        rc = read_assertion(c->token_file, &assertion, why, whyn);
        if (rc == 0) {
            rc = buf_printf(&url, "%s/%s/oauth2/v2.0/token", c->authority, c->tenant) ||
                 buf_adds(&form, "grant_type=client_credentials&client_id=") ||
                 add_form(&form, c->client_id ? c->client_id : "") ||
                 buf_adds(&form, "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
                                 "&client_assertion=") ||
                 add_form(&form, assertion.data) || buf_adds(&form, "&scope=") ||
                 add_form(&form, c->resource) || buf_adds(&form, "%2F.default") ? -ENOMEM : 0;
            if (rc)
                snprintf(why, whyn, "out of memory");
        }
        if (assertion.data)
            memset(assertion.data, 0, assertion.len);
        buf_free(&assertion);
        req.method = "POST";
        req.content_type = "application/x-www-form-urlencoded";
        req.body = form.data;
        req.body_len = form.len;
    } else {
        rc = buf_printf(&url, "%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=", c->imds) ||
             add_form(&url, c->resource) ? -ENOMEM : 0;
        if (rc == 0 && c->client_id)
            rc = buf_adds(&url, "&client_id=") || add_form(&url, c->client_id) ? -ENOMEM : 0;
        if (rc)
            snprintf(why, whyn, "out of memory");
        req.headers = hdr_meta;
    }
    if (rc == 0) {
        req.url = url.data;
        rc = kube_http_start(c->h, &req, on_chunk, on_done, c, &c->call);
        if (rc)
            snprintf(why, whyn, "cannot start the token request: %s", strerror(-rc));
        else
            c->exchanges++;
    }
    if (form.data)
        memset(form.data, 0, form.len);
    buf_free(&form);
    buf_free(&url);
    return rc;
}

int az_cred_get(struct az_cred *c, az_token_cb cb, void *data)
{
    if (c->token && c->now_ms() < c->refresh_at_ms) {
        cb(data, c->token, NULL);
        return 0;
    }
    struct waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->cb = cb;
    w->data = data;
    *c->wtail = w;
    c->wtail = &w->next;
    if (c->call)
        return 0;
    char why[320];
    if (start_exchange(c, why, sizeof(why)) != 0) {
        log_kv(LOG_WARN, "Azure: no access token", "credential", az_cred_kind(c), "reason", why, NULL);
        finish(c, why);
    }
    return 0;
}

void az_cred_free(struct az_cred *c)
{
    if (!c)
        return;
    if (c->call)
        kube_http_cancel(c->call);
    c->call = NULL;
    finish(c, "shutting down"); /* waiters release what they hold */
    wipe_free(c->token);
    free(c->authority);
    free(c->tenant);
    free(c->client_id);
    free(c->token_file);
    free(c->imds);
    free(c->resource);
    free(c->ca_file);
    buf_free(&c->body);
    free(c);
}
