/* List pages and watch events through yajl (sax.h). Every yajl callback
 * becomes one call of on_ev; a small state machine on top of it frames the
 * answer (list root and "items", or watch events with "type" and
 * "object"), and each object goes either to the matcher, which walks a
 * trie compiled from the type's field table and copies only the matched
 * values into an arena, or to a json-c tree builder. */
#include "kube/sax.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <yajl/yajl_parse.h>

#include "model/fields.h"
#include "model/model.h"

#define SAX_DEFAULT_MAX_EVENT (16u << 20)
#define TRIE_MAX 96
#define SLICE (64u * 1024) /* bytes per yajl_parse call: the event bound is checked between */
#define KEYS_SEEN 128 /* members of an MF_KEYS object remembered (json-c: all) */

enum ev { EV_MAP, EV_ARRAY, EV_END, EV_KEY, EV_STR, EV_NUM, EV_BOOL, EV_NULL };

struct tnode {
    const char *key;
    size_t klen;
    int16_t child, sibling;
    int16_t slot; /* field index, -1 none */
    uint8_t kind; /* enum model_field_kind of the slot */
    bool keys;    /* MF_KEYS: record the names of object members */
    const char *prefix; /* MF_PREFIX: a key starting with it sets the slot's b */
    size_t plen;
    uint32_t sub; /* slots of this node and the nodes below it */
};

enum fkey { FK_OTHER, FK_TYPE, FK_OBJECT, FK_ITEMS, FK_METADATA };
enum capture { CAP_NONE, CAP_ITEM, CAP_LIST_MD };

struct sax {
    yajl_handle h;      /* the reference lexer (sax_use_yajl), else NULL */
    bool yajl;
    enum sax_mode mode;
    const struct model_type *t;
    size_t max_event;
    struct tnode trie[TRIE_MAX];
    int ntrie; /* 0: no table, json-c trees only */

    int rc;        /* why a callback cancelled the parse */
    sax_item_cb cb;
    void *cbdata;
    int nest;      /* open containers, all levels */
    int depth;     /* open containers of the framing (list root / items, event) */
    int skip;      /* > 0: inside a value being skipped */
    enum fkey key; /* the framing's current member */

    /* watch framing */
    uint64_t fed;       /* bytes lexed before the current slice */
    uint64_t ev_start;  /* offset of the current event's '{' */
    size_t slice_end;   /* end of the last event inside the current slice */
    uint64_t tokpos;    /* offset of the '{' or '[' being dispatched */
    size_t tokend;      /* offset in the slice after the '}' or ']' being dispatched */

    /* own lexer (lex.c-style state, resumable at any byte) */
    uint8_t gs;          /* enum gstate: what the grammar expects next */
    uint8_t tk;          /* enum tok: a token left open at the end of the last slice */
    uint8_t tsub;        /* number state, or literal position */
    uint8_t lit;         /* which literal */
    uint8_t hex;         /* \u hex digits still expected */
    bool esc;            /* after a backslash */
    bool tesc;           /* the open string has escapes */
    uint8_t ctype[(SAX_MAX_DEPTH + 7) / 8]; /* open containers: bit set = object */
    char *tbuf;          /* raw bytes of a token split across slices (+1 sentinel) */
    size_t tlen, tcap;
    char *dbuf;          /* a decoded string */
    size_t dcap;
    bool failed;         /* an error: feeding again needs a reset */
    char type[64];
    bool type_set, obj_set;
    bool obj_view;      /* the object went to the matcher (else json) */

    /* list framing */
    bool root_seen, items_seen, list_done;
    struct json_object *list_md;

    /* json-c capture */
    enum capture cap;
    struct json_object *dstack[SAX_MAX_DEPTH];
    int dtop;
    struct json_object *djson; /* the finished object until delivered */
    char *dkey;
    size_t dkey_cap;

    /* matcher */
    bool in_view;
    int16_t vstack[SAX_MAX_DEPTH];
    int vtop;
    int16_t knode; /* trie node of the last key, -1 none */
    uint32_t keys_bit;  /* the MF_KEYS slot's bit, 0 none */
    uint32_t pendoff;   /* the last member name of the MF_KEYS object, in the arena */
    uint32_t pendlen;
    size_t nseen;       /* its members so far, first occurrences in order */
    uint32_t seenlen[KEYS_SEEN];
    bool seenobj[KEYS_SEEN]; /* the member's last value is an object */
    struct model_view view;
    uint32_t off[MODEL_VIEW_MAX];
    uint32_t keyoff[KEYS_SEEN];
    char *arena;
    size_t alen, acap;
};

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
static int dispatch(struct sax *s, enum ev e, const char *p, size_t n)
{
    if (s->cap != CAP_NONE)
        return dom_ev(s, e, p, n);
    if (s->in_view)
        return view_ev(s, e, p, n);
    if (s->mode == SAX_WATCH)
        return watch_ev(s, e, p, n);
    return list_ev(s, e, p, n);
}

/* ---- the own lexer ----
 * A JSON lexer and grammar check in one state machine, resumable at any
 * byte: a token cut by the end of a slice is kept (its bytes only when they
 * will be dispatched) and finished by the next slice. Inside a skipped
 * value nothing is dispatched or copied: strings are stepped over eight
 * bytes at a time, and only the grammar is checked, so bad input gets the
 * answers it got from yajl (configured as in sax_reset): the same grammar,
 * yajl's whitespace (\v and \f too), control characters refused inside
 * strings, bytes >= 0x80 taken as sent (no UTF-8 check), escapes decoded
 * as yajl decodes them. */

enum gstate { G_TOP, G_DONE, G_VALUE, G_AVALUE, G_OKEY, G_KEY, G_COLON, G_AFTER };
enum tok { TK_NONE, TK_STR, TK_KEY, TK_NUM, TK_LIT };
enum nstate { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

#define C_STOP 2 /* ends a run of plain string bytes: '"', '\\', control characters */
#define C_HEX 4  /* a \u digit */
#define C_ESC 8  /* may follow a backslash, besides 'u' */

static const uint8_t cls[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    1, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0,
    0, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0,
    0, 4, 12, 4, 4, 4, 12, 0, 0, 0, 0, 0, 0, 0, 8, 0,
    0, 0, 8, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static const char *const lits[] = {"true", "false", "null"};

static inline bool accepts_value(uint8_t gs)
{
    return gs == G_VALUE || gs == G_AVALUE || gs == G_TOP;
}

static inline bool top_is_obj(const struct sax *s)
{
    unsigned d = (unsigned)s->nest - 1;
    return (s->ctype[d >> 3] >> (d & 7)) & 1;
}

static inline void after_value(struct sax *s)
{
    s->gs = s->nest > 0 ? G_AFTER : s->mode == SAX_WATCH ? G_TOP : G_DONE;
}

/* Appends [a, b) to the open token's bytes, keeping room for a sentinel. */
static int tok_save(struct sax *s, const uint8_t *a, const uint8_t *b)
{
    size_t n = (size_t)(b - a);
    if (s->tlen + n + 1 > s->tcap) {
        size_t cap = s->tcap ? s->tcap : 256;
        while (cap < s->tlen + n + 1)
            cap *= 2;
        char *t = realloc(s->tbuf, cap);
        if (!t)
            return -ENOMEM;
        s->tbuf = t;
        s->tcap = cap;
    }
    memcpy(s->tbuf + s->tlen, a, n);
    s->tlen += n;
    return 0;
}

/* A bit set in the byte of v (little-endian) that is '"', '\\' or below
 * 0x20; the lowest set bit is exact (borrows only reach higher bytes). */
static inline uint64_t swar_stop(uint64_t v)
{
    const uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    uint64_t q = v ^ 0x2222222222222222ull, b = v ^ 0x5c5c5c5c5c5c5c5cull;
    return (((q - lo) & ~q) | ((b - lo) & ~b) | ((v - 0x2020202020202020ull) & ~v)) & hi;
}

/* The first byte of [q, e) that is '"', '\\' or a control character, or e. */
static inline const uint8_t *str_plain(const uint8_t *q, const uint8_t *e)
{
    while (e - q >= 8) {
        uint64_t v;
        memcpy(&v, q, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        uint64_t m = swar_stop(v);
        if (m)
            return q + (__builtin_ctzll(m) >> 3);
#else
        if (swar_stop(v))
            break;
#endif
        q += 8;
    }
    while (q < e && !(cls[*q] & C_STOP))
        q++;
    return q;
}

/* An escape's bytes from *qp (after a backslash or inside \u digits): 1
 * when done, 0 at the end of the slice, -EBADMSG. */
static int esc_run(struct sax *s, const uint8_t **qp, const uint8_t *e)
{
    const uint8_t *q = *qp;
    while (s->esc || s->hex) {
        if (q == e) {
            *qp = q;
            return 0;
        }
        uint8_t c = *q++;
        if (s->hex) {
            if (!(cls[c] & C_HEX))
                return -EBADMSG;
            s->hex--;
        } else {
            s->esc = false;
            if (c == 'u')
                s->hex = 4;
            else if (!(cls[c] & C_ESC))
                return -EBADMSG;
        }
    }
    *qp = q;
    return 1;
}

/* String bytes from *qp. 1 at the closing quote (*cend at it, *qp after
 * it), 0 at the end of the slice (*qp = e), -EBADMSG. */
static inline int str_run(struct sax *s, const uint8_t **qp, const uint8_t *e, const uint8_t **cend)
{
    const uint8_t *q = *qp;
    for (;;) {
        if (__builtin_expect(s->esc || s->hex, 0)) {
            int rc = esc_run(s, &q, e);
            if (rc <= 0) {
                *qp = q;
                return rc;
            }
        }
        q = str_plain(q, e);
        if (q == e)
            break;
        if (*q == '"') {
            *cend = q;
            *qp = q + 1;
            return 1;
        }
        if (*q != '\\')
            return -EBADMSG; /* a control character */
        s->esc = true;
        s->tesc = true;
        q++;
    }
    *qp = q;
    return 0;
}

/* Number bytes from *qp (its first byte already read into s->tsub). 1 when
 * the number ended before *qp, 0 at the end of the slice, -EBADMSG. */
static int num_run(struct sax *s, const uint8_t **qp, const uint8_t *e)
{
    const uint8_t *q = *qp;
    uint8_t st = s->tsub;
    int rc = 0;
    for (; q < e; q++) {
        uint8_t c = *q;
        bool dig = c >= '0' && c <= '9';
        switch (st) {
        case N_MINUS:
            if (!dig)
                return -EBADMSG;
            st = c == '0' ? N_ZERO : N_INT;
            continue;
        case N_ZERO:
        case N_INT:
            if (dig && st == N_INT)
                continue;
            if (c == '.')
                st = N_DOT;
            else if (c == 'e' || c == 'E')
                st = N_E;
            else
                break;
            continue;
        case N_DOT:
            if (!dig)
                return -EBADMSG;
            st = N_FRAC;
            continue;
        case N_FRAC:
            if (dig)
                continue;
            if (c == 'e' || c == 'E') {
                st = N_E;
                continue;
            }
            break;
        case N_E:
            if (c == '+' || c == '-') {
                st = N_ESIGN;
                continue;
            }
            if (!dig)
                return -EBADMSG;
            st = N_EXP;
            continue;
        case N_ESIGN:
            if (!dig)
                return -EBADMSG;
            st = N_EXP;
            continue;
        case N_EXP:
            if (dig)
                continue;
            break;
        }
        rc = 1;
        break;
    }
    s->tsub = st;
    *qp = q;
    return rc;
}

/* Literal bytes from *qp. 1 when complete, 0 at the end of the slice, -EBADMSG. */
static int lit_run(struct sax *s, const uint8_t **qp, const uint8_t *e)
{
    const char *l = lits[s->lit];
    const uint8_t *q = *qp;
    while (l[s->tsub]) {
        if (q == e) {
            *qp = q;
            return 0;
        }
        if (*q++ != (uint8_t)l[s->tsub])
            return -EBADMSG;
        s->tsub++;
    }
    *qp = q;
    return 1;
}

/* The value of 4 hex digits (checked by the lexer). */
static unsigned hex4(const uint8_t *h)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = h[i];
        if (c >= 'A')
            c = (unsigned char)((c & ~0x20) - 7);
        c = (unsigned char)(c - '0');
        v = (v << 4) | c;
    }
    return v;
}

static size_t utf8_put(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)((cp >> 6) | 0xC0);
        o[1] = (char)((cp & 0x3F) | 0x80);
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)((cp >> 12) | 0xE0);
        o[1] = (char)(((cp >> 6) & 0x3F) | 0x80);
        o[2] = (char)((cp & 0x3F) | 0x80);
        return 3;
    }
    if (cp < 0x200000) {
        o[0] = (char)((cp >> 18) | 0xF0);
        o[1] = (char)(((cp >> 12) & 0x3F) | 0x80);
        o[2] = (char)(((cp >> 6) & 0x3F) | 0x80);
        o[3] = (char)((cp & 0x3F) | 0x80);
        return 4;
    }
    o[0] = '?';
    return 1;
}

/* The escapes of a lexed string decoded into s->dbuf, byte for byte as
 * Debian's yajl 2.1 decodes them: a high surrogate followed by any \u
 * escape is combined with it, one that is not becomes '?', a lone low
 * surrogate is encoded as it is. */
static int decode(struct sax *s, const uint8_t *str, size_t len, size_t *out)
{
    if (len + 1 > s->dcap) {
        char *d = realloc(s->dbuf, len + 1);
        if (!d)
            return -ENOMEM;
        s->dbuf = d;
        s->dcap = len + 1;
    }
    char *o = s->dbuf;
    size_t beg = 0, end = 0;
    while (end < len) {
        if (str[end] != '\\') {
            end++;
            continue;
        }
        memcpy(o, str + beg, end - beg);
        o += end - beg;
        char u[4] = {'?'};
        size_t ulen = 1;
        switch (str[++end]) {
        case 'r': u[0] = '\r'; break;
        case 'n': u[0] = '\n'; break;
        case '\\': u[0] = '\\'; break;
        case '/': u[0] = '/'; break;
        case '"': u[0] = '"'; break;
        case 'f': u[0] = '\f'; break;
        case 'b': u[0] = '\b'; break;
        case 't': u[0] = '\t'; break;
        default: { /* 'u' and 4 hex digits (the lexer checked them) */
            unsigned cp = hex4(str + end + 1);
            end += 4;
            if ((cp & 0xFC00) == 0xD800) {
                if (end + 2 < len && str[end + 1] == '\\' && str[end + 2] == 'u') {
                    unsigned lo = hex4(str + end + 3);
                    cp = ((cp & 0x3F) << 10) | ((((cp >> 6) & 0xF) + 1) << 16) | (lo & 0x3FF);
                    end += 6;
                } else {
                    break; /* '?' */
                }
            }
            ulen = utf8_put(cp, u);
            break;
        }
        }
        memcpy(o, u, ulen);
        o += ulen;
        beg = ++end;
    }
    memcpy(o, str + beg, end - beg);
    o += end - beg;
    *out = (size_t)(o - s->dbuf);
    return 0;
}

static inline int lex_open(struct sax *s, bool obj, uint64_t pos)
{
    if (!accepts_value(s->gs) || ++s->nest > SAX_MAX_DEPTH)
        return -EBADMSG;
    unsigned d = (unsigned)s->nest - 1;
    if (obj)
        s->ctype[d >> 3] |= (uint8_t)(1u << (d & 7));
    else
        s->ctype[d >> 3] &= (uint8_t)~(1u << (d & 7));
    s->gs = obj ? G_OKEY : G_AVALUE;
    if (s->skip) {
        s->skip++;
        return 0;
    }
    s->tokpos = pos;
    return dispatch(s, obj ? EV_MAP : EV_ARRAY, NULL, 0);
}

static inline int lex_close(struct sax *s, bool obj, size_t end)
{
    if ((s->gs != G_AFTER && s->gs != (obj ? G_OKEY : G_AVALUE)) || s->nest == 0 || top_is_obj(s) != obj)
        return -EBADMSG;
    s->nest--;
    after_value(s);
    if (s->skip) {
        s->skip--;
        return 0;
    }
    s->tokend = end;
    return dispatch(s, EV_END, NULL, 0);
}

/* A string complete: p[n] is its closing quote. */
static inline int str_done(struct sax *s, bool key, const uint8_t *p, size_t n)
{
    if (s->gs == G_DONE)
        return -EBADMSG; /* a string after the list */
    if (key)
        s->gs = G_COLON;
    else
        after_value(s);
    if (s->skip)
        return 0;
    if (s->tesc) {
        int rc = decode(s, p, n, &n);
        if (rc)
            return rc;
        p = (const uint8_t *)s->dbuf;
    }
    return dispatch(s, key ? EV_KEY : EV_STR, (const char *)p, n);
}

static inline int scalar_done(struct sax *s, enum ev e, const char *p, size_t n)
{
    after_value(s);
    return s->skip ? 0 : dispatch(s, e, p, n);
}

static int lit_done(struct sax *s)
{
    return s->lit == 2 ? scalar_done(s, EV_NULL, NULL, 0) : scalar_done(s, EV_BOOL, NULL, s->lit == 0);
}

/* Finishes the token the last slice left open. */
static int lex_resume(struct sax *s, const uint8_t **qp, const uint8_t *e)
{
    const uint8_t *start = *qp;
    int rc, rc2;
    switch (s->tk) {
    case TK_STR:
    case TK_KEY: {
        const uint8_t *cend = NULL;
        if ((rc = str_run(s, qp, e, &cend)) < 0)
            return rc;
        if (!s->skip && (rc2 = tok_save(s, start, rc ? cend : e)) != 0)
            return rc2;
        if (rc == 0)
            return 0;
        bool key = s->tk == TK_KEY;
        s->tk = TK_NONE;
        if (s->skip)
            return str_done(s, key, NULL, 0);
        s->tbuf[s->tlen] = '"';
        return str_done(s, key, (const uint8_t *)s->tbuf, s->tlen);
    }
    case TK_NUM:
        if ((rc = num_run(s, qp, e)) < 0)
            return rc;
        if (!s->skip && (rc2 = tok_save(s, start, *qp)) != 0)
            return rc2;
        if (rc == 0)
            return 0;
        s->tk = TK_NONE;
        return scalar_done(s, EV_NUM, s->tbuf, s->tlen);
    case TK_LIT:
        if ((rc = lit_run(s, qp, e)) <= 0)
            return rc;
        s->tk = TK_NONE;
        return lit_done(s);
    default:
        return 0;
    }
}

/* One slice through the own lexer: 0 or an error. */
static int lex_slice(struct sax *s, const uint8_t *p, size_t n)
{
    const uint8_t *q = p, *e = p + n;
    int rc;
    if (s->tk != TK_NONE && (rc = lex_resume(s, &q, e)) != 0)
        return rc;
    while (q < e) {
        uint8_t c = *q;
        switch (c) {
        case ' ':
        case '\n':
        case '\r':
        case '\t':
        case '\v':
        case '\f':
            q++;
            continue;
        case '{':
        case '[':
            rc = lex_open(s, c == '{', s->fed + (uint64_t)(q - p));
            q++;
            break;
        case '}':
        case ']':
            q++;
            rc = lex_close(s, c == '}', (size_t)(q - p));
            break;
        case ',':
            if (s->gs != G_AFTER)
                return -EBADMSG;
            s->gs = top_is_obj(s) ? G_KEY : G_VALUE;
            q++;
            continue;
        case ':':
            if (s->gs != G_COLON)
                return -EBADMSG;
            s->gs = G_VALUE;
            q++;
            continue;
        case '"': {
            bool key = s->gs == G_OKEY || s->gs == G_KEY;
            if (!key && !accepts_value(s->gs) && s->gs != G_DONE)
                return -EBADMSG;
            const uint8_t *start = ++q, *cend = NULL;
            s->tesc = false;
            if ((rc = str_run(s, &q, e, &cend)) < 0)
                return rc;
            if (rc == 0) {
                s->tk = key ? TK_KEY : TK_STR;
                s->tlen = 0;
                return s->skip ? 0 : tok_save(s, start, e);
            }
            rc = str_done(s, key, start, (size_t)(cend - start));
            break;
        }
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9': {
            if (!accepts_value(s->gs))
                return -EBADMSG;
            s->tsub = c == '-' ? N_MINUS : c == '0' ? N_ZERO : N_INT;
            const uint8_t *start = q++;
            if ((rc = num_run(s, &q, e)) < 0)
                return rc;
            if (rc == 0) {
                s->tk = TK_NUM;
                s->tlen = 0;
                return s->skip ? 0 : tok_save(s, start, e);
            }
            rc = scalar_done(s, EV_NUM, (const char *)start, (size_t)(q - start));
            break;
        }
        case 't':
        case 'f':
        case 'n':
            if (!accepts_value(s->gs))
                return -EBADMSG;
            s->lit = c == 't' ? 0 : c == 'f' ? 1 : 2;
            s->tsub = 1;
            q++;
            if ((rc = lit_run(s, &q, e)) < 0)
                return rc;
            if (rc == 0) {
                s->tk = TK_LIT;
                return 0;
            }
            rc = lit_done(s);
            break;
        default:
            return -EBADMSG;
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the reference lexer: yajl (sax_use_yajl) ---- */

/* Every yajl callback outside skipped values lands here. */
static int on_ev(struct sax *s, enum ev e, const char *p, size_t n)
{
    if (e == EV_MAP || e == EV_ARRAY) {
        if (++s->nest > SAX_MAX_DEPTH) {
            s->rc = -EBADMSG;
            return 0;
        }
        s->tokpos = s->fed + yajl_get_bytes_consumed(s->h) - 1;
    } else if (e == EV_END) {
        s->nest--;
        s->tokend = yajl_get_bytes_consumed(s->h);
    }
    int rc = dispatch(s, e, p, n);
    if (rc) {
        s->rc = rc;
        return 0;
    }
    return 1;
}

/* The callbacks step over skipped values themselves, without a call into
 * on_ev. */
static int cb_null(void *c)
{
    struct sax *s = c;
    return s->skip ? 1 : on_ev(s, EV_NULL, NULL, 0);
}
static int cb_bool(void *c, int b)
{
    struct sax *s = c;
    return s->skip ? 1 : on_ev(s, EV_BOOL, NULL, b ? 1 : 0);
}
static int cb_number(void *c, const char *p, size_t n)
{
    struct sax *s = c;
    return s->skip ? 1 : on_ev(s, EV_NUM, p, n);
}
static int cb_string(void *c, const unsigned char *p, size_t n)
{
    struct sax *s = c;
    return s->skip ? 1 : on_ev(s, EV_STR, (const char *)p, n);
}
static int cb_key(void *c, const unsigned char *p, size_t n)
{
    struct sax *s = c;
    return s->skip ? 1 : on_ev(s, EV_KEY, (const char *)p, n);
}
static int skip_open(struct sax *s)
{
    if (++s->nest > SAX_MAX_DEPTH) {
        s->rc = -EBADMSG;
        return 0;
    }
    s->skip++;
    return 1;
}
static int cb_start_map(void *c)
{
    struct sax *s = c;
    return s->skip ? skip_open(s) : on_ev(s, EV_MAP, NULL, 0);
}
static int cb_start_array(void *c)
{
    struct sax *s = c;
    return s->skip ? skip_open(s) : on_ev(s, EV_ARRAY, NULL, 0);
}
static int cb_end(void *c)
{
    struct sax *s = c;
    if (s->skip) {
        s->nest--;
        s->skip--;
        return 1;
    }
    return on_ev(s, EV_END, NULL, 0);
}

static const yajl_callbacks callbacks = {
    cb_null, cb_bool, NULL, NULL, cb_number, cb_string, cb_start_map, cb_key, cb_end, cb_start_array, cb_end,
};

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
    if (s->h)
        yajl_free(s->h);
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
    if (s->h)
        yajl_free(s->h);
    s->h = NULL;
    if (s->yajl) {
        s->h = yajl_alloc(&callbacks, NULL, s);
        if (!s->h)
            return -ENOMEM;
        /* Strings are not checked for UTF-8: a name with invalid bytes is
         * taken as sent, as it always was. */
        yajl_config(s->h, yajl_dont_validate_strings, 1);
        if (mode == SAX_WATCH)
            yajl_config(s->h, yajl_allow_multiple_values, 1);
    }
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
    s->gs = G_TOP;
    s->tk = TK_NONE;
    s->esc = false;
    s->hex = 0;
    s->tlen = 0;
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
    if (!s->yajl)
        return lex_slice(s, (const uint8_t *)p, len);
    yajl_status st = yajl_parse(s->h, (const unsigned char *)p, len);
    if (st == yajl_status_client_canceled)
        return s->rc ? s->rc : -EBADMSG;
    return st == yajl_status_ok ? 0 : -EBADMSG;
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
        return yajl_complete_parse(s->h) == yajl_status_ok ? 0 : -EBADMSG;
    /* yajl finishes by lexing one more space: a string left open after the
     * list is taken (unless inside an escape), any other token is not */
    return s->gs == G_DONE && (s->tk == TK_NONE || (s->tk == TK_STR && !s->esc && !s->hex)) ? 0 : -EBADMSG;
}

struct json_object *sax_list_metadata(const struct sax *s)
{
    return s->list_md;
}

size_t sax_copied_bytes(const struct sax *s)
{
    return s->alen;
}
