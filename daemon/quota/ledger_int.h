/* Private to quota/ledger*.c: the ledger's records and the helpers the
 * JSON (de)serialisation in ledger_json.c shares with ledger.c. */
#ifndef ABC_QUOTA_LEDGER_INT_H
#define ABC_QUOTA_LEDGER_INT_H

#include "quota/ledger.h"

struct lobj {
    char *uid, *instance, *reservation; /* reservation may be NULL */
    enum acct_op op;
    int64_t created;
    bool counted;                       /* valid after recount() */
};

struct lres {
    char *id, *instance;
    enum acct_op op;
    int64_t created;
    struct ledger_answer ans;
    bool consumed;                      /* scratch for recount() */
    bool job_matched;                   /* scratch: a later vault job is this one */
};

struct ljob {                           /* the vault's own jobs (ledger_set_jobs) */
    char *id, *instance;
    enum acct_op op;
    int64_t start;
};

struct lcount {
    const char *instance;
    long n[ACCT_NOPS];                  /* the figure in force */
    long c[ACCT_NOPS];                  /* cluster-observed (objects + reservations) */
};

struct lwarn {
    char *instance;
    enum acct_op op;
    int64_t day;
};

struct ledger {
    struct ledger_opts o;
    struct lobj *objs;
    size_t nobj, capobj;
    struct lres *res;
    size_t nres, capres;
    struct lres *tomb;          /* cancelled reservations (id, instance, op, created) */
    size_t ntomb, captomb;
    struct lwarn *warned;
    size_t nwarn, capwarn;
    char **known;
    size_t nknown;
    bool dirty;
    /* Counts of one day per instance, sorted by instance (strings borrowed
     * from objs/res): rebuilt after any change, so a scrape over many
     * instances costs one pass, not one pass per instance. */
    size_t *hidx;               /* UID index: objs position + 1, 0 = empty */
    size_t hcap;                /* power of two; 0 = no index (linear scan) */
    struct lcount *cache;
    size_t ncache;
    int64_t cache_day;
    bool cache_ok;
    /* The vault's job list (the Azure view), when in force. */
    bool jobs_on;
    struct ljob *jobs;
    size_t njobs;
    char **jinst;               /* this cluster's backup instances */
    size_t njinst;
};

/* ledger_jobs.c */
void ledger__jobs_free(struct ledger *l);
/* Marks the reservations of day that a later job of the same instance and
 * operation stands for (lres.job_matched). */
void ledger__jobs_match(struct ledger *l, int64_t day);

int ledger__grow(void **p, size_t *cap, size_t need, size_t elem);
void ledger__lres_clear(struct lres *r);
int ledger__parse_day_string(const char *s, int64_t *day);
int64_t ledger__oldest_kept_day(const struct ledger *l, int64_t now);
struct lres *ledger__find_res(struct ledger *l, const char *instance, enum acct_op op,
                              const char *id);
/* The tombstone of (instance, op, id), or NULL. */
struct lres *ledger__find_tomb(struct ledger *l, const char *instance, enum acct_op op,
                               const char *id);
/* Records a tombstone (keeps the latest created). 0 / -ENOMEM. */
int ledger__add_tomb(struct ledger *l, const char *instance, enum acct_op op, const char *id,
                     int64_t created);
/* 1 added, 0 already there, -ENOMEM. */
int ledger__add_warned(struct ledger *l, const char *instance, enum acct_op op, int64_t day);

#endif
