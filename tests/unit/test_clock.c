/* util/clock.c: RFC 3339 parsing (offsets, fractions, bad input) and
 * formatting that parses back, also for years below 1000 (bugs.md B2). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

START_TEST(parse_forms)
{
    int64_t s, ms;
    ck_assert_int_eq(clock_parse_rfc3339("1970-01-01T00:00:00Z", &s, &ms), 0);
    ck_assert_int_eq(s, 0);
    ck_assert_int_eq(clock_parse_rfc3339("2026-01-02T03:04:05Z", &s, &ms), 0);
    ck_assert_int_eq(s, 1767323045);
    ck_assert_int_eq(clock_parse_rfc3339("2026-01-02T05:04:05.25+02:00", &s, &ms), 0);
    ck_assert_int_eq(s, 1767323045);
    ck_assert_int_eq(ms, 1767323045250LL);
    ck_assert_int_eq(clock_parse_rfc3339("2026-13-02T03:04:05Z", &s, &ms), -EINVAL);
    ck_assert_int_eq(clock_parse_rfc3339("2026-01-02T03:04:05", &s, &ms), -EINVAL);
    ck_assert_int_eq(clock_parse_rfc3339("2026-01-02T03:04:05Zjunk", &s, &ms), -EINVAL);
    ck_assert_int_eq(clock_parse_rfc3339("2026-01-02T03:04:05.Z", &s, &ms), -EINVAL);
    ck_assert_int_eq(clock_parse_rfc3339("2026-01", &s, &ms), -EINVAL);
    ck_assert_int_eq(clock_parse_rfc3339("", &s, &ms), -EINVAL);
    ck_assert_int_eq(clock_parse_rfc3339(NULL, &s, &ms), -EINVAL);
    /* impossible calendar dates are errors, leap days only in leap years */
    ck_assert_int_eq(clock_parse_rfc3339("2026-02-30T02:00:00Z", &s, &ms), -EINVAL);
    ck_assert_int_eq(clock_parse_rfc3339("2026-04-31T02:00:00Z", &s, &ms), -EINVAL);
    ck_assert_int_eq(clock_parse_rfc3339("2026-02-29T02:00:00Z", &s, &ms), -EINVAL);
    ck_assert_int_eq(clock_parse_rfc3339("2100-02-29T02:00:00Z", &s, &ms), -EINVAL);
    ck_assert_int_eq(clock_parse_rfc3339("2028-02-29T02:00:00Z", &s, &ms), 0);
    ck_assert_int_eq(clock_parse_rfc3339("2000-02-29T02:00:00Z", &s, &ms), 0);
    ck_assert_int_eq(clock_parse_rfc3339("2026-12-31T23:59:59Z", &s, &ms), 0);
}
END_TEST

START_TEST(format_round_trips)
{
    static const char *const in[] = {"2026-11-25T13:08:40Z", "0306-03-15T00:00:00Z",
                                     "0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        int64_t s, s2;
        char out[32];
        ck_assert_int_eq(clock_parse_rfc3339(in[i], &s, NULL), 0);
        clock_format_rfc3339(s, out, sizeof(out));
        ck_assert_str_eq(out, in[i]); /* zero-padded year: parses back */
        ck_assert_int_eq(clock_parse_rfc3339(out, &s2, NULL), 0);
        ck_assert_int_eq(s2, s);
    }
}
END_TEST

int main(void)
{
    Suite *su = suite_create("clock");
    TCase *tc = tcase_create("rfc3339");
    tcase_add_test(tc, parse_forms);
    tcase_add_test(tc, format_round_trips);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
