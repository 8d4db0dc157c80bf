/* Metrics registry and exposition: golden text for Prometheus 0.0.4 and
 * OpenMetrics, escaping, value formatting, histogram buckets, cluster-scope
 * gating, series lookup/removal, the process collector, and promtool. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "util/utf8.h"

static char *render(struct metrics *m, bool om)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(metrics_render(m, om, &b), 0);
    size_t len;
    char *s = buf_take(&b, &len);
    return s ? s : calloc(1, 1);
}

static void collect_pv(struct metrics_writer *w, void *data)
{
    int *calls = data;
    (*calls)++;
    static const char *const names[] = {"persistentvolume", "reason"};
    const char *v1[] = {"pv-1", "supported"};
    metrics_write_family(w, "aks_backup_persistent_volume_supported", METRIC_GAUGE,
                         "Whether the PV can be backed up.");
    metrics_write_sample(w, "aks_backup_persistent_volume_supported", 2, names, v1, 1);
    const char raw[] = "aks_backup_persistent_volume_supported{persistentvolume=\"pv-2\","
                       "reason=\"hostPath\"} 0\n";
    metrics_write_raw(w, raw, sizeof(raw) - 1);
}

static struct metrics *sample_registry(int *calls)
{
    struct metrics *m = metrics_new();
    static const char *const vc[] = {"verb", "code"};
    struct metric_family *req = metrics_family(m, "aks_backup_apiserver_requests_total",
                                               METRIC_COUNTER, METRIC_SCOPE_PROCESS,
                                               "Requests sent to the API server.", 2, vc,
                                               NULL, 0);
    ck_assert_ptr_nonnull(req);
    const char *l1[] = {"LIST", "200"}, *l2[] = {"WATCH", "200"};
    ck_assert_int_eq(metric_add(req, l1, 1), 0);
    ck_assert_int_eq(metric_add(req, l2, 3), 0);
    ck_assert_int_eq(metric_add(req, l1, 1), 0);

    static const char *const lab[] = {"value"};
    struct metric_family *esc = metrics_family(m, "test_escape", METRIC_GAUGE,
                                               METRIC_SCOPE_PROCESS,
                                               "Help with \\ backslash, \"quote\"\nand newline.",
                                               1, lab, NULL, 0);
    const char *e1[] = {"a\\b\"c\nd"};
    ck_assert_int_eq(metric_set(esc, e1, 2), 0);

    static const char *const kl[] = {"kind"};
    struct metric_family *vals = metrics_family(m, "test_values", METRIC_GAUGE,
                                                METRIC_SCOPE_PROCESS, "Values.", 1, kl, NULL, 0);
    const char *k[][1] = {{"nan"}, {"pinf"}, {"ninf"}, {"big_int"}, {"frac"},
                          {"tiny"}, {"huge"}, {"neg"}, {"zero"}, {"third"}};
    double v[] = {NAN, INFINITY, -INFINITY, 9007199254740992.0, 0.25,
                  1.5e-07, 1e21, -42, 0, 1.0 / 3};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        ck_assert_int_eq(metric_set(vals, k[i], v[i]), 0);

    static const char *const vl[] = {"verb"};
    static const double buckets[] = {0.1, 1, 5};
    struct metric_family *h = metrics_family(m, "aks_backup_apiserver_request_duration_seconds",
                                             METRIC_HISTOGRAM, METRIC_SCOPE_PROCESS,
                                             "Latency of API server requests in seconds.", 1,
                                             vl, buckets, 3);
    const char *hv[] = {"LIST"};
    ck_assert_int_eq(metric_observe(h, hv, 0.25), 0);
    ck_assert_int_eq(metric_observe(h, hv, 0.5), 0);
    ck_assert_int_eq(metric_observe(h, hv, 1), 0);  /* le is inclusive */
    ck_assert_int_eq(metric_observe(h, hv, 7), 0);
    ck_assert_int_eq(metric_observe(h, hv, 0.05), 0);

    struct metric_family *leader = metrics_family(m, "aks_backup_cluster_thing", METRIC_GAUGE,
                                                  METRIC_SCOPE_CLUSTER, "Cluster-only.", 0,
                                                  NULL, NULL, 0);
    ck_assert_int_eq(metric_set(leader, NULL, 5), 0);
    /* declared without series: not rendered */
    ck_assert_ptr_nonnull(metrics_family(m, "test_empty", METRIC_GAUGE, METRIC_SCOPE_PROCESS,
                                         "Empty.", 0, NULL, NULL, 0));
    ck_assert_int_eq(metrics_add_collector(m, METRIC_SCOPE_CLUSTER, collect_pv, calls), 0);
    return m;
}

static const char golden_prom[] =
    "# HELP aks_backup_apiserver_requests_total Requests sent to the API server.\n"
    "# TYPE aks_backup_apiserver_requests_total counter\n"
    "aks_backup_apiserver_requests_total{verb=\"LIST\",code=\"200\"} 2\n"
    "aks_backup_apiserver_requests_total{verb=\"WATCH\",code=\"200\"} 3\n"
    "# HELP test_escape Help with \\\\ backslash, \"quote\"\\nand newline.\n"
    "# TYPE test_escape gauge\n"
    "test_escape{value=\"a\\\\b\\\"c\\nd\"} 2\n"
    "# HELP test_values Values.\n"
    "# TYPE test_values gauge\n"
    "test_values{kind=\"nan\"} NaN\n"
    "test_values{kind=\"pinf\"} +Inf\n"
    "test_values{kind=\"ninf\"} -Inf\n"
    "test_values{kind=\"big_int\"} 9007199254740992\n"
    "test_values{kind=\"frac\"} 0.25\n"
    "test_values{kind=\"tiny\"} 1.5e-07\n"
    "test_values{kind=\"huge\"} 1e+21\n"
    "test_values{kind=\"neg\"} -42\n"
    "test_values{kind=\"zero\"} 0\n"
    "test_values{kind=\"third\"} 0.3333333333333333\n"
    "# HELP aks_backup_apiserver_request_duration_seconds Latency of API server requests in seconds.\n"
    "# TYPE aks_backup_apiserver_request_duration_seconds histogram\n"
    "aks_backup_apiserver_request_duration_seconds_bucket{verb=\"LIST\",le=\"0.1\"} 1\n"
    "aks_backup_apiserver_request_duration_seconds_bucket{verb=\"LIST\",le=\"1\"} 4\n"
    "aks_backup_apiserver_request_duration_seconds_bucket{verb=\"LIST\",le=\"5\"} 4\n"
    "aks_backup_apiserver_request_duration_seconds_bucket{verb=\"LIST\",le=\"+Inf\"} 5\n"
    "aks_backup_apiserver_request_duration_seconds_sum{verb=\"LIST\"} 8.8\n"
    "aks_backup_apiserver_request_duration_seconds_count{verb=\"LIST\"} 5\n";

static const char golden_cluster_tail[] =
    "# HELP aks_backup_cluster_thing Cluster-only.\n"
    "# TYPE aks_backup_cluster_thing gauge\n"
    "aks_backup_cluster_thing 5\n"
    "# HELP aks_backup_persistent_volume_supported Whether the PV can be backed up.\n"
    "# TYPE aks_backup_persistent_volume_supported gauge\n"
    "aks_backup_persistent_volume_supported{persistentvolume=\"pv-1\",reason=\"supported\"} 1\n"
    "aks_backup_persistent_volume_supported{persistentvolume=\"pv-2\",reason=\"hostPath\"} 0\n";

START_TEST(test_golden_prometheus)
{
    int calls = 0;
    struct metrics *m = sample_registry(&calls);
    char *s = render(m, false);
    ck_assert_str_eq(s, golden_prom);
    ck_assert_int_eq(calls, 0); /* cluster collector not run on a follower */
    free(s);
    free(render(m, false));
    metrics_free(m);
}
END_TEST

START_TEST(test_cluster_scope)
{
    int calls = 0;
    struct metrics *m = sample_registry(&calls);
    metrics_set_cluster_enabled(m, true);
    char *s = render(m, false);
    /* The cluster family keeps its registration slot; collectors follow. */
    ck_assert_ptr_nonnull(strstr(s, golden_cluster_tail));
    ck_assert_int_eq(strlen(s), strlen(golden_prom) + strlen(golden_cluster_tail));
    ck_assert_int_eq(calls, 1);
    free(s);
    metrics_set_cluster_enabled(m, false);
    s = render(m, false);
    ck_assert_str_eq(s, golden_prom);
    ck_assert_int_eq(calls, 1);
    free(s);
    metrics_free(m);
}
END_TEST

START_TEST(test_openmetrics)
{
    int calls = 0;
    struct metrics *m = sample_registry(&calls);
    char *s = render(m, true);
    ck_assert_ptr_nonnull(strstr(s,
        "# HELP aks_backup_apiserver_requests Requests sent to the API server.\n"
        "# TYPE aks_backup_apiserver_requests counter\n"
        "aks_backup_apiserver_requests_total{verb=\"LIST\",code=\"200\"} 2\n"));
    /* OpenMetrics escapes the quote in HELP too */
    ck_assert_ptr_nonnull(strstr(s, "# HELP test_escape Help with \\\\ backslash, \\\"quote\\\"\\nand newline.\n"));
    ck_assert_ptr_nonnull(strstr(s, "_bucket{verb=\"LIST\",le=\"1.0\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(s, "_bucket{verb=\"LIST\",le=\"0.1\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(s, "_bucket{verb=\"LIST\",le=\"+Inf\"} 5\n"));
    size_t n = strlen(s);
    ck_assert_uint_gt(n, 6);
    ck_assert_str_eq(s + n - 6, "# EOF\n");
    ck_assert_ptr_eq(strstr(s, "# EOF"), s + n - 6);
    free(s);
    metrics_free(m);
}
END_TEST

START_TEST(test_series_ops)
{
    struct metrics *m = metrics_new();
    static const char *const ln[] = {"resource"};
    struct metric_family *f = metrics_family(m, "x_total", METRIC_COUNTER,
                                             METRIC_SCOPE_PROCESS, "X.", 1, ln, NULL, 0);
    /* same name and type: the same family; another type: refused */
    ck_assert_ptr_eq(metrics_family(m, "x_total", METRIC_COUNTER, METRIC_SCOPE_PROCESS, "X.",
                                    1, ln, NULL, 0), f);
    ck_assert_ptr_null(metrics_family(m, "x_total", METRIC_GAUGE, METRIC_SCOPE_PROCESS, "X.",
                                      1, ln, NULL, 0));
    char name[32];
    /* many series: lookups stay exact across rehashes */
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        const char *v[] = {name};
        ck_assert_int_eq(metric_add(f, v, (double)i), 0);
    }
    for (int i = 0; i < 5000; i += 7) {
        snprintf(name, sizeof(name), "r%d", i);
        const char *v[] = {name};
        ck_assert_int_eq(metric_add(f, v, 1), 0);
        ck_assert(metric_get(f, v) == (double)i + 1);
    }
    const char *gone[] = {"r10"};
    ck_assert_int_eq(metric_remove(f, gone), 0);
    ck_assert_int_eq(metric_remove(f, gone), -ENOENT);
    ck_assert(isnan(metric_get(f, gone)));
    const char *neg[] = {"r1"};
    ck_assert_int_eq(metric_add(f, neg, -1), -EINVAL);
    ck_assert_int_eq(metric_observe(f, neg, 1), -EINVAL);
    /* NULL label value is "" */
    const char *nul[] = {NULL};
    ck_assert_int_eq(metric_add(f, nul, 4), 0);
    const char *empty[] = {""};
    ck_assert(metric_get(f, empty) == 4);
    char *s = render(m, false);
    ck_assert_ptr_nonnull(strstr(s, "x_total{resource=\"r0\"} 1\n"));
    ck_assert_ptr_null(strstr(s, "x_total{resource=\"r10\"}"));
    ck_assert_ptr_nonnull(strstr(s, "x_total{resource=\"\"} 4\n"));
    /* insertion order kept */
    ck_assert(strstr(s, "resource=\"r1\"") < strstr(s, "resource=\"r2\""));
    free(s);
    metric_clear(f);
    s = render(m, false);
    ck_assert_str_eq(s, "");
    free(s);
    metrics_free(m);
}
END_TEST

START_TEST(test_escape_label)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(metrics_escape_label(&b, "x\\y\"z\n"), 0);
    ck_assert_str_eq(b.data, "x\\\\y\\\"z\\n");
    buf_free(&b);
}
END_TEST

/* Label values are always valid UTF-8: well-formed sequences pass as
 * they are, every other byte becomes U+FFFD. */
START_TEST(test_escape_label_utf8)
{
    struct buf b;
    buf_init(&b, 0);
    ck_assert_int_eq(metrics_escape_label(&b, "caf\xc3\xa9-\xe2\x82\xac"), 0);
    ck_assert_str_eq(b.data, "caf\xc3\xa9-\xe2\x82\xac");
    buf_reset(&b);
    ck_assert_int_eq(metrics_escape_label(&b, "\xff\xfe\x80" "bad\xc3"), 0);
    ck_assert_str_eq(b.data, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "bad\xef\xbf\xbd");
    ck_assert(utf8_valid(b.data, b.len));
    buf_reset(&b);
    /* overlong '/', a surrogate, above U+10FFFF */
    ck_assert_int_eq(metrics_escape_label(&b, "\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80"), 0);
    ck_assert(utf8_valid(b.data, b.len));
    ck_assert_ptr_null(strstr(b.data, "\xc0"));
    buf_free(&b);
    ck_assert(utf8_instance_name_ok("prod-\xc3\xa9"));
    ck_assert(!utf8_instance_name_ok("\xff\xfe\x80" "bad"));
    ck_assert(!utf8_instance_name_ok("a\xc2\x85" "b")); /* C1 control NEL */
    ck_assert(!utf8_instance_name_ok("a\x01" "b"));
    ck_assert(!utf8_instance_name_ok(""));
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ck_assert(!utf8_instance_name_ok(long_name));
    long_name[253] = '\0';
    ck_assert(utf8_instance_name_ok(long_name));
}
END_TEST

START_TEST(test_process_collector)
{
    struct metrics *m = metrics_new();
    ck_assert_int_eq(metrics_add_process_collector(m), 0);
    char *s = render(m, false);
    const char *want[] = {"process_cpu_seconds_total ", "process_open_fds ",
                          "process_max_fds ", "process_virtual_memory_bytes ",
                          "process_resident_memory_bytes ", "process_start_time_seconds ",
                          "# TYPE process_cpu_seconds_total counter\n"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(s, want[i]) != NULL, "missing %s in\n%s", want[i], s);
    double start = strtod(strstr(s, "\nprocess_start_time_seconds ") + 28, NULL);
    ck_assert(start > 1.6e9);
    double rss = strtod(strstr(s, "\nprocess_resident_memory_bytes ") + 31, NULL);
    ck_assert(rss > 1e5);
    free(s);
    metrics_free(m);
}
END_TEST

/* promtool check metrics reads the exposition on stdin and prints lint
 * problems; it must print nothing for families named by our rules. */
static void promtool_check(struct metrics *m)
{
    if (access("/usr/bin/promtool", X_OK) != 0)
        ck_abort_msg("promtool not installed at /usr/bin/promtool");
    char path[] = "/tmp/abc-metrics-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    char *s = render(m, false);
    ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
    free(s);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    ck_assert_msg(rc == 0 && n == 0, "promtool (rc %d): %s", rc, out);
}

START_TEST(test_promtool)
{
    int calls = 0;
    struct metrics *m = metrics_new();
    static const char *const vc[] = {"verb", "code"};
    struct metric_family *req = metrics_family(m, "aks_backup_apiserver_requests_total",
                                               METRIC_COUNTER, METRIC_SCOPE_PROCESS,
                                               "Requests sent to the API server.", 2, vc,
                                               NULL, 0);
    const char *l1[] = {"LIST", "200"};
    metric_add(req, l1, 1);
    static const char *const vl[] = {"verb"};
    static const double buckets[] = {0.005, 0.05, 0.5, 5};
    struct metric_family *h = metrics_family(m, "aks_backup_apiserver_request_duration_seconds",
                                             METRIC_HISTOGRAM, METRIC_SCOPE_PROCESS,
                                             "Latency of API server requests in seconds.", 1,
                                             vl, buckets, 4);
    const char *hv[] = {"LIST"};
    metric_observe(h, hv, 0.01);
    ck_assert_int_eq(metrics_add_process_collector(m), 0);
    metrics_set_cluster_enabled(m, true);
    ck_assert_int_eq(metrics_add_collector(m, METRIC_SCOPE_CLUSTER, collect_pv, &calls), 0);
    promtool_check(m);
    ck_assert_int_eq(calls, 1);
    /* and promtool does complain about a bad name, so the check can fail */
    struct metric_family *bad = metrics_family(m, "bad_counter_without_suffix", METRIC_COUNTER,
                                               METRIC_SCOPE_PROCESS, "Bad.", 0, NULL, NULL, 0);
    metric_add(bad, NULL, 1);
    char path[] = "/tmp/abc-metrics-XXXXXX";
    int fd = mkstemp(path);
    char *s = render(m, false);
    ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
    free(s);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    unlink(path);
    ck_assert_ptr_nonnull(strstr(out, "bad_counter_without_suffix"));
    metrics_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("exposition");
    tcase_add_test(tc, test_golden_prometheus);
    tcase_add_test(tc, test_cluster_scope);
    tcase_add_test(tc, test_openmetrics);
    tcase_add_test(tc, test_escape_label);
    tcase_add_test(tc, test_escape_label_utf8);
    suite_add_tcase(s, tc);
    tc = tcase_create("registry");
    tcase_add_test(tc, test_series_ops);
    suite_add_tcase(s, tc);
    tc = tcase_create("process");
    tcase_add_test(tc, test_process_collector);
    suite_add_tcase(s, tc);
    tc = tcase_create("promtool");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_promtool);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
