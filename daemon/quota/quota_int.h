/* Private to quota/: the fields of struct quota shared by quota.c (loop,
 * consumers, persistence), api.c (token, reservations, JSON, text),
 * pending.c (reservations waiting for their write) and quota_metrics.c. */
#ifndef ABC_QUOTA_QUOTA_INT_H
#define ABC_QUOTA_QUOTA_INT_H

#include <sys/types.h>

#include "quota/ledger.h"
#include "quota/quota.h"

struct quota_source {
    char *name;
    enum acct_op op;
    char *desc;             /* "velero.io/v1 backups" for messages */
    bool available;
    bool known_absent;      /* the app said the API is not served */
    char *constant;         /* constant:<id> mapping's instance; NULL otherwise */
};

struct quota_token {
    char *path;             /* NULL = write API disabled */
    char *value;            /* NULL = not loaded / unreadable */
    size_t len;
    bool have_stat;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool logged_error;
};

struct quota {
    uv_loop_t *loop;
    struct quota_opts o;
    char *day_boundary;
    struct ledger *ledger;
    struct quota_store store;   /* ops NULL = nothing persisted */
    bool dirty;
    bool save_failing;
    uv_timer_t day_timer, save_timer;
    int64_t armed_day;          /* ledger day when day_timer was armed */
    bool timers_init, started;
    int closing;                /* handles left to close */
    void (*close_cb)(void *data);
    void *close_data;
    struct quota_source *sources;
    size_t nsources;
    bool all_constant;          /* every source maps to a constant instance */
    struct quota_token token;
    bool stale;                 /* quota_set_current(false) */
    struct quota_pending *pending; /* reservations waiting for their write */
    uv_timer_t pend_timer;      /* their deadline */
    /* The Azure view (quota_azure.c) */
    bool azure;                 /* the view is configured */
    bool azure_ok;              /* its job list is in force */
    char azure_reason[320];     /* why not */
    bool policy_schedule;       /* the policy's schedule is known */
    struct schedule policy_sched;
    struct quota_disagree *dis; /* (instance, op) whose two figures differ, since when */
    size_t ndis;
    size_t vault_instances;     /* this cluster's instances in the vault (jobs mode) */
};

struct quota_disagree {
    char *instance;
    enum acct_op op;
    int64_t since;              /* Unix seconds */
    bool seen;                  /* scratch */
};

/* quota_azure.c */
/* The ledger options with the policy's schedule when the config has none. */
void quota__apply_policy_schedule(struct quota *q);
void quota__azure_free(struct quota *q);
/* The cluster-observed figure of a vault instance (the cross-check). When
 * every accounting source maps to the same constant instance that the vault
 * does not list, and the vault lists one instance of this cluster, that
 * constant's counts are this instance's (the default config: "default"). */
long quota__cluster_used(struct quota *q, const char *instance, enum acct_op op, int64_t now);
/* Tracks since when the two figures differ and writes
 * aks_backup_quota_source_disagreement (jobs mode only; w NULL: track only). */
void quota__write_disagreement(struct quota *q, struct metrics_writer *w, int64_t now);

int64_t quota__now(const struct quota *q);
/* After the ledger changed: warnings, then save (at once or next turn). */
void quota__changed(struct quota *q);
/* Saves synchronously; 0 or the error (logged). */
int quota__save(struct quota *q);
void quota__token_free(struct quota_token *t);
/* A reserved answer for id (borrowed strings: valid while the caller's). */
void quota__answer_reserved(struct quota_answer *out, const char *id, const char *inst,
                            enum acct_op op, const struct ledger_answer *a, bool replayed);
/* pending.c: the reservation just made (ledger_reserve 0) is answered
 * through cb once the store's save_wait reports its write (reserved), or
 * not saved and dropped when it fails, leadership is lost or
 * QUOTA_WRITE_DEADLINE_MS pass. Returns the wait, or NULL with *ans filled
 * (not saved) when it cannot wait. */
struct quota_wait *quota__wait_for_write(struct quota *q, const char *inst, enum acct_op op,
                                         const char *id, const struct ledger_answer *a,
                                         quota_answer_cb cb, void *data,
                                         struct quota_answer *ans);
/* An idempotent retry of a reservation still waiting: true when such a
 * reservation waits; *out is then the new waiter (same outcome, replayed),
 * or NULL with *ans not saved (ENOMEM). False: answer at once. */
bool quota__join_pending(struct quota *q, const char *inst, enum acct_op op, const char *id,
                         const struct ledger_answer *a, quota_answer_cb cb, void *data,
                         struct quota_wait **out, struct quota_answer *ans);
/* quota_close: every waiting reservation is answered 503 and dropped; the
 * records left for the store's callbacks no longer refer to q. */
void quota__pending_close(struct quota *q);
/* quota__changed without the save: the warnings only. */
void quota__warnings(struct quota *q);
int quota__token_set(struct quota_token *t, const char *path);

#endif
