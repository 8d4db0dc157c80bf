/* util/buf.c: the cap, NUL termination after every append, JSON string
 * escaping, take, and sizes that would wrap size_t (network lengths). */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

START_TEST(appends_stay_terminated)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_adds(&b, "ab"), 0);
    ck_assert_int_eq(buf_addc(&b, 'c'), 0);
    ck_assert_int_eq(buf_printf(&b, "%d-%s", 42, "x"), 0);
    ck_assert_str_eq(b.data, "abc42-x");
    ck_assert_uint_eq(b.len, 7);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(buf_addc(&b, 'z'), 0);
    ck_assert_uint_eq(b.len, 1007);
    ck_assert_int_eq(b.data[b.len], '\0');
    buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.data, "");
    buf_free(&b);
}
END_TEST

START_TEST(cap_is_hard)
{
    struct buf b;
    buf_init(&b, 8);
    ck_assert_int_eq(buf_adds(&b, "12345678"), 0);
    ck_assert_int_eq(buf_addc(&b, '9'), -E2BIG);
    ck_assert_int_eq(buf_printf(&b, "%s", "x"), -E2BIG);
    ck_assert_str_eq(b.data, "12345678"); /* unchanged by the failures */
    buf_free(&b);
}
END_TEST

START_TEST(huge_lengths_refused)
{
    /* Lengths near SIZE_MAX must fail cleanly, not wrap the size sums
     * (a wrapped sum would pass the cap check and under-allocate). */
    struct buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(buf_adds(&b, "abc"), 0);
    const char dummy = 'x';
    ck_assert_int_eq(buf_add(&b, &dummy, SIZE_MAX), -E2BIG);
    ck_assert_int_eq(buf_add(&b, &dummy, SIZE_MAX - 2), -E2BIG);
    ck_assert_int_eq(buf_add(&b, &dummy, SIZE_MAX / 2), -E2BIG);
    ck_assert_uint_eq(b.len, 3);
    buf_free(&b);
    buf_init(&b, 0); /* uncapped: the same lengths still fail */
    ck_assert_int_eq(buf_adds(&b, "abc"), 0);
    ck_assert_int_eq(buf_add(&b, &dummy, SIZE_MAX - 3), -E2BIG);
    ck_assert_int_eq(buf_add(&b, &dummy, SIZE_MAX / 2), -E2BIG);
    ck_assert_str_eq(b.data, "abc");
    buf_free(&b);
}
END_TEST

START_TEST(json_strings_escaped)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(buf_add_json_str(&b, "a\"b\\c\n\x01"), 0);
    ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    buf_reset(&b);
    ck_assert_int_eq(buf_add_json_str(&b, NULL), 0);
    ck_assert_str_eq(b.data, "\"\"");
    buf_free(&b);
}
END_TEST

START_TEST(take_leaves_empty)
{
    struct buf b;
    buf_init(&b, 0);
    size_t len = 99;
    char *p = buf_take(&b, &len); /* nothing added: still a valid string */
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(p, "");
    free(p);
    ck_assert_int_eq(buf_adds(&b, "hello"), 0);
    p = buf_take(&b, &len);
    ck_assert_str_eq(p, "hello");
    ck_assert_uint_eq(len, 5);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, appends_stay_terminated);
    tcase_add_test(tc, cap_is_hard);
    tcase_add_test(tc, huge_lengths_refused);
    tcase_add_test(tc, json_strings_escaped);
    tcase_add_test(tc, take_leaves_empty);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
