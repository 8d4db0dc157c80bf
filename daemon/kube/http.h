/* HTTP to the Kubernetes API: libcurl multi driven by the libuv loop
 * (socket + timer callbacks, STYLE.md "libcurl multi on libuv"). Only this
 * file sees CURLM. It knows TLS and the server address from the
 * kube_config but nothing about auth beyond the bearer string it is given:
 * client.c adds tokens and retries after a 401. */
#ifndef ABC_KUBE_HTTP_H
#define ABC_KUBE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct kube_config;
struct metrics;
struct kube_http;
struct kube_call;

/* Outcome of one request. err: 0 (a response arrived; see http), or
 * -ECANCELED (the chunk callback stopped it), -ETIMEDOUT, -ECONNREFUSED,
 * -EHOSTUNREACH, -EPROTO (TLS: handshake or verification failed), -E2BIG
 * (body over the bound), -EIO (other transport errors), -ENOMEM. */
struct kube_status {
    int err;
    long http;        /* HTTP status; 0 when no response */
    int retry_after;  /* Retry-After in seconds; -1 when absent */
    char reason[256]; /* transport error text or the Status message */
    bool rv_too_large; /* the Status says "Too large resource version" (see below) */
};

struct json_object;
/* Is this Status object kube-apiserver's "Too large resource version"
 * (storage.NewTooLargeResourceVersionError: code 504, reason Timeout,
 * details.causes[].reason ResourceVersionTooLarge; before 1.17 only the
 * message said so)? The request asked for a resourceVersion the server has
 * not reached (etcd restored, simulator restarted): client-go relists. */
bool kube_status_rv_too_large(struct json_object *status);
/* st->reason (and rv_too_large) from an error answer's body, a Status
 * object (body may be NULL or not JSON: "HTTP <code>"). st->http is set. */
void kube_status_from_body(struct kube_status *st, const char *body);
/* libcurl's CURLcode as kube_status.err: -ETIMEDOUT, -ECONNREFUSED,
 * -EHOSTUNREACH, -EPROTO (TLS), -ENOMEM, else -EIO. */
int kube_status_errno_of_curl(int code);

struct kube_req {
    const char *method;       /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;         /* "/api/v1/persistentvolumes?limit=500" (escaped) */
    const char *verb;         /* metrics label: get list watch create update patch delete */
    const char *content_type; /* for a body; NULL = none */
    const char *body;         /* copied; NULL = none */
    size_t body_len;
    const char *bearer;       /* token or NULL; copied, never logged */
    bool watch;               /* streaming: no total timeout; counted in requests_total and
                               * the duration histogram (time to first byte) once, when the
                               * response headers arrive (or at the end if none did) */
    long timeout_ms;          /* total timeout for non-watch requests; 0 = 60 s */
    bool error_bodies;        /* also pass non-2xx bodies to on_chunk */
    bool raw_gzip;            /* gzip still accepted, but 2xx bodies reach on_chunk as sent
                               * (the caller inflates them, kube/reflector.c) */
    /* Other endpoints on the same loop and multi handle (the Azure view):
     * url, when set, is the whole URL and replaces the server + path; the
     * kubeconfig's TLS settings and client certificate are then not used
     * (system CAs, plus ca_file when set). headers: extra "Name: value"
     * lines, NULL-terminated (may be NULL). no_metrics: not counted in the
     * apiserver request families. */
    const char *url;
    const char *ca_file;
    const char *const *headers;
    bool no_metrics;
};

/* Body bytes of a 2xx response as they arrive (error bodies are kept here
 * and summarised in kube_status.reason). Return 0 to go on,
 * KUBE_CHUNK_PAUSE to hold the transfer (below), any other non-zero value
 * to stop the request (on_done then gets err -ECANCELED). Must not call
 * kube_http_start/cancel on the same call. */
typedef int (*kube_chunk_cb)(void *data, const char *p, size_t n);
/* From a chunk callback: this chunk is not taken; the transfer pauses (the
 * server is held back by flow control: TCP, or the HTTP/2 stream's window)
 * until kube_http_resume, which delivers the same chunk again. */
#define KUBE_CHUNK_PAUSE 0x10000
/* From a chunk callback: this chunk is not taken now but on the next loop
 * turn, after the requests started in the meantime have been sent (where
 * their connection is ready): a consumer that just asked for something
 * gets the request out before it goes on with a long body (libcurl reads a
 * whole buffered answer in one go otherwise). */
#define KUBE_CHUNK_YIELD 0x10001
/* Exactly once per started call (unless cancelled); the call is already
 * freed, so new requests may be started from here. st borrowed. */
typedef void (*kube_done_cb)(void *data, const struct kube_status *st);
typedef void (*kube_close_cb)(void *data);

/* cfg is borrowed until the close callback (server, TLS blobs). m may be
 * NULL. 0 / -EINVAL (bad server URL) / -ENOMEM. Logs one warning when TLS
 * verification is off. */
int kube_http_new(uv_loop_t *loop, const struct kube_config *cfg, struct metrics *m,
                  struct kube_http **out);
/* "aks-backup-companion/<version>" plus " suffix" when suffix is non-empty
 * (copied). */
int kube_http_set_user_agent_suffix(struct kube_http *h, const char *suffix);

/* Starts a request (it goes out on the next loop turn). Callbacks never
 * fire before return. *out (may be NULL) identifies it for
 * kube_http_cancel until on_done. 0 / -ENOMEM / -ESHUTDOWN (closing). */
int kube_http_start(struct kube_http *h, const struct kube_req *req, kube_chunk_cb on_chunk,
                    kube_done_cb on_done, void *data, struct kube_call **out);
/* Stops a call; no callback fires afterwards. Safe from any callback. */
void kube_http_cancel(struct kube_call *c);
/* Resumes a call paused by KUBE_CHUNK_PAUSE: on the next loop turn the held
 * chunk is delivered again, then the rest. No-op if it is not paused. Safe
 * from any callback. */
void kube_http_resume(struct kube_call *c);

/* Monotonic ms (clock_mono_ms) of the last 2xx response or body bytes of
 * one (a watch bookmark counts); now while a watch answered 2xx is open
 * (quiet resources; the reflector ends a watch silent for 90 s); 0 = never. */
int64_t kube_http_last_success_ms(const struct kube_http *h);
/* Number of requests in flight (tests). */
size_t kube_http_active(const struct kube_http *h);

/* Cancels every call (no callbacks) and frees h after the last handle
 * closed, then calls cb. Not from inside an on_chunk callback. */
void kube_http_close(struct kube_http *h, kube_close_cb cb, void *data);

#endif
