"""Issue 20: the daemon against an API server that speaks HTTP/2, as AKS
serves it (kubesim behind nghttpx: TLS with ALPN h2 and http/1.1, at most
max_streams concurrent streams per connection, GOAWAY on reload).

- A GOAWAY storm and an RST_STREAM storm during 2,000-object churn: the
  store converges exactly (names and resourceVersions) and no relist is
  caused (aks_backup_relists_total unchanged); one RST_STREAM restarts only
  that watch, on the same connection.
- More watches than the server's stream cap all run: libcurl opens another
  connection once one is full (measured here from the front's log).
- aks_backup_apiserver_requests_total and the watch families count the same
  over HTTP/2, over HTTP/1.1 forced with kubernetes.http2=false, and over a
  plain HTTP/1.1 server."""
import json
import random
import sys
import time

from harness import Daemon, Kubesim, Results, wait_for

R = Results()
PV = "persistentvolumes"
ENV = {"ABC_DEBUG_ENDPOINTS": "1"}


def debug_store(d, resource=PV):
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
            f"extra {len(extra)} {extra[:3]}, stale {len(stale)}")


def series(m, name, **want):
    return {labels: v for (n, labels), v in m.items()
            if n == name and all((k, x) in labels for k, x in want.items())}


def total(m, name, **want):
    return sum(series(m, name, **want).values())


def by_resource(m, name):
    out = {}
    for labels, v in series(m, name).items():
        r = dict(labels).get("resource")
        out[r] = out.get(r, 0) + v
    return out


def daemon_entries(ks):
    return [e for e in ks.front_log() if e["user_agent"].startswith("aks-backup-companion/")]


def watch_entries(ks):
    return [e for e in daemon_entries(ks) if "watch=" in e["path"]]


def resource_of(path):
    p = path.split("?")[0].rstrip("/").split("/")
    return p[-1]


@R.test
def goaway_and_rst_stream_storms_during_churn_converge_without_relist():
    with Kubesim(http=2, extra_args=["--generate-pvs", "2000", "--bookmark-interval", "3"]) as ks, \
            Daemon(kubesim=ks, env=ENV) as d:
        d.wait_ready(timeout=60)
        assert len(debug_store(d)["items"]) == len(ks.state(PV)["items"]), "first sync incomplete"
        m0 = d.metrics()
        relists0 = total(m0, "aks_backup_relists_total")

        # One RST_STREAM (kubesim drops the backend connection of the PV
        # watch): only that watch restarts, from its resourceVersion, on the
        # same HTTP/2 connection.
        wait_for(lambda: len({resource_of(e["path"]) for e in watch_entries(ks)}) >= 8, 15, 0.1,
                 "the daemon's watches in the front's log")
        conns_before = {e["port"] for e in daemon_entries(ks)}
        print(f"    at start: {len(daemon_entries(ks))} requests on {len(conns_before)} connections", flush=True)
        restarts0 = by_resource(m0, "aks_backup_watch_restarts_total")
        n_watch_pv = sum(1 for e in watch_entries(ks) if resource_of(e["path"]) == PV)
        ks.control_post("/drop-watches", {"resource": PV})
        wait_for(lambda: sum(1 for e in watch_entries(ks) if resource_of(e["path"]) == PV) > n_watch_pv,
                 15, 0.1, "the PV watch opened again")
        again = [e for e in watch_entries(ks) if resource_of(e["path"]) == PV][-1]
        assert again["alpn"] == "h2" and again["port"] in conns_before, (again, conns_before)
        assert "resourceVersion=" in again["path"] and "resourceVersion=0" not in again["path"], again
        m1 = d.metrics()
        restarts1 = by_resource(m1, "aks_backup_watch_restarts_total")
        changed = {r for r in restarts1 if restarts1[r] != restarts0.get(r, 0)}
        assert changed == {PV}, f"watch restarts changed for {changed}, not only {PV}"

        # The storms, during churn: a GOAWAY on every connection every 3 s
        # (the old connection is closed 2 s later, cutting its streams), and
        # RST_STREAMs of single watches in between.
        rnd = random.Random(20)
        resources = sorted({resource_of(e["path"]) for e in watch_entries(ks)})
        ks.control_post("/mutator", {"rate": 150, "resource": PV, "seed": 20,
                                     "mix": {"add": 1, "update": 2, "delete": 1}})
        goaways = rsts = 0
        end = time.monotonic() + 16
        tick = 0
        while time.monotonic() < end:
            time.sleep(1.0)
            tick += 1
            if tick % 3 == 0:
                ks.goaway()
                goaways += 1
            else:
                ks.control_post("/drop-watches", {"resource": rnd.choice(resources + [PV, PV])})
                rsts += 1
            assert d.proc.poll() is None, "daemon exited: " + d.log_text()[-2000:]
        ks.control_post("/mutator", {"rate": 0})
        mut = ks.control_get("/mutator")
        assert mut["added"] + mut["updated"] + mut["deleted"] > 1000, mut
        want = as_map(ks.state(PV)["items"])
        last = {}

        def converged():
            last["got"] = as_map(debug_store(d)["items"])
            return last["got"] == want
        try:
            wait_for(converged, timeout=60, interval=0.5, what="daemon store == kubesim state")
        except AssertionError:
            raise AssertionError(diff_summary(want, last.get("got", {})) + "\n" + d.log_text()[-3000:])
        m2 = d.metrics()
        assert total(m2, "aks_backup_relists_total") == relists0, \
            f"relists {relists0} -> {total(m2, 'aks_backup_relists_total')}: " + d.log_text()[-3000:]
        assert by_resource(m2, "aks_backup_watch_restarts_total").get(PV, 0) >= restarts1[PV] + goaways, \
            "the PV watch did not restart after each GOAWAY"
        conns = {e["port"] for e in daemon_entries(ks)}
        assert len(conns) > goaways, f"{len(conns)} connections for {goaways} GOAWAYs"
        assert all(e["alpn"] == "h2" for e in daemon_entries(ks))
        # the watches came back: every resource has an open watch again
        assert ks.stats()["watches_open"] >= len(resources)
        print(f"    {goaways} GOAWAYs, {rsts} RST_STREAMs, mutations {mut}, {len(want)} PVs converged, "
              f"{len(conns)} connections, relists unchanged ({relists0:.0f})", flush=True)
        d.stop()


@R.test
def more_watches_than_the_stream_cap_all_run():
    """The server allows 3 concurrent streams per connection; the daemon
    holds about a dozen watches. libcurl opens another connection when one
    is full (it does not queue: a queued watch would never start, since
    watches do not end), so every watch runs and sees its events."""
    cap = 3
    with Kubesim(http=2, max_streams=cap) as ks, Daemon(kubesim=ks, env=ENV) as d:
        d.wait_ready(timeout=60)
        open_watches = ks.stats()["watches_open"]
        assert open_watches > 2 * cap, f"only {open_watches} watches: the cap would not bite"
        # every watched resource gets an event, and the daemon sees each
        ks.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                  "metadata": {"name": "cap-pvc", "namespace": "default"},
                  "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
        ks.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cap-node", "labels": {
            "topology.kubernetes.io/region": "westeurope"}}, "spec": {}})
        ks.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "cap-sc"},
                  "provisioner": "disk.csi.azure.com"})
        ks.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "cap-pv"},
                  "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"}}})
        for res, key in (("persistentvolumeclaims", ("default", "cap-pvc")), ("nodes", ("", "cap-node")),
                         ("storageclasses", ("", "cap-sc")), (PV, ("", "cap-pv"))):
            wait_for(lambda: key in as_map(debug_store(d, res)["items"]), 15, 0.1,
                     f"{res} {key} seen through its watch")
        watches = watch_entries(ks)
        conns = {}
        for e in watches:
            conns.setdefault(e["port"], set()).add(resource_of(e["path"]))
        need = -(-len(watches) // cap)
        assert len(conns) >= need, f"{len(watches)} watches on {len(conns)} connections (cap {cap})"
        assert all(len(v) <= cap for v in conns.values()), conns
        assert all(e["alpn"] == "h2" for e in daemon_entries(ks))
        print(f"    {len(watches)} watches, cap {cap}: {len(conns)} HTTP/2 connections "
              f"({sorted(len(v) for v in conns.values())} watches each)", flush=True)
        d.stop()


def counts(d):
    m = d.metrics()
    keep = ("aks_backup_apiserver_requests_total", "aks_backup_watch_events_total",
            "aks_backup_watch_restarts_total", "aks_backup_relists_total")
    # reads only: the Events the daemon writes depend on timing (batching)
    return {(n, lb): v for (n, lb), v in m.items()
            if n in keep and v and dict(lb).get("verb", "get") in ("get", "list", "watch")}


def run_counted(http, force_http1=False):
    env = dict(ENV)
    if force_http1:
        env["ABC_KUBERNETES_HTTP2"] = "false"
    with Kubesim(http=http) as ks, Daemon(kubesim=ks, env=env) as d:
        ks.daemon_may_use_http1 = force_http1
        d.wait_ready(timeout=60)
        # each watch answered (counted once, when its headers arrive)
        wait_for(lambda: total(d.metrics(), "aks_backup_apiserver_requests_total", verb="watch")
                 >= ks.stats()["watches_open"] > 0, 15, 0.1, "watches counted")
        for i in range(3):
            ks.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"count-{i}"},
                      "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"}}})
        ks.delete("v1", "PersistentVolume", "count-0")
        ks.control_post("/drop-watches", {"resource": "nodes"})  # one watch restarts
        wait_for(lambda: total(d.metrics(), "aks_backup_watch_events_total", resource=PV) >= 4, 15, 0.1,
                 "PV events counted")
        wait_for(lambda: total(d.metrics(), "aks_backup_watch_restarts_total", resource="nodes") >= 1
                 and total(d.metrics(), "aks_backup_apiserver_requests_total", verb="watch")
                 >= ks.stats()["watches_open"] + 1, 15, 0.1, "the nodes watch restarted")
        time.sleep(0.5)
        c = counts(d)
        alpns = {e["alpn"] for e in daemon_entries(ks)} if ks.front else {"direct"}
        d.stop()
        return c, alpns


@R.test
def requests_and_watches_count_the_same_over_both_protocols():
    h2, a2 = run_counted(2)
    forced, a1 = run_counted(2, force_http1=True)
    plain, _ = run_counted("1.1")
    assert a2 == {"h2"}, a2
    assert a1 == {"http/1.1"}, f"kubernetes.http2=false still negotiated {a1}"

    def show(c):
        return {f"{n}{dict(lb)}": v for (n, lb), v in sorted(c.items(), key=str)}
    assert h2 == plain, f"HTTP/2 {show(h2)}\nHTTP/1.1 {show(plain)}"
    assert forced == plain, f"forced HTTP/1.1 {show(forced)}\nHTTP/1.1 {show(plain)}"
    print(f"    {len(h2)} series equal over h2, forced http/1.1 and a plain HTTP/1.1 server "
          f"({total(h2, 'aks_backup_apiserver_requests_total'):.0f} requests)", flush=True)


sys.exit(R.finish())
