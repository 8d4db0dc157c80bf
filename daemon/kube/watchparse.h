/* Incremental parser of a Kubernetes watch stream (one JSON event object
 * per line) fed chunk by chunk as libcurl delivers them: an event may span
 * chunks and one chunk may carry several events. Pure, no I/O. */
#ifndef ABC_KUBE_WATCHPARSE_H
#define ABC_KUBE_WATCHPARSE_H

#include <stddef.h>

struct json_object;
struct watchparse;

#define WATCHPARSE_MAX_EVENT (16u << 20) /* 16 MiB per event */

/* Called once per complete event. type is the event's "type" string and
 * obj its "object" (both borrowed for the call only; copy what you keep).
 * Return 0 to go on, non-zero to stop: watchparse_feed then returns that
 * value. */
typedef int (*watchparse_event_cb)(void *data, const char *type, struct json_object *obj);

/* max_event 0 = WATCHPARSE_MAX_EVENT. NULL on ENOMEM. */
struct watchparse *watchparse_new(size_t max_event);
void watchparse_free(struct watchparse *p);
/* Forget any partial event (new watch). */
void watchparse_reset(struct watchparse *p);

/* Feeds len bytes. Returns 0, the callback's non-zero value, -EBADMSG
 * (malformed JSON or an event without type/object) or -E2BIG (an event
 * larger than max_event). After an error, reset before feeding again. */
int watchparse_feed(struct watchparse *p, const char *data, size_t len,
                    watchparse_event_cb cb, void *cbdata);
/* End of stream: 0 when no partial event is pending, else -EBADMSG
 * (truncated event). */
int watchparse_finish(const struct watchparse *p);

/* The event type as a metric label: one of the closed set ADDED, MODIFIED,
 * DELETED, BOOKMARK, ERROR (a static string), or NULL for anything else.
 * The type comes from the server; labelling with it as sent would let a
 * faulty or hostile API server create a new series per distinct string. */
const char *watchparse_type_label(const char *type);

#endif
