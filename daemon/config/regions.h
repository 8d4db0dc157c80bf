/* The supported-regions list (config/regions.txt) and the
 * comparisons the rules need: regions ignore case and spaces, subscription
 * ids ignore case. Loaded by app.c at start and on reload. */
#ifndef ABC_CONFIG_REGIONS_H
#define ABC_CONFIG_REGIONS_H

#include <stdbool.h>
#include <stddef.h>

#define REGION_NAME_MAX 64

struct region_entry {
    char name[REGION_NAME_MAX]; /* normalised: lower-case, no spaces */
    bool operational_only;      /* line comment says "operational tier only" */
};

struct regions {
    struct region_entry *v; /* owned; freed by regions_free */
    size_t n;
};

/* Reads path: one region per line, '#' starts a comment, blank lines are
 * ignored, a comment may follow a region. Fills r (call regions_free).
 * Returns 0, -errno when the file cannot be read, -EINVAL for a name longer
 * than REGION_NAME_MAX, -ENOMEM. err (may be NULL) receives a message that
 * names the path (and line for -EINVAL). On error r is left empty. */
__attribute__((warn_unused_result)) int regions_load(struct regions *r, const char *path, char *err,
                                                     size_t errlen);
/* Same from a NUL-terminated buffer (tests, fuzzing). */
__attribute__((warn_unused_result)) int regions_parse(struct regions *r, const char *text,
                                                      char *err, size_t errlen);
void regions_free(struct regions *r);

/* The shipped config/regions.txt, compiled in (regions_builtin.c). */
extern const char regions_builtin[];
/* regions_load, except that when path is CONFIG_DEFAULT_REGIONS_FILE and
 * that file does not exist, the built-in list is parsed instead and
 * *builtin (may be NULL) is set true. Same returns as regions_load. */
__attribute__((warn_unused_result)) int regions_load_or_builtin(struct regions *r,
                                                                const char *path, bool *builtin,
                                                                char *err, size_t errlen);

/* Whether region (any spelling) is in the list. NULL/"" is never contained. */
bool regions_contains(const struct regions *r, const char *region);
/* Whether the region is listed with an "operational tier only" comment;
 * false when it is not listed at all. */
bool regions_is_operational_only(const struct regions *r, const char *region);

/* Lower-cases and drops whitespace: "West Europe" -> "westeurope".
 * Returns 0, or -ENAMETOOLONG when out (n bytes) is too small (out is
 * then truncated but terminated). */
int region_normalize(const char *in, char *out, size_t n);
/* Regions equal under region_normalize; false if either is NULL/empty. */
bool region_equal(const char *a, const char *b);
/* Subscription ids compare case-insensitively; false if either is empty. */
bool subscription_equal(const char *a, const char *b);

#endif
