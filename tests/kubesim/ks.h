/* kubesim: a Kubernetes API simulator for tests, the demo and benchmarks.
 * Shared declarations of the store (objects, history, global resourceVersion),
 * selectors, the API and control handlers and the fault-injection state.
 * One global mutex (sim.mu) protects everything in struct sim. */
#ifndef KUBESIM_KS_H
#define KUBESIM_KS_H

#include <json-c/json.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- growable buffer (util.c) ---- */
struct sbuf {
    char *data; /* NUL-terminated when non-NULL; owned */
    size_t len, cap;
};
void sbuf_add(struct sbuf *b, const void *p, size_t n); /* aborts on OOM */
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_add_json_str(struct sbuf *b, const char *s);
void sbuf_add_base64(struct sbuf *b, const void *data, size_t n); /* standard alphabet, padded */
void sbuf_free(struct sbuf *b);
char *xstrdup(const char *s);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
uint64_t now_ms(void);
void now_rfc3339(char out[32]);
void gen_uid(char out[37]);
/* Parses a decimal uint64; returns 0 or -EINVAL. */
int parse_u64(const char *s, uint64_t *out);
json_object *jcopy(json_object *o); /* deep copy, new reference */
const char *jstr(json_object *o, const char *path); /* dotted path lookup, borrowed, NULL if absent */
/* Splits s at sep in place, skipping empty parts; returns the count (<= max). */
size_t split_inplace(char *s, char sep, char **out, size_t max);
void ks_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- resource table (store.c) ---- */
struct rdef {
    const char *group, *version, *resource, *kind, *singular;
    bool namespaced, builtin;
    const char *shortnames; /* comma separated or NULL */
};
extern const struct rdef ks_rdefs[];
extern const size_t ks_nrdefs;
int rdef_find(const char *group, const char *version, const char *resource);
int rdef_find_kind(const char *apiversion, const char *kind);
int rdef_find_resource(const char *resource); /* first group holding it, -1 if none */
void rdef_apiversion(const struct rdef *d, char *out, size_t n);

/* An immutable stored object. refs counted under sim.mu. */
struct obj {
    int refs;
    int res;
    char *ns, *name; /* ns "" for cluster-scoped */
    uint64_t rv;
    /* What selectors, tables and writes read without parsing json: "path\0value\0"...
     * pairs ending with an empty path (see store.c lite_paths), and the labels as
     * "key\0value\0"... pairs, NULL when none. Compact: the full tree is never kept. */
    char *fields, *labels;
    char *json;      /* serialized, starts {"apiVersion":..,"kind":..,<body> */
    size_t len;
    size_t body_off; /* json + body_off = the part after kind (for list items of built-ins) */
};

enum ev_type { EV_ADDED, EV_MODIFIED, EV_DELETED };

struct event {
    uint64_t rv;
    int type;
    struct obj *obj;  /* state after (for DELETED: last state with the deletion RV) */
    struct obj *prev; /* state before, NULL for ADDED */
};

struct fail_rule {
    int count, code, retry_after;
    char path[256], verb[16];
    char query[128]; /* a substring of the raw query ("continue=": continued list pages only) */
};
/* /list-pace: paginated list answers sent in two parts, the head (up to
 * the items array, after the list's metadata) then, after hold_ms, the
 * rest; or the connection cut after the hold (truncate). */
struct pace_rule {
    bool active, truncate;
    char res[64]; /* plural resource name, "" = any */
    int hold_ms, skip, count; /* skip answers first; count 0 = every answer */
};

struct req_log {
    uint64_t id;
    uint64_t t;      /* answer queued */
    uint64_t t_recv; /* request received */
    uint64_t t_done; /* answer sent to the end (or the connection cut); 0 until then */
    int done;        /* 0 not yet, 1 sent completely, 2 cut short */
    char verb[16], method[8];
    char ctype[64]; /* request Content-Type ("" without a body type), truncated */
    char *path, *query, *ua;
    char user[64]; /* client certificate CN ("" for tokens and anonymous) */
    int code;
};

struct sim {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* broadcast on every write and control change */
    uint64_t rv;           /* global resourceVersion (last used) */
    uint64_t compacted_rv; /* history before (and at) this RV is gone */
    struct resstore {
        struct obj **items; /* sorted by (ns, name) */
        size_t n, cap;
    } *stores;
    bool *disabled; /* per rdef */
    /* history ring */
    struct event *hist;
    size_t hist_cap, hist_head, hist_n; /* oldest at hist_head */
    char *version_json;
    /* auth */
    bool tls;
    char **tokens; size_t ntokens;
    char **forbidden; size_t nforbidden;
    char **forbidden_users; size_t nforbidden_users; /* client certificate CNs answered 403 */
    bool client_ca; /* the TLS listener asks for client certificates (verified against ca.crt) */
    /* faults */
    struct fail_rule fails[32]; size_t nfails;
    int latency_ms;
    char latency_path[128]; /* only requests whose path contains it ("" = all) */
    uint64_t stall_until_ms;
    uint64_t drop_gen;
    uint64_t *drop_res_gen; /* per rdef: /drop-watches {"resource"} */
    char garbage_mode[16], garbage_res[64];
    char partition_ua[128]; uint64_t partition_until_ms;
    bool partition_hang; /* hang (no answer until the end) rather than close at once */
    int bookmark_interval_s;
    /* stats */
    long stat_verbs[10];
    long stat_codes[600];
    long watches_open;
    struct req_log *log; size_t log_cap, log_head, log_n;
    uint64_t log_seq; /* id of the last entry */
    struct pace_rule pace;
    /* mutator */
    int mut_rate, mut_res;
    uint64_t mut_seed;
    int mut_mix[3];
    long mut_done[3];
    bool mut_running;
    pthread_t mut_thread;
    /* addresses */
    char api_url[128];
};
extern struct sim sim;

extern const char *const ks_verbs[10];
int verb_index(const char *v);

/* All store_* calls require sim.mu held. */
void store_init(size_t history);
/* Normalizes o (takes it): apiVersion/kind first, RV, uid and creationTimestamp
 * when absent; serializes it once. Returns a new object with one reference. */
struct obj *obj_make(int res, json_object *o, uint64_t rv);
void obj_unref(struct obj *o);
/* Parses o->json: a new full tree the caller puts. */
json_object *obj_parse(const struct obj *o);
/* Borrowed from o (NULL when absent): a field in store.c lite_paths, or a label. */
const char *obj_field(const struct obj *o, const char *path);
const char *obj_label(const struct obj *o, const char *key);
struct obj *store_get(int res, const char *ns, const char *name);
/* Puts o (takes the reference) as the current state and records the event
 * (ADDED or MODIFIED decided by the store; type is informational). */
void store_put(struct obj *o, int type);
/* Deletes ns/name: records DELETED with a new RV. Returns 0 or -ENOENT. */
int store_delete(int res, const char *ns, const char *name, struct obj **last_out);
/* Index of the first item > (ns,name) in store res. */
size_t store_lower_bound(int res, const char *ns, const char *name, bool after);
/* State of res at rv (rv >= compacted_rv): items with key after (ns,name),
 * sorted. Returns the count; *out (caller frees the array) holds pointers
 * borrowed until sim.mu is released. */
size_t store_snapshot(int res, uint64_t rv, const char *ns, const char *name,
                      struct obj ***out);
void store_compact(void);
/* history: index of the first event with rv > after; returns hist_n if none. */
size_t hist_find(uint64_t after);
struct event *hist_at(size_t i);
/* Upsert helper used by control /apply and seeds: returns 0 or http code on error. */
int store_upsert_json(json_object *o, bool keep_rv, char *err, size_t errlen);
int seed_load_dir(const char *dir, char *err, size_t errlen);
/* Upserts one object or every item of a List (copies root). */
int store_apply_doc(json_object *root, char *err, size_t errlen, long *count);

/* ---- selectors (select.c) ---- */
struct selector;
/* Returns NULL and fills err on a parse error. NULL/"" input gives an always-true selector. */
struct selector *selector_parse_labels(const char *s, char *err, size_t errlen);
struct selector *selector_parse_fields(const char *s, char *err, size_t errlen);
bool selector_match(const struct selector *sel, const struct obj *o);
bool selector_empty(const struct selector *sel);
void selector_free(struct selector *sel);

/* ---- API (api.c, discovery.c, watch.c) ---- */
struct reqctx {
    char *uri; /* raw, with query */
    struct sbuf body;
    bool started;
    uint64_t t0;
    uint64_t log_id; /* its request log entry, 0 none */
};
enum MHD_Result api_handle(struct MHD_Connection *c, const char *url, const char *method,
               struct reqctx *rc);
enum MHD_Result control_handle(struct MHD_Connection *c, const char *url, const char *method,
                   struct reqctx *rc);
/* Builds a Status JSON body. Caller frees. */
/* kube-apiserver's storage.NewTooLargeResourceVersionError(want, current, 1):
 * 504 Timeout "Timeout: Too large resource version: W, current: C" with
 * details.causes [{reason ResourceVersionTooLarge}] and retryAfterSeconds 1.
 * Malloc'd JSON. */
char *too_large_status_json(uint64_t want, uint64_t current);
/* Waits (lock held) up to 3 s, like the watch cache's waitUntilFreshAndBlock,
 * for sim.rv to reach want. True when it did. */
bool wait_fresh_locked(uint64_t want);
char *status_json(int code, const char *reason, const char *message, const struct rdef *d,
                  const char *name);
enum MHD_Result send_json(struct MHD_Connection *c, int code, char *body, size_t len, const char *extra_hdr,
              const char *extra_val);
enum MHD_Result send_status(struct MHD_Connection *c, int code, const char *reason, const char *message,
                const struct rdef *d, const char *name);
enum MHD_Result discovery_handle(struct MHD_Connection *c, const char *url, bool *handled);
void table_row(struct sbuf *b, const struct obj *o);
void table_columns(struct sbuf *b, const struct rdef *d);

void qualified(const struct rdef *d, char *out, size_t n);
const char *qarg(struct MHD_Connection *c, const char *k);
bool wants_table(struct MHD_Connection *c);
enum MHD_Result send_obj(struct MHD_Connection *c, int code, const struct obj *o, bool table);
/* write.c */
enum MHD_Result api_get(struct MHD_Connection *c, int res, const char *ns, const char *name);
enum MHD_Result api_create(struct MHD_Connection *c, int res, const char *ns, struct reqctx *rc);
enum MHD_Result api_update(struct MHD_Connection *c, int res, const char *ns, const char *name,
                           const char *sub, struct reqctx *rc);
enum MHD_Result api_patch(struct MHD_Connection *c, int res, const char *ns, const char *name,
                          const char *sub, struct reqctx *rc);
enum MHD_Result api_delete(struct MHD_Connection *c, int res, const char *ns, const char *name,
                           struct reqctx *rc);

struct watch_params {
    int res;
    char *ns; /* NULL = all */
    struct selector *lsel, *fsel;
    const char *rv; /* borrowed */
    bool bookmarks, send_initial, table;
    long timeout_s;
    char *ua;
};
/* Takes p's owned members. */
enum MHD_Result watch_start(struct MHD_Connection *c, struct watch_params *p);
void log_request(const char *verb, const char *method, const char *uri, const char *ua, int code);
/* The request whose log entry is id ended: answer sent completely (ok) or cut. */
void log_request_done(uint64_t id, bool ok);

/* ---- protobuf bodies (proto.c) ---- */
/* True when body starts with the Kubernetes protobuf magic "k8s\0". */
bool proto_is_k8s(const void *body, size_t len);
/* Decodes a runtime.Unknown envelope of a kind kubesim has the message of (v1
 * ConfigMap, Secret, ServiceAccount, Namespace; DeleteOptions) into its JSON form: 0 and *out (the
 * caller puts it), -ENOTSUP for another kind or encoding (answer 415),
 * -EINVAL when malformed (answer 400); err gets the message. */
int proto_decode(const void *body, size_t len, json_object **out, char *err, size_t errlen);

/* ---- generator / mutator (gen.c) ---- */
void gen_objects(const char *kind, long n, uint64_t seed);
int mutator_set(int rate, int res, uint64_t seed, const int mix[3]);
/* RFC 7386 merge patch (write.c): takes target, borrows patch, returns the new target;
 * keys starting with '$' (strategic-merge directives) are skipped. */
json_object *json_merge_patch(json_object *target, json_object *patch);

#endif
