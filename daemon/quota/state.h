/* Persistence of the quota ledger (counts survive restarts).
 * A small store interface so the state can live in a file (here) or, for
 * HA, in a ConfigMap (the HA helper's backend plugs in the same way); the
 * document is ledger_to_json's. Called by quota/quota.c on the loop:
 * everything here is synchronous and the documents are small. */
#ifndef ABC_QUOTA_STATE_H
#define ABC_QUOTA_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ledger;

/* Outcome of save_wait: err 0 once the write landed; http: the HTTP status
 * when there was one (ConfigMap), else 0. */
typedef void (*quota_store_done_cb)(void *data, int err, int http);

struct quota_store_ops {
    const char *name;   /* "file", "configmap": for log lines */
    /* Reads the saved document. 0 and *data (NUL-terminated, caller frees)
     * and *len; -ENOENT when nothing was saved yet; other negative errno
     * when it cannot be read. */
    int (*load)(void *ctx, char **data, size_t *len);
    /* Replaces the saved document (all or nothing). 0 / negative errno. */
    int (*save)(void *ctx, const char *data, size_t len);
    /* Moves an unreadable document out of the way so it can be inspected;
     * fills where (the new name) when not NULL. 0 / negative errno. */
    int (*set_aside)(void *ctx, int64_t now, char *where, size_t n);
    void (*free)(void *ctx);
    /* Optional (NULL: save is synchronous and final when it returns 0).
     * Writes the ledger as it is now; done fires exactly once, never
     * before return, when the write carrying it landed (err 0) or cannot
     * land (negative errno). Returns 0, or a negative errno and done will
     * not fire (e.g. -EPERM: this replica may not write). The reservation
     * route answers from done (quota/api.c). */
    int (*save_wait)(void *ctx, quota_store_done_cb done, void *data);
};

struct quota_store {
    const struct quota_store_ops *ops;
    void *ctx;
};

/* File backend. path is copied. The parent directory is created (0700,
 * with its parents) at the first save when missing; temp files left by a
 * crash mid-write are removed here (not when read_only). read_only: save and
 * set_aside do nothing and return 0 (`check` reads the daemon's state but
 * never changes it). 0 / -ENOMEM / -EINVAL (empty path). */
int quota_file_store_init(struct quota_store *s, const char *path, bool read_only);
void quota_store_free(struct quota_store *s);

/* File primitives (exported for tests and the HA helper). */
/* Writes data to "<path>.tmp-<pid>" in the same directory, fsyncs it,
 * renames it over path and fsyncs the directory. Creates missing parent
 * directories. On error the temp file is removed. 0 / negative errno. */
int state_file_write_atomic(const char *path, const char *data, size_t len);
/* Reads the whole file (at most 16 MiB: -EFBIG). 0 / -ENOENT / errno. */
int state_file_read(const char *path, char **data, size_t *len);
/* Removes "<path>.tmp-*" left by a crash mid-write. Returns how many. */
int state_file_remove_stale_temps(const char *path);
/* Renames path to "<path>.corrupt-<now>"; the new name in where. */
int state_file_set_aside(const char *path, int64_t now, char *where, size_t n);

enum quota_load_result {
    QUOTA_LOAD_OK = 0,       /* merged into the ledger */
    QUOTA_LOAD_NONE = 1,     /* nothing saved yet */
    QUOTA_LOAD_CORRUPT = 2,  /* unreadable/invalid: set aside (aside says
                                where, "" when even that failed); the
                                ledger is untouched */
};
/* Loads the store's document into l (ledger_merge_json). Returns a
 * quota_load_result, or -ENOMEM. The caller logs (a corrupt file is an
 * error-level line naming aside). */
int quota_state_load(struct quota_store *s, struct ledger *l, int64_t now, char *aside,
                     size_t asidelen);
/* Saves l (ledger_to_json). 0 / negative errno. */
int quota_state_save(struct quota_store *s, const struct ledger *l, int64_t now);

#endif
