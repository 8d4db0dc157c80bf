/* Token provider (auth.h). Token files are read synchronously (a few
 * hundred bytes from a tmpfs); exec plugins run through uv_spawn with a
 * 30 s deadline, and every request that needs a token meanwhile waits for
 * the one run. Tokens never reach the log. */
#include "kube/auth.h"

#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "kube/kubeconfig.h"
#include "util/clock.h"
#include "util/log.h"

#define TOKEN_FILE_TTL_MS 60000
#define EXEC_TIMEOUT_MS 30000
#define EXEC_OUT_MAX (1u << 20)
#define EXPIRY_MARGIN_MS 60000

extern char **environ;

struct exec_run;

struct kube_auth {
    uv_loop_t *loop;
    int64_t token_ttl_ms;   /* token file re-read interval (60 s) */
    uint64_t exec_timeout_ms; /* plugin deadline (30 s) */
    const struct kube_config *cfg;
    char *token;          /* current token (file or plugin); static token is cfg's */
    int64_t read_ms;      /* token file read time */
    int64_t expires_ms;   /* plugin token expiry (wall ms); 0 = none */
    bool have_exec_token;
    struct exec_run *run; /* running plugin */
    struct kube_auth_wait *waiters;
    /* While notify() runs: the waiters not called yet (a callback may
     * cancel one of them, i.e. free the request that embeds it), and a
     * flag kube_auth_free sets if a callback frees a itself. */
    struct kube_auth_wait *notifying;
    bool *freed;
};

struct exec_run {
    struct kube_auth *a; /* NULL once detached (auth freed) */
    uv_process_t proc;
    uv_pipe_t out, err;
    uv_timer_t timer;
    char *outbuf, *errbuf;
    size_t outlen, errlen;
    int64_t exit_status;
    int term_signal;
    int pending; /* exit + 2 EOFs */
    bool out_eof, err_eof;
    int closes;  /* handles still to close */
    bool timed_out;
};

static void wipe_free(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

/* Testing aids: ABC_TEST_TOKEN_REREAD_SECONDS and ABC_TEST_EXEC_TIMEOUT_SECONDS
 * (1..3600) shorten the 60 s token re-read and the 30 s plugin deadline so
 * that tests need not wait for them; a warning says they are set. */
static int64_t test_seconds(const char *name, int64_t dflt_ms)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt_ms;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < 1 || n > 3600) {
        log_kv(LOG_WARN, "ignoring a testing variable that is not a number of seconds from 1 to 3600",
               "variable", name, NULL);
        return dflt_ms;
    }
    log_kv(LOG_WARN, "testing aid set: an authentication interval is shortened", "variable", name,
           "seconds", v, NULL);
    return (int64_t)n * 1000;
}

int kube_auth_new(uv_loop_t *loop, const struct kube_config *cfg, struct kube_auth **out)
{
    struct kube_auth *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->loop = loop;
    a->cfg = cfg;
    a->token_ttl_ms = cfg->token_file ? test_seconds("ABC_TEST_TOKEN_REREAD_SECONDS", TOKEN_FILE_TTL_MS)
                                      : TOKEN_FILE_TTL_MS;
    a->exec_timeout_ms = (uint64_t)(cfg->exec ? test_seconds("ABC_TEST_EXEC_TIMEOUT_SECONDS", EXEC_TIMEOUT_MS)
                                              : EXEC_TIMEOUT_MS);
    *out = a;
    return 0;
}

static int read_token_file(struct kube_auth *a)
{
    FILE *f = fopen(a->cfg->token_file, "r");
    if (!f) {
        int e = errno;
        log_kv(LOG_ERROR, "cannot read token file", "file", a->cfg->token_file, "error", strerror(e),
               NULL);
        return -e;
    }
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    char *t = strdup(buf);
    memset(buf, 0, sizeof(buf));
    if (!t)
        return -ENOMEM;
    wipe_free(a->token);
    a->token = t;
    a->read_ms = clock_mono_ms();
    return 0;
}

/* ---- exec plugin ---- */

static void run_closed(uv_handle_t *h)
{
    struct exec_run *r = h->data;
    if (--r->closes > 0)
        return;
    wipe_free(r->outbuf);
    free(r->errbuf);
    free(r);
}

static void run_close(struct exec_run *r)
{
    r->closes = 4;
    uv_close((uv_handle_t *)&r->proc, run_closed);
    uv_close((uv_handle_t *)&r->out, run_closed);
    uv_close((uv_handle_t *)&r->err, run_closed);
    uv_close((uv_handle_t *)&r->timer, run_closed);
}

static void notify(struct kube_auth *a, int err)
{
    /* Not a plain walk with a saved next pointer: a callback can cancel
     * (and free) any later waiter, or free a. */
    bool freed = false;
    a->notifying = a->waiters;
    a->waiters = NULL;
    a->freed = &freed;
    while (a->notifying) {
        struct kube_auth_wait *w = a->notifying;
        a->notifying = w->next;
        w->cb(w->data, err, err ? NULL : a->token);
        if (freed)
            return;
    }
    a->freed = NULL;
}

static void trim(char *s, size_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == '\r' || s[*len - 1] == ' '))
        s[--*len] = '\0';
}

/* Parses the ExecCredential; 0 and a->token set, or -EINVAL with why. */
static int parse_credential(struct kube_auth *a, const char *out, char *why, size_t whylen)
{
    struct json_object *o = json_tokener_parse(out);
    struct json_object *st, *tok, *exp;
    int rc = -EINVAL;
    if (!o || !json_object_is_type(o, json_type_object)) {
        snprintf(why, whylen, "output is not a JSON ExecCredential");
        goto out;
    }
    if (!json_object_object_get_ex(o, "status", &st) ||
        !json_object_object_get_ex(st, "token", &tok) || !json_object_is_type(tok, json_type_string) ||
        !*json_object_get_string(tok)) {
        snprintf(why, whylen, "ExecCredential has no status.token (client certificates from plugins are not supported)");
        goto out;
    }
    char *t = strdup(json_object_get_string(tok));
    if (!t) {
        rc = -ENOMEM;
        goto out;
    }
    wipe_free(a->token);
    a->token = t;
    a->have_exec_token = true;
    a->expires_ms = 0;
    if (json_object_object_get_ex(st, "expirationTimestamp", &exp) &&
        json_object_is_type(exp, json_type_string)) {
        int64_t secs, ms;
        if (clock_parse_rfc3339(json_object_get_string(exp), &secs, &ms) == 0)
            a->expires_ms = ms ? ms : secs * 1000;
    }
    rc = 0;
out:
    json_object_put(o);
    return rc;
}

static void run_finish(struct exec_run *r)
{
    struct kube_auth *a = r->a;
    run_close(r);
    if (!a)
        return;
    a->run = NULL;
    char why[256] = "";
    int rc = -EIO;
    if (r->timed_out) {
        snprintf(why, sizeof(why), "timed out after %llu s; killed",
                 (unsigned long long)(a->exec_timeout_ms / 1000));
    } else if (r->exit_status != 0 || r->term_signal != 0) {
        snprintf(why, sizeof(why), "exited with status %lld (signal %d)", (long long)r->exit_status,
                 r->term_signal);
    } else {
        rc = parse_credential(a, r->outbuf ? r->outbuf : "", why, sizeof(why));
    }
    if (rc != 0) {
        if (r->errbuf)
            trim(r->errbuf, &r->errlen);
        log_kv(LOG_ERROR, "exec credential plugin failed; requests fail until it succeeds",
               "command", a->cfg->exec->command, "reason", why, "stderr", r->errbuf ? r->errbuf : "",
               NULL);
    }
    notify(a, rc);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct exec_run *r = p->data;
    r->exit_status = status;
    r->term_signal = sig;
    uv_timer_stop(&r->timer);
    if (--r->pending == 0)
        run_finish(r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char slab[65536];
    (void)suggested;
    (void)h;
    b->base = slab;
    b->len = sizeof(slab);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct exec_run *r = s->data;
    bool is_out = s == (uv_stream_t *)&r->out;
    if (n > 0) {
        char **buf = is_out ? &r->outbuf : &r->errbuf;
        size_t *len = is_out ? &r->outlen : &r->errlen;
        size_t cap = is_out ? EXEC_OUT_MAX : 4096;
        size_t take = (size_t)n;
        if (*len + take > cap)
            take = cap > *len ? cap - *len : 0;
        if (take) {
            char *nb = realloc(*buf, *len + take + 1);
            if (nb) {
                memcpy(nb + *len, b->base, take);
                *len += take;
                nb[*len] = '\0';
                *buf = nb;
            }
        }
        return;
    }
    if (n < 0) {
        bool *eof = is_out ? &r->out_eof : &r->err_eof;
        uv_read_stop(s);
        *eof = true;
        if (--r->pending == 0)
            run_finish(r);
    }
}

/* The plugin overran its deadline: kill its whole process group (a shell
 * script's children hold the pipes open too) and stop waiting for the
 * pipes; the run ends with the exit of the plugin itself. */
static void on_exec_timeout(uv_timer_t *t)
{
    struct exec_run *r = t->data;
    r->timed_out = true;
    if (r->proc.pid > 0)
        kill(-r->proc.pid, SIGKILL);
    uv_process_kill(&r->proc, SIGKILL);
    uv_pipe_t *pipes[] = {&r->out, &r->err};
    bool *eofs[] = {&r->out_eof, &r->err_eof};
    for (int i = 0; i < 2; i++) {
        if (*eofs[i])
            continue;
        uv_read_stop((uv_stream_t *)pipes[i]);
        *eofs[i] = true;
        if (--r->pending == 0) {
            run_finish(r);
            return;
        }
    }
}

/* Environment: the daemon's, with the plugin's entries replacing same-name
 * ones, plus KUBERNETES_EXEC_INFO as client-go sets it. */
static char **build_env(const struct kube_exec *e, char *info)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = calloc(n + e->nenv + 2, sizeof(char *));
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool overridden = strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) == 0;
        for (size_t j = 0; j < e->nenv && !overridden; j++)
            overridden = strncmp(e->env[j], environ[i], nl) == 0 && e->env[j][nl] == '=';
        if (!overridden)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < e->nenv; j++)
        env[k++] = e->env[j];
    env[k++] = info;
    env[k] = NULL;
    return env;
}

static int start_run(struct kube_auth *a)
{
    const struct kube_exec *e = a->cfg->exec;
    struct exec_run *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->a = a;
    uv_pipe_init(a->loop, &r->out, 0);
    uv_pipe_init(a->loop, &r->err, 0);
    uv_timer_init(a->loop, &r->timer);
    r->proc.data = r->out.data = r->err.data = r->timer.data = r;
    char info[256];
    snprintf(info, sizeof(info),
             "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\","
             "\"spec\":{\"interactive\":false}}",
             e->api_version);
    char **env = build_env(e, info);
    char **args = calloc(e->nargs + 2, sizeof(char *));
    if (!env || !args) {
        free(env);
        free(args);
        r->a = NULL;
        r->closes = 3;
        uv_close((uv_handle_t *)&r->out, run_closed);
        uv_close((uv_handle_t *)&r->err, run_closed);
        uv_close((uv_handle_t *)&r->timer, run_closed);
        return -ENOMEM;
    }
    args[0] = e->command;
    for (size_t i = 0; i < e->nargs; i++)
        args[i + 1] = e->args[i];
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&r->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&r->err},
    };
    uv_process_options_t opt = {
        .exit_cb = on_exit_cb, .file = e->command, .args = args, .env = env,
        .stdio_count = 3, .stdio = stdio,
        .flags = UV_PROCESS_DETACHED, /* its own process group, killed as one on timeout */
    };
    int rc = uv_spawn(a->loop, &r->proc, &opt);
    free(env);
    free(args);
    if (rc != 0) {
        log_kv(LOG_ERROR, "cannot run exec credential plugin", "command", e->command, "error",
               uv_strerror(rc), "hint", e->install_hint ? e->install_hint : "", NULL);
        r->a = NULL;
        run_close(r); /* a failed uv_spawn still needs uv_close */
        return rc;
    }
    r->pending = 3;
    uv_read_start((uv_stream_t *)&r->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&r->err, on_alloc, on_read);
    uv_timer_start(&r->timer, on_exec_timeout, a->exec_timeout_ms, 0);
    a->run = r;
    return 0;
}

int kube_auth_get(struct kube_auth *a, struct kube_auth_wait *w, kube_auth_cb cb, void *data,
                  const char **token)
{
    const struct kube_config *cfg = a->cfg;
    *token = NULL;
    if (cfg->exec) {
        if (!a->run && a->have_exec_token &&
            (a->expires_ms == 0 || clock_now_ms() < a->expires_ms - EXPIRY_MARGIN_MS)) {
            *token = a->token;
            return 0;
        }
        if (!a->run) {
            int rc = start_run(a);
            if (rc != 0)
                return rc;
        }
        w->cb = cb;
        w->data = data;
        w->next = a->waiters;
        a->waiters = w;
        return -EINPROGRESS;
    }
    if (cfg->token_file) {
        if (!a->token || clock_mono_ms() - a->read_ms >= a->token_ttl_ms) {
            int rc = read_token_file(a);
            if (rc != 0 && !a->token)
                return rc;
            /* Keep using the old token when a re-read fails, and try again
             * after the TTL or the next 401 rather than on every request
             * (each failed read logs an error). */
            if (rc != 0)
                a->read_ms = clock_mono_ms();
        }
        *token = a->token;
        return 0;
    }
    *token = cfg->token;
    return 0;
}

void kube_auth_cancel(struct kube_auth *a, struct kube_auth_wait *w)
{
    struct kube_auth_wait **lists[] = {&a->waiters, &a->notifying};
    for (size_t i = 0; i < 2; i++) {
        for (struct kube_auth_wait **pp = lists[i]; *pp; pp = &(*pp)->next) {
            if (*pp == w) {
                *pp = w->next;
                return;
            }
        }
    }
}

bool kube_auth_invalidate(struct kube_auth *a)
{
    if (a->cfg->exec) {
        a->have_exec_token = false;
        return true;
    }
    if (a->cfg->token_file) {
        a->read_ms = INT64_MIN / 2; /* re-read on the next get */
        return true;
    }
    return false;
}

void kube_auth_free(struct kube_auth *a)
{
    if (!a)
        return;
    if (a->freed)
        *a->freed = true; /* inside notify(): it stops calling back */
    if (a->run) {
        a->run->a = NULL;
        if (a->run->proc.pid > 0)
            kill(-a->run->proc.pid, SIGKILL); /* its group: children holding the pipes too */
        uv_process_kill(&a->run->proc, SIGKILL);
    }
    wipe_free(a->token);
    free(a);
}
