/* The Azure view: optional, read-only Azure Resource Manager reads (the
 * Backup vault, its policies, instances and jobs, the managed cluster and
 * its trusted-access bindings, the storage account, the snapshots and locks
 * of the snapshot resource group) polled on the daemon's loop. app.c owns
 * it and maps the facts onto the prerequisites and the quota. */
#ifndef ABC_AZURE_AZURE_H
#define ABC_AZURE_AZURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct kube_http;
struct metrics;
struct azure;

/* api-versions, one per resource type (also in docs/azure-view.md). */
#define AZ_API_DATAPROTECTION "2024-04-01"
#define AZ_API_CONTAINERSERVICE "2024-02-01"
#define AZ_API_STORAGE "2023-05-01"
#define AZ_API_COMPUTE "2023-10-02"
#define AZ_API_LOCKS "2020-05-01"

enum az_read {
    AZ_READ_VAULT = 0,
    AZ_READ_POLICIES,
    AZ_READ_INSTANCES,
    AZ_READ_JOBS,
    AZ_READ_CLUSTER,
    AZ_READ_TRUSTED_ACCESS,
    AZ_READ_STORAGE,
    AZ_READ_SNAPSHOTS,
    AZ_READ_LOCKS,
    AZ_NREADS
};
const char *az_read_name(enum az_read r); /* "vault", "backup_policies", ... */

struct az_read_state {
    bool configured; /* the read applies (its id is set) */
    bool done;       /* answered at least once */
    bool ok;         /* the last attempt succeeded */
    long http;
    char code[64];
    char reason[320];
};

enum az_op { AZ_OP_BACKUP = 0, AZ_OP_RESTORE = 1 };

struct az_instance {
    char name[128];
    char id[512];
    char policy_id[512];
    char protection[48];    /* protectionStatus.status */
    char snapshot_rg[512];  /* the operational store's resource group id */
    long namespaces;        /* included namespaces; -1 = all */
    int64_t last_success;   /* Unix seconds of the latest Completed backup job's end; 0 none */
    int64_t interval_s;     /* its policy's schedule interval; 0 unknown */
};

struct az_job {
    char id[128];           /* the job's name (a GUID) */
    size_t inst;            /* index in view.inst */
    enum az_op op;
    bool user;              /* isUserTriggered */
    char status[32];
    char error_code[96];    /* first errorDetails code of a failed job */
    int64_t start, end;     /* Unix seconds; 0 unknown */
};

struct az_snapdisk {
    char disk[512];
    long n;
};

struct azure_view {
    struct az_read_state r[AZ_NREADS];
    char vault_location[64], vault_subscription[64], vault_redundancy[48], vault_crr[16];
    long policies, instances;       /* -1 unknown */
    char schedule[160];             /* this cluster's policy's repeating interval; "" unknown */
    int vault_tier;                 /* the policy keeps VaultStore points: 1/0, -1 unknown */
    struct az_instance *inst;       /* this cluster's backup instances */
    size_t ninst;
    struct az_job *jobs;            /* their jobs since the start of yesterday (deduped by id) */
    size_t njobs;
    char identity[32];              /* system | user | service-principal | "" */
    char cluster_location[64];
    int trusted_access;             /* 1/0, -1 unknown */
    char storage_location[64], storage_kind[48], storage_sku[48];
    int storage_blocked;            /* public access denied without the vault trusted: 1/0/-1 */
    struct az_snapdisk *snaps;      /* snapshots per source disk */
    size_t nsnaps;
    int delete_lock;                /* a CanNotDelete lock on the snapshot group: 1/0/-1 */
    char delete_lock_name[128];
};

struct azure_opts {
    const char *vault_id, *cluster_id, *storage_account_id;
    const char *resource_manager_url, *authority_host, *imds_url, *ca_file;
    long poll_seconds, jobs_poll_seconds;
    int day_offset;                 /* seconds east of UTC of the day boundary */
    long snapshots_per_disk;
    double warn_ratio;
    char *const *envp;              /* AZURE_* lookups; NULL = environ */
};

/* Called after each read completes; v borrowed for the call. */
typedef void (*azure_update_cb)(void *data, const struct azure_view *v);

/* Strings are copied. m may be NULL. 0 / -ENOMEM. */
int azure_new(uv_loop_t *loop, struct kube_http *h, struct metrics *m, const struct azure_opts *o,
              azure_update_cb cb, void *data, struct azure **out);
/* First reads now, then every poll interval. */
int azure_start(struct azure *a);
const struct azure_view *azure_get_view(const struct azure *a);
/* True when the last poll of every configured read succeeded. */
bool azure_up(const struct azure *a);
/* Cancels everything; cb fires once every handle is closed. */
void azure_close(struct azure *a, void (*cb)(void *data), void *data);

#endif
