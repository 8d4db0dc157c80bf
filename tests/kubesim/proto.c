/* kubesim: decodes Kubernetes protobuf request bodies (magic "k8s\0" +
 * runtime.Unknown) of the kinds whose messages are written out here (v1
 * ConfigMap, Secret, ServiceAccount, Namespace with ObjectMeta; DeleteOptions)
 * into JSON, so that kubectl create and helm's release Secrets can write. Field numbers follow
 * k8s.io/api core/v1 and apimachinery meta/v1 generated.proto. */
#include "ks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- wire format reader ---- */
struct pb {
    const unsigned char *p, *end;
};

struct pbf {
    uint32_t num, wt;
    uint64_t v;   /* varint / fixed value */
    struct pb sub; /* length-delimited payload */
};

static int pb_varint(struct pb *b, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end)
            return -1;
        unsigned char c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Reads the next field; returns 1 when one was read, 0 at the end, -1 when malformed. */
static int pb_next(struct pb *b, struct pbf *f)
{
    if (b->p >= b->end)
        return 0;
    uint64_t tag, len;
    if (pb_varint(b, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (uint32_t)(tag & 7);
    f->v = 0;
    f->sub.p = f->sub.end = NULL;
    switch (f->wt) {
    case 0:
        return pb_varint(b, &f->v) ? -1 : 1;
    case 1:
    case 5: {
        size_t n = f->wt == 1 ? 8 : 4;
        if ((size_t)(b->end - b->p) < n)
            return -1;
        for (size_t i = 0; i < n; i++)
            f->v |= (uint64_t)b->p[i] << (8 * i);
        b->p += n;
        return 1;
    }
    case 2:
        if (pb_varint(b, &len) || len > (uint64_t)(b->end - b->p))
            return -1;
        f->sub.p = b->p;
        f->sub.end = b->p + len;
        b->p += len;
        return 1;
    default: /* groups (3, 4) are not used by Kubernetes types */
        return -1;
    }
}

static size_t pb_len(const struct pb *b)
{
    return (size_t)(b->end - b->p);
}

static json_object *pb_string(const struct pbf *f)
{
    return json_object_new_string_len((const char *)f->sub.p, (int)pb_len(&f->sub));
}

static json_object *pb_base64(const struct pbf *f)
{
    struct sbuf o = {0};
    sbuf_add_base64(&o, f->sub.p, pb_len(&f->sub));
    json_object *s = json_object_new_string_len(o.data ? o.data : "", (int)o.len);
    sbuf_free(&o);
    return s;
}

static json_object *ensure(json_object *parent, const char *key, json_type t)
{
    json_object *o = NULL;
    if (!json_object_object_get_ex(parent, key, &o) || !json_object_is_type(o, t)) {
        o = t == json_type_array ? json_object_new_array() : json_object_new_object();
        json_object_object_add(parent, key, o);
    }
    return o;
}

/* One entry of a proto map (key = 1, value = 2) into parent[key]; bytes values as base64. */
static int map_entry(json_object *parent, const char *key, const struct pbf *f, bool bytes)
{
    struct pb e = f->sub;
    struct pbf k = {0}, v = {0}, x;
    int r;
    k.sub.p = k.sub.end = v.sub.p = v.sub.end = (const unsigned char *)"";
    while ((r = pb_next(&e, &x)) == 1) {
        if (x.num == 1 && x.wt == 2)
            k = x;
        else if (x.num == 2 && x.wt == 2)
            v = x;
    }
    if (r < 0)
        return -1;
    char *kk = strndup((const char *)k.sub.p, pb_len(&k.sub));
    if (!kk)
        return -1;
    json_object_object_add(ensure(parent, key, json_type_object), kk, bytes ? pb_base64(&v) : pb_string(&v));
    free(kk);
    return 0;
}

/* metav1.Time {seconds = 1, nanos = 2} as RFC 3339; NULL for the zero time (an empty message). */
static json_object *pb_time(const struct pbf *f)
{
    struct pb t = f->sub;
    struct pbf x;
    int64_t secs = 0;
    bool any = false;
    while (pb_next(&t, &x) == 1) {
        if (x.num == 1 && x.wt == 0) {
            secs = (int64_t)x.v;
            any = true;
        }
    }
    if (!any)
        return NULL;
    time_t tt = (time_t)secs;
    struct tm tm;
    char out[40];
    if (!gmtime_r(&tt, &tm) || !strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return NULL;
    return json_object_new_string(out);
}

/* ---- messages as tables: field number -> JSON name and shape ---- */
enum fk {
    F_STR,   /* string, omitted when empty */
    F_STRP,  /* *string: written when present */
    F_BOOL,  /* *bool: written when present */
    F_INT,   /* int64, omitted when 0 */
    F_INTP,  /* *int64: written when present */
    F_TIME,  /* metav1.Time */
    F_SMAP,  /* map<string, string> */
    F_BMAP,  /* map<string, bytes> (base64 in JSON) */
    F_STRS,  /* repeated string */
    F_MSG,   /* message -> object */
    F_MSGS,  /* repeated message -> array of objects */
};
struct msgdef;
struct fdef {
    uint32_t num;
    const char *json;
    enum fk kind;
    const struct msgdef *sub; /* F_MSG, F_MSGS */
};
struct msgdef {
    const struct fdef *f;
    size_t n;
};
#define MSG(name, ...)                                                                            \
    static const struct fdef name##_f[] = {__VA_ARGS__};                                          \
    static const struct msgdef name = {name##_f, sizeof name##_f / sizeof name##_f[0]}

/* apimachinery meta/v1 */
MSG(owner_ref, {5, "apiVersion", F_STR, NULL}, {1, "kind", F_STR, NULL}, {3, "name", F_STR, NULL},
    {4, "uid", F_STR, NULL}, {6, "controller", F_BOOL, NULL}, {7, "blockOwnerDeletion", F_BOOL, NULL});
/* ObjectMeta; managedFields (17) is not decoded: the server owns it. */
MSG(object_meta, {1, "name", F_STR, NULL}, {2, "generateName", F_STR, NULL}, {3, "namespace", F_STR, NULL},
    {4, "selfLink", F_STR, NULL}, {5, "uid", F_STR, NULL}, {6, "resourceVersion", F_STR, NULL},
    {7, "generation", F_INT, NULL}, {8, "creationTimestamp", F_TIME, NULL}, {9, "deletionTimestamp", F_TIME, NULL},
    {10, "deletionGracePeriodSeconds", F_INTP, NULL}, {11, "labels", F_SMAP, NULL},
    {12, "annotations", F_SMAP, NULL}, {13, "ownerReferences", F_MSGS, &owner_ref},
    {14, "finalizers", F_STRS, NULL});
/* core/v1 */
MSG(object_ref, {1, "kind", F_STR, NULL}, {2, "namespace", F_STR, NULL}, {3, "name", F_STR, NULL},
    {4, "uid", F_STR, NULL}, {5, "apiVersion", F_STR, NULL}, {6, "resourceVersion", F_STR, NULL},
    {7, "fieldPath", F_STR, NULL});
MSG(local_ref, {1, "name", F_STR, NULL});
MSG(config_map, {1, "metadata", F_MSG, &object_meta}, {2, "data", F_SMAP, NULL}, {3, "binaryData", F_BMAP, NULL},
    {4, "immutable", F_BOOL, NULL});
MSG(secret, {1, "metadata", F_MSG, &object_meta}, {2, "data", F_BMAP, NULL}, {3, "type", F_STR, NULL},
    {4, "stringData", F_SMAP, NULL}, {5, "immutable", F_BOOL, NULL});
MSG(service_account, {1, "metadata", F_MSG, &object_meta}, {2, "secrets", F_MSGS, &object_ref},
    {3, "imagePullSecrets", F_MSGS, &local_ref}, {4, "automountServiceAccountToken", F_BOOL, NULL});
MSG(namespace_spec, {1, "finalizers", F_STRS, NULL});
MSG(namespace_cond, {1, "type", F_STR, NULL}, {2, "status", F_STR, NULL}, {4, "lastTransitionTime", F_TIME, NULL},
    {5, "reason", F_STR, NULL}, {6, "message", F_STR, NULL});
MSG(namespace_status, {1, "phase", F_STR, NULL}, {2, "conditions", F_MSGS, &namespace_cond});
MSG(name_space, {1, "metadata", F_MSG, &object_meta}, {2, "spec", F_MSG, &namespace_spec},
    {3, "status", F_MSG, &namespace_status});

/* apimachinery meta/v1 DeleteOptions (DELETE bodies; any group-version) */
MSG(preconditions, {1, "uid", F_STRP, NULL}, {2, "resourceVersion", F_STRP, NULL});
MSG(delete_options, {1, "gracePeriodSeconds", F_INTP, NULL}, {2, "preconditions", F_MSG, &preconditions},
    {3, "orphanDependents", F_BOOL, NULL}, {4, "propagationPolicy", F_STRP, NULL}, {5, "dryRun", F_STRS, NULL});

static const struct kdef {
    const char *apiversion, *kind;
    const struct msgdef *msg;
} kinds[] = {
    {"v1", "ConfigMap", &config_map},
    {"v1", "Secret", &secret},
    {"v1", "ServiceAccount", &service_account},
    {"v1", "Namespace", &name_space},
    {NULL, "DeleteOptions", &delete_options}, /* NULL: any apiVersion */
};

/* Decodes message b by d into out. Unknown fields are dropped, as by the real
 * decoder. Returns 0 or -1 (malformed). */
static int decode_msg(const struct msgdef *d, struct pb b, json_object *out, int depth)
{
    struct pbf x;
    int r;
    if (depth > 8)
        return -1;
    while ((r = pb_next(&b, &x)) == 1) {
        const struct fdef *fd = NULL;
        for (size_t i = 0; i < d->n && !fd; i++)
            if (d->f[i].num == x.num)
                fd = &d->f[i];
        if (!fd)
            continue;
        bool varint = fd->kind == F_BOOL || fd->kind == F_INT || fd->kind == F_INTP;
        if (varint != (x.wt == 0) || (!varint && x.wt != 2))
            return -1;
        json_object *o;
        switch (fd->kind) {
        case F_STR:
        case F_STRP:
            if (pb_len(&x.sub) || fd->kind == F_STRP)
                json_object_object_add(out, fd->json, pb_string(&x));
            break;
        case F_BOOL:
            json_object_object_add(out, fd->json, json_object_new_boolean(x.v != 0));
            break;
        case F_INT:
        case F_INTP:
            if (x.v || fd->kind == F_INTP)
                json_object_object_add(out, fd->json, json_object_new_int64((int64_t)x.v));
            break;
        case F_TIME:
            if ((o = pb_time(&x)))
                json_object_object_add(out, fd->json, o);
            break;
        case F_SMAP:
        case F_BMAP:
            if (map_entry(out, fd->json, &x, fd->kind == F_BMAP))
                return -1;
            break;
        case F_STRS:
            json_object_array_add(ensure(out, fd->json, json_type_array), pb_string(&x));
            break;
        case F_MSG:
        case F_MSGS:
            o = fd->kind == F_MSG ? ensure(out, fd->json, json_type_object) : json_object_new_object();
            if (fd->kind == F_MSGS)
                json_object_array_add(ensure(out, fd->json, json_type_array), o);
            if (decode_msg(fd->sub, x.sub, o, depth + 1))
                return -1;
            break;
        }
    }
    return r < 0 ? -1 : 0;
}

bool proto_is_k8s(const void *body, size_t len)
{
    return len >= 4 && !memcmp(body, "k8s\0", 4);
}

int proto_decode(const void *body, size_t len, json_object **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!proto_is_k8s(body, len)) {
        snprintf(err, errlen, "the protobuf body does not start with the Kubernetes magic number");
        return -EINVAL;
    }
    struct pb b = {(const unsigned char *)body + 4, (const unsigned char *)body + len};
    struct pbf x, raw = {0};
    char av[128] = "", kind[128] = "", enc[64] = "", ctype[128] = "";
    bool have_raw = false;
    int r;
    while ((r = pb_next(&b, &x)) == 1) {
        if (x.wt != 2)
            continue;
        if (x.num == 1) { /* runtime.TypeMeta {apiVersion = 1, kind = 2} */
            struct pb t = x.sub;
            struct pbf y;
            int r2;
            while ((r2 = pb_next(&t, &y)) == 1) {
                if (y.wt == 2 && (y.num == 1 || y.num == 2))
                    snprintf(y.num == 1 ? av : kind, y.num == 1 ? sizeof av : sizeof kind, "%.*s",
                             (int)pb_len(&y.sub), (const char *)y.sub.p);
            }
            if (r2 < 0)
                r = -1;
        } else if (x.num == 2) {
            raw = x;
            have_raw = true;
        } else if (x.num == 3 || x.num == 4) {
            snprintf(x.num == 3 ? enc : ctype, x.num == 3 ? sizeof enc : sizeof ctype, "%.*s",
                     (int)pb_len(&x.sub), (const char *)x.sub.p);
        }
        if (r < 0)
            break;
    }
    if (r < 0 || !have_raw) {
        snprintf(err, errlen, "the protobuf body is not a valid runtime.Unknown envelope");
        return -EINVAL;
    }
    if (enc[0] || (ctype[0] && strcmp(ctype, "application/vnd.kubernetes.protobuf"))) {
        snprintf(err, errlen, "unsupported contentEncoding %s / contentType %s in the protobuf envelope", enc, ctype);
        return -ENOTSUP;
    }
    const struct kdef *k = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if ((!kinds[i].apiversion || !strcmp(kinds[i].apiversion, av)) && !strcmp(kinds[i].kind, kind))
            k = &kinds[i];
    if (!k) {
        snprintf(err, errlen, "kubesim cannot decode protobuf bodies of %s %s (it knows v1 ConfigMap, Secret, "
                 "ServiceAccount, Namespace and DeleteOptions)", av[0] ? av : "(no apiVersion)", kind[0] ? kind : "(no kind)");
        return -ENOTSUP;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "apiVersion", json_object_new_string(av));
    json_object_object_add(o, "kind", json_object_new_string(kind));
    if (decode_msg(k->msg, raw.sub, o, 0)) {
        json_object_put(o);
        snprintf(err, errlen, "the protobuf %s body is malformed", kind);
        return -EINVAL;
    }
    *out = o;
    return 0;
}
