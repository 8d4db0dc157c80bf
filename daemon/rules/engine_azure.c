/* The Azure view's overlay on the engine (engine.h engine_set_azure): a
 * copy of the facts the app read from ARM, merged into the prerequisite
 * inputs and the warnings at evaluation time. Plain data only. */
#include "rules/engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/prereq.h"

struct engine_az {
    char identity[32], identity_why[320];
    char vault_region[64], vault_sub[64], vault_why[320];
    char storage_region[64], storage_kind[48], storage_sku[48], storage_why[320];
    long policies, instances;
    char policies_why[320], instances_why[320];
    int trusted;
    char trusted_why[320];
    int vault_tier;                 /* 1/0, -1 unknown */
    long namespaces;                /* included namespaces; -1 = all or unknown */
    struct engine_azure_warning *w;
    size_t nw;
};

#define CP(dst, src) snprintf((dst), sizeof(dst), "%s", (src) ? (src) : "")

static void free_warnings(struct engine_az *a)
{
    for (size_t i = 0; i < a->nw; i++) {
        free((char *)a->w[i].object);
        free((char *)a->w[i].message);
    }
    free(a->w);
    a->w = NULL;
    a->nw = 0;
}

void engine__azure_free(struct engine *e)
{
    if (!e->az)
        return;
    free_warnings(e->az);
    free(e->az);
    e->az = NULL;
}

int engine_set_azure(struct engine *e, const struct engine_azure_facts *f)
{
    if (!f || !f->on) {
        engine__azure_free(e);
        return 0;
    }
    struct engine_azure_warning *w = calloc(f->nwarnings ? f->nwarnings : 1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    for (size_t i = 0; i < f->nwarnings; i++) {
        w[i].code = f->warnings[i].code;
        w[i].object = strdup(f->warnings[i].object ? f->warnings[i].object : "");
        w[i].message = strdup(f->warnings[i].message ? f->warnings[i].message : "");
        if (!w[i].object || !w[i].message) {
            struct engine_az tmp = {.w = w, .nw = i + 1};
            free_warnings(&tmp);
            return -ENOMEM;
        }
    }
    if (!e->az && !(e->az = calloc(1, sizeof(*e->az)))) {
        struct engine_az tmp = {.w = w, .nw = f->nwarnings};
        free_warnings(&tmp);
        return -ENOMEM;
    }
    struct engine_az *a = e->az;
    free_warnings(a);
    a->w = w;
    a->nw = f->nwarnings;
    CP(a->identity, f->identity);
    CP(a->identity_why, f->identity_why);
    CP(a->vault_region, f->vault_region);
    CP(a->vault_sub, f->vault_subscription);
    CP(a->vault_why, f->vault_why);
    CP(a->storage_region, f->storage_region);
    CP(a->storage_kind, f->storage_kind);
    CP(a->storage_sku, f->storage_sku);
    CP(a->storage_why, f->storage_why);
    a->policies = f->policies;
    a->instances = f->instances;
    CP(a->policies_why, f->policies_why);
    CP(a->instances_why, f->instances_why);
    a->trusted = f->trusted_access;
    a->vault_tier = f->vault_tier;
    a->namespaces = f->namespaces;
    CP(a->trusted_why, f->trusted_why);
    return 0;
}

/* A fact overrides the configured value when the view read it, or tried
 * and failed (then unknown with the reason); a read that is not configured
 * (no cluster_id, no storage_account_id) leaves the config in force. */
void engine__azure_input(const struct engine *e, struct prereq_input *in)
{
    const struct engine_az *a = e->az;
    if (!a)
        return;
    if (*a->identity || *a->identity_why)
        in->facts.cluster_identity = a->identity;
    if (*a->vault_region || *a->vault_why) {
        in->facts.vault_region = a->vault_region;
        in->facts.vault_subscription = a->vault_sub;
    }
    if (*a->storage_region || *a->storage_why) {
        in->facts.storage_region = a->storage_region;
        in->facts.storage_kind = a->storage_kind;
        in->facts.storage_sku = a->storage_sku;
    }
    if (a->policies >= 0 || *a->policies_why)
        in->facts.backup_policies = a->policies;
    if (a->instances >= 0 || *a->instances_why)
        in->facts.backup_instances = a->instances;
    if (a->vault_tier >= 0)
        in->facts.vault_tier = a->vault_tier == 1;
    /* An instance that names its namespaces backs up those, whatever the
     * cluster holds: the 800-namespace limit applies to that list. */
    if (a->namespaces >= 0)
        in->namespaces_in_scope = a->namespaces;
    in->trusted_access = a->trusted;
    in->azure_view = true;
}

static void why(struct prereq_result *r, const char *reason)
{
    if (r->status == PREREQ_UNKNOWN && reason && *reason)
        snprintf(r->observed, sizeof(r->observed), "Azure: %s", reason);
}

void engine__azure_patch(const struct engine *e, struct prereq_result *out)
{
    const struct engine_az *a = e->az;
    if (!a)
        return;
    why(&out[PREREQ_IDENTITY], a->identity_why);
    why(&out[PREREQ_VAULT_SAME_REGION], a->vault_why);
    why(&out[PREREQ_VAULT_SAME_SUBSCRIPTION], a->vault_why);
    why(&out[PREREQ_STORAGE_SAME_REGION], a->storage_why);
    why(&out[PREREQ_STORAGE_ACCOUNT_KIND], a->storage_why);
    why(&out[PREREQ_POLICIES_WITHIN_LIMIT], a->policies_why);
    why(&out[PREREQ_INSTANCES_WITHIN_LIMIT], a->instances_why);
    why(&out[PREREQ_TRUSTED_ACCESS], a->trusted_why);
}

size_t engine__azure_warnings(const struct engine *e, const struct engine_azure_warning **out)
{
    *out = e->az ? e->az->w : NULL;
    return e->az ? e->az->nw : 0;
}
