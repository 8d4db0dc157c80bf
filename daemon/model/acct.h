/* Accounting sources (accounting.sources, the quota ledger): a struct model_type
 * built at run time per configured source, whose records say which backup
 * instance an object belongs to and whether it is an on-demand operation.
 * Built by app.c from the config; records feed quota/ through a store. */
#ifndef ABC_MODEL_ACCT_H
#define ABC_MODEL_ACCT_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"

enum acct_op { ACCT_OP_BACKUP = 0, ACCT_OP_RESTORE = 1 };
#define ACCT_NOPS 2

/* The annotation a pipeline puts on a CR it created after reserving. */
#define ACCT_RESERVATION_ANNOTATION "aks-backup-companion/reservation"
/* Instance of an object whose label/field for the instance is absent. */
#define ACCT_INSTANCE_UNKNOWN "unknown"

/* One accounting source as configured. Strings are borrowed by
 * acct_type_new (copied into the type). */
struct acct_source_opts {
    const char *name;       /* "velero-backups" */
    enum acct_op operation;
    const char *group;      /* "velero.io"; "" = core */
    const char *version;    /* "v1" */
    const char *resource;   /* "backups" */
    const char *namespace_; /* NULL or "" = all namespaces */
    const char *on_demand;  /* always | label-absent:<k> | label-present:<k> |
                               label:<k>=<v> | field:<dotted.path>=<v> */
    const char *instance;   /* constant:<id> | label:<key> | field:<dotted.path> */
};

/* Compact record of one accounting object (meta first, model.h). */
struct acct_rec {
    struct obj_meta meta;
    enum acct_op op;
    bool on_demand;         /* the source's on_demand matcher matched */
    char *instance;         /* never NULL; ACCT_INSTANCE_UNKNOWN when the
                               label/field is absent or empty */
    char *reservation;      /* annotation value, NULL when absent */
};

enum acct_match { ACCT_MATCH_ALWAYS, ACCT_MATCH_LABEL_ABSENT, ACCT_MATCH_LABEL_PRESENT,
                  ACCT_MATCH_LABEL_EQ, ACCT_MATCH_FIELD_EQ };
enum acct_inst { ACCT_INST_CONSTANT, ACCT_INST_LABEL, ACCT_INST_FIELD };

/* Parsed source, reachable as type->ctx. */
struct acct_source {
    char *name, *group, *version, *resource, *namespace_, *kind;
    enum acct_op op;
    enum acct_match match;
    char *match_key;        /* label key or dotted path */
    char *match_value;      /* LABEL_EQ / FIELD_EQ */
    enum acct_inst inst;
    char *inst_arg;         /* constant id, label key or dotted path */
};

/* Parses the matcher and instance strings and builds a model_type whose
 * extract makes struct acct_rec. Returns 0 and *out (free with
 * acct_type_free), -EINVAL with a reason in why (may be NULL), -ENOMEM. */
int acct_type_new(const struct acct_source_opts *o, struct model_type **out,
                  char *why, size_t whylen);
void acct_type_free(struct model_type *t);

/* The parsed source of a type made by acct_type_new (borrowed). */
static inline const struct acct_source *acct_type_source(const struct model_type *t)
{
    return (const struct acct_source *)t->ctx;
}

/* For a constant mapping, its id (borrowed from t); else NULL. */
const char *acct_type_constant_instance(const struct model_type *t);

const char *acct_op_name(enum acct_op op);               /* "backup" / "restore" */
int acct_op_parse(const char *s, enum acct_op *out);     /* 0 / -EINVAL */

void acct_rec_free(void *rec);

#endif
