"""The benchmark (`make bench` -> bench/run.sh -> this): runs kubesim over plain
HTTP with generated clusters and measures the daemon side by side with the
peers a user would otherwise pick (kubectl, the Python client) and with the
floor (json-c alone, memchr) on the very same bytes. Phases: sync, scrape,
idle (one large cluster), memory (RSS vs PV count), events (mutator load),
http2 (the large cluster's sync over TLS: HTTP/2 vs HTTP/1.1).

Usage: /usr/bin/python3 bench/bench.py --build BUILD --floor FLOOR_BIN
Environment: BENCH_QUICK=1, BENCH_REPEAT, BENCH_PEER_REPEAT, BENCH_IDLE_SECONDS,
BENCH_PHASES (comma list), BENCH_EVENT_RATES (comma list), BENCH_README (path or
"-" for none), BENCH_JSON, BENCH_BASE_BIN (another daemon binary, e.g. main's,
whose paginated sync is measured in the same repetitions, side by side)."""
import argparse
import json
import os
import shutil
import signal
import tempfile
import time

import benchlib as bl
import report

QUICK = os.environ.get("BENCH_QUICK") == "1"
REPEAT = int(os.environ.get("BENCH_REPEAT") or (1 if QUICK else 3))
PEER_REPEAT = int(os.environ.get("BENCH_PEER_REPEAT") or REPEAT)
IDLE_S = float(os.environ.get("BENCH_IDLE_SECONDS") or (10 if QUICK else 60))
PHASES = (os.environ.get("BENCH_PHASES") or "sync,scrape,idle,memory,events,http2").split(",")
CLUSTER = ({"pvs": 20000, "pvcs": 20000, "snapshots": 20000, "nodes": 1000} if QUICK else
           {"pvs": 100000, "pvcs": 100000, "snapshots": 100000, "nodes": 5000})
MEM_POINTS = [5000, 10000, 20000] if QUICK else [10000, 50000, 100000, 200000]
EVENT_PVS = 1000
EVENT_STEP_S = 3.0 if QUICK else 8.0
EVENT_RATES = [int(x) for x in (os.environ.get("BENCH_EVENT_RATES") or
                                 "1000,2000,5000,10000,15000,20000,30000,50000,75000,100000").split(",")]
EVENT_BURST_S = 3.0 if QUICK else 6.0
SCRAPES = 20 if QUICK else 100
SCRAPE_RATE = 1000
SCRAPE_PVS = [20000, 100000]  # per-PV series; budgets: p99 <= 10 ms and <= 40 ms
SETTLE_S = 3.0
BASE_BIN = os.environ.get("BENCH_BASE_BIN") or ""
WATCHED = [("persistentvolumes", "/api/v1/persistentvolumes"),
           ("persistentvolumeclaims", "/api/v1/persistentvolumeclaims"),
           ("volumesnapshots", "/apis/snapshot.storage.k8s.io/v1/volumesnapshots"),
           ("nodes", "/api/v1/nodes")]


def kubectl_env(tmp):
    home = os.path.join(tmp, "kubectl-home")
    os.makedirs(home, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HOME"] = home
    return env


def informer_objects(d):
    code, body = d.get_keepalive("/metrics", timeout=60)
    n = 0
    for line in body.split(b"\n"):
        if line.startswith(b"aks_backup_informer_objects{"):
            n += int(float(line.rsplit(b" ", 1)[1]))
    return n


# ---------------------------------------------------------------- sync
def daemon_sync(ks, expect, env=None, binary=None):
    d = bl.Daemon(ks, env=env)
    own = bl.harness.ABC_BIN
    bl.harness.ABC_BIN = binary or own
    try:
        d.start()
    finally:
        bl.harness.ABC_BIN = own
    wall = d.wait_synced()
    cpu = bl.proc_cpu_seconds(d.pid)
    hwm = bl.proc_status_kb(d.pid, "VmHWM")
    time.sleep(SETTLE_S)
    steady = bl.proc_status_kb(d.pid, "VmRSS")
    n = informer_objects(d)
    if n < expect:
        raise RuntimeError(f"daemon synced {n} objects, expected {expect}")
    return d, {"seconds": wall, "cpu_seconds": cpu, "peak_rss_kb": hwm, "steady_rss_kb": steady, "objects": n}


def phase_sync(res, tmp, floor_bin, keep):
    expect = sum(CLUSTER.values())
    bl.log(f"sync: generating {CLUSTER} in kubesim")
    t0 = time.monotonic()
    # a long history: the daemon writes Events (one per skipped PV) while the
    # peers page through lists, and their continue tokens must not expire
    ks = keep["ks"] = bl.Kubesim(CLUSTER, extra_args=["--history", "2000000"])
    res["cluster"] = dict(CLUSTER, objects=expect, generate_seconds=time.monotonic() - t0)
    cap = os.path.join(tmp, "capture")
    os.makedirs(cap)
    bl.log("sync: capturing the list pages and the watch-list streams (floor input)")
    pfiles, pbytes, pwire, peer_bytes = [], 0, 0, 0
    for name, path in WATCHED:
        b, w, files = bl.capture_pages(ks, path, cap, "page-" + name)
        pfiles += files
        pbytes += b
        pwire += w
        if name in ("persistentvolumes", "persistentvolumeclaims"):
            peer_bytes += b
    wfiles, wbytes, wevents = [], 0, 0
    for name, path in WATCHED:
        fn = os.path.join(cap, f"watch-{name}.jsonl")
        b, e = bl.capture_watch_list(ks, path, fn)
        wfiles.append(fn)
        wbytes += b
        wevents += e
    res["bytes"] = {"pages": pbytes, "pages_wire": pwire, "page_count": len(pfiles), "pages_pv_pvc": peer_bytes,
                    "watch_list": wbytes, "watch_events": wevents}
    runs = {"daemon": [], "daemon_stream": [], "kubectl": [], "python": [], "daemon_base": []}
    env = kubectl_env(tmp)
    kubectl_out = os.path.join(tmp, "kubectl.out")
    for rep in range(max(REPEAT, PEER_REPEAT)):
        if rep < REPEAT:
            kinds = [("daemon_stream", {"ABC_STREAMING_LIST": "1"}, "streaming list", None)]
            if BASE_BIN:
                kinds.append(("daemon_base", None, "paginated lists, " + BASE_BIN, BASE_BIN))
            kinds.append(("daemon", None, "paginated lists", None))
            for key, denv, label, binary in kinds:
                if keep.get("d"):
                    keep["d"].kill()
                keep["d"], r = daemon_sync(ks, expect, denv, binary)
                runs[key].append(r)
                bl.log(f"sync: daemon ({label}) rep {rep + 1}: {r['seconds']:.2f} s, cpu {r['cpu_seconds']:.2f} s, "
                       f"peak {r['peak_rss_kb'] / 1024:.0f} MiB, steady {r['steady_rss_kb'] / 1024:.0f} MiB")
        if rep < PEER_REPEAT:
            r = bl.timed([bl.harness.KUBECTL, "--kubeconfig", ks.kubeconfig_path, "--cache-dir",
                          os.path.join(env["HOME"], "cache"), "get", "pv,pvc", "-A", "-o", "name",
                          "--chunk-size=500"], env=env, stdout_path=kubectl_out)
            with open(kubectl_out, "rb") as f:
                r["objects"] = sum(1 for _ in f)
            runs["kubectl"].append(r)
            bl.log(f"sync: kubectl rep {rep + 1}: {r['seconds']:.2f} s, peak {r['peak_rss_kb'] / 1024:.0f} MiB, "
                   f"{r['objects']} objects")
            pyout = os.path.join(tmp, "python.out")
            r = bl.timed(["/usr/bin/python3", os.path.join(bl.HERE, "pyclient.py"), ks.kubeconfig_path],
                         stdout_path=pyout)
            with open(pyout) as f:
                r["objects"] = json.load(f)["objects"]
            runs["python"].append(r)
            bl.log(f"sync: python rep {rep + 1}: {r['seconds']:.2f} s, peak {r['peak_rss_kb'] / 1024:.0f} MiB")
    res["sync"] = runs
    bl.log("sync: bare fetch of the same pages from kubesim (no parsing)")
    runs["fetch"] = []
    for rep in range(REPEAT):
        w, c, n = bl.bare_fetch(ks, [p for _, p in WATCHED])
        runs["fetch"].append({"seconds": w, "cpu_seconds": c, "bytes": n})
        bl.log(f"sync: bare fetch rep {rep + 1}: {w:.2f} s, {n / 1e6:.1f} MB")
    bl.log("sync: floor (json-c per page, json-c per event line, yajl, the own lexer, memchr)")
    floor = {"pages": [], "lines": [], "yajl_pages": [], "yajl_lines": [], "own_pages": [], "own_lines": [],
             "memchr": []}
    for _ in range(REPEAT):
        floor["pages"].append(bl.run_floor(floor_bin, "pages", 0, pfiles))
        floor["lines"].append(bl.run_floor(floor_bin, "lines", 0, wfiles))
        floor["yajl_pages"].append(bl.run_floor(floor_bin, "yajl-pages", 0, pfiles))
        floor["yajl_lines"].append(bl.run_floor(floor_bin, "yajl-lines", 0, wfiles))
        floor["own_pages"].append(bl.run_floor(floor_bin, "own-pages", 0, pfiles))
        floor["own_lines"].append(bl.run_floor(floor_bin, "own-lines", 0, wfiles))
        floor["memchr"].append(bl.run_floor(floor_bin, "memchr", 1, pfiles))
    res["floor"] = floor
    shutil.rmtree(cap, ignore_errors=True)


# ---------------------------------------------------------------- http2
def phase_http2(res, tmp):
    """The same cluster over TLS: the daemon's sync over HTTP/2 (the nghttpx
    front, h2 by ALPN: every list a stream of one connection), over HTTP/1.1
    through the same front (kubernetes.http2=false: the protocol alone
    differs), and over HTTP/1.1 on kubesim's own TLS listener (no proxy hop)."""
    expect = sum(CLUSTER.values())
    bl.log(f"http2: generating {CLUSTER} in kubesim behind the HTTP/2 front")
    ks = bl.TlsKubesim(CLUSTER, extra_args=["--history", "2000000"])
    direct = os.path.join(tmp, "kubeconfig-direct")
    with open(ks.kubeconfig_path) as f, open(direct, "w") as g:
        g.write(f.read().replace(f"server: {ks.api}\n", f"server: {ks.direct_api}\n"))
    ks.daemon_may_use_http1 = True
    runs = {"h2": [], "http1_front": [], "http1_direct": []}
    variants = (("h2", None, None, "HTTP/2 via the front"),
                ("http1_front", {"ABC_KUBERNETES_HTTP2": "false"}, None, "HTTP/1.1 via the front"),
                ("http1_direct", None, direct, "HTTP/1.1 on kubesim's TLS listener"))
    try:
        for rep in range(REPEAT):
            for key, env, kc, label in variants:
                seen = len(ks.front_log())
                d = bl.Daemon(ks, env=env, kubeconfig=kc)
                d.start()
                try:
                    wall = d.wait_synced()
                    r = {"seconds": wall, "cpu_seconds": bl.proc_cpu_seconds(d.pid),
                         "peak_rss_kb": bl.proc_status_kb(d.pid, "VmHWM")}
                    n = informer_objects(d)
                    if n < expect:
                        raise RuntimeError(f"daemon synced {n} objects, expected {expect}")
                finally:
                    d.kill()
                mine = [e for e in ks.front_log()[seen:] if e["user_agent"].startswith("aks-backup-companion/")]
                r["connections"] = len({e["port"] for e in mine})
                r["alpn"] = sorted({e["alpn"] for e in mine})
                runs[key].append(r)
                bl.log(f"http2: {label} rep {rep + 1}: {r['seconds']:.2f} s, cpu {r['cpu_seconds']:.2f} s, "
                       f"peak {r['peak_rss_kb'] / 1024:.0f} MiB, {r['connections']} connections {r['alpn']}")
    finally:
        ks.__exit__(None)
    res["http2"] = dict(runs, objects=expect)


# ---------------------------------------------------------------- scrape
def curl_time(url, gzip=False):
    """One GET by curl (a client that costs next to nothing per byte):
    (seconds from connect to the last byte, bytes received)."""
    cmd = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_download}"]
    if gzip:
        cmd += ["-H", "Accept-Encoding: gzip"]
    p = bl.subprocess.run(cmd + [url], capture_output=True, text=True, timeout=120)
    code, t, n = p.stdout.split()
    if p.returncode != 0 or code != "200":
        raise RuntimeError(f"curl {url}: {code} {p.stderr}")
    return float(t), int(n)


def cpu_ns(pid):
    """CPU time of every thread of pid in ns (/proc/<pid>/task/*/schedstat:
    nanosecond resolution where /proc/<pid>/stat counts 10 ms ticks)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # thread ended meanwhile
    return total


def scrape_at(ks, d):
    """SCRAPES scrapes of the daemon's /metrics by curl (plain text, and
    gzip every 4th) while kubesim's mutator makes SCRAPE_RATE PV changes/s."""
    url = f"http://127.0.0.1:{d.port}/metrics"
    quiet = [curl_time(url)[0] for _ in range(max(5, SCRAPES // 5))]  # no events flowing
    e0 = d.events_total()
    ks.mutator(SCRAPE_RATE, seed=7)
    try:
        time.sleep(1.0)
        # the daemon's CPU for the events alone, to take out of each scrape's
        c0, w0 = cpu_ns(d.pid), time.monotonic()
        time.sleep(2.0)
        ev_rate = (cpu_ns(d.pid) - c0) / (time.monotonic() - w0)  # ns per s
        t0 = time.monotonic()
        lat, size, lat_gz, size_gz, cpu, cpu_gz = [], [], [], [], [], []

        def one(gz):
            c, w = cpu_ns(d.pid), time.monotonic()
            t, n = curl_time(url, gzip=gz)
            used = cpu_ns(d.pid) - c - ev_rate * (time.monotonic() - w)
            (cpu_gz if gz else cpu).append(max(used, 0) / 1e9)
            return t, n

        for i in range(SCRAPES):
            t, n = one(False)
            lat.append(t)
            size.append(n)
            if i % 4 == 0:
                t, n = one(True)
                lat_gz.append(t)
                size_gz.append(n)
            time.sleep(0.05)
        window = time.monotonic() - t0
        e1 = d.events_total()
    finally:
        ks.mutator_stop()
    body = d.get_keepalive("/metrics", timeout=60)[1]
    series = sum(1 for line in body.split(b"\n") if line.startswith(b"aks_backup_persistent_volume_supported{"))
    r = {"latency_s": lat, "quiet_latency_s": quiet, "bytes": bl.median(size), "gzip_latency_s": lat_gz,
         "gzip_bytes": bl.median(size_gz), "pv_series": series,
         "events_during": e1 - e0, "events_per_s": (e1 - e0) / (window + 3.0),
         "cpu_s": cpu, "gzip_cpu_s": cpu_gz, "events_cpu_pct": ev_rate / 1e7}
    bl.log(f"scrape: {series} PV series: p50 {bl.pct(lat, 50) * 1000:.1f} ms, p99 {bl.pct(lat, 99) * 1000:.1f} ms, "
           f"{bl.median(size) / 1e6:.1f} MB; gzip p50 {bl.pct(lat_gz, 50) * 1000:.1f} ms, "
           f"p99 {bl.pct(lat_gz, 99) * 1000:.1f} ms; {r['events_per_s']:.0f} events/s; daemon CPU per scrape "
           f"p50 {bl.pct(cpu, 50) * 1000:.1f} ms (gzip {bl.pct(cpu_gz, 50) * 1000:.1f} ms)")
    return r


def phase_scrape(res, keep):
    """/metrics at each of SCRAPE_PVS per-PV series, events flowing: on the
    sync phase's cluster when it has that many PVs, else on a PV-only
    cluster of that size started here."""
    out = []
    for n in SCRAPE_PVS:
        bl.log(f"scrape: {n} PVs, {SCRAPES} scrapes of /metrics while the mutator makes {SCRAPE_RATE} PV changes/s")
        if keep.get("d") and CLUSTER["pvs"] == n:
            out.append(scrape_at(keep["ks"], keep["d"]))
            continue
        with bl.Kubesim({"pvs": n}) as ks:
            d = bl.Daemon(ks)
            try:
                d.start()
                d.wait_synced()
                time.sleep(SETTLE_S)
                out.append(scrape_at(ks, d))
            finally:
                d.kill()
    res["scrapes"] = out
    res["scrape"] = max(out, key=lambda r: r["pv_series"])  # the largest, as before


# ---------------------------------------------------------------- idle
def phase_idle(res, keep):
    d = keep["d"]
    time.sleep(5.0)  # let the last scrape-phase events drain
    if d.conn:
        d.conn.close()
        d.conn = None
    bl.log(f"idle: {IDLE_S:.0f} s of no changes")
    perf = None
    if bl.perf_works():
        perf = bl.subprocess.Popen(["perf", "stat", "-x,", "-e", "task-clock,context-switches", "-p",
                                    str(d.pid), "--", "sleep", str(IDLE_S)],
                                   stdout=bl.subprocess.DEVNULL, stderr=bl.subprocess.PIPE, text=True)
    cpu0, cs0, t0 = bl.proc_cpu_seconds(d.pid), bl.proc_ctxt_switches(d.pid), time.monotonic()
    time.sleep(IDLE_S)
    cpu1, cs1, t1 = bl.proc_cpu_seconds(d.pid), bl.proc_ctxt_switches(d.pid), time.monotonic()
    el = t1 - t0
    out = {"seconds": el, "cpu_seconds": cpu1 - cpu0, "cpu_pct": (cpu1 - cpu0) / el * 100,
           "wakeups_per_s": (cs1 - cs0) / el, "ctxt_switches": cs1 - cs0, "threads": bl.proc_threads(d.pid),
           "rss_kb": bl.proc_status_kb(d.pid, "VmRSS")}
    if perf:
        _, err = perf.communicate(timeout=IDLE_S + 30)
        for line in err.splitlines():
            f = line.split(",")
            if len(f) > 2 and f[2] == "task-clock" and f[0] not in ("", "<not counted>"):
                out["perf_task_clock_ms"] = float(f[0])
            if len(f) > 2 and f[2] == "context-switches" and f[0] not in ("", "<not counted>"):
                out["perf_context_switches"] = int(float(f[0]))
    out["cpu_pct_proc"] = out["cpu_pct"]
    if "perf_task_clock_ms" in out:  # 1 ms resolution instead of /proc's 10 ms ticks
        out["cpu_pct"] = out["perf_task_clock_ms"] / 1000.0 / IDLE_S * 100
    res["idle"] = out
    bl.log(f"idle: cpu {out['cpu_pct']:.4f} %, {out['wakeups_per_s']:.2f} wakeups/s")


# ---------------------------------------------------------------- memory
def phase_memory(res):
    pts = []
    for n in MEM_POINTS:
        with bl.Kubesim({"pvs": n}) as ks:
            d = None
            try:
                d, r = daemon_sync(ks, n)
                pts.append({"pvs": n, "steady_rss_kb": r["steady_rss_kb"], "peak_rss_kb": r["peak_rss_kb"],
                            "seconds": r["seconds"]})
                bl.log(f"memory: {n} PVs: steady {r['steady_rss_kb'] / 1024:.1f} MiB")
            finally:
                if d:
                    d.kill()
    a, b = bl.linfit([p["pvs"] for p in pts], [p["steady_rss_kb"] * 1024 for p in pts])
    res["memory"] = {"points": pts, "bytes_per_pv": b, "intercept_bytes": a}
    bl.log(f"memory: {b:.0f} bytes per PV (intercept {a / 1048576:.1f} MiB)")


# ---------------------------------------------------------------- events
MARKER = {"apiVersion": "v1", "kind": "PersistentVolume",
          "metadata": {"name": "bench-marker", "labels": {"bench/seq": "0"}},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                   "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "managed-csi",
                   "csi": {"driver": "disk.csi.azure.com", "volumeHandle": "bench-marker"}},
          "status": {"phase": "Available"}}
RV_KEY = b'"resourceVersion":"'


def store_rv(d):
    code, body = d.get_keepalive("/debug/store?resource=persistentvolumes")
    if code != 200:
        raise RuntimeError(f"/debug/store answered {code}")
    i = body.index(RV_KEY) + len(RV_KEY)
    return int(body[i:body.index(b'"', i)] or 0)


def marker_lag(ks, d, seq, timeout=5.0):
    """Applies the marker PV, bound to a claim named after seq so that its
    aks_backup_persistent_volume_supported line changes; seconds from
    sending the change until that line is in /metrics, from kubesim's reply
    until then, /apply's round trip, and from sending until the daemon's PV
    reflector has reached its resourceVersion (/debug/store). Lags are None
    on timeout."""
    m = json.loads(json.dumps(MARKER))
    m["metadata"]["labels"]["bench/seq"] = str(seq)
    m["spec"]["claimRef"] = {"namespace": "bench", "name": f"bench-marker-{seq}"}
    needle = f'persistentvolumeclaim="bench-marker-{seq}"'.encode()
    t_send = time.monotonic()
    rv = int(ks.apply(m)["resourceVersion"])
    t_reply = time.monotonic()
    t_store = t_metrics = None
    while True:
        if t_metrics is None:
            code, body = d.get_keepalive("/metrics")
            if code != 200:
                raise RuntimeError(f"/metrics answered {code}")
            if needle in body:
                t_metrics = time.monotonic()
        if t_store is None and store_rv(d) >= rv:
            t_store = time.monotonic()
        if t_metrics is not None and t_store is not None:
            return t_metrics - t_send, t_metrics - t_reply, t_reply - t_send, t_store - t_send
        if time.monotonic() - t_send > timeout:
            return (None if t_metrics is None else t_metrics - t_send,
                    None if t_metrics is None else t_metrics - t_reply, t_reply - t_send,
                    None if t_store is None else t_store - t_send)
        time.sleep(0.0003)


def event_step(ks, d, rate, seq):
    c0 = d.pv_counters()
    e0 = c0["events"]
    cpu0 = bl.proc_cpu_seconds(d.pid)
    kcpu0 = bl.proc_cpu_seconds(ks.proc.pid)
    if rate:
        ks.mutator(rate, seed=seq + 11)
    t0 = time.monotonic()
    lags, lags_r, lags_s, rtts, markers, lost = [], [], [], [], 0, 0
    while time.monotonic() - t0 < EVENT_STEP_S:
        seq += 1
        markers += 1
        lag, lag_r, rtt, lag_s = marker_lag(ks, d, seq)
        rtts.append(rtt)
        if lag_s is not None:
            lags_s.append(lag_s)
        if lag is None:
            lost += 1
        else:
            lags.append(lag)
            lags_r.append(lag_r)
        time.sleep(0.02)
    st = ks.mutator_state() if rate else {"added": 0, "updated": 0, "deleted": 0}
    el = time.monotonic() - t0
    c1 = d.pv_counters()
    e1 = c1["events"]
    cpu1 = bl.proc_cpu_seconds(d.pid)
    kcpu1 = bl.proc_cpu_seconds(ks.proc.pid)
    if rate:
        ks.mutator_stop()
    produced = st["added"] + st["updated"] + st["deleted"] + markers
    handled = e1 - e0
    # drain: how long until the daemon has every event produced in the step
    t_d = time.monotonic()
    while d.events_total() < e0 + produced and time.monotonic() - t_d < 30:
        time.sleep(0.05)
    drain = time.monotonic() - t_d
    r = {"target": rate, "produced_per_s": produced / el, "handled_per_s": handled / el,
         "backlog_end": produced - handled, "drain_s": drain, "markers": markers, "lost": lost,
         "lag_p50_ms": (bl.pct(lags, 50) or 0) * 1000, "lag_p99_ms": (bl.pct(lags, 99) or 0) * 1000,
         "lag_max_ms": max(lags) * 1000 if lags else None, "apply_rtt_p50_ms": bl.pct(rtts, 50) * 1000,
         "apply_rtt_p99_ms": bl.pct(rtts, 99) * 1000, "lag_reply_p50_ms": (bl.pct(lags_r, 50) or 0) * 1000,
         "lag_reply_p99_ms": (bl.pct(lags_r, 99) or 0) * 1000,
         "store_lag_p50_ms": (bl.pct(lags_s, 50) or 0) * 1000, "store_lag_p99_ms": (bl.pct(lags_s, 99) or 0) * 1000, "kubesim_cpu_pct": (kcpu1 - kcpu0) / el * 100,
         "cpu_s": cpu1 - cpu0, "cpu_pct": (cpu1 - cpu0) / el * 100, "cpu_us_per_event": (cpu1 - cpu0) / handled * 1e6 if handled else None}
    r["watch_restarts"] = c1["restarts"] - c0["restarts"]
    r["relists"] = c1["relists"] - c0["relists"]
    r["kubesim_bound"] = bool(rate) and produced / el < 0.9 * rate
    r["kept_up"] = (lost == 0 and not r["relists"] and r["handled_per_s"] >= 0.95 * r["produced_per_s"] and r["lag_p99_ms"] < 1000
                    and drain < 2.0)
    return r, seq


def burst_drain(ks, d, rate, seconds):
    """The daemon's own event capacity, kubesim's mutation speed aside: the
    daemon is stopped (SIGSTOP) while the mutator queues `seconds` x `rate`
    changes in kubesim's history, then continued; times how fast it catches up."""
    e0 = d.events_total()
    if d.conn:
        d.conn.close()
        d.conn = None
    d.proc.send_signal(signal.SIGSTOP)
    try:
        ks.mutator(rate, seed=99)
        time.sleep(seconds)
        st = ks.mutator_state()
        ks.mutator_stop()
        st2 = ks.mutator_state()
        produced = st["added"] + st["updated"] + st["deleted"]
        produced = max(produced, st2["added"] + st2["updated"] + st2["deleted"])
    finally:
        cpu0 = bl.proc_cpu_seconds(d.pid)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGCONT)
    last = e0
    while time.monotonic() - t0 < 60:
        last = d.events_total()
        if last >= e0 + produced:
            break
        time.sleep(0.02)
    el = time.monotonic() - t0
    cpu = bl.proc_cpu_seconds(d.pid) - cpu0
    done = last - e0
    return {"rate": rate, "queued": produced, "handled": done, "seconds": el, "per_s": done / el,
            "cpu_s": cpu, "cpu_us_per_event": cpu / done * 1e6 if done else None, "complete": done >= produced}


def phase_events(res):
    steps = []
    with bl.Kubesim({"pvs": EVENT_PVS}, extra_args=["--history", "200000"]) as ks:
        d = bl.Daemon(ks, env={"ABC_DEBUG_ENDPOINTS": "1"})
        try:
            d.start()
            d.wait_synced()
            seq = 0
            for rate in [0] + EVENT_RATES:
                try:
                    r, seq = event_step(ks, d, rate, seq)
                except (bl.KubesimSaturated, OSError) as e:
                    # kubesim could not make this rate and starved; the step has no figures
                    bl.log(f"events: target {rate}/s: kubesim saturated ({e})")
                    steps.append({"target": rate, "saturated": True})
                    break
                steps.append(r)
                bl.log(f"events: target {rate}/s: kubesim {r['produced_per_s']:.0f}/s, daemon "
                       f"{r['handled_per_s']:.0f}/s, lag p50 {r['lag_p50_ms']:.1f} ms p99 {r['lag_p99_ms']:.1f} ms "
                       f"(from reply {r['lag_reply_p99_ms']:.1f}, apply p99 {r['apply_rtt_p99_ms']:.1f}; "
                       f"store p99 {r['store_lag_p99_ms']:.1f}), "
                       f"kubesim cpu {r['kubesim_cpu_pct']:.0f}%, "
                       f"backlog {r['backlog_end']:.0f}, cpu {r['cpu_s']:.2f} s"
                       + (" [kubesim-bound]" if r["kubesim_bound"] else "") + ("" if r["kept_up"] else " [lagging]"))
                if rate and (r["kubesim_bound"] or not r["kept_up"]):
                    break
                time.sleep(0.5)
            ok = [s["target"] for s in steps if s.get("kept_up") and s["target"]]
            if ok and not steps[-1].get("saturated"):  # kubesim is gone or wedged after one
                time.sleep(2.0)
                b = burst_drain(ks, d, max(ok), EVENT_BURST_S)
                res["events_burst"] = b
                bl.log(f"events: burst of {b['queued']} queued changes drained in {b['seconds']:.2f} s = "
                       f"{b['per_s']:.0f}/s, {b['cpu_us_per_event'] or 0:.1f} µs CPU/event")
        finally:
            d.kill()
    res["events"] = {"steps": steps, "base_pvs": EVENT_PVS, "step_seconds": EVENT_STEP_S}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--command", default="make bench")
    args = ap.parse_args()
    res = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": bl.machine(),
           "quick": QUICK, "repeat": REPEAT, "peer_repeat": PEER_REPEAT, "idle_seconds": IDLE_S,
           "command": args.command, "base_bin": BASE_BIN, "perf_hw": bl.hw_perf_works(), "perf_sw": bl.perf_works()}
    tmp = tempfile.mkdtemp(prefix="abc-bench-")
    keep = {}
    t_all = time.monotonic()
    try:
        if "sync" in PHASES:
            phase_sync(res, tmp, args.floor, keep)
        if "scrape" in PHASES:
            phase_scrape(res, keep)
        if "sync" in PHASES and "idle" in PHASES:
            phase_idle(res, keep)
        if keep.get("d"):
            keep["d"].kill()
        if keep.get("ks"):
            keep["ks"].stop()
            shutil.rmtree(keep["ks"].tmp, ignore_errors=True)
        keep.clear()
        if "memory" in PHASES:
            phase_memory(res)
        if "events" in PHASES:
            phase_events(res)
        if "http2" in PHASES:
            phase_http2(res, tmp)
    finally:
        if keep.get("d"):
            keep["d"].kill()
        if keep.get("ks"):
            keep["ks"].stop()
        shutil.rmtree(tmp, ignore_errors=True)
    res["total_seconds"] = time.monotonic() - t_all
    table = report.render(res)
    print(table, flush=True)
    out_json = os.environ.get("BENCH_JSON") or os.path.join(args.build, "bench-results.json")
    with open(out_json, "w") as f:
        json.dump(res, f, indent=1)
    readme = os.environ.get("BENCH_README", "-" if QUICK else os.path.join(bl.HERE, "README.md"))
    if readme != "-":
        report.write_readme(res, table, readme)
        bl.log(f"wrote {readme}")
    bl.log(f"results: {out_json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
