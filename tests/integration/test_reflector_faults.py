"""Issue 4: the reflector survives a hostile API server. 2,000 PVs in
kubesim; for 20 s per seed (3 seeds) random adds/updates/deletes run while
watches are dropped, 429/503 bursts with Retry-After are injected, history
is compacted (a 410 on the next watch), watches stall, and a watch event
comes out malformed or truncated. Then quiet: the daemon's
/debug/store?resource=persistentvolumes must equal kubesim's /state exactly
(names and resourceVersions) within a bounded wait, and the daemon must
still be serving. CHAOS_SECONDS overrides the 20 s (60 for a long run).
Also: a list's next page is asked for while the current page arrives, and
a page cut short then drops the whole list, which is listed again; a
server that comes back with older resourceVersions (the daemon's
is "too large") is relisted within seconds; a quiet start exports every
watch family, counts each watch once when answered, and an API that is not
served is reported synced with an empty store."""
import json
import os
import random
import sys
import time

from harness import Daemon, Kubesim, Results, wait_for

R = Results()
CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS", "20"))
RESOURCE = "persistentvolumes"


def debug_store(d, resource=RESOURCE):
    code, _, body = d.get("/debug/store?resource=" + resource, timeout=30)
    assert code == 200, f"/debug/store answered {code}: {body[:300]!r}"
    return json.loads(body)


def as_map(items):
    return {((i.get("namespace") or ""), i["name"]): i["resourceVersion"] for i in items}


def diff_summary(want, got):
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    stale = sorted(k for k in want if k in got and want[k] != got[k])
    return (f"kubesim {len(want)} objects, daemon {len(got)}; missing {len(missing)} {missing[:3]}, "
            f"extra {len(extra)} {extra[:3]}, stale {len(stale)} "
            f"{[(k, want[k], got[k]) for k in stale[:3]]}")


def inject(ks, rnd, counts):
    f = rnd.choice(["drop", "fail429", "fail503", "compact", "stall", "garbage"])
    counts[f] = counts.get(f, 0) + 1
    if f == "drop":
        ks.control_post("/drop-watches")
    elif f == "fail429":
        ks.control_post("/fail", {"count": rnd.randint(1, 5), "code": 429, "retry_after": 1})
    elif f == "fail503":
        ks.control_post("/fail", {"count": rnd.randint(1, 3), "code": 503, "retry_after": 1})
    elif f == "compact":
        ks.control_post("/compact")
    elif f == "stall":
        ks.control_post("/stall-watches", {"seconds": rnd.randint(2, 8)})
    elif f == "garbage":
        ks.control_post("/garbage", {"mode": rnd.choice(["malformed", "truncated"]), "resource": RESOURCE})


def chaos_run(seed):
    rnd = random.Random(seed)
    with Kubesim(extra_args=["--generate-pvs", "2000", "--history", "3000",
                             "--bookmark-interval", "3"]) as ks, \
            Daemon(kubesim=ks, env={"ABC_DEBUG_ENDPOINTS": "1", "ABC_WATCH_IDLE_SECONDS": "6"}) as d:
        d.wait_ready(timeout=60)
        first = debug_store(d)
        assert len(first["items"]) == len(ks.state(RESOURCE)["items"]), "first sync incomplete"
        ks.control_post("/mutator", {"rate": 150, "resource": RESOURCE, "seed": seed,
                                     "mix": {"add": 1, "update": 2, "delete": 1}})
        counts = {}
        end = time.monotonic() + CHAOS_SECONDS
        while time.monotonic() < end:
            time.sleep(rnd.uniform(0.3, 1.5))
            inject(ks, rnd, counts)
            assert d.proc.poll() is None, "daemon exited during the chaos: " + d.log_text()[-2000:]
        ks.control_post("/mutator", {"rate": 0})
        ks.control_post("/fail", {"count": 0})
        mut = ks.control_get("/mutator")
        assert mut["added"] + mut["updated"] + mut["deleted"] > 100 * CHAOS_SECONDS / 2, mut
        want = as_map(ks.state(RESOURCE)["items"])
        last = {}

        def converged():
            got = as_map(debug_store(d)["items"])
            last["got"] = got
            return got == want
        try:
            # bounded: a stall (<= 8 s) plus the 6 s silence rule plus backoff (<= 30 s)
            wait_for(converged, timeout=60, interval=0.5, what="daemon store == kubesim state")
        except AssertionError:
            raise AssertionError(f"seed {seed}, faults {counts}: " + diff_summary(want, last.get("got", {})))
        # still serving, and the faults were seen
        assert d.get("/livez")[0] == 200
        m = d.metrics()
        restarts = sum(v for (name, labels), v in m.items()
                       if name == "aks_backup_watch_restarts_total" and ("resource", RESOURCE) in labels)
        assert restarts >= 1, "no watch restart counted"
        print(f"seed {seed}: faults {counts}, mutations {mut}, {len(want)} objects converged, "
              f"{restarts:.0f} watch restarts", flush=True)
        d.stop()


for s in (1, 2, 3):
    def run(s=s):
        chaos_run(s)
    run.__name__ = f"chaos_seed_{s}_converges"
    R.test(run)


def series(m, name, **want):
    return {labels: v for (n, labels), v in m.items()
            if n == name and all((k, x) in labels for k, x in want.items())}


def pv(name):
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "csi": {"driver": "disk.csi.azure.com", "volumeHandle": "/subscriptions/x/" + name}}}


@R.test
def resource_version_ahead_after_restart_relists():
    """The API server comes back with older resourceVersions than the daemon
    has seen (etcd restored from a backup; here kubesim restarted from its
    seeds with its first RV as before). The daemon's re-watch is answered
    "Too large resource version" (after kube-apiserver's 3 s wait); it must
    list again from scratch within seconds: objects created after the
    restart show up and those lost with the old server go away."""
    with Kubesim(extra_args=["--bookmark-interval", "1"]) as ks, \
            Daemon(kubesim=ks, env={"ABC_DEBUG_ENDPOINTS": "1"}) as d:
        d.wait_ready(timeout=60)
        rv_start = ks.rv_start
        for i in range(6):
            ks.apply(pv(f"pv-before-{i}"))
        wait_for(lambda: {("", f"pv-before-{i}") for i in range(6)} <= set(as_map(debug_store(d)["items"])),
                 timeout=15, what="daemon sees pv-before-*")
        time.sleep(2.5)  # bookmarks carry every resource's RV up to the server's
        ahead = int(debug_store(d)["resourceVersion"])
        # Restart from the seeds (the applied PVs are lost) with the same first RV.
        ks.stop()
        ks.rv_start = rv_start
        ks.start()
        assert ks.rv() < ahead, f"precondition: server RV {ks.rv()} behind the daemon's {ahead}"
        t0 = time.monotonic()
        ks.apply(pv("pv-after"))
        want = as_map(ks.state(RESOURCE)["items"])
        last = {}

        def converged():
            last["got"] = as_map(debug_store(d)["items"])
            return last["got"] == want
        try:
            wait_for(converged, timeout=20, interval=0.2, what="daemon store == restarted kubesim state")
        except AssertionError:
            raise AssertionError(diff_summary(want, last.get("got", {})) + "\n" + d.log_text()[-3000:])
        took = time.monotonic() - t0
        assert took < 15, f"relist took {took:.1f} s"
        log = d.log_text()
        assert "ahead of the API server" in log, log[-3000:]

        def exported():
            m = d.metrics()
            names = {dict(lb).get("persistentvolume")
                     for lb in series(m, "aks_backup_persistent_volume_supported")}
            return "pv-after" in names and not any(n and n.startswith("pv-before") for n in names)
        wait_for(exported, timeout=10, what="/metrics shows pv-after and no pv-before-*")
        m = d.metrics()
        assert sum(series(m, "aks_backup_relists_total", resource=RESOURCE).values()) >= 1
        assert sum(series(m, "aks_backup_watch_restarts_total", resource=RESOURCE, reason="error").values()) >= 1
        print(f"relisted and converged {took:.1f} s after the restart (daemon RV {ahead}, server {ks.rv()})",
              flush=True)
        d.stop()


@R.test
def quiet_start_metrics_and_absent_api():
    """On a quiet cluster every watch family is present from the first
    scrape (watch_events_total at 0 per resource and type); every watch is
    counted in apiserver_requests_total as soon as it is answered, once,
    agreeing with the duration histogram; an API that is not served is a
    known, synced state (informer_synced 1, empty store) and becomes a
    listed resource when it appears."""
    with Kubesim(extra_args=["--disable-api", "snapshot.storage.k8s.io/v1"]) as ks, \
            Daemon(kubesim=ks, env={"ABC_DEBUG_ENDPOINTS": "1", "ABC_ABSENT_RETRY_SECONDS": "2"}) as d:
        d.wait_ready(timeout=60)
        m = d.metrics()
        resources = {dict(lb)["resource"] for lb in series(m, "aks_backup_informer_synced")}
        assert {"persistentvolumes", "volumesnapshots", "volumesnapshotclasses"} <= resources, resources
        for r in resources:
            for t in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"):
                assert series(m, "aks_backup_watch_events_total", resource=r, type=t), (r, t)
        for r in ("volumesnapshots", "volumesnapshotclasses"):
            st = debug_store(d, r)
            assert st["absent"] is True and st["items"] == [], st
            assert series(m, "aks_backup_informer_synced", resource=r) == {
                frozenset({("resource", r)}): 1.0}, (r, series(m, "aks_backup_informer_synced", resource=r))
        code, _, body = d.get("/readyz?verbose")  # prerequisites fail (no snapshot API), synced does not
        assert b"[+]synced ok" in body and b"snapshot_api" in body, body

        watching = [r for r in resources
                    if r not in ("volumesnapshots", "volumesnapshotclasses")]

        def watches_counted():
            m = d.metrics()
            counted = sum(series(m, "aks_backup_apiserver_requests_total", verb="watch").values())
            observed = sum(series(m, "aks_backup_apiserver_request_duration_seconds_count", verb="watch").values())
            return counted >= len(watching) and counted == observed
        wait_for(watches_counted, timeout=15, what="every open watch counted once, as the histogram")
        m = d.metrics()
        assert series(m, "aks_backup_apiserver_requests_total", verb="watch", code="200"), \
            series(m, "aks_backup_apiserver_requests_total", verb="watch")

        # The API appears: listed within the 2 s retry, synced 1 again, objects held.
        ks.control_post("/api-enable", {"group": "snapshot.storage.k8s.io", "version": "v1"})

        def listed():
            st = debug_store(d, "volumesnapshotclasses")
            return st["absent"] is False and st["synced"] is True and len(st["items"]) > 0
        wait_for(listed, timeout=15, what="volumesnapshotclasses listed after the API appeared")
        m = d.metrics()
        assert series(m, "aks_backup_informer_synced", resource="volumesnapshotclasses") == {
            frozenset({("resource", "volumesnapshotclasses")}): 1.0}
        d.stop()

def pv_lists(ks, since_ms):
    return [r for r in ks.requests(since_ms)
            if r["verb"] == "list" and r["path"] == "/api/v1/" + RESOURCE]


@R.test
def list_next_page_asked_early_and_cut_page_relists():
    """The daemon asks for a list's next page as soon as the current page's
    continue token is read (the metadata comes before the items): kubesim
    holds the first page 400 ms after its head and the second page's request
    must reach it during the hold. Then the first page is cut after its
    head while the second is in flight: the whole list is dropped and listed
    again from the start, and the store ends equal to kubesim's."""
    with Kubesim(extra_args=["--generate-pvs", "1200"]) as ks:
        want = as_map(ks.state(RESOURCE)["items"])
        for mode in ("hold", "truncate"):
            since = int(time.time() * 1000) - 1
            ks.control_post("/list-pace", {"resource": RESOURCE, "hold_ms": 400, "mode": mode, "count": 1})
            with Daemon(kubesim=ks, env={"ABC_DEBUG_ENDPOINTS": "1"}) as d:
                d.wait_ready(timeout=60)
                reqs = pv_lists(ks, since)
                first, second = reqs[0], reqs[1]
                assert "continue=" not in first["query"] and "continue=" in second["query"], reqs[:2]
                if mode == "hold":
                    assert len(reqs) == 3, reqs  # 500 + 500 + 200, nothing asked twice
                    assert first["completed"] is True, first
                    ahead = first["t_done"] - second["t_recv"]
                    assert ahead >= 200, f"second page asked {ahead} ms before the first ended: {reqs}"
                else:
                    assert first["completed"] is False, first
                    assert second["t_recv"] < first["t_done"], reqs[:2]  # in flight at the cut
                    again = reqs[-3]
                    assert "continue=" not in again["query"] and again["t_recv"] >= first["t_done"], reqs
                    assert "list failed; retrying" in d.log_text(), d.log_text()[-2000:]
                m = d.metrics()
                relists = sum(series(m, "aks_backup_relists_total", resource=RESOURCE).values())
                assert relists == (0 if mode == "hold" else 1), (mode, relists)
                got = as_map(debug_store(d)["items"])
                assert got == want, diff_summary(want, got)
                print(f"{mode}: {len(reqs)} list requests, {len(got)} objects", flush=True)
                d.stop()


sys.exit(R.finish())
