"""High availability against kubesim (leader_election and
accounting.state_configmap, quota, leader-only families): two daemons share one Lease and one
quota ConfigMap. Exactly one leads (aks_backup_leader, cluster families);
SIGKILL of the leader hands over within lease duration + retry period with
the counts intact; SIGTERM hands over at once (Lease released); a leader cut
off from the API server steps down before its lease can expire, so two
leaders never overlap (checked on both daemons' metrics and on kubesim's
request log); concurrent reservations against both replicas are all in the
ConfigMap exactly once. A reservation is answered 200 only once the
ConfigMap holds it; when its write fails, hangs or the daemon stops, 503
state_not_saved, nothing counted, and the same Idempotency-Key counts once
later."""
import json
import os
import signal
import sys
import threading
import time
import uuid

import subprocess
import tempfile
import harness
from harness import Daemon, Kubesim, wait_for

R = harness.Results()

NS = "abc-ha"
LEASE = "aks-backup-companion"
CM = "aks-backup-companion-quota"
TOKEN = "ha-integration-token-0123456789abcdef"
DUR, DEADLINE, RETRY = 4, 3, 1  # seconds: lease duration, renew deadline, retry period
PODS = ("abc-0", "abc-1")


def config_text(tmp, timings):
    tok = os.path.join(tmp, "token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    return "\n".join([
        "accounting:",
        "  state_file: %s" % os.path.join(tmp, "quota.json"),
        "  state_configmap: %s" % CM,
        "api:",
        "  token_file: %s" % tok,
        "limits:",
        "  on_demand_backups_per_day: 200",
        "leader_election:",
        "  enabled: true",
        "  lease_name: %s" % LEASE,
        "  lease_duration_seconds: %d" % timings[0],
        "  renew_deadline_seconds: %d" % timings[1],
        "  retry_period_seconds: %d" % timings[2],
        "regions_file: %s" % os.path.join(harness.SRCROOT, "config", "regions.txt"),
    ]) + "\n"


def start_daemon(ks, pod, timings=(DUR, DEADLINE, RETRY)):
    d = Daemon(kubesim=ks, start=False, env={"POD_NAME": pod, "POD_NAMESPACE": NS})
    with open(d.config_path, "w") as f:
        f.write(config_text(d.tmp, timings))
    d.pod = pod
    return d.start()


def leader_gauge(d):
    """aks_backup_leader of d, or None when it does not answer."""
    try:
        m = d.metrics()
    except (OSError, AssertionError):
        return None
    return m.get(("aks_backup_leader", frozenset()))


def has_cluster_families(d):
    code, _, body = d.get("/metrics")
    assert code == 200
    return "aks_backup_persistent_volumes" in body.decode()


def leaders(ds):
    return [d for d in ds if d.proc.poll() is None and leader_gauge(d) == 1]


def one_leader(ds, timeout):
    return wait_for(lambda: (lambda l: l[0] if len(l) == 1 else None)(leaders(ds)), timeout, 0.05,
                    "exactly one leader")


def lease_obj(ks):
    code, obj = ks.control_request("GET", "/objects?resource=leases&namespace=%s&name=%s"
                                   % (NS, LEASE))
    return obj if code == 200 else None


def cm_reservations(ks):
    """Reservation ids in the quota ConfigMap's ledger (all days, ops)."""
    code, obj = ks.control_request("GET", "/objects?resource=configmaps&namespace=%s&name=%s"
                                   % (NS, CM))
    if code != 200:
        return None
    doc = json.loads(obj["data"]["ledger.json"])
    ids = []
    for day in doc.get("days", {}).values():
        for inst in day.values():
            for op in inst.values():
                ids += [r["id"] for r in op.get("reservations", [])]
    return ids


def used(d, op="backup", instance="default"):
    return first_current_used(d, 5, op, instance)


def first_current_used(d, within, op="backup", instance="default"):
    """The count of the first 200 answer of GET /api/v1/quota on d. A new
    leader answers 503 not_ready (Retry-After: 1) until it has read the
    shared ledger; it must never answer 200 with an older count."""
    deadline = time.monotonic() + within
    while True:
        code, hdrs, body = d.get("/api/v1/quota")
        if code == 200:
            for i in json.loads(body)["instances"]:
                if i["instance"] == instance:
                    return i[op]["used"]
            return 0
        assert code == 503 and json.loads(body)["error"] == "not_ready", (code, body)
        assert hdrs.get("retry-after") == "1", hdrs
        assert time.monotonic() < deadline, "no current quota within %.1f s" % within
        time.sleep(0.02)


def reserve(d, key, op="backup", instance="default"):
    """POST a reservation; returns (status, headers, parsed body)."""
    code, hdrs, body = d.get("/api/v1/quota/%s/%s" % (instance, op), method="POST",
                             headers={"Authorization": "Bearer " + TOKEN,
                                      "Idempotency-Key": key})
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = body
    return code, hdrs, parsed


class Pair:
    """kubesim plus the two replicas; cleans up everything."""

    def __init__(self, timings=(DUR, DEADLINE, RETRY)):
        self.timings = timings

    def __enter__(self):
        self.ks = Kubesim()
        self.ds = []
        try:
            # the first one leads before the second starts
            self.ds.append(start_daemon(self.ks, PODS[0], self.timings))
            one_leader(self.ds, 15)
            self.ds.append(start_daemon(self.ks, PODS[1], self.timings))
            for d in self.ds:
                d.wait_ready()
        except BaseException as e:
            self.__exit__(type(e), None, None)
            raise
        return self

    def __exit__(self, etype, *exc):
        try:
            if etype is None:  # a clean run ends with clean exits (SIGTERM: 0 within 10 s)
                for d in self.ds:
                    if d.proc.poll() is None:
                        d.stop()
                    assert "Sanitizer" not in d.log_text(), d.log_text()[-3000:]
        finally:
            for d in self.ds:
                d.__exit__(None, None, None)
            self.ks.__exit__(None, None, None)

    def by_pod(self, pod):
        return next(d for d in self.ds if d.pod == pod)


def lease_writes(ks, since_ms=0):
    """Successful lease writes from kubesim's log: [(t, pod)] by time."""
    out = []
    for r in ks.requests(since_ms):
        if r["method"] in ("PUT", "POST") and "/leases" in r["path"] and r["code"] in (200, 201):
            ua = r["user_agent"]
            pod = next((p for p in PODS if "(%s)" % p in ua), ua)
            out.append((r["t"], pod))
    return sorted(out)


def segments(writes):
    """Consecutive writes by one holder: [[pod, first_t, last_t], ...]."""
    segs = []
    for t, p in writes:
        if segs and segs[-1][0] == p:
            segs[-1][2] = t
        else:
            segs.append([p, t, t])
    return segs


@R.test
def test_exactly_one_leader():
    with Pair() as pr:
        leader = one_leader(pr.ds, 10)
        follower = next(d for d in pr.ds if d is not leader)
        assert leader.pod == PODS[0], "the replica started first leads"
        # stable: sampled for a few renewals, never two, never none
        for _ in range(20):
            g = [leader_gauge(d) for d in pr.ds]
            assert sorted(g) == [0.0, 1.0], f"leader gauges {g}"
            time.sleep(0.1)
        assert leader_gauge(follower) == 0
        # only the leader exports cluster-level families; both export the
        # process ones and build info
        assert has_cluster_families(leader)
        assert not has_cluster_families(follower)
        for d in pr.ds:
            m = d.metrics()
            assert any(k[0] == "aks_backup_build_info" for k in m), "build info on every replica"
            assert any(k[0].startswith("process_") for k in m)
            assert d.get("/livez")[0] == 200 and d.get("/readyz/synced")[0] == 200
        # a follower writes nothing at all: no Lease attempts while the lease
        # is held, no ledger, no Events, no admission ConfigMap
        writes = [r for r in pr.ks.requests(0) if r["method"] in ("POST", "PUT", "PATCH", "DELETE")]
        assert writes, "the leader writes (its Lease at least)"
        assert not [r for r in writes if "(%s)" % follower.pod in r["user_agent"]], \
            [r for r in writes if "(%s)" % follower.pod in r["user_agent"]][:3]
        obj = lease_obj(pr.ks)
        assert obj and obj["spec"]["holderIdentity"] == leader.pod, obj
        assert obj["spec"]["leaseDurationSeconds"] == DUR
        assert obj["spec"]["renewTime"].endswith("Z") and "." in obj["spec"]["renewTime"]


def resource_requests(ks, pod, since_ms=0):
    """LISTs and WATCHes of pod (by its User-Agent) other than the Lease and
    the quota ConfigMap, from kubesim's request log."""
    return [r for r in ks.requests(since_ms) if "(%s)" % pod in r["user_agent"]
            and r["verb"] in ("list", "watch") and "/leases" not in r["path"]
            and "/configmaps" not in r["path"]]


@R.test
def test_followers_hold_only_the_lease():
    # A follower does not watch the cluster (a DaemonSet on N nodes would
    # multiply lists and watches by N); it starts when it leads.
    with Pair((15, 10, 2)) as pr:
        leader = one_leader(pr.ds, 10)
        other = next(d for d in pr.ds if d is not leader)
        time.sleep(1.0)
        assert resource_requests(pr.ks, leader.pod), "the leader lists and watches"
        assert resource_requests(pr.ks, other.pod) == [], resource_requests(pr.ks, other.pod)[:3]
        # Ready on standby, and nothing that reads as a stale watch
        assert other.get("/readyz")[0] == 200, other.get("/readyz?verbose")
        m = other.metrics()
        assert not [k for k in m if k[0] in ("aks_backup_informer_synced", "aks_backup_informer_objects")], \
            [k for k in m if k[0].startswith("aks_backup_informer")][:3]
        assert any(k[0] == "aks_backup_informer_synced" for k in leader.metrics())
        code, hdrs, body = other.get("/api/v1/report")
        assert code == 503 and json.loads(body)["leader"] == leader.pod, (code, body)
        # the leader leaves: the other one starts watching and becomes whole
        t0_ms = int(time.time() * 1000)
        leader.signal(signal.SIGTERM)
        wait_for(lambda: leader_gauge(other) == 1, 5, 0.02, "the other to lead")
        assert leader.wait_exit(10) == 0
        wait_for(lambda: resource_requests(pr.ks, other.pod, t0_ms), 5, 0.05, "the new leader's lists")
        wait_for(lambda: has_cluster_families(other), 10, 0.1, "cluster families on the new leader")
        wait_for(lambda: other.get("/readyz/synced")[0] == 200, 10, 0.1, "the new leader synced")
        code, _, body = other.get("/api/v1/report")
        assert code == 200 and json.loads(body)["summary"]["total"] == 16, (code, body[:200])
        m = other.metrics()
        assert m[("aks_backup_informer_synced", frozenset({("resource", "persistentvolumes")}))] == 1


@R.test
def test_reservations_on_both_replicas_counted_once():
    with Pair() as pr:
        leader = one_leader(pr.ds, 10)
        follower = next(d for d in pr.ds if d is not leader)
        wait_for(lambda: cm_reservations(pr.ks) is not None, 10, 0.1, "the quota ConfigMap")
        base = used(leader)
        # a follower names the leader, once it has read the Lease (under
        # valgrind that can come after the leader's own gauge)
        def named():
            r = reserve(follower, "probe-" + uuid.uuid4().hex)
            assert r[0] == 503, r
            return r if r[1].get("x-leader") else None
        code, hdrs, body = wait_for(named, 10, 0.1, "the follower to name the leader")
        assert hdrs.get("x-leader") == leader.pod, hdrs
        assert body["leader"] == leader.pod and body["error"] == "not_leader", body
        assert hdrs.get("retry-after") == "1"

        results, lock = [], threading.Lock()

        def client(i):
            key = "ha-%d-%s" % (i, uuid.uuid4().hex[:8])
            d = pr.ds[i % 2]  # half to each replica
            code, hdrs, body = reserve(d, key)
            if code == 503 and isinstance(body, dict) and body.get("leader"):
                code, hdrs, body = reserve(pr.by_pod(body["leader"]), key)  # follow once
            with lock:
                results.append((key, code, body))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        ok = [k for k, c, _ in results if c == 200]
        assert len(results) == 50
        assert len(ok) == 50, [(c, b) for _, c, b in results if c != 200][:5]
        ids = wait_for(lambda: (lambda r: r if r is not None and len(r) >= len(ok) else None)(
            cm_reservations(pr.ks)), 10, 0.1, "every reservation in the ConfigMap")
        time.sleep(2 * RETRY)  # nothing more arrives later either
        ids = cm_reservations(pr.ks)
        assert sorted(i for i in ids if i.startswith("ha-")) == sorted(ok), \
            "ConfigMap holds exactly the successful reservations"
        assert len(ids) == len(set(ids)), "no reservation twice"
        assert used(leader) == base + 50
        # the follower's view catches up from the ConfigMap
        wait_for(lambda: used(follower) == base + 50, 15, 0.2, "the follower's copy")


@R.test
def test_sigkill_leader_hands_over_with_counts():
    with Pair() as pr:
        leader = one_leader(pr.ds, 10)
        other = next(d for d in pr.ds if d is not leader)
        for i in range(7):
            assert reserve(leader, "k-%d" % i)[0] == 200
        counts = used(leader)
        wait_for(lambda: len(cm_reservations(pr.ks) or []) >= 7, 10, 0.05, "saved")
        time.sleep(0.3)
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        t0 = time.monotonic()
        wait_for(lambda: leader_gauge(other) == 1, DUR + RETRY + 3, 0.05, "the other to lead")
        took = time.monotonic() - t0
        assert took <= DUR + RETRY + 0.5, f"handover took {took:.2f} s"
        assert has_cluster_families(other)
        got = first_current_used(other, 5)
        assert got == counts, (got, counts)
        # and it answers reservations now, counting on from there
        code, _, body = reserve(other, "after-kill")
        assert code == 200 and body["used"] == counts + 1, (code, body)
        assert lease_obj(pr.ks)["spec"]["holderIdentity"] == other.pod
        assert lease_obj(pr.ks)["spec"]["leaseTransitions"] >= 1
        print(f"    SIGKILL handover {took:.2f} s", flush=True)


@R.test
def test_check_reads_the_shared_ledger():
    # `check` with the HA configuration counts the reservations held in the
    # quota ConfigMap, which no file of its own holds
    with Pair() as pr:
        leader = one_leader(pr.ds, 10)
        for i in range(3):
            assert reserve(leader, "chk-%d" % i)[0] == 200
        counts = used(leader)
        tmp = tempfile.mkdtemp(prefix="abc-check-")
        with open(os.path.join(tmp, "c.yaml"), "w") as f:
            f.write(config_text(tmp, (DUR, DEADLINE, RETRY)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ABC_")}

        def check(**extra):
            p = subprocess.run([harness.ABC_BIN, "check", "--kubeconfig", pr.ks.kubeconfig_path,
                                "--config", os.path.join(tmp, "c.yaml"), "--output", "json"],
                               capture_output=True, text=True, timeout=60, env=dict(env, **extra))
            assert p.returncode in (0, 1, 2), (p.returncode, p.stderr)
            for i in json.loads(p.stdout)["quota"]["instances"]:
                if i["instance"] == "default":
                    return i["backup"]["used"], p.stderr
            return 0, p.stderr

        got, _ = check(POD_NAMESPACE=NS)
        assert got == counts, (got, counts)
        # elsewhere (no ConfigMap there): the objects only, and a warning-free run
        got, err = check(POD_NAMESPACE="default")
        assert got == counts - 3, (got, counts, err)


@R.test
def test_sigterm_leader_releases_at_once():
    # the shipped defaults (15 s / 10 s / 2 s): handover must not wait for
    # the lease to expire, and comes within 2 s of SIGTERM
    with Pair((15, 10, 2)) as pr:
        leader = one_leader(pr.ds, 10)
        other = next(d for d in pr.ds if d is not leader)
        assert reserve(leader, "before-term")[0] == 200
        counts = used(leader)
        t0 = time.monotonic()
        leader.signal(signal.SIGTERM)
        wait_for(lambda: leader_gauge(other) == 1, 5, 0.02, "the other to lead")
        took = time.monotonic() - t0
        assert leader.wait_exit(10) == 0
        assert took <= 2.0, f"handover took {took:.2f} s"
        assert any("releasing the lease" in (l.get("msg") or "") for l in leader.log_lines())
        wait_for(lambda: used(other) == counts, 5, 0.1, "the counts on the new leader")
        print(f"    SIGTERM handover {took:.2f} s", flush=True)


@R.test
def test_partitioned_leader_steps_down_first():
    with Pair() as pr:
        leader = one_leader(pr.ds, 10)
        other = next(d for d in pr.ds if d is not leader)
        time.sleep(2 * RETRY)
        since = int(time.time() * 1000) - 60000
        samples, stop = [], threading.Event()

        def sampler():
            while not stop.is_set():
                samples.append((time.monotonic(), leader_gauge(leader), leader_gauge(other)))
                time.sleep(0.02)

        th = threading.Thread(target=sampler)
        th.start()
        t0 = time.monotonic()
        pr.ks.control_post("/partition", {"user_agent_contains": "(%s)" % leader.pod,
                                         "seconds": DUR * 3})
        try:
            wait_for(lambda: leader_gauge(other) == 1, DUR + DEADLINE + 3, 0.05,
                     "the other to lead")
            took = time.monotonic() - t0
            time.sleep(DUR * 3 - took + 2 * RETRY + 1)  # partition over: old leader stays follower
        finally:
            stop.set()
            th.join()
        both = [s for s in samples if s[1] == 1 and s[2] == 1]
        assert not both, f"two leaders at once: {both[:3]}"
        down = next(t for t, a, b in samples if a == 0)
        up = next(t for t, a, b in samples if b == 1)
        assert down < up, "the cut-off leader stepped down before the other took over"
        assert down - t0 <= DEADLINE + 0.5, f"stepped down after {down - t0:.2f} s"
        assert leader_gauge(leader) == 0 and leader_gauge(other) == 1
        assert any("stopped leading" in (l.get("msg") or "") for l in leader.log_lines())
        # stepped down, it stopped watching: no list or watch once the
        # partition is over, and no informer series
        healed_ms = int(time.time() * 1000) - (2 * RETRY + 1) * 1000 + 500
        assert resource_requests(pr.ks, leader.pod, healed_ms) == [], resource_requests(pr.ks, leader.pod, healed_ms)[:3]
        assert not [k for k in leader.metrics() if k[0] == "aks_backup_informer_synced"]
        assert any("standby: not watching" in (l.get("msg") or "") for l in leader.log_lines())
        # kubesim's view: successful lease writes never interleave, and the
        # new holder's first write came >= lease duration after the old
        # holder's last renewal (it had to wait for expiry)
        segs = segments(lease_writes(pr.ks, since))
        holders = [s[0] for s in segs]
        assert holders[-2:] == [leader.pod, other.pod], segs
        assert len(holders) == len(set(holders)), f"holders interleave: {holders}"
        gap = segs[-1][1] - segs[-2][2]
        assert gap >= DUR * 1000 - 50, f"new holder wrote {gap} ms after the last renewal"
        print(f"    partition: stepped down after {down - t0:.2f} s, other led after "
              f"{up - t0:.2f} s, lease gap {gap} ms", flush=True)


@R.test
def test_sigterm_answers_a_waiting_reservation():
    """SIGTERM while a reservation waits for its (slow) write: the client
    gets 503 state_not_saved, not a dropped connection, and the daemon
    exits cleanly."""
    with Pair() as pr:
        leader = one_leader(pr.ds, 10)
        wait_for(lambda: cm_reservations(pr.ks) is not None, 10, 0.1, "the quota ConfigMap")
        out = []
        pr.ks.control_post("/latency", {"ms": 1500})
        try:
            th = threading.Thread(target=lambda: out.append(reserve(leader, "term-wait")))
            th.start()
            time.sleep(0.4)
            assert not out, "answered before its write landed: %r" % out
            t0 = time.monotonic()
            leader.signal(signal.SIGTERM)
            th.join(10)
            took = time.monotonic() - t0
        finally:
            pr.ks.control_post("/latency", {"ms": 0})
        assert out, "no answer"
        code, hdrs, body = out[0]
        assert code == 503 and body["error"] == "state_not_saved", (code, body)
        assert took < 1.0, took
        assert leader.wait_exit(10) == 0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


@R.test
def test_reservation_answered_after_its_write_landed():
    """A 200 means the ConfigMap already holds the reservation: checked
    right after each answer, also with a slow API server (the answer waits
    for the write), and for concurrent reservations sharing one write."""
    with Pair() as pr:
        leader = one_leader(pr.ds, 10)
        wait_for(lambda: cm_reservations(pr.ks) is not None, 10, 0.1, "the quota ConfigMap")
        base = used(leader)
        lat = {0: [], 60: []}
        n = 0
        for ms in (0, 60):
            pr.ks.control_post("/latency", {"ms": ms})
            for i in range(30):
                key = "landed-%d-%d-%s" % (ms, i, uuid.uuid4().hex[:6])
                t0 = time.monotonic()
                code, _, body = reserve(leader, key)
                lat[ms].append(time.monotonic() - t0)
                assert code == 200, (code, body)
                n += 1
                assert body["used"] == base + n, body
                ids = cm_reservations(pr.ks)
                assert key in ids, "answered 200 before the ConfigMap held %s" % key
        # with 60 ms per API request the answer cannot come sooner
        assert pct(lat[60], 50) >= 0.055, lat[60]
        # concurrent reservations coalesce into few writes and all complete
        keys = ["batch-%d-%s" % (i, uuid.uuid4().hex[:6]) for i in range(12)]
        out = {}

        def client(k):
            out[k] = reserve(leader, k)

        threads = [threading.Thread(target=client, args=(k,)) for k in keys]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        ids = cm_reservations(pr.ks)
        for k in keys:
            assert out[k][0] == 200, out[k]
            assert k in ids, k
        pr.ks.control_post("/latency", {"ms": 0})
        assert used(leader) == base + n + len(keys)
        print("    POST latency with the ConfigMap write: p50 %.1f ms, p99 %.1f ms "
              "(kubesim +60 ms/request: p50 %.1f ms, p99 %.1f ms)"
              % (pct(lat[0], 50) * 1e3, pct(lat[0], 99) * 1e3, pct(lat[60], 50) * 1e3,
                 pct(lat[60], 99) * 1e3), flush=True)


@R.test
def test_reservation_whose_write_fails_is_not_counted():
    """ConfigMap PUTs failing (500): the POST answers 503 state_not_saved
    within ~6 s and counts nothing; once writes work again the same
    Idempotency-Key gets 200 and counts once."""
    with Pair() as pr:
        leader = one_leader(pr.ds, 10)
        wait_for(lambda: cm_reservations(pr.ks) is not None, 10, 0.1, "the quota ConfigMap")
        base = used(leader)
        key = "fail-" + uuid.uuid4().hex[:8]
        pr.ks.control_post("/fail", {"count": 100000, "code": 500, "verb": "update",
                                     "path": "/configmaps/" + CM})
        try:
            t0 = time.monotonic()
            code, hdrs, body = reserve(leader, key)
            took = time.monotonic() - t0
            assert code == 503, (code, body)
            assert took <= 6.0, took
            assert body["error"] == "state_not_saved", body
            assert "nothing was counted" in body["message"], body
            assert int(hdrs.get("retry-after", "0")) >= 1, hdrs
            assert used(leader) == base, "a reservation that did not land is not counted"
            assert key not in (cm_reservations(pr.ks) or [])
            # a retry while writes still fail: the same answer
            assert reserve(leader, key)[0] == 503
            assert used(leader) == base
        finally:
            pr.ks.control_post("/fail", {"count": 0})
        code, hdrs, body = reserve(leader, key)
        assert code == 200, (code, body)
        assert body["used"] == base + 1, body
        assert key in cm_reservations(pr.ks)
        code, hdrs, body = reserve(leader, key)  # and once only
        assert code == 200 and hdrs.get("idempotent-replayed") == "true", (code, hdrs)
        assert used(leader) == base + 1
        assert cm_reservations(pr.ks).count(key) == 1
        print("    write failing: 503 after %.2f s" % took, flush=True)


@R.test
def test_partitioned_leader_answers_503_and_retry_counts_once():
    """The leader cut off from the API server (requests hang): a POST waits
    for its write at most ~5 s, answers 503 and counts nothing; the retry
    with the same key on the replica leading then gets 200, counted once."""
    with Pair() as pr:
        leader = one_leader(pr.ds, 10)
        other = next(d for d in pr.ds if d is not leader)
        wait_for(lambda: cm_reservations(pr.ks) is not None, 10, 0.1, "the quota ConfigMap")
        base = used(leader)
        key = "part-" + uuid.uuid4().hex[:8]
        pr.ks.control_post("/partition", {"user_agent_contains": "(%s)" % leader.pod,
                                          "seconds": DUR * 3, "mode": "hang"})
        t0 = time.monotonic()
        code, _, body = reserve(leader, key)
        took = time.monotonic() - t0
        assert code == 503, (code, body)
        assert took <= 6.0, took
        first_error = body["error"]
        assert first_error in ("state_not_saved", "not_leader"), body
        assert key not in (cm_reservations(pr.ks) or [])
        # whoever leads next: 200 once, counted once
        deadline = time.monotonic() + 30
        while True:
            tgt = other if leader_gauge(other) == 1 else leader
            code, hdrs, body = reserve(tgt, key)
            if code == 200:
                break
            assert code == 503, (code, body)
            assert time.monotonic() < deadline, "no leader took the retry"
            time.sleep(0.2)
        assert body["used"] == base + 1, body
        assert cm_reservations(pr.ks).count(key) == 1
        assert first_current_used(tgt, 5) == base + 1
        print("    partitioned leader: 503 %s after %.2f s" % (first_error, took), flush=True)


def cm_cancelled(ks):
    """Tombstones (cancelled reservation ids) in the quota ConfigMap."""
    code, obj = ks.control_request("GET", "/objects?resource=configmaps&namespace=%s&name=%s"
                                   % (NS, CM))
    if code != 200:
        return []
    doc = json.loads(obj["data"]["ledger.json"])
    return [r["id"] for day in doc.get("days", {}).values() for inst in day.values()
            for op in inst.values() for r in op.get("cancelled", [])]


@R.test
def test_late_write_of_a_503_reservation_never_counts():
    """The API server slower than the 5 s a reservation waits: the POST is
    answered 503 state_not_saved, then its ConfigMap write lands anyway.
    It must never count: a tombstone written next takes it out of the
    ConfigMap, /api/v1/quota does not count it, nor does the replica that
    leads after a handover; the same key later counts once."""
    with Pair(timings=(30, 20, 2)) as pr:  # a slow API must not cost the lease here
        leader = one_leader(pr.ds, 10)
        other = next(d for d in pr.ds if d is not leader)
        wait_for(lambda: cm_reservations(pr.ks) is not None, 10, 0.1, "the quota ConfigMap")
        base = used(leader)
        key = "late-" + uuid.uuid4().hex[:8]
        pr.ks.control_post("/latency", {"ms": 6500})
        try:
            t0 = time.monotonic()
            code, _, body = reserve(leader, key)
            took = time.monotonic() - t0
            assert code == 503 and body["error"] == "state_not_saved", (code, body)
            assert took <= 6.0, took
            # the write the 503 gave up on lands after all
            wait_for(lambda: key in (cm_reservations(pr.ks) or []), 6, 0.05,
                     "the late ConfigMap write")
        finally:
            pr.ks.control_post("/latency", {"ms": 0})
        try:
            wait_for(lambda: (lambda r: r is not None and key not in r)(cm_reservations(pr.ks)),
                     20, 0.1,
                     "the late reservation taken out of the ConfigMap")
        except AssertionError:
            raise AssertionError("still in the ConfigMap: " + leader.log_text()[-3000:])
        assert key in cm_cancelled(pr.ks), cm_cancelled(pr.ks)
        assert used(leader) == base, "a reservation answered 503 was counted"
        time.sleep(1.0)
        assert used(leader) == base
        assert key not in cm_reservations(pr.ks)
        # the next leader reads the ConfigMap: not counted there either
        leader.stop()
        wait_for(lambda: leader_gauge(other) == 1, 15, 0.1, "the other replica to lead")
        assert first_current_used(other, 10) == base
        # a retry with the same key is a new reservation, counted once
        code, hdrs, body = reserve(other, key)
        assert code == 200, (code, body)
        assert body["used"] == base + 1, body
        assert cm_reservations(pr.ks).count(key) == 1
        assert key not in cm_cancelled(pr.ks)
        print("    late write: 503 after %.2f s, tombstone in the ConfigMap" % took, flush=True)


sys.exit(R.finish())
