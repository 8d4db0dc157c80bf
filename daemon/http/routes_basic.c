/* /livez, /healthz, /readyz[/<name>], /metrics; see routes_basic.h. The
 * handlers only read state owned elsewhere; the readiness mirror collector
 * renders aks_backup_ready at scrape time so it never disagrees with
 * /readyz. */
#include "http/routes_basic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "abc_version.h"
#include "http/gzip_blocks.h"
#include "util/clock.h"

#define OPENMETRICS_CT "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define PROM_CT "text/plain; version=0.0.4; charset=utf-8"
#define MAX_EXCLUDES 16
/* How long a rendered /metrics body may be handed to further scrapers
 * while an earlier one is still downloading it. */
#define ROUTES_METRICS_SHARE_MS 1000

/* The routes' context, handed to every handler as its user data (the main
 * and the probe listener share one); the caller owns it (routes_basic_free). */
struct routes_basic {
    struct metrics *m;
    struct readyz *r;
    struct watchdog *w;
    size_t last_metrics_len; /* body size of the last /metrics answer */
    /* Concurrent scrapes share one rendered body per format (0 text,
     * 1 OpenMetrics): a weak pointer, cleared when the last response
     * holding it is gone. Rendering goes into scratch, a buffer handed
     * back by the last body freed, so steady scraping allocates nothing. */
    struct http_body *shared[2];
    int64_t shared_at[2];    /* monotonic ms when rendered */
    struct buf scratch;
    /* Block boundaries of the last rendering, and per format the gzip
     * blocks kept across scrapes (made on the first gzip'ed one). */
    struct metrics_marks marks;
    struct gzip_blocks *gzb[2];
};

static void handle_live(void *data, const struct http_request *req, struct http_response *resp)
{
    (void)req;
    struct routes_basic *c = data;
    bool ok = c->w && watchdog_alive(c->w, clock_mono_ms());
    resp->status = ok ? 200 : 503;
    if (buf_adds(&resp->body, ok ? "ok" : "event loop stalled: watchdog did not tick within 10s\n"))
        resp->status = 500;
}

struct excl {
    const char *names[MAX_EXCLUDES];
    size_t n;
};

static void add_exclude(void *data, const char *value)
{
    struct excl *e = data;
    if (e->n < MAX_EXCLUDES && value && *value)
        e->names[e->n++] = value;
}

static void handle_ready(void *data, const struct http_request *req, struct http_response *resp)
{
    struct routes_basic *c = data;
    const char *only = NULL;
    if (strncmp(req->path, "/readyz/", 8) == 0) {
        only = req->path + 8;
        if (!*only)
            only = NULL; /* "/readyz/" behaves like "/readyz" */
    }
    struct excl e = {.n = 0};
    http_request_query_all(req, "exclude", add_exclude, &e);
    bool verbose = http_request_query(req, "verbose") != NULL;
    resp->status = readyz_http(c->r, only, e.names, e.n, verbose, &resp->body);
}

/* The q of one media range ("type/sub;a=b;q=0.5"): 1 when absent, 0 for
 * a malformed value (not acceptable). */
static double range_q(const char *r, size_t len)
{
    for (const char *p = memchr(r, ';', len); p; p = memchr(p, ';', (size_t)(r + len - p))) {
        p++;
        while (p < r + len && (*p == ' ' || *p == '\t'))
            p++;
        if (p + 2 <= r + len && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            char num[16];
            size_t n = 0;
            for (const char *d = p + 2; d < r + len && n + 1 < sizeof(num) && *d != ';'; d++)
                if (*d != ' ')
                    num[n++] = *d;
            num[n] = '\0';
            char *end;
            double q = strtod(num, &end);
            return (end == num || *end || q < 0 || q > 1) ? 0 : q;
        }
    }
    return 1;
}

/* Accept negotiation as Prometheus' client_golang does it (expfmt): the
 * media ranges by q (ties keep their order), the first that is OpenMetrics
 * or text/plain wins; anything else, or nothing, is the text format. */
bool routes_basic_wants_openmetrics(const char *accept)
{
    if (!accept)
        return false;
    double best_q = 0;
    bool best_om = false;
    for (const char *p = accept; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        size_t tlen = strcspn(p, ";,");
        if (tlen > len)
            tlen = len;
        while (tlen && (p[tlen - 1] == ' ' || p[tlen - 1] == '\t'))
            tlen--;
        bool om = tlen == 28 && strncasecmp(p, "application/openmetrics-text", 28) == 0;
        bool text = tlen == 10 && strncasecmp(p, "text/plain", 10) == 0;
        double q = range_q(p, len);
        if ((om || text) && q > best_q) {
            best_q = q;
            best_om = om;
        }
        p += len + (comma ? 1 : 0);
    }
    return best_om;
}

/* A body's last reference went: forget it, keep its buffer for the next
 * rendering when none is kept yet. */
static void release_body(void *cls, struct http_body *b, char *data, size_t cap)
{
    struct routes_basic *c = cls;
    for (int i = 0; i < 2; i++)
        if (b && c->shared[i] == b)
            c->shared[i] = NULL;
    if (!c->scratch.data && data && cap) {
        c->scratch.data = data;
        c->scratch.cap = cap;
        c->scratch.len = 0;
        data[0] = '\0';
        return;
    }
    free(data);
}

static void handle_metrics(void *data, const struct http_request *req,
                           struct http_response *resp)
{
    struct routes_basic *c = data;
    bool om = routes_basic_wants_openmetrics(http_request_header(req, "Accept"));
    resp->content_type = om ? OPENMETRICS_CT : PROM_CT;
    resp->allow_gzip = true;
    int64_t now = clock_mono_ms();
    struct http_body *cur = c->shared[om];
    if (cur && now - c->shared_at[om] < ROUTES_METRICS_SHARE_MS) {
        /* Still being sent to another scraper and fresh: the same bytes. */
        resp->shared = http_body_ref(cur);
        return;
    }
    struct buf *b = &c->scratch;
    buf_reset(b);
    /* Size the body like the last scrape's: with 100k per-PV series it is
     * ~20 MB, which doubling would copy several times over. */
    if (c->last_metrics_len && b->cap < c->last_metrics_len + c->last_metrics_len / 8 + 1 &&
        buf_reserve(b, c->last_metrics_len + c->last_metrics_len / 8))
        buf_reset(b);
    if (metrics_render_marked(c->m, om, b, &c->marks)) {
        buf_free(b);
        resp->status = 500;
        resp->content_type = NULL;
        (void)!buf_adds(&resp->body, "metrics rendering failed: out of memory\n");
        return;
    }
    c->last_metrics_len = b->len;
    size_t len = b->len, cap = b->cap;
    char *bytes = b->data;
    buf_init(b, 0);
    struct http_body *body = http_body_new(bytes, len, cap, release_body, c);
    if (!body) {
        resp->status = 500;
        resp->content_type = NULL;
        (void)!buf_adds(&resp->body, "metrics rendering failed: out of memory\n");
        return;
    }
    if (!c->gzb[om])
        c->gzb[om] = gzip_blocks_new(); /* NULL: gzip'ed whole */
    if (c->gzb[om])
        (void)http_body_set_gzip_blocks(body, c->gzb[om], c->marks.v, c->marks.n);
    c->shared[om] = body;
    c->shared_at[om] = now;
    resp->shared = body; /* the response holds the one reference */
}

static void collect_basic(struct metrics_writer *w, void *data)
{
    struct routes_basic *c = data;
    static const char *const bi_names[] = {"version", "revision"};
    static const char *const bi_values[] = {ABC_VERSION, ABC_REVISION};
    metrics_write_family(w, "aks_backup_build_info", METRIC_GAUGE,
                         "Build information of the running binary; the value is always 1.");
    metrics_write_sample(w, "aks_backup_build_info", 2, bi_names, bi_values, 1);
    size_t n = c->r ? readyz_count(c->r) : 0;
    if (n == 0)
        return;
    metrics_write_family(w, "aks_backup_ready", METRIC_GAUGE,
                         "Whether the readiness check passes on this replica (1) or not (0).");
    static const char *const ready_names[] = {"check"};
    for (size_t i = 0; i < n; i++) {
        char reason[128];
        const char *v[1] = {readyz_name(c->r, i)};
        bool ok = readyz_run_one(c->r, i, reason, sizeof(reason));
        metrics_write_sample(w, "aks_backup_ready", 1, ready_names, v, ok ? 1 : 0);
    }
}

int routes_basic_register_health(struct http_server *s, struct routes_basic *c)
{
    int rc = http_server_route(s, "GET", "/livez", handle_live, c);
    if (!rc)
        rc = http_server_route(s, "GET", "/healthz", handle_live, c);
    if (!rc)
        rc = http_server_route(s, "GET", "/readyz", handle_ready, c);
    if (!rc)
        rc = http_server_route(s, "GET", "/readyz/", handle_ready, c);
    return rc;
}

int routes_basic_register(struct http_server *s, struct metrics *m, struct readyz *r,
                          struct watchdog *w, struct routes_basic **out)
{
    struct routes_basic *c = calloc(1, sizeof(*c));
    *out = c;
    if (!c)
        return -ENOMEM;
    *c = (struct routes_basic){.m = m, .r = r, .w = w, .last_metrics_len = 0};
    int rc = routes_basic_register_health(s, c);
    if (!rc)
        rc = http_server_route(s, "GET", "/metrics", handle_metrics, c);
    if (!rc && m)
        rc = metrics_add_collector(m, METRIC_SCOPE_PROCESS, collect_basic, c);
    return rc;
}

void routes_basic_free(struct routes_basic *c)
{
    if (!c)
        return;
    buf_free(&c->scratch);
    metrics_marks_free(&c->marks);
    gzip_blocks_free(c->gzb[0]);
    gzip_blocks_free(c->gzb[1]);
    free(c);
}
