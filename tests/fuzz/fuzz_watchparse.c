/* libFuzzer: the watch-stream parser fed arbitrary bytes in arbitrary
 * chunkings. The first byte seeds the chunk sizes; every event delivered is
 * run through every model extractor, as the reflector would. */
#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

#include "kube/watchparse.h"
#include "model/records.h"

static int on_event(void *data, const char *type, struct json_object *obj)
{
    (void)data;
    (void)type;
    const struct model_type *types[] = {&model_pv_type, &model_pvc_type, &model_storageclass_type,
                                        &model_csidriver_type, &model_snapshotclass_type,
                                        &model_snapshot_type, &model_node_type};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
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
    while (off < size) {
        size_t n = 1 + (seed % 97);
        seed = seed * 1103515245u + 12345u;
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
    return 0;
}
