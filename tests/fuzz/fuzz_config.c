/* libFuzzer: the YAML configuration parser and validator on arbitrary
 * bytes; also the regions list and the schedule parser on the same input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/regions.h"
#include "config/schedule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    struct config_err err;
    if (config_defaults(&c) == 0) {
        if (config_load_string(&c, "fuzz.yaml", (const char *)data, size, &err) == 0)
            (void)config_validate(&c, &err);
        config_free(&c);
    }
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct regions r = {0};
    char why[256];
    if (regions_parse(&r, s, why, sizeof(why)) == 0) {
        (void)regions_contains(&r, "westeurope");
        regions_free(&r);
    }
    struct schedule sc;
    if (schedule_parse(s, &sc, why, sizeof(why)) == 0) {
        int64_t slot;
        (void)schedule_slot_at(&sc, 1773500000, &slot);
        (void)schedule_next_slot(&sc, 1773500000);
    }
    free(s);
    return 0;
}
