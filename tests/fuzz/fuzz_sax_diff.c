/* libFuzzer, differential: the same bytes through kube/sax.c with its own
 * lexer and with yajl (the lexer it replaced; sax_use_yajl), for one
 * table-driven type or json-c trees, as a watch stream or a list page, cut
 * in two at an offset and fed in chunks, both taken from the input's first
 * two bytes: both must deliver the same items (types, views, trees, list
 * metadata) and end with the same answer (0, -EBADMSG, -E2BIG).
 * Then, for a list page both accepted, json-c (strict) parses the same
 * bytes and model_view_from_json must read from each item what the
 * streaming matcher read (escapes of surrogates and NUL aside, which the
 * parsers decode differently, and pages with several "items" or
 * "metadata" members, of which the streaming parser reads the first). */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/sax_trace.h"

static const struct model_type *const types[] = {&model_pv_type,         &model_pvc_type,
                                                 &model_storageclass_type, &model_csidriver_type,
                                                 &model_snapshotclass_type, &model_snapshot_type,
                                                 &model_node_type,       NULL};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static bool has(const uint8_t *p, size_t n, const char *needle)
{
    return memmem(p, n, needle, strlen(needle)) != NULL;
}

/* \u escapes json-c and yajl decode differently: surrogates and NUL. */
static bool odd_escapes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 5 < n; i++)
        if (p[i] == '\\' && p[i + 1] == 'u') {
            uint8_t c = p[i + 2] | 0x20;
            if (c == 'd' && (p[i + 3] | 0x20) >= '8')
                return true;
            if (p[i + 2] == '0' && p[i + 3] == '0' && p[i + 4] == '0' && p[i + 5] == '0')
                return true;
        }
    return false;
}

static void against_json_c(const struct model_type *t, const uint8_t *p, size_t n, const struct sax_trace *own)
{
    if (odd_escapes(p, n) || !has(p, n, "\"items\""))
        return;
    const uint8_t *first = memmem(p, n, "\"items\"", 7);
    if (memmem(first + 7, n - (size_t)(first + 7 - p), "\"items\"", 7))
        return; /* several: json-c keeps the last */
    struct json_tokener *tok = json_tokener_new_ex(SAX_MAX_DEPTH + 2);
    if (!tok)
        return;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *root = json_tokener_parse_ex(tok, (const char *)p, (int)n), *items = NULL;
    bool whole = root && json_tokener_get_parse_end(tok) == n;
    json_tokener_free(tok);
    if (!whole || !json_object_object_get_ex(root, "items", &items)) {
        json_object_put(root);
        return;
    }
    struct sax_trace jt;
    memset(&jt, 0, sizeof(jt));
    jt.t = t;
    sax_trace_put(&jt, "", 0);
    for (size_t i = 0; json_object_is_type(items, json_type_array) && i < json_object_array_length(items); i++) {
        struct model_view v;
        struct json_object *it = json_object_array_get_idx(items, i);
        if (json_object_is_type(it, json_type_object))
            model_view_from_json(t->fields, it, &v);
        else
            memset(&v, 0, sizeof(v));
        struct sax_item si = {.view = &v};
        sax_trace_item(&jt, NULL, &si);
    }
    const char *md = NULL; /* the list's metadata, last in the trace */
    for (const char *m = own->b; (m = strstr(m, "\nmetadata ")) != NULL; m++)
        md = m;
    size_t ownlen = md ? (size_t)(md - own->b) : own->n;
    if (ownlen != jt.n || memcmp(own->b, jt.b, ownlen) != 0) {
        fprintf(stderr, "streaming matcher '%.*s'\njson-c '%s'\n", (int)ownlen, own->b, jt.b);
        abort();
    }
    free(jt.b);
    json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned sel = data[0], cut = data[1];
    data += 2;
    size -= 2;
    const struct model_type *t = types[sel % NTYPES];
    enum sax_mode mode = (sel >> 3) & 1 ? SAX_LIST : SAX_WATCH;
    size_t max_event = (sel & 0x80) ? 32 + (size_t)cut * 4 : 0;
    size_t split = (size_t)cut * 131 % (size + 1);
    size_t chunk = (sel & 0x40) ? 1 + cut % 7 : size + 1;
    struct sax_trace a, b;
    int ra = sax_trace_run(t, false, mode, max_event, (const char *)data, size, split, chunk, &a);
    int rb = sax_trace_run(t, true, mode, max_event, (const char *)data, size, split, chunk, &b);
    if (ra != rb || strcmp(a.b, b.b) != 0) {
        fprintf(stderr, "own lexer %d '%s'\nyajl %d '%s'\n", ra, a.b, rb, b.b);
        abort();
    }
    if (ra == 0 && mode == SAX_LIST && t && t->fields)
        against_json_c(t, data, size, &a);
    free(a.b);
    free(b.b);
    return 0;
}
