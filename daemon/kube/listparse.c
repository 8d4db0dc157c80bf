/* List pages parsed item by item (see listparse.h): the streaming parser
 * of kube/sax.c without a field table, over a whole buffer. The reflector
 * feeds sax.c chunk by chunk instead; this is for callers holding a page. */
#include "kube/listparse.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <json-c/json.h>

#include "kube/sax.h"

struct ctx {
    listparse_item_cb cb;
    void *data;
};

static int on_item(void *data, const char *type, const struct sax_item *it)
{
    (void)type;
    struct ctx *c = data;
    return c->cb(c->data, it->json);
}

int listparse_page(const char *b, size_t len, listparse_item_cb cb, void *data,
                   struct json_object **metadata)
{
    if (metadata)
        *metadata = NULL;
    if (len > INT_MAX)
        return -E2BIG;
    struct sax *s = sax_new(NULL, 0);
    if (!s || sax_reset(s, SAX_LIST) != 0) {
        sax_free(s);
        return -ENOMEM;
    }
    struct ctx c = {cb, data};
    int rc = sax_feed(s, b, len, on_item, &c);
    if (rc == 0)
        rc = sax_finish(s);
    if (rc == 0 && metadata) {
        struct json_object *md = sax_list_metadata(s);
        *metadata = md ? json_object_get(md) : NULL;
    }
    sax_free(s);
    return rc;
}
