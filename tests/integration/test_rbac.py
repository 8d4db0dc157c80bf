"""Issue 9: the RBAC we ship grants nothing the daemon does not call, and the
daemon calls nothing it is not granted. The daemon runs against kubesim
with every writer on (leader election, quota ConfigMap, Events, admission
ConfigMap, a reservation); kubesim's request log is then checked against
the ClusterRole/Roles rendered from k8s/ and from the chart (replicas=2)."""
import json
import os
import subprocess
import sys
import tempfile

import yaml

from harness import BUILDROOT, KUBECTL, SRCROOT, Daemon, Kubesim, Results, wait_for

R = Results()
HELM = os.environ.get("HELM", os.path.join(BUILDROOT, "tools", "helm"))
NS = "aks-backup-companion"


def render(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def rbac_check(log, objs, tmp, name):
    rb = os.path.join(tmp, f"rbac-{name}.json")
    with open(rb, "w") as f:
        json.dump(objs, f)
    p = subprocess.run([sys.executable, os.path.join(SRCROOT, "tests", "deploy", "rbac_check.py"),
                        "--log", log, "--rbac", rb, "--serviceaccount", f"{NS}/aks-backup-companion"],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


@R.test
def requests_of_a_full_run_match_the_rbac():
    tmp = tempfile.mkdtemp(prefix="rbac-")
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write("write-token-0123456789abcdefghijklmnop\n")
    config = f"""leader_election:
  enabled: true
  lease_duration_seconds: 4
  renew_deadline_seconds: 3
  retry_period_seconds: 1
accounting:
  state_configmap: aks-backup-companion-quota
api:
  token_file: {token}
regions_file: {SRCROOT}/config/regions.txt
"""
    with Kubesim() as ks, Daemon(kubesim=ks, config_text=config,
                                 env={"POD_NAMESPACE": NS, "POD_NAME": "aks-backup-companion-0"}) as d:
        d.wait_ready()
        wait_for(lambda: d.metrics().get(("aks_backup_leader", frozenset())) == 1, 15, 0.1, "leadership")

        def reserve():
            code, _, _ = d.get("/api/v1/quota/default/backup", method="POST",
                               headers={"Authorization": "Bearer write-token-0123456789abcdefghijklmnop"})
            return code == 200
        wait_for(reserve, 10, 0.2, "a reservation")
        wait_for(lambda: ks.control_request("GET", f"/objects?resource=configmaps&namespace={NS}"
                                            "&name=aks-backup-companion-storage-classes")[0] == 200,
                 10, 0.2, "the admission ConfigMap")
        code, _, ev = ks.get("/api/v1/namespaces/default/events")
        wait_for(lambda: len(ks.get("/api/v1/namespaces/default/events")[2].get("items", [])) >= 10,
                 10, 0.2, "BackupUnsupported events")  # 10 skipped PVs under 2026-01
        d.stop()  # releases the lease
        log = os.path.join(tmp, "requests.json")
        reqs = ks.requests()
        with open(log, "w") as f:
            json.dump(reqs, f)
    mine = [r for r in reqs if r.get("user_agent", "").startswith("aks-backup-companion/")]
    verbs = {r["verb"] for r in mine}
    assert {"watch", "get", "create", "update"} <= verbs, verbs  # lists are streamed (watch)

    k8s = render([KUBECTL, "kustomize", os.path.join(SRCROOT, "k8s")])
    rc, out = rbac_check(log, k8s, tmp, "k8s")
    print(out.strip().splitlines()[-1])
    assert rc == 0, out
    chart = render([HELM, "template", "aks-backup-companion", os.path.join(SRCROOT, "charts", "aks-backup-companion"),
                    "--namespace", NS, "--set", "replicas=2", "--set", "writeApi.enabled=true",
                    "--set", "writeApi.token=" + "x" * 32])
    rc, out = rbac_check(log, chart, tmp, "chart")
    assert rc == 0, out


sys.exit(R.finish())
