/* The reflector's setup pieces (reflector_int.h): its metric families
 * (declared once per resource, every series started at 0) and the request
 * paths of a list page, a watch and a streaming list. Called by reflector.c. */
#include "kube/reflector_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kube/client.h"

void reflector__declare_metrics(struct reflector *r, struct metrics *m)
{
    static const char *const rt[] = {"resource", "type"};
    static const char *const rr[] = {"resource", "reason"};
    static const char *const res[] = {"resource"};
    r->m_events = metrics_family(m, "aks_backup_watch_events_total", METRIC_COUNTER, METRIC_SCOPE_PROCESS,
                                 "Watch events received, by resource and event type.", 2, rt, NULL, 0);
    r->m_restarts = metrics_family(m, "aks_backup_watch_restarts_total", METRIC_COUNTER, METRIC_SCOPE_PROCESS,
                                   "Watches restarted, by resource and reason (timeout, expired, error, eof).",
                                   2, rr, NULL, 0);
    r->m_relists = metrics_family(m, "aks_backup_relists_total", METRIC_COUNTER, METRIC_SCOPE_PROCESS,
                                  "Lists of a resource after its first one.", 1, res, NULL, 0);
    r->m_synced = metrics_family(m, "aks_backup_informer_synced", METRIC_GAUGE, METRIC_SCOPE_PROCESS,
                                 "1 when the resource's store is in step with the API server (its list has been "
                                 "applied, or its API is not served: known absent, empty), else 0.",
                                 1, res, NULL, 0);
    r->m_objects = metrics_family(m, "aks_backup_informer_objects", METRIC_GAUGE, METRIC_SCOPE_PROCESS,
                                  "Objects held in the resource's store.", 1, res, NULL, 0);
    r->m_last = metrics_family(m, "aks_backup_last_event_timestamp_seconds", METRIC_GAUGE,
                               METRIC_SCOPE_PROCESS,
                               "Unix time in seconds of the last watch event or list of the resource.", 1,
                               res, NULL, 0);
    m_set(r->m_synced, r->type->resource, 0);
    m_set(r->m_objects, r->type->resource, 0);
    /* Counters start at 0 for every resource and reason, so every
     * documented family is present from the first scrape and rate() sees
     * the first increment. */
    if (r->m_relists) {
        const char *lv[] = {r->type->resource};
        metric_add(r->m_relists, lv, 0);
    }
    static const char *const types[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    for (size_t i = 0; r->m_events && i < sizeof(types) / sizeof(types[0]); i++) {
        const char *lv[] = {r->type->resource, types[i]};
        metric_add(r->m_events, lv, 0);
    }
    static const char *const reasons[] = {"timeout", "expired", "error", "eof"};
    for (size_t i = 0; r->m_restarts && i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        const char *lv[] = {r->type->resource, reasons[i]};
        metric_add(r->m_restarts, lv, 0);
    }
}

/* ---- paths ---- */

int reflector__path(struct reflector *r, bool watch, char *out, size_t n)
{
    bool initial = watch && r->initial;
    const struct model_type *t = r->type;
    int w;
    if (t->group && *t->group)
        w = snprintf(out, n, "/apis/%s/%s", t->group, t->version);
    else
        w = snprintf(out, n, "/api/%s", t->version);
    if (w < 0 || (size_t)w >= n)
        return -E2BIG;
    size_t l = (size_t)w;
    if (t->namespaced && t->namespace_ && *t->namespace_)
        l += (size_t)snprintf(out + l, n - l, "/namespaces/%s", t->namespace_);
    if (l >= n)
        return -E2BIG;
    if (initial) {
        l += (size_t)snprintf(out + l, n - l,
                              "/%s?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
                              "&allowWatchBookmarks=true&timeoutSeconds=%u",
                              t->resource, r->watch_timeout_s);
        if (l >= n)
            return -E2BIG;
    } else if (watch) {
        l += (size_t)snprintf(out + l, n - l,
                              "/%s?watch=true&allowWatchBookmarks=true&timeoutSeconds=%u&resourceVersion=",
                              t->resource, r->watch_timeout_s);
        if (l >= n || kube_query_escape(out, n, r->rv ? r->rv : ""))
            return -E2BIG;
    } else {
        l += (size_t)snprintf(out + l, n - l, "/%s?limit=%d", t->resource, PAGE_LIMIT);
        if (l >= n)
            return -E2BIG;
        if (r->cont) {
            l = strlen(out);
            if (l + 12 >= n)
                return -E2BIG;
            memcpy(out + l, "&continue=", 11);
            if (kube_query_escape(out, n, r->cont))
                return -E2BIG;
        }
    }
    if (t->label_selector && *t->label_selector) {
        l = strlen(out);
        if (l + 16 >= n)
            return -E2BIG;
        memcpy(out + l, "&labelSelector=", 16);
        if (kube_query_escape(out, n, t->label_selector))
            return -E2BIG;
    }
    return 0;
}

