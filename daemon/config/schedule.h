/* The vault's backup schedule: an ISO 8601 repeating interval as
 * `az dataprotection backup-policy show` prints repeatingTimeIntervals
 * ("R/2026-01-01T02:00:00+00:00/PT4H"). Parsed by config/, used by quota/
 * to tell a slot's scheduled backup from on-demand ones. */
#ifndef ABC_CONFIG_SCHEDULE_H
#define ABC_CONFIG_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

struct schedule {
    int64_t start;  /* first slot, Unix seconds */
    int64_t period; /* seconds between slots, > 0 */
    int64_t count;  /* number of slots; -1 = unbounded ("R/") */
};

/* Parses "R[n]/<RFC 3339 start>/<duration>". The duration is ISO 8601 with
 * fixed-length units only: PnW, PnD, PTnHnMnS and combinations such as
 * P1DT12H (years and months have no fixed length and are rejected).
 * Returns 0, or -EINVAL with a reason in why (may be NULL). */
int schedule_parse(const char *s, struct schedule *out, char *why, size_t whylen);

/* Parses only an ISO 8601 duration ("PT4H", "P1W") into seconds.
 * 0 or -EINVAL (with why). */
int schedule_parse_duration(const char *s, int64_t *secs, char *why, size_t whylen);

/* The most recent slot start <= t. Returns 0 and *slot_start, or -1 when t
 * is before the first slot. For a bounded schedule, times after the last
 * slot map to the last slot. */
int schedule_slot_at(const struct schedule *s, int64_t t, int64_t *slot_start);

/* The first slot start > t, or -1 when there is none (bounded, exhausted). */
int64_t schedule_next_slot(const struct schedule *s, int64_t t);

#endif
