/* The Kubernetes minors AKS supports and their end-of-support dates
 * (config/kubernetes-versions.txt): the kubernetes_version prerequisite of
 * the 2026-01 support-matrix edition reads it. Loaded by app.c at start
 * and on reload, like the regions list. */
#ifndef ABC_CONFIG_KVERSIONS_H
#define ABC_CONFIG_KVERSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_KVERSIONS_FILE "/etc/aks-backup-companion/kubernetes-versions.txt"

struct kversion {
    int major, minor;
    int64_t end;     /* end of standard support: Unix seconds of the day after the date (UTC) */
    int64_t lts_end; /* end of long-term support likewise; 0 = no LTS */
    char end_date[11], lts_date[11]; /* "YYYY-MM-DD" as written; "" */
};

struct kversions {
    struct kversion *v; /* owned; kversions_free */
    size_t n;
};

/* Parses the file format: "<major>.<minor> <YYYY-MM-DD> [lts <YYYY-MM-DD>]"
 * per line, '#' comments, blank lines. 0, -EINVAL (err names src and the
 * line), -ENOMEM. On error kv is left empty. */
__attribute__((warn_unused_result)) int kversions_parse(struct kversions *kv, const char *text,
                                                        const char *src, char *err, size_t errlen);
/* Reads path; when path is CONFIG_DEFAULT_KVERSIONS_FILE and absent, the
 * built-in copy is parsed and *builtin set. -errno when unreadable. */
__attribute__((warn_unused_result)) int kversions_load_or_builtin(struct kversions *kv,
                                                                  const char *path, bool *builtin,
                                                                  char *err, size_t errlen);
void kversions_free(struct kversions *kv);
const struct kversion *kversions_find(const struct kversions *kv, int major, int minor);

/* The shipped config/kubernetes-versions.txt, compiled in. */
extern const char kversions_builtin[];

#endif
