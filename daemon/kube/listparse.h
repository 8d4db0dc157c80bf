/* Walks a list answer ({"kind":…,"metadata":{…},"items":[…]}) one value at
 * a time: each item is parsed, handed to the callback and freed before the
 * next, so a 500-item page never exists as one json-c tree (a 2.8 KB PV is
 * ~53 KB of json-c DOM, mostly managedFields). For callers that hold a
 * whole page; the reflector streams pages through kube/sax.h instead.
 * Pure, no I/O. */
#ifndef ABC_KUBE_LISTPARSE_H
#define ABC_KUBE_LISTPARSE_H

#include <stddef.h>

struct json_object;

/* item is borrowed for the call (freed right after). Return 0 to go on,
 * non-zero to stop: listparse_page then returns that value. */
typedef int (*listparse_item_cb)(void *data, struct json_object *item);

/* Parses buf (len bytes). Calls cb for every element of "items" in order.
 * *metadata (may be NULL) receives a new reference to the list's
 * "metadata" object (caller puts) or NULL when absent. Returns 0,
 * -EBADMSG when buf is not a JSON object with an "items" array (or null),
 * -E2BIG for a buffer over INT_MAX, -ENOMEM, or the callback's value. On
 * error *metadata is NULL. */
int listparse_page(const char *buf, size_t len, listparse_item_cb cb, void *data,
                   struct json_object **metadata);

#endif
