/* The readable report of `check`: cluster, prerequisites,
 * persistent volumes as an aligned table, snapshots, extension, quota
 * (pre-rendered by the caller), informational items and warnings. */
#include "rules/report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tb {
    struct buf *out;
    int err;
};

__attribute__((format(printf, 2, 3)))
static void tp(struct tb *t, const char *fmt, ...)
{
    if (t->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    t->err = buf_vprintf(t->out, fmt, ap);
    va_end(ap);
}

static const char *mark(enum prereq_status s)
{
    return s == PREREQ_PASS ? "\u2714" : s == PREREQ_FAIL ? "\u2718" : "?";
}

struct widths {
    int name, claim, sc, driver, verdict;
};

static int claim_len(const struct engine_pv *pv)
{
    return pv->claim_name ? (int)(strlen(pv->claim_ns) + 1 + strlen(pv->claim_name)) : 1;
}

static int imax(int a, int b)
{
    return a > b ? a : b;
}

static bool width_cb(void *data, const struct engine_pv *pv)
{
    struct widths *w = data;
    w->name = imax(w->name, (int)strlen(pv->name));
    w->claim = imax(w->claim, claim_len(pv));
    w->sc = imax(w->sc, *pv->storage_class ? (int)strlen(pv->storage_class) : 1);
    w->driver = imax(w->driver, *pv->driver ? (int)strlen(pv->driver) : 1);
    return true;
}

struct row_ctx {
    struct tb *t;
    struct widths w;
};

static bool row_cb(void *data, const struct engine_pv *pv)
{
    struct row_ctx *c = data;
    char claim[512];
    if (pv->claim_name)
        snprintf(claim, sizeof(claim), "%s/%s", pv->claim_ns, pv->claim_name);
    else
        snprintf(claim, sizeof(claim), "-");
    tp(c->t, "  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", c->w.name, pv->name, c->w.claim, claim,
       c->w.sc, *pv->storage_class ? pv->storage_class : "-", c->w.driver,
       *pv->driver ? pv->driver : "-", c->w.verdict,
       pv->reason == PV_REASON_SUPPORTED ? "supported" : "skipped", pv_reason_code(pv->reason));
    for (int i = 0; i < PV_NOTE_COUNT; i++)
        if (pv->notes & (1u << i))
            tp(c->t, "    note %s\n", pv_note_code(i));
    return c->t->err == 0;
}

struct pod_row {
    struct tb *t;
    int width;
};

static void pod_width_cb(void *data, const struct engine_ext_pod *p)
{
    struct pod_row *r = data;
    r->width = imax(r->width, (int)strlen(p->name));
}

static void pod_cb(void *data, const struct engine_ext_pod *p)
{
    struct pod_row *r = data;
    struct tb *t = r->t;
    tp(t, "  %s %-*s  %s%s  restarts %d%s%s%s\n", p->ready && strcmp(p->phase, "Running") == 0 ? "\u2714" : "\u2718",
       r->width, p->name, p->phase, p->ready ? ", ready" : ", not ready", p->restarts,
       p->oomkilled ? ", OOMKilled" : "", *p->reason ? ": " : "", p->reason);
}

int report_text(const struct engine *e, const struct report_opts *o, struct buf *out)
{
    struct tb t = {out, 0};
    const char *v = engine_kubernetes_version(e), *r = engine_cluster_region(e),
               *s = engine_cluster_subscription(e);
    const struct matrix_edition *ed = engine_edition(e);
    tp(&t, "SUPPORT MATRIX\n  edition %s: %s\n\n", ed->name, ed->title);
    tp(&t, "CLUSTER\n  kubernetes version  %s\n  region              %s\n  subscription        %s\n\n",
       *v ? v : "unknown", *r ? r : "unknown", *s ? s : "unknown");

    struct prereq_result pr[PREREQ_COUNT];
    engine_prerequisites(e, pr);
    int cw = 0;
    for (int i = 0; i < PREREQ_COUNT; i++)
        if (pr[i].applies)
            cw = imax(cw, (int)strlen(prereq_check_name(i)));
    tp(&t, "PREREQUISITES\n");
    for (int i = 0; i < PREREQ_COUNT; i++) {
        if (!pr[i].applies)
            continue;
        tp(&t, "  %s %-*s  %s (expected %s)\n", mark(pr[i].status), cw, prereq_check_name(i),
           pr[i].observed, pr[i].expected);
        if (*pr[i].remedy)
            tp(&t, "    %*s  -> %s\n", cw, "", pr[i].remedy);
    }

    size_t total = engine_pv_count(e), sup = engine_pv_reason_count(e, PV_REASON_SUPPORTED);
    tp(&t, "\nPERSISTENT VOLUMES (%zu total, %zu supported, %zu skipped)\n", total, sup, total - sup);
    struct row_ctx rc = {&t, {4, 5, 12, 6, 9}};
    if (engine_foreach_pv_sorted(e, width_cb, &rc.w) < 0)
        t.err = -ENOMEM;
    tp(&t, "  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", rc.w.name, "NAME", rc.w.claim, "CLAIM", rc.w.sc,
       "STORAGECLASS", rc.w.driver, "DRIVER", rc.w.verdict, "VERDICT", "REASON");
    if (!t.err && engine_foreach_pv_sorted(e, row_cb, &rc) < 0)
        t.err = -ENOMEM;
    bool any = false;
    for (int i = 0; i < PV_REASON_COUNT; i++) {
        if (i == PV_REASON_SUPPORTED || !engine_pv_reason_count(e, i))
            continue;
        if (!any)
            tp(&t, "  remedies:\n");
        any = true;
        tp(&t, "    %-28s %s\n", pv_reason_code(i), pv_reason_remedy_ed(ed, i));
    }
    bool anyn = false;
    for (int i = 0; i < PV_NOTE_COUNT; i++) {
        if (!engine_pv_note_count(e, i))
            continue;
        if (!anyn)
            tp(&t, "  notes on supported volumes:\n");
        anyn = true;
        tp(&t, "    %-38s %zu: %s\n", pv_note_code(i), engine_pv_note_count(e, i), pv_note_message(i));
    }

    const char *mc = NULL;
    size_t max = engine_snapshots_max_per_claim(e, &mc);
    tp(&t, "\nSNAPSHOTS\n  ready %zu, pending %zu, failed %zu; most per claim: %zu%s%s\n",
       engine_snapshots(e, SNAPSHOT_READY), engine_snapshots(e, SNAPSHOT_PENDING),
       engine_snapshots(e, SNAPSHOT_FAILED), max, mc ? " " : "", mc ? mc : "");

    int run = engine_extension_running(e);
    tp(&t, "\nEXTENSION (%s)\n", run == 1 ? "running" : run == 0 ? "NOT running" : "unknown");
    if (engine_extension_pod_count(e) == 0) {
        char why[256];
        engine_extension_ok(e, why, sizeof(why));
        tp(&t, "  %s\n", why);
    } else {
        struct pod_row pr_ = {&t, 0};
        engine_foreach_extension_pod(e, pod_width_cb, &pr_);
        engine_foreach_extension_pod(e, pod_cb, &pr_);
    }

    tp(&t, "\nQUOTA\n");
    const char *q = o->quota_text ? o->quota_text : "  not available\n";
    tp(&t, "%s%s", q, (*q && q[strlen(q) - 1] != '\n') ? "\n" : "");

    size_t ni;
    const struct engine_info *info = engine_informational(e, &ni);
    tp(&t, "\nINFORMATIONAL (not checkable from the cluster)\n");
    for (size_t i = 0; i < ni; i++)
        tp(&t, "  - %s: %s\n", info[i].code, info[i].message);

    struct engine_warning *w = NULL;
    size_t nw = 0;
    if (engine_warnings(e, o->now, &w, &nw) < 0)
        t.err = -ENOMEM;
    size_t nq = report_quota_warnings(o, 0, NULL, NULL, NULL);
    tp(&t, "\nWARNINGS (%zu)\n", nw + nq);
    for (size_t i = 0; i < nw; i++)
        tp(&t, "  ! %s %s: %s\n", w[i].code, w[i].object, w[i].message);
    engine_warnings_free(w, nw);
    for (size_t i = 0; i < nq; i++) {
        const char *c, *ob, *m;
        report_quota_warnings(o, i, &c, &ob, &m);
        tp(&t, "  ! %s %s: %s\n", c, ob, m);
    }
    return t.err;
}
