/* Wall clock and day boundaries. The wall clock can be started at a fixed
 * instant for tests (ABC_TEST_NOW); it then advances in real time.
 * Monotonic time always comes from libuv / CLOCK_MONOTONIC. */
#ifndef ABC_UTIL_CLOCK_H
#define ABC_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Reads ABC_TEST_NOW once. Returns 1 when the test clock is active, 0 when
 * not, -EINVAL when the variable is set but not RFC 3339. */
int clock_init_from_env(void);
/* Test hook for unit tests: set the offset added to the real clock. */
void clock_set_offset_ms(int64_t offset_ms);

int64_t clock_now_ms(void);   /* wall clock, Unix ms (test offset applied) */
int64_t clock_mono_ms(void);  /* CLOCK_MONOTONIC ms */

/* Parses RFC 3339 ("2026-03-14T15:00:00Z", "...+05:30", fractional secs).
 * Returns 0 and Unix seconds (and ms in *ms if non-NULL), or -EINVAL. */
int clock_parse_rfc3339(const char *s, int64_t *secs, int64_t *ms);
/* Formats Unix seconds as RFC 3339 UTC ("2026-03-14T15:00:00Z"); out >= 21. */
void clock_format_rfc3339(int64_t secs, char *out, size_t n);

#endif
