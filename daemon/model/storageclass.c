/* StorageClass records: provisioner and whether it is the default class
 * (GA or beta annotation), for the class-level verdicts of the admission
 * ConfigMap. */
#include "model/records.h"
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

static int sc_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new(obj, sizeof(struct storageclass_rec), &p);
    if (rc)
        return rc;
    struct storageclass_rec *r = p;
    const char *prov = mj_str(obj, "provisioner");
    r->provisioner = strdup(prov ? prov : "");
    if (!r->provisioner) {
        sc_free(r);
        return -ENOMEM;
    }
    struct json_object *par = mj_obj(obj, "parameters");
    const char *sku = mj_str(par, "skuName");
    if (!sku)
        sku = mj_str(par, "skuname");
    const char *nap = mj_str(par, "networkAccessPolicy");
    const char *des = mj_str(par, "diskEncryptionSetID");
    if (mj_ieq(mj_str(par, "protocol"), "nfs"))
        r->params |= SC_P_NFS;
    if (mj_ieq(mj_str(par, "networkEndpointType"), "privateEndpoint"))
        r->params |= SC_P_PRIVATE_EP;
    if (mj_ieq(sku, "PremiumV2_LRS") || mj_ieq(sku, "UltraSSD_LRS"))
        r->params |= SC_P_SLOW_SKU;
    if (des && *des)
        r->params |= SC_P_DES;
    if (mj_ieq(nap, "DenyAll") || mj_ieq(nap, "AllowPrivate"))
        r->params |= SC_P_NET_PRIVATE;
    if (mj_ieq(mj_str(par, "dataAccessAuthMode"), "AzureActiveDirectory"))
        r->params |= SC_P_AAD;
    r->is_default = is_true(mj_annotation(obj, "storageclass.kubernetes.io/is-default-class")) ||
                    is_true(mj_annotation(obj, "storageclass.beta.kubernetes.io/is-default-class"));
    *out = r;
    return 0;
}

const struct model_type model_storageclass_type = {
    .resource = "storageclasses",
    .group = "storage.k8s.io",
    .version = "v1",
    .kind = "StorageClass",
    .namespaced = false,
    .extract = sc_extract,
    .free = sc_free,
};
