/* List pages parsed item by item (see listparse.h). json-c parses every
 * value; this file only steps over the punctuation between them, using
 * json_tokener_get_parse_end to find where each value ended. */
#include "kube/listparse.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <json-c/json.h>

static size_t skip_ws(const char *b, size_t len, size_t i)
{
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    return i;
}

/* One complete JSON value at b[*i]; *out is NULL for JSON null. */
static int parse_value(struct json_tokener *tok, const char *b, size_t len, size_t *i,
                       struct json_object **out)
{
    json_tokener_reset(tok);
    struct json_object *o = json_tokener_parse_ex(tok, b + *i, (int)(len - *i));
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(o);
        return -EBADMSG;
    }
    *i += json_tokener_get_parse_end(tok);
    *out = o;
    return 0;
}

static int walk_items(struct json_tokener *tok, const char *b, size_t len, size_t *i,
                      listparse_item_cb cb, void *data)
{
    if (*i < len && b[*i] == 'n') { /* "items": null, an empty list */
        struct json_object *nul = NULL;
        int rc = parse_value(tok, b, len, i, &nul);
        if (rc == 0 && nul) {
            json_object_put(nul);
            rc = -EBADMSG;
        }
        return rc;
    }
    if (*i >= len || b[*i] != '[')
        return -EBADMSG;
    *i = skip_ws(b, len, *i + 1);
    if (*i < len && b[*i] == ']') {
        (*i)++;
        return 0;
    }
    for (;;) {
        struct json_object *item = NULL;
        int rc = parse_value(tok, b, len, i, &item);
        if (rc)
            return rc;
        rc = cb(data, item);
        json_object_put(item);
        if (rc)
            return rc;
        *i = skip_ws(b, len, *i);
        if (*i < len && b[*i] == ',') {
            *i = skip_ws(b, len, *i + 1);
            continue;
        }
        if (*i < len && b[*i] == ']') {
            (*i)++;
            return 0;
        }
        return -EBADMSG;
    }
}

int listparse_page(const char *b, size_t len, listparse_item_cb cb, void *data,
                   struct json_object **metadata)
{
    if (metadata)
        *metadata = NULL;
    if (len > INT_MAX)
        return -E2BIG;
    struct json_tokener *tok = json_tokener_new_ex(128);
    if (!tok)
        return -ENOMEM;
    struct json_object *md = NULL;
    int rc = -EBADMSG, seen_items = 0;
    size_t i = skip_ws(b, len, 0);
    if (i >= len || b[i] != '{')
        goto out;
    i = skip_ws(b, len, i + 1);
    if (i < len && b[i] == '}')
        goto out; /* {} has no items */
    for (;;) {
        struct json_object *key = NULL;
        if (i >= len || b[i] != '"' || parse_value(tok, b, len, &i, &key) || !key)
            goto bad;
        i = skip_ws(b, len, i);
        if (i >= len || b[i] != ':') {
            json_object_put(key);
            goto bad;
        }
        i = skip_ws(b, len, i + 1);
        const char *k = json_object_get_string(key);
        if (strcmp(k, "items") == 0 && !seen_items) {
            json_object_put(key);
            if ((rc = walk_items(tok, b, len, &i, cb, data)))
                goto out;
            seen_items = 1;
        } else {
            struct json_object *v = NULL;
            int is_md = strcmp(k, "metadata") == 0;
            json_object_put(key);
            if (parse_value(tok, b, len, &i, &v))
                goto bad;
            if (is_md && !md && json_object_is_type(v, json_type_object))
                md = v;
            else
                json_object_put(v);
        }
        i = skip_ws(b, len, i);
        if (i < len && b[i] == ',') {
            i = skip_ws(b, len, i + 1);
            continue;
        }
        if (i < len && b[i] == '}')
            break;
        goto bad;
    }
    rc = seen_items ? 0 : -EBADMSG;
    goto out;
bad:
    rc = -EBADMSG;
out:
    json_tokener_free(tok);
    if (rc == 0 && metadata)
        *metadata = md;
    else
        json_object_put(md);
    return rc;
}
