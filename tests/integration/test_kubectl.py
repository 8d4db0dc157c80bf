"""Real kubectl ($KUBECTL) against kubesim over HTTPS with a bearer token,
using the kubeconfig kubesim writes (--kubeconfig-out) and a private HOME and
cache dir: discovery, tables, chunked lists, selectors, watch, apply, create of
ConfigMaps/Secrets (protobuf bodies) and a helm ($HELM) install/upgrade/uninstall."""
import base64
import gzip
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
HELM = os.environ.get("HELM", os.path.join(harness.BUILDROOT, "tools", "helm"))
PROTOBUF = "application/vnd.kubernetes.protobuf"


def writes_since(since, method, path_end):
    """Content-Types of the API requests `method` on a path ending with path_end since `since` (ms)."""
    return [(r["content_type"], r["code"]) for r in KS.requests(since)
            if r["method"] == method and r["path"].endswith(path_end)]


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


def kubectl_json(*args):
    return json.loads(KS.kubectl(*args, "-o", "json").stdout)


def assert_gone(kind, name):
    p = KS.kubectl("get", kind, name, "-n", "default", check=False)
    assert p.returncode != 0 and "NotFound" in p.stderr, p.stderr


@R.test
def create_configmap_round_trips():
    blob = bytes(range(256))  # not UTF-8: kubectl puts it in binaryData
    path = os.path.join(KS.tmp, "blob.bin")
    with open(path, "wb") as f:
        f.write(blob)
    since = int(time.time() * 1000)
    p = KS.kubectl("create", "configmap", "kc-cm", "-n", "default", "--from-literal=a=b",
                   "--from-literal=greeting=hé llo, wörld", f"--from-file=blob={path}")
    assert "configmap/kc-cm created" in p.stdout, p.stdout + p.stderr
    assert writes_since(since, "POST", "/namespaces/default/configmaps") == [(PROTOBUF, 201)], KS.requests(since)
    o = kubectl_json("get", "configmap", "kc-cm", "-n", "default")
    assert o["data"] == {"a": "b", "greeting": "hé llo, wörld"}, o
    assert base64.b64decode(o["binaryData"]["blob"]) == blob, o["binaryData"]
    assert o["metadata"]["uid"] and o["metadata"]["namespace"] == "default", o["metadata"]
    p = KS.kubectl("create", "configmap", "kc-cm", "-n", "default", "--from-literal=a=c", check=False)
    assert p.returncode != 0 and 'configmaps "kc-cm" already exists' in p.stderr, p.stderr
    KS.kubectl("delete", "configmap", "kc-cm", "-n", "default")
    assert_gone("configmap", "kc-cm")


@R.test
def create_secrets_round_trip():
    since = int(time.time() * 1000)
    p = KS.kubectl("create", "secret", "generic", "kc-secret", "-n", "default", "--from-literal=user=admin",
                   "--from-literal=password=p@ss w0rd:ü")
    assert "secret/kc-secret created" in p.stdout, p.stdout + p.stderr
    assert writes_since(since, "POST", "/namespaces/default/secrets") == [(PROTOBUF, 201)], KS.requests(since)
    o = kubectl_json("get", "secret", "kc-secret", "-n", "default")
    assert o["type"] == "Opaque", o
    assert {k: base64.b64decode(v).decode() for k, v in o["data"].items()} == {
        "user": "admin", "password": "p@ss w0rd:ü"}, o["data"]
    KS.kubectl("create", "secret", "generic", "kc-typed", "-n", "default", "--type=example.com/token",
               "--from-literal=token=t-123")
    o = kubectl_json("get", "secret", "kc-typed", "-n", "default")
    assert o["type"] == "example.com/token" and base64.b64decode(o["data"]["token"]) == b"t-123", o
    p = KS.kubectl("get", "secret", "kc-secret", "-n", "default", "-o", "jsonpath={.data.user}")
    assert base64.b64decode(p.stdout) == b"admin", p.stdout
    KS.kubectl("delete", "secret", "kc-secret", "kc-typed", "-n", "default")
    assert_gone("secret", "kc-secret")
    assert_gone("secret", "kc-typed")


@R.test
def create_namespace_and_serviceaccount():
    since = int(time.time() * 1000)
    p = KS.kubectl("create", "namespace", "kc-ns")
    assert "namespace/kc-ns created" in p.stdout, p.stdout + p.stderr
    assert writes_since(since, "POST", "/api/v1/namespaces") == [(PROTOBUF, 201)], KS.requests(since)
    o = kubectl_json("get", "namespace", "kc-ns")
    assert o["metadata"]["labels"] == {"kubernetes.io/metadata.name": "kc-ns"}, o["metadata"]
    assert o["spec"] == {"finalizers": ["kubernetes"]} and o["status"] == {"phase": "Active"}, o
    KS.kubectl("create", "serviceaccount", "kc-sa", "-n", "kc-ns")
    o = kubectl_json("get", "serviceaccount", "kc-sa", "-n", "kc-ns")
    assert o["metadata"]["name"] == "kc-sa" and o["metadata"]["namespace"] == "kc-ns", o
    KS.kubectl("delete", "serviceaccount", "kc-sa", "-n", "kc-ns")
    KS.kubectl("delete", "namespace", "kc-ns")
    p = KS.kubectl("get", "namespace", "kc-ns", check=False)
    assert p.returncode != 0 and "NotFound" in p.stderr, p.stderr


def helm(*args, check=True):
    home = os.path.join(KS.tmp, "helm-home")
    env = dict(os.environ, HOME=home, HELM_CACHE_HOME=os.path.join(home, "cache"),
               HELM_CONFIG_HOME=os.path.join(home, "config"), HELM_DATA_HOME=os.path.join(home, "data"))
    p = subprocess.run([HELM, "--kubeconfig", KS.kubeconfig_path] + list(args), capture_output=True, text=True,
                       timeout=120, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


def release_secret(ns, version):
    o = KS.control_get(f"/objects?resource=secrets&namespace={ns}&name=sh.helm.release.v1.rel.v{version}")
    doc = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(o["data"]["release"]))))
    return o, doc


@R.test
def helm_install_upgrade_uninstall():
    if not os.access(HELM, os.X_OK):
        raise AssertionError(f"helm not found at {HELM} (scripts/tools.sh installs it)")
    ns, chart = "helm-probe", os.path.join(harness.SRCROOT, "charts", "aks-backup-companion")
    since = int(time.time() * 1000)
    helm("install", "rel", chart, "-n", ns)
    assert writes_since(since, "POST", f"/namespaces/{ns}/secrets") == [(PROTOBUF, 201)], KS.requests(since)
    assert writes_since(since, "PUT", f"/namespaces/{ns}/secrets/sh.helm.release.v1.rel.v1") == [(PROTOBUF, 200)]
    o, doc = release_secret(ns, 1)  # written by helm in protobuf
    assert o["type"] == "helm.sh/release.v1", o["type"]
    assert {k: o["metadata"]["labels"].get(k) for k in ("owner", "name", "status", "version")} == {
        "owner": "helm", "name": "rel", "status": "deployed", "version": "1"}, o["metadata"]["labels"]
    assert doc["name"] == "rel" and doc["namespace"] == ns and doc["version"] == 1, {k: doc.get(k) for k in doc}
    dep = KS.control_get(f"/objects?resource=deployments&namespace={ns}&name=rel-aks-backup-companion")
    assert dep["kind"] == "Deployment", dep
    rels = json.loads(helm("list", "-n", ns, "-o", "json").stdout)
    assert [(r["name"], r["status"], r["revision"]) for r in rels] == [("rel", "deployed", "1")], rels
    helm("upgrade", "rel", chart, "-n", ns, "--set", "replicas=2")
    o1, _ = release_secret(ns, 1)
    o2, doc2 = release_secret(ns, 2)
    assert o1["metadata"]["labels"]["status"] == "superseded" and o2["metadata"]["labels"]["status"] == "deployed"
    assert doc2["config"].get("replicas") == 2, doc2.get("config")
    dep = KS.control_get(f"/objects?resource=deployments&namespace={ns}&name=rel-aks-backup-companion")
    assert dep["spec"]["replicas"] == 2, dep["spec"]
    since = int(time.time() * 1000)
    helm("uninstall", "rel", "-n", ns)
    deletes = writes_since(since, "DELETE", "/secrets/sh.helm.release.v1.rel.v1")
    assert deletes == [(PROTOBUF, 200)], deletes  # DeleteOptions in protobuf
    assert all(i["namespace"] != ns for i in KS.state("secrets")["items"]), "release secrets deleted"
    assert json.loads(helm("list", "-n", ns, "-o", "json").stdout) == []
    assert all(i["namespace"] != ns for i in KS.state("deployments")["items"])


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
