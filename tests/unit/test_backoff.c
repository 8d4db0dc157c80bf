/* backoff.c: the delay sequence doubles from 0.8 s to a 30 s cap, each
 * delay within +-20 % of its base, reset starts over. */
#include <check.h>

#include "util/backoff.h"

START_TEST(sequence_bounds)
{
    for (uint64_t seed = 1; seed < 50; seed++) {
        struct backoff b;
        backoff_init(&b, 0, 0, seed);
        double base = 800;
        for (int i = 0; i < 12; i++) {
            uint32_t d = backoff_next(&b);
            ck_assert_msg(d >= base * 0.8 - 1 && d <= base * 1.2 + 1,
                          "step %d delay %u base %.0f", i, d, base);
            base = base * 2 > 30000 ? 30000 : base * 2;
        }
        /* capped: never more than 36 s */
        for (int i = 0; i < 20; i++)
            ck_assert_uint_le(backoff_next(&b), 36000);
        backoff_reset(&b);
        uint32_t d = backoff_next(&b);
        ck_assert(d >= 640 && d <= 960);
    }
}
END_TEST

START_TEST(jitter_spreads)
{
    struct backoff b;
    backoff_init(&b, 1000, 1000, 42);
    uint32_t lo = 100000, hi = 0;
    for (int i = 0; i < 200; i++) {
        uint32_t d = backoff_next(&b);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert_uint_lt(lo, 900);
    ck_assert_uint_gt(hi, 1100);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_lt(backoff_rand(&b, 301), 301);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("backoff");
    tcase_add_test(tc, sequence_bounds);
    tcase_add_test(tc, jitter_spreads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
