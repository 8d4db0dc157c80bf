/* One Azure Resource Manager read (GET, JSON) for the Azure view: bearer
 * token from cred.h (a 401 drops it and the read is retried once with a
 * new one), nextLink pages followed and their "value" arrays joined, 429
 * and 5xx retried after Retry-After or a backoff. Runs on the Kubernetes
 * client's transport (same loop, same libcurl multi). */
#ifndef ABC_AZURE_ARM_H
#define ABC_AZURE_ARM_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

struct kube_http;
struct az_cred;
struct json_object;
struct metric_family;
struct az_arm_req;

struct az_arm_result {
    bool ok;
    long http;              /* last HTTP status; 0 = no answer */
    char code[64];          /* ARM error code ("AuthorizationFailed"), "" when none */
    char reason[320];       /* "HTTP 403 AuthorizationFailed: <message>" / transport text */
    struct json_object *body; /* ok: the object, or for lists an array of every page's items */
    int pages;
};

/* r and r->body are borrowed for the call. */
typedef void (*az_arm_cb)(void *data, const struct az_arm_result *r);

struct az_arm_opts {
    uv_loop_t *loop;
    struct kube_http *h;
    struct az_cred *cred;
    const char *base;        /* resource manager URL, no trailing slash */
    const char *ca_file;
    struct metric_family *requests; /* aks_backup_azure_requests_total{resource,code}; may be NULL */
    int max_attempts;        /* per page for 429/5xx/transport errors; 0 = 4 */
    int64_t backoff_ms;      /* first backoff without Retry-After; 0 = 1000 */
};

/* GET base + path_query (which carries api-version). label names the
 * resource in metrics and logs. list: follow nextLink, join "value".
 * *out (may be NULL) lets az_arm_cancel stop it. 0 / -ENOMEM. */
int az_arm_get(const struct az_arm_opts *o, const char *label, const char *path_query, bool list,
               az_arm_cb cb, void *data, struct az_arm_req **out);
/* No callback afterwards; memory is released once its handles closed. */
void az_arm_cancel(struct az_arm_req *r);

#endif
