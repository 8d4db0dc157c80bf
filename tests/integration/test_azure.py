"""The Azure view against kubesim + armsim: quota per backup instance from the
vault's own jobs (no vault.backup_schedule), the Azure-derived prerequisites
(pass, fail, unknown), credentials (Workload Identity with a rotating
federated token, IMDS, refresh on expiry and on a 401), 429 with Retry-After
honoured, nextLink pages, a 403 on one read leaving the others judged, and no
token in any log line."""
import json
import os
import sys
import time

import harness
from harness import Daemon, Kubesim
import azure_fixture as az
from azure_fixture import ArmSim

R = harness.Results()


def start(k, arm, extra="", env=None, wi=None):
    """The daemon with the Azure view on; wi=(tmpdir-relative token file) for Workload Identity."""
    e = {"ABC_TEST_NOW": az.NOW}
    d = Daemon(kubesim=k, start=False, env=e)
    with open(d.config_path, "w") as f:
        f.write(az.azure_config(d.tmp, arm, extra))
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


def wait_prereq(d, check, status, timeout=20):
    last = [None]

    def ok():
        last[0] = prereq(d, check)
        return last[0]["status"] == status
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
    """No access token armsim issued and no federated token in any daemon log line."""
    text = d.log_text()
    assert "armsim-" not in text, "an access token reached the log"
    assert "federated-jwt" not in text, "the federated token reached the log"


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
        assert inst(doc, "default") is None, doc
        codes = [w["code"] for w in doc["warnings"]]
        assert "schedule_unknown" not in codes, codes
        # every page of the jobs list was read
        jobs = [e for e in arm.log() if e["path"].endswith("/backupJobs") and e["status"] == 200]
        assert len(jobs) >= 8, len(jobs)
        m = d.metrics()
        assert m.get(("aks_backup_on_demand_backups_used", frozenset({("backup_instance", az.INSTANCE)}))) == 3
        assert m.get(("aks_backup_restores_used", frozenset({("backup_instance", az.INSTANCE)}))) == 2
        no_token_in_logs(d, arm)


sys.exit(R.finish())
