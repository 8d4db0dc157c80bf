/* Entra ID access tokens for Azure Resource Manager (the Azure view): AKS
 * Workload Identity (the projected token file exchanged as a client
 * assertion, re-read for each exchange), else a managed identity through
 * IMDS. Tokens are cached until 5 minutes before they expire and never
 * logged. Requests go through the Kubernetes client's transport. */
#ifndef ABC_AZURE_CRED_H
#define ABC_AZURE_CRED_H

#include <stdbool.h>
#include <stdint.h>

struct kube_http;
struct az_cred;

struct az_cred_opts {
    const char *authority;  /* https://login.microsoftonline.com (no trailing slash needed) */
    const char *tenant_id;  /* AZURE_TENANT_ID; NULL/"" = no Workload Identity */
    const char *client_id;  /* AZURE_CLIENT_ID; may be NULL */
    const char *token_file; /* AZURE_FEDERATED_TOKEN_FILE; NULL/"" = no Workload Identity */
    const char *imds_url;   /* http://169.254.169.254 */
    const char *resource;   /* the resource manager URL (scope <resource>/.default) */
    const char *ca_file;    /* extra CA bundle; NULL/"" = system CAs only */
    int64_t (*now_ms)(void); /* monotonic ms; NULL = clock_mono_ms (tests) */
};

/* Called once per az_cred_get: token (borrowed, valid during the call) or
 * NULL and a reason that never contains a secret. */
typedef void (*az_token_cb)(void *data, const char *token, const char *reason);

/* Strings are copied. 0 / -ENOMEM. */
int az_cred_new(struct kube_http *h, const struct az_cred_opts *o, struct az_cred **out);
/* "workload-identity" or "managed-identity". */
const char *az_cred_kind(const struct az_cred *c);
/* A valid cached token is passed at once (before return); otherwise one
 * exchange runs and every waiter gets its outcome. 0 / -ENOMEM. */
int az_cred_get(struct az_cred *c, az_token_cb cb, void *data);
/* ARM said 401: forget the cached token when it is still this one. */
void az_cred_drop(struct az_cred *c, const char *token);
/* Token exchanges so far (tests, metrics). */
unsigned long az_cred_exchanges(const struct az_cred *c);
/* Cancels the exchange in flight; waiters get (NULL, "shutting down"). */
void az_cred_free(struct az_cred *c);

#endif
