/* Node records: region label, subscription id from the Azure providerID
 * and kubelet version (cluster region/subscription detection). */
#include "model/records.h"
#include "model/fields.h"
#include "model/mjson.h"

#include <strings.h>

int model_provider_subscription(const char *provider_id, char *out, size_t n)
{
    static const char key[] = "/subscriptions/";
    if (!provider_id || n == 0)
        return -EINVAL;
    const char *p = NULL;
    for (const char *s = provider_id; *s; s++)
        if (strncasecmp(s, key, sizeof(key) - 1) == 0) {
            p = s + sizeof(key) - 1;
            break;
        }
    if (!p)
        return -EINVAL;
    size_t len = strcspn(p, "/");
    if (len == 0)
        return -EINVAL;
    if (len >= n)
        return -ENAMETOOLONG;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

static void node_free(void *p)
{
    struct node_rec *r = p;
    if (!r)
        return;
    model_meta_clear(&r->meta);
    free(r->region);
    free(r->subscription_id);
    free(r->kubelet_version);
    free(r);
}

/* The fields a node record is built from (fields.h); a new one gets an
 * index here and a path in the table, and is read in node_build. */
enum {
    NODE_REGION = MV_FIRST,
    NODE_REGION_BETA,
    NODE_PROVIDER_ID,
    NODE_KUBELET,
    NODE_OS,
    NODE_ARCH,
    NODE_NFIELDS
};

static const struct model_field node_field_table[NODE_NFIELDS] = {
    MODEL_META_FIELDS,
    [NODE_REGION] = {{"metadata", "labels", "topology.kubernetes.io/region"}, MF_STR},
    [NODE_REGION_BETA] = {{"metadata", "labels", "failure-domain.beta.kubernetes.io/region"}, MF_STR},
    [NODE_PROVIDER_ID] = {{"spec", "providerID"}, MF_STR},
    [NODE_KUBELET] = {{"status", "nodeInfo", "kubeletVersion"}, MF_STR},
    [NODE_OS] = {{"metadata", "labels", "kubernetes.io/os"}, MF_STR},
    [NODE_ARCH] = {{"metadata", "labels", "kubernetes.io/arch"}, MF_STR},
};

static int node_build(const struct model_type *t, const struct model_view *v, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new_view(v, sizeof(struct node_rec), &p);
    if (rc)
        return rc;
    struct node_rec *r = p;
    const char *region = model_view_str(v, NODE_REGION);
    if (!region || !*region)
        region = model_view_str(v, NODE_REGION_BETA);
    char sub[128];
    bool have_sub = model_provider_subscription(model_view_str(v, NODE_PROVIDER_ID), sub, sizeof(sub)) == 0;
    if (mj_dup(region, true, &r->region) || mj_dup(have_sub ? sub : NULL, true, &r->subscription_id) ||
        mj_dup(model_view_str(v, NODE_KUBELET), true, &r->kubelet_version)) {
        node_free(r);
        return -ENOMEM;
    }
    const char *os = model_view_str(v, NODE_OS), *arch = model_view_str(v, NODE_ARCH);
    r->linux_amd64 = os && arch && strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0;
    *out = r;
    return 0;
}

static const struct model_fields node_fields = {node_field_table, NODE_NFIELDS, node_build};

/* Nodes are few and their Ready condition sits in an array the field
 * tables do not address: they are read from a json-c tree (no .fields). */
static int node_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    struct model_view v;
    model_view_from_json(&node_fields, obj, &v);
    int rc = node_build(t, &v, out);
    if (rc)
        return rc;
    struct node_rec *r = *out;
    struct json_object *conds = mj_get(mj_obj(obj, "status"), "conditions");
    for (size_t i = 0; conds && json_object_is_type(conds, json_type_array) &&
                       i < json_object_array_length(conds); i++) {
        struct json_object *c = json_object_array_get_idx(conds, i);
        const char *ct = mj_str(c, "type"), *cs = mj_str(c, "status");
        if (ct && strcmp(ct, "Ready") == 0)
            r->ready = cs && strcmp(cs, "True") == 0;
    }
    return 0;
}

const struct model_type model_node_type = {
    .resource = "nodes",
    .group = "",
    .version = "v1",
    .kind = "Node",
    .namespaced = false,
    .extract = node_extract,
    .free = node_free,
};
