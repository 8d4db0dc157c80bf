"""Real kubectl ($KUBECTL) against kubesim over HTTPS with a bearer token,
using the kubeconfig kubesim writes (--kubeconfig-out) and a private HOME and
cache dir: discovery, tables, chunked lists, selectors, watch and apply."""
import json
import os
import subprocess
import sys
import time

import harness
from harness import Kubesim, Results, wait_for

R = Results()
KS = None

FIX = harness.FIXTURES


def fixture_items(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)["items"]


@R.test
def kubeconfig_is_usable_as_is():
    with open(KS.kubeconfig_path) as f:
        text = f.read()
    assert "certificate-authority-data:" in text, text
    assert "token: t0" in text, text
    assert KS.api.startswith("https://127.0.0.1:"), KS.api
    p = KS.kubectl("version", "-o", "json")
    v = json.loads(p.stdout)
    assert v["serverVersion"]["gitVersion"] == "v1.30.6", v


@R.test
def get_pv_table():
    p = KS.kubectl("get", "pv")
    lines = p.stdout.strip().splitlines()
    header = lines[0].split()
    assert header[0] == "NAME" and "AGE" in header, lines[0]
    names = {l.split()[0] for l in lines[1:]}
    want = {i["metadata"]["name"] for i in fixture_items("persistentvolumes.json")}
    assert names == want, names ^ want


@R.test
def get_pv_chunked():
    since = int(time.time() * 1000)
    p = KS.kubectl("get", "pv", "--chunk-size=2", "-o", "name")
    names = p.stdout.split()
    assert len(names) == len(fixture_items("persistentvolumes.json")), names
    assert all(n.startswith("persistentvolume/") for n in names), names
    reqs = [r for r in KS.requests(since) if r["path"] == "/api/v1/persistentvolumes" and r["verb"] == "list"]
    limited = [r for r in reqs if "limit=2" in r["query"]]
    assert len(limited) == 8, [r["query"] for r in reqs]  # 16 PVs, 2 per page
    assert sum("continue=" in r["query"] for r in limited) == 7, [r["query"] for r in limited]
    assert all(r["code"] == 200 for r in limited)


@R.test
def get_pv_json_count():
    p = KS.kubectl("get", "pv", "-o", "json")
    d = json.loads(p.stdout)
    assert len(d["items"]) == len(fixture_items("persistentvolumes.json")), len(d["items"])
    assert all(i["kind"] == "PersistentVolume" for i in d["items"])


@R.test
def get_pods_by_label():
    p = KS.kubectl("get", "pods", "-n", "dataprotection-microsoft", "-l",
                   "app.kubernetes.io/name=dataprotection-microsoft-kubernetes", "-o", "name")
    names = sorted(p.stdout.split())
    want = sorted("pod/" + i["metadata"]["name"] for i in fixture_items("pods.json")
                  if i["metadata"].get("labels", {}).get("app.kubernetes.io/name")
                  == "dataprotection-microsoft-kubernetes")
    assert len(want) == 2 and names == want, (names, want)
    # and the negative: a selector matching nothing
    p = KS.kubectl("get", "pods", "-A", "-l", "app.kubernetes.io/name=nothing-like-this", "-o", "name")
    assert p.stdout.strip() == "", p.stdout


@R.test
def get_volumesnapshots_all_namespaces():
    p = KS.kubectl("get", "volumesnapshots", "-A")
    lines = p.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["NAMESPACE", "NAME"], lines[0]
    rows = [l.split()[:2] for l in lines[1:]]
    want = sorted([i["metadata"]["namespace"], i["metadata"]["name"]] for i in fixture_items("volumesnapshots.json"))
    assert sorted(rows) == want, (rows, want)


@R.test
def watch_sees_create_and_delete():
    home = os.path.join(KS.tmp, "home")
    env = dict(os.environ, HOME=home)
    proc = subprocess.Popen([harness.KUBECTL, "--kubeconfig", KS.kubeconfig_path, "--cache-dir",
                             os.path.join(home, "cache"), "get", "pv", "--watch", "--output-watch-events",
                             "--request-timeout=20s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(lambda: KS.stats()["watches_open"] >= 1, 15, what="kubectl to open its watch")
        KS.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-watch-probe"},
                  "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/tmp/x"}}})
        time.sleep(0.3)
        KS.delete("v1", "PersistentVolume", "pv-watch-probe")
        events = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if "pv-watch-probe" in line:
                events.append(line.split()[0])
                if "DELETED" in events:
                    break
        assert events == ["ADDED", "DELETED"], events
    finally:
        proc.kill()
        proc.wait()


LEASE = """apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: kubectl-probe
  namespace: default
spec:
  holderIdentity: %s
  leaseDurationSeconds: 15
"""


@R.test
def apply_lease_twice():
    path = os.path.join(KS.tmp, "lease.yaml")
    with open(path, "w") as f:
        f.write(LEASE % "pod-a")
    p1 = KS.kubectl("apply", "-f", path)
    assert "lease.coordination.k8s.io/kubectl-probe created" in p1.stdout, p1.stdout + p1.stderr
    rv1 = KS.control_get("/objects?resource=leases&namespace=default&name=kubectl-probe")["metadata"]["resourceVersion"]
    p2 = KS.kubectl("apply", "-f", path)
    assert "kubectl-probe unchanged" in p2.stdout, p2.stdout + p2.stderr
    o = KS.control_get("/objects?resource=leases&namespace=default&name=kubectl-probe")
    assert o["metadata"]["resourceVersion"] == rv1, "unchanged apply must not bump the resourceVersion"
    with open(path, "w") as f:
        f.write(LEASE % "pod-b")
    p3 = KS.kubectl("apply", "-f", path)
    assert "kubectl-probe configured" in p3.stdout, p3.stdout + p3.stderr
    o = KS.control_get("/objects?resource=leases&namespace=default&name=kubectl-probe")
    assert o["spec"]["holderIdentity"] == "pod-b", o
    assert int(o["metadata"]["resourceVersion"]) > int(rv1)
    p4 = KS.kubectl("get", "lease", "-n", "default", "kubectl-probe", "-o", "jsonpath={.spec.holderIdentity}")
    assert p4.stdout == "pod-b", p4.stdout
    assert "warning" not in (p1.stderr + p2.stderr + p3.stderr).lower(), p1.stderr + p2.stderr + p3.stderr


@R.test
def api_resources():
    p = KS.kubectl("api-resources", "-o", "name")
    names = set(p.stdout.split())
    for want in ["persistentvolumes", "pods", "leases.coordination.k8s.io", "volumesnapshots.snapshot.storage.k8s.io",
                 "backups.velero.io", "storageclasses.storage.k8s.io", "events.events.k8s.io"]:
        assert want in names, (want, sorted(names))


@R.test
def forbidden_and_bad_tokens_fail():
    # a kubeconfig with a wrong token: kubectl reports Unauthorized
    with open(KS.kubeconfig_path) as f:
        text = f.read()
    bad = os.path.join(KS.tmp, "bad-kubeconfig")
    with open(bad, "w") as f:
        f.write(text.replace("token: t0", "token: nope"))
    p = subprocess.run([harness.KUBECTL, "--kubeconfig", bad, "--cache-dir", os.path.join(KS.tmp, "c2"),
                        "get", "pv"], capture_output=True, text=True, env=dict(os.environ, HOME=KS.tmp))
    assert p.returncode != 0 and ("Unauthorized" in p.stderr or "provide credentials" in p.stderr), p.stderr


def main():
    global KS
    if not os.access(harness.KUBECTL, os.X_OK):
        print(f"FAIL kubectl not found at {harness.KUBECTL} (scripts/tools.sh installs it)")
        print("0 passed, 1 failed")
        return 1
    with Kubesim() as ks:
        KS = ks
        return R.finish()


if __name__ == "__main__":
    sys.exit(main())
