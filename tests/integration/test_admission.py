"""The admission warnings ConfigMap (docs/admission.md) against kubesim:
the daemon's leader writes exactly the skipped StorageClasses of the fixtures,
follows class changes (added, default annotation moved, deleted) within 2 s,
writes nothing when the content is unchanged, re-reads and retries on 409, stays
off with warnings_configmap "", and the ConfigMap it wrote passes the rendered
ValidatingAdmissionPolicy's CEL (tests/deploy/cel_test.mjs)."""
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

import harness
from harness import Daemon, Kubesim, Results, wait_for

R = Results()
NS = "aks-backup-companion"
CM = "aks-backup-companion-storage-classes"
ENV = {"ABC_MATRIX_EDITION": "2023-08",  # verdicts as the 2023-08 page gives them
       "POD_NAMESPACE": NS, "POD_NAME": "abc-admission-0"}
DEFAULT_ANN = "storageclass.kubernetes.io/is-default-class"
FIGURES = {}

REASONS = {
    "disk.csi.azure.com": "supported",
    "file.csi.azure.com": "azure-files",
    "blob.csi.azure.com": "azure-blob",
    "kubernetes.io/azure-disk": "in-tree",
    "kubernetes.io/azure-file": "in-tree",
    "kubernetes.io/no-provisioner": "static",
}


def reason_of(provisioner):
    return REASONS.get(provisioner, "unsupported-driver")


def cm_of(k):
    q = urllib.parse.urlencode({"resource": "configmaps", "namespace": NS, "name": CM})
    code, body = k.control_request("GET", "/objects?" + q)
    return body if code == 200 else None


def classes_of(k):
    """The StorageClasses kubesim holds now (full objects)."""
    body = k.control_get("/objects?resource=storageclasses")
    return body["items"]


def sc_object(k, name):
    q = urllib.parse.urlencode({"resource": "storageclasses", "name": name})
    code, body = k.control_request("GET", "/objects?" + q)
    assert code == 200, f"storage class {name}: {code}"
    body.setdefault("apiVersion", "storage.k8s.io/v1")
    body.setdefault("kind", "StorageClass")
    return body


def expected(classes):
    """class.<n> -> reason for every skipped class, and the default when skipped."""
    want = {}
    default = None
    for sc in classes:
        n = sc["metadata"]["name"]
        r = reason_of(sc.get("provisioner", ""))
        if r != "supported":
            want["class." + n] = r
        if (sc["metadata"].get("annotations") or {}).get(DEFAULT_ANN) == "true" and r != "supported":
            default = n if default is None else min(default, n)
    return want, default


def layout_problems(cm, classes):
    """[] when cm is the documented layout for classes, else what differs."""
    if cm is None:
        return ["no ConfigMap"]
    probs = []
    data = cm.get("data") or {}
    want, default = expected(classes)
    for key, reason in want.items():
        if data.get(key) != reason:
            probs.append(f"{key}={data.get(key)!r}, want {reason!r}")
        n = key[len("class."):]
        msg = data.get("message." + n, "")
        if not msg.startswith(f"storage class {n} is skipped by AKS backup: ") or "; " not in msg:
            probs.append(f"message.{n}={msg!r}")
    allowed = set(want) | {"message." + k[len("class."):] for k in want} | {"static-message", "edition"}
    if data.get("edition") != "2023-08":
        probs.append(f"edition={data.get('edition')!r}, want '2023-08'")
    if default:
        allowed.add("default")
        if data.get("default") != default:
            probs.append(f"default={data.get('default')!r}, want {default!r}")
    extra = set(data) - allowed
    if extra:
        probs.append(f"unexpected keys {sorted(extra)}")
    if 'storageClassName ""' not in data.get("static-message", ""):
        probs.append("static-message missing")
    labels = cm["metadata"].get("labels") or {}
    for lk in ("app.kubernetes.io/name", "app.kubernetes.io/managed-by"):
        if labels.get(lk) != "aks-backup-companion":
            probs.append(f"label {lk}={labels.get(lk)!r}")
    return probs


def wait_layout(k, timeout, what):
    """Waits until the ConfigMap matches kubesim's classes; returns seconds taken."""
    t0 = time.monotonic()
    last = []

    def ok():
        nonlocal last
        last = layout_problems(cm_of(k), classes_of(k))
        return not last
    try:
        wait_for(ok, timeout, 0.02, what)
    except AssertionError:
        raise AssertionError(f"{what}: {last}")
    return time.monotonic() - t0


def cm_requests(k, since=0):
    return [r for r in k.requests(since) if "/configmaps" in r["path"]]


def last_t(k):
    reqs = k.requests()
    return max((r["t"] for r in reqs), default=0) + 1


def start(k, config_text=None):
    d = Daemon(kubesim=k, env=ENV, config_text=config_text)
    d.wait_ready()
    return d


@R.test
def test_configmap_matches_fixtures():
    with Kubesim() as k, start(k) as d:
        t0 = time.monotonic()
        wait_layout(k, 10, "ConfigMap with the fixtures' skipped classes")
        FIGURES["first write after ready (s)"] = round(time.monotonic() - t0, 3)
        cm = cm_of(k)
        data = cm["data"]
        assert sorted(k for k in data if k.startswith("class.")) == [
            "class.azureblob-fuse-premium", "class.azurefile", "class.azurefile-csi",
            "class.azurefile-csi-premium", "class.nfs-csi"], sorted(data)
        assert "default" not in data  # the fixtures' default class is a disk class
        assert cm["metadata"]["namespace"] == NS
        reqs = cm_requests(k)
        assert [(r["method"], r["code"]) for r in reqs] == [("GET", 404), ("POST", 201)], reqs
        assert reqs[0]["path"] == f"/api/v1/namespaces/{NS}/configmaps/{CM}"
        assert reqs[1]["path"] == f"/api/v1/namespaces/{NS}/configmaps"
        d.stop()


@R.test
def test_follows_class_changes():
    with Kubesim() as k, start(k) as d:
        wait_layout(k, 10, "first ConfigMap")
        # an in-tree class appears
        k.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                 "metadata": {"name": "legacy-azuredisk"}, "provisioner": "kubernetes.io/azure-disk"})
        dt = wait_layout(k, 2.0, "in-tree class added")
        assert cm_of(k)["data"]["class.legacy-azuredisk"] == "in-tree"
        FIGURES["class added -> ConfigMap (s)"] = round(dt, 3)
        # the default annotation moves from the disk class "default" to azurefile-csi
        old = sc_object(k, "default")
        old["metadata"].setdefault("annotations", {})[DEFAULT_ANN] = "false"
        k.apply(old)
        new = sc_object(k, "azurefile-csi")
        new["metadata"].setdefault("annotations", {})[DEFAULT_ANN] = "true"
        k.apply(new)
        dt = wait_layout(k, 2.0, "default moved to azurefile-csi")
        assert cm_of(k)["data"]["default"] == "azurefile-csi"
        FIGURES["default moved -> ConfigMap (s)"] = round(dt, 3)
        # a class is deleted
        k.delete("storage.k8s.io/v1", "StorageClass", "nfs-csi")
        dt = wait_layout(k, 2.0, "nfs-csi deleted")
        assert "class.nfs-csi" not in cm_of(k)["data"]
        assert "message.nfs-csi" not in cm_of(k)["data"]
        FIGURES["class deleted -> ConfigMap (s)"] = round(dt, 3)
        # the default class is deleted: "default" goes away
        k.delete("storage.k8s.io/v1", "StorageClass", "azurefile-csi")
        wait_layout(k, 2.0, "default class deleted")
        assert "default" not in cm_of(k)["data"]
        puts = [r for r in cm_requests(k) if r["method"] == "PUT"]
        assert puts and all(r["code"] == 200 for r in puts), puts
        d.stop()


@R.test
def test_unchanged_content_not_written():
    with Kubesim() as k, start(k) as d:
        wait_layout(k, 10, "first ConfigMap")
        time.sleep(0.5)
        rv = cm_of(k)["metadata"]["resourceVersion"]
        since = last_t(k)
        # a supported class: a class change, but the same content
        k.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                 "metadata": {"name": "managed-extra"}, "provisioner": "disk.csi.azure.com"})
        wait_for(lambda: any(r["method"] == "GET" for r in cm_requests(k, since)), 2.0, 0.02,
                 "the daemon to re-read the ConfigMap")
        time.sleep(1.0)
        writes = [r for r in cm_requests(k, since) if r["method"] != "GET"]
        assert writes == [], writes
        assert cm_of(k)["metadata"]["resourceVersion"] == rv
        d.stop()


@R.test
def test_conflict_rereads_and_retries():
    with Kubesim() as k, start(k) as d:
        wait_layout(k, 10, "first ConfigMap")
        since = last_t(k)
        k.control_post("/fail", {"code": 409, "count": 2, "verb": "update", "path": "/configmaps/" + CM})
        k.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                 "metadata": {"name": "blob-extra"}, "provisioner": "blob.csi.azure.com"})
        wait_layout(k, 2.0, "class added despite two 409s")
        seq = [(r["method"], r["code"]) for r in cm_requests(k, since)]
        assert seq == [("GET", 200), ("PUT", 409), ("GET", 200), ("PUT", 409), ("GET", 200),
                       ("PUT", 200)], seq
        d.stop()


@R.test
def test_off_when_name_empty():
    cfg = ("accounting:\n  state_file: %s\nregions_file: %s\nadmission:\n  warnings_configmap: \"\"\n"
           % (os.path.join(tempfile.gettempdir(), "abc-admission-off-quota.json"),
              os.path.join(harness.SRCROOT, "config", "regions.txt")))
    with Kubesim() as k, start(k, cfg) as d:
        k.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                 "metadata": {"name": "legacy-azuredisk"}, "provisioner": "kubernetes.io/azure-disk"})
        time.sleep(1.5)
        assert cm_requests(k) == []
        assert cm_of(k) is None
        d.stop()


# ---- the CEL of the rendered policy against the ConfigMap the daemon wrote ----

def npm_dir():
    """node_modules for tests/deploy (as tests/deploy/run.sh installs them)."""
    deploy = os.path.join(harness.SRCROOT, "tests", "deploy")
    for d in (os.environ.get("ABC_NPM_DIR"), os.path.join(harness.BUILDROOT, "deploy-npm")):
        if d and os.path.isfile(os.path.join(d, "node_modules", "@bufbuild", "cel", "package.json")):
            return d
    d = os.path.join(harness.BUILDROOT, "deploy-npm")
    os.makedirs(d, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(deploy, f), d)
    p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=d,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"npm ci failed: {p.stderr[-2000:]}"
    shutil.copy(os.path.join(deploy, "package-lock.json"), os.path.join(d, "node_modules", ".abc-stamp"))
    return d


def run_cel(cm, classes, tmp):
    """Runs tests/deploy/cel_test.mjs on k8s/'s policy + binding; returns its output."""
    deploy = os.path.join(harness.SRCROOT, "tests", "deploy")
    work = os.path.join(tmp, "cel")
    os.makedirs(work, exist_ok=True)
    shutil.copy(os.path.join(deploy, "cel_test.mjs"), work)
    link = os.path.join(work, "node_modules")
    if not os.path.exists(link):
        os.symlink(os.path.join(npm_dir(), "node_modules"), link)
    cm_path = os.path.join(tmp, "configmap.json")
    with open(cm_path, "w") as f:
        json.dump(cm, f, indent=1)
    storage = {"apiVersion": "v1", "kind": "List",
               "items": [dict(sc, kind="StorageClass", apiVersion="storage.k8s.io/v1") for sc in classes]}
    storage_path = os.path.join(tmp, "storage.json")
    with open(storage_path, "w") as f:
        json.dump(storage, f)
    rendered = os.path.join(tmp, "k8s-admission.yaml")
    with open(rendered, "w") as out:
        for name in ("admission-policy.yaml", "admission-binding.yaml"):
            with open(os.path.join(harness.SRCROOT, "k8s", name)) as f:
                out.write(f.read().rstrip() + "\n---\n")
    p = subprocess.run(["node", os.path.join(work, "cel_test.mjs"), "--storage", storage_path,
                        "--configmap", cm_path, rendered], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and " 0 failed" in p.stdout, \
        f"cel_test.mjs exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-2000:]}"
    return p.stdout.strip().splitlines()[-1]


@R.test
def test_cel_policy_on_written_configmap():
    tmp = tempfile.mkdtemp(prefix="abc-admission-cel-")
    try:
        with Kubesim() as k, start(k) as d:
            wait_layout(k, 10, "first ConfigMap")
            FIGURES["cel (fixtures)"] = run_cel(cm_of(k), classes_of(k), tmp)
            # the default class moved to a skipped one, and an in-tree class
            old = sc_object(k, "default")
            old["metadata"].setdefault("annotations", {})[DEFAULT_ANN] = "false"
            k.apply(old)
            new = sc_object(k, "azureblob-fuse-premium")
            new["metadata"].setdefault("annotations", {})[DEFAULT_ANN] = "true"
            k.apply(new)
            k.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                     "metadata": {"name": "legacy-azurefile"}, "provisioner": "kubernetes.io/azure-file"})
            wait_layout(k, 2.0, "ConfigMap after the changes")
            cm = cm_of(k)
            assert cm["data"]["default"] == "azureblob-fuse-premium"
            FIGURES["cel (default skipped)"] = run_cel(cm, classes_of(k), tmp)
            d.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@R.test
def test_cel_policy_edition_2026():
    """Under the default edition (2026-01) SMB Azure Files and no-provisioner
    classes are not warned about; NFS and private-endpoint Files classes,
    Container Storage, Blob, in-tree and other provisioners are; a claim
    created in kube-system, kube-node-lease or kube-public is warned."""
    tmp = tempfile.mkdtemp(prefix="abc-admission-cel26-")
    env = dict(ENV)
    del env["ABC_MATRIX_EDITION"]
    try:
        with Kubesim() as k:
            for name, prov, params in (
                    ("files-nfs", "file.csi.azure.com", {"protocol": "NFS"}),
                    ("files-private", "file.csi.azure.com", {"networkEndpointType": "privateEndpoint"}),
                    ("acstor-disk", "containerstorage.csi.azure.com", {}),
                    ("local-static", "kubernetes.io/no-provisioner", {})):
                k.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                         "metadata": {"name": name}, "provisioner": prov, "parameters": params})
            d = Daemon(kubesim=k, env=env)
            try:
                d.wait_ready()

                def written():
                    cm = cm_of(k)
                    return cm is not None and (cm.get("data") or {}).get("edition") == "2026-01" \
                        and "class.files-nfs" in cm["data"]
                wait_for(written, 10, 0.05, "2026-01 ConfigMap")
                data = cm_of(k)["data"]
                assert data["class.files-nfs"] == "azure-files-nfs", data
                assert data["class.files-private"] == "azure-files-private-endpoint", data
                assert data["class.acstor-disk"] == "container-storage", data
                for smb in ("azurefile", "azurefile-csi", "azurefile-csi-premium", "local-static"):
                    assert "class." + smb not in data, (smb, data)
                assert data["excluded-namespaces"] == "kube-system,kube-node-lease,kube-public", data
                FIGURES["cel (2026-01)"] = run_cel(cm_of(k), classes_of(k), tmp)
                d.stop()
            finally:
                d.__exit__(None, None, None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    rc = R.finish()
    for k_, v in FIGURES.items():
        print(f"figure: {k_}: {v}")
    sys.exit(rc)
