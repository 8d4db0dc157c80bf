/* The reflector's paginated list (reflector.h): pages are parsed one at a
 * time, in order, as they arrive (kube/sax.c, chunk by chunk); the next
 * page is asked for as soon as the current page's continue token has been
 * read and is held until its turn (struct list_page, reflector_int.h). */
#include "kube/reflector_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "kube/client.h"
#include "kube/gunzip.h"
#include "kube/sax.h"
#include "metrics/metrics.h"
#include "util/backoff.h"
#include "util/log.h"

static int page_item(void *data, const char *type, const struct sax_item *it)
{
    (void)type;
    struct reflector *r = data;
    void *rec = NULL;
    if (reflector__item_extract(r, it, &rec) != 0 || store_replace_add(r->staging, rec) != 0)
        r->page_skipped++;
    return 0;
}

static int page_bytes(void *data, const char *p, size_t n)
{
    struct reflector *r = data;
    return sax_feed(r->sax, p, n, page_item, r);
}

static void on_page(void *data, const struct kube_status *st);
static int on_page_chunk(void *data, const char *p, size_t n);

/* The next page's request is dropped (cancelled, or its early answer
 * forgotten). */
void reflector__drop_next(struct reflector *r)
{
    struct list_page *pg = r->next_page;
    if (!pg)
        return;
    r->next_page = NULL;
    if (pg->call)
        kube_client_cancel(pg->call);
    pg->call = NULL;
    pg->done = false;
}

/* Makes pg the page being parsed: a fresh parser and inflater. */
static int begin_page(struct reflector *r, struct list_page *pg)
{
    r->page = pg;
    r->call = pg->call;
    r->page_err = 0;
    r->page_skipped = 0;
    r->next_asked = false;
    r->next_yield = false;
    gunzip_end(&r->gz);
    gunzip_begin(&r->gz);
    return sax_reset(r->sax, SAX_LIST);
}

#define NEXT_PAGE_TIMEOUT_MS 120000 /* its own transfer and the wait for the current page */

/* The current page's metadata has been read: ask for the next page now if
 * it has a continue token. Failing that, the next page is asked for when
 * this one is done, as without it. */
static void ask_next(struct reflector *r)
{
    struct json_object *md = sax_list_metadata(r->sax), *v;
    if (!md)
        return;
    r->next_asked = true;
    if (r->next_page || !json_object_object_get_ex(md, "continue", &v) ||
        !json_object_is_type(v, json_type_string) || !*json_object_get_string(v))
        return;
    reflector__set_str(&r->cont, json_object_get_string(v));
    char path[4096];
    if (!r->cont || reflector__path(r, false, path, sizeof(path)) != 0)
        return;
    struct list_page *pg = r->page == &r->pages[0] ? &r->pages[1] : &r->pages[0];
    struct kube_req req = {.method = "GET", .path = path, .verb = "list", .raw_gzip = true,
                           .timeout_ms = NEXT_PAGE_TIMEOUT_MS};
    pg->r = r;
    pg->done = false;
    if (kube_client_start(r->client, &req, on_page_chunk, on_page, pg, &pg->call) == 0) {
        r->next_page = pg;
        r->next_yield = true;
    }
}

/* gzip pages reach us as sent (kube_req.raw_gzip): gunzip.c inflates them
 * without the CRC-32 libcurl would spend a tenth of a sync's CPU on. */
static int on_page_chunk(void *data, const char *p, size_t n)
{
    struct list_page *pg = data;
    struct reflector *r = pg->r;
    if (pg != r->page)
        return KUBE_CHUNK_PAUSE; /* the next page: its turn comes when this one is done */
    if (r->next_yield) { /* the request goes out on the next loop turn, before the rest of this page */
        r->next_yield = false;
        return KUBE_CHUNK_YIELD;
    }
    int rc = gunzip_feed(&r->gz, p, n, page_bytes, r);
    if (rc) {
        r->page_err = rc;
        return 1; /* stop the transfer */
    }
    if (!r->next_asked)
        ask_next(r);
    return 0;
}

/* The current page is done and had a continue token: its successor (asked
 * for already, or now) becomes the current page. */
static void next_page(struct reflector *r)
{
    struct list_page *pg = r->next_page;
    if (!pg) {
        reflector__start_list(r);
        return;
    }
    r->next_page = NULL;
    int rc = begin_page(r, pg);
    if (rc != 0) {
        if (pg->call)
            kube_client_cancel(pg->call);
        pg->call = r->call = NULL;
        struct kube_status st = {.err = rc, .retry_after = -1};
        snprintf(st.reason, sizeof(st.reason), "cannot start list: %s", strerror(-rc));
        reflector__list_failed(r, &st);
        return;
    }
    if (pg->done) { /* it was answered early (an error): handle it now, in order */
        struct kube_status st = pg->st;
        pg->done = false;
        on_page(pg, &st);
        return;
    }
    kube_client_resume(pg->call);
}

static void on_page(void *data, const struct kube_status *st)
{
    struct list_page *pg = data;
    struct reflector *r = pg->r;
    pg->call = NULL;
    if (pg != r->page) { /* the next page ended first: kept for its turn */
        pg->done = true;
        pg->st = *st;
        return;
    }
    r->call = NULL;
    if (st->err == 0 && st->http == 410) {
        /* continue token expired: start the list over */
        log_kv(LOG_INFO, "list continue token expired; listing again", "resource", r->type->resource, NULL);
        reflector__drop_next(r);
        store_replace_abort(r->staging);
        r->staging = NULL;
        reflector__set_str(&r->cont, NULL);
        reflector__start_list(r);
        return;
    }
    int prc = r->page_err;
    int zrc = gunzip_end(&r->gz); /* a gzip stream cut short is a bad page */
    if (prc == 0)
        prc = zrc;
    if (prc == 0 && (st->err != 0 || st->http != 200)) {
        reflector__list_failed(r, st);
        return;
    }
    if (prc == 0)
        prc = sax_finish(r->sax);
    if (prc) {
        struct kube_status bad = {.err = prc == -ENOMEM ? -ENOMEM : -EBADMSG, .http = st->http,
                                  .retry_after = -1};
        snprintf(bad.reason, sizeof(bad.reason), "list answer is not a JSON list");
        reflector__list_failed(r, &bad);
        return;
    }
    if (r->absent) /* served again: informer_synced 0 until the list is applied */
        m_set(r->m_synced, r->type->resource, 0);
    struct json_object *md = sax_list_metadata(r->sax), *v;
    const char *rv = NULL, *cont = NULL;
    if (md) {
        if (json_object_object_get_ex(md, "resourceVersion", &v) && json_object_is_type(v, json_type_string))
            rv = json_object_get_string(v);
        if (json_object_object_get_ex(md, "continue", &v) && json_object_is_type(v, json_type_string))
            cont = json_object_get_string(v);
    }
    if (!r->cont || !r->list_rv) /* the first page's RV is the list's */
        reflector__set_str(&r->list_rv, rv);
    if (r->page_skipped)
        log_kv(LOG_WARN, "list items skipped (missing metadata or out of memory)", "resource",
               r->type->resource, NULL);
    reflector__set_str(&r->cont, cont && *cont ? cont : NULL);
    if (r->cont) {
        next_page(r);
        return;
    }
    reflector__drop_next(r); /* none was asked for: the token was read from this very metadata */
    reflector__list_done(r);
}

void reflector__start_list(struct reflector *r)
{
    if (!r->staging && r->stream_list) {
        reflector__start_stream_list(r);
        return;
    }
    if (!r->staging) { /* a new list, not the next page */
        r->staging = store_replace_begin(r->store);
        reflector__set_str(&r->cont, NULL);
        reflector__set_str(&r->list_rv, NULL);
        if (r->lists++ > 0 && r->m_relists) {
            const char *lv[] = {r->type->resource};
            metric_add(r->m_relists, lv, 1);
        }
        if (!r->staging) {
            r->phase = PH_WAITING;
            reflector__schedule(r, NEXT_LIST, backoff_next(&r->backoff));
            return;
        }
    }
    reflector__drop_next(r);
    char path[4096];
    struct kube_status st = {.err = -E2BIG, .retry_after = -1};
    if (reflector__path(r, false, path, sizeof(path)) == 0) {
        struct kube_req req = {.method = "GET", .path = path, .verb = "list", .raw_gzip = true};
        struct list_page *pg = &r->pages[0];
        pg->r = r;
        pg->call = NULL;
        pg->done = false;
        st.err = begin_page(r, pg);
        if (st.err == 0)
            st.err = kube_client_start(r->client, &req, on_page_chunk, on_page, pg, &pg->call);
        r->call = pg->call;
    }
    r->phase = PH_LISTING;
    if (st.err != 0) {
        snprintf(st.reason, sizeof(st.reason), "cannot start list: %s", strerror(-st.err));
        reflector__list_failed(r, &st);
    }
}
