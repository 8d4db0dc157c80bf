"""BackupUnsupported Events (issue 5) against kubesim: every skipped PV of the
fixtures gets exactly one Warning Event in `default` (listed back, also through
the involvedObject field selector `kubectl describe pv` uses), supported PVs
none; a restart creates no duplicates (409 AlreadyExists on the deterministic
name); a new skipped PV gets its Event; failed POSTs are retried; a new UTC day
gets new Events."""
import os
import sys
import time
import urllib.parse

import harness
from harness import Daemon, Kubesim, Results, wait_for

R = Results()
POD = "abc-events-0"
ENV = {"ABC_MATRIX_EDITION": "2023-08",  # verdicts as the 2023-08 page gives them
       "POD_NAMESPACE": "aks-backup-companion", "POD_NAME": POD,
       "ABC_TEST_NOW": "2026-03-14T15:00:00Z"}
DAY = "20260314"
FIGURES = {}

# tests/fixtures/README.md: the verdict of every skipped PV
SKIPPED = {
    "pv-orders-legacy-disk": "static",
    "pvc-6071e9a0-3d4d-5cad-9c9f-c866f2585f8b": "azure-files",
    "pv-shared-config": "azure-files",
    "pvc-658703f2-2f90-586b-9cb3-7e4cc19ca948": "azure-blob",
    "pv-intree-jenkins-home": "in-tree",
    "pv-intree-gitea": "in-tree",
    "pv-intree-azurefile-reports": "in-tree",
    "pv-hostpath-scratch": "not-csi",
    "pv-local-nvme-0": "not-csi",
    "pv-nfs-archive": "not-csi",
    "pvc-5bcec22a-49c6-541c-b425-de2203ea6c54": "unsupported-driver",
}
SUPPORTED = [
    "pvc-376cbd50-4f18-5d33-b0a1-4a849714f434", "pvc-b42829bd-28d0-5269-9494-a14bf26d5eb6",
    "pvc-8e8dca5d-d01d-5b8a-b8b3-f9dfb334e9a6", "pvc-2294e4b4-b3f5-5c8c-aeb7-4c8c25780ac8",
    "pvc-d46c1cad-6598-522d-9bde-641d64d27fac",
]


def events(k, selector=None):
    path = "/api/v1/namespaces/default/events"
    if selector:
        path += "?fieldSelector=" + urllib.parse.quote(selector)
    code, _, body = k.get(path)
    assert code == 200, f"GET {path}: {code} {body}"
    return [e for e in body["items"] if e.get("reason") == "BackupUnsupported"]


def event_posts(k, since=0):
    return [r for r in k.requests(since) if r["method"] == "POST" and r["path"] == "/api/v1/namespaces/default/events"]


def last_t(k):
    return max((r["t"] for r in k.requests()), default=0) + 1


def pv_uids(k):
    return {o["name"]: o["uid"] for o in k.state("persistentvolumes")["items"]}


def start(k, env=None):
    d = Daemon(kubesim=k, env=env or ENV)
    d.wait_ready()
    return d


def wait_count(k, n, timeout, what):
    wait_for(lambda: len(events(k)) >= n, timeout, 0.05, what)
    time.sleep(0.5)  # nothing more arrives
    got = events(k)
    assert len(got) == n, f"{what}: {len(got)} events, want {n}: {[e['metadata']['name'] for e in got]}"
    return got


@R.test
def test_one_event_per_skipped_pv():
    with Kubesim() as k, start(k) as d:
        t0 = time.monotonic()
        evs = wait_count(k, len(SKIPPED), 10, "an event per skipped PV")
        FIGURES["11 events posted after ready (s)"] = round(time.monotonic() - t0 - 0.5, 3)
        uids = pv_uids(k)
        by_pv = {}
        for e in evs:
            io = e["involvedObject"]
            by_pv.setdefault(io["name"], []).append(e)
            assert io["kind"] == "PersistentVolume" and io["apiVersion"] == "v1", io
            assert io["uid"] == uids[io["name"]], (io, uids.get(io["name"]))
            assert e["metadata"]["name"] == f"{io['name']}.backup-unsupported.{DAY}", e["metadata"]
            assert e["metadata"]["namespace"] == "default"
            assert e["type"] == "Warning" and e["count"] == 1
            assert e["message"].startswith(f"AKS backup skips this volume ({SKIPPED[io['name']]}): "), e["message"]
            assert e["source"] == {"component": "aks-backup-companion"}
            assert e["reportingComponent"] == "aks-backup-companion"
            assert e["reportingInstance"] == POD
            assert e["firstTimestamp"].startswith("2026-03-14T15:00:"), e["firstTimestamp"]
            assert e["lastTimestamp"] == e["firstTimestamp"]
        assert sorted(by_pv) == sorted(SKIPPED), sorted(by_pv)
        assert all(len(v) == 1 for v in by_pv.values())
        # what `kubectl describe pv` asks for
        for pv in SKIPPED:
            sel = (f"involvedObject.name={pv},involvedObject.namespace=,"
                   f"involvedObject.kind=PersistentVolume,involvedObject.uid={uids[pv]}")
            assert len(events(k, sel)) == 1, pv
        for pv in SUPPORTED:
            assert events(k, f"involvedObject.name={pv}") == [], pv
        posts = event_posts(k)
        assert len(posts) == len(SKIPPED) and all(r["code"] == 201 for r in posts), posts
        d.stop()


@R.test
def test_kubectl_describe_shows_event():
    kubectl = harness.KUBECTL
    if not os.access(kubectl, os.X_OK):
        kubectl = os.path.join(harness.SRCROOT, "build", "tools", "kubectl")
    assert os.access(kubectl, os.X_OK), f"no kubectl at {harness.KUBECTL} (run scripts/tools.sh)"
    harness.KUBECTL = kubectl
    with Kubesim() as k, start(k) as d:
        wait_count(k, len(SKIPPED), 10, "events")
        out = k.kubectl("describe", "pv", "pv-intree-gitea").stdout
        events_part = out.split("Events:", 1)[1]
        assert "BackupUnsupported" in events_part and "Warning" in events_part, out
        assert "AKS backup skips this volume (in-tree)" in events_part, out
        out = k.kubectl("describe", "pv", SUPPORTED[0]).stdout
        assert "BackupUnsupported" not in out, out
        d.stop()


@R.test
def test_restart_no_duplicates():
    with Kubesim() as k:
        with start(k) as d:
            wait_count(k, len(SKIPPED), 10, "events, first run")
            d.stop()
        since = last_t(k)
        with start(k) as d:
            wait_for(lambda: len(event_posts(k, since)) >= len(SKIPPED), 10, 0.05,
                     "the second run to post every event again")
            time.sleep(0.5)
            posts = event_posts(k, since)
            assert len(posts) == len(SKIPPED), posts
            assert all(r["code"] == 409 for r in posts), posts
            assert len(events(k)) == len(SKIPPED)
            d.stop()


@R.test
def test_new_pvs():
    with Kubesim() as k, start(k) as d:
        wait_count(k, len(SKIPPED), 10, "events")
        since = last_t(k)
        k.apply({"apiVersion": "v1", "kind": "PersistentVolume",
                 "metadata": {"name": "pv-new-hostpath"},
                 "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                          "hostPath": {"path": "/tmp/x"}},
                 "status": {"phase": "Available"}})
        k.apply({"apiVersion": "v1", "kind": "PersistentVolume",
                 "metadata": {"name": "pv-new-disk",
                              "annotations": {"pv.kubernetes.io/provisioned-by": "disk.csi.azure.com"}},
                 "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                          "storageClassName": "managed-csi",
                          "csi": {"driver": "disk.csi.azure.com", "volumeHandle": "/subscriptions/x/disks/d"}},
                 "status": {"phase": "Available"}})
        t0 = time.monotonic()
        wait_for(lambda: events(k, "involvedObject.name=pv-new-hostpath"), 5, 0.02, "event of the new PV")
        FIGURES["new skipped PV -> event (s)"] = round(time.monotonic() - t0, 3)
        time.sleep(1.0)
        assert events(k, "involvedObject.name=pv-new-disk") == []
        posts = event_posts(k, since)
        assert len(posts) == 1 and posts[0]["code"] == 201, posts
        d.stop()


@R.test
def test_failed_posts_are_retried():
    with Kubesim() as k:
        k.control_post("/fail", {"code": 500, "count": 3, "verb": "create", "path": "/events"})
        with start(k) as d:
            wait_count(k, len(SKIPPED), 15, "every event despite 3 failures")
            posts = event_posts(k)
            assert sum(1 for r in posts if r["code"] == 500) == 3, posts
            assert sum(1 for r in posts if r["code"] == 201) == len(SKIPPED), posts
            # bounded in flight: never more than 4 POSTs before the first answer's retry pause
            assert len(posts) == len(SKIPPED) + 3
            d.stop()


@R.test
def test_new_day_new_events():
    env = dict(ENV, ABC_TEST_NOW="2026-03-14T23:59:56Z")
    with Kubesim() as k, start(k, env) as d:
        evs = wait_count(k, 2 * len(SKIPPED), 15, "events of both days")
        by_day = {}
        for e in evs:
            day = e["metadata"]["name"].rsplit(".", 1)[1]
            by_day.setdefault(day, []).append(e)
            ts = e["firstTimestamp"]
            want = "2026-03-14T23:59:" if day == "20260314" else "2026-03-15T00:00:"
            assert ts.startswith(want), (e["metadata"]["name"], ts)
        assert sorted(by_day) == ["20260314", "20260315"], sorted(by_day)
        for day, lst in by_day.items():
            assert sorted(e["involvedObject"]["name"] for e in lst) == sorted(SKIPPED), day
        d.stop()


@R.test
def test_only_the_leader_writes():
    """Two replicas with leader election: Events and the admission ConfigMap come
    from the leader only (kubesim logs each replica's pod name in the User-Agent);
    after the leader is killed the new one re-posts (all 409) and finds the
    ConfigMap unchanged."""
    import signal
    cfg = ("accounting:\n  state_file: %s\nregions_file: %s\n"
           "leader_election:\n  enabled: true\n  lease_name: abc-writers\n"
           "  lease_duration_seconds: 4\n  renew_deadline_seconds: 3\n  retry_period_seconds: 1\n")
    with Kubesim() as k:
        ds = []
        for pod in ("abc-0", "abc-1"):
            d = Daemon(kubesim=k, start=False, env=dict(ENV, POD_NAME=pod))
            with open(d.config_path, "w") as f:
                f.write(cfg % (os.path.join(d.tmp, "q.json"),
                               os.path.join(harness.SRCROOT, "config", "regions.txt")))
            d.pod = pod
            ds.append(d.start())
        try:
            wait_count(k, len(SKIPPED), 15, "events from the leader")

            def writers_of(since=0):
                return {r["user_agent"].rsplit(" ", 1)[-1].strip("()") for r in k.requests(since)
                        if r["method"] in ("POST", "PUT")
                        and ("/events" in r["path"] or "/configmaps" in r["path"])}
            who = writers_of()
            assert len(who) == 1, who
            leader = next(d for d in ds if d.pod in who)
            other = next(d for d in ds if d is not leader)
            since = last_t(k)
            leader.proc.send_signal(signal.SIGKILL)
            leader.proc.wait()
            wait_for(lambda: len(event_posts(k, since)) >= len(SKIPPED), 15, 0.1,
                     "the new leader to post again")
            posts = event_posts(k, since)
            assert all(r["code"] == 409 for r in posts), posts
            assert writers_of(since) == {other.pod}, writers_of(since)
            assert len(events(k)) == len(SKIPPED)
            cm_writes = [r for r in k.requests(since) if "/configmaps" in r["path"] and r["method"] != "GET"]
            assert cm_writes == [], cm_writes
        finally:
            for d in ds:
                if d.proc.poll() is None:
                    d.proc.kill()
                    d.proc.wait()


@R.test
def test_stop_while_posting():
    """SIGTERM with POSTs in flight: they are cancelled, the daemon exits 0 at
    once (under ASan/valgrind: without leaks)."""
    with Kubesim() as k:
        with start(k) as d:
            wait_count(k, len(SKIPPED), 10, "events")
            since = last_t(k)
            k.control_post("/latency", {"ms": 3000})
            k.apply({"apiVersion": "v1", "kind": "PersistentVolume",
                     "metadata": {"name": "pv-slow-hostpath"},
                     "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                              "hostPath": {"path": "/tmp/y"}}})
            time.sleep(2.6)  # the watch event arrives, the scan (2 s later) posts, the answer is 3 s away
            t0 = time.monotonic()
            d.stop()
            FIGURES["stop with a POST in flight (s)"] = round(time.monotonic() - t0, 3)
            assert time.monotonic() - t0 < 1.5
        k.control_post("/latency", {"ms": 0})
        # the POST was sent before the stop (the daemon is gone now) and
        # answered by kubesim only after it
        wait_for(lambda: event_posts(k, since), 5, 0.1, "kubesim to log the POST")
        assert len(event_posts(k, since)) == 1, event_posts(k, since)


if __name__ == "__main__":
    rc = R.finish()
    for k_, v in FIGURES.items():
        print(f"figure: {k_}: {v}")
    sys.exit(rc)
