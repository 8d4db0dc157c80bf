/* Quota state persistence (quota/state.c): file round trip, atomic write
 * (no temp file left, directory created), corrupt and unreadable files set
 * aside, read-only store. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quota/ledger.h"
#include "quota/state.h"
#include "util/clock.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/abc-qstate-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int64_t T(const char *s)
{
    int64_t t;
    ck_assert_int_eq(clock_parse_rfc3339(s, &t, NULL), 0);
    return t;
}

static struct ledger *mk(void)
{
    struct ledger_opts o = {.limit = {10, 10}, .warn_ratio = 0.8, .tolerance_s = 1800};
    return ledger_new(&o);
}

static int count_entries(const char *d, const char *prefix)
{
    DIR *dp = opendir(d);
    ck_assert_ptr_nonnull(dp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(dp);
    return n;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(round_trip)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/sub/dir/quota.json", dir);
    int64_t now = T("2026-03-14T15:00:00Z");
    struct ledger *l = mk();
    struct ledger_answer a;
    ledger_observe(l, "u1", "default", ACCT_OP_BACKUP, now - 60, NULL, now);
    ledger_observe(l, "u2", "default", ACCT_OP_RESTORE, now - 50, NULL, now);
    ck_assert_int_eq(ledger_reserve(l, "default", ACCT_OP_BACKUP, "idem-1", now, &a), 0);
    struct quota_store s;
    ck_assert_int_eq(quota_file_store_init(&s, path, false), 0);
    /* Missing directories are created. */
    ck_assert_int_eq(quota_state_save(&s, l, now), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    char sub[512];
    snprintf(sub, sizeof(sub), "%s/sub/dir", dir);
    ck_assert_int_eq(count_entries(sub, "quota.json.tmp"), 0);
    ck_assert_int_eq(count_entries(sub, "quota.json"), 1);

    struct ledger *m = mk();
    char aside[600];
    ck_assert_int_eq(quota_state_load(&s, m, now + 5, aside, sizeof(aside)), QUOTA_LOAD_OK);
    ck_assert_int_eq(ledger_used(m, "default", ACCT_OP_BACKUP, now), 2);
    ck_assert_int_eq(ledger_used(m, "default", ACCT_OP_RESTORE, now), 1);
    ck_assert_int_eq(ledger_reserve(m, "default", ACCT_OP_BACKUP, "idem-1", now + 9, &a), 1);
    ck_assert_int_eq(a.used, 2);
    /* Overwrite keeps exactly one file. */
    ck_assert_int_eq(quota_state_save(&s, m, now + 10), 0);
    ck_assert_int_eq(count_entries(sub, "quota.json"), 1);
    quota_store_free(&s);
    ledger_free(m);
    ledger_free(l);
}
END_TEST

START_TEST(missing_file_is_fresh)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/none.json", dir);
    struct quota_store s;
    ck_assert_int_eq(quota_file_store_init(&s, path, false), 0);
    struct ledger *l = mk();
    ck_assert_int_eq(quota_state_load(&s, l, T("2026-03-14T15:00:00Z"), NULL, 0), QUOTA_LOAD_NONE);
    ck_assert_int_eq(count_entries(dir, "none.json"), 0);
    quota_store_free(&s);
    ledger_free(l);
}
END_TEST

START_TEST(corrupt_set_aside)
{
    const char *bad[] = {
        "{\"version\":1,\"days\":{\"2026-03-14\":{\"default\":{\"backup\":{\"objects\":[{\"uid\":",
        "not json at all",
        "{\"version\":7,\"days\":{}}",
        "{\"version\":1,\"days\":{}} trailing",
        "",
    };
    int64_t now = T("2026-03-14T15:00:00Z");
    char path[512];
    snprintf(path, sizeof(path), "%s/quota.json", dir);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(path, bad[i]);
        struct quota_store s;
        ck_assert_int_eq(quota_file_store_init(&s, path, false), 0);
        struct ledger *l = mk();
        char aside[600];
        ck_assert_int_eq(quota_state_load(&s, l, now + (int64_t)i, aside, sizeof(aside)),
                         QUOTA_LOAD_CORRUPT);
        char want[600];
        snprintf(want, sizeof(want), "%s.corrupt-%lld", path, (long long)(now + (int64_t)i));
        ck_assert_str_eq(aside, want);
        ck_assert_int_eq(access(path, F_OK), -1);
        ck_assert_int_eq(access(want, F_OK), 0);
        ck_assert_uint_eq(ledger_object_count(l), 0);
        /* The daemon then writes a fresh file. */
        ledger_observe(l, "u", "default", ACCT_OP_BACKUP, now, NULL, now);
        ck_assert_int_eq(quota_state_save(&s, l, now), 0);
        ck_assert_int_eq(access(path, F_OK), 0);
        quota_store_free(&s);
        ledger_free(l);
    }
    ck_assert_int_eq(count_entries(dir, "quota.json.corrupt-"), 5);
}
END_TEST

START_TEST(unreadable_set_aside)
{
    /* A directory where the file should be cannot be read as a file. */
    char path[512];
    snprintf(path, sizeof(path), "%s/quota.json", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    struct quota_store s;
    ck_assert_int_eq(quota_file_store_init(&s, path, false), 0);
    struct ledger *l = mk();
    char aside[600];
    ck_assert_int_eq(quota_state_load(&s, l, 1000, aside, sizeof(aside)), QUOTA_LOAD_CORRUPT);
    ck_assert_ptr_nonnull(strstr(aside, ".corrupt-1000"));
    quota_store_free(&s);
    ledger_free(l);
}
END_TEST

START_TEST(read_only_never_writes)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/ro.json", dir);
    write_file(path, "garbage");
    struct quota_store s;
    ck_assert_int_eq(quota_file_store_init(&s, path, true), 0);
    struct ledger *l = mk();
    ck_assert_int_eq(quota_state_load(&s, l, 1000, NULL, 0), QUOTA_LOAD_CORRUPT);
    ck_assert_int_eq(access(path, F_OK), 0);
    ck_assert_int_eq(quota_state_save(&s, l, 1000), 0);
    char *data;
    size_t len;
    ck_assert_int_eq(state_file_read(path, &data, &len), 0);
    ck_assert_str_eq(data, "garbage");
    free(data);
    quota_store_free(&s);
    ledger_free(l);
}
END_TEST

START_TEST(atomic_write_failure_leaves_old)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/q.json", dir);
    ck_assert_int_eq(state_file_write_atomic(path, "{\"a\":1}", 7), 0);
    /* rename onto a non-empty directory fails: the old content stays and
     * no temp file is left behind. */
    char d2[512];
    snprintf(d2, sizeof(d2), "%s/d.json", dir);
    ck_assert_int_eq(mkdir(d2, 0700), 0);
    char inner[600];
    snprintf(inner, sizeof(inner), "%s/x", d2);
    write_file(inner, "x");
    ck_assert_int_lt(state_file_write_atomic(d2, "new", 3), 0);
    ck_assert_int_eq(count_entries(dir, "d.json.tmp"), 0);
    char *data;
    size_t len;
    ck_assert_int_eq(state_file_read(path, &data, &len), 0);
    ck_assert_str_eq(data, "{\"a\":1}");
    ck_assert_uint_eq(len, 7);
    free(data);
    ck_assert_int_eq(state_file_read("/nonexistent/x", &data, &len), -ENOENT);
    /* Temp files of a crash mid-write are cleaned when the store opens. */
    char tmp1[600], tmp2[600];
    snprintf(tmp1, sizeof(tmp1), "%s.tmp-123", path);
    snprintf(tmp2, sizeof(tmp2), "%s.tmp-456", path);
    write_file(tmp1, "{\"half");
    write_file(tmp2, "");
    struct quota_store ro, rw;
    ck_assert_int_eq(quota_file_store_init(&ro, path, true), 0);
    ck_assert_int_eq(count_entries(dir, "q.json.tmp-"), 2);
    ck_assert_int_eq(quota_file_store_init(&rw, path, false), 0);
    ck_assert_int_eq(count_entries(dir, "q.json.tmp-"), 0);
    ck_assert_int_eq(count_entries(dir, "q.json"), 1);
    quota_store_free(&ro);
    quota_store_free(&rw);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quota_state");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, missing_file_is_fresh);
    tcase_add_test(tc, corrupt_set_aside);
    tcase_add_test(tc, unreadable_set_aside);
    tcase_add_test(tc, read_only_never_writes);
    tcase_add_test(tc, atomic_write_failure_leaves_old);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
