#!/usr/bin/env python3
"""API requests per minute that N replicas with leader election (a DaemonSet
on N nodes) send to the API server, measured on kubesim's request log.

Usage: python3 bench/ha_load.py [N ...] [--window SECONDS]
       (defaults: 1 20, 60 s; needs build/ and tests/kubesim built)

Each run: kubesim with the fixture cluster, N daemons as the chart runs them
(N = 1: no leader election; N > 1: leader election with the shipped timings
15 s / 10 s / 2 s and the quota ConfigMap), a
warm-up until one leads and every replica is Ready, then every request
kubesim receives during the window, split by verb and by replica role
(leader / followers: the User-Agent carries the pod name)."""
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
os.environ.setdefault("ABC_SRCROOT", SRC)
os.environ.setdefault("ABC_BUILDROOT", os.path.join(SRC, "build"))
os.environ.setdefault("KUBESIM_BIN", os.path.join(SRC, "build", "tests", "kubesim", "kubesim"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))

from harness import Daemon, Kubesim, wait_for  # noqa: E402

NS = "abc-load"


def config(tmp, ha):
    """What the chart renders: one replica runs without leader election,
    several (or a DaemonSet) with it and the quota ConfigMap."""
    lines = ["accounting:", "  state_file: %s" % os.path.join(tmp, "quota.json")]
    if ha:
        lines += ["  state_configmap: aks-backup-companion-quota", "leader_election:", "  enabled: true"]
    lines.append("regions_file: %s" % os.path.join(SRC, "config", "regions.txt"))
    return "\n".join(lines) + "\n"


def leader_of(ds):
    for d in ds:
        try:
            if d.metrics().get(("aks_backup_leader", frozenset())) == 1:
                return d
        except (OSError, AssertionError):
            pass
    return None


def measure(n, window):
    with Kubesim() as ks:
        ds = []
        t_start = int(time.time() * 1000)
        try:
            for i in range(n):
                d = Daemon(kubesim=ks, start=False, env={"POD_NAME": f"abc-{i}", "POD_NAMESPACE": NS})
                with open(d.config_path, "w") as f:
                    f.write(config(d.tmp, n > 1))
                d.pod = f"abc-{i}"
                ds.append(d.start())
            leader = wait_for(lambda: leader_of(ds), 30, 0.2, "a leader")
            for d in ds:
                d.wait_ready(timeout=60)
            time.sleep(5)  # past the first lists
            t0 = int(time.time() * 1000)
            startup = {}
            for r in ks.requests(t_start):
                if r["t"] < t0:
                    startup[r["verb"]] = startup.get(r["verb"], 0) + 1
            time.sleep(window)
            reqs = [r for r in ks.requests(t0) if r["t"] <= t0 + window * 1000]
            watches_open = ks.stats().get("watches_open")
            per_min = 60.0 / window
            roles = {"leader": 0, "followers": 0, "other": 0}
            verbs = {}
            for r in reqs:
                ua = r["user_agent"]
                role = "leader" if f"({leader.pod})" in ua else "followers" if "(abc-" in ua else "other"
                roles[role] += 1
                verbs[r["verb"]] = verbs.get(r["verb"], 0) + 1
            return {"replicas": n, "per_minute": round(len(reqs) * per_min, 1),
                    "leader": round(roles["leader"] * per_min, 1),
                    "followers": round(roles["followers"] * per_min, 1),
                    "per_follower": round(roles["followers"] * per_min / max(n - 1, 1), 1),
                    "by_verb": {k: round(v * per_min, 1) for k, v in sorted(verbs.items())},
                    "watches_open": watches_open,
                    "startup_requests": startup}
        finally:
            for d in ds:
                if d.proc and d.proc.poll() is None:
                    d.proc.send_signal(signal.SIGTERM)
            for d in ds:
                try:
                    d.proc.wait(10)
                except Exception:  # noqa: BLE001
                    d.proc.kill()
                d.__exit__(None, None, None)


def main():
    args = sys.argv[1:]
    window = 60
    if "--window" in args:
        i = args.index("--window")
        window = int(args[i + 1])
        del args[i:i + 2]
    ns = [int(a) for a in args] or [1, 20]
    for n in ns:
        r = measure(n, window)
        print(r, flush=True)


if __name__ == "__main__":
    main()
