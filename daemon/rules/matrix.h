/* Support-matrix editions as data. The public "AKS backup support matrix"
 * page changes over time; each published edition the daemon knows is one
 * struct of facts below, and the rules (classify.c, prereq.c, the warnings
 * and the admission verdicts) read these facts instead of testing the
 * edition's name. The next edition is a new table entry plus tests.
 *
 * Editions: "2026-01" (the page of 2026-01-06, generally available; the
 * default) and "2023-08" (the preview page of 2023-08-17). */
#ifndef ABC_RULES_MATRIX_H
#define ABC_RULES_MATRIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MATRIX_DEFAULT_EDITION "2026-01"

/* When a statically provisioned volume is skipped (`static`). */
enum matrix_static_rule {
    /* disk.csi.azure.com volumes without the provisioned-by annotation naming
     * disk.csi.azure.com are static (2023-08). */
    MATRIX_STATIC_BY_ANNOTATION = 0,
    /* a disk or SMB Files volume without spec.storageClassName is static;
     * with a class named it is supported whatever its annotations (2026-01). */
    MATRIX_STATIC_WITHOUT_CLASS,
};

/* How kubernetes_version is judged. */
enum matrix_version_rule {
    MATRIX_VERSION_MINIMUM = 0, /* >= min_major.min_minor (2023-08) */
    MATRIX_VERSION_CALENDAR,    /* a minor AKS still supports (kubernetes_versions_file) */
};

/* One informational line (shown in the report, not checkable). */
struct engine_info {
    const char *code;
    const char *message;
};

struct matrix_edition {
    const char *name;           /* "2026-01" */
    const char *page_date;      /* date of the page it follows */
    const char *title;          /* one line for the report */

    /* ---- per PV ---- */
    const char *const *excluded_namespaces; /* NULL-terminated; NULL = none */
    bool files_smb_supported;   /* SMB file.csi.azure.com backed up (else `azure-files`) */
    int files_min_major, files_min_minor; /* Azure Files CSI driver needed for it */
    bool container_storage_reason; /* Azure Container Storage gets its own reason */
    enum matrix_static_rule static_rule;
    uint32_t reasons;           /* 1u << enum pv_reason the edition can give */
    bool vault_tier;            /* the edition has a Vault tier (vault.tiers: [vault] means something) */
    bool pv_notes;              /* slow-snapshot-sku, operational-tier-only, not-vault-eligible */
    int64_t vault_max_disk_bytes; /* largest disk the Vault tier takes */

    /* ---- prerequisites ---- */
    enum matrix_version_rule version_rule;
    int min_major, min_minor;   /* MATRIX_VERSION_MINIMUM */
    int version_ending_days;    /* CALENDAR: warn this many days before the end */
    const char *const *identities; /* accepted cluster.identity values, NULL-terminated */
    uint32_t checks;            /* 1u << enum prereq_check that exist in this edition */
    long namespace_limit;       /* namespaces per backup instance; 0 = none */
    bool extension_no_pending;  /* extension_running also fails on a Pending pod */

    /* ---- warnings and quota ---- */
    bool velero_metadata_warning;
    long vault_tier_disk_limit; /* supported disk PVs with the Vault tier; 0 = none */
    long schedule_tolerance_minutes; /* default of vault.schedule_tolerance_minutes */

    /* ---- informational lines (always shown) ---- */
    const struct engine_info *info;
    size_t ninfo;
};

/* The edition called name, or NULL when there is none. */
const struct matrix_edition *matrix_edition_find(const char *name);
/* The default edition (2026-01). */
const struct matrix_edition *matrix_edition_default(void);
/* The i-th known edition (newest first), NULL past the end. */
const struct matrix_edition *matrix_edition_at(size_t i);
/* "2026-01, 2023-08" into out (for error messages). */
void matrix_edition_list(char *out, size_t n);

/* Whether ns is never part of a backup under e. */
bool matrix_namespace_excluded(const struct matrix_edition *e, const char *ns);
/* Whether reason (enum pv_reason) can be given under e. */
bool matrix_has_reason(const struct matrix_edition *e, int reason);
/* Whether check (enum prereq_check) exists under e. */
bool matrix_has_check(const struct matrix_edition *e, int check);

#endif
