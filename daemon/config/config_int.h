/* Private to config/: the table of scalar keys shared by the YAML walker,
 * the environment and flags (config.c), and the per-key value checks
 * (config_keys.c). Not for other modules. */
#ifndef ABC_CONFIG_CONFIG_INT_H
#define ABC_CONFIG_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

enum config__type { CK_STR, CK_INT, CK_RATIO, CK_BOOL };

struct config__key {
    const char *section; /* NULL for a top-level scalar */
    const char *name;
    enum config__type type;
    size_t off, size; /* field in struct config */
    long min, max;    /* CK_INT range */
    /* CK_STR extra check; may set derived fields. 0 or -EINVAL + why. */
    int (*check)(struct config *c, const char *v, char *why, size_t n);
    const char *expected; /* for messages; NULL = derived from type */
};

extern const struct config__key config__keys[];
extern const size_t config__nkeys;

/* Top-level names: sections and top-level scalars, NULL-terminated. */
extern const char *const config__top[];
/* Keys of one accounting source, NULL-terminated. */
extern const char *const config__source_keys[];

/* section NULL = top level. */
const struct config__key *config__find(const char *section, const char *name);
bool config__is_section(const char *name);
/* "did you mean 'x'?" among the valid names of section (NULL = top level,
 * "accounting.sources[]" = source keys) and their list for "expected". */
void config__suggest(const char *section, const char *name, char *did, size_t dn, char *list,
                     size_t ln);
/* Converts and stores v. label prefixes the message ("http.listen" or
 * "ABC_HTTP_LISTEN"). quoted: the YAML scalar was quoted (a string);
 * is_null: plain empty/~/null. 0 or -EINVAL with msg. */
int config__assign(struct config *c, const struct config__key *k, const char *label, const char *v,
                   bool quoted, bool is_null, char *msg, size_t n);
void config__expected(const struct config__key *k, char *out, size_t n);
void config__dotted(const struct config__key *k, char *out, size_t n);
int config__source_defaults(struct config_source *s);
/* A Kubernetes namespace name (DNS-1123 label). */
bool config__namespace_ok(const char *v);

#endif
