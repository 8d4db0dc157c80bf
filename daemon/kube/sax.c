/* List pages and watch events, streamed (sax.h). The own lexer (below,
 * "the own lexer") turns bytes into parse events and steps over skipped
 * values itself; yajl can stand in for it (sax_use_yajl: the reference the
 * tests compare against). Each event outside skipped values goes to
 * dispatch: a small state machine frames the answer (list root and
 * "items", or watch events with "type" and "object"), and each object goes
 * either to the matcher, which walks a trie compiled from the type's field
 * table and copies only the matched values into an arena, or to a json-c
 * tree builder. */
#include "kube/sax.h"
#include "kube/sax_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "model/fields.h"
#include "model/model.h"

/* ---- trie of the field table ---- */

static int16_t trie_child(const struct sax *s, int16_t n, const char *k, size_t len)
{
    for (int16_t c = s->trie[n].child; c >= 0; c = s->trie[c].sibling)
        if (s->trie[c].klen == len && memcmp(s->trie[c].key, k, len) == 0)
            return c;
    return -1;
}

static int trie_build(struct sax *s)
{
    const struct model_fields *fs = s->t ? s->t->fields : NULL;
    s->ntrie = 0;
    s->keys_bit = 0;
    if (!fs)
        return 0;
    s->trie[0] = (struct tnode){.child = -1, .sibling = -1, .slot = -1};
    s->ntrie = 1;
    for (size_t i = 0; i < fs->n && i < MODEL_VIEW_MAX; i++) {
        int16_t cur = 0;
        const char *prefix = NULL;
        s->trie[0].sub |= 1u << i;
        for (size_t d = 0; d < MODEL_PATH_MAX && fs->f[i].path[d]; d++) {
            const char *k = fs->f[i].path[d];
            if (fs->f[i].kind == MF_PREFIX && (d + 1 == MODEL_PATH_MAX || !fs->f[i].path[d + 1])) {
                prefix = k; /* MF_PREFIX: the last component is the key prefix */
                break;
            }
            int16_t c = trie_child(s, cur, k, strlen(k));
            if (c < 0) {
                if (s->ntrie >= TRIE_MAX)
                    return -E2BIG;
                c = (int16_t)s->ntrie++;
                s->trie[c] = (struct tnode){.key = k, .klen = strlen(k), .child = -1,
                                            .sibling = s->trie[cur].child, .slot = -1};
                s->trie[cur].child = c;
            }
            cur = c;
            s->trie[cur].sub |= 1u << i; /* the slot is below every node of its path */
        }
        s->trie[cur].slot = (int16_t)i;
        s->trie[cur].kind = (uint8_t)fs->f[i].kind;
        s->trie[cur].keys = fs->f[i].kind == MF_KEYS;
        if (s->trie[cur].keys)
            s->keys_bit = 1u << i;
        if (prefix) {
            s->trie[cur].prefix = prefix;
            s->trie[cur].plen = strlen(prefix);
        }
    }
    return 0;
}

/* ---- matcher ---- */

static int arena_put(struct sax *s, const char *p, size_t n, uint32_t *off)
{
    if (s->alen + n + 1 > s->acap) {
        size_t cap = s->acap ? s->acap : 4096;
        while (cap < s->alen + n + 1)
            cap *= 2;
        if (cap > UINT32_MAX)
            return -E2BIG;
        char *a = realloc(s->arena, cap);
        if (!a)
            return -ENOMEM;
        s->arena = a;
        s->acap = cap;
    }
    memcpy(s->arena + s->alen, p, n);
    s->arena[s->alen + n] = '\0';
    *off = (uint32_t)s->alen;
    s->alen += n + 1;
    return 0;
}

static void view_begin(struct sax *s)
{
    memset(&s->view, 0, sizeof(s->view));
    s->alen = 0;
    s->in_view = true;
    s->vtop = 1;
    s->vstack[0] = 0;
    s->knode = -1;
    s->nseen = 0;
}

/* Pointers into the arena once the object is complete (it may have moved). */
static void view_finish(struct sax *s)
{
    for (size_t i = 0; i < MODEL_VIEW_MAX; i++)
        if (s->view.v[i].set && s->off[i] != UINT32_MAX)
            s->view.v[i].s = s->arena + s->off[i];
    s->view.nkeys = 0;
    for (size_t i = 0; i < s->nseen && s->view.nkeys < MODEL_VIEW_KEYS; i++)
        if (s->seenobj[i])
            s->view.keys[s->view.nkeys++] = s->arena + s->keyoff[i];
}

static void slot_clear(struct sax *s, int16_t n)
{
    if (n >= 0 && s->trie[n].slot >= 0)
        s->view.v[s->trie[n].slot].set = false;
}

/* A member of the MF_KEYS object has its value (an object or not): as in
 * a json-c tree, a name keeps the place of its first occurrence and the
 * kind of its last value. */
static void member_seen(struct sax *s, bool obj)
{
    const char *k = s->arena + s->pendoff;
    for (size_t i = 0; i < s->nseen; i++)
        if (s->seenlen[i] == s->pendlen && memcmp(s->arena + s->keyoff[i], k, s->pendlen) == 0) {
            s->seenobj[i] = obj;
            return;
        }
    if (s->nseen < KEYS_SEEN) {
        s->keyoff[s->nseen] = s->pendoff;
        s->seenlen[s->nseen] = s->pendlen;
        s->seenobj[s->nseen++] = obj;
    }
}

static int item_done(struct sax *s);

/* One parse event inside an object going to the matcher. */
static int view_ev(struct sax *s, enum ev e, const char *p, size_t n)
{
    int16_t parent = s->vstack[s->vtop - 1];
    int16_t kn = s->knode;
    s->knode = -1;
    if (e == EV_KEY) {
        s->knode = trie_child(s, parent, p, n);
        if (s->trie[parent].prefix && s->trie[parent].slot >= 0 && n >= s->trie[parent].plen &&
            memcmp(p, s->trie[parent].prefix, s->trie[parent].plen) == 0)
            s->view.v[s->trie[parent].slot].b = true;
        if (s->trie[parent].keys) {
            s->pendlen = (uint32_t)n;
            return arena_put(s, p, n, &s->pendoff);
        }
        return 0;
    }
    if (e != EV_END) { /* a member's value: it replaces any earlier one of the same name */
        if (s->trie[parent].keys)
            member_seen(s, e == EV_MAP);
        if (kn >= 0) {
            uint32_t sub = s->trie[kn].sub;
            if (sub & s->keys_bit)
                s->nseen = 0;
            while (sub) {
                s->view.v[__builtin_ctz(sub)].set = false;
                sub &= sub - 1;
            }
        }
    }
    switch (e) {
    case EV_KEY:
        return 0;
    case EV_MAP: {
        if (kn >= 0) {
            struct tnode *t = &s->trie[kn];
            if (t->slot >= 0) {
                bool obj = t->kind == MF_OBJ || t->kind == MF_KEYS || t->kind == MF_PREFIX;
                s->view.v[t->slot].set = obj;
                s->view.v[t->slot].b = false;
                s->off[t->slot] = UINT32_MAX;
            }
            if (t->child >= 0 || t->keys || t->prefix) {
                s->vstack[s->vtop++] = kn;
                return 0;
            }
        }
        s->skip = 1;
        return 0;
    }
    case EV_ARRAY:
        slot_clear(s, kn);
        s->skip = 1;
        return 0;
    case EV_END:
        if (--s->vtop == 0)
            return item_done(s);
        return 0;
    case EV_STR:
        if (kn >= 0 && s->trie[kn].slot >= 0) {
            int16_t sl = s->trie[kn].slot;
            if (s->trie[kn].kind != MF_STR) {
                s->view.v[sl].set = false;
                return 0;
            }
            int rc = arena_put(s, p, n, &s->off[sl]);
            if (rc)
                return rc;
            s->view.v[sl].set = true;
            s->view.v[sl].len = n;
        }
        return 0;
    case EV_BOOL:
        if (kn >= 0 && s->trie[kn].slot >= 0) {
            int16_t sl = s->trie[kn].slot;
            s->view.v[sl].set = s->trie[kn].kind == MF_BOOL;
            s->view.v[sl].b = n != 0;
            s->off[sl] = UINT32_MAX;
        }
        return 0;
    case EV_NUM:
    case EV_NULL:
        slot_clear(s, kn);
        return 0;
    }
    return 0;
}

/* ---- json-c capture ---- */

static void dom_drop(struct sax *s)
{
    if (s->dtop > 0)
        json_object_put(s->dstack[0]);
    s->dtop = 0;
    s->cap = CAP_NONE;
}

static struct json_object *number(const char *p, size_t n)
{
    char tmp[64], *buf = tmp;
    if (n >= sizeof(tmp) && !(buf = malloc(n + 1)))
        return NULL;
    memcpy(buf, p, n);
    buf[n] = '\0';
    struct json_object *o;
    if (strpbrk(buf, ".eE")) {
        o = json_object_new_double(strtod(buf, NULL));
    } else {
        errno = 0;
        long long v = strtoll(buf, NULL, 10);
        o = errno == ERANGE ? json_object_new_double(strtod(buf, NULL)) : json_object_new_int64(v);
    }
    if (buf != tmp)
        free(buf);
    return o;
}

static int capture_done(struct sax *s, struct json_object *root);

/* Attaches v to the open container (or finishes the capture when none). */
static int dom_attach(struct sax *s, struct json_object *v, bool container)
{
    if (!v)
        return -ENOMEM;
    if (s->dtop > 0) {
        struct json_object *top = s->dstack[s->dtop - 1];
        int rc = json_object_is_type(top, json_type_array) ? json_object_array_add(top, v)
                                                            : json_object_object_add(top, s->dkey ? s->dkey : "", v);
        if (rc) {
            json_object_put(v);
            return -ENOMEM;
        }
        if (container)
            s->dstack[s->dtop++] = v;
        return 0;
    }
    if (container) {
        s->dstack[s->dtop++] = v;
        return 0;
    }
    return capture_done(s, v); /* a scalar list item */
}

static int dom_ev(struct sax *s, enum ev e, const char *p, size_t n)
{
    switch (e) {
    case EV_MAP:
        return dom_attach(s, json_object_new_object(), true);
    case EV_ARRAY:
        return dom_attach(s, json_object_new_array(), true);
    case EV_END:
        if (--s->dtop == 0)
            return capture_done(s, s->dstack[0]);
        return 0;
    case EV_KEY:
        if (n + 1 > s->dkey_cap) {
            char *k = realloc(s->dkey, n + 1);
            if (!k)
                return -ENOMEM;
            s->dkey = k;
            s->dkey_cap = n + 1;
        }
        memcpy(s->dkey, p, n);
        s->dkey[n] = '\0';
        return 0;
    case EV_STR:
        return dom_attach(s, json_object_new_string_len(p, (int)n), false);
    case EV_NUM:
        return dom_attach(s, number(p, n), false);
    case EV_BOOL:
        return dom_attach(s, json_object_new_boolean(n != 0), false);
    case EV_NULL:
        if (s->dtop > 0) {
            struct json_object *top = s->dstack[s->dtop - 1];
            if (json_object_is_type(top, json_type_array))
                return json_object_array_add(top, NULL) ? -ENOMEM : 0;
            return json_object_object_add(top, s->dkey ? s->dkey : "", NULL) ? -ENOMEM : 0;
        }
        return capture_done(s, NULL);
    }
    return 0;
}

/* ---- delivery ---- */

static int deliver(struct sax *s, const char *type, struct json_object *json, bool view)
{
    struct sax_item it = {.json = view ? NULL : json, .view = view ? &s->view : NULL};
    if (view)
        view_finish(s);
    int rc = s->cb(s->cbdata, type, &it);
    return rc;
}

/* A list item or an event object is complete. */
static int item_done(struct sax *s)
{
    s->in_view = false;
    if (s->mode == SAX_LIST)
        return deliver(s, NULL, NULL, true);
    s->obj_set = true; /* delivered with the event, whose type may come later */
    s->obj_view = true;
    return 0;
}

static int capture_done(struct sax *s, struct json_object *root)
{
    enum capture c = s->cap;
    s->cap = CAP_NONE;
    s->dtop = 0;
    if (c == CAP_LIST_MD) {
        s->list_md = root;
        return 0;
    }
    if (s->mode == SAX_LIST) {
        int rc = deliver(s, NULL, root, false);
        json_object_put(root);
        return rc;
    }
    json_object_put(s->djson);
    s->djson = root;
    s->obj_set = true;
    s->obj_view = false;
    return 0;
}

/* Starts an object (a list item or an event's "object"): to the matcher
 * when the type has a table and want_view, else into a json-c tree. */
static int object_begin(struct sax *s, enum ev e, const char *p, size_t n, bool want_view)
{
    if (want_view && s->ntrie > 0) {
        if (e == EV_MAP) {
            view_begin(s);
            return 0;
        }
        if (s->mode == SAX_LIST) { /* not an object: an item without fields */
            memset(&s->view, 0, sizeof(s->view));
            if (e == EV_ARRAY)
                s->skip = 1;
            return deliver(s, NULL, NULL, true);
        }
    }
    s->cap = CAP_ITEM;
    s->dtop = 0;
    return dom_ev(s, e, p, n);
}

static bool fast_type(const char *t)
{
    return strcmp(t, "ADDED") == 0 || strcmp(t, "MODIFIED") == 0 || strcmp(t, "DELETED") == 0 ||
           strcmp(t, "BOOKMARK") == 0;
}

/* ---- framing ---- */

static int watch_ev(struct sax *s, enum ev e, const char *p, size_t n)
{
    if (s->depth == 0) {
        if (e != EV_MAP)
            return -EBADMSG; /* an event is an object, nothing else */
        s->depth = 1;
        s->ev_start = s->tokpos;
        s->type_set = s->obj_set = false;
        s->key = FK_OTHER;
        json_object_put(s->djson);
        s->djson = NULL;
        return 0;
    }
    switch (e) {
    case EV_KEY:
        s->key = (n == 4 && memcmp(p, "type", 4) == 0)     ? FK_TYPE
                 : (n == 6 && memcmp(p, "object", 6) == 0) ? FK_OBJECT
                                                           : FK_OTHER;
        return 0;
    case EV_END: {
        s->depth = 0;
        size_t end = s->tokend;
        s->slice_end = end;
        if (s->fed + end - s->ev_start > s->max_event)
            return -E2BIG;
        if (!s->type_set || !s->obj_set)
            return -EBADMSG;
        int rc = deliver(s, s->type, s->djson, s->obj_view);
        json_object_put(s->djson);
        s->djson = NULL;
        s->obj_set = false;
        return rc;
    }
    case EV_STR:
        if (s->key == FK_TYPE) {
            size_t l = n < sizeof(s->type) - 1 ? n : sizeof(s->type) - 1;
            memcpy(s->type, p, l);
            s->type[l] = '\0';
            s->type_set = true;
        } else if (s->key == FK_OBJECT) {
            s->obj_set = false;
        }
        return 0;
    case EV_NUM:
    case EV_BOOL:
    case EV_NULL:
        if (s->key == FK_TYPE)
            s->type_set = false;
        else if (s->key == FK_OBJECT)
            s->obj_set = false;
        return 0;
    case EV_MAP:
        if (s->key == FK_OBJECT) {
            s->obj_set = false;
            json_object_put(s->djson);
            s->djson = NULL;
            return object_begin(s, e, p, n, s->type_set && fast_type(s->type));
        }
        s->skip = 1;
        return 0;
    case EV_ARRAY:
        if (s->key == FK_OBJECT)
            s->obj_set = false;
        else if (s->key == FK_TYPE)
            s->type_set = false;
        s->skip = 1;
        return 0;
    }
    return 0;
}

static int list_ev(struct sax *s, enum ev e, const char *p, size_t n)
{
    if (s->depth == 0) {
        if (e != EV_MAP || s->root_seen)
            return -EBADMSG;
        s->root_seen = true;
        s->depth = 1;
        return 0;
    }
    if (s->depth == 2) { /* inside "items" */
        if (e == EV_END) {
            s->depth = 1;
            return 0;
        }
        return object_begin(s, e, p, n, true);
    }
    switch (e) {
    case EV_KEY:
        s->key = (n == 5 && memcmp(p, "items", 5) == 0 && !s->items_seen) ? FK_ITEMS
                 : (n == 8 && memcmp(p, "metadata", 8) == 0)              ? FK_METADATA
                                                                          : FK_OTHER;
        return 0;
    case EV_END:
        s->depth = 0;
        s->list_done = true;
        return 0;
    case EV_ARRAY:
        if (s->key == FK_ITEMS) {
            s->items_seen = true;
            s->depth = 2;
            return 0;
        }
        s->skip = 1;
        return 0;
    case EV_MAP:
        if (s->key == FK_ITEMS)
            return -EBADMSG;
        if (s->key == FK_METADATA && !s->list_md) {
            s->cap = CAP_LIST_MD;
            s->dtop = 0;
            return dom_ev(s, e, NULL, 0);
        }
        s->skip = 1;
        return 0;
    case EV_NULL:
        if (s->key == FK_ITEMS)
            s->items_seen = true; /* "items": null, an empty list */
        return 0;
    default:
        return s->key == FK_ITEMS ? -EBADMSG : 0;
    }
}

/* One parse event outside skipped values, from either lexer. */
int sax__dispatch(struct sax *s, enum ev e, const char *p, size_t n)
{
    if (s->cap != CAP_NONE)
        return dom_ev(s, e, p, n);
    if (s->in_view)
        return view_ev(s, e, p, n);
    if (s->mode == SAX_WATCH)
        return watch_ev(s, e, p, n);
    return list_ev(s, e, p, n);
}

/* ---- API ---- */

struct sax *sax_new(const struct model_type *t, size_t max_event)
{
    struct sax *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->t = t;
    s->max_event = max_event ? max_event : SAX_DEFAULT_MAX_EVENT;
    if (trie_build(s) != 0 || sax_reset(s, SAX_WATCH) != 0) {
        sax_free(s);
        return NULL;
    }
    return s;
}

static void clear_state(struct sax *s)
{
    dom_drop(s);
    json_object_put(s->djson);
    json_object_put(s->list_md);
    s->djson = s->list_md = NULL;
}

void sax_free(struct sax *s)
{
    if (!s)
        return;
    clear_state(s);
    sax__yajl_free(s);
    free(s->arena);
    free(s->dkey);
    free(s->tbuf);
    free(s->dbuf);
    free(s);
}

#define TOKBUF_KEEP (64u * 1024) /* token buffers larger than this are freed by a reset */

int sax_reset(struct sax *s, enum sax_mode mode)
{
    clear_state(s);
    int rc = sax__yajl_reset(s, mode);
    if (rc)
        return rc;
    if (s->tcap > TOKBUF_KEEP) {
        free(s->tbuf);
        s->tbuf = NULL;
        s->tcap = 0;
    }
    if (s->dcap > TOKBUF_KEEP) {
        free(s->dbuf);
        s->dbuf = NULL;
        s->dcap = 0;
    }
    s->mode = mode;
    s->rc = 0;
    s->failed = false;
    s->nest = s->depth = s->skip = 0;
    s->key = FK_OTHER;
    s->fed = 0;
    s->type_set = s->obj_set = false;
    s->root_seen = s->items_seen = s->list_done = false;
    s->in_view = false;
    s->alen = 0;
    sax__lex_reset(s);
    return 0;
}

int sax_use_yajl(struct sax *s, bool yajl)
{
    s->yajl = yajl;
    return sax_reset(s, SAX_WATCH);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int feed_slice(struct sax *s, const char *p, size_t len)
{
    return s->yajl ? sax__yajl_slice(s, p, len) : sax__lex_slice(s, (const uint8_t *)p, len);
}

int sax_feed(struct sax *s, const char *p, size_t n, sax_item_cb cb, void *data)
{
    if (s->failed)
        return -EBADMSG; /* as yajl answers after an error */
    s->cb = cb;
    s->cbdata = data;
    size_t off = 0;
    while (off < n) {
        size_t len = n - off < SLICE ? n - off : SLICE;
        s->slice_end = 0;
        s->rc = 0;
        int rc = feed_slice(s, p + off, len);
        if (rc == 0 && s->mode == SAX_WATCH) {
            if (s->depth == 0 && s->nest == 0) {
                /* between events: only whitespace may follow the last one
                 * (a partial token at the top level is not an event) */
                for (size_t i = s->slice_end; i < len && rc == 0; i++)
                    if (!is_ws(p[off + i]))
                        rc = -EBADMSG;
            } else if (s->fed + len - s->ev_start > s->max_event) {
                rc = -E2BIG;
            }
        }
        if (rc) {
            s->failed = true;
            return rc;
        }
        s->fed += len;
        off += len;
    }
    return 0;
}

int sax_finish(struct sax *s)
{
    if (s->mode == SAX_WATCH)
        return s->depth > 0 ? -EBADMSG : 0;
    if (!s->list_done || !s->items_seen || s->failed)
        return -EBADMSG;
    if (s->yajl)
        return sax__yajl_finish(s);
    return sax__lex_list_end_ok(s) ? 0 : -EBADMSG;
}

struct json_object *sax_list_metadata(const struct sax *s)
{
    return s->list_md;
}

size_t sax_copied_bytes(const struct sax *s)
{
    return s->alen;
}
