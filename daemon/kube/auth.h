/* Bearer tokens for API requests: a static token, a token file
 * re-read at least every 60 s and after a 401, or an exec credential
 * plugin run with uv_spawn whose token is cached until shortly before its
 * expirationTimestamp. client.c asks for a token before each request. */
#ifndef ABC_KUBE_AUTH_H
#define ABC_KUBE_AUTH_H

#include <stdbool.h>

#include <uv.h>

struct kube_config;
struct kube_auth;

/* err 0 and token (borrowed for the call; NULL = no bearer auth), or a
 * negative errno when the plugin failed (already logged). */
typedef void (*kube_auth_cb)(void *data, int err, const char *token);

/* A request waiting for a plugin run; embedded by the caller. */
struct kube_auth_wait {
    struct kube_auth_wait *next;
    kube_auth_cb cb;
    void *data;
};

/* cfg borrowed until kube_auth_free. 0 / -ENOMEM. */
int kube_auth_new(uv_loop_t *loop, const struct kube_config *cfg, struct kube_auth **out);
/* Stops a running plugin (its handles close on the loop) and frees a.
 * Pending waiters are dropped without callback. */
void kube_auth_free(struct kube_auth *a);

/* Returns 0 with *token ready now (borrowed until the next kube_auth call;
 * NULL when no bearer auth is configured; cb is not called), or
 * -EINPROGRESS: w is queued and cb fires once a plugin run ends, or a
 * negative errno (token file unreadable: logged). */
int kube_auth_get(struct kube_auth *a, struct kube_auth_wait *w, kube_auth_cb cb, void *data,
                  const char **token);
/* Removes a queued waiter (no callback); allowed from inside another
 * waiter's callback, and so is kube_auth_free. */
void kube_auth_cancel(struct kube_auth *a, struct kube_auth_wait *w);

/* After a 401: forget the cached token (token file re-read, plugin re-run
 * on the next get). Returns true when the credentials can change, i.e. a
 * retry is worth it. */
bool kube_auth_invalidate(struct kube_auth *a);

#endif
