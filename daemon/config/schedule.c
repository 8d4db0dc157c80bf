/* ISO 8601 repeating intervals for vault.backup_schedule.
 * Pure functions: config/ parses, quota/ asks which slot a backup fell in. */
#include "config/schedule.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/clock.h"

static int fail(char *why, size_t n, const char *msg)
{
    if (why && n)
        snprintf(why, n, "%s", msg);
    return -EINVAL;
}

int schedule_parse_duration(const char *s, int64_t *secs, char *why, size_t whylen)
{
    const char *p = s;
    int in_time = 0, any = 0;
    int64_t total = 0;
    if (!p || *p != 'P')
        return fail(why, whylen, "duration must start with 'P'");
    p++;
    while (*p) {
        if (*p == 'T') {
            if (in_time)
                return fail(why, whylen, "duration has two 'T'");
            in_time = 1;
            p++;
            if (!*p)
                return fail(why, whylen, "duration ends after 'T'");
            continue;
        }
        if (!isdigit((unsigned char)*p))
            return fail(why, whylen, "expected a number in the duration");
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v > 100000000)
                return fail(why, whylen, "duration too large");
            v = v * 10 + (*p - '0');
            p++;
        }
        int64_t unit;
        switch (*p) {
        case 'W': unit = in_time ? -1 : 7 * 86400; break;
        case 'D': unit = in_time ? -1 : 86400; break;
        case 'H': unit = in_time ? 3600 : -1; break;
        case 'M': unit = in_time ? 60 : -2; break;
        case 'S': unit = in_time ? 1 : -1; break;
        case 'Y': unit = -2; break;
        case '\0': return fail(why, whylen, "number without a unit in the duration");
        default: return fail(why, whylen, "unknown unit in the duration");
        }
        if (unit == -2)
            return fail(why, whylen, "years and months have no fixed length; use W, D, H, M or S");
        if (unit < 0)
            return fail(
                why, whylen,
                "unit in the wrong part of the duration (date units before T, time units after)");
        total += v * unit;
        any = 1;
        p++;
    }
    if (!any)
        return fail(why, whylen, "empty duration");
    if (total <= 0)
        return fail(why, whylen, "duration must be longer than zero");
    *secs = total;
    return 0;
}

int schedule_parse(const char *s, struct schedule *out, char *why, size_t whylen)
{
    if (!s || s[0] != 'R')
        return fail(why, whylen, "a repeating interval starts with 'R'");
    const char *p = s + 1;
    int64_t count = -1;
    if (isdigit((unsigned char)*p)) {
        count = 0;
        while (isdigit((unsigned char)*p)) {
            if (count > 100000000)
                return fail(why, whylen, "repeat count too large");
            count = count * 10 + (*p - '0');
            p++;
        }
        if (count == 0)
            return fail(why, whylen, "repeat count must be at least 1");
    }
    if (*p != '/')
        return fail(why, whylen, "expected '/' after R[n]");
    p++;
    const char *slash = strchr(p, '/');
    if (!slash)
        return fail(why, whylen, "expected R[n]/<start>/<duration>");
    char start[64];
    size_t len = (size_t)(slash - p);
    if (len == 0 || len >= sizeof start)
        return fail(why, whylen, "missing or overlong start time");
    memcpy(start, p, len);
    start[len] = '\0';
    int64_t t0;
    if (clock_parse_rfc3339(start, &t0, NULL))
        return fail(why, whylen,
                    "start is not an RFC 3339 time with offset (e.g. 2026-01-01T02:00:00+00:00)");
    int64_t period;
    char dwhy[128];
    if (schedule_parse_duration(slash + 1, &period, dwhy, sizeof dwhy))
        return fail(why, whylen, dwhy);
    out->start = t0;
    out->period = period;
    out->count = count;
    return 0;
}

int schedule_slot_at(const struct schedule *s, int64_t t, int64_t *slot_start)
{
    if (t < s->start || s->period <= 0)
        return -1;
    int64_t k = (t - s->start) / s->period;
    if (s->count >= 0 && k > s->count - 1)
        k = s->count - 1;
    *slot_start = s->start + k * s->period;
    return 0;
}

int64_t schedule_next_slot(const struct schedule *s, int64_t t)
{
    if (s->period <= 0)
        return -1;
    if (t < s->start)
        return s->start;
    int64_t k = (t - s->start) / s->period + 1;
    if (s->count >= 0 && k > s->count - 1)
        return -1;
    return s->start + k * s->period;
}
