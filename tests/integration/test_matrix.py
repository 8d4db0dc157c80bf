"""Issue 16 end to end: one cluster (tests/fixtures plus tests/fixtures/matrix:
every new per-volume case, an Azure Files CSI driver DaemonSet, Velero
storage locations) judged by the daemon under the 2023-08 edition, then, after
a SIGHUP, under 2026-01 with the Vault tier, then with an Azure Files driver
older than 1.32. Every PV's reason and notes are asserted in the report, the
metrics and `check`, as tests/fixtures/README.md lists them; the new
prerequisites and warnings follow the watched objects."""
import json
import os
import signal
import subprocess
import sys
import tempfile

from harness import ABC_BIN, FIXTURES, SRCROOT, Daemon, Kubesim, Results, wait_for

R = Results()
MATRIX = os.path.join(FIXTURES, "matrix")
NOW = "2026-07-10T12:00:00Z"  # v1.30: standard support ended 2025-08-22, LTS until 2026-07-31

S, NVE = "supported", "not-vault-eligible:"
# PV -> (2023-08 reason, 2026-01 reason, 2026-01 notes with vault.tiers [operational, vault])
EXPECTED = {
    # tests/fixtures (the base cluster)
    "pvc-376cbd50-4f18-5d33-b0a1-4a849714f434": (S, S, []),
    "pvc-b42829bd-28d0-5269-9494-a14bf26d5eb6": (S, S, []),
    "pvc-8e8dca5d-d01d-5b8a-b8b3-f9dfb334e9a6": (S, S, []),
    "pvc-2294e4b4-b3f5-5c8c-aeb7-4c8c25780ac8": (S, S, []),
    "pvc-d46c1cad-6598-522d-9bde-641d64d27fac": (S, S, []),
    "pv-orders-legacy-disk": ("static", "static", []),
    "pvc-6071e9a0-3d4d-5cad-9c9f-c866f2585f8b": ("azure-files", S, ["operational-tier-only"]),
    "pv-shared-config": ("azure-files", "static", []),
    "pvc-658703f2-2f90-586b-9cb3-7e4cc19ca948": ("azure-blob", "azure-blob", []),
    "pv-intree-jenkins-home": ("in-tree", "in-tree", []),
    "pv-intree-gitea": ("in-tree", "in-tree", []),
    "pv-intree-azurefile-reports": ("in-tree", "in-tree", []),
    "pv-hostpath-scratch": ("not-csi", "not-csi", []),
    "pv-local-nvme-0": ("not-csi", "not-csi", []),
    "pv-nfs-archive": ("not-csi", "not-csi", []),
    "pvc-5bcec22a-49c6-541c-b425-de2203ea6c54": ("unsupported-driver", "unsupported-driver", []),
    # tests/fixtures/matrix
    "pv-m-premium-v2": (S, S, ["slow-snapshot-sku"]),
    "pv-m-ultra": (S, S, ["slow-snapshot-sku", NVE + "size"]),            # 1536Gi
    "pv-m-big-tib": (S, S, [NVE + "size"]),                                # 1.5Ti
    "pv-m-exact-tib": (S, S, []),                                          # 1Ti is not over 1 TiB
    "pv-m-bytes": (S, S, [NVE + "size"]),                                  # 1099511627777 bytes
    "pv-m-bad-capacity": (S, S, ["unparsable-capacity"]),                  # "lots"
    "pv-m-cmk": (S, S, [NVE + "disk-encryption-set"]),
    "pv-m-private-disk": (S, S, [NVE + "network-access"]),
    "pv-m-aad": (S, S, [NVE + "aad-data-access"]),
    "pv-m-static-with-class": ("static", S, []),
    "pv-m-files-static-with-class": ("azure-files", S, ["operational-tier-only"]),
    "pv-m-files-nfs-attribute": ("azure-files", "azure-files-nfs", []),
    "pv-m-files-nfs-class": ("azure-files", "azure-files-nfs", []),
    "pv-m-files-private-class": ("azure-files", "azure-files-private-endpoint", []),
    "pv-m-files-private-attribute": ("azure-files", "azure-files-private-endpoint", []),
    "pv-m-acstor": ("unsupported-driver", "container-storage", []),
    "pv-m-acstor-local": ("unsupported-driver", "container-storage", []),
    "pv-m-kube-system": (S, "excluded-namespace", []),
    "pv-m-kube-public": (S, "excluded-namespace", []),
    "pv-m-velero-label": (S, S, []),
}
# With driver.azure_files_version older than 1.32, SMB Azure Files volumes (the
# driver rule comes before `static` in the table, first match wins):
TOO_OLD = {"pvc-6071e9a0-3d4d-5cad-9c9f-c866f2585f8b", "pv-m-files-static-with-class", "pv-shared-config"}

NEW_CHECKS = {"csi_file_driver_version", "storage_account_kind", "linux_amd64_nodes",
              "no_other_velero", "namespaces_within_limit", "backup_storage_location"}
OLD_ONLY = {"vault_same_subscription", "storage_same_subscription"}


def config(tmp, edition, vault=False, files_version=""):
    return f"""matrix:
  edition: "{edition}"
cluster:
  identity: user
vault:
  tiers: [operational{", vault" if vault else ""}]
storage:
  kind: StorageV2
  sku: Premium_LRS
driver:
  azure_files_version: "{files_version}"
accounting:
  state_file: {tmp}/quota.json
regions_file: {SRCROOT}/config/regions.txt
kubernetes_versions_file: {SRCROOT}/config/kubernetes-versions.txt
admission:
  warnings_configmap: ""
"""


def report(d):
    code, _, body = d.get("/api/v1/report")
    assert code == 200, code
    return json.loads(body)


def verdicts(doc):
    return {p["name"]: (p["reason"], [n["code"] for n in p["notes"]]) for p in doc["persistent_volumes"]}


def check_pvs(doc, col, too_old=False):
    got = verdicts(doc)
    assert set(got) == set(EXPECTED), sorted(set(got) ^ set(EXPECTED))
    bad = []
    for name, exp in EXPECTED.items():
        reason = exp[col]
        notes = exp[2] if col == 1 else []
        if too_old and name in TOO_OLD:
            reason, notes = "azure-files-driver-too-old", []
        if got[name] != (reason, notes):
            bad.append(f"{name}: got {got[name]}, want {(reason, notes)}")
    assert not bad, "\n".join(bad)


def prereqs(doc):
    return {p["check"]: p for p in doc["prerequisites"]}


def metric_pv_reasons(m):
    return {dict(l)["persistentvolume"]: dict(l)["reason"] for (n, l), v in m.items()
            if n == "aks_backup_persistent_volume_supported"}


def run_check(ks, cfg_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith("ABC_")}
    e["ABC_TEST_NOW"] = NOW
    p = subprocess.run([ABC_BIN, "check", "--kubeconfig", ks.kubeconfig_path, "--config", cfg_path],
                       capture_output=True, text=True, timeout=60, env=e)
    return p.returncode, p.stdout


def reload(d, text):
    with open(d.config_path, "w") as f:
        f.write(text)
    d.signal(signal.SIGHUP)


@R.test
def one_cluster_under_both_editions():
    tmp = tempfile.mkdtemp(prefix="abc-matrix-")
    with Kubesim(seed_dirs=[FIXTURES, MATRIX]) as ks, \
            Daemon(kubesim=ks, config_text=config(tmp, "2023-08"), env={"ABC_TEST_NOW": NOW}) as d:
        d.wait_ready()
        # ---- 2023-08 ----
        wait_for(lambda: len(report(d)["persistent_volumes"]) == len(EXPECTED), 10, 0.1, "every PV")
        doc = report(d)
        assert doc["support_matrix"]["edition"] == "2023-08", doc["support_matrix"]
        check_pvs(doc, 0)
        pr = prereqs(doc)
        assert not (NEW_CHECKS & set(pr)), sorted(pr)
        assert OLD_ONLY <= set(pr), sorted(pr)
        assert pr["identity"]["status"] == "fail", pr["identity"]          # user: only system in 2023-08
        assert pr["kubernetes_version"]["status"] == "pass"                 # >= 1.22
        assert "excluded-namespace" not in doc["summary"]["by_reason"]
        m = d.metrics()
        assert m[("aks_backup_support_matrix_info", frozenset({("edition", "2023-08")}))] == 1
        assert metric_pv_reasons(m) == {k: v[0] for k, v in EXPECTED.items()}
        rc, out = run_check(ks, d.config_path)
        assert "edition 2023-08" in out and rc == 2, (rc, out[:400])

        # ---- 2026-01, Vault tier in use ----
        reload(d, config(tmp, "2026-01", vault=True))
        wait_for(lambda: report(d)["support_matrix"]["edition"] == "2026-01", 5, 0.05, "reload to 2026-01")
        doc = report(d)
        check_pvs(doc, 1)
        pr = prereqs(doc)
        assert NEW_CHECKS <= set(pr) and not (OLD_ONLY & set(pr)), sorted(pr)
        st = {k: v["status"] for k, v in pr.items()}
        assert st["identity"] == "pass", pr["identity"]                     # user is accepted now
        assert st["csi_file_driver_version"] == "pass" and pr["csi_file_driver_version"]["observed"] == "v1.32.5", \
            pr["csi_file_driver_version"]
        assert st["storage_account_kind"] == "fail", pr["storage_account_kind"]   # Premium_LRS
        assert st["linux_amd64_nodes"] == "pass", pr["linux_amd64_nodes"]
        assert st["no_other_velero"] == "fail" and "velero/default" in pr["no_other_velero"]["observed"], \
            pr["no_other_velero"]
        assert st["backup_storage_location"] == "pass", pr["backup_storage_location"]
        assert st["namespaces_within_limit"] == "pass", pr["namespaces_within_limit"]
        # 6 + 4 namespaces, minus kube-system, kube-node-lease, kube-public
        assert pr["namespaces_within_limit"]["observed"].startswith("7 "), pr["namespaces_within_limit"]
        assert st["kubernetes_version"] == "pass" and "long-term support" in pr["kubernetes_version"]["observed"], \
            pr["kubernetes_version"]
        codes = {(w["code"], w["object"]) for w in doc["warnings"]}
        for want in (("velero-metadata", "pv-m-velero-label"), ("velero-metadata", "shop/m-velero"),
                     ("velero-metadata", "media-lab"), ("kubernetes-version-lts-only", "v1.30.6")):
            assert want in codes, (want, sorted(codes))
        notes = doc["summary"]["by_note"]
        assert notes["slow-snapshot-sku"] == 2 and notes[NVE + "size"] == 3 and \
            notes["operational-tier-only"] == 2 and notes["unparsable-capacity"] == 1, notes
        m = d.metrics()
        assert m[("aks_backup_support_matrix_info", frozenset({("edition", "2026-01")}))] == 1
        assert m[("aks_backup_persistent_volume_notes", frozenset({("code", NVE + "size")}))] == 3
        assert m[("aks_backup_persistent_volume_notes", frozenset({("code", NVE + "aad-data-access")}))] == 1
        assert m[("aks_backup_persistent_volumes", frozenset({("reason", "excluded-namespace")}))] == 2
        assert metric_pv_reasons(m) == {k: v[1] for k, v in EXPECTED.items()}
        rc, out = run_check(ks, d.config_path)
        assert "edition 2026-01" in out and "pv-m-kube-system" in out and "excluded-namespace" in out \
            and rc == 2, (rc, out[:400])

        # ---- watched objects: the other Velero goes, our location fails ----
        ks.delete("velero.io/v1", "BackupStorageLocation", "default", namespace="velero")
        ours = ks.control_get("/objects?resource=backupstoragelocations&namespace=dataprotection-microsoft&name=default")
        ours["status"] = {"phase": "Unavailable", "message": "storage account stcontosobackup: 403 AuthorizationFailure"}
        ks.apply(ours)

        def locations():
            p = prereqs(report(d))
            return p["no_other_velero"]["status"] == "pass" and p["backup_storage_location"]["status"] == "fail"
        wait_for(locations, 5, 0.05, "BackupStorageLocation changes")
        # a new namespace is counted (the Namespace watch); excluded ones never are
        ks.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments"}})
        wait_for(lambda: prereqs(report(d))["namespaces_within_limit"]["observed"].startswith("8 "), 5, 0.05,
                 "namespace count")
        assert "403 AuthorizationFailure" in prereqs(report(d))["backup_storage_location"]["observed"]

        # ---- an Azure Files CSI driver older than 1.32 ----
        reload(d, config(tmp, "2026-01", vault=True, files_version="v1.31.4"))
        wait_for(lambda: prereqs(report(d))["csi_file_driver_version"]["status"] == "fail", 5, 0.05,
                 "driver override")
        check_pvs(report(d), 1, too_old=True)

        # ---- a reload naming an unknown edition keeps the running one ----
        reload(d, config(tmp, "2099-01"))
        wait_for(lambda: "unknown support-matrix edition '2099-01'" in d.log_text(), 5, 0.05, "reload refused")
        assert report(d)["support_matrix"]["edition"] == "2026-01"
        d.stop()


sys.exit(R.finish())
