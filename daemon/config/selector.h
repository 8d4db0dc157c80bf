/* Label-selector syntax as the API server parses it (apimachinery
 * labels.Parse): checked when the configuration is loaded, so a bad
 * extension.pod_selector is a config error (exit 4), not a 400 later. */
#ifndef ABC_CONFIG_SELECTOR_H
#define ABC_CONFIG_SELECTOR_H

#include <stddef.h>

/* 0 when s is a well-formed, non-empty label selector: requirements
 * separated by commas, each `key`, `!key`, `key=v`, `key==v`, `key!=v`,
 * `key in (v,...)`, `key notin (v,...)`, `key>n` or `key<n`; keys are
 * qualified names ([prefix/]name), values label values. Otherwise -EINVAL
 * and why (n bytes, may be NULL) names the offending part and offset. */
int label_selector_check(const char *s, char *why, size_t n);

#endif
