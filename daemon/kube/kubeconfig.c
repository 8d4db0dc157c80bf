/* Kubeconfig and in-cluster configuration (kubeconfig.h). Parsed with the
 * libyaml document API so every error can point at file:line:col; file
 * references are resolved relative to the kubeconfig's directory. */
#include "kube/kubeconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#define MAX_FILE (4u << 20)

struct kc {
    yaml_document_t doc;
    const char *path;
    char dir[512];
    struct kube_config_err *err;
};

static void set_err(struct kube_config_err *err, const char *file, int line, int col,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void set_err(struct kube_config_err *err, const char *file, int line, int col,
                    const char *fmt, ...)
{
    if (!err)
        return;
    snprintf(err->file, sizeof(err->file), "%s", file ? file : "");
    err->line = line;
    err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

void kube_config_err_format(const struct kube_config_err *err, char *out, size_t n)
{
    if (err->file[0] && err->line > 0)
        snprintf(out, n, "%s:%d:%d: %s", err->file, err->line, err->col, err->msg);
    else if (err->file[0])
        snprintf(out, n, "%s: %s", err->file, err->msg);
    else
        snprintf(out, n, "%s", err->msg);
}

/* Error at a node's start mark (libyaml marks are 0-based). */
#define NODE_ERR(k, node, ...)                                                           \
    set_err((k)->err, (k)->path, (int)(node)->start_mark.line + 1,                       \
            (int)(node)->start_mark.column + 1, __VA_ARGS__)

static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    char *p = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > MAX_FILE + 8192) {
                free(p);
                fclose(f);
                return -EFBIG;
            }
            char *np = realloc(p, cap);
            if (!np) {
                free(p);
                fclose(f);
                return -ENOMEM;
            }
            p = np;
        }
        size_t r = fread(p + n, 1, 4096, f);
        n += r;
        if (r < 4096)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(p);
        return -EIO;
    }
    p[n] = '\0';
    *data = p;
    *len = n;
    return 0;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decodes standard base64 (whitespace ignored, padding optional). Returns
 * a NUL-terminated buffer or NULL (bad input / ENOMEM). */
static char *b64_decode(const char *in, size_t *outlen)
{
    size_t n = strlen(in);
    char *out = malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (pad > 2 || bits >= 6) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

static yaml_node_t *map_get(struct kc *k, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&k->doc, p->key);
        if (kn && kn->type == YAML_SCALAR_NODE && strcmp((char *)kn->data.scalar.value, key) == 0)
            return yaml_document_get_node(&k->doc, p->value);
    }
    return NULL;
}

static bool is_null(yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || strcmp(v, "null") == 0 || strcmp(v, "~") == 0;
}

/* A string field: 0 with *out (borrowed from the document; NULL when
 * absent or null) or -EINVAL with err set. */
static int get_str(struct kc *k, yaml_node_t *map, const char *key, const char *where,
                   const char **out)
{
    *out = NULL;
    yaml_node_t *n = map_get(k, map, key);
    if (!n || is_null(n))
        return 0;
    if (n->type != YAML_SCALAR_NODE) {
        NODE_ERR(k, n, "%s.%s: expected a string", where, key);
        return -EINVAL;
    }
    *out = (const char *)n->data.scalar.value;
    return 0;
}

static int dup_str(const char *s, char **out)
{
    if (!s) {
        *out = NULL;
        return 0;
    }
    *out = strdup(s);
    return *out ? 0 : -ENOMEM;
}

static int get_bool(struct kc *k, yaml_node_t *map, const char *key, const char *where, bool *out)
{
    yaml_node_t *n = map_get(k, map, key);
    *out = false;
    if (!n || is_null(n))
        return 0;
    const char *v = n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : "";
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0)
        return 0;
    NODE_ERR(k, n, "%s.%s: expected true or false", where, key);
    return -EINVAL;
}

/* Finds the entry named name in a top-level list (clusters, users,
 * contexts) and returns its inner mapping (entry[inner]). */
static int find_named(struct kc *k, yaml_node_t *root, const char *list, const char *inner,
                      const char *name, yaml_node_t *ref, yaml_node_t **out)
{
    yaml_node_t *seq = map_get(k, root, list);
    *out = NULL;
    if (seq && !is_null(seq) && seq->type != YAML_SEQUENCE_NODE) {
        NODE_ERR(k, seq, "%s: expected a list", list);
        return -EINVAL;
    }
    if (seq && seq->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(&k->doc, *it);
            if (!e || e->type != YAML_MAPPING_NODE) {
                NODE_ERR(k, e ? e : seq, "%s: each entry must be a mapping with name and %s", list, inner);
                return -EINVAL;
            }
            const char *n;
            if (get_str(k, e, "name", list, &n) != 0)
                return -EINVAL;
            if (!n || strcmp(n, name) != 0)
                continue;
            yaml_node_t *in = map_get(k, e, inner);
            if (!in || is_null(in)) {
                *out = NULL; /* empty entry: fine for users */
                return 1;
            }
            if (in->type != YAML_MAPPING_NODE) {
                NODE_ERR(k, in, "%s[%s].%s: expected a mapping", list, name, inner);
                return -EINVAL;
            }
            *out = in;
            return 1;
        }
    }
    NODE_ERR(k, ref, "%s \"%s\" not found in %s", inner, name, list);
    return -EINVAL;
}

static int resolve_path(struct kc *k, const char *p, char *out, size_t n)
{
    int w = p[0] == '/' || !k->dir[0] ? snprintf(out, n, "%s", p) : snprintf(out, n, "%s/%s", k->dir, p);
    return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

/* A PEM field given as path (relative to the kubeconfig) or base64 data. */
static int load_blob(struct kc *k, yaml_node_t *map, const char *where, const char *pkey,
                     const char *dkey, char **out, size_t *len)
{
    const char *path, *data;
    if (get_str(k, map, pkey, where, &path) != 0 || get_str(k, map, dkey, where, &data) != 0)
        return -EINVAL;
    if (data && *data) {
        *out = b64_decode(data, len);
        if (!*out) {
            NODE_ERR(k, map_get(k, map, dkey), "%s.%s: invalid base64", where, dkey);
            return -EINVAL;
        }
        return 0;
    }
    if (path && *path) {
        char full[1024];
        int rc = resolve_path(k, path, full, sizeof(full));
        if (rc == 0)
            rc = read_file(full, out, len);
        if (rc != 0) {
            NODE_ERR(k, map_get(k, map, pkey), "%s.%s: cannot read %s: %s", where, pkey, full,
                     strerror(-rc));
            return -EINVAL;
        }
    }
    return 0;
}

static int load_exec(struct kc *k, yaml_node_t *n, struct kube_config *c)
{
    if (n->type != YAML_MAPPING_NODE) {
        NODE_ERR(k, n, "user.exec: expected a mapping");
        return -EINVAL;
    }
    struct kube_exec *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    c->exec = e;
    const char *api, *cmd, *hint;
    if (get_str(k, n, "apiVersion", "exec", &api) || get_str(k, n, "command", "exec", &cmd) ||
        get_str(k, n, "installHint", "exec", &hint))
        return -EINVAL;
    if (!api || (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
                 strcmp(api, "client.authentication.k8s.io/v1beta1") != 0)) {
        NODE_ERR(k, api ? map_get(k, n, "apiVersion") : n,
                 "exec.apiVersion: expected client.authentication.k8s.io/v1 or v1beta1");
        return -EINVAL;
    }
    if (!cmd || !*cmd) {
        NODE_ERR(k, n, "exec.command: missing");
        return -EINVAL;
    }
    if (dup_str(api, &e->api_version) || dup_str(cmd, &e->command) || dup_str(hint, &e->install_hint))
        return -ENOMEM;
    yaml_node_t *args = map_get(k, n, "args");
    if (args && !is_null(args)) {
        if (args->type != YAML_SEQUENCE_NODE) {
            NODE_ERR(k, args, "exec.args: expected a list of strings");
            return -EINVAL;
        }
        size_t cnt = (size_t)(args->data.sequence.items.top - args->data.sequence.items.start);
        e->args = calloc(cnt + 1, sizeof(char *));
        if (!e->args)
            return -ENOMEM;
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_t *a = yaml_document_get_node(&k->doc, args->data.sequence.items.start[i]);
            if (!a || a->type != YAML_SCALAR_NODE) {
                NODE_ERR(k, a ? a : args, "exec.args[%zu]: expected a string", i);
                return -EINVAL;
            }
            if (dup_str((const char *)a->data.scalar.value, &e->args[i]))
                return -ENOMEM;
            e->nargs++;
        }
    }
    yaml_node_t *env = map_get(k, n, "env");
    if (env && !is_null(env)) {
        if (env->type != YAML_SEQUENCE_NODE) {
            NODE_ERR(k, env, "exec.env: expected a list of {name, value}");
            return -EINVAL;
        }
        size_t cnt = (size_t)(env->data.sequence.items.top - env->data.sequence.items.start);
        e->env = calloc(cnt + 1, sizeof(char *));
        if (!e->env)
            return -ENOMEM;
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_t *v = yaml_document_get_node(&k->doc, env->data.sequence.items.start[i]);
            const char *name = NULL, *val = NULL;
            if (!v || v->type != YAML_MAPPING_NODE || get_str(k, v, "name", "exec.env", &name) ||
                get_str(k, v, "value", "exec.env", &val) || !name || !*name) {
                if (!k->err || !k->err->msg[0])
                    NODE_ERR(k, v ? v : env, "exec.env[%zu]: expected {name, value}", i);
                return -EINVAL;
            }
            size_t l = strlen(name) + strlen(val ? val : "") + 2;
            e->env[i] = malloc(l);
            if (!e->env[i])
                return -ENOMEM;
            snprintf(e->env[i], l, "%s=%s", name, val ? val : "");
            e->nenv++;
        }
    }
    return 0;
}

static int load_doc(struct kc *k, const char *context, struct kube_config *c)
{
    yaml_node_t *root = yaml_document_get_root_node(&k->doc);
    if (!root) {
        set_err(k->err, k->path, 0, 0, "empty file: expected a kubeconfig (clusters, users, contexts)");
        return -EINVAL;
    }
    if (root->type != YAML_MAPPING_NODE) {
        NODE_ERR(k, root, "expected a mapping (apiVersion, clusters, users, contexts)");
        return -EINVAL;
    }
    const char *ctxname = context;
    yaml_node_t *ref = root;
    if (!ctxname || !*ctxname) {
        if (get_str(k, root, "current-context", "kubeconfig", &ctxname))
            return -EINVAL;
        if (!ctxname || !*ctxname) {
            NODE_ERR(k, root, "current-context is not set and no context was given (--context)");
            return -EINVAL;
        }
        ref = map_get(k, root, "current-context");
    } else if (map_get(k, root, "contexts")) {
        ref = map_get(k, root, "contexts");
    }
    yaml_node_t *ctx, *cluster, *user;
    if (find_named(k, root, "contexts", "context", ctxname, ref, &ctx) < 0)
        return -EINVAL;
    if (!ctx) {
        NODE_ERR(k, ref, "context \"%s\" is empty", ctxname);
        return -EINVAL;
    }
    const char *cname, *uname, *ns;
    if (get_str(k, ctx, "cluster", "context", &cname) || get_str(k, ctx, "user", "context", &uname) ||
        get_str(k, ctx, "namespace", "context", &ns))
        return -EINVAL;
    if (!cname || !*cname) {
        NODE_ERR(k, ctx, "context \"%s\": cluster is missing", ctxname);
        return -EINVAL;
    }
    if (dup_str(ctxname, &c->context) || dup_str(ns, &c->namespace_))
        return -ENOMEM;
    if (find_named(k, root, "clusters", "cluster", cname, map_get(k, ctx, "cluster"), &cluster) < 0)
        return -EINVAL;
    if (!cluster) {
        NODE_ERR(k, map_get(k, ctx, "cluster"), "cluster \"%s\" is empty", cname);
        return -EINVAL;
    }
    const char *server, *tlsname;
    if (get_str(k, cluster, "server", "cluster", &server) ||
        get_str(k, cluster, "tls-server-name", "cluster", &tlsname) ||
        get_bool(k, cluster, "insecure-skip-tls-verify", "cluster", &c->insecure))
        return -EINVAL;
    if (!server || !*server) {
        NODE_ERR(k, cluster, "cluster \"%s\": server is missing", cname);
        return -EINVAL;
    }
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
        NODE_ERR(k, map_get(k, cluster, "server"), "cluster.server: expected an http(s):// URL");
        return -EINVAL;
    }
    if (dup_str(server, &c->server) || dup_str(tlsname, &c->tls_server_name))
        return -ENOMEM;
    size_t sl = strlen(c->server);
    while (sl > 0 && c->server[sl - 1] == '/')
        c->server[--sl] = '\0';
    if (load_blob(k, cluster, "cluster", "certificate-authority", "certificate-authority-data",
                  &c->ca_pem, &c->ca_len))
        return -EINVAL;
    if (!uname || !*uname)
        return 0; /* no credentials (plain HTTP test servers) */
    if (find_named(k, root, "users", "user", uname, map_get(k, ctx, "user"), &user) < 0)
        return -EINVAL;
    if (!user)
        return 0;
    const char *token, *tfile;
    if (get_str(k, user, "token", "user", &token) || get_str(k, user, "tokenFile", "user", &tfile))
        return -EINVAL;
    if (dup_str(token && *token ? token : NULL, &c->token))
        return -ENOMEM;
    if (tfile && *tfile) {
        char full[1024];
        if (resolve_path(k, tfile, full, sizeof(full)) || dup_str(full, &c->token_file))
            return -ENOMEM;
    }
    if (load_blob(k, user, "user", "client-certificate", "client-certificate-data", &c->cert_pem,
                  &c->cert_len) ||
        load_blob(k, user, "user", "client-key", "client-key-data", &c->key_pem, &c->key_len))
        return -EINVAL;
    if (c->cert_pem) {
        const char *cf;
        char src[1200];
        if (get_str(k, user, "client-certificate", "user", &cf))
            return -EINVAL;
        const char *cd = NULL;
        if (get_str(k, user, "client-certificate-data", "user", &cd))
            return -EINVAL;
        if (cd && *cd)
            snprintf(src, sizeof(src), "%s (user %s, client-certificate-data)", k->path, uname);
        else if (resolve_path(k, cf, src, sizeof(src)))
            return -ENOMEM;
        if (dup_str(src, &c->cert_source))
            return -ENOMEM;
    }
    if ((c->cert_pem != NULL) != (c->key_pem != NULL)) {
        NODE_ERR(k, user, "user \"%s\": client-certificate and client-key go together", uname);
        return -EINVAL;
    }
    yaml_node_t *ex = map_get(k, user, "exec");
    if (ex && !is_null(ex))
        return load_exec(k, ex, c);
    return 0;
}

int kube_config_load_file(const char *path, const char *context, struct kube_config *out,
                          struct kube_config_err *err)
{
    memset(out, 0, sizeof(*out));
    if (err)
        memset(err, 0, sizeof(*err));
    char *data;
    size_t len;
    int rc = read_file(path, &data, &len);
    if (rc != 0) {
        set_err(err, path, 0, 0, "cannot read kubeconfig: %s", strerror(-rc));
        return rc == -ENOENT ? -ENOENT : -EINVAL;
    }
    struct kc k = {.path = path, .err = err};
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(k.dir, sizeof(k.dir), "%.*s", (int)(slash - path), path);
    if (slash == path)
        snprintf(k.dir, sizeof(k.dir), "/");
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(data);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &k.doc)) {
        set_err(err, path, (int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1,
                "invalid YAML: %s%s%s", parser.problem ? parser.problem : "syntax error",
                parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        free(data);
        return -EINVAL;
    }
    rc = load_doc(&k, context, out);
    yaml_document_delete(&k.doc);
    yaml_parser_delete(&parser);
    free(data);
    if (rc == 0 && !(out->source = strdup(path)))
        rc = -ENOMEM;
    if (rc != 0) {
        if (rc == -ENOMEM)
            set_err(err, path, 0, 0, "out of memory");
        kube_config_clear(out);
        return rc == -ENOMEM ? rc : -EINVAL;
    }
    return 0;
}

int kube_config_load_incluster(struct kube_config *out, struct kube_config_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = getenv("ABC_SA_DIR");
    if (!dir || !*dir)
        dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    char tok[600], ca[600], nsf[600];
    snprintf(tok, sizeof(tok), "%s/token", dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    snprintf(nsf, sizeof(nsf), "%s/namespace", dir);
    struct stat st;
    if (!host || !*host || !port || !*port || stat(tok, &st) != 0)
        return -ENOENT;
    char url[600];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(url, sizeof(url), "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
    out->server = strdup(url);
    out->token_file = strdup(tok);
    out->source = strdup("in-cluster");
    if (!out->server || !out->token_file || !out->source)
        goto nomem;
    int rc = read_file(ca, &out->ca_pem, &out->ca_len);
    if (rc != 0 && rc != -ENOENT) {
        set_err(err, ca, 0, 0, "cannot read service account CA: %s", strerror(-rc));
        kube_config_clear(out);
        return -EINVAL;
    }
    char *ns;
    size_t nslen;
    if (read_file(nsf, &ns, &nslen) == 0) {
        while (nslen > 0 && (ns[nslen - 1] == '\n' || ns[nslen - 1] == ' '))
            ns[--nslen] = '\0';
        out->namespace_ = ns;
    }
    return 0;
nomem:
    kube_config_clear(out);
    return -ENOMEM;
}

int kube_config_resolve(const char *flag_path, const char *context, struct kube_config *out,
                        struct kube_config_err *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
    if (flag_path && *flag_path) {
        int rc = kube_config_load_file(flag_path, context, out, err);
        return rc == -ENOENT ? -EINVAL : rc; /* an explicit file that is missing: usage error */
    }
    int rc = kube_config_load_incluster(out, err);
    if (rc != -ENOENT)
        return rc;
    char env_path[1024] = "", home_path[1024] = "";
    const char *kc = getenv("KUBECONFIG");
    if (kc && *kc) {
        /* a ':'-separated list, as kubectl reads it; the first entry that
         * exists is used (kubectl would merge them all) */
        snprintf(env_path, sizeof(env_path), "%s", kc);
        for (const char *p = kc; *p;) {
            const char *colon = strchr(p, ':');
            size_t len = colon ? (size_t)(colon - p) : strlen(p);
            char one[1024];
            if (len > 0 && len < sizeof(one)) {
                snprintf(one, sizeof(one), "%.*s", (int)len, p);
                rc = kube_config_load_file(one, context, out, err);
                if (rc != -ENOENT)
                    return rc;
            }
            p += len + (colon ? 1 : 0);
        }
    }
    const char *home = getenv("HOME");
    if (home && *home) {
        snprintf(home_path, sizeof(home_path), "%s/.kube/config", home);
        rc = kube_config_load_file(home_path, context, out, err);
        if (rc != -ENOENT)
            return rc;
    }
    set_err(err, NULL, 0, 0,
            "no Kubernetes API configuration found; looked at: --kubeconfig (not given), "
            "in-cluster service account (KUBERNETES_SERVICE_HOST unset or no token), "
            "$KUBECONFIG (%s), %s",
            env_path[0] ? env_path : "unset", home_path[0] ? home_path : "~/.kube/config (HOME unset)");
    return -ENOENT;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void kube_config_clear(struct kube_config *c)
{
    free(c->source);
    free(c->context);
    free(c->server);
    free(c->ca_pem);
    free(c->tls_server_name);
    if (c->token)
        memset(c->token, 0, strlen(c->token));
    free(c->token);
    free(c->token_file);
    free(c->cert_pem);
    free(c->cert_source);
    if (c->key_pem)
        memset(c->key_pem, 0, c->key_len);
    free(c->key_pem);
    if (c->exec) {
        free(c->exec->api_version);
        free(c->exec->command);
        free_strv(c->exec->args, c->exec->nargs);
        free_strv(c->exec->env, c->exec->nenv);
        free(c->exec->install_hint);
        free(c->exec);
    }
    free(c->namespace_);
    memset(c, 0, sizeof(*c));
}
