/* Registry of named readiness checks behind /readyz (kube-apiserver style:
 * /readyz, /readyz?verbose, /readyz/<name>, ?exclude=<name>). Checks are
 * evaluated at request time and must be cheap (they read state, no I/O). */
#ifndef ABC_HEALTH_READYZ_H
#define ABC_HEALTH_READYZ_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct readyz;

/* Returns true when the check passes; on failure writes a one-line reason
 * (NUL-terminated, truncated to reason_len) for "[-]name failed: reason". */
typedef bool (*readyz_check_cb)(void *data, char *reason, size_t reason_len);

struct readyz *readyz_new(void);
void readyz_free(struct readyz *r);
/* name is copied; checks are reported in registration order. 0 / -EEXIST / -ENOMEM. */
int readyz_register(struct readyz *r, const char *name, readyz_check_cb cb, void *data);
size_t readyz_count(const struct readyz *r);
const char *readyz_name(const struct readyz *r, size_t i);
bool readyz_run_one(const struct readyz *r, size_t i, char *reason, size_t reason_len);

/* Evaluates for an HTTP request. only: NULL for all checks, else one name
 * (/readyz/<name>): unknown name → returns 404. excludes: names to skip
 * (n_ex of them). Writes the body (verbose lines + "readyz check passed" /
 * "readyz check failed", as kube-apiserver) to out; returns 200, 503 or 404. */
int readyz_http(const struct readyz *r, const char *only, const char *const *excludes,
                size_t n_ex, bool verbose, struct buf *out);

#endif
