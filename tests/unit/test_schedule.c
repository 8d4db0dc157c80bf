/* schedule.c: ISO 8601 repeating intervals as az prints them, durations,
 * and which slot a time falls in (quota accounting). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/schedule.h"
#include "util/clock.h"

static int64_t T(const char *s)
{
    int64_t t;
    ck_assert_int_eq(clock_parse_rfc3339(s, &t, NULL), 0);
    return t;
}

START_TEST(parse_az_forms)
{
    struct schedule s;
    char why[128];
    ck_assert_int_eq(schedule_parse("R/2026-01-01T02:00:00+00:00/PT4H", &s, why, sizeof why), 0);
    ck_assert_int_eq(s.start, T("2026-01-01T02:00:00Z"));
    ck_assert_int_eq(s.period, 4 * 3600);
    ck_assert_int_eq(s.count, -1);

    ck_assert_int_eq(schedule_parse("R/2026-01-01T02:00:00Z/P1D", &s, why, sizeof why), 0);
    ck_assert_int_eq(s.period, 86400);

    ck_assert_int_eq(schedule_parse("R5/2026-01-01T02:00:00+05:30/PT6H", &s, why, sizeof why), 0);
    ck_assert_int_eq(s.count, 5);
    ck_assert_int_eq(s.start, T("2025-12-31T20:30:00Z"));

    ck_assert_int_eq(schedule_parse("R/2021-05-20T22:00:00+00:00/P1W", &s, why, sizeof why), 0);
    ck_assert_int_eq(s.period, 7 * 86400);
}
END_TEST

START_TEST(durations)
{
    int64_t d;
    char why[128];
    ck_assert_int_eq(schedule_parse_duration("PT4H", &d, why, sizeof why), 0);
    ck_assert_int_eq(d, 14400);
    ck_assert_int_eq(schedule_parse_duration("P1DT12H", &d, why, sizeof why), 0);
    ck_assert_int_eq(d, 86400 + 12 * 3600);
    ck_assert_int_eq(schedule_parse_duration("PT1H30M15S", &d, why, sizeof why), 0);
    ck_assert_int_eq(d, 3600 + 1800 + 15);
    ck_assert_int_eq(schedule_parse_duration("P2W", &d, why, sizeof why), 0);
    ck_assert_int_eq(d, 14 * 86400);
    ck_assert_int_eq(schedule_parse_duration("PT30M", &d, why, sizeof why), 0);
    ck_assert_int_eq(d, 1800);

    static const char *bad[] = {"",    "P",    "PT",  "4H",   "P1M",   "P1Y", "PT0H",
                                "P1H", "PT1D", "PT4", "PT4X", "PTT4H", "P-1D"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        ck_assert_msg(schedule_parse_duration(bad[i], &d, why, sizeof why) == -EINVAL,
                      "duration '%s' accepted", bad[i]);
        ck_assert_msg(why[0], "no reason for '%s'", bad[i]);
    }
    ck_assert_int_eq(schedule_parse_duration("P1M", &d, why, sizeof why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "months"));
}
END_TEST

START_TEST(parse_bad)
{
    static const char *bad[] = {
        "",
        "R",
        "R/",
        "PT4H",
        "X/2026-01-01T02:00:00Z/PT4H",
        "R0/2026-01-01T02:00:00Z/PT4H",
        "R/2026-01-01T02:00:00/PT4H",
        "R/2026-13-01T02:00:00Z/PT4H",
        "R/2026-01-01T02:00:00Z",
        "R/2026-01-01T02:00:00Z/",
        "R/2026-01-01T02:00:00Z/P1M",
        "Rx/2026-01-01T02:00:00Z/PT1H",
        "R//PT4H",
    };
    struct schedule s;
    char why[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        ck_assert_msg(schedule_parse(bad[i], &s, why, sizeof why) == -EINVAL,
                      "schedule '%s' accepted", bad[i]);
        ck_assert_msg(why[0], "no reason for '%s'", bad[i]);
    }
}
END_TEST

START_TEST(slots_pt6h)
{
    struct schedule s;
    int64_t slot = 0;
    ck_assert_int_eq(schedule_parse("R/2026-03-01T02:00:00+00:00/PT6H", &s, NULL, 0), 0);
    /* Slots of a day: 02:00, 08:00, 14:00, 20:00. */
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-03-14T02:00:00Z"), &slot), 0);
    ck_assert_int_eq(slot, T("2026-03-14T02:00:00Z"));
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-03-14T07:59:59Z"), &slot), 0);
    ck_assert_int_eq(slot, T("2026-03-14T02:00:00Z"));
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-03-14T08:00:00Z"), &slot), 0);
    ck_assert_int_eq(slot, T("2026-03-14T08:00:00Z"));
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-03-14T15:10:00Z"), &slot), 0);
    ck_assert_int_eq(slot, T("2026-03-14T14:00:00Z"));
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-03-14T23:59:00Z"), &slot), 0);
    ck_assert_int_eq(slot, T("2026-03-14T20:00:00Z"));
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-03-15T01:59:59Z"), &slot), 0);
    ck_assert_int_eq(slot, T("2026-03-14T20:00:00Z"));
    ck_assert_int_eq(schedule_next_slot(&s, T("2026-03-14T15:10:00Z")), T("2026-03-14T20:00:00Z"));
    ck_assert_int_eq(schedule_next_slot(&s, T("2026-03-14T20:00:00Z")), T("2026-03-15T02:00:00Z"));
}
END_TEST

START_TEST(slots_p1d_and_before_start)
{
    struct schedule s;
    int64_t slot = 42;
    ck_assert_int_eq(schedule_parse("R/2026-01-01T02:00:00Z/P1D", &s, NULL, 0), 0);
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-03-14T01:00:00Z"), &slot), 0);
    ck_assert_int_eq(slot, T("2026-03-13T02:00:00Z"));
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-03-14T02:30:00Z"), &slot), 0);
    ck_assert_int_eq(slot, T("2026-03-14T02:00:00Z"));
    slot = 42;
    ck_assert_int_eq(schedule_slot_at(&s, T("2025-12-31T23:00:00Z"), &slot), -1);
    ck_assert_int_eq(slot, 42);
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-01-01T01:59:59Z"), &slot), -1);
    ck_assert_int_eq(schedule_next_slot(&s, T("2025-12-31T23:00:00Z")), T("2026-01-01T02:00:00Z"));
}
END_TEST

START_TEST(slots_bounded)
{
    struct schedule s;
    int64_t slot;
    ck_assert_int_eq(schedule_parse("R3/2026-01-01T00:00:00Z/PT1H", &s, NULL, 0), 0);
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-01-01T01:30:00Z"), &slot), 0);
    ck_assert_int_eq(slot, T("2026-01-01T01:00:00Z"));
    /* After the third (last) slot, the last slot stays the most recent. */
    ck_assert_int_eq(schedule_slot_at(&s, T("2026-01-01T09:00:00Z"), &slot), 0);
    ck_assert_int_eq(slot, T("2026-01-01T02:00:00Z"));
    ck_assert_int_eq(schedule_next_slot(&s, T("2026-01-01T02:00:00Z")), -1);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("schedule");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, parse_az_forms);
    tcase_add_test(tc, durations);
    tcase_add_test(tc, parse_bad);
    suite_add_tcase(su, tc);
    tc = tcase_create("slots");
    tcase_add_test(tc, slots_pt6h);
    tcase_add_test(tc, slots_p1d_and_before_start);
    tcase_add_test(tc, slots_bounded);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
