/* JSON report (field names are the contract) and the exit code
 * of `check`. Built with json-c from the engine's current state; PVs are
 * listed sorted by name. */
#include "rules/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/clock.h"

/* Adds key: value, taking v; records failure (NULL v) in *err. */
static void put(struct json_object *o, const char *key, struct json_object *v, int *err)
{
    if (!v && *err == 0)
        *err = -ENOMEM;
    if (v && json_object_object_add(o, key, v) < 0) {
        json_object_put(v);
        *err = -ENOMEM;
    }
}

static void put_str(struct json_object *o, const char *key, const char *s, int *err)
{
    put(o, key, json_object_new_string(s ? s : ""), err);
}

static void push(struct json_object *a, struct json_object *v, int *err)
{
    if (!v) {
        *err = -ENOMEM;
        return;
    }
    if (json_object_array_add(a, v) < 0) {
        json_object_put(v);
        *err = -ENOMEM;
    }
}

struct pv_ctx {
    struct json_object *arr;
    int err;
};

static bool pv_cb(void *data, const struct engine_pv *pv)
{
    struct pv_ctx *c = data;
    struct json_object *o = json_object_new_object();
    if (!o) {
        c->err = -ENOMEM;
        return false;
    }
    put_str(o, "name", pv->name, &c->err);
    put_str(o, "storage_class", pv->storage_class, &c->err);
    put_str(o, "driver", pv->driver, &c->err);
    if (pv->claim_name) {
        struct json_object *cl = json_object_new_object();
        if (cl) {
            put_str(cl, "namespace", pv->claim_ns, &c->err);
            put_str(cl, "name", pv->claim_name, &c->err);
        }
        put(o, "claim", cl, &c->err);
    } else {
        json_object_object_add(o, "claim", NULL);
    }
    put_str(o, "phase", pv->phase, &c->err);
    put(o, "supported", json_object_new_boolean(pv->reason == PV_REASON_SUPPORTED), &c->err);
    put_str(o, "reason", pv_reason_code(pv->reason), &c->err);
    put_str(o, "remedy", pv->remedy, &c->err);
    struct json_object *na = json_object_new_array();
    for (int i = 0; na && i < PV_NOTE_COUNT; i++) {
        if (!(pv->notes & (1u << i)))
            continue;
        struct json_object *x = json_object_new_object();
        if (x) {
            put_str(x, "code", pv_note_code(i), &c->err);
            put_str(x, "message", pv_note_message(i), &c->err);
        }
        push(na, x, &c->err);
    }
    put(o, "notes", na, &c->err);
    push(c->arr, o, &c->err);
    return c->err == 0;
}

struct pod_ctx {
    struct json_object *arr;
    int err;
};

static void pod_cb(void *data, const struct engine_ext_pod *p)
{
    struct pod_ctx *c = data;
    struct json_object *o = json_object_new_object();
    if (!o) {
        c->err = -ENOMEM;
        return;
    }
    put_str(o, "name", p->name, &c->err);
    put_str(o, "phase", p->phase, &c->err);
    put(o, "ready", json_object_new_boolean(p->ready), &c->err);
    put_str(o, "reason", p->reason, &c->err);
    put(o, "restarts", json_object_new_int(p->restarts), &c->err);
    put(o, "oomkilled", json_object_new_boolean(p->oomkilled), &c->err);
    push(c->arr, o, &c->err);
}

/* The embedded quota document's warnings (schedule_unknown,
 * source_unavailable, quota_near_limit, quota_exhausted) are listed with the
 * cluster's own, so the report and check say every reason. */
size_t report_quota_warnings(const struct report_opts *o, size_t i, const char **code,
                             const char **object, const char **message)
{
    struct json_object *arr = NULL;
    if (!o->quota || !json_object_object_get_ex(o->quota, "warnings", &arr) ||
        !json_object_is_type(arr, json_type_array))
        return 0;
    size_t n = json_object_array_length(arr);
    if (i < n && code) {
        struct json_object *w = json_object_array_get_idx(arr, i), *c = NULL, *m = NULL;
        json_object_object_get_ex(w, "code", &c);
        json_object_object_get_ex(w, "message", &m);
        *code = c ? json_object_get_string(c) : "";
        *message = m ? json_object_get_string(m) : "";
        *object = strcmp(*code, "schedule_unknown") == 0     ? "vault.backup_schedule"
                  : strcmp(*code, "source_unavailable") == 0 ? "accounting.sources"
                                                             : "quota";
    }
    return n;
}

struct json_object *report_json(const struct engine *e, const struct report_opts *o)
{
    int err = 0;
    struct json_object *root = json_object_new_object();
    if (!root)
        return NULL;
    char ts[32];
    clock_format_rfc3339(o->now, ts, sizeof(ts));
    put_str(root, "apiVersion", REPORT_API_VERSION, &err);
    put_str(root, "kind", REPORT_KIND, &err);
    put_str(root, "status", report_status_name(report_exit_code(e, o)), &err);
    put_str(root, "generated_at", ts, &err);
    const struct matrix_edition *ed = engine_edition(e);
    struct json_object *sm = json_object_new_object();
    if (sm) {
        put_str(sm, "edition", ed->name, &err);
        put_str(sm, "page_date", ed->page_date, &err);
        put_str(sm, "title", ed->title, &err);
    }
    put(root, "support_matrix", sm, &err);

    struct json_object *cl = json_object_new_object();
    if (cl) {
        put_str(cl, "kubernetes_version", engine_kubernetes_version(e), &err);
        put_str(cl, "region", engine_cluster_region(e), &err);
        put_str(cl, "subscription_id", engine_cluster_subscription(e), &err);
    }
    put(root, "cluster", cl, &err);

    struct prereq_result pr[PREREQ_COUNT];
    engine_prerequisites(e, pr);
    struct json_object *pa = json_object_new_array();
    for (int i = 0; pa && i < PREREQ_COUNT; i++) {
        if (!pr[i].applies)
            continue;
        struct json_object *p = json_object_new_object();
        if (p) {
            put_str(p, "check", prereq_check_name(i), &err);
            put_str(p, "status", prereq_status_name(pr[i].status), &err);
            put_str(p, "observed", pr[i].observed, &err);
            put_str(p, "expected", pr[i].expected, &err);
            put_str(p, "remedy", pr[i].remedy, &err);
        }
        push(pa, p, &err);
    }
    put(root, "prerequisites", pa, &err);

    struct pv_ctx pc = {json_object_new_array(), 0};
    if (pc.arr && engine_foreach_pv_sorted(e, pv_cb, &pc) < 0)
        pc.err = -ENOMEM;
    if (pc.err)
        err = pc.err;
    put(root, "persistent_volumes", pc.arr, &err);

    struct json_object *sum = json_object_new_object();
    if (sum) {
        size_t total = engine_pv_count(e), sup = engine_pv_reason_count(e, PV_REASON_SUPPORTED);
        put(sum, "total", json_object_new_int64((int64_t)total), &err);
        put(sum, "supported", json_object_new_int64((int64_t)sup), &err);
        put(sum, "skipped", json_object_new_int64((int64_t)(total - sup)), &err);
        struct json_object *br = json_object_new_object();
        for (int r = 0; br && r < PV_REASON_COUNT; r++)
            if (matrix_has_reason(ed, r))
                put(br, pv_reason_code(r), json_object_new_int64((int64_t)engine_pv_reason_count(e, r)),
                &err);
        put(sum, "by_reason", br, &err);
        struct json_object *bn = json_object_new_object();
        for (int n = 0; bn && n < PV_NOTE_COUNT; n++)
            put(bn, pv_note_code(n), json_object_new_int64((int64_t)engine_pv_note_count(e, n)),
                &err);
        put(sum, "by_note", bn, &err);
    }
    put(root, "summary", sum, &err);

    struct json_object *sn = json_object_new_object();
    if (sn) {
        for (int s = 0; s < SNAPSHOT_STATUS_COUNT; s++)
            put(sn, snapshot_status_name(s), json_object_new_int64((int64_t)engine_snapshots(e, s)),
                &err);
        put(sn, "max_per_claim",
            json_object_new_int64((int64_t)engine_snapshots_max_per_claim(e, NULL)), &err);
    }
    put(root, "snapshots", sn, &err);

    struct json_object *ext = json_object_new_object();
    if (ext) {
        put(ext, "running", json_object_new_boolean(engine_extension_running(e) == 1), &err);
        struct pod_ctx podc = {json_object_new_array(), 0};
        if (podc.arr)
            engine_foreach_extension_pod(e, pod_cb, &podc);
        if (podc.err)
            err = podc.err;
        put(ext, "pods", podc.arr, &err);
    }
    put(root, "extension", ext, &err);

    json_object_object_add(root, "quota", o->quota ? json_object_get(o->quota) : NULL);
    if (o->azure)
        json_object_object_add(root, "azure", json_object_get(o->azure));

    struct engine_warning *w = NULL;
    size_t nw = 0;
    struct json_object *wa = json_object_new_array();
    if (engine_warnings(e, o->now, &w, &nw) < 0)
        err = -ENOMEM;
    for (size_t i = 0; wa && i < nw; i++) {
        struct json_object *x = json_object_new_object();
        if (x) {
            put_str(x, "code", w[i].code, &err);
            put_str(x, "object", w[i].object, &err);
            put_str(x, "message", w[i].message, &err);
        }
        push(wa, x, &err);
    }
    engine_warnings_free(w, nw);
    size_t nq = report_quota_warnings(o, 0, NULL, NULL, NULL);
    for (size_t i = 0; wa && i < nq; i++) {
        const char *c, *ob, *m;
        report_quota_warnings(o, i, &c, &ob, &m);
        struct json_object *x = json_object_new_object();
        if (x) {
            put_str(x, "code", c, &err);
            put_str(x, "object", ob, &err);
            put_str(x, "message", m, &err);
        }
        push(wa, x, &err);
    }
    put(root, "warnings", wa, &err);

    size_t ni;
    const struct engine_info *info = engine_informational(e, &ni);
    struct json_object *ia = json_object_new_array();
    for (size_t i = 0; ia && i < ni; i++) {
        struct json_object *x = json_object_new_object();
        if (x) {
            put_str(x, "code", info[i].code, &err);
            put_str(x, "message", info[i].message, &err);
        }
        push(ia, x, &err);
    }
    put(root, "informational", ia, &err);

    if (err) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

/* Streaming writer for the compact form: the DOM costs ~7 us per PV, which
 * at 100k PVs would hold the loop for most of a second per request. */
struct sw {
    struct buf *b;
    int err;
};

static void sw_raw(struct sw *w, const char *s)
{
    if (!w->err)
        w->err = buf_adds(w->b, s);
}

/* JSON string literal (same escaping as buf_add_json_str), copying runs
 * of plain characters in one buf_add instead of one call per character. */
static void sw_str(struct sw *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    if (w->err || (w->err = buf_addc(w->b, '"')))
        return;
    while (!w->err) {
        const unsigned char *q = p;
        while (*q >= 0x20 && *q != '"' && *q != '\\')
            q++;
        if (q > p)
            w->err = buf_add(w->b, p, (size_t)(q - p));
        if (!*q || w->err)
            break;
        char esc[8];
        switch (*q) {
        case '"': snprintf(esc, sizeof(esc), "\\\""); break;
        case '\\': snprintf(esc, sizeof(esc), "\\\\"); break;
        case '\n': snprintf(esc, sizeof(esc), "\\n"); break;
        case '\r': snprintf(esc, sizeof(esc), "\\r"); break;
        case '\t': snprintf(esc, sizeof(esc), "\\t"); break;
        default: snprintf(esc, sizeof(esc), "\\u%04x", *q); break;
        }
        w->err = buf_adds(w->b, esc);
        p = q + 1;
    }
    if (!w->err)
        w->err = buf_addc(w->b, '"');
}

/* ,"key":"value" (comma unless first). */
static void sw_kv(struct sw *w, bool first, const char *key, const char *val)
{
    sw_raw(w, first ? "" : ",");
    sw_str(w, key);
    sw_raw(w, ":");
    sw_str(w, val);
}

static void sw_kn(struct sw *w, bool first, const char *key, long long v)
{
    sw_raw(w, first ? "" : ",");
    sw_str(w, key);
    if (!w->err)
        w->err = buf_printf(w->b, ":%lld", v);
}

static void sw_kb(struct sw *w, bool first, const char *key, bool v)
{
    sw_raw(w, first ? "" : ",");
    sw_str(w, key);
    sw_raw(w, v ? ":true" : ":false");
}

struct sw_pv {
    struct sw *w;
    bool first;
};

static bool sw_pv_cb(void *data, const struct engine_pv *pv)
{
    struct sw_pv *c = data;
    struct sw *w = c->w;
    sw_raw(w, c->first ? "{" : ",{");
    c->first = false;
    sw_kv(w, true, "name", pv->name);
    sw_kv(w, false, "storage_class", pv->storage_class);
    sw_kv(w, false, "driver", pv->driver);
    if (pv->claim_name) {
        sw_raw(w, ",\"claim\":{");
        sw_kv(w, true, "namespace", pv->claim_ns);
        sw_kv(w, false, "name", pv->claim_name);
        sw_raw(w, "}");
    } else {
        sw_raw(w, ",\"claim\":null");
    }
    sw_kv(w, false, "phase", pv->phase);
    sw_kb(w, false, "supported", pv->reason == PV_REASON_SUPPORTED);
    sw_kv(w, false, "reason", pv_reason_code(pv->reason));
    sw_kv(w, false, "remedy", pv->remedy);
    sw_raw(w, ",\"notes\":[");
    bool nf = true;
    for (int i = 0; i < PV_NOTE_COUNT; i++) {
        if (!(pv->notes & (1u << i)))
            continue;
        sw_raw(w, nf ? "{" : ",{");
        nf = false;
        sw_kv(w, true, "code", pv_note_code(i));
        sw_kv(w, false, "message", pv_note_message(i));
        sw_raw(w, "}");
    }
    sw_raw(w, "]}");
    return w->err == 0;
}

static void sw_pod_cb(void *data, const struct engine_ext_pod *p)
{
    struct sw_pv *c = data;
    struct sw *w = c->w;
    sw_raw(w, c->first ? "{" : ",{");
    c->first = false;
    sw_kv(w, true, "name", p->name);
    sw_kv(w, false, "phase", p->phase);
    sw_kb(w, false, "ready", p->ready);
    sw_kv(w, false, "reason", p->reason);
    sw_kn(w, false, "restarts", p->restarts);
    sw_kb(w, false, "oomkilled", p->oomkilled);
    sw_raw(w, "}");
}

static int render_stream(const struct engine *e, const struct report_opts *o, struct buf *out)
{
    struct sw w = {out, 0};
    char ts[32];
    clock_format_rfc3339(o->now, ts, sizeof(ts));
    sw_raw(&w, "{");
    sw_kv(&w, true, "apiVersion", REPORT_API_VERSION);
    sw_kv(&w, false, "kind", REPORT_KIND);
    sw_kv(&w, false, "status", report_status_name(report_exit_code(e, o)));
    sw_kv(&w, false, "generated_at", ts);
    const struct matrix_edition *ed = engine_edition(e);
    sw_raw(&w, ",\"support_matrix\":{");
    sw_kv(&w, true, "edition", ed->name);
    sw_kv(&w, false, "page_date", ed->page_date);
    sw_kv(&w, false, "title", ed->title);
    sw_raw(&w, "},\"cluster\":{");
    sw_kv(&w, true, "kubernetes_version", engine_kubernetes_version(e));
    sw_kv(&w, false, "region", engine_cluster_region(e));
    sw_kv(&w, false, "subscription_id", engine_cluster_subscription(e));
    sw_raw(&w, "},\"prerequisites\":[");
    struct prereq_result pr[PREREQ_COUNT];
    engine_prerequisites(e, pr);
    bool pfirst = true;
    for (int i = 0; i < PREREQ_COUNT; i++) {
        if (!pr[i].applies)
            continue;
        sw_raw(&w, pfirst ? "{" : ",{");
        pfirst = false;
        sw_kv(&w, true, "check", prereq_check_name(i));
        sw_kv(&w, false, "status", prereq_status_name(pr[i].status));
        sw_kv(&w, false, "observed", pr[i].observed);
        sw_kv(&w, false, "expected", pr[i].expected);
        sw_kv(&w, false, "remedy", pr[i].remedy);
        sw_raw(&w, "}");
    }
    sw_raw(&w, "],\"persistent_volumes\":[");
    struct sw_pv c = {&w, true};
    if (!w.err && engine_foreach_pv_sorted(e, sw_pv_cb, &c) < 0)
        w.err = -ENOMEM;
    size_t total = engine_pv_count(e), sup = engine_pv_reason_count(e, PV_REASON_SUPPORTED);
    sw_raw(&w, "],\"summary\":{");
    sw_kn(&w, true, "total", (long long)total);
    sw_kn(&w, false, "supported", (long long)sup);
    sw_kn(&w, false, "skipped", (long long)(total - sup));
    sw_raw(&w, ",\"by_reason\":{");
    bool rfirst = true;
    for (int r = 0; r < PV_REASON_COUNT; r++) {
        if (!matrix_has_reason(ed, r))
            continue;
        sw_kn(&w, rfirst, pv_reason_code(r), (long long)engine_pv_reason_count(e, r));
        rfirst = false;
    }
    sw_raw(&w, "},\"by_note\":{");
    for (int n = 0; n < PV_NOTE_COUNT; n++)
        sw_kn(&w, n == 0, pv_note_code(n), (long long)engine_pv_note_count(e, n));
    sw_raw(&w, "}},\"snapshots\":{");
    for (int s = 0; s < SNAPSHOT_STATUS_COUNT; s++)
        sw_kn(&w, s == 0, snapshot_status_name(s), (long long)engine_snapshots(e, s));
    sw_kn(&w, false, "max_per_claim", (long long)engine_snapshots_max_per_claim(e, NULL));
    sw_raw(&w, "},\"extension\":{");
    sw_kb(&w, true, "running", engine_extension_running(e) == 1);
    sw_raw(&w, ",\"pods\":[");
    struct sw_pv pc = {&w, true};
    engine_foreach_extension_pod(e, sw_pod_cb, &pc);
    sw_raw(&w, "]},\"quota\":");
    if (o->quota) {
        size_t len = 0;
        const char *q = json_object_to_json_string_length(
            o->quota, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!q)
            w.err = -ENOMEM;
        else if (!w.err)
            w.err = buf_add(out, q, len);
    } else {
        sw_raw(&w, "null");
    }
    if (o->azure) {
        size_t len = 0;
        const char *az = json_object_to_json_string_length(
            o->azure, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        sw_raw(&w, ",\"azure\":");
        if (!az)
            w.err = -ENOMEM;
        else if (!w.err)
            w.err = buf_add(out, az, len);
    }
    sw_raw(&w, ",\"warnings\":[");
    struct engine_warning *wl = NULL;
    size_t nw = 0;
    if (engine_warnings(e, o->now, &wl, &nw) < 0)
        w.err = -ENOMEM;
    for (size_t i = 0; i < nw; i++) {
        sw_raw(&w, i ? ",{" : "{");
        sw_kv(&w, true, "code", wl[i].code);
        sw_kv(&w, false, "object", wl[i].object);
        sw_kv(&w, false, "message", wl[i].message);
        sw_raw(&w, "}");
    }
    engine_warnings_free(wl, nw);
    size_t nq = report_quota_warnings(o, 0, NULL, NULL, NULL);
    for (size_t i = 0; i < nq; i++) {
        const char *qc, *qob, *qm;
        report_quota_warnings(o, i, &qc, &qob, &qm);
        sw_raw(&w, (i || nw) ? ",{" : "{");
        sw_kv(&w, true, "code", qc);
        sw_kv(&w, false, "object", qob);
        sw_kv(&w, false, "message", qm);
        sw_raw(&w, "}");
    }
    sw_raw(&w, "],\"informational\":[");
    size_t ni;
    const struct engine_info *info = engine_informational(e, &ni);
    for (size_t i = 0; i < ni; i++) {
        sw_raw(&w, i ? ",{" : "{");
        sw_kv(&w, true, "code", info[i].code);
        sw_kv(&w, false, "message", info[i].message);
        sw_raw(&w, "}");
    }
    sw_raw(&w, "]}");
    return w.err;
}

int report_json_render(const struct engine *e, const struct report_opts *o, bool pretty,
                       struct buf *out)
{
    if (!pretty)
        return render_stream(e, o, out);
    struct json_object *doc = report_json(e, o);
    if (!doc)
        return -ENOMEM;
    int flags = JSON_C_TO_STRING_NOSLASHESCAPE | JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED;
    size_t len = 0;
    const char *s = json_object_to_json_string_length(doc, flags, &len);
    int rc = s ? buf_add(out, s, len) : -ENOMEM;
    if (rc == 0)
        rc = buf_addc(out, '\n');
    json_object_put(doc);
    return rc;
}

const char *report_status_name(int exit_code)
{
    return exit_code == 0 ? "ok" : exit_code == 1 ? "warning" : "failed";
}

int report_exit_code(const struct engine *e, const struct report_opts *o)
{
    struct prereq_result pr[PREREQ_COUNT];
    engine_prerequisites(e, pr);
    bool unknown = false;
    for (int i = 0; i < PREREQ_COUNT; i++) {
        if (!pr[i].applies)
            continue;
        if (pr[i].status == PREREQ_FAIL)
            return 2;
        unknown |= pr[i].status == PREREQ_UNKNOWN;
    }
    if (engine_extension_running(e) == 0)
        return 2;
    if (unknown || o->quota_warn ||
        engine_pv_reason_count(e, PV_REASON_SUPPORTED) != engine_pv_count(e))
        return 1;
    struct engine_warning *w = NULL;
    size_t nw = 0;
    if (engine_warnings(e, o->now, &w, &nw) < 0)
        return 1;
    engine_warnings_free(w, nw);
    return nw || report_quota_warnings(o, 0, NULL, NULL, NULL) ? 1 : 0;
}
