/* kubesim entry point: command line, seeding, TLS material (generated with
 * the openssl CLI when absent), the two libmicrohttpd daemons (API, control;
 * thread per connection), the address line on stdout and --kubeconfig-out. */
#include "ks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char usage[] =
    "usage: kubesim --listen HOST:PORT --control HOST:PORT [options]\n"
    "A Kubernetes API simulator for tests (see tests/kubesim/README in the project README).\n"
    "  --listen HOST:PORT        API address (port 0 = pick a free port)\n"
    "  --control HOST:PORT       control address, plain HTTP JSON (port 0 = free port)\n"
    "  --seed DIR                load *.json (kind: List or single objects) from DIR; DIR/version.json\n"
    "                            is the /version body (repeatable)\n"
    "  --generate KIND=N         make N synthetic objects; KIND is pvs, pvcs, snapshots or nodes\n"
    "                            (repeatable); --generate-pvs N, --generate-pvcs N,\n"
    "                            --generate-snapshots N, --generate-nodes N are the same\n"
    "  --tls-dir DIR             use DIR/ca.crt, DIR/server.crt, DIR/server.key (generated when absent)\n"
    "  --http                    plain HTTP, no authentication (kubectl sends no token over HTTP)\n"
    "  --token TOKEN             a valid bearer token (repeatable; default t0)\n"
    "  --forbidden-token TOKEN   a token answered with 403 (repeatable)\n"
    "  --forbidden-user NAME     a client certificate CN answered with 403 (repeatable)\n"
    "  --backend-listen HOST:PORT  also serve the API in plain HTTP, with the same authentication,\n"
    "                            for a TLS-terminating front on loopback (port 0 = free port)\n"
    "  --history N               events kept for watches and list pages (default 10000)\n"
    "  --bookmark-interval S     seconds between BOOKMARK events (default 60)\n"
    "  --kubeconfig-out FILE     write a kubeconfig (server, CA data, first token)\n"
    "  --rv-start N              first resourceVersion is N+1 (default 100)\n"
    "  --disable-api GROUP/VER   start with this group-version absent (repeatable; core is v1)\n"
    "  --request-log N           requests kept for GET /requests (default 100000)\n"
    "Prints one JSON line {\"api\":URL,\"control\":URL} on stdout once listening; logs on stderr.\n"
    "Control endpoints (POST unless noted): /apply /delete /drop-watches /fail /latency /list-pace\n"
    "/stall-watches /compact /mutator (GET too) /garbage /partition /tokens /api-enable\n"
    "/api-disable /version; GET /state /objects /dump /stats /requests /healthz.\n";

struct opts {
    const char *listen, *control, *tls_dir, *kubeconfig_out, *backend;
    const char *seeds[32];
    size_t nseeds;
    char *gens[16];
    size_t ngens;
    const char *disable[32];
    size_t ndisable;
    bool http;
    long history, bookmark, rv_start, request_log;
};

static int listen_on(const char *spec, int *port_out)
{
    char host[128];
    const char *colon = strrchr(spec, ':');
    if (!colon || (size_t)(colon - spec) >= sizeof host)
        return -EINVAL;
    snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
    uint64_t port;
    if (parse_u64(colon + 1, &port) || port > 65535)
        return -EINVAL;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 512)) {
        int e = -errno;
        close(fd);
        return e;
    }
    socklen_t l = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &l);
    *port_out = ntohs(sa.sin_port);
    return fd;
}

static int run(const char *const argv[])
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc)
        return -rc;
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct sbuf b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        sbuf_add(&b, tmp, n);
    fclose(f);
    if (len)
        *len = b.len;
    return b.data ? b.data : xstrdup("");
}

static int ensure_tls(const char *dir)
{
    char ca[4096], crt[4096], key[4096], cakey[4096], csr[4096], ext[4096];
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(cakey, sizeof cakey, "%s/ca.key", dir);
    snprintf(crt, sizeof crt, "%s/server.crt", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(csr, sizeof csr, "%s/server.csr", dir);
    snprintf(ext, sizeof ext, "%s/server.ext", dir);
    if (!access(ca, R_OK) && !access(crt, R_OK) && !access(key, R_OK))
        return 0;
    mkdir(dir, 0700);
    const char *a1[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", cakey, "-out", ca, "-days", "3650", "-subj", "/CN=kubesim-ca",
                        "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", NULL};
    const char *a2[] = {"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-keyout", key, "-out", csr, "-subj", "/CN=kubesim", NULL};
    const char *a3[] = {"openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
                        "-out", crt, "-days", "3650", "-extfile", ext, NULL};
    FILE *f = fopen(ext, "w");
    if (!f)
        return -errno;
    fputs("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubesim\nextendedKeyUsage=serverAuth\n"
          "keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n", f);
    fclose(f);
    int rc = run(a1);
    if (!rc)
        rc = run(a2);
    if (!rc)
        rc = run(a3);
    return rc;
}

static void b64(struct sbuf *out, const char *s, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {t[(v >> 18) & 63], t[(v >> 12) & 63], i + 1 < n ? t[(v >> 6) & 63] : '=',
                     i + 2 < n ? t[v & 63] : '='};
        sbuf_add(out, q, 4);
    }
}

static int write_kubeconfig(const char *path, const char *ca_pem, size_t ca_len)
{
    struct sbuf b = {0};
    sbuf_printf(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n    server: %s\n",
                sim.api_url);
    if (ca_pem) {
        sbuf_adds(&b, "    certificate-authority-data: ");
        b64(&b, ca_pem, ca_len);
        sbuf_adds(&b, "\n");
    }
    sbuf_adds(&b, "users:\n- name: kubesim\n  user:");
    if (sim.tls && sim.ntokens)
        sbuf_printf(&b, "\n    token: %s\n", sim.tokens[0]);
    else
        sbuf_adds(&b, " {}\n");
    sbuf_adds(&b, "contexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n    user: kubesim\n"
                  "current-context: kubesim\n");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        sbuf_free(&b);
        return -errno;
    }
    fwrite(b.data, 1, b.len, f);
    fclose(f);
    sbuf_free(&b);
    return rename(tmp, path) ? -errno : 0;
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct reqctx *rc = xcalloc(1, sizeof *rc);
    rc->uri = xstrdup(uri);
    rc->t0 = now_ms();
    return rc;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)c;
    struct reqctx *rc = *con_cls;
    if (!rc)
        return;
    if (rc->log_id)
        log_request_done(rc->log_id, tc == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    free(rc->uri);
    sbuf_free(&rc->body);
    free(rc);
    *con_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    struct reqctx *rc = *con_cls;
    if (!rc->started) {
        rc->started = true;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        int one = 1;
        if (ci)
            setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return MHD_YES;
    }
    if (*upload_size) {
        if (rc->body.len + *upload_size > 64u << 20)
            return MHD_NO;
        sbuf_add(&rc->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (cls)
        return control_handle(c, url, method, rc);
    return api_handle(c, url, method, rc);
}

static long num_arg(const char *s, const char *flag)
{
    uint64_t v;
    if (parse_u64(s, &v) || v > (1ull << 40)) {
        fprintf(stderr, "kubesim: %s needs a number, got '%s'\n", flag, s);
        exit(2);
    }
    return (long)v;
}

static void add_token(char ***list, size_t *n, const char *t)
{
    *list = realloc(*list, (*n + 1) * sizeof **list);
    if (!*list)
        abort();
    (*list)[(*n)++] = xstrdup(t);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!strcmp(a, "--http")) {
            o->http = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kubesim: %s needs a value (or unknown option)\n%s", a, usage);
            exit(2);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--listen")) o->listen = v;
        else if (!strcmp(a, "--control")) o->control = v;
        else if (!strcmp(a, "--tls-dir")) o->tls_dir = v;
        else if (!strcmp(a, "--kubeconfig-out")) o->kubeconfig_out = v;
        else if (!strcmp(a, "--seed") && o->nseeds < 32) o->seeds[o->nseeds++] = v;
        else if (!strcmp(a, "--disable-api") && o->ndisable < 32) o->disable[o->ndisable++] = v;
        else if (!strcmp(a, "--token")) add_token(&sim.tokens, &sim.ntokens, v);
        else if (!strcmp(a, "--forbidden-token")) add_token(&sim.forbidden, &sim.nforbidden, v);
        else if (!strcmp(a, "--forbidden-user")) add_token(&sim.forbidden_users, &sim.nforbidden_users, v);
        else if (!strcmp(a, "--backend-listen")) o->backend = v;
        else if (!strcmp(a, "--history")) o->history = num_arg(v, a);
        else if (!strcmp(a, "--bookmark-interval")) o->bookmark = num_arg(v, a);
        else if (!strcmp(a, "--rv-start")) o->rv_start = num_arg(v, a);
        else if (!strcmp(a, "--request-log")) o->request_log = num_arg(v, a);
        else if (!strcmp(a, "--generate") && o->ngens < 16) o->gens[o->ngens++] = xstrdup(v);
        else if (!strncmp(a, "--generate-", 11) && o->ngens < 16) {
            char g[128];
            snprintf(g, sizeof g, "%s=%s", a + 11, v);
            o->gens[o->ngens++] = xstrdup(g);
        } else {
            fprintf(stderr, "kubesim: unknown option %s\n%s", a, usage);
            exit(2);
        }
    }
    if (!o->listen || !o->control) {
        fprintf(stderr, "kubesim: --listen and --control are required\n%s", usage);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    struct opts o = {.history = 10000, .bookmark = 60, .rv_start = 100, .request_log = 100000};
    parse_args(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    sigset_t set; /* blocked before any thread starts; main sigwaits */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_mutex_init(&sim.mu, NULL);
    pthread_cond_init(&sim.cond, NULL);
    store_init((size_t)o.history);
    sim.bookmark_interval_s = (int)(o.bookmark ? o.bookmark : 60);
    sim.log_cap = (size_t)o.request_log;
    sim.log = xcalloc(sim.log_cap ? sim.log_cap : 1, sizeof *sim.log);
    sim.rv = (uint64_t)o.rv_start;
    sim.tls = !o.http;
    if (!sim.ntokens)
        add_token(&sim.tokens, &sim.ntokens, "t0");
    for (size_t i = 0; i < o.ndisable; i++) {
        char g[128];
        snprintf(g, sizeof g, "%s", o.disable[i]);
        char *slash = strrchr(g, '/');
        const char *grp = slash ? g : "", *ver = slash ? slash + 1 : g;
        if (slash)
            *slash = '\0';
        for (size_t k = 0; k < ks_nrdefs; k++)
            if (!strcmp(ks_rdefs[k].group, grp) && !strcmp(ks_rdefs[k].version, ver))
                sim.disabled[k] = true;
    }
    pthread_mutex_lock(&sim.mu);
    for (size_t i = 0; i < o.nseeds; i++) {
        char err[512] = "";
        if (seed_load_dir(o.seeds[i], err, sizeof err)) {
            fprintf(stderr, "kubesim: seed: %s\n", err);
            return 1;
        }
    }
    for (size_t i = 0; i < o.ngens; i++) {
        char *eq = strchr(o.gens[i], '=');
        if (!eq) {
            fprintf(stderr, "kubesim: --generate wants KIND=N\n");
            return 2;
        }
        *eq = '\0';
        const char *k = o.gens[i];
        if (strcmp(k, "pvs") && strcmp(k, "pvcs") && strcmp(k, "snapshots") && strcmp(k, "nodes")) {
            fprintf(stderr, "kubesim: --generate: unknown kind %s (pvs, pvcs, snapshots, nodes)\n", k);
            return 2;
        }
        gen_objects(k, num_arg(eq + 1, "--generate"), 42);
    }
    store_compact(); /* seeds are the initial state, not watchable history */
    pthread_mutex_unlock(&sim.mu);

    char *cert = NULL, *key = NULL, *ca = NULL;
    size_t ca_len = 0;
    if (!o.http) {
        char tmpl[] = "/tmp/kubesim-tls-XXXXXX";
        const char *dir = o.tls_dir;
        if (!dir && !(dir = mkdtemp(tmpl))) {
            perror("kubesim: mkdtemp");
            return 1;
        }
        if (ensure_tls(dir)) {
            fprintf(stderr, "kubesim: cannot generate TLS material in %s (openssl CLI)\n", dir);
            return 1;
        }
        char p[4096];
        snprintf(p, sizeof p, "%s/server.crt", dir);
        cert = slurp(p, NULL);
        snprintf(p, sizeof p, "%s/server.key", dir);
        key = slurp(p, NULL);
        snprintf(p, sizeof p, "%s/ca.crt", dir);
        ca = slurp(p, &ca_len);
        if (!cert || !key || !ca) {
            fprintf(stderr, "kubesim: cannot read TLS material in %s\n", dir);
            return 1;
        }
    }
    int api_port = 0, ctl_port = 0, be_port = 0, be_fd = -1;
    int api_fd = listen_on(o.listen, &api_port), ctl_fd = listen_on(o.control, &ctl_port);
    if (o.backend && (be_fd = listen_on(o.backend, &be_port)) < 0) {
        fprintf(stderr, "kubesim: cannot listen on %s: %s\n", o.backend, strerror(-be_fd));
        return 1;
    }
    if (api_fd < 0 || ctl_fd < 0) {
        fprintf(stderr, "kubesim: cannot listen on %s / %s: %s\n", o.listen, o.control,
                strerror(-(api_fd < 0 ? api_fd : ctl_fd)));
        return 1;
    }
    char host[128];
    snprintf(host, sizeof host, "%.*s", (int)(strrchr(o.listen, ':') - o.listen), o.listen);
    snprintf(sim.api_url, sizeof sim.api_url, "%s://%s:%d", o.http ? "http" : "https", host, api_port);
    if (o.kubeconfig_out && write_kubeconfig(o.kubeconfig_out, ca, ca_len)) {
        fprintf(stderr, "kubesim: cannot write %s\n", o.kubeconfig_out);
        return 1;
    }
    uint64_t start_rv = sim.rv; /* read before any request thread runs */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *api, *be = NULL;
    if (o.http) {
        api = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, api_fd,
                               MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed,
                               NULL, MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024), MHD_OPTION_END);
    } else {
        /* The trust list makes GnuTLS ask for a client certificate (optional,
         * as kube-apiserver asks); auth_check verifies it per request. */
        sim.client_ca = true;
        api = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET,
                               api_fd, MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                               completed, NULL, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert,
                               MHD_OPTION_HTTPS_MEM_TRUST, ca,
                               MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024), MHD_OPTION_END);
    }
    if (be_fd >= 0)
        be = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, be_fd,
                              MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed,
                              NULL, MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024), MHD_OPTION_END);
    static int ctl_tag = 1;
    struct MHD_Daemon *ctl = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &ctl_tag, MHD_OPTION_LISTEN_SOCKET,
                                              ctl_fd, MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
                                              MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!api || !ctl || (be_fd >= 0 && !be)) {
        fprintf(stderr, "kubesim: cannot start HTTP daemons\n");
        return 1;
    }
    char chost[128];
    snprintf(chost, sizeof chost, "%.*s", (int)(strrchr(o.control, ':') - o.control), o.control);
    ks_log("api %s control http://%s:%d rv %llu", sim.api_url, chost, ctl_port, (unsigned long long)start_rv);
    if (be)
        printf("{\"api\":\"%s\",\"control\":\"http://%s:%d\",\"backend\":\"http://%.*s:%d\"}\n", sim.api_url,
               chost, ctl_port, (int)(strrchr(o.backend, ':') - o.backend), o.backend, be_port);
    else
        printf("{\"api\":\"%s\",\"control\":\"http://%s:%d\"}\n", sim.api_url, chost, ctl_port);
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    ks_log("signal %d, exiting", sig);
    pthread_mutex_lock(&sim.mu);
    sim.drop_gen++;
    pthread_cond_broadcast(&sim.cond);
    pthread_mutex_unlock(&sim.mu);
    usleep(50000);
    free(cert);
    free(key);
    free(ca);
    _exit(0);
}
