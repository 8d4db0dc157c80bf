/* The evaluation as a document: the JSON report (GET
 * /api/v1/report and `check --output json`), the text report of `check`
 * and its exit code. Reads the engine; no I/O. The quota part
 * comes from the caller (quota/ renders it). */
#ifndef ABC_RULES_REPORT_H
#define ABC_RULES_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "rules/engine.h"
#include "util/buf.h"

struct json_object;

struct report_opts {
    int64_t now;               /* Unix seconds: generated_at, snapshot-stuck */
    struct json_object *quota; /* borrowed (a reference is taken); NULL -> null */
    const char *quota_text;    /* text-report quota section body; NULL -> "not available" */
    bool quota_warn;           /* some quota is >= warn_ratio x limit (exit code 1) */
    struct json_object *azure; /* the Azure view's section (borrowed); NULL -> left out */
};

/* New JSON document (caller json_object_put), or NULL on ENOMEM. */
struct json_object *report_json(const struct engine *e, const struct report_opts *o);
/* Appends the JSON text. Compact form is streamed (no DOM: for the HTTP
 * endpoint at 100k PVs); pretty form (2-space indentation, trailing
 * newline) goes through report_json. Same document either way. 0 / -ENOMEM. */
int report_json_render(const struct engine *e, const struct report_opts *o, bool pretty,
                       struct buf *out);
/* Appends the readable report of `check` (sections cluster, prerequisites,
 * persistent volumes, snapshots, extension, quota, informational, warnings).
 * 0 / -ENOMEM. */
int report_text(const struct engine *e, const struct report_opts *o, struct buf *out);

/* `check` exit code from the evaluation: 2 when a prerequisite
 * fails or the extension is not running; 1 when some PV is skipped, the
 * quota is at warn level, a prerequisite is unknown or a warning is listed
 * (the always-present informational items do not count); else 0. Exit codes
 * 3 (API) and 4 (config) are the caller's. */
int report_exit_code(const struct engine *e, const struct report_opts *o);

/* The report's "apiVersion" and "kind", and its overall "status" for an
 * exit code of report_exit_code: "ok" (0), "warning" (1), "failed" (2). */
#define REPORT_API_VERSION "aks-backup-companion/v1"
#define REPORT_KIND "Report"
const char *report_status_name(int exit_code);

/* Number of warnings in the quota document (o->quota "warnings"); with
 * code non-NULL also fills entry i (strings borrowed from o->quota; object
 * names what to fix: vault.backup_schedule, accounting.sources, quota). */
size_t report_quota_warnings(const struct report_opts *o, size_t i, const char **code,
                             const char **object, const char **message);

#endif
