/* Node records: region label, subscription id from the Azure providerID
 * and kubelet version (cluster region/subscription detection). */
#include "model/records.h"
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

static int node_extract(const struct model_type *t, struct json_object *obj, void **out)
{
    (void)t;
    void *p;
    int rc = model_rec_new(obj, sizeof(struct node_rec), &p);
    if (rc)
        return rc;
    struct node_rec *r = p;
    const char *region = mj_label(obj, "topology.kubernetes.io/region");
    if (!region || !*region)
        region = mj_label(obj, "failure-domain.beta.kubernetes.io/region");
    char sub[128];
    const char *pid = mj_str(mj_obj(obj, "spec"), "providerID");
    bool have_sub = model_provider_subscription(pid, sub, sizeof(sub)) == 0;
    if (mj_dup(region, true, &r->region) ||
        mj_dup(have_sub ? sub : NULL, true, &r->subscription_id) ||
        mj_dup(mj_str(mj_obj(mj_obj(obj, "status"), "nodeInfo"), "kubeletVersion"), true,
               &r->kubelet_version)) {
        node_free(r);
        return -ENOMEM;
    }
    const char *os = mj_label(obj, "kubernetes.io/os"), *arch = mj_label(obj, "kubernetes.io/arch");
    r->linux_amd64 = os && arch && strcmp(os, "linux") == 0 && strcmp(arch, "amd64") == 0;
    struct json_object *conds = mj_get(mj_obj(obj, "status"), "conditions");
    for (size_t i = 0; conds && json_object_is_type(conds, json_type_array) &&
                       i < json_object_array_length(conds); i++) {
        struct json_object *c = json_object_array_get_idx(conds, i);
        const char *ct = mj_str(c, "type"), *cs = mj_str(c, "status");
        if (ct && strcmp(ct, "Ready") == 0)
            r->ready = cs && strcmp(cs, "True") == 0;
    }
    *out = r;
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
