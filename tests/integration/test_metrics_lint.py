"""Every metric family the daemon exports is documented in docs/metrics.md
with the same type and labels, and every documented aks_backup_ family that
the fixtures' cluster should produce is exported (KSM's e2e idea: an
undocumented family or label fails the build)."""
import os
import re
import sys

from harness import SRCROOT, Daemon, Kubesim, Results, parse_metrics, wait_for

R = Results()


def documented(azure=None):
    """Rows of docs/metrics.md; azure=False: only the main table, True: only the
    table of the Azure view section, None: both (labels merged)."""
    rows = {}
    in_azure = False
    with open(os.path.join(SRCROOT, "docs", "metrics.md")) as f:
        for line in f:
            if line.startswith("## "):
                in_azure = line.startswith("## The Azure view")
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 4 and re.fullmatch(r"`[a-z_*]+`", cells[0]):
                if azure is not None and azure != in_azure:
                    continue
                labels = set(re.findall(r"`([a-z_]+)`", cells[2]))
                name = cells[0].strip("`")
                old = rows.get(name, (cells[1], set()))
                rows[name] = (cells[1], labels | old[1])
    return rows


def exported(text):
    fams = {}
    for line in text.splitlines():
        m = re.match(r"^# TYPE (\S+) (\S+)", line)
        if m:
            fams[m.group(1)] = (m.group(2), set())
    for (name, labels) in parse_metrics(text):
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in fams:
                base = name[: -len(suffix)]
        assert base in fams, f"sample {name} without a TYPE line"
        fams[base][1].update(k for k, _ in labels if k != "le")
    return fams


@R.test
def every_family_and_label_is_documented():
    docs = documented(azure=False)
    assert len(docs) > 30, "docs/metrics.md table not found"
    config = ("vault:\n  backup_policies: 12\n  backup_instances: 40\n"
              "accounting:\n  state_file: %s/quota.json\nregions_file: " + SRCROOT + "/config/regions.txt\n")
    with Kubesim() as ks, Daemon(kubesim=ks, start=False) as d:
        with open(d.config_path, "w") as f:
            f.write(config % d.tmp)
        d.start()
        d.wait_ready()
        ks.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-lint"},
                  "spec": {"hostPath": {"path": "/x"}}})
        wait_for(lambda: b"pv-lint" in d.get("/metrics")[2], 5, what="pv-lint")
        # A dropped watch after a compaction: restarts and a relist.
        ks.control_post("/compact", {})
        ks.control_post("/drop-watches", {})
        wait_for(lambda: b"aks_backup_relists_total{" in d.get("/metrics")[2], 15, 0.2,
                 what="a relist after compaction")
        fams = exported(d.get("/metrics")[2].decode())
        d.stop()
    for name, (typ, labels) in fams.items():
        if name.startswith("process_"):
            assert "process_*" in docs, name
            continue
        assert name in docs, f"{name} is exported but not in docs/metrics.md"
        dtyp, dlabels = docs[name]
        assert typ == dtyp, (name, typ, dtyp)
        assert labels <= dlabels, (name, labels - dlabels, "labels exported but not documented")
    missing = [n for n in docs if n.startswith("aks_backup_") and n not in fams]
    assert missing == [], missing
    # No label may clash with a target label Prometheus adds to every series
    # of a scrape: it would arrive renamed exported_<label>.
    target = {"namespace", "pod", "container", "service", "job", "instance", "endpoint"}
    clash = {(n, l) for n, (_, labels) in fams.items() for l in labels & target}
    assert clash == set(), f"labels that clash with scrape target labels: {sorted(clash)}"


@R.test
def azure_view_families_are_documented():
    """With the Azure view on (armsim), its families are exported and documented."""
    import azure_fixture as az
    docs = documented()
    azure_docs = documented(azure=True)
    with Kubesim() as ks, az.ArmSim(az.scenario(n_snap=410)) as arm, Daemon(kubesim=ks, start=False,
                                                                           env={"ABC_TEST_NOW": az.NOW}) as d:
        with open(d.config_path, "w") as f:
            f.write(az.azure_config(d.tmp, arm))
        d.start()
        d.wait_ready()
        wait_for(lambda: b"aks_backup_disk_snapshots{" in d.get("/metrics")[2] and
                 b"aks_backup_job_failures_total{" in d.get("/metrics")[2], 20, 0.2, what="the Azure families")
        fams = exported(d.get("/metrics")[2].decode())
        d.stop()
    for name, (typ, labels) in fams.items():
        if name.startswith("process_"):
            continue
        assert name in docs, f"{name} is exported but not in docs/metrics.md"
        dtyp, dlabels = docs[name]
        assert typ == dtyp, (name, typ, dtyp)
        assert labels <= dlabels, (name, labels - dlabels, "labels exported but not documented")
    missing = [n for n in azure_docs if n not in fams]
    assert missing == [], missing


sys.exit(R.finish())
