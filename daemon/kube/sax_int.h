/* Internals of the streaming parser (sax.h), shared by its three files:
 * sax.c (framing, the matcher of field tables, json-c trees, the API),
 * sax_lex.c (the own lexer) and sax_yajl.c (yajl, the reference lexer for
 * tests and benchmarks). Both lexers turn bytes into parse events and call
 * sax__dispatch for each event outside a skipped value. */
#ifndef ABC_KUBE_SAX_INT_H
#define ABC_KUBE_SAX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_parse.h>

#include "kube/sax.h"
#include "model/fields.h"

#define SAX_DEFAULT_MAX_EVENT (16u << 20)
#define TRIE_MAX 96
#define SLICE (64u * 1024) /* bytes lexed per call: the event bound is checked between */
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
    bool bad;            /* the open token is not allowed here: an error once it is lexed,
                          * as yajl lexes a token before it checks the grammar */
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

/* One parse event outside skipped values (sax.c): 0, or an error to stop with. */
int sax__dispatch(struct sax *s, enum ev e, const char *p, size_t n);

/* The own lexer (sax_lex.c): its state to the start of a document; one
 * slice (0 or an error); whether a list ends well here (sax_finish). */
void sax__lex_reset(struct sax *s);
int sax__lex_slice(struct sax *s, const uint8_t *p, size_t n);
bool sax__lex_list_end_ok(const struct sax *s);

/* yajl in its place (sax_yajl.c), when s->yajl: a handle for mode (0 or
 * -ENOMEM), one slice, the end of a list (0 or -EBADMSG), the handle freed. */
int sax__yajl_reset(struct sax *s, enum sax_mode mode);
int sax__yajl_slice(struct sax *s, const char *p, size_t n);
int sax__yajl_finish(struct sax *s);
void sax__yajl_free(struct sax *s);

#endif
