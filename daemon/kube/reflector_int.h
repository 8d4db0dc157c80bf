/* Private to the reflector (reflector.c, reflector_setup.c): the struct
 * and the helpers shared by its files. Not a public interface. */
#ifndef ABC_KUBE_REFLECTOR_INT_H
#define ABC_KUBE_REFLECTOR_INT_H

#include "kube/gunzip.h"
#include "kube/reflector.h"
#include "kube/sax.h"
#include "kube/watchparse.h"
#include "metrics/metrics.h"
#include "util/backoff.h"

#define PAGE_LIMIT 500

enum phase { PH_IDLE, PH_LISTING, PH_WATCHING, PH_WAITING };
enum next { NEXT_LIST, NEXT_WATCH };
enum abort_reason { AB_NONE, AB_EXPIRED, AB_TOO_LARGE, AB_ERROR_EVENT, AB_PARSE, AB_LIST_ONLY_DONE };

/* A list page's request. Pages are parsed one at a time, in order (the
 * current page). As soon as the current page's continue token has been read
 * (kube-apiserver writes the list's metadata before its items), the next
 * page is asked for: the server builds and sends it while this one is
 * parsed. Its first chunk is held (KUBE_CHUNK_PAUSE: flow control holds the
 * rest on the server's side) until the current page is done; at most one
 * page is ahead. */
struct list_page {
    struct reflector *r;
    struct kube_ccall *call;
    bool done;             /* answered (an error) while it was the next page */
    struct kube_status st; /* that answer, handled when its turn comes */
};

struct reflector {
    uv_loop_t *loop;
    struct kube_client *client;
    struct store *store;
    const struct model_type *type;
    enum reflector_mode mode;
    struct reflector_hooks hooks;
    uv_timer_t retry; /* next list/watch after a delay */
    uv_timer_t idle;  /* watch silence */
    int closes;
    reflector_close_cb close_cb;
    void *close_data;
    bool started, closing;

    enum phase phase;
    enum next next;
    struct kube_ccall *call; /* the request being read: list page (page->call) or watch */
    struct list_page pages[2];
    struct list_page *page, *next_page; /* the page being parsed; the next one asked for, or NULL */
    bool next_asked;                    /* the current page's continue token was acted on */
    bool next_yield;                    /* let the next page's request out before going on */
    struct store_replace *staging;
    char *cont;      /* continue token of the list in progress */
    char *list_rv;   /* resourceVersion of the list in progress */
    char *rv;        /* last resourceVersion seen */
    unsigned lists;  /* lists started */
    bool synced, absent;
    struct backoff backoff;
    struct sax *sax;  /* the list page or the watch in flight (kube/sax.c) */
    int page_err;     /* the page parser's error, 0 */
    struct gunzip gz; /* the page's body (gzip or plain) */
    unsigned page_skipped;
    enum abort_reason abort_reason;
    char abort_msg[200];
    unsigned watch_timeout_s;
    uint64_t watch_start_ms;
    unsigned watch_events;
    unsigned idle_s, absent_s;
    bool stream_list;   /* try WATCH with sendInitialEvents first */
    bool initial;       /* the watch in flight is a streaming list */
    unsigned initial_s; /* silence during initial events = server ignored it */

    struct metric_family *m_events, *m_restarts, *m_relists, *m_synced, *m_objects, *m_last;
    bool standby; /* informer series removed (reflector_standby) */
};

/* reflector.c, for reflector_list.c */
void reflector__set_str(char **dst, const char *src); /* *dst = copy of src (NULL ok); kept on ENOMEM */
/* A list failed: the staged list dropped, logged, retried (or absent on 404). */
void reflector__list_failed(struct reflector *r, const struct kube_status *st);
/* The list is complete: applied to the store, then the watch (or idle). */
void reflector__list_done(struct reflector *r);
/* The record of a list item or an event's object. */
int reflector__item_extract(const struct reflector *r, const struct sax_item *it, void **rec);
void reflector__start_stream_list(struct reflector *r);
/* The next list or watch after delay_ms. */
void reflector__schedule(struct reflector *r, enum next what, uint64_t delay_ms);

/* reflector_list.c */
/* A new list (no staging yet), or the list's next page from r->cont. */
void reflector__start_list(struct reflector *r);
/* The next page's request, if any, is cancelled (or its early answer dropped). */
void reflector__drop_next(struct reflector *r);

/* Declares the reflector's metric families in m and starts its series at 0. */
void reflector__declare_metrics(struct reflector *r, struct metrics *m);
/* The request path: a list page (watch false), the watch from r->rv, or
 * the streaming list (r->initial). 0 or -E2BIG. */
int reflector__path(struct reflector *r, bool watch, char *out, size_t n);

static inline void m_add(struct metric_family *f, const char *a, const char *b)
{
    if (!f)
        return;
    const char *lv[] = {a, b};
    metric_add(f, lv, 1);
}

static inline void m_set(struct metric_family *f, const char *res, double v)
{
    if (!f)
        return;
    const char *lv[] = {res};
    metric_set(f, lv, v);
}

static inline void restarts(struct reflector *r, const char *reason)
{
    m_add(r->m_restarts, r->type->resource, reason);
}

#endif
