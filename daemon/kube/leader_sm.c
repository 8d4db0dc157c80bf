/* Leader election state machine (client-go leaderelection's
 * tryAcquireOrRenew, renew deadline and ReleaseOnCancel) and the Lease JSON
 * codec. Pure: kube/lease.c drives it with times and HTTP answers; the
 * unit tests drive it with made-up ones. See leader_sm.h. */
#include "kube/leader_sm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/clock.h"

static void copy_str(char *dst, size_t n, const char *src)
{
    size_t l = src ? strlen(src) : 0;
    if (l >= n)
        l = n - 1;
    if (l)
        memcpy(dst, src, l);
    dst[l] = '\0';
}

int leader_sm_init(struct leader_sm *sm, const struct leader_sm_opts *o)
{
    if (!o || !o->identity || !*o->identity || strlen(o->identity) >= LEASE_ID_MAX)
        return -EINVAL;
    if (o->retry_period_ms <= 0 || o->renew_deadline_ms <= o->retry_period_ms ||
        o->lease_duration_ms <= o->renew_deadline_ms)
        return -EINVAL;
    memset(sm, 0, sizeof(*sm));
    copy_str(sm->identity, sizeof(sm->identity), o->identity);
    sm->duration_ms = o->lease_duration_ms;
    sm->deadline_ms = o->renew_deadline_ms;
    sm->retry_ms = o->retry_period_ms;
    sm->poll_ms = o->follower_poll_ms > 0 && o->follower_poll_ms < o->retry_period_ms
                      ? o->follower_poll_ms
                      : o->retry_period_ms;
    sm->next_attempt = 0; /* first tick tries at once (monotonic times are >= 0) */
    return 0;
}

static bool record_equal(const struct lease_record *a, const struct lease_record *b)
{
    return strcmp(a->holder, b->holder) == 0 && a->duration_s == b->duration_s &&
           a->acquire_ms == b->acquire_ms && a->renew_ms == b->renew_ms &&
           a->transitions == b->transitions && strcmp(a->rv, b->rv) == 0;
}

static bool is_me(const struct leader_sm *sm, const char *holder)
{
    return strcmp(sm->identity, holder) == 0;
}

static long duration_s(const struct leader_sm *sm)
{
    long s = (long)((sm->duration_ms + 999) / 1000);
    return s > 0 ? s : 1;
}

static void check_deadline(struct leader_sm *sm, int64_t now_mono)
{
    if (sm->leader && now_mono - sm->last_renew_sent >= sm->deadline_ms)
        sm->leader = false;
}

enum leader_sm_action leader_sm_tick(struct leader_sm *sm, int64_t now_mono, int64_t now_wall_ms)
{
    if (sm->stopped)
        return LEADER_SM_NONE;
    check_deadline(sm, now_mono);
    if (sm->in_flight || now_mono < leader_sm_next_ms(sm))
        return LEADER_SM_NONE;
    sm->in_flight = true;
    sm->last_attempt = now_mono;
    /* Fast path (client-go >= 1.26): a leader whose lease is valid writes
     * the renewal straight away with the resourceVersion it holds; a 409
     * sends it back through a GET. */
    if (sm->leader && sm->have_observed && is_me(sm, sm->observed.holder)) {
        sm->desired = sm->observed;
        sm->desired.duration_s = duration_s(sm);
        sm->desired.renew_ms = now_wall_ms;
        return LEADER_SM_UPDATE;
    }
    return LEADER_SM_GET;
}

static void observe(struct leader_sm *sm, int64_t now_mono, const struct lease_record *rec)
{
    if (!sm->have_observed || !record_equal(&sm->observed, rec)) {
        sm->observed = *rec;
        sm->observed_mono = now_mono;
        sm->have_observed = true;
    }
}

static bool held_by_other(const struct leader_sm *sm, int64_t now_mono)
{
    if (!sm->have_observed || !sm->observed.holder[0] || is_me(sm, sm->observed.holder))
        return false;
    return now_mono < sm->observed_mono + (int64_t)sm->observed.duration_s * 1000;
}

static enum leader_sm_action release_from(struct leader_sm *sm, int64_t now_wall_ms,
                                          const struct lease_record *cur)
{
    sm->desired = *cur;
    sm->desired.holder[0] = '\0';
    sm->desired.duration_s = 1;
    sm->desired.acquire_ms = now_wall_ms;
    sm->desired.renew_ms = now_wall_ms;
    sm->in_flight = true;
    return LEADER_SM_UPDATE;
}

enum leader_sm_action leader_sm_on_get(struct leader_sm *sm, int64_t now_mono,
                                       int64_t now_wall_ms, int http_status,
                                       const struct lease_record *rec)
{
    sm->in_flight = false;
    sm->next_attempt = now_mono + sm->retry_ms;
    if (sm->stopped) {
        /* A release that hit a 409: release again if still ours. */
        if (sm->releasing && http_status == 200 && rec && is_me(sm, rec->holder))
            return release_from(sm, now_wall_ms, rec);
        sm->releasing = false;
        return LEADER_SM_NONE;
    }
    check_deadline(sm, now_mono);
    if (http_status == 404) {
        memset(&sm->desired, 0, sizeof(sm->desired));
        copy_str(sm->desired.holder, sizeof(sm->desired.holder), sm->identity);
        sm->desired.duration_s = duration_s(sm);
        sm->desired.acquire_ms = now_wall_ms;
        sm->desired.renew_ms = now_wall_ms;
        sm->in_flight = true;
        return LEADER_SM_CREATE;
    }
    if (http_status != 200 || !rec)
        return LEADER_SM_NONE;
    observe(sm, now_mono, rec);
    if (held_by_other(sm, now_mono)) {
        sm->leader = false; /* someone else holds a valid lease */
        sm->next_attempt = now_mono + sm->poll_ms;
        return LEADER_SM_NONE;
    }
    sm->desired = *rec;
    copy_str(sm->desired.holder, sizeof(sm->desired.holder), sm->identity);
    sm->desired.duration_s = duration_s(sm);
    sm->desired.renew_ms = now_wall_ms;
    if (!is_me(sm, rec->holder) || rec->acquire_ms == 0) {
        sm->desired.acquire_ms = now_wall_ms;
        if (!is_me(sm, rec->holder))
            sm->desired.transitions = rec->transitions + 1;
    }
    sm->in_flight = true;
    return LEADER_SM_UPDATE;
}

enum leader_sm_action leader_sm_on_write(struct leader_sm *sm, int64_t now_mono,
                                         int64_t sent_mono, int http_status,
                                         const struct lease_record *rec)
{
    sm->in_flight = false;
    sm->next_attempt = now_mono + sm->retry_ms;
    bool ok = (http_status == 200 || http_status == 201) && rec;
    if (sm->stopped) {
        if (ok || http_status != 409 || !sm->releasing) {
            sm->releasing = false;
            return LEADER_SM_NONE;
        }
        sm->in_flight = true; /* re-read and release again */
        return LEADER_SM_GET;
    }
    if (!ok) {
        check_deadline(sm, now_mono);
        if (http_status == 409) {
            sm->next_attempt = now_mono;
            sm->in_flight = true;
            return LEADER_SM_GET;
        }
        return LEADER_SM_NONE;
    }
    observe(sm, now_mono, rec);
    if (is_me(sm, rec->holder) && now_mono - sent_mono < sm->deadline_ms) {
        /* Leadership lasts until sent + deadline: a slow answer cannot
         * extend it past what the others will allow. */
        sm->leader = true;
        sm->last_renew_sent = sent_mono;
    } else {
        check_deadline(sm, now_mono);
    }
    return LEADER_SM_NONE;
}

void leader_sm_on_abandon(struct leader_sm *sm, int64_t now_mono)
{
    sm->in_flight = false;
    sm->releasing = false;
    sm->next_attempt = now_mono;
    check_deadline(sm, now_mono);
}

enum leader_sm_action leader_sm_release(struct leader_sm *sm, int64_t now_wall_ms)
{
    bool was = sm->leader;
    sm->stopped = true;
    sm->leader = false;
    sm->in_flight = false; /* any answer in flight is ignored from now on */
    if (!was || !sm->have_observed || !is_me(sm, sm->observed.holder))
        return LEADER_SM_NONE;
    sm->releasing = true;
    return release_from(sm, now_wall_ms, &sm->observed);
}

const struct lease_record *leader_sm_desired(const struct leader_sm *sm)
{
    return &sm->desired;
}

bool leader_sm_is_leader(const struct leader_sm *sm) { return sm->leader; }

const char *leader_sm_holder(const struct leader_sm *sm)
{
    return sm->have_observed ? sm->observed.holder : "";
}

int64_t leader_sm_next_ms(const struct leader_sm *sm)
{
    if (sm->stopped)
        return INT64_MAX;
    int64_t t = sm->next_attempt;
    if (sm->leader && sm->last_renew_sent + sm->deadline_ms < t)
        t = sm->last_renew_sent + sm->deadline_ms;
    if (!sm->leader && sm->have_observed && sm->observed.holder[0] &&
        !is_me(sm, sm->observed.holder)) {
        int64_t exp = sm->observed_mono + (int64_t)sm->observed.duration_s * 1000;
        if (exp > sm->last_attempt && exp < t)
            t = exp;
    }
    return t;
}

/* ---- JSON codec ---------------------------------------------------- */

void lease_format_microtime(int64_t unix_ms, char *out, size_t n)
{
    int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : -((-unix_ms + 999) / 1000);
    int frac = (int)(unix_ms - secs * 1000);
    char base[32];
    clock_format_rfc3339(secs, base, sizeof(base));
    size_t l = strlen(base);
    if (l && base[l - 1] == 'Z')
        base[l - 1] = '\0';
    snprintf(out, n, "%s.%03d000Z", base, frac);
}

static json_object *get_path(json_object *o, const char *a, const char *b)
{
    json_object *x = NULL, *y = NULL;
    if (!json_object_object_get_ex(o, a, &x) || !json_object_is_type(x, json_type_object))
        return NULL;
    if (!b)
        return x;
    return json_object_object_get_ex(x, b, &y) ? y : NULL;
}

static int parse_time(json_object *v, int64_t *ms)
{
    *ms = 0;
    if (!v || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return -EINVAL;
    int64_t secs;
    return clock_parse_rfc3339(json_object_get_string(v), &secs, ms) ? -EINVAL : 0;
}

int lease_record_parse(const char *json, size_t len, struct lease_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    if (!json)
        return -EINVAL;
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return -ENOMEM;
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    bool complete = json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!root || !complete || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return -EINVAL;
    }
    int rc = 0;
    json_object *v = get_path(root, "metadata", "resourceVersion");
    if (v && json_object_is_type(v, json_type_string))
        copy_str(rec->rv, sizeof(rec->rv), json_object_get_string(v));
    json_object *spec = get_path(root, "spec", NULL);
    if (spec) {
        json_object *f;
        if (json_object_object_get_ex(spec, "holderIdentity", &f) &&
            json_object_is_type(f, json_type_string))
            copy_str(rec->holder, sizeof(rec->holder), json_object_get_string(f));
        if (json_object_object_get_ex(spec, "leaseDurationSeconds", &f) &&
            json_object_is_type(f, json_type_int))
            rec->duration_s = (long)json_object_get_int64(f);
        if (json_object_object_get_ex(spec, "leaseTransitions", &f) &&
            json_object_is_type(f, json_type_int))
            rec->transitions = (long)json_object_get_int64(f);
        f = NULL;
        json_object_object_get_ex(spec, "acquireTime", &f);
        if (parse_time(f, &rec->acquire_ms))
            rc = -EINVAL;
        f = NULL;
        json_object_object_get_ex(spec, "renewTime", &f);
        if (parse_time(f, &rec->renew_ms))
            rc = -EINVAL;
    }
    json_object_put(root);
    return rc;
}

static int add(json_object *o, const char *k, json_object *v)
{
    if (!v)
        return -ENOMEM;
    return json_object_object_add(o, k, v) ? -ENOMEM : 0;
}

static int add_time(json_object *o, const char *k, int64_t ms)
{
    if (!ms)
        return 0;
    char t[40];
    lease_format_microtime(ms, t, sizeof(t));
    return add(o, k, json_object_new_string(t));
}

char *lease_record_render(const struct lease_record *rec, const char *name,
                          const char *namespace_, size_t *len)
{
    json_object *root = json_object_new_object(), *md = json_object_new_object(),
                *spec = json_object_new_object();
    char *out = NULL;
    int rc = (!root || !md || !spec) ? -ENOMEM : 0;
    if (rc) {
        json_object_put(md);
        json_object_put(spec);
        goto done;
    }
    rc |= add(root, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
    rc |= add(root, "kind", json_object_new_string("Lease"));
    rc |= add(md, "name", json_object_new_string(name));
    rc |= add(md, "namespace", json_object_new_string(namespace_));
    if (rec->rv[0])
        rc |= add(md, "resourceVersion", json_object_new_string(rec->rv));
    rc |= add(root, "metadata", md);
    rc |= add(spec, "holderIdentity", json_object_new_string(rec->holder));
    rc |= add(spec, "leaseDurationSeconds", json_object_new_int64(rec->duration_s));
    rc |= add_time(spec, "acquireTime", rec->acquire_ms);
    rc |= add_time(spec, "renewTime", rec->renew_ms);
    rc |= add(spec, "leaseTransitions", json_object_new_int64(rec->transitions));
    rc |= add(root, "spec", spec);
    if (rc)
        goto done;
    size_t l = 0;
    const char *s = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &l);
    if (s) {
        out = malloc(l + 1);
        if (out) {
            memcpy(out, s, l + 1);
            if (len)
                *len = l;
        }
    }
done:
    json_object_put(root);
    return out;
}
