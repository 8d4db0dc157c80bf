/* Where the daemon finds the Kubernetes API and how it authenticates
 * (command-line flag, in-cluster, $KUBECONFIG): a kubeconfig file (libyaml) or the in-cluster service
 * account. Pure loading into struct kube_config; client.c uses it. */
#ifndef ABC_KUBE_KUBECONFIG_H
#define ABC_KUBE_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* An exec credential plugin (client.authentication.k8s.io/v1, v1beta1). */
struct kube_exec {
    char *api_version;
    char *command;
    char **args;  /* nargs strings */
    size_t nargs;
    char **env;   /* "NAME=VALUE", nenv strings, merged over the daemon's env */
    size_t nenv;
    char *install_hint;
};

/* All strings and blobs owned by the struct (kube_config_clear). PEM blobs
 * are NUL-terminated; *_len excludes the NUL. */
struct kube_config {
    char *source;          /* kubeconfig path, or "in-cluster" */
    char *context;         /* context used (NULL in-cluster) */
    char *server;          /* "https://host:port", no trailing slash */
    char *ca_pem;          /* NULL = system trust store */
    size_t ca_len;
    bool insecure;         /* insecure-skip-tls-verify */
    char *tls_server_name; /* verify the server's certificate against this name */
    char *token;           /* static bearer token (never log it) */
    char *token_file;      /* bearer token file, re-read (tokenFile, in-cluster) */
    char *cert_source;     /* where it came from, for messages: the client-certificate file, or
                            * "<kubeconfig> (user U, client-certificate-data)" */
    char *cert_pem;        /* client certificate */
    size_t cert_len;
    char *key_pem;         /* client key (never log it) */
    size_t key_len;
    struct kube_exec *exec;
    char *namespace_;      /* context namespace or the service account's */
    bool http1_only;       /* not from the file: the daemon's kubernetes.http2 = false */
};

/* Where an error is. file/line/col are 0 when not known; line and col are
 * 1-based. msg says what is wrong (and, for -ENOENT from
 * kube_config_resolve, the places looked at). */
struct kube_config_err {
    char file[512];
    int line;
    int col;
    char msg[512];
};

/* Formats err as "file:line:col: msg" (or the parts known) into out. */
void kube_config_err_format(const struct kube_config_err *err, char *out, size_t n);

/* Loads path with the named context (NULL = current-context). Returns 0, or
 * -ENOENT (file missing), -EINVAL (malformed: err has file:line:col),
 * -ENOMEM. On error out is cleared. */
int kube_config_load_file(const char *path, const char *context, struct kube_config *out,
                          struct kube_config_err *err);

/* In-cluster service account: KUBERNETES_SERVICE_HOST/PORT and
 * $ABC_SA_DIR (default /var/run/secrets/kubernetes.io/serviceaccount)
 * token, ca.crt, namespace. -ENOENT when not running in a cluster. */
int kube_config_load_incluster(struct kube_config *out, struct kube_config_err *err);

/* Lookup order: flag_path, else in-cluster, else $KUBECONFIG (its first
 * file), else ~/.kube/config. -ENOENT when none exists (err->msg names the
 * places looked at; the CLI exits 3); -EINVAL for a malformed file (exit 4). */
int kube_config_resolve(const char *flag_path, const char *context, struct kube_config *out,
                        struct kube_config_err *err);

void kube_config_clear(struct kube_config *c);

#endif
