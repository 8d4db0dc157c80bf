/* Ad-hoc driver for the kube client core: runs one reflector per resource
 * given on the command line against a kubeconfig and prints the store size
 * when each is synced (and, with --dump, the debug dump of each at exit).
 * Not a test; built by hand or by tests/unit/meson.build as an executable.
 *   kube_driver KUBECONFIG [--list-only] [--seconds N] [--dump]
 *               RESOURCE[:GROUP/VERSION][:NAMESPACE] ...            */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "metrics/metrics.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "kube/reflector.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

struct meta_rec {
    struct obj_meta meta;
};

static int meta_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    struct meta_rec *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    int rc = model_meta_extract(obj, &r->meta);
    if (rc != 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static void meta_free(void *p)
{
    struct meta_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r);
}

#define MAXR 16
static struct model_type types[MAXR];
static struct store *stores[MAXR];
static struct reflector *refl[MAXR];
static int nres, nsynced, list_only, dump;
static int64_t t0;
static uv_loop_t *loop;
static uv_signal_t sig;
static uv_timer_t deadline;
static struct kube_client *client;

static void on_synced(void *data, const struct model_type *t)
{
    int i = (int)(intptr_t)data;
    printf("synced %s objects=%zu ms=%lld rv=%s\n", t->resource, store_count(stores[i]),
           (long long)(clock_mono_ms() - t0), reflector_resource_version(refl[i]));
    fflush(stdout);
    if (++nsynced == nres && list_only)
        uv_stop(loop);
}

static void on_absent(void *data, const struct model_type *t, bool absent)
{
    printf("absent %s %d\n", t->resource, absent);
    fflush(stdout);
}

static void on_sig(uv_signal_t *s, int signum)
{
    uv_stop(loop);
}

static void on_deadline(uv_timer_t *t)
{
    uv_stop(loop);
}

static void closed(void *d)
{
    (void)d;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: kube_driver KUBECONFIG [--list-only] [--seconds N] [--dump] RESOURCE[:G/V][:NS]...\n");
        return 4;
    }
    log_setup(getenv("DRIVER_DEBUG") ? LOG_DEBUG : LOG_INFO, LOG_FORMAT_TEXT);
    long seconds = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--list-only") == 0) {
            list_only = 1;
            continue;
        }
        if (strcmp(argv[i], "--dump") == 0) {
            dump = 1;
            continue;
        }
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtol(argv[++i], NULL, 10);
            continue;
        }
        if (nres == MAXR)
            break;
        char *spec = strdup(argv[i]);
        struct model_type *t = &types[nres];
        t->resource = spec;
        char *gv = strchr(spec, ':'), *ns = NULL;
        if (gv) {
            *gv++ = '\0';
            ns = strchr(gv, ':');
            if (ns)
                *ns++ = '\0';
            if (!*gv)
                gv = NULL;
        }
        t->group = "";
        t->version = "v1";
        if (gv) {
            char *slash = strchr(gv, '/');
            if (slash) {
                *slash = '\0';
                t->group = gv;
                t->version = slash + 1;
            } else {
                t->version = gv;
            }
        }
        t->namespaced = ns != NULL;
        t->namespace_ = ns && strcmp(ns, "*") != 0 ? ns : NULL;
        t->kind = t->resource;
        t->extract = meta_extract;
        t->free = meta_free;
        nres++;
    }
    struct kube_config cfg;
    struct kube_config_err err;
    int rc = kube_config_load_file(argv[1], NULL, &cfg, &err);
    if (rc != 0) {
        char msg[1200];
        kube_config_err_format(&err, msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
        return 4;
    }
    loop = uv_default_loop();
    struct metrics *m = metrics_new();
    char emsg[256];
    if (kube_client_new(loop, &cfg, m, &client, emsg, sizeof(emsg)) != 0) {
        fprintf(stderr, "%s\n", emsg);
        return 3;
    }
    t0 = clock_mono_ms();
    struct reflector_hooks hooks = {.on_absent = on_absent};
    for (int i = 0; i < nres; i++) {
        stores[i] = store_new(&types[i]);
        struct store_consumer sc = {.on_synced = on_synced, .data = (void *)(intptr_t)i};
        store_add_consumer(stores[i], &sc);
        reflector_init(&refl[i], loop, client, stores[i], m, list_only ? REFLECTOR_LIST_ONLY : REFLECTOR_WATCH,
                       &hooks);
        reflector_start(refl[i]);
    }
    uv_signal_init(loop, &sig);
    uv_signal_start(&sig, on_sig, SIGINT);
    uv_signal_start(&sig, on_sig, SIGTERM);
    uv_timer_init(loop, &deadline);
    if (seconds > 0)
        uv_timer_start(&deadline, on_deadline, (uint64_t)seconds * 1000, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    for (int i = 0; i < nres; i++) {
        if (dump) {
            struct buf b;
            buf_init(&b, 0);
            if (reflector_dump(refl[i], &b) == 0)
                printf("%s\n", b.data);
            buf_free(&b);
        }
        printf("final %s objects=%zu rv=%s\n", types[i].resource, store_count(stores[i]),
               reflector_resource_version(refl[i]));
        reflector_close(refl[i], closed, NULL);
    }
    if (getenv("DRIVER_METRICS")) {
        struct buf b;
        buf_init(&b, 0);
        metrics_render(m, false, &b);
        fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
    }
    kube_client_close(client, closed, NULL);
    uv_close((uv_handle_t *)&sig, NULL);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    for (int i = 0; i < nres; i++)
        store_free(stores[i]);
    metrics_free(m);
    kube_config_clear(&cfg);
    uv_walk(loop, close_walk, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(loop);
    if (rc != 0)
        fprintf(stderr, "uv_loop_close: %s\n", uv_strerror(rc));
    return rc ? 1 : 0;
}
