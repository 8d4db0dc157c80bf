/* StorageClass records: provisioner and whether it is the default class
 * (GA or beta annotation), for the class-level verdicts of the admission
 * ConfigMap. */
#include "model/records.h"
#include "model/fields.h"
#include "model/mjson.h"

static void sc_free(void *p)
{
    struct storageclass_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r->provisioner);
    free(r);
}

static bool is_true(const char *v)
{
    return v && strcmp(v, "true") == 0;
}

/* The fields a class record is built from (fields.h); a new one (e.g. a
 * parameters.<key>) gets an index here and a path in the table, and is
 * read in sc_build. */
enum {
    SC_PROVISIONER = MV_FIRST,
    SC_DEFAULT,
    SC_DEFAULT_BETA,
    /* the parameters the support matrix looks at */
    SC_PROTOCOL,
    SC_ENDPOINT,
    SC_SKU,
    SC_SKU_LOWER,
    SC_DES,
    SC_NET_ACCESS,
    SC_AAD,
    SC_NFIELDS
};

static const struct model_field sc_field_table[SC_NFIELDS] = {
    MODEL_META_FIELDS,
    [SC_PROVISIONER] = {{"provisioner"}, MF_STR},
    [SC_DEFAULT] = {{"metadata", "annotations", "storageclass.kubernetes.io/is-default-class"}, MF_STR},
    [SC_DEFAULT_BETA] = {{"metadata", "annotations", "storageclass.beta.kubernetes.io/is-default-class"}, MF_STR},
    [SC_PROTOCOL] = {{"parameters", "protocol"}, MF_STR},
    [SC_ENDPOINT] = {{"parameters", "networkEndpointType"}, MF_STR},
    [SC_SKU] = {{"parameters", "skuName"}, MF_STR},
    [SC_SKU_LOWER] = {{"parameters", "skuname"}, MF_STR},
    [SC_DES] = {{"parameters", "diskEncryptionSetID"}, MF_STR},
    [SC_NET_ACCESS] = {{"parameters", "networkAccessPolicy"}, MF_STR},
    [SC_AAD] = {{"parameters", "dataAccessAuthMode"}, MF_STR},
};

static int sc_build(const struct model_type *t, const struct model_view *v, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new_view(v, sizeof(struct storageclass_rec), &p);
    if (rc)
        return rc;
    struct storageclass_rec *r = p;
    const char *prov = model_view_str(v, SC_PROVISIONER);
    r->provisioner = strdup(prov ? prov : "");
    if (!r->provisioner) {
        sc_free(r);
        return -ENOMEM;
    }
    const char *sku = model_view_str(v, SC_SKU);
    if (!sku)
        sku = model_view_str(v, SC_SKU_LOWER);
    const char *nap = model_view_str(v, SC_NET_ACCESS);
    const char *des = model_view_str(v, SC_DES);
    if (mj_ieq(model_view_str(v, SC_PROTOCOL), "nfs"))
        r->params |= SC_P_NFS;
    if (mj_ieq(model_view_str(v, SC_ENDPOINT), "privateEndpoint"))
        r->params |= SC_P_PRIVATE_EP;
    if (mj_ieq(sku, "PremiumV2_LRS") || mj_ieq(sku, "UltraSSD_LRS"))
        r->params |= SC_P_SLOW_SKU;
    if (des && *des)
        r->params |= SC_P_DES;
    if (mj_ieq(nap, "DenyAll") || mj_ieq(nap, "AllowPrivate"))
        r->params |= SC_P_NET_PRIVATE;
    if (mj_ieq(model_view_str(v, SC_AAD), "AzureActiveDirectory"))
        r->params |= SC_P_AAD;
    r->is_default = is_true(model_view_str(v, SC_DEFAULT)) || is_true(model_view_str(v, SC_DEFAULT_BETA));
    *out = r;
    return 0;
}

static const struct model_fields sc_fields = {sc_field_table, SC_NFIELDS, sc_build};

const struct model_type model_storageclass_type = {
    .resource = "storageclasses",
    .group = "storage.k8s.io",
    .version = "v1",
    .kind = "StorageClass",
    .namespaced = false,
    .extract = model_fields_extract,
    .free = sc_free,
    .fields = &sc_fields,
};
