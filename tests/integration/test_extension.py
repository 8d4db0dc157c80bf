"""Issue 6 end to end: extension pods watched in dataprotection-microsoft by
the configured selector; /readyz reflects them within 1 s; the API server
going away keeps /metrics answering and fails `apiserver` within 30 s, and
everything recovers without restarting the daemon."""
import copy
import json
import sys
import time

from harness import Daemon, Kubesim, Results, wait_for

R = Results()
# The fixture cluster (Kubernetes v1.30) as of the day its objects describe: the
# 2026-01 support matrix judges kubernetes_version against the AKS release
# calendar, and by today's date 1.30 is past even its long-term support.
FIXTURE_DAY = {"ABC_TEST_NOW": "2026-03-14T15:00:00Z"}
NS = "dataprotection-microsoft"
AGENT = "dataprotection-microsoft-kubernetes-agent-8446d5458b-2fcr8"
CONTROLLER = "dataprotection-microsoft-controller-5bb4f6d877-9b4g9"


def get_pod(ks, name):
    code, _, pod = ks.get(f"/api/v1/namespaces/{NS}/pods/{name}")
    assert code == 200, code
    pod = copy.deepcopy(pod)
    pod["metadata"].pop("resourceVersion", None)
    pod.setdefault("apiVersion", "v1")
    pod.setdefault("kind", "Pod")
    return pod


def crashloop_oom(pod):
    st = pod["status"]
    for cond in st.get("conditions", []):
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["status"] = "False"
    c = st["containerStatuses"][0]
    c["ready"] = False
    c["restartCount"] = 7
    c["state"] = {"waiting": {"reason": "CrashLoopBackOff",
                              "message": "back-off 5m0s restarting failed container"}}
    c["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                     "startedAt": "2026-03-14T14:50:00Z",
                                     "finishedAt": "2026-03-14T14:55:00Z"}}
    return pod


def metric(d, name, **labels):
    return d.metrics().get((name, frozenset(labels.items())))


@R.test
def healthy_extension_is_ready():
    with Kubesim() as ks, Daemon(kubesim=ks, env=FIXTURE_DAY) as d:
        d.wait_ready()
        wait_for(lambda: d.get("/readyz")[0] == 200, 10, what="/readyz 200")
        assert metric(d, "aks_backup_extension_pods", phase="Running") == 2
        assert metric(d, "aks_backup_extension_pod_ready", extension_pod=AGENT) == 1
        assert metric(d, "aks_backup_extension_container_restarts_total", extension_pod=AGENT, extension_container="velero") == 0
        assert metric(d, "aks_backup_extension_container_oomkilled", extension_pod=AGENT, extension_container="velero") == 0
        assert metric(d, "aks_backup_ready", check="extension") == 1
        # geneva-service pods do not match the selector (one of them crash-loops)
        names = {dict(l).get("extension_pod") for (n, l) in d.metrics() if n == "aks_backup_extension_pod_ready"}
        assert names == {AGENT, CONTROLLER}, names
        d.stop()


@R.test
def crashloop_oomkilled_fails_extension_within_1s():
    with Kubesim() as ks, Daemon(kubesim=ks, env=FIXTURE_DAY) as d:
        d.wait_ready()
        wait_for(lambda: d.get("/readyz")[0] == 200, 10, what="/readyz 200")
        ks.apply(crashloop_oom(get_pod(ks, AGENT)))
        t0 = time.monotonic()
        wait_for(lambda: d.get("/readyz/extension")[0] == 503, 1.0, 0.02, "/readyz/extension 503")
        assert time.monotonic() - t0 <= 1.0
        code, _, body = d.get("/readyz?verbose")
        text = body.decode()
        assert code == 503, code
        line = [l for l in text.splitlines() if l.startswith("[-]extension failed:")]
        assert line, text
        assert AGENT in line[0] and "CrashLoopBackOff" in line[0] and "OOMKilled" in line[0] \
            and "7 restarts" in line[0], line[0]
        assert d.get("/readyz/synced")[0] == 200
        assert metric(d, "aks_backup_extension_container_oomkilled", extension_pod=AGENT, extension_container="velero") == 1
        assert metric(d, "aks_backup_extension_container_restarts_total", extension_pod=AGENT, extension_container="velero") == 7
        assert metric(d, "aks_backup_extension_pod_ready", extension_pod=AGENT) == 0
        assert metric(d, "aks_backup_ready", check="extension") == 0
        rep = json.loads(d.get("/api/v1/report")[2])
        assert rep["extension"]["running"] is False
        pod = [p for p in rep["extension"]["pods"] if p["name"] == AGENT][0]
        assert pod["oomkilled"] is True and pod["restarts"] == 7 and pod["ready"] is False, pod
        st = {p["check"]: p["status"] for p in rep["prerequisites"]}
        assert st["extension_running"] == "fail"
        codes = {w["code"] for w in rep["warnings"]}
        assert "extension-oomkilled" in codes, codes
        d.stop()


@R.test
def no_extension_pods_fails_extension():
    with Kubesim() as ks, Daemon(kubesim=ks, env=FIXTURE_DAY) as d:
        d.wait_ready()
        ks.delete("v1", "Pod", AGENT, NS)
        ks.delete("v1", "Pod", CONTROLLER, NS)
        wait_for(lambda: d.get("/readyz/extension")[0] == 503, 1.0, 0.02, "/readyz/extension 503")
        body = d.get("/readyz?verbose")[2].decode()
        assert "[-]extension failed: no extension pods" in body, body
        assert metric(d, "aks_backup_extension_pods", phase="Running") == 0
        d.stop()


@R.test
def large_cluster_with_default_memory_limit_warns():
    with Kubesim() as ks, Daemon(kubesim=ks, env=FIXTURE_DAY) as d:
        d.wait_ready()
        items = [{"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                  "metadata": {"name": f"bulk-{i}", "namespace": "shop"},
                  "spec": {"storageClassName": "managed-csi", "accessModes": ["ReadWriteOnce"],
                           "resources": {"requests": {"storage": "1Gi"}}},
                  "status": {"phase": "Pending"}} for i in range(1001)]
        ks.apply({"apiVersion": "v1", "kind": "List", "items": items})

        def warned():
            rep = json.loads(d.get("/api/v1/report")[2])
            return [w for w in rep["warnings"] if w["code"] == "extension-memory-limit"]
        w = wait_for(warned, 10, 0.1, "extension-memory-limit warning")
        assert "1280Mi" in w[0]["message"] or "memory" in w[0]["message"], w
        d.stop()


@R.test
def apiserver_down_then_back():
    with Kubesim() as ks, Daemon(kubesim=ks, env=FIXTURE_DAY) as d:
        d.wait_ready()
        wait_for(lambda: d.get("/readyz/apiserver")[0] == 200, 10, what="apiserver ok")
        before = d.metrics()
        ks.stop()
        t0 = time.monotonic()
        wait_for(lambda: d.get("/readyz/apiserver")[0] == 503, 35, 0.5, "apiserver to fail")
        took = time.monotonic() - t0
        assert took <= 31, took
        m = d.metrics()  # still served, with the last known state
        assert m[("aks_backup_ready", frozenset({("check", "apiserver")}))] == 0
        assert m[("aks_backup_persistent_volumes", frozenset({("reason", "supported")}))] == \
            before[("aks_backup_persistent_volumes", frozenset({("reason", "supported")}))]
        assert d.get("/readyz/synced")[0] == 200
        ks.restart()
        wait_for(lambda: d.get("/readyz/apiserver")[0] == 200, 40, 0.5, "apiserver to recover")
        wait_for(lambda: d.get("/readyz")[0] == 200, 40, 0.5, "/readyz to recover")
        # the same process served all along
        assert d.proc.poll() is None
        d.stop()


sys.exit(R.finish())
