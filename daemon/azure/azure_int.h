/* Private to daemon/azure/: the state of the Azure view shared by azure.c
 * (polls, reads, metrics, lifecycle) and azure_parse.c (what each ARM
 * answer means). */
#ifndef ABC_AZURE_AZURE_INT_H
#define ABC_AZURE_AZURE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "azure/arm.h"
#include "azure/azure.h"

struct json_object;
struct az_cred;
struct metrics;
struct metric_family;

struct azure;
struct read_ctx {
    struct azure *a;
    enum az_read r;
};

struct azure {
    uv_loop_t *loop;
    struct read_ctx ctx[AZ_NREADS];
    struct kube_http *h;
    struct metrics *m;
    char *vault, *cluster, *storage, *rm, *authority, *imds, *ca;
    long poll_s, jobs_poll_s;
    int day_offset;
    long snap_limit;
    double warn_ratio;
    azure_update_cb cb;
    void *cb_data;
    struct az_cred *cred;
    struct az_arm_opts arm;
    struct az_arm_req *req[AZ_NREADS];
    struct azure_view v;
    uv_timer_t poll_timer, jobs_timer;
    bool started, closing;
    int pending_closes;
    void (*close_cb)(void *);
    void *close_data;
    struct metric_family *m_requests, *m_failures;
    struct json_object *policies; /* the last policies list (schedule, tiers) */
    char **failed_seen; /* job ids counted in job_failures_total */
    size_t nfailed_seen;
};

/* azure_parse.c: each fills a->v from one ARM answer (borrowed). */
void az__parse_vault(struct azure *a, struct json_object *o);
void az__apply_policy(struct azure *a, struct json_object *policies);
void az__parse_instances(struct azure *a, struct json_object *arr);
void az__parse_jobs(struct azure *a, struct json_object *arr);
void az__parse_cluster(struct azure *a, struct json_object *o);
void az__parse_trusted(struct azure *a, struct json_object *arr);
void az__parse_storage(struct azure *a, struct json_object *o);
void az__parse_snapshots(struct azure *a, struct json_object *arr);
void az__parse_locks(struct azure *a, struct json_object *arr);
/* Unix seconds of the start of the day (at the day boundary) holding now. */
int64_t az__day_start(const struct azure *a, int64_t now);

#endif
