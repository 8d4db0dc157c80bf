/* Extension health (issue 6): pod states from the fixtures and from
 * crafted pods, the reason strings, the /readyz "extension" check, the
 * extension warnings (OOMKilled, restarting, 1280Mi with > 1000 objects). */
#include <check.h>
#include <stdlib.h>

#include "rules_support.h"

static struct engine *e;
static struct regions regs;

static void setup(void)
{
    load_regions(&regs);
    e = cluster_engine(&regs, false);
}

static void teardown(void)
{
    engine_free(e);
    regions_free(&regs);
}

static struct pod_rec *pod_from(const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    ck_assert_ptr_nonnull(o);
    struct model_type t = model_pod_type(NULL, NULL);
    void *rec = NULL;
    ck_assert_int_eq(t.extract(&t, o, &rec), 0);
    json_object_put(o);
    return rec;
}

#define AGENT "dataprotection-microsoft-kubernetes-agent-7c9f8d6b5-q2w3e"

static const char *crashloop_json =
    "{\"metadata\":{\"name\":\"" AGENT "\",\"namespace\":\"dataprotection-microsoft\",\"uid\":\"u1\","
    "\"resourceVersion\":\"9\"},\"spec\":{\"containers\":[{\"name\":\"velero\",\"resources\":"
    "{\"limits\":{\"memory\":\"1280Mi\"}}}]},\"status\":{\"phase\":\"Running\",\"conditions\":"
    "[{\"type\":\"Ready\",\"status\":\"False\"}],\"containerStatuses\":[{\"name\":\"velero\","
    "\"restartCount\":7,\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}},\"lastState\":"
    "{\"terminated\":{\"reason\":\"OOMKilled\",\"exitCode\":137}}}]}}";

struct seen {
    int n, ready;
    char names[4][128];
};

static void pod_cb(void *data, const struct engine_ext_pod *p)
{
    struct seen *s = data;
    if (s->n < 4)
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", p->name);
    s->n++;
    s->ready += p->ready && strcmp(p->phase, "Running") == 0;
    if (p->ready)
        ck_assert_str_eq(p->reason, "");
}

START_TEST(default_selector_two_ready)
{
    struct seen s = {0};
    engine_foreach_extension_pod(e, pod_cb, &s);
    ck_assert_int_eq(s.n, 2);
    ck_assert_int_eq(s.ready, 2);
    ck_assert_str_eq(s.names[0], "dataprotection-microsoft-controller-5bb4f6d877-9b4g9");
    ck_assert_str_eq(s.names[1], "dataprotection-microsoft-kubernetes-agent-8446d5458b-2fcr8");
    ck_assert_int_eq(engine_extension_running(e), 1);
    char why[256];
    ck_assert(engine_extension_ok(e, why, sizeof(why)));
}
END_TEST

START_TEST(crashloop_reason)
{
    struct pod_rec *p = pod_from(crashloop_json);
    struct model_type t = model_pod_type("dataprotection-microsoft", NULL);
    engine_apply(e, &t, NULL, p);
    ck_assert_int_eq(engine_extension_running(e), 0);
    char why[256];
    ck_assert(!engine_extension_ok(e, why, sizeof(why)));
    ck_assert_str_eq(why, AGENT ": CrashLoopBackOff, last terminated OOMKilled, 7 restarts");
    /* The readyz adapter says the same; prerequisites fail on extension_running. */
    char why2[256];
    ck_assert(!engine_readyz_extension(e, why2, sizeof(why2)));
    ck_assert_str_eq(why2, why);
    ck_assert(!engine_readyz_prerequisites(e, why2, sizeof(why2)));
    ck_assert_ptr_nonnull(strstr(why2, "extension_running: " AGENT ": CrashLoopBackOff"));
    struct prereq_result r[PREREQ_COUNT];
    engine_prerequisites(e, r);
    ck_assert_int_eq(r[PREREQ_EXTENSION_RUNNING].status, PREREQ_FAIL);
    ck_assert_ptr_nonnull(strstr(r[PREREQ_EXTENSION_RUNNING].observed, "CrashLoopBackOff"));
    /* The pod recovers. */
    p->ready = true;
    free(p->containers[0].waiting_reason);
    p->containers[0].waiting_reason = NULL;
    engine_apply(e, &t, NULL, p);
    ck_assert_int_eq(engine_extension_running(e), 1);
    ck_assert(engine_extension_ok(e, why, sizeof(why)));
    engine_apply(e, &t, p, NULL);
    ck_assert_uint_eq(engine_extension_pod_count(e), 2);
    t.free(p);
}
END_TEST

START_TEST(reason_strings)
{
    char out[256];
    struct pod_rec *p = pod_from(
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"uid\":\"u\",\"resourceVersion\":\"1\"},"
        "\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Pending\",\"containerStatuses\":"
        "[{\"name\":\"c\",\"restartCount\":0,\"state\":{\"waiting\":{\"reason\":\"ImagePullBackOff\"}}}]}}");
    engine_pod_reason(p, out, sizeof(out));
    ck_assert_str_eq(out, "ImagePullBackOff");
    model_pod_type(NULL, NULL).free(p);
    p = pod_from(
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"uid\":\"u\",\"resourceVersion\":\"1\"},"
        "\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Pending\",\"conditions\":"
        "[{\"type\":\"PodScheduled\",\"status\":\"False\",\"reason\":\"Unschedulable\"}]}}");
    engine_pod_reason(p, out, sizeof(out));
    ck_assert_str_eq(out, "Unschedulable");
    model_pod_type(NULL, NULL).free(p);
    p = pod_from(
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"uid\":\"u\",\"resourceVersion\":\"1\"},"
        "\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Running\"}}");
    engine_pod_reason(p, out, sizeof(out));
    ck_assert_str_eq(out, "not ready");
    model_pod_type(NULL, NULL).free(p);
    p = pod_from(
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"uid\":\"u\",\"resourceVersion\":\"1\"},"
        "\"spec\":{\"containers\":[{\"name\":\"c\"}]},\"status\":{\"phase\":\"Running\",\"containerStatuses\":"
        "[{\"name\":\"c\",\"restartCount\":1,\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}");
    engine_pod_reason(p, out, sizeof(out));
    ck_assert_str_eq(out, "CrashLoopBackOff, 1 restart");
    model_pod_type(NULL, NULL).free(p);
}
END_TEST

START_TEST(geneva_selector_finds_crashloop)
{
    struct engine *g = engine_new(NULL);
    struct model_type t = model_pod_type("dataprotection-microsoft", "app.kubernetes.io/name=azure-arc-k8s");
    ck_assert_int_eq(feed_file(g, &t, "pods.json", NULL, "app.kubernetes.io/name", "azure-arc-k8s"), 2);
    ck_assert_int_eq(engine_extension_running(g), 0);
    char why[256];
    ck_assert(!engine_extension_ok(g, why, sizeof(why)));
    ck_assert_str_eq(why, "dataprotection-microsoft-geneva-service-59996894b9-x7r2m: CrashLoopBackOff, 12 restarts");
    engine_free(g);
}
END_TEST

START_TEST(no_pods)
{
    struct engine *g = engine_new(NULL);
    char why[256];
    ck_assert_int_eq(engine_extension_running(g), -1);
    ck_assert(!engine_extension_ok(g, why, sizeof(why)));
    ck_assert_str_eq(why, "extension pods not listed yet");
    engine_mark_synced(g, "pods");
    ck_assert_int_eq(engine_extension_running(g), 0);
    ck_assert(!engine_extension_ok(g, why, sizeof(why)));
    ck_assert_str_eq(why, "no extension pods in namespace dataprotection-microsoft matching "
                          "app.kubernetes.io/name=dataprotection-microsoft-kubernetes");
    engine_free(g);
}
END_TEST

static size_t count_code(struct engine_warning *w, size_t n, const char *code, const char *object)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i].code, code) == 0 && (!object || strcmp(w[i].object, object) == 0))
            c++;
    return c;
}

START_TEST(extension_warnings)
{
    struct engine_warning *w;
    size_t n;
    int64_t now = 1773500400; /* 2026-03-14T15:00:00Z */
    ck_assert_int_eq(engine_warnings(e, now, &w, &n), 0);
    ck_assert_uint_eq(count_code(w, n, "extension-oomkilled", NULL), 0);
    ck_assert_uint_eq(count_code(w, n, "extension-memory-limit", NULL), 0);
    engine_warnings_free(w, n);

    engine_set_namespaced_count(e, 1001);
    ck_assert_int_eq(engine_warnings(e, now, &w, &n), 0);
    /* The agent's two containers run with the 1280Mi default. */
    ck_assert_uint_eq(count_code(w, n, "extension-memory-limit", NULL), 2);
    ck_assert_uint_eq(count_code(w, n, "extension-memory-limit",
                                 "dataprotection-microsoft-kubernetes-agent-8446d5458b-2fcr8/velero"), 1);
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i].code, "extension-memory-limit") == 0)
            ck_assert_ptr_nonnull(strstr(w[i].message, "resources.limits.memory"));
    engine_warnings_free(w, n);

    engine_set_namespaced_count(e, 1000);
    struct model_type t = model_pod_type(NULL, NULL);
    struct pod_rec *p = pod_from(crashloop_json);
    engine_apply(e, &t, NULL, p);
    ck_assert_int_eq(engine_warnings(e, now, &w, &n), 0);
    ck_assert_uint_eq(count_code(w, n, "extension-memory-limit", NULL), 0);
    ck_assert_uint_eq(count_code(w, n, "extension-oomkilled", AGENT "/velero"), 1);
    ck_assert_uint_eq(count_code(w, n, "extension-restarting", AGENT "/velero"), 1);
    ck_assert_uint_eq(count_code(w, n, "extension-not-ready", AGENT), 1);
    engine_warnings_free(w, n);
    t.free(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("extension");
    TCase *tc = tcase_create("extension");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, default_selector_two_ready);
    tcase_add_test(tc, crashloop_reason);
    tcase_add_test(tc, reason_strings);
    tcase_add_test(tc, geneva_selector_finds_crashloop);
    tcase_add_test(tc, no_pods);
    tcase_add_test(tc, extension_warnings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
