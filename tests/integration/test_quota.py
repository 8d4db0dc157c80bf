"""Quota accounting against kubesim (accounting, HTTP API, metrics): the fixture's
figures with and without the vault schedule, the write API (token, 429 with
Retry-After, idempotency, reservation annotation), relists and deletes that
must not change counts. Also holds the helpers test_quota_persist.py
imports (a config with quota settings, Velero objects as the AKS extension
creates them, readers for /api/v1/quota)."""
import json
import os
import sys
import time
import uuid

import harness
from harness import Daemon, Kubesim

NS = "dataprotection-microsoft"
NOW = "2026-03-14T15:00:00Z"
SCHEDULE = "R/2026-01-01T02:00:00+00:00/PT6H"
TOKEN = "integration-token-0123456789abcdefghij"


def config_text(tmp, schedule=SCHEDULE, token=True, day_boundary=None, state_file=None):
    lines = ["accounting:",
             "  state_file: %s" % (state_file or os.path.join(tmp, "state", "quota.json")),
             "regions_file: %s" % os.path.join(harness.SRCROOT, "config", "regions.txt")]
    if schedule:
        lines += ["vault:", "  backup_schedule: \"%s\"" % schedule,
                  "  schedule_tolerance_minutes: 30"]
    if token:
        path = os.path.join(tmp, "token")
        with open(path, "w") as f:
            f.write(TOKEN + "\n")
        lines += ["api:", "  token_file: %s" % path]
    if day_boundary:
        lines += ["limits:", "  day_boundary: \"%s\"" % day_boundary]
    return "\n".join(lines) + "\n"


def backup(created, name=None, uid=None, reservation=None, labels=None):
    u = uid or str(uuid.uuid4())
    md = {"name": name or "clusterbackup-dataprotection-microsoft-backup-" + u,
          "namespace": NS, "uid": u, "creationTimestamp": created,
          "labels": labels or {"velero.io/storage-location": "default"}}
    if reservation:
        md["annotations"] = {"aks-backup-companion/reservation": reservation}
    return {"apiVersion": "velero.io/v1", "kind": "Backup", "metadata": md,
            "spec": {"storageLocation": "default"}, "status": {"phase": "Completed"}}


def restore(created, uid=None):
    u = uid or str(uuid.uuid4())
    return {"apiVersion": "velero.io/v1", "kind": "Restore",
            "metadata": {"name": "clusterbackup-dataprotection-microsoft-restore-" + u,
                         "namespace": NS, "uid": u, "creationTimestamp": created},
            "spec": {"backupName": "x"}, "status": {"phase": "Completed"}}


def quota(d):
    code, _, body = d.get("/api/v1/quota")
    assert code == 200, f"/api/v1/quota answered {code}: {body[:300]}"
    return json.loads(body)


def used(d, op="backup", instance="default"):
    doc = quota(d)
    for i in doc["instances"]:
        if i["instance"] == instance:
            return i[op]["used"]
    return None


def wait_used(d, want, op="backup", timeout=15):
    last = [None]

    def ok():
        last[0] = used(d, op)
        return last[0] == want
    try:
        harness.wait_for(ok, timeout, 0.1, f"{op} used == {want}")
    except AssertionError:
        raise AssertionError(f"{op} used is {last[0]}, expected {want}")


def stays(d, want, op="backup", seconds=1.5):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = used(d, op)
        assert got == want, f"{op} used changed to {got}, expected {want}"
        time.sleep(0.1)


def reserve(d, op="backup", instance="default", token=TOKEN, key=None):
    h = {}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if key is not None:
        h["Idempotency-Key"] = key
    code, hdrs, body = d.get(f"/api/v1/quota/{instance}/{op}", headers=h, method="POST", body=b"")
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    return code, hdrs, parsed


def parse_ts(s):
    import datetime
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def test_now(started_mono, start_iso=NOW):
    """The daemon's test clock: start_iso plus the real time elapsed since
    the daemon was started (taken just before starting it)."""
    return parse_ts(start_iso) + (time.monotonic() - started_mono)


R = harness.Results()


def start(k, schedule=True, token=True, env=None):
    d = Daemon(kubesim=k, start=False, env=dict({"ABC_TEST_NOW": NOW}, **(env or {})))
    text = config_text(d.tmp, schedule=("R/2026-01-01T02:00:00+00:00/PT6H" if schedule else None),
                       token=token)
    with open(d.config_path, "w") as f:
        f.write(text)
    d.started_mono = time.monotonic()
    d.start()
    d.wait_ready()
    return d


@R.test
def fixture_with_schedule():
    with Kubesim() as k, start(k) as d:
        wait_used(d, 4)
        wait_used(d, 2, "restore")
        doc = quota(d)
        assert doc["day"] == "2026-03-14", doc
        assert doc["resets_at"] == "2026-03-15T00:00:00Z", doc
        inst = [i for i in doc["instances"] if i["instance"] == "default"][0]
        assert inst["backup"] == {"used": 4, "limit": 10, "remaining": 6}, inst
        assert inst["restore"] == {"used": 2, "limit": 10, "remaining": 8}, inst
        assert not [w for w in doc["warnings"] if w["code"] == "schedule_unknown"], doc
        names = {s["name"]: s["available"] for s in doc["sources"]}
        assert names == {"velero-backups": True, "velero-restores": True}, names
        m = d.metrics()
        lab = frozenset({("backup_instance", "default")})
        assert m[("aks_backup_on_demand_backups_used", lab)] == 4
        assert m[("aks_backup_restores_used", lab)] == 2
        assert m[("aks_backup_on_demand_backups_limit", frozenset())] == 10
        assert m[("aks_backup_restores_limit", frozenset())] == 10
        assert m[("aks_backup_quota_reset_timestamp_seconds", frozenset())] == 1773532800
        d.stop()


@R.test
def fixture_without_schedule_warns():
    with Kubesim() as k, start(k, schedule=False) as d:
        wait_used(d, 6)
        wait_used(d, 2, "restore")
        doc = quota(d)
        codes = [w["code"] for w in doc["warnings"]]
        assert "schedule_unknown" in codes, doc
        d.stop()


@R.test
def ten_then_429_with_retry_after():
    with Kubesim() as k, start(k) as d:
        wait_used(d, 4)
        for i in range(6):
            k.apply(backup("2026-03-14T12:%02d:00Z" % (40 + i)))  # outside any slot window
        wait_used(d, 10)
        code, hdrs, body = reserve(d, key="eleventh")
        assert code == 429, (code, body)
        want = 1773532800 - test_now(d.started_mono)
        got = int(hdrs["retry-after"])
        assert abs(got - want) <= 2, (got, want)
        assert body["used"] == 10 and body["limit"] == 10 and body["remaining"] == 0, body
        assert body["resets_at"] == "2026-03-15T00:00:00Z", body
        assert body["instance"] == "default" and body["operation"] == "backup", body
        # The documents say why check exits 1 / the alert fires.
        qw = {w["code"] for w in quota(d)["warnings"]}
        assert "quota_exhausted" in qw, qw
        rw = [w for w in json.loads(d.get("/api/v1/report")[2])["warnings"] if w["code"] == "quota_exhausted"]
        assert rw and rw[0]["object"] == "quota" and "10 of 10" in rw[0]["message"], rw
        # Restores have their own budget.
        code, _, body = reserve(d, op="restore")
        assert code == 200 and body["used"] == 3, (code, body)
        d.stop()


@R.test
def reservations_and_annotation():
    with Kubesim() as k, start(k) as d:
        wait_used(d, 4)
        code, _, first = reserve(d, key="pipeline-1")
        assert code == 200, (code, first)
        assert first["reservation"] == "pipeline-1" and first["used"] == 5, first
        assert first["remaining"] == 5 and first["limit"] == 10, first
        assert used(d) == 5
        # A retry returns the original answer and counts nothing.
        code, _, again = reserve(d, key="pipeline-1")
        assert code == 200 and again == first, (code, again)
        # Generated ids when no key is given.
        code, _, gen = reserve(d)
        assert code == 200 and len(gen["reservation"]) == 32 and gen["used"] == 6, gen
        # The CR the pipeline then creates carries the reservation: not counted again.
        k.apply(backup("2026-03-14T13:30:00Z", reservation="pipeline-1"))
        k.apply(backup("2026-03-14T13:31:00Z"))
        wait_used(d, 7)
        stays(d, 7)
        d.stop()


@R.test
def auth_and_errors():
    with Kubesim() as k, start(k) as d:
        code, hdrs, _ = reserve(d, token=None)
        assert code == 401 and "bearer" in hdrs.get("www-authenticate", "").lower(), code
        assert reserve(d, token="wrong")[0] == 401
        assert reserve(d, token=TOKEN + "x")[0] == 401
        assert reserve(d, op="snapshot")[0] == 400
        assert reserve(d, instance="new-instance")[0] == 200  # reserved ahead of its first CR
        c, _, _ = d.get("/api/v1/quota/default/backup")
        assert c == 405, c
        assert used(d) == 4
        assert used(d, instance="new-instance") == 1
        d.stop()
    with Kubesim() as k, start(k, token=False) as d:
        assert reserve(d)[0] == 404
        d.stop()


@R.test
def relist_and_delete_do_not_change_counts():
    with Kubesim() as k, start(k) as d:
        wait_used(d, 4)
        objs = [backup("2026-03-14T13:%02d:00Z" % i) for i in range(3)]
        for o in objs:
            k.apply(o)
        k.apply(restore("2026-03-14T13:30:00Z"))
        wait_used(d, 7)
        wait_used(d, 3, "restore")
        # Forced relist: watches dropped and history compacted (410 on re-watch).
        def relists():
            m = d.metrics()
            return sum(v for (name, labels), v in m.items()
                       if name == "aks_backup_relists_total" and ("resource", "backups") in labels)
        before = relists()
        k.control_post("/compact")
        k.control_post("/drop-watches")
        k.apply(backup("2026-03-14T13:40:00Z"))
        harness.wait_for(lambda: relists() > before, 15, 0.1, "a relist of backups")
        wait_used(d, 8)
        stays(d, 8)
        # Deleting objects never gives the count back.
        for o in objs:
            k.delete("velero.io/v1", "Backup", o["metadata"]["name"], o["metadata"]["namespace"])
        k.apply(restore("2026-03-14T13:50:00Z"))
        wait_used(d, 4, "restore")
        assert used(d) == 8
        # A backup created yesterday and first seen today counts for yesterday.
        k.apply(backup("2026-03-13T12:00:00Z"))
        k.apply(restore("2026-03-14T13:55:00Z"))
        wait_used(d, 5, "restore")
        assert used(d) == 8
        d.stop()


@R.test
def sighup_reload_changes_limits_and_schedule():
    import signal
    with Kubesim() as k, start(k) as d:
        wait_used(d, 4)
        text = config_text(d.tmp, schedule=None)
        text += "limits:\n  on_demand_backups_per_day: 5\n  restores_per_day: 2\n"
        with open(d.config_path, "w") as f:
            f.write(text)
        d.signal(signal.SIGHUP)

        def reloaded():
            inst = [i for i in quota(d)["instances"] if i["instance"] == "default"][0]
            return inst["backup"]["limit"] == 5 and inst
        inst = harness.wait_for(reloaded, 10, 0.1, "the new limits")
        # Without a schedule the two scheduled backups count too.
        assert inst["backup"] == {"used": 6, "limit": 5, "remaining": 0}, inst
        assert inst["restore"] == {"used": 2, "limit": 2, "remaining": 0}, inst
        assert "schedule_unknown" in [w["code"] for w in quota(d)["warnings"]]
        code, hdrs, body = reserve(d, op="restore")
        assert code == 429 and body["limit"] == 2, (code, body)
        m = d.metrics()
        assert m[("aks_backup_on_demand_backups_limit", frozenset())] == 5
        d.stop()


if __name__ == "__main__":
    sys.exit(R.finish())
