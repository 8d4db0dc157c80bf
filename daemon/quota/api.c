/* The quota write API's logic without HTTP (quota.h): the bearer token
 * (api.token_file, re-read when the file changes, constant-time compare),
 * reservations answered as plain structs, the quota document (report
 * section and GET /api/v1/quota) and check's text. http/routes_quota.c
 * serves them. */
#include "quota/quota_int.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/clock.h"
#include "util/log.h"

/* ---- token ---- */

void quota__token_free(struct quota_token *t)
{
    free(t->path);
    if (t->value)
        memset(t->value, 0, t->len);
    free(t->value);
    memset(t, 0, sizeof(*t));
}

int quota__token_set(struct quota_token *t, const char *path)
{
    if (path && *path && t->path && strcmp(path, t->path) == 0)
        return 0;
    quota__token_free(t);
    if (path && *path && !(t->path = strdup(path)))
        return -ENOMEM;
    return 0;
}

/* Re-reads the token when the file changed (identity, size or mtime). */
static void token_refresh(struct quota_token *t)
{
    struct stat st;
    if (stat(t->path, &st)) {
        if (!t->logged_error)
            log_kv(LOG_ERROR, "cannot read api.token_file; write API requests are refused",
                   "file", t->path, "error", strerror(errno), NULL);
        t->logged_error = true;
        if (t->value)
            memset(t->value, 0, t->len);
        free(t->value);
        t->value = NULL;
        t->have_stat = false;
        return;
    }
    if (t->have_stat && t->value && st.st_dev == t->dev && st.st_ino == t->ino &&
        st.st_size == t->size && st.st_mtim.tv_sec == t->mtime.tv_sec &&
        st.st_mtim.tv_nsec == t->mtime.tv_nsec)
        return;
    char *data = NULL;
    size_t len = 0;
    int rc = state_file_read(t->path, &data, &len);
    if (t->value)
        memset(t->value, 0, t->len);
    free(t->value);
    t->value = NULL;
    t->have_stat = false;
    if (rc) {
        if (!t->logged_error)
            log_kv(LOG_ERROR, "cannot read api.token_file; write API requests are refused",
                   "file", t->path, "error", strerror(-rc), NULL);
        t->logged_error = true;
        return;
    }
    while (len && isspace((unsigned char)data[len - 1]))
        data[--len] = '\0';
    size_t start = 0;
    while (start < len && isspace((unsigned char)data[start]))
        start++;
    if (start)
        memmove(data, data + start, len - start + 1);
    len -= start;
    if (len == 0) {
        free(data);
        if (!t->logged_error)
            log_kv(LOG_ERROR, "api.token_file is empty; write API requests are refused",
                   "file", t->path, NULL);
        t->logged_error = true;
        return;
    }
    if (len < QUOTA_TOKEN_MIN_LEN) {
        memset(data, 0, len);
        free(data);
        if (!t->logged_error)
            log_kv(LOG_ERROR, "api.token_file holds a token shorter than 32 characters; write "
                   "API requests are refused", "file", t->path, NULL);
        t->logged_error = true;
        return;
    }
    if (t->logged_error)
        log_kv(LOG_INFO, "api.token_file read", "file", t->path, NULL);
    t->logged_error = false;
    t->value = data;
    t->len = len;
    t->have_stat = true;
    t->dev = st.st_dev;
    t->ino = st.st_ino;
    t->size = st.st_size;
    t->mtime = st.st_mtim;
}

int quota_token_check(const char *path, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    if (!path || !*path || state_file_read(path, &data, &len))
        return 0;
    size_t start = 0;
    while (len && isspace((unsigned char)data[len - 1]))
        len--;
    while (start < len && isspace((unsigned char)data[start]))
        start++;
    size_t n = len - start;
    memset(data, 0, len);
    free(data);
    if (n >= QUOTA_TOKEN_MIN_LEN)
        return 0;
    snprintf(err, errlen, "%s: the write token (api.token_file) has %zu characters; at least %d "
             "are required", path, n, QUOTA_TOKEN_MIN_LEN);
    return -EINVAL;
}

/* Constant time in the length of the presented token. */
static bool token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < alen; i++)
        diff |= (unsigned char)(a[i] ^ (blen ? b[i % blen] : 0));
    return diff == 0;
}

static bool authorized(struct quota *q, const char *authz)
{
    token_refresh(&q->token);
    if (!q->token.value || !authz)
        return false;
    if (strncasecmp(authz, "Bearer", 6) != 0 || (authz[6] != ' ' && authz[6] != '\t'))
        return false;
    const char *p = authz + 6;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return n > 0 && token_equal(p, n, q->token.value, q->token.len);
}

/* ---- documents ---- */

static struct json_object *op_json(struct quota *q, const char *inst, enum acct_op op,
                                   int64_t now)
{
    struct json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    long used = ledger_used(q->ledger, inst, op, now);
    long limit = ledger_opts(q->ledger)->limit[op];
    json_object_object_add(o, "used", json_object_new_int64(used));
    json_object_object_add(o, "limit", json_object_new_int64(limit));
    json_object_object_add(o, "remaining", json_object_new_int64(used < limit ? limit - used : 0));
    if (q->azure_ok) /* counted from the vault's jobs: what the cluster shows, as a cross-check */
        json_object_object_add(o, "observed_in_cluster",
                               json_object_new_int64(quota__cluster_used(q, inst, op, now)));
    return o;
}

static bool has_backup_source(const struct quota *q)
{
    for (size_t i = 0; i < q->nsources; i++)
        if (q->sources[i].op == ACCT_OP_BACKUP)
            return true;
    return false;
}

/* Calls cb(code, message) for every warning of the document. */
static int foreach_warning(struct quota *q, int (*cb)(void *d, const char *code, const char *msg),
                           void *d)
{
    int n = 0;
    if (q->azure && !q->azure_ok) {
        char msg[480];
        snprintf(msg, sizeof(msg),
                 "the Azure view cannot read the vault's jobs (%s): counts are the cluster's",
                 q->azure_reason[0] ? q->azure_reason : "not read yet");
        n++;
        if (cb && cb(d, "azure_unavailable", msg))
            return -ENOMEM;
    }
    if (!q->o.has_schedule && !q->azure_ok && !q->policy_schedule && has_backup_source(q)) {
        n++;
        if (cb && cb(d, "schedule_unknown",
                     "vault.backup_schedule is not set: on-demand backup counts may include "
                     "the vault's scheduled backups; set vault.backup_schedule"))
            return -ENOMEM;
    }
    for (size_t i = 0; i < q->nsources; i++) {
        if (!q->sources[i].known_absent)
            continue;
        char msg[800];
        snprintf(msg, sizeof(msg),
                 "accounting source %s (%s) is not served by the API server; its operations "
                 "are not counted",
                 q->sources[i].name, q->sources[i].desc);
        n++;
        if (cb && cb(d, "source_unavailable", msg))
            return -ENOMEM;
    }
    /* Instances at or above warn_ratio x limit today (the reason check
     * exits 1 and the alerts fire), so the documents say why. */
    int64_t now = quota__now(q);
    const char **inst = NULL;
    long ni = ledger_instances(q->ledger, &inst);
    for (long i = 0; i < ni; i++) {
        for (int op = 0; op < ACCT_NOPS; op++) {
            long lim = op == ACCT_OP_BACKUP ? q->o.backup_limit : q->o.restore_limit;
            long u = ledger_used(q->ledger, inst[i], (enum acct_op)op, now);
            if (lim <= 0 || (double)u < q->o.warn_ratio * (double)lim)
                continue;
            char msg[600];
            snprintf(msg, sizeof(msg), "backup instance %s: %ld of %ld %s used today%s", inst[i], u,
                     lim, op == ACCT_OP_BACKUP ? "on-demand backups" : "restores",
                     u >= lim ? " (none left until the day boundary)" : "");
            n++;
            if (cb && cb(d, u >= lim ? "quota_exhausted" : "quota_near_limit", msg)) {
                free(inst);
                return -ENOMEM;
            }
        }
    }
    if (ni >= 0)
        free(inst);
    return n;
}

size_t quota_warning_count(struct quota *q)
{
    int n = foreach_warning(q, NULL, NULL);
    return n > 0 ? (size_t)n : 0;
}

static int add_warning_json(void *d, const char *code, const char *msg)
{
    struct json_object *w = json_object_new_object();
    if (!w)
        return -ENOMEM;
    json_object_object_add(w, "code", json_object_new_string(code));
    json_object_object_add(w, "message", json_object_new_string(msg));
    return json_object_array_add(d, w) ? -ENOMEM : 0;
}

static struct json_object *ts_json(int64_t t)
{
    char s[32];
    clock_format_rfc3339(t, s, sizeof(s));
    return json_object_new_string(s);
}

struct json_object *quota_json(struct quota *q)
{
    int64_t now = quota__now(q);
    char day[16];
    ledger_day_string(ledger_day_of(q->ledger, now), day, sizeof(day));
    struct json_object *root = json_object_new_object();
    struct json_object *insts = json_object_new_array(), *srcs = json_object_new_array(),
                       *warns = json_object_new_array();
    if (!root || !insts || !srcs || !warns)
        goto fail;
    json_object_object_add(root, "day", json_object_new_string(day));
    json_object_object_add(root, "resets_at", ts_json(ledger_resets_at(q->ledger, now)));
    json_object_object_add(root, "day_boundary", json_object_new_string(q->day_boundary));
    json_object_object_add(root, "instances", insts);
    json_object_object_add(root, "sources", srcs);
    json_object_object_add(root, "warnings", warns);
    const char **v;
    long n = ledger_instances(q->ledger, &v);
    if (n < 0) {
        insts = srcs = warns = NULL;
        goto fail;
    }
    for (long i = 0; i < n; i++) {
        struct json_object *e = json_object_new_object();
        if (!e) {
            free(v);
            return json_object_put(root), NULL;
        }
        json_object_object_add(e, "instance", json_object_new_string(v[i]));
        json_object_object_add(e, "backup", op_json(q, v[i], ACCT_OP_BACKUP, now));
        json_object_object_add(e, "restore", op_json(q, v[i], ACCT_OP_RESTORE, now));
        json_object_array_add(insts, e);
    }
    free(v);
    for (size_t i = 0; i < q->nsources; i++) {
        struct json_object *e = json_object_new_object();
        if (!e)
            return json_object_put(root), NULL;
        json_object_object_add(e, "name", json_object_new_string(q->sources[i].name));
        json_object_object_add(e, "operation",
                               json_object_new_string(acct_op_name(q->sources[i].op)));
        json_object_object_add(e, "available", json_object_new_boolean(q->sources[i].available));
        json_object_array_add(srcs, e);
    }
    if (foreach_warning(q, add_warning_json, warns) < 0)
        return json_object_put(root), NULL;
    return root;
fail:
    if (root)
        json_object_put(root);
    else {
        json_object_put(insts);
        json_object_put(srcs);
        json_object_put(warns);
    }
    return NULL;
}

int quota_json_append(struct quota *q, struct buf *out)
{
    struct json_object *doc = quota_json(q);
    if (!doc)
        return -ENOMEM;
    int rc = buf_adds(out, json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(doc);
    return rc;
}

static int add_warning_text(void *d, const char *code, const char *msg)
{
    return buf_printf(d, "  warning %s: %s\n", code, msg);
}

int quota_text(struct quota *q, struct buf *out)
{
    int64_t now = quota__now(q);
    char day[16], reset[32];
    ledger_day_string(ledger_day_of(q->ledger, now), day, sizeof(day));
    clock_format_rfc3339(ledger_resets_at(q->ledger, now), reset, sizeof(reset));
    int rc = buf_printf(out, "quota\n  day %s (boundary %s), resets at %s\n", day,
                        q->day_boundary, reset);
    const char **v;
    long n = ledger_instances(q->ledger, &v);
    if (n < 0)
        return (int)n;
    if (n == 0 && !rc)
        rc = buf_adds(out, "  no backup instances seen\n");
    const struct ledger_opts *lo = ledger_opts(q->ledger);
    for (long i = 0; i < n && !rc; i++) {
        long b = ledger_used(q->ledger, v[i], ACCT_OP_BACKUP, now);
        long r = ledger_used(q->ledger, v[i], ACCT_OP_RESTORE, now);
        long bl = lo->limit[ACCT_OP_BACKUP], rl = lo->limit[ACCT_OP_RESTORE];
        rc = buf_printf(out,
                        "  %-20s on-demand backups %ld/%ld (%ld left)%s, restores %ld/%ld "
                        "(%ld left)%s\n",
                        v[i], b, bl, b < bl ? bl - b : 0,
                        bl > 0 && (double)b >= lo->warn_ratio * (double)bl ? " WARN" : "", r, rl,
                        r < rl ? rl - r : 0,
                        rl > 0 && (double)r >= lo->warn_ratio * (double)rl ? " WARN" : "");
    }
    free(v);
    for (size_t i = 0; i < q->nsources && !rc; i++)
        rc = buf_printf(out, "  source %s (%s): %s\n", q->sources[i].name, q->sources[i].desc,
                        q->sources[i].available ? "available" : "not available");
    if (!rc && foreach_warning(q, add_warning_text, out) < 0)
        rc = -ENOMEM;
    return rc;
}

/* ---- reservations ---- */

bool quota_write_enabled(const struct quota *q) { return q->token.path != NULL; }

bool quota_authorized(struct quota *q, const char *authorization)
{
    return authorized(q, authorization);
}

#define MAX_INSTANCES 5000 /* backup instances per vault (support matrix) */

bool quota_instance_room(struct quota *q, const char *inst)
{
    const char **v;
    long n = ledger_instances(q->ledger, &v);
    if (n < 0)
        return false;
    bool ok = n < MAX_INSTANCES;
    for (long i = 0; i < n && !ok; i++)
        ok = strcmp(v[i], inst) == 0;
    free(v);
    return ok;
}

void quota_set_current(struct quota *q, bool current) { q->stale = !current; }

bool quota_current(const struct quota *q, struct quota_answer *a)
{
    if (!q->stale)
        return true;
    memset(a, 0, sizeof(*a));
    a->status = 503;
    a->error = "not_ready";
    a->message = "this replica has just started leading and is reading the shared quota ledger; "
                 "retry";
    a->retry_after = 1;
    return false;
}

void quota_answer_not_saved(struct quota_answer *a)
{
    memset(a, 0, sizeof(*a));
    a->status = 503;
    a->error = "state_not_saved";
    a->message = "the reservation could not be persisted; nothing was counted, retry";
    a->retry_after = 5;
}

void quota__answer_reserved(struct quota_answer *out, const char *id, const char *inst,
                            enum acct_op op, const struct ledger_answer *a, bool replayed)
{
    memset(out, 0, sizeof(*out));
    out->status = 200;
    out->replayed = replayed;
    out->reservation = id;
    out->instance = inst;
    out->op = op;
    out->used = a->used;
    out->limit = a->limit;
    out->remaining = a->remaining;
    out->resets_at = a->resets_at;
}

struct quota_wait *quota_reserve(struct quota *q, const char *inst, enum acct_op op,
                                 const char *id, bool may_wait, quota_answer_cb cb, void *data,
                                 struct quota_answer *ans)
{
    if (!quota_current(q, ans))
        return NULL;
    int64_t now = quota__now(q);
    struct ledger_answer a;
    int rc = ledger_reserve(q->ledger, inst, op, id, now, &a);
    if (rc == 1) {
        /* A retry while the first request still waits for its write
         * waits for the same outcome. */
        struct quota_wait *w = NULL;
        if (may_wait && quota__join_pending(q, inst, op, id, &a, cb, data, &w, ans))
            return w;
        quota__answer_reserved(ans, id, inst, op, &a, true);
        return NULL;
    }
    if (rc == -EDQUOT) {
        quota__answer_reserved(ans, NULL, inst, op, &a, false);
        int64_t secs = a.resets_at - now;
        ans->status = 429;
        ans->error = "quota_exhausted";
        ans->retry_after = secs > 0 ? secs : 1;
        return NULL;
    }
    if (rc < 0) {
        memset(ans, 0, sizeof(*ans));
        ans->status = rc == -ENOMEM ? 503 : 400;
        ans->error = "reserve_failed";
        ans->message = strerror(-rc);
        return NULL;
    }
    /* Persist before answering: a reservation the caller was told about
     * must survive a crash right after. An asynchronous store (the HA
     * ConfigMap) answers once the write carrying it has landed. */
    if (may_wait && !q->o.read_only && q->store.ops && q->store.ops->save_wait)
        return quota__wait_for_write(q, inst, op, id, &a, cb, data, ans);
    q->dirty = true;
    if (!q->o.read_only && quota__save(q)) {
        ledger_unreserve(q->ledger, inst, op, id);
        q->dirty = true;
        quota_answer_not_saved(ans);
        return NULL;
    }
    quota__changed(q);
    log_kv(LOG_INFO, "quota reservation", "backup_instance", inst, "operation",
           acct_op_name(op), "reservation", id, NULL);
    quota__answer_reserved(ans, id, inst, op, &a, false);
    return NULL;
}
