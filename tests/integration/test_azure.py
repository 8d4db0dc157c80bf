"""The Azure view against kubesim + armsim: quota per backup instance from the
vault's own jobs (no vault.backup_schedule), reservations on top until their
job appears, the Azure-derived prerequisites (pass, fail, unknown), nextLink
pages, a 403 on one read leaving the others judged, and no token in any log
line. Credentials and faults: test_azure_faults.py (which imports the helpers
here)."""
import json
import os
import sys
import time
import urllib.parse

import harness
from harness import Daemon, Kubesim
import azure_fixture as az
from azure_fixture import ArmSim

R = harness.Results()


def start(k, arm, extra="", env=None, wi=None):
    """The daemon with the Azure view on; wi=(tmpdir-relative token file) for Workload Identity."""
    e = {"ABC_TEST_NOW": az.NOW}
    d = Daemon(kubesim=k, start=False, env=e)
    cfg = az.azure_config(d.tmp, arm, extra)
    if wi is not None:  # AZURE_AUTHORITY_HOST (below) must win over a config pointing nowhere
        cfg = cfg.replace("authority_host: " + arm.url, "authority_host: http://127.0.0.1:%d" % harness.free_port())
    with open(d.config_path, "w") as f:
        f.write(cfg)
    if wi is not None:
        path = os.path.join(d.tmp, "azure-identity-token")
        with open(path, "w") as f:
            f.write(wi)
        d.env.update({"AZURE_CLIENT_ID": az.CLIENT, "AZURE_TENANT_ID": az.TENANT,
                      "AZURE_FEDERATED_TOKEN_FILE": path, "AZURE_AUTHORITY_HOST": arm.url + "/"})
        d.wi_path = path
    d.env.update(env or {})
    d.start()
    d.wait_ready()
    return d


def report(d):
    code, _, body = d.get("/api/v1/report")
    assert code == 200, code
    return json.loads(body)


def quota(d):
    code, _, body = d.get("/api/v1/quota")
    assert code == 200, code
    return json.loads(body)


def inst(doc, name):
    for i in doc["instances"]:
        if i["instance"] == name:
            return i
    return None


def prereq(d, check):
    for p in report(d)["prerequisites"]:
        if p["check"] == check:
            return p
    raise AssertionError(f"no prerequisite {check}")


def wait_prereq(d, check, status, timeout=20, observed=""):
    last = [None]

    def ok():
        last[0] = prereq(d, check)
        return last[0]["status"] == status and observed in last[0]["observed"]
    try:
        harness.wait_for(ok, timeout, 0.2, f"{check} {status}")
    except AssertionError:
        raise AssertionError(f"{check} is {last[0]}, expected {status}")
    return last[0]


def wait_quota(d, timeout=20):
    def ok():
        doc = quota(d)
        i = inst(doc, az.INSTANCE)
        return doc if i and not any(w["code"] == "azure_unavailable" for w in doc["warnings"]) else None
    return harness.wait_for(ok, timeout, 0.2, "the quota from the vault's jobs")


def no_token_in_logs(d, arm):
    """No access token armsim issued and no federated token in any daemon log
    line, nor in the report or /metrics."""
    text = d.log_text()
    assert "armsim-" not in text, "an access token reached the log"
    assert "federated-jwt" not in text, "the federated token reached the log"
    for path in ("/api/v1/report", "/metrics", "/api/v1/quota"):
        body = d.get(path)[2]
        assert b"armsim-" not in body and b"federated-jwt" not in body, f"a token in {path}"


@R.test
def quota_from_jobs_exact():
    with Kubesim() as k, ArmSim(az.scenario(page_size=2)) as arm, start(k, arm) as d:
        doc = wait_quota(d)
        i = inst(doc, az.INSTANCE)
        # on-demand: completed (listed twice), failed, in progress; the 3 scheduled ones not
        assert i["backup"]["used"] == 3, i
        assert i["backup"]["remaining"] == 7, i
        assert i["restore"]["used"] == 2, i   # one completed, one failed
        assert inst(doc, az.OTHER_INSTANCE) is None, "another cluster's instance is listed"
        # the cross-check: the Velero objects the default config maps to "default" are this
        # (only) instance's as the cluster sees them
        assert i["backup"]["observed_in_cluster"] > 0 and i["restore"]["observed_in_cluster"] > 0, i
        assert inst(doc, "default") is None, doc
        codes = [w["code"] for w in doc["warnings"]]
        assert "schedule_unknown" not in codes, codes
        # no Workload Identity in the environment: the managed identity through IMDS
        kinds = {e["kind"] for e in arm.log()}
        assert "imds" in kinds and "token" not in kinds, kinds
        # every page of the jobs list was read
        jobs = [e for e in arm.log() if e["path"].endswith("/backupJobs") and e["status"] == 200]
        assert len(jobs) >= 8, len(jobs)
        m = d.metrics()
        assert m.get(("aks_backup_on_demand_backups_used", frozenset({("backup_instance", az.INSTANCE)}))) == 3
        assert m.get(("aks_backup_restores_used", frozenset({("backup_instance", az.INSTANCE)}))) == 2
        no_token_in_logs(d, arm)
        d.stop()  # SIGTERM: exit 0 (under ASan: no leak)


def reserve(d, token, op="backup", instance=az.INSTANCE):
    code, _, body = d.get(f"/api/v1/quota/{instance}/{op}", method="POST", body=b"",
                          headers={"Authorization": "Bearer " + token})
    return code, json.loads(body)


@R.test
def reservation_on_top_until_its_job_appears():
    with Kubesim() as k, ArmSim(az.scenario(page_size=50)) as arm:
        d = Daemon(kubesim=k, start=False, env={"ABC_TEST_NOW": az.NOW})
        tok = os.path.join(d.tmp, "api-token")
        with open(tok, "w") as f:
            f.write("api-token-0123456789abcdefghijklmn\n")
        with open(d.config_path, "w") as f:
            f.write(az.azure_config(d.tmp, arm, "api:\n  token_file: %s\n" % tok))
        with d:
            d.start()
            d.wait_ready()
            wait_quota(d)
            code, body = reserve(d, "api-token-0123456789abcdefghijklmn")
            assert code == 200 and body["used"] == 4, body
            assert inst(quota(d), az.INSTANCE)["backup"]["used"] == 4
            # the pipeline triggers it: the vault's job appears (started after the reservation)
            jobs = az.jobs_today() + [az.job("0a000001-0000-4000-8000-0000000000ff", az.INSTANCE,
                                             "2026-03-14T12:00:30.0000000Z", user=True, status="InProgress")]
            arm.control("set", {"collections": {az.VAULT + "/backupJobs": jobs}})
            n0 = len([e for e in arm.log() if e["path"].endswith("/backupJobs")])
            harness.wait_for(lambda: len([e for e in arm.log() if e["path"].endswith("/backupJobs")]) > n0 + 1,
                             15, 0.2, "a new jobs poll")
            time.sleep(0.5)
            assert inst(quota(d), az.INSTANCE)["backup"]["used"] == 4, quota(d)  # not 5: the same operation
            no_token_in_logs(d, arm)


@R.test
def azure_checks_pass():
    with Kubesim() as k, ArmSim(az.scenario()) as arm, start(k, arm) as d:
        wait_quota(d)
        for c in ("vault_same_region", "storage_same_region", "storage_account_kind", "trusted_access",
                  "policies_within_limit", "instances_within_limit", "identity"):
            wait_prereq(d, c, "pass")
        assert prereq(d, "storage_account_kind")["observed"] == "StorageV2 Standard_LRS"
        rep = report(d)["azure"]  # the vault's settings and the instances are shown
        assert rep["up"] is True and rep["vault"]["storage_redundancy"] == "GeoRedundant", rep
        assert rep["vault"]["cross_region_restore"] == "Disabled" and rep["vault"]["vault_tier"] is False, rep
        assert [i["name"] for i in rep["backup_instances"]] == [az.INSTANCE], rep
        assert rep["backup_instances"][0]["last_successful_backup"] == "2026-03-14T10:05:00Z", rep
        assert rep["backup_instances"][0]["protection_status"] == "ProtectionConfigured", rep
        assert prereq(d, "instances_within_limit")["observed"] == "2"
        codes = {w["code"] for w in report(d)["warnings"]}
        assert "snapshot-delete-lock" not in codes and "storage-public-access" not in codes, codes
        assert "disk-snapshots-near-limit" not in codes, codes
        # the failed jobs of today are warnings naming the error code
        failed = [w for w in report(d)["warnings"] if w["code"] == "backup-job-failed"]
        assert any("UserErrorPVSnapshotLimitReached" in w["message"] for w in failed), failed
        assert any("UserErrorRestoreNamespaceExists" in w["message"] for w in failed), failed
        m = d.metrics()
        assert m[("aks_backup_azure_up", frozenset())] == 1
        assert m[("aks_backup_prerequisite_status",
                  frozenset({("check", "trusted_access"), ("status", "pass")}))] == 1
        assert m[("aks_backup_job_failures_total", frozenset({("backup_instance", az.INSTANCE),
                  ("operation", "backup"), ("error_code", "UserErrorPVSnapshotLimitReached")}))] == 1
        assert m[("aks_backup_last_successful_backup_timestamp_seconds",
                  frozenset({("backup_instance", az.INSTANCE)}))] == 1773482700  # 2026-03-14T10:05:00Z
        assert m[("aks_backup_jobs", frozenset({("backup_instance", az.INSTANCE), ("operation", "backup"),
                                                ("status", "Completed")}))] == 4
        no_token_in_logs(d, arm)


@R.test
def azure_checks_fail():
    seed = az.scenario(page_size=100, n_snap=420, locks=[az.lock()],
                       cluster=az.cluster(identity="ServicePrincipal"),
                       storage=az.storage(kind="StorageV2", sku="Premium_LRS", location="eastus", deny=True),
                       bindings=[az.binding(vault_id=az.VAULT.replace("vault-contoso", "vault-other"))])
    seed["resources"][az.VAULT]["location"] = "northeurope"
    extra = "limits:\n  backup_policies_per_vault: 1\n  backup_instances_per_vault: 1\n"
    with Kubesim() as k, ArmSim(seed) as arm:
        d = Daemon(kubesim=k, start=False, env={"ABC_TEST_NOW": az.NOW})
        with open(d.config_path, "w") as f:
            f.write(az.azure_config(d.tmp, arm).replace("regions_file:", extra + "regions_file:"))
        with d:
            d.start()
            d.wait_ready()
            for c in ("vault_same_region", "storage_same_region", "storage_account_kind", "trusted_access",
                      "policies_within_limit", "instances_within_limit", "identity"):
                wait_prereq(d, c, "fail")
            assert prereq(d, "identity")["observed"] == "service-principal"
            assert prereq(d, "vault_same_region")["observed"] == "northeurope"
            codes = harness.wait_for(lambda: (lambda c: c if {"snapshot-delete-lock", "disk-snapshots-near-limit",
                                                                 "storage-public-access"} <= set(c) else None)(
                {w["code"]: w for w in report(d)["warnings"]}), 20, 0.2, "the Azure warnings")
            assert "snapshot-delete-lock" in codes, codes.keys()
            assert "storage-public-access" in codes, codes.keys()
            assert codes["disk-snapshots-near-limit"]["object"].endswith("/disks/pvc-0f6a3d2e"), codes
            m = d.metrics()
            assert m[("aks_backup_disk_snapshots", frozenset({("disk", "pvc-0f6a3d2e")}))] == 420
            assert ("aks_backup_disk_snapshots", frozenset({("disk", "pvc-77aa01bb")})) not in m


@R.test
def one_forbidden_read_leaves_the_others_judged():
    with Kubesim() as k, ArmSim(az.scenario()) as arm:
        arm.fault("/storageAccounts/", 403, count=-1)
        arm.fault("/trustedAccessRoleBindings", 404, count=-1)
        with start(k, arm) as d:
            p = wait_prereq(d, "storage_account_kind", "unknown", observed="Azure: ")
            assert "403" in p["observed"] and "AuthorizationFailed" in p["observed"], p
            p = wait_prereq(d, "storage_same_region", "unknown", observed="Azure: ")
            assert "AuthorizationFailed" in p["observed"], p
            reads = {x["resource"]: x for x in report(d)["azure"]["reads"]}
            assert reads["storage_account"]["http"] == 403, reads
            assert reads["storage_account"]["code"] == "AuthorizationFailed", reads
            p = wait_prereq(d, "trusted_access", "unknown", observed="Azure: ")
            assert "404" in p["observed"] and "ResourceNotFound" in p["observed"], p
            for c in ("vault_same_region", "identity", "policies_within_limit"):
                wait_prereq(d, c, "pass")
            doc = wait_quota(d)
            assert inst(doc, az.INSTANCE)["backup"]["used"] == 3
            m = d.metrics()
            assert m[("aks_backup_azure_up", frozenset())] == 0
            assert m[("aks_backup_azure_requests_total", frozenset({("resource", "storage_account"),
                                                                    ("code", "403")}))] >= 1


@R.test
def every_next_link_page_is_read():
    with Kubesim() as k, ArmSim(az.scenario(page_size=3)) as arm, start(k, arm) as d:
        wait_quota(d)
        q = [e["query"] for e in arm.log() if e["path"].endswith("/backupJobs") and e["status"] == 200]
        skips = sorted({int(x.split("$skiptoken=")[1].split("&")[0]) if "skiptoken" in x else 0
                        for x in [urllib.parse.unquote(y) for y in q]})
        assert skips == [0, 3, 6, 9, 12, 15], skips  # 16 jobs in pages of 3
        assert all("api-version=2024-04-01" in x for x in q), q



@R.test
def check_reads_azure_too():
    """`check --output json` with the view on: the vault's facts, the quota from its jobs and
    the Azure-only check; trusted access missing fails it (exit 2)."""
    import subprocess
    import tempfile
    with Kubesim() as k, ArmSim(az.scenario(bindings=[])) as arm:
        tmp = tempfile.mkdtemp(prefix="abc-check-")
        cfg = os.path.join(tmp, "config.yaml")
        with open(cfg, "w") as f:
            f.write(az.azure_config(tmp, arm))
        env = {x: v for x, v in os.environ.items() if not x.startswith("ABC_")}
        env.update({"ABC_TEST_NOW": az.NOW, "HOME": tmp})
        t0 = time.monotonic()
        p = subprocess.run([harness.ABC_BIN, "check", "--output", "json", "--config", cfg,
                            "--kubeconfig", k.kubeconfig_path], capture_output=True, text=True, timeout=40, env=env)
        assert time.monotonic() - t0 < 20, "check waited for its deadline"
        doc = json.loads(p.stdout)
        checks = {x["check"]: x for x in doc["prerequisites"]}
        assert checks["trusted_access"]["status"] == "fail", checks["trusted_access"]
        assert checks["vault_same_region"]["status"] == "pass", checks["vault_same_region"]
        assert inst(doc["quota"], az.INSTANCE)["backup"]["used"] == 3, doc["quota"]
        assert doc["azure"]["up"] is True, doc["azure"]
        assert p.returncode == 2, (p.returncode, p.stderr[-500:])
        assert "armsim-" not in p.stdout + p.stderr


@R.test
def azure_instance_namespaces_within_limit():
    # An instance that names its namespaces is judged by that list (800 at most),
    # not by the namespaces the cluster holds.
    seed = az.scenario()
    inst_list = seed["collections"][az.VAULT + "/backupInstances"]
    inst_list[0] = az.instance(az.INSTANCE, az.CLUSTER, namespaces=["ns-%d" % i for i in range(801)])
    with Kubesim() as k, ArmSim(seed) as arm, start(k, arm) as d:
        p = wait_prereq(d, "namespaces_within_limit", "fail")
        assert p["observed"] == "801 namespaces in the backup scope", p
        inst_list[0] = az.instance(az.INSTANCE, az.CLUSTER, namespaces=["shop", "analytics"])
        arm.control("set", {"collections": {az.VAULT + "/backupInstances": inst_list}})
        p = wait_prereq(d, "namespaces_within_limit", "pass", timeout=30)
        assert p["observed"] == "2 namespaces in the backup scope", p


if __name__ == "__main__":
    sys.exit(R.finish())
