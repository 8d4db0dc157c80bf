/* libFuzzer: the quota state loader (what a corrupt state file or a
 * hand-edited ConfigMap feeds the ledger) on arbitrary bytes; a document
 * that merges must round-trip through ledger_to_json. */
#include <json-c/json.h>
#include <stdint.h>
#include <string.h>

#include "quota/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return 0;
    struct json_object *doc = json_tokener_parse_ex(tok, (const char *)data, (int)size);
    json_tokener_free(tok);
    if (!doc)
        return 0;
    struct ledger_opts o;
    memset(&o, 0, sizeof(o));
    o.limit[ACCT_OP_BACKUP] = 10;
    o.limit[ACCT_OP_RESTORE] = 10;
    o.warn_ratio = 0.8;
    struct ledger *l = ledger_new(&o);
    if (l) {
        int64_t now = 1773500400; /* 2026-03-14T15:00:00Z */
        if (ledger_merge_json(l, doc, now) >= 0) {
            (void)ledger_used(l, "default", ACCT_OP_BACKUP, now);
            struct json_object *out = ledger_to_json(l, now);
            if (out) {
                struct ledger *l2 = ledger_new(&o);
                if (l2) {
                    if (ledger_merge_json(l2, out, now) < 0)
                        __builtin_trap(); /* our own output must load */
                    ledger_free(l2);
                }
                json_object_put(out);
            }
        }
        ledger_free(l);
    }
    json_object_put(doc);
    return 0;
}
