/* Watch stream parser (watchparse.h): the streaming parser of kube/sax.c
 * without a field table, so every event's object becomes a json-c tree.
 * The reflector uses sax.c directly (matched fields only); this interface
 * is for callers that want the tree. */
#include "kube/watchparse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube/sax.h"

struct watchparse {
    struct sax *sax;
    watchparse_event_cb cb;
    void *data;
};

struct watchparse *watchparse_new(size_t max_event)
{
    struct watchparse *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->sax = sax_new(NULL, max_event ? max_event : WATCHPARSE_MAX_EVENT);
    if (!p->sax) {
        free(p);
        return NULL;
    }
    return p;
}

void watchparse_free(struct watchparse *p)
{
    if (!p)
        return;
    sax_free(p->sax);
    free(p);
}

void watchparse_reset(struct watchparse *p)
{
    (void)sax_reset(p->sax, SAX_WATCH); /* on ENOMEM the next feed fails */
}

static int on_item(void *data, const char *type, const struct sax_item *it)
{
    struct watchparse *p = data;
    return p->cb(p->data, type, it->json);
}

int watchparse_feed(struct watchparse *p, const char *data, size_t len,
                    watchparse_event_cb cb, void *cbdata)
{
    p->cb = cb;
    p->data = cbdata;
    return sax_feed(p->sax, data, len, on_item, p);
}

int watchparse_finish(const struct watchparse *p)
{
    return sax_finish(p->sax);
}

const char *watchparse_type_label(const char *type)
{
    static const char *const known[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    for (size_t i = 0; type && i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(type, known[i]) == 0)
            return known[i];
    return NULL;
}
