/* libFuzzer: the watch-stream parser fed arbitrary bytes in arbitrary
 * chunkings. The first byte seeds the chunk sizes; every event delivered is
 * run through every model extractor, as the reflector would. The same bytes
 * then go through the streaming matcher (kube/sax.c) of every table-driven
 * type, as a watch stream and as a list page, and each record is built from
 * the matched fields. */
#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

#include "kube/sax.h"
#include "kube/watchparse.h"
#include "model/fields.h"
#include "model/records.h"

static const struct model_type *const types[] = {&model_pv_type, &model_pvc_type, &model_storageclass_type,
                                                 &model_csidriver_type, &model_snapshotclass_type,
                                                 &model_snapshot_type, &model_node_type};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static int on_event(void *data, const char *type, struct json_object *obj)
{
    (void)data;
    (void)type;
    for (size_t i = 0; i < NTYPES; i++) {
        void *rec = NULL;
        if (types[i]->extract(types[i], obj, &rec) == 0 && rec)
            types[i]->free(rec);
    }
    struct model_type pod = model_pod_type("dataprotection-microsoft", "a=b");
    void *rec = NULL;
    if (pod.extract(&pod, obj, &rec) == 0 && rec)
        pod.free(rec);
    return 0;
}

static int on_item(void *data, const char *type, const struct sax_item *it)
{
    const struct model_type *t = data;
    (void)type;
    void *rec = NULL;
    int rc = it->view ? model_view_extract(t, it->view, &rec) : t->extract(t, it->json, &rec);
    if (rc == 0 && rec)
        t->free(rec);
    return 0;
}

static void run_sax(const struct model_type *t, enum sax_mode mode, unsigned seed, const uint8_t *data, size_t size)
{
    struct sax *s = sax_new(t, 1u << 20);
    if (!s)
        return;
    if (sax_reset(s, mode) == 0) {
        size_t off = 0;
        while (off < size) {
            size_t n = 1 + (seed % 97);
            seed = seed * 1103515245u + 12345u;
            if (n > size - off)
                n = size - off;
            if (sax_feed(s, (const char *)data + off, n, on_item, (void *)t) != 0 && sax_reset(s, mode) != 0)
                break;
            off += n;
        }
        (void)sax_finish(s);
    }
    sax_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned seed = data[0];
    data++;
    size--;
    struct watchparse *p = watchparse_new(1u << 20);
    if (!p)
        return 0;
    size_t off = 0;
    unsigned s = seed;
    while (off < size) {
        size_t n = 1 + (s % 97);
        s = s * 1103515245u + 12345u;
        if (n > size - off)
            n = size - off;
        int rc = watchparse_feed(p, (const char *)data + off, n, on_event, NULL);
        if (rc) {
            watchparse_reset(p);
        }
        off += n;
    }
    (void)watchparse_finish(p);
    watchparse_free(p);
    for (size_t i = 0; i < NTYPES; i++)
        run_sax(types[i], SAX_WATCH, seed, data, size);
    run_sax(types[seed % NTYPES], SAX_LIST, seed, data, size);
    return 0;
}
