/* Streaming parser (its own resumable lexer) of list pages and watch streams, fed chunk by
 * chunk straight from libcurl's write callback: no page or event is held
 * whole. For a resource with a field table (model/fields.h) each object is
 * matched against the table as it streams by: the values of the listed
 * paths are copied, everything else (managedFields, most of status) is
 * skipped without being copied. Other objects (no table, watch ERROR
 * events, an event whose "object" comes before its "type") become a json-c
 * tree. Used by the reflector and, without a type, by listparse.c and
 * watchparse.c. Pure, no I/O. */
#ifndef ABC_KUBE_SAX_H
#define ABC_KUBE_SAX_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct model_type;
struct model_view;
struct sax;

enum sax_mode {
    SAX_LIST,  /* one list answer: {"metadata":{…},"items":[…],…} */
    SAX_WATCH, /* watch events, {"type":…,"object":{…}}, one after another */
};

/* One list item or one event's object; both members borrowed for the call.
 * Exactly one is non-NULL. */
struct sax_item {
    struct json_object *json;      /* a json-c tree of the object */
    const struct model_view *view; /* the type's fields (strings NUL-terminated) */
};

/* type: the event type (watch), NULL for list items. Return 0 to go on,
 * non-zero to stop: sax_feed then returns that value. */
typedef int (*sax_item_cb)(void *data, const char *type, const struct sax_item *it);

#define SAX_MAX_DEPTH 128

/* t (may be NULL: json-c trees only) is borrowed. max_event bounds one
 * watch event in bytes (0 = 16 MiB). Starts in SAX_WATCH mode. NULL on
 * ENOMEM. */
struct sax *sax_new(const struct model_type *t, size_t max_event);
void sax_free(struct sax *s);
/* Forgets any partial input and starts over in mode. 0 or -ENOMEM. */
int sax_reset(struct sax *s, enum sax_mode mode);

/* Feeds n bytes. Returns 0, the callback's non-zero value, -EBADMSG
 * (malformed JSON; a list that is not an object with an "items" array or
 * null; an event that is not an object with a string "type" and an object
 * "object") or -E2BIG (an event over max_event), -ENOMEM. After an error,
 * reset before feeding again. */
int sax_feed(struct sax *s, const char *p, size_t n, sax_item_cb cb, void *data);
/* End of input. Watch: 0 unless an event is incomplete (-EBADMSG). List:
 * 0 when a complete list was read, else -EBADMSG. */
int sax_finish(struct sax *s);

/* Tests and benchmarks: lex with yajl (Debian libyajl 2.1, the lexer the
 * own one replaced; same answers, same records) instead of the own lexer,
 * and reset to SAX_WATCH. 0 or -ENOMEM. */
int sax_use_yajl(struct sax *s, bool yajl);

/* List mode, after the answer: its "metadata" object (the first one), or
 * NULL. Borrowed until the next reset. */
struct json_object *sax_list_metadata(const struct sax *s);

/* Bytes of values copied for the last object that went to the matcher
 * (tests: skipped parts are not copied). */
size_t sax_copied_bytes(const struct sax *s);

#endif
