"""Issue 4: the reflector survives a hostile API server. 2,000 PVs in
kubesim; for 20 s per seed (3 seeds) random adds/updates/deletes run while
watches are dropped, 429/503 bursts with Retry-After are injected, history
is compacted (a 410 on the next watch), watches stall, and a watch event
comes out malformed or truncated. Then quiet: the daemon's
/debug/store?resource=persistentvolumes must equal kubesim's /state exactly
(names and resourceVersions) within a bounded wait, and the daemon must
still be serving. CHAOS_SECONDS overrides the 20 s (60 for a long run)."""
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

sys.exit(R.finish())
