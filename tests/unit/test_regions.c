/* regions.c: normalisation, regions.txt parsing (comments, blank lines,
 * "operational tier only"), the shipped list, and subscription compare. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "config/regions.h"

START_TEST(normalize)
{
    char out[64];
    ck_assert_int_eq(region_normalize("West Europe", out, sizeof out), 0);
    ck_assert_str_eq(out, "westeurope");
    ck_assert_int_eq(region_normalize("WestEurope", out, sizeof out), 0);
    ck_assert_str_eq(out, "westeurope");
    ck_assert_int_eq(region_normalize("  west\teurope ", out, sizeof out), 0);
    ck_assert_str_eq(out, "westeurope");
    ck_assert_int_eq(region_normalize("Australia Central 2", out, sizeof out), 0);
    ck_assert_str_eq(out, "australiacentral2");
    char small[5];
    ck_assert_int_eq(region_normalize("westeurope", small, sizeof small), -ENAMETOOLONG);
    ck_assert_str_eq(small, "west");
    ck_assert(region_equal("West Europe", "westeurope"));
    ck_assert(region_equal("WESTUS2", "West US 2"));
    ck_assert(!region_equal("westus", "westus2"));
    ck_assert(!region_equal("", ""));
    ck_assert(!region_equal(NULL, "westus"));
}
END_TEST

START_TEST(subscriptions)
{
    ck_assert(subscription_equal("6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f",
                                 "6B0F2F3E-8C1D-4A5B-9E7F-2D3C4B5A6E7F"));
    ck_assert(!subscription_equal("6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f",
                                  "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e70"));
    ck_assert(!subscription_equal("", ""));
    ck_assert(!subscription_equal(NULL, "x"));
}
END_TEST

START_TEST(parse_text)
{
    struct regions r;
    char err[256];
    const char *text = "# header\n"
                       "\n"
                       "West Europe\n"
                       "   eastus2   # trailing comment\n"
                       "ChinaEast2 # Operational tier only\n"
                       "   \n"
                       "#northeurope\n"
                       "uaenorth"; /* no final newline */
    ck_assert_int_eq(regions_parse(&r, text, err, sizeof err), 0);
    ck_assert_uint_eq(r.n, 4);
    ck_assert_str_eq(r.v[0].name, "westeurope");
    ck_assert_str_eq(r.v[1].name, "eastus2");
    ck_assert_str_eq(r.v[2].name, "chinaeast2");
    ck_assert_str_eq(r.v[3].name, "uaenorth");
    ck_assert(regions_contains(&r, "westeurope"));
    ck_assert(regions_contains(&r, "WestEurope"));
    ck_assert(regions_contains(&r, "East US 2"));
    ck_assert(!regions_contains(&r, "northeurope"));
    ck_assert(!regions_contains(&r, ""));
    ck_assert(!regions_contains(&r, NULL));
    ck_assert(regions_is_operational_only(&r, "China East 2"));
    ck_assert(!regions_is_operational_only(&r, "eastus2"));
    ck_assert(!regions_is_operational_only(&r, "mars"));
    regions_free(&r);
    ck_assert_uint_eq(r.n, 0);
    /* the dashed spelling marks a region too */
    ck_assert_int_eq(regions_parse(&r, "spaincentral # Operational-Tier-Only\nwesteurope\n", err, sizeof err), 0);
    ck_assert(regions_is_operational_only(&r, "spaincentral"));
    ck_assert(!regions_is_operational_only(&r, "westeurope"));
    regions_free(&r);

    ck_assert_int_eq(regions_parse(&r, "", err, sizeof err), 0);
    ck_assert_uint_eq(r.n, 0);
    regions_free(&r);

    char longline[200];
    memset(longline, 'a', 100);
    longline[100] = '\0';
    char text2[256];
    snprintf(text2, sizeof text2, "eastus\n%s\n", longline);
    ck_assert_int_eq(regions_parse(&r, text2, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, ":2:"));
    ck_assert_uint_eq(r.n, 0);
}
END_TEST

START_TEST(shipped_file)
{
    struct regions r;
    char err[256];
    ck_assert_int_eq(regions_load(&r, SRCROOT "/config/regions.txt", err, sizeof err), 0);
    ck_assert_uint_eq(r.n, 34 + 9 + 10);
    static const char *vault[] = {
        "East US",           "North Europe",      "West Europe",
        "South East Asia",   "West US 2",         "East US 2",
        "West US",           "North Central US",  "Central US",
        "France Central",    "Korea Central",     "Australia East",
        "UK South",          "East Asia",         "West Central US",
        "Japan East",        "South Central US",  "West US3",
        "Canada Central",    "Canada East",       "Australia South East",
        "Central India",     "Norway East",       "Germany West Central",
        "Switzerland North", "Sweden Central",    "Japan West",
        "UK West",           "Korea South",       "South Africa North",
        "South India",       "France South",      "Brazil South",
        "UAE North",         "Australia Central", "Australia Central 2",
        "Brazil Southeast",  "Germany North",     "Italy North",
        "Jio India West",    "Norway West",       "South Africa West",
        "Switzerland West",
    };
    static const char *op_only[] = {
        "China East 2", "China East 3",    "China North 2",  "China North 3",  "US Gov Arizona",
        "US Gov Texas", "US Gov Virginia", "Israel Central", "Poland Central", "Spain Central",
    };
    for (size_t i = 0; i < sizeof vault / sizeof vault[0]; i++) {
        ck_assert_msg(regions_contains(&r, vault[i]), "%s missing", vault[i]);
        ck_assert_msg(!regions_is_operational_only(&r, vault[i]), "%s op-only", vault[i]);
    }
    for (size_t i = 0; i < sizeof op_only / sizeof op_only[0]; i++) {
        ck_assert_msg(regions_contains(&r, op_only[i]), "%s missing", op_only[i]);
        ck_assert_msg(regions_is_operational_only(&r, op_only[i]), "%s not op-only", op_only[i]);
    }
    ck_assert(!regions_contains(&r, "Mexico Central"));
    regions_free(&r);
}
END_TEST

START_TEST(missing_file)
{
    struct regions r;
    char err[256];
    ck_assert_int_eq(regions_load(&r, "/nonexistent/regions.txt", err, sizeof err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/regions.txt"));
    ck_assert_uint_eq(r.n, 0);
    ck_assert_int_eq(regions_load(&r, FIXTURES, err, sizeof err) < 0, 1); /* a directory */
    ck_assert_uint_eq(r.n, 0);
}
END_TEST

/* The compiled-in copy is config/regions.txt, used only for a missing
 * default path. */
START_TEST(builtin_list)
{
    struct regions shipped, b, r;
    char err[256];
    ck_assert_int_eq(regions_load(&shipped, SRCROOT "/config/regions.txt", err, sizeof err), 0);
    ck_assert_int_eq(regions_parse(&b, regions_builtin, err, sizeof err), 0);
    ck_assert_uint_eq(b.n, shipped.n);
    for (size_t i = 0; i < b.n; i++) {
        ck_assert_str_eq(b.v[i].name, shipped.v[i].name);
        ck_assert_int_eq(b.v[i].operational_only, shipped.v[i].operational_only);
    }
    bool builtin = true;
    ck_assert_int_eq(regions_load_or_builtin(&r, "/nonexistent/regions.txt", &builtin, err,
                                             sizeof err),
                     -ENOENT);
    ck_assert(!builtin);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_int_eq(regions_load_or_builtin(&r, CONFIG_DEFAULT_REGIONS_FILE, &builtin, err,
                                             sizeof err),
                     0);
    /* the built-in list exactly when the default file is not installed */
    ck_assert_int_eq(builtin, access(CONFIG_DEFAULT_REGIONS_FILE, F_OK) != 0);
    ck_assert(regions_contains(&r, "West Europe"));
    regions_free(&r);
    regions_free(&b);
    regions_free(&shipped);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("regions");
    TCase *tc = tcase_create("compare");
    tcase_add_test(tc, normalize);
    tcase_add_test(tc, subscriptions);
    suite_add_tcase(su, tc);
    tc = tcase_create("file");
    tcase_add_test(tc, parse_text);
    tcase_add_test(tc, shipped_file);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, builtin_list);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
