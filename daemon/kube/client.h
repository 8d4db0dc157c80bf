/* The Kubernetes API client the rest of the daemon uses: kubeconfig-derived
 * TLS and auth (auth.c) on top of kube/http.c. Adds the bearer token to
 * each request, retries once after a 401 with fresh credentials, offers a
 * buffered request for small writes/reads, and discovery helpers. */
#ifndef ABC_KUBE_CLIENT_H
#define ABC_KUBE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kube/http.h"

struct kube_config;
struct metrics;
struct kube_client;
struct kube_ccall;

#define KUBE_BODY_MAX (64u << 20) /* buffered bodies */

/* cfg is borrowed until the close callback (keep it alive). m may be NULL.
 * Returns 0, or -EINVAL / -ENOMEM with err filled. No I/O yet. */
int kube_client_new(uv_loop_t *loop, const struct kube_config *cfg, struct metrics *m,
                    struct kube_client **out, char *err, size_t errlen);
/* User-Agent "aks-backup-companion/<version> <suffix>" (e.g. the pod name). */
int kube_client_set_user_agent_suffix(struct kube_client *c, const char *suffix);
/* Monotonic ms (clock_mono_ms) of the last 2xx response or streamed 2xx
 * bytes (watch bookmarks included); the current time while a watch answered
 * 2xx is open (the reflector ends watches silent for 90 s); 0 = never. The readiness check
 * `apiserver` passes when this is within the last 30 s. */
int64_t kube_client_last_success_ms(const struct kube_client *c);
/* Cancels every request (no callbacks), frees c after its handles closed,
 * then cb. Close the reflectors first (they hold requests); not from
 * inside an on_chunk callback (a store consumer during a watch event). */
void kube_client_close(struct kube_client *c, kube_close_cb cb, void *data);

/* Streaming request: as kube_http_start (req->bearer is ignored; the
 * client's credentials are used). Callbacks never fire before return. *out
 * (may be NULL) is valid until on_done or kube_client_cancel. */
int kube_client_start(struct kube_client *c, const struct kube_req *req, kube_chunk_cb on_chunk,
                      kube_done_cb on_done, void *data, struct kube_ccall **out);
/* No callback fires after this. Safe from any callback except this call's
 * own on_chunk (return non-zero there instead). */
void kube_client_cancel(struct kube_ccall *cc);
/* A streaming call whose on_chunk returned KUBE_CHUNK_PAUSE goes on (the
 * held chunk first) from the next loop turn; see kube_http_resume. */
void kube_client_resume(struct kube_ccall *cc);

/* Whole-body answer: st borrowed; body (NUL-terminated, also for error
 * answers: the Status object) borrowed for the call; NULL when none. */
typedef void (*kube_response_cb)(void *data, const struct kube_status *st, const char *body,
                                 size_t len);
/* Buffered request (bodies up to KUBE_BODY_MAX). method GET/POST/PUT/PATCH/
 * DELETE; the metrics verb follows the method (get/create/update/patch/
 * delete). path is relative to the server ("/api/v1/...", escaped).
 * Strings are copied. 0 and cb later, or a negative errno and no cb. */
int kube_request(struct kube_client *c, const char *method, const char *path,
                 const char *content_type, const char *body, size_t len, kube_response_cb cb,
                 void *data);
/* The metrics verb of an HTTP method: POST create, PUT update, PATCH
 * patch, DELETE delete, anything else get (a static string). */
const char *kube_verb_of(const char *method);
/* Same with a full request description (verb label, timeout) and a handle
 * for kube_client_cancel. */
int kube_request_ex(struct kube_client *c, const struct kube_req *req, kube_response_cb cb,
                    void *data, struct kube_ccall **out);

/* GET /version: git_version ("v1.29.2") borrowed for the call, NULL on
 * error (see st). */
typedef void (*kube_version_cb)(void *data, const struct kube_status *st, const char *git_version);
int kube_get_version(struct kube_client *c, kube_version_cb cb, void *data);
/* Is group/version served (GET /apis/<group>/<version>, or /api/<version>
 * for the core group)? served is meaningful when st->err == 0 and the HTTP
 * code is 200 or 404. */
typedef void (*kube_served_cb)(void *data, const struct kube_status *st, bool served);
int kube_group_served(struct kube_client *c, const char *group, const char *version,
                      kube_served_cb cb, void *data);

/* Appends s percent-escaped for a query value to out (n bytes, NUL
 * terminated). Returns 0 or -E2BIG. */
int kube_query_escape(char *out, size_t n, const char *s);

/* The transport (same loop, same libcurl multi), for other endpoints on
 * it (the Azure view passes whole URLs in struct kube_req). */
struct kube_http *kube_client_http(struct kube_client *c);

#endif
