/* Watch stream parser (watchparse.h): a json_tokener kept across chunks.
 * Whitespace between events is skipped here and the tokener is fed one
 * line at a time, so it only ever sees one event. */
#include "kube/watchparse.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

struct watchparse {
    struct json_tokener *tok;
    size_t max_event;
    size_t pending; /* bytes of the current partial event fed so far */
};

struct watchparse *watchparse_new(size_t max_event)
{
    struct watchparse *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->tok = json_tokener_new_ex(128);
    if (!p->tok) {
        free(p);
        return NULL;
    }
    json_tokener_set_flags(p->tok, JSON_TOKENER_STRICT);
    p->max_event = max_event ? max_event : WATCHPARSE_MAX_EVENT;
    return p;
}

void watchparse_free(struct watchparse *p)
{
    if (!p)
        return;
    json_tokener_free(p->tok);
    free(p);
}

void watchparse_reset(struct watchparse *p)
{
    json_tokener_reset(p->tok);
    p->pending = 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int deliver(struct json_object *ev, watchparse_event_cb cb, void *cbdata)
{
    struct json_object *type, *obj;
    if (!json_object_is_type(ev, json_type_object) ||
        !json_object_object_get_ex(ev, "type", &type) ||
        !json_object_is_type(type, json_type_string) ||
        !json_object_object_get_ex(ev, "object", &obj) ||
        !json_object_is_type(obj, json_type_object))
        return -EBADMSG;
    return cb(cbdata, json_object_get_string(type), obj);
}

int watchparse_feed(struct watchparse *p, const char *data, size_t len,
                    watchparse_event_cb cb, void *cbdata)
{
    size_t off = 0;
    while (off < len) {
        if (p->pending == 0) {
            while (off < len && is_ws(data[off]))
                off++;
            if (off == len)
                break;
            if (data[off] != '{')
                return -EBADMSG; /* an event is an object, nothing else */
        }
        /* Up to and including the next newline: in strict mode the tokener
         * rejects anything but whitespace after a complete value, and a
         * newline never occurs inside a JSON event (strings escape it). */
        const char *nl = memchr(data + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (data + off)) + 1 : len - off;
        if (n > p->max_event - p->pending + 1)
            n = p->max_event - p->pending + 1; /* feed no more than the bound */
        if (n > (size_t)INT32_MAX)
            n = INT32_MAX;
        struct json_object *ev = json_tokener_parse_ex(p->tok, data + off, (int)n);
        enum json_tokener_error jerr = json_tokener_get_error(p->tok);
        if (!ev) {
            if (jerr != json_tokener_continue)
                return -EBADMSG;
            p->pending += n;
            off += n;
            if (p->pending > p->max_event)
                return -E2BIG;
            continue;
        }
        size_t used = json_tokener_get_parse_end(p->tok);
        off += used;
        p->pending = 0;
        json_tokener_reset(p->tok);
        int rc = deliver(ev, cb, cbdata);
        json_object_put(ev);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int watchparse_finish(const struct watchparse *p)
{
    return p->pending ? -EBADMSG : 0;
}

const char *watchparse_type_label(const char *type)
{
    static const char *const known[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    for (size_t i = 0; type && i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(type, known[i]) == 0)
            return known[i];
    return NULL;
}
