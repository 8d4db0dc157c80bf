/* The quota object (quota/quota.c, api.c, quota_metrics.c): the write API
 * (token, status codes, idempotency, persisted before 200), consumers fed
 * through a real store, the quota document and text, metrics, restart from
 * the state file, and the day rollover timer on a loop. */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "model/acct.h"
#include "quota/ledger.h"
#include "http/routes_quota.h"
#include "quota/quota.h"
#include "util/clock.h"

static char dir[256], state[512], token[512];
static int64_t fake_ms;          /* fixed clock for most tests */
static int64_t base_ms, mono0;   /* advancing clock for the timer test */

static int64_t fixed_now(void) { return fake_ms; }
static int64_t moving_now(void) { return base_ms + (clock_mono_ms() - mono0); }

static int64_t T(const char *s)
{
    int64_t t;
    ck_assert_int_eq(clock_parse_rfc3339(s, &t, NULL), 0);
    return t;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/abc-qres-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(state, sizeof(state), "%s/state/quota.json", dir);
    snprintf(token, sizeof(token), "%s/token", dir);
    write_file(token, "s3cret-token-0123456789abcdefghijk\n");
    fake_ms = T("2026-03-14T15:00:00Z") * 1000;
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static struct quota_opts opts(bool with_token, const char *sched)
{
    struct quota_opts o = {.backup_limit = 10, .restore_limit = 10, .warn_ratio = 0.8,
                           .day_boundary = "UTC", .tolerance_minutes = 30,
                           .state_file = state, .token_file = with_token ? token : "",
                           .now_ms = fixed_now};
    if (sched) {
        ck_assert_int_eq(schedule_parse(sched, &o.schedule, NULL, 0), 0);
        o.has_schedule = true;
    }
    return o;
}

static struct model_type *src_type(enum acct_op op, const char *instance)
{
    struct acct_source_opts so = {
        .name = op == ACCT_OP_BACKUP ? "velero-backups" : "velero-restores",
        .operation = op, .group = "velero.io", .version = "v1",
        .resource = op == ACCT_OP_BACKUP ? "backups" : "restores",
        .on_demand = op == ACCT_OP_BACKUP ? "label-absent:velero.io/schedule-name" : "always",
        .instance = instance};
    struct model_type *t;
    ck_assert_int_eq(acct_type_new(&so, &t, NULL, 0), 0);
    return t;
}

struct post {
    int status;
    struct json_object *body;
    char headers[512];
};

static struct post do_post(struct quota *q, const char *path, const char *auth, const char *key)
{
    struct http_response resp = {.status = 200};
    buf_init(&resp.body, 0);
    quota_handle_post(q, path, auth, key, &resp);
    struct post p = {.status = resp.status};
    p.body = json_tokener_parse(resp.body.data ? resp.body.data : "");
    ck_assert_msg(p.body != NULL, "body not JSON: %s", resp.body.data ? resp.body.data : "");
    snprintf(p.headers, sizeof(p.headers), "%s", resp.extra_headers);
    buf_free(&resp.body);
    return p;
}

static long jint(struct json_object *o, const char *k)
{
    struct json_object *v;
    ck_assert_msg(json_object_object_get_ex(o, k, &v), "missing %s", k);
    return (long)json_object_get_int64(v);
}

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    ck_assert_msg(json_object_object_get_ex(o, k, &v), "missing %s", k);
    return json_object_get_string(v);
}

#define AUTH "Bearer s3cret-token-0123456789abcdefghijk"
#define PATH_B "/api/v1/quota/default/backup"

/* Registers the two default sources so "default" is a known instance. */
static void add_sources(struct quota *q, struct model_type **bt, struct model_type **rt,
                        struct store **bs, struct store **rs)
{
    struct store_consumer c;
    *bt = src_type(ACCT_OP_BACKUP, "constant:default");
    *rt = src_type(ACCT_OP_RESTORE, "constant:default");
    *bs = store_new(*bt);
    *rs = store_new(*rt);
    ck_assert_int_eq(quota_add_source(q, *bt, &c), 0);
    ck_assert_int_eq(store_add_consumer(*bs, &c), 0);
    ck_assert_int_eq(quota_add_source(q, *rt, &c), 0);
    ck_assert_int_eq(store_add_consumer(*rs, &c), 0);
}

static void drop_sources(struct model_type *bt, struct model_type *rt, struct store *bs,
                         struct store *rs)
{
    store_free(bs);
    store_free(rs);
    acct_type_free(bt);
    acct_type_free(rt);
}

START_TEST(disabled_is_404)
{
    struct quota_opts o = opts(false, NULL);
    struct quota *q;
    ck_assert_int_eq(quota_init(&q, NULL, &o), 0);
    struct post p = do_post(q, PATH_B, AUTH, NULL);
    ck_assert_int_eq(p.status, 404);
    json_object_put(p.body);
    quota_close(q, NULL, NULL);
}
END_TEST

START_TEST(auth_and_validation)
{
    struct quota_opts o = opts(true, NULL);
    struct quota *q;
    struct model_type *bt, *rt;
    struct store *bs, *rs;
    ck_assert_int_eq(quota_init(&q, NULL, &o), 0);
    add_sources(q, &bt, &rt, &bs, &rs);
    const char *bad_auth[] = {NULL, "", "Bearer", "Bearer ", "Bearer s3cret-toke",
                              "Bearer s3cret-token-0123456789abcdefghijk2", "Basic s3cret-token-0123456789abcdefghijk", "s3cret-token-0123456789abcdefghijk"};
    for (size_t i = 0; i < sizeof(bad_auth) / sizeof(bad_auth[0]); i++) {
        struct post p = do_post(q, PATH_B, bad_auth[i], NULL);
        ck_assert_msg(p.status == 401, "auth %zu -> %d", i, p.status);
        ck_assert_ptr_nonnull(strstr(p.headers, "WWW-Authenticate: Bearer"));
        json_object_put(p.body);
    }
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), 0);
    struct post p = do_post(q, "/api/v1/quota/default/copy", AUTH, NULL);
    ck_assert_int_eq(p.status, 400);
    json_object_put(p.body);
    /* A new instance may be reserved before any CR of it exists. */
    p = do_post(q, "/api/v1/quota/elsewhere/backup", AUTH, NULL);
    ck_assert_int_eq(p.status, 200);
    json_object_put(p.body);
    ck_assert_int_eq(quota_used(q, "elsewhere", ACCT_OP_BACKUP), 1);
    /* a malformed path is 400: 404 means only "write API disabled" */
    const char *bad_paths[] = {"/api/v1/quota/backup", "/api/v1/quota//backup", "/api/v1/quota/"};
    for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
        p = do_post(q, bad_paths[i], AUTH, NULL);
        ck_assert_msg(p.status == 400, "%s -> %d", bad_paths[i], p.status);
        json_object_put(p.body);
    }
    p = do_post(q, PATH_B, AUTH, "has space");
    ck_assert_int_eq(p.status, 400);
    json_object_put(p.body);
    /* Scheme is case-insensitive; a generated id is 32 hex digits. */
    p = do_post(q, PATH_B, "bearer   s3cret-token-0123456789abcdefghijk", NULL);
    ck_assert_int_eq(p.status, 200);
    ck_assert_uint_eq(strlen(jstr(p.body, "reservation")), 32);
    ck_assert_uint_eq(strspn(jstr(p.body, "reservation"), "0123456789abcdef"), 32);
    json_object_put(p.body);
    /* A new leader that has not read the shared ledger yet refuses
     * reservations without counting. */
    quota_set_current(q, false);
    p = do_post(q, PATH_B, AUTH, "while-stale");
    ck_assert_int_eq(p.status, 503);
    ck_assert_str_eq(jstr(p.body, "error"), "not_ready");
    ck_assert_ptr_nonnull(strstr(p.headers, "Retry-After: 1"));
    json_object_put(p.body);
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), 1);
    quota_set_current(q, true);
    /* The token file is re-read when it changes. */
    write_file(token, "rotated-token-value-0123456789abcdef\n");
    p = do_post(q, PATH_B, AUTH, NULL);
    ck_assert_int_eq(p.status, 401);
    json_object_put(p.body);
    p = do_post(q, PATH_B, "Bearer rotated-token-value-0123456789abcdef", NULL);
    ck_assert_int_eq(p.status, 200);
    json_object_put(p.body);
    /* A vanished token file refuses everything. */
    unlink(token);
    p = do_post(q, PATH_B, "Bearer rotated-token-value-0123456789abcdef", NULL);
    ck_assert_int_eq(p.status, 401);
    json_object_put(p.body);
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), 2);
    quota_close(q, NULL, NULL);
    drop_sources(bt, rt, bs, rs);
}
END_TEST

START_TEST(exhaust_429_and_idempotency)
{
    struct quota_opts o = opts(true, NULL);
    struct quota *q;
    struct model_type *bt, *rt;
    struct store *bs, *rs;
    ck_assert_int_eq(quota_init(&q, NULL, &o), 0);
    add_sources(q, &bt, &rt, &bs, &rs);
    char key[32];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "job-%d", i);
        struct post p = do_post(q, PATH_B, AUTH, key);
        ck_assert_int_eq(p.status, 200);
        ck_assert_str_eq(jstr(p.body, "reservation"), key);
        ck_assert_str_eq(jstr(p.body, "instance"), "default");
        ck_assert_str_eq(jstr(p.body, "operation"), "backup");
        ck_assert_int_eq(jint(p.body, "used"), i + 1);
        ck_assert_int_eq(jint(p.body, "limit"), 10);
        ck_assert_int_eq(jint(p.body, "remaining"), 9 - i);
        ck_assert_str_eq(jstr(p.body, "resets_at"), "2026-03-15T00:00:00Z");
        json_object_put(p.body);
        /* Persisted before the answer. */
        char *data;
        size_t len;
        ck_assert_int_eq(state_file_read(state, &data, &len), 0);
        ck_assert_ptr_nonnull(strstr(data, key));
        free(data);
    }
    struct post p = do_post(q, PATH_B, AUTH, "job-10");
    ck_assert_int_eq(p.status, 429);
    ck_assert_ptr_nonnull(strstr(p.headers, "Retry-After: 32400\r\n"));
    ck_assert_int_eq(jint(p.body, "used"), 10);
    ck_assert_int_eq(jint(p.body, "remaining"), 0);
    ck_assert_int_eq(jint(p.body, "limit"), 10);
    ck_assert_str_eq(jstr(p.body, "resets_at"), "2026-03-15T00:00:00Z");
    json_object_put(p.body);
    /* A retry of an accepted key: the original answer, not counted. */
    p = do_post(q, PATH_B, AUTH, "job-3");
    ck_assert_int_eq(p.status, 200);
    ck_assert_int_eq(jint(p.body, "used"), 4);
    ck_assert_int_eq(jint(p.body, "remaining"), 6);
    ck_assert_ptr_nonnull(strstr(p.headers, "Idempotent-Replayed: true"));
    json_object_put(p.body);
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), 10);
    /* Restores are separate. */
    p = do_post(q, "/api/v1/quota/default/restore", AUTH, "job-3");
    ck_assert_int_eq(p.status, 200);
    ck_assert_int_eq(jint(p.body, "used"), 1);
    json_object_put(p.body);
    ck_assert(quota_any_warn(q));
    quota_close(q, NULL, NULL);

    /* Restart: the same counts and the same remembered answers. */
    ck_assert_int_eq(quota_init(&q, NULL, &o), 0);
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), 10);
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_RESTORE), 1);
    struct store_consumer c;
    ck_assert_int_eq(quota_add_source(q, bt, &c), 0);
    p = do_post(q, PATH_B, AUTH, "job-7");
    ck_assert_int_eq(p.status, 200);
    ck_assert_int_eq(jint(p.body, "used"), 8);
    json_object_put(p.body);
    /* The next day the count is back to zero. */
    fake_ms += 9 * 3600 * 1000;
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), 0);
    p = do_post(q, PATH_B, AUTH, "job-new");
    ck_assert_int_eq(p.status, 200);
    ck_assert_int_eq(jint(p.body, "used"), 1);
    ck_assert_str_eq(jstr(p.body, "resets_at"), "2026-03-16T00:00:00Z");
    json_object_put(p.body);
    quota_close(q, NULL, NULL);
    drop_sources(bt, rt, bs, rs);
}
END_TEST

START_TEST(unsaved_reservation_is_503)
{
    /* The state file's parent is a regular file: every save fails. */
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/blocker/quota.json", dir);
    snprintf(state, sizeof(state), "%s/blocker", dir);
    write_file(state, "not a dir");
    snprintf(state, sizeof(state), "%s", bad);
    struct quota_opts o = opts(true, NULL);
    struct quota *q;
    struct model_type *bt, *rt;
    struct store *bs, *rs;
    ck_assert_int_eq(quota_init(&q, NULL, &o), 0);
    add_sources(q, &bt, &rt, &bs, &rs);
    struct post p = do_post(q, PATH_B, AUTH, "k1");
    ck_assert_int_eq(p.status, 503);
    json_object_put(p.body);
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), 0);
    quota_close(q, NULL, NULL);
    drop_sources(bt, rt, bs, rs);
}
END_TEST

/* Feeds velero.json through real stores. */
static void feed_fixture(struct store *bs, struct store *rs, const struct model_type *bt,
                         const struct model_type *rt)
{
    struct json_object *doc = json_object_from_file(FIXTURES "/velero.json"), *items;
    ck_assert_ptr_nonnull(doc);
    ck_assert(json_object_object_get_ex(doc, "items", &items));
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        struct json_object *it = json_object_array_get_idx(items, i), *k;
        json_object_object_get_ex(it, "kind", &k);
        bool b = strcmp(json_object_get_string(k), "Backup") == 0;
        const struct model_type *t = b ? bt : rt;
        void *rec;
        ck_assert_int_eq(t->extract(t, it, &rec), 0);
        ck_assert_int_eq(store_upsert(b ? bs : rs, rec), 0);
    }
    json_object_put(doc);
}

static bool has_warning(struct json_object *doc, const char *code)
{
    struct json_object *w;
    ck_assert(json_object_object_get_ex(doc, "warnings", &w));
    for (size_t i = 0; i < json_object_array_length(w); i++)
        if (strcmp(jstr(json_object_array_get_idx(w, i), "code"), code) == 0)
            return true;
    return false;
}

static struct json_object *instance_of(struct json_object *doc, const char *name)
{
    struct json_object *a;
    ck_assert(json_object_object_get_ex(doc, "instances", &a));
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *e = json_object_array_get_idx(a, i);
        if (strcmp(jstr(e, "instance"), name) == 0)
            return e;
    }
    return NULL;
}

START_TEST(consumers_document_metrics)
{
    for (int with_sched = 0; with_sched < 2; with_sched++) {
        struct quota_opts o = opts(true, with_sched ? "R/2026-01-01T02:00:00+00:00/PT6H" : NULL);
        struct quota *q;
        struct model_type *bt, *rt;
        struct store *bs, *rs;
        unlink(state);
        ck_assert_int_eq(quota_init(&q, NULL, &o), 0);
        add_sources(q, &bt, &rt, &bs, &rs);
        feed_fixture(bs, rs, bt, rt);
        long want = with_sched ? 4 : 6;
        ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), want);
        ck_assert_int_eq(quota_used(q, "default", ACCT_OP_RESTORE), 2);
        /* Deleting objects never gives a count back; a relist re-add does
         * not count twice. */
        struct json_object *doc = json_object_from_file(FIXTURES "/velero.json"), *items;
        json_object_object_get_ex(doc, "items", &items);
        void *rec;
        ck_assert_int_eq(bt->extract(bt, json_object_array_get_idx(items, 2), &rec), 0);
        ck_assert_int_eq(store_delete(bs, rec), 0);
        ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), want);
        ck_assert_int_eq(bt->extract(bt, json_object_array_get_idx(items, 2), &rec), 0);
        ck_assert_int_eq(store_upsert(bs, rec), 0);
        ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), want);
        json_object_put(doc);

        struct json_object *qd = quota_json(q);
        ck_assert_ptr_nonnull(qd);
        ck_assert_str_eq(jstr(qd, "day"), "2026-03-14");
        ck_assert_str_eq(jstr(qd, "resets_at"), "2026-03-15T00:00:00Z");
        struct json_object *d = instance_of(qd, "default"), *b, *r;
        ck_assert_ptr_nonnull(d);
        ck_assert(json_object_object_get_ex(d, "backup", &b));
        ck_assert(json_object_object_get_ex(d, "restore", &r));
        ck_assert_int_eq(jint(b, "used"), want);
        ck_assert_int_eq(jint(b, "limit"), 10);
        ck_assert_int_eq(jint(b, "remaining"), 10 - want);
        ck_assert_int_eq(jint(r, "used"), 2);
        ck_assert(has_warning(qd, "schedule_unknown") == !with_sched);
        struct json_object *srcs;
        ck_assert(json_object_object_get_ex(qd, "sources", &srcs));
        ck_assert_uint_eq(json_object_array_length(srcs), 2);
        ck_assert_str_eq(jstr(json_object_array_get_idx(srcs, 0), "name"), "velero-backups");
        json_object_put(qd);
        ck_assert_uint_eq(quota_warning_count(q), with_sched ? 0 : 1);
        quota_set_source_available(q, "velero-restores", false);
        qd = quota_json(q);
        ck_assert(has_warning(qd, "source_unavailable"));
        json_object_put(qd);

        struct buf t;
        buf_init(&t, 0);
        ck_assert_int_eq(quota_text(q, &t), 0);
        char want_line[64];
        snprintf(want_line, sizeof(want_line), "on-demand backups %ld/10", want);
        ck_assert_ptr_nonnull(strstr(t.data, "quota\n"));
        ck_assert_ptr_nonnull(strstr(t.data, want_line));
        ck_assert_ptr_nonnull(strstr(t.data, "restores 2/10"));
        ck_assert((strstr(t.data, "schedule_unknown") == NULL) == (with_sched != 0));
        buf_free(&t);

        struct metrics *m = metrics_new();
        ck_assert_int_eq(quota_register_metrics(q, m), 0);
        struct buf out;
        buf_init(&out, 0);
        metrics_set_cluster_enabled(m, true);
        ck_assert_int_eq(metrics_render(m, false, &out), 0);
        char line[128];
        snprintf(line, sizeof(line),
                 "aks_backup_on_demand_backups_used{backup_instance=\"default\"} %ld\n", want);
        ck_assert_msg(strstr(out.data, line), "%s", out.data);
        ck_assert_ptr_nonnull(strstr(out.data, "aks_backup_restores_used{backup_instance=\"default\"} 2\n"));
        ck_assert_ptr_nonnull(strstr(out.data, "aks_backup_on_demand_backups_limit 10\n"));
        ck_assert_ptr_nonnull(strstr(out.data, "aks_backup_restores_limit 10\n"));
        ck_assert_ptr_nonnull(strstr(out.data, "# TYPE aks_backup_quota_reset_timestamp_seconds gauge\n"));
        snprintf(line, sizeof(line), "aks_backup_quota_reset_timestamp_seconds %lld\n",
                 (long long)T("2026-03-15T00:00:00Z"));
        ck_assert_msg(strstr(out.data, line), "%s", out.data);
        /* Cluster scope: a follower exports none of it. */
        buf_reset(&out);
        metrics_set_cluster_enabled(m, false);
        ck_assert_int_eq(metrics_render(m, false, &out), 0);
        ck_assert(!out.data || !strstr(out.data, "aks_backup_restores_used"));
        /* Nor does a new leader before it has read the shared ledger. */
        buf_reset(&out);
        metrics_set_cluster_enabled(m, true);
        quota_set_current(q, false);
        ck_assert_int_eq(metrics_render(m, false, &out), 0);
        ck_assert(!out.data || !strstr(out.data, "aks_backup_restores_used"));
        quota_set_current(q, true);
        buf_reset(&out);
        ck_assert_int_eq(metrics_render(m, false, &out), 0);
        ck_assert_ptr_nonnull(strstr(out.data, "aks_backup_restores_used{backup_instance=\"default\"} 2\n"));
        buf_free(&out);
        metrics_free(m);

        /* Restart from the state file: the same counts without any object. */
        quota_close(q, NULL, NULL);
        ck_assert_int_eq(quota_init(&q, NULL, &o), 0);
        ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), want);
        ck_assert_int_eq(quota_used(q, "default", ACCT_OP_RESTORE), 2);
        quota_close(q, NULL, NULL);
        drop_sources(bt, rt, bs, rs);
    }
}
END_TEST

START_TEST(corrupt_state_rebuilt)
{
    char parent[600];
    snprintf(parent, sizeof(parent), "%s/state", dir);
    ck_assert_int_eq(mkdir(parent, 0700), 0);
    write_file(state, "{\"version\":1,\"days\":{\"2026-03-14\":");
    struct quota_opts o = opts(true, NULL);
    struct quota *q;
    struct model_type *bt, *rt;
    struct store *bs, *rs;
    ck_assert_int_eq(quota_init(&q, NULL, &o), 0);
    char aside[700];
    snprintf(aside, sizeof(aside), "%s.corrupt-%lld", state, (long long)(fake_ms / 1000));
    ck_assert_int_eq(access(aside, F_OK), 0);
    add_sources(q, &bt, &rt, &bs, &rs);
    feed_fixture(bs, rs, bt, rt);
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), 6);
    /* A fresh, valid file was written. */
    struct ledger_opts lo = {.limit = {10, 10}};
    struct ledger *l = ledger_new(&lo);
    struct quota_store s;
    ck_assert_int_eq(quota_file_store_init(&s, state, true), 0);
    ck_assert_int_eq(quota_state_load(&s, l, fake_ms / 1000, NULL, 0), QUOTA_LOAD_OK);
    ck_assert_int_eq(ledger_used(l, "default", ACCT_OP_BACKUP, fake_ms / 1000), 6);
    quota_store_free(&s);
    ledger_free(l);
    quota_close(q, NULL, NULL);
    drop_sources(bt, rt, bs, rs);
}
END_TEST

static int closed;
static void on_closed(void *data)
{
    (void)data;
    closed++;
}

static void on_stop(uv_timer_t *t) { uv_stop(t->loop); }

/* A timer armed to the next boundary prunes the day that falls out of the
 * kept window and saves; nothing polls. */
START_TEST(rollover_timer)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    base_ms = T("2026-03-16T23:59:59Z") * 1000 + 700;
    mono0 = clock_mono_ms();
    struct quota_opts o = opts(false, NULL);
    o.now_ms = moving_now;
    struct quota *q;
    ck_assert_int_eq(quota_init(&q, &loop, &o), 0);
    struct ledger *l = quota_ledger(q);
    int64_t now = moving_now() / 1000;
    ck_assert_int_eq(ledger_observe(l, "old", "default", ACCT_OP_BACKUP, T("2026-03-14T10:00:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_observe(l, "new", "default", ACCT_OP_BACKUP, T("2026-03-16T10:00:00Z"), NULL, now), 1);
    ck_assert_int_eq(quota_start(q), 0);
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), 1);
    uv_timer_t stop;
    uv_timer_init(&loop, &stop);
    uv_timer_start(&stop, on_stop, 800, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_uint_eq(ledger_object_count(l), 1);
    ck_assert_int_eq(quota_used(q, "default", ACCT_OP_BACKUP), 0);
    ck_assert_int_eq(quota_resets_at(q), T("2026-03-18T00:00:00Z"));
    /* The save after the prune went to the file. */
    char *data;
    size_t len;
    ck_assert_int_eq(state_file_read(state, &data, &len), 0);
    ck_assert(!strstr(data, "\"old\""));
    ck_assert_ptr_nonnull(strstr(data, "\"new\""));
    free(data);
    closed = 0;
    quota_close(q, on_closed, NULL);
    uv_close((uv_handle_t *)&stop, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(closed, 1);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reservation");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, disabled_is_404);
    tcase_add_test(tc, auth_and_validation);
    tcase_add_test(tc, exhaust_429_and_idempotency);
    tcase_add_test(tc, unsaved_reservation_is_503);
    suite_add_tcase(s, tc);
    tc = tcase_create("quota");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, consumers_document_metrics);
    tcase_add_test(tc, corrupt_state_rebuilt);
    tcase_add_test(tc, rollover_timer);
    tcase_set_timeout(tc, 20);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
