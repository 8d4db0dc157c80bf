/* Quota from the Backup vault's jobs (quota/ledger_jobs.c, quota_azure.c):
 * jobs counted once by id on the day they started, reservations on top until
 * a later job of the same instance and operation stands for them, the
 * instance list, the cluster-observed cross-check and the 15-minute
 * disagreement gauge, the warnings when the jobs cannot be read. */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "quota/ledger.h"
#include "quota/quota.h"
#include "util/buf.h"
#include "util/clock.h"

static int64_t T(const char *s)
{
    int64_t t;
    ck_assert_int_eq(clock_parse_rfc3339(s, &t, NULL), 0);
    return t;
}

static struct ledger *new_ledger(void)
{
    struct ledger_opts o = {.limit = {10, 10}, .warn_ratio = 0.8, .tolerance_s = 1800};
    struct ledger *l = ledger_new(&o);
    ck_assert_ptr_nonnull(l);
    return l;
}

START_TEST(jobs_are_the_figures)
{
    struct ledger *l = new_ledger();
    int64_t now = T("2026-03-14T12:00:00Z");
    /* cluster-observed: 2 backups of instance bi (the cross-check) */
    ck_assert_int_eq(ledger_observe(l, "u1", "bi", ACCT_OP_BACKUP, T("2026-03-14T08:00:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_observe(l, "u2", "bi", ACCT_OP_BACKUP, T("2026-03-14T09:00:00Z"), NULL, now), 1);
    ck_assert_int_eq(ledger_used(l, "bi", ACCT_OP_BACKUP, now), 2);
    const struct ledger_job jobs[] = {
        {"j1", "bi", ACCT_OP_BACKUP, T("2026-03-14T08:15:00Z")},
        {"j1", "bi", ACCT_OP_BACKUP, T("2026-03-14T08:15:00Z")}, /* listed twice */
        {"j2", "bi", ACCT_OP_BACKUP, T("2026-03-14T09:30:00Z")},
        {"j3", "bi", ACCT_OP_BACKUP, T("2026-03-14T11:00:00Z")},
        {"j4", "bi", ACCT_OP_RESTORE, T("2026-03-14T07:00:00Z")},
        {"j5", "bi", ACCT_OP_BACKUP, T("2026-03-13T13:00:00Z")}, /* yesterday */
    };
    const char *inst[] = {"bi", "bi-idle"};
    ck_assert_int_eq(ledger_set_jobs(l, true, jobs, 6, inst, 2), 0);
    ck_assert(ledger_jobs_on(l));
    ck_assert_int_eq(ledger_used(l, "bi", ACCT_OP_BACKUP, now), 3);
    ck_assert_int_eq(ledger_used(l, "bi", ACCT_OP_RESTORE, now), 1);
    ck_assert_int_eq(ledger_used_on(l, "bi", ACCT_OP_BACKUP, ledger_day_of(l, now) - 1), 1);
    ck_assert_int_eq(ledger_cluster_used(l, "bi", ACCT_OP_BACKUP, now), 2);
    const char **v;
    long n = ledger_instances(l, &v);
    ck_assert_int_eq(n, 2); /* the vault's instances, not the cluster's "default" */
    ck_assert_str_eq(v[0], "bi");
    ck_assert_str_eq(v[1], "bi-idle");
    free(v);
    ck_assert_int_eq(ledger_used(l, "bi-idle", ACCT_OP_BACKUP, now), 0);
    /* off again: the cluster's counts */
    ck_assert_int_eq(ledger_set_jobs(l, false, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(ledger_used(l, "bi", ACCT_OP_BACKUP, now), 2);
    ledger_free(l);
}
END_TEST

START_TEST(reservations_until_their_job)
{
    struct ledger *l = new_ledger();
    int64_t now = T("2026-03-14T12:00:00Z");
    struct ledger_answer a;
    const struct ledger_job one[] = {{"j1", "bi", ACCT_OP_BACKUP, T("2026-03-14T08:15:00Z")}};
    const char *inst[] = {"bi"};
    ck_assert_int_eq(ledger_set_jobs(l, true, one, 1, inst, 1), 0);
    ck_assert_int_eq(ledger_reserve(l, "bi", ACCT_OP_BACKUP, "r1", now, &a), 0);
    ck_assert_int_eq(a.used, 2); /* the job before it does not stand for it */
    ck_assert_int_eq(ledger_reserve(l, "bi", ACCT_OP_BACKUP, "r2", now + 10, &a), 0);
    ck_assert_int_eq(ledger_used(l, "bi", ACCT_OP_BACKUP, now + 20), 3);
    /* a restore job does not consume a backup reservation */
    const struct ledger_job two[] = {{"j1", "bi", ACCT_OP_BACKUP, T("2026-03-14T08:15:00Z")},
                                     {"j9", "bi", ACCT_OP_RESTORE, now + 30}};
    ck_assert_int_eq(ledger_set_jobs(l, true, two, 2, inst, 1), 0);
    ck_assert_int_eq(ledger_used(l, "bi", ACCT_OP_BACKUP, now + 40), 3);
    /* the first triggered backup appears: it is r1 */
    const struct ledger_job three[] = {{"j1", "bi", ACCT_OP_BACKUP, T("2026-03-14T08:15:00Z")},
                                       {"j9", "bi", ACCT_OP_RESTORE, now + 30},
                                       {"j10", "bi", ACCT_OP_BACKUP, now + 50}};
    ck_assert_int_eq(ledger_set_jobs(l, true, three, 3, inst, 1), 0);
    ck_assert_int_eq(ledger_used(l, "bi", ACCT_OP_BACKUP, now + 60), 3);
    ck_assert_int_eq(ledger_used(l, "bi", ACCT_OP_RESTORE, now + 60), 1);
    ledger_free(l);
}
END_TEST

static int64_t clock_s;
static int64_t fake_now(void)
{
    return clock_s * 1000;
}

static bool metric_line(struct metrics *m, const char *needle)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(metrics_render(m, false, &b), 0);
    bool found = b.data && strstr(b.data, needle);
    buf_free(&b);
    return found;
}

START_TEST(quota_disagreement_and_warnings)
{
    clock_s = T("2026-03-14T12:00:00Z");
    struct quota_opts o = {.backup_limit = 10, .restore_limit = 10, .warn_ratio = 0.8,
                           .day_boundary = "UTC", .tolerance_minutes = 30, .now_ms = fake_now};
    struct quota *q;
    ck_assert_int_eq(quota_init(&q, NULL, &o), 0);
    struct metrics *m = metrics_new();
    ck_assert_ptr_nonnull(m);
    metrics_set_cluster_enabled(m, true);
    ck_assert_int_eq(quota_register_metrics(q, m), 0);
    const char *inst[] = {"bi"};
    const struct ledger_job jobs[] = {{"j1", "bi", ACCT_OP_BACKUP, clock_s - 3600}};
    struct quota_jobs qj = {.enabled = true, .available = false, .reason = "HTTP 403 AuthorizationFailed"};
    ck_assert_int_eq(quota_set_jobs(q, &qj), 0);
    struct json_object *doc = quota_json(q);
    const char *text = json_object_to_json_string(doc);
    ck_assert_ptr_nonnull(strstr(text, "azure_unavailable"));
    ck_assert_ptr_nonnull(strstr(text, "AuthorizationFailed"));
    json_object_put(doc);
    qj = (struct quota_jobs){.enabled = true, .available = true, .jobs = jobs, .njobs = 1, .instances = inst,
                             .ninstances = 1, .schedule = "R/2026-03-01T02:00:00+00:00/PT4H"};
    ck_assert_int_eq(quota_set_jobs(q, &qj), 0);
    doc = quota_json(q);
    text = json_object_to_json_string(doc);
    ck_assert_ptr_null(strstr(text, "azure_unavailable"));
    ck_assert_ptr_null(strstr(text, "schedule_unknown"));
    json_object_put(doc);
    ck_assert_int_eq(quota_used(q, "bi", ACCT_OP_BACKUP), 1);
    /* the cluster saw nothing for bi: they differ, but not for 15 minutes yet */
    ck_assert(metric_line(m, "aks_backup_quota_source_disagreement{backup_instance=\"bi\",operation=\"backup\"} 0"));
    clock_s += 14 * 60;
    ck_assert(metric_line(m, "aks_backup_quota_source_disagreement{backup_instance=\"bi\",operation=\"backup\"} 0"));
    clock_s += 2 * 60;
    ck_assert(metric_line(m, "aks_backup_quota_source_disagreement{backup_instance=\"bi\",operation=\"backup\"} 1"));
    ck_assert(metric_line(m, "aks_backup_quota_source_disagreement{backup_instance=\"bi\",operation=\"restore\"} 0"));
    metrics_free(m);
    quota_close(q, NULL, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quota_jobs");
    TCase *tc = tcase_create("quota_jobs");
    tcase_add_test(tc, jobs_are_the_figures);
    tcase_add_test(tc, reservations_until_their_job);
    tcase_add_test(tc, quota_disagreement_and_warnings);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
