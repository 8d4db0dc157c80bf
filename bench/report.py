"""Turns the benchmark's results (bench/bench.py) into the printed table, the
PASS/FAIL lines against the budgets, and bench/README.md."""
import benchlib as bl

MIB = 1024.0
SCRAPE_RATE_TEXT = "1000 PV events/s flowing"


def _med(runs, key):
    return bl.median([r[key] for r in runs]) if runs else None


def _rng(runs, key, scale=1.0, fmt="{:.2f}"):
    v = [r[key] / scale for r in runs]
    if not v:
        return "-"
    m = fmt.format(bl.median(v))
    if len(v) == 1:
        return m
    return f"{m} [{fmt.format(min(v))}–{fmt.format(max(v))}]"


def _f(v, fmt="{:.2f}"):
    return "-" if v is None else fmt.format(v)


def budgets(res):
    """[(name, measured text, PASS/FAIL/n/a)] against the issue's budgets."""
    out = []

    def add(name, ok, text):
        out.append((name, text, "n/a" if ok is None else ("PASS" if ok else "FAIL")))

    mem = res.get("memory")
    add("bytes retained per PV <= 200", mem and mem["bytes_per_pv"] <= 200,
        f"{mem['bytes_per_pv']:.0f} B/PV" if mem else "not run")
    sync, floor = res.get("sync"), res.get("floor")
    if sync and floor:
        d_wall = _med(sync["daemon"], "seconds")
        thr = res["bytes"]["pages"] / d_wall / 1e6
        fl = bl.median([f["mb_per_s"] for f in floor["pages"]])
        add("sync >= 50% of json-c parse throughput (same bytes)", thr >= 0.5 * fl,
            f"{thr:.0f} MB/s = {thr / fl * 100:.0f}% of {fl:.0f} MB/s (paginated lists, the default)")
        k_wall, k_rss = _med(sync["kubectl"], "seconds"), _med(sync["kubectl"], "peak_rss_kb")
        d_rss = _med(sync["daemon"], "peak_rss_kb")
        if k_wall:
            add(">= 5x faster than kubectl", k_wall / d_wall >= 5, f"{k_wall / d_wall:.1f}x")
            add("<= 1/10 the peak RSS of kubectl", d_rss * 10 <= k_rss,
                f"{d_rss / k_rss * 100:.1f}% (1/{k_rss / d_rss:.0f})")
        d_cpu = _med(sync["daemon"], "cpu_seconds")
        if d_cpu:
            per_cpu = res["bytes"]["pages"] / d_cpu / 1e6
            add("sync >= 300 MB/s of JSON per CPU-second", per_cpu >= 300, f"{per_cpu:.0f} MB/s per CPU-second")
        fe = sync.get("fetch") or []
        if fe:
            f_wall = _med(fe, "seconds")
            add("sync <= 1.5x a bare fetch of the same pages", d_wall <= 1.5 * f_wall,
                f"{d_wall:.2f} s = {d_wall / f_wall:.2f}x of {f_wall:.2f} s")
        d_steady = _med(sync["daemon"], "steady_rss_kb")
        add("peak RSS during sync <= steady RSS + 8 MiB", d_rss <= d_steady + 8 * 1024,
            f"peak {d_rss / 1024:.0f} MiB, steady {d_steady / 1024:.0f} MiB")
        base = mem["intercept_bytes"] if mem else 0
        per_obj = (d_steady * 1024 - base) / res["cluster"]["objects"]
        add("<= 120 B retained per object (PV/PVC/snapshot/node mix)", per_obj <= 120,
            f"{per_obj:.0f} B/object" + (" (steady RSS minus the PV fit's intercept)" if mem else " (steady RSS)"))
    else:
        add("sync >= 50% of json-c parse throughput (same bytes)", None, "not run")
    ev = res.get("events")
    if ev:
        ok_steps = [s for s in ev["steps"] if s["target"] and s.get("kept_up")]
        best = max(ok_steps, key=lambda s: s["handled_per_s"]) if ok_steps else None
        good = [s for s in ok_steps if s["handled_per_s"] >= 50000 and s["lag_p99_ms"] < 50]
        if best:
            text = f"{best['handled_per_s']:.0f}/s sustained, p99 lag {best['lag_p99_ms']:.1f} ms"
        else:
            text = "no rate sustained"
        add(">= 50k watch events/s sustained, p99 lag < 50 ms", bool(good), text)
        at1k = [s for s in ev["steps"] if s["target"] == 1000 and s.get("lag_p99_ms") is not None]
        if at1k:
            add("PV change lag p99 <= 20 ms (at 1000 events/s), change visible in /metrics",
                at1k[0]["lag_p99_ms"] <= 20, f"{at1k[0]['lag_p99_ms']:.1f} ms"
                + (f" (in /debug/store: {at1k[0]['store_lag_p99_ms']:.1f} ms)" if "store_lag_p99_ms" in at1k[0] else ""))
    scrapes = res.get("scrapes") or ([res["scrape"]] if res.get("scrape") else [])
    for want, limit in ((20000, 10), (100000, 40)):
        # the run's scrape of about that many series (the mutator adds and deletes a few)
        at = [sc for sc in scrapes if abs(sc["pv_series"] - want) <= want // 10]
        if not at:
            continue
        sc = at[0]
        p99 = bl.pct(sc["latency_s"], 99) * 1000
        gz = bl.pct(sc["gzip_latency_s"], 99) * 1000
        add(f"/metrics p99 <= {limit} ms at {want // 1000}k per-PV series, {SCRAPE_RATE_TEXT} "
            f"(measured at {sc['pv_series']}, {sc['events_per_s']:.0f} events/s)", p99 <= limit,
            f"{p99:.1f} ms (gzip {gz:.1f} ms)")
    idle = res.get("idle")
    if idle:
        add("idle CPU < 0.1%", idle["cpu_pct"] < 0.1, f"{idle['cpu_pct']:.4f}%")
        add("idle <= 1 wakeup/s", idle["wakeups_per_s"] <= 1.0, f"{idle['wakeups_per_s']:.2f}/s")
    return out


def render(res):
    L = []
    m = res["machine"]
    L.append(f"Machine: {m['nproc']} cores, {m['cpu']}, {m['mem_gib']} GiB, Linux {m['kernel']}; "
             f"{'QUICK, ' if res['quick'] else ''}repeat {res['repeat']} (peers {res['peer_repeat']}); "
             f"medians [min–max]")
    sync, floor = res.get("sync"), res.get("floor")
    if sync:
        c, b = res["cluster"], res["bytes"]
        L.append("")
        L.append(f"## Initial sync: {c['pvs']} PVs + {c['pvcs']} PVCs + {c['snapshots']} VolumeSnapshots + "
                 f"{c['nodes']} Nodes ({c['objects']} objects)")
        L.append("")
        L.append(f"JSON received by the daemon: paginated lists (limit=500, the default): {b['pages'] / 1e6:.1f} MB "
                 f"in {b['page_count']} pages ({b['pages_wire'] / 1e6:.1f} MB on the wire, gzip); streaming lists "
                 f"(ABC_STREAMING_LIST=1): {b['watch_list'] / 1e6:.1f} MB in {b['watch_events']} lines. "
                 f"kubectl/Python list pv,pvc only: {b['pages_pv_pvc'] / 1e6:.1f} MB.")
        L.append("")
        L.append("| who | what | wall s | CPU s | peak RSS MiB | steady RSS MiB | MB/s (wall) |")
        L.append("|---|---|---|---|---|---|---|")
        d, ds = sync["daemon"], sync.get("daemon_stream") or []
        L.append(f"| daemon | all {c['objects']} objects to /readyz/synced, paginated lists | {_rng(d, 'seconds')} | "
                 f"{_rng(d, 'cpu_seconds')} | {_rng(d, 'peak_rss_kb', MIB, '{:.0f}')} | "
                 f"{_rng(d, 'steady_rss_kb', MIB, '{:.0f}')} | {b['pages'] / _med(d, 'seconds') / 1e6:.0f} |")
        db = sync.get("daemon_base") or []
        if db:
            L.append(f"| daemon (base) | the same, paginated lists, BENCH_BASE_BIN={res.get('base_bin', '')} | "
                     f"{_rng(db, 'seconds')} | {_rng(db, 'cpu_seconds')} | {_rng(db, 'peak_rss_kb', MIB, '{:.0f}')} | "
                     f"{_rng(db, 'steady_rss_kb', MIB, '{:.0f}')} | {b['pages'] / _med(db, 'seconds') / 1e6:.0f} |")
        if ds:
            L.append(f"| daemon | the same, streaming lists (ABC_STREAMING_LIST=1) | {_rng(ds, 'seconds')} | "
                     f"{_rng(ds, 'cpu_seconds')} | {_rng(ds, 'peak_rss_kb', MIB, '{:.0f}')} | "
                     f"{_rng(ds, 'steady_rss_kb', MIB, '{:.0f}')} | {b['watch_list'] / _med(ds, 'seconds') / 1e6:.0f} |")
        for who, label in (("kubectl", "kubectl get pv,pvc -A -o name --chunk-size=500"),
                           ("python", "python3-kubernetes list pv, pvc (limit=500)")):
            r = sync[who]
            if r:
                L.append(f"| {who} | {label} ({r[0]['objects']} objects) | {_rng(r, 'seconds')} | "
                         f"{_rng(r, 'cpu_seconds')} | {_rng(r, 'peak_rss_kb', MIB, '{:.0f}')} | - | "
                         f"{b['pages_pv_pvc'] / _med(r, 'seconds') / 1e6:.0f} |")
        if floor:
            fp = bl.median([f["mb_per_s"] for f in floor["pages"]])
            fl = bl.median([f["mb_per_s"] for f in floor["lines"]])
            mc = bl.median([f["mb_per_s"] for f in floor["memchr"]])
            L.append(f"| floor | json-c json_tokener_parse per 500-item page, the daemon's page bytes | "
                     f"{_rng(floor['pages'], 'seconds')} | | {floor['pages'][0]['peak_rss_kb'] / MIB:.0f} (input held)"
                     f" | | {_rng(floor['pages'], 'mb_per_s', 1, '{:.0f}')} |")
            L.append(f"| floor | json-c per event line, the streaming-list bytes | {_rng(floor['lines'], 'seconds')} | | "
                     f"{floor['lines'][0]['peak_rss_kb'] / MIB:.0f} (input held) | | "
                     f"{_rng(floor['lines'], 'mb_per_s', 1, '{:.0f}')} |")
            if floor.get("yajl_pages"):
                L.append(f"| floor | yajl walk (no tree), the daemon's page bytes in 64 KiB chunks | "
                         f"{_rng(floor['yajl_pages'], 'seconds')} | | | | "
                         f"{_rng(floor['yajl_pages'], 'mb_per_s', 1, '{:.0f}')} |")
                L.append(f"| floor | yajl walk (no tree), the streaming-list bytes | "
                         f"{_rng(floor['yajl_lines'], 'seconds')} | | | | "
                         f"{_rng(floor['yajl_lines'], 'mb_per_s', 1, '{:.0f}')} |")
            if floor.get("own_pages"):
                L.append(f"| floor | the daemon's own lexer stepping over every object (grammar checked, nothing "
                         f"copied), the page bytes in 64 KiB chunks | {_rng(floor['own_pages'], 'seconds')} | | | | "
                         f"{_rng(floor['own_pages'], 'mb_per_s', 1, '{:.0f}')} |")
                L.append(f"| floor | the daemon's own lexer, the streaming-list bytes | "
                         f"{_rng(floor['own_lines'], 'seconds')} | | | | "
                         f"{_rng(floor['own_lines'], 'mb_per_s', 1, '{:.0f}')} |")
            fe = sync.get("fetch") or []
            if fe:
                L.append(f"| fetch | bare fetch of the same pages from kubesim (gzip inflated, not parsed) | "
                         f"{_rng(fe, 'seconds')} | {_rng(fe, 'cpu_seconds')} | | | "
                         f"{b['pages'] / _med(fe, 'seconds') / 1e6:.0f} |")
            L.append(f"| floor | memchr '\\n' over the page bytes | | | | | "
                     f"{_rng(floor['memchr'], 'mb_per_s', 1, '{:.0f}')} |")
            L.append("")
            if db and fe:
                fw = _med(fe, "seconds")
                L.append(f"Paginated sync against the bare fetch, side by side: {_med(d, 'seconds') / fw:.2f}x "
                         f"(base binary {_med(db, 'seconds') / fw:.2f}x).")
            L.append(f"Daemon steady RSS per object (all kinds): "
                     f"{_med(d, 'steady_rss_kb') * 1024 / c['objects']:.0f} bytes.")
            dthr = b["pages"] / _med(d, "seconds") / 1e6
            dcpu = b["pages"] / _med(d, "cpu_seconds") / 1e6
            L.append(f"Daemon sync throughput (paginated): {dthr:.0f} MB/s wall ({dcpu:.0f} MB/s per CPU-second) = "
                     f"{dthr / fp * 100:.0f}% of json-c alone on the same pages ({dcpu / fp * 100:.0f}% per "
                     f"CPU-second), {dthr / mc * 100:.2f}% of memchr.")
            if ds:
                sthr = b["watch_list"] / _med(ds, "seconds") / 1e6
                scpu = b["watch_list"] / _med(ds, "cpu_seconds") / 1e6
                L.append(f"Daemon sync throughput (streaming): {sthr:.0f} MB/s wall ({scpu:.0f} MB/s per CPU-second) = "
                         f"{sthr / fl * 100:.0f}% of json-c alone per event line ({scpu / fl * 100:.0f}% per "
                         f"CPU-second).")
        k = sync["kubectl"]
        if k:
            L.append(f"Versus kubectl (which lists only pv,pvc): {_med(k, 'seconds') / _med(d, 'seconds'):.1f}x "
                     f"faster, peak RSS {_med(d, 'peak_rss_kb') / _med(k, 'peak_rss_kb') * 100:.1f}% of "
                     f"kubectl's; per object {(_med(k, 'seconds') / k[0]['objects']) / (_med(d, 'seconds') / c['objects']):.1f}x.")
        p = sync["python"]
        if p:
            L.append(f"Versus the Python client (pv,pvc; it keeps one page at a time): "
                     f"{_med(p, 'seconds') / _med(d, 'seconds'):.1f}x faster, "
                     f"peak RSS {_med(d, 'peak_rss_kb') / _med(p, 'peak_rss_kb') * 100:.0f}% of Python's.")
    ev = res.get("events")
    if ev:
        L.append("")
        L.append(f"## Watch events: kubesim mutator on PVs (base {ev['base_pvs']} PVs, mix add 1 : update 2 : "
                 f"delete 1, {ev['step_seconds']:.0f} s per step); lag = marker PV applied -> its changed "
                 f"line in /metrics (store lag: -> the daemon's PV reflector at its resourceVersion, /debug/store)")
        L.append("")
        L.append("Lag is timed from sending the change (upper bound); \"from reply\" from kubesim's answer to "
                 "/apply (lower bound: the change committed in between; kubesim's lock wait widens the gap).")
        L.append("")
        L.append("| target/s | kubesim made/s | daemon handled/s | backlog at end | lag p50 ms | lag p99 ms | "
                 "lag max ms | lag from reply p50/p99 ms | store lag p50/p99 ms | /apply p99 ms | kubesim CPU % | "
                 "daemon CPU % | daemon CPU µs/event | note |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in ev["steps"]:
            if s.get("saturated"):
                L.append(f"| {s['target']} | - | - | - | - | - | - | - | - | - | - | - | - | kubesim saturated (starved, killed) |")
                continue
            note = []
            if s["kubesim_bound"]:
                note.append("kubesim-bound")
            if not s["kept_up"]:
                note.append("lagging" + (" while the daemon idles part of the time: kubesim's watch delivery bound"
                                         if s["cpu_pct"] < 70 else ""))
            if s.get("relists") or s.get("watch_restarts"):
                note.append(f"{s['watch_restarts']:.0f} watch restarts, {s['relists']:.0f} relists")
            if s["lost"]:
                note.append(f"{s['lost']} markers timed out")
            L.append(f"| {s['target']} | {s['produced_per_s']:.0f} | {s['handled_per_s']:.0f} | "
                     f"{s['backlog_end']:.0f} | {s['lag_p50_ms']:.1f} | {s['lag_p99_ms']:.1f} | "
                     f"{_f(s['lag_max_ms'], '{:.1f}')} | {s['lag_reply_p50_ms']:.1f}/{s['lag_reply_p99_ms']:.1f} | "
                     f"{_f(s.get('store_lag_p50_ms'), '{:.1f}')}/{_f(s.get('store_lag_p99_ms'), '{:.1f}')} | "
                     f"{s['apply_rtt_p99_ms']:.1f} | {s['kubesim_cpu_pct']:.0f} | {s['cpu_pct']:.0f} | {_f(s['cpu_us_per_event'], '{:.1f}')} | "
                     f"{', '.join(note)} |")
        ok = [s for s in ev["steps"] if s.get("kept_up") and s["target"] and s["cpu_us_per_event"]]
        if ok:
            best = max(ok, key=lambda s: s["handled_per_s"])
            us = best["cpu_us_per_event"]
            L.append("")
            L.append(f"Highest rate kept up: {best['handled_per_s']:.0f} events/s; there the daemon spent {us:.1f} µs "
                     f"of CPU per event (lag probes included) = {1e6 / us:.0f} events per CPU-second.")
    b = res.get("events_burst")
    if b:
        L.append(f"Burst drain (the daemon's own capacity): {b['queued']} PV changes queued in kubesim while the "
                 f"daemon was stopped (SIGSTOP), then handled in {b['seconds']:.2f} s = {b['per_s']:.0f} events/s "
                 f"at {_f(b['cpu_us_per_event'], '{:.1f}')} µs CPU/event"
                 + ("" if b["complete"] else " (incomplete after 60 s)") + ".")
    for sc in res.get("scrapes") or ([res["scrape"]] if res.get("scrape") else []):
        lat = sc["latency_s"]
        L.append("")
        L.append(f"## /metrics scrape: {sc['pv_series']} per-PV series, {len(lat)} scrapes while "
                 f"{sc['events_per_s']:.0f} PV events/s flow (curl, connect to last byte)")
        L.append(f"plain text: p50 {bl.pct(lat, 50) * 1000:.1f} ms, p99 {bl.pct(lat, 99) * 1000:.1f} ms, "
                 f"max {max(lat) * 1000:.1f} ms, {sc['bytes'] / 1e6:.1f} MB; gzip: p50 "
                 f"{bl.pct(sc['gzip_latency_s'], 50) * 1000:.1f} ms, p99 {bl.pct(sc['gzip_latency_s'], 99) * 1000:.1f}"
                 f" ms, {sc['gzip_bytes'] / 1e6:.2f} MB")
        if sc.get("cpu_s"):
            L.append(f"daemon CPU per scrape (events' own CPU, {sc['events_cpu_pct']:.1f}% of a core, taken out): "
                     f"plain p50 {bl.pct(sc['cpu_s'], 50) * 1000:.1f} ms, p99 {bl.pct(sc['cpu_s'], 99) * 1000:.1f} ms; "
                     f"gzip p50 {bl.pct(sc['gzip_cpu_s'], 50) * 1000:.1f} ms, "
                     f"p99 {bl.pct(sc['gzip_cpu_s'], 99) * 1000:.1f} ms")
        if sc.get("quiet_latency_s"):
            q = sc["quiet_latency_s"]
            L.append(f"without events flowing ({len(q)} scrapes): p50 {bl.pct(q, 50) * 1000:.1f} ms, "
                     f"p99 {bl.pct(q, 99) * 1000:.1f} ms")
    idle = res.get("idle")
    if idle:
        L.append("")
        L.append(f"## Idle: {idle['seconds']:.0f} s without changes (after the sync, {idle['threads']} threads, "
                 f"RSS {idle['rss_kb'] / MIB:.0f} MiB)")
        perf = ""
        if "perf_task_clock_ms" in idle:
            perf = (f"; perf stat: task-clock {idle['perf_task_clock_ms']:.1f} ms, "
                    f"{idle.get('perf_context_switches', 0)} context switches")
        L.append(f"CPU {idle['cpu_pct']:.4f}% ({'perf task-clock; ' if perf else ''}/proc utime+stime "
                 f"{idle['cpu_seconds']:.2f} s), {idle['ctxt_switches']} context "
                 f"switches = {idle['wakeups_per_s']:.2f} wakeups/s{perf}")
    mem = res.get("memory")
    if mem:
        L.append("")
        L.append("## Memory per object: steady RSS after sync vs PV count")
        L.append("")
        L.append("| PVs | steady RSS MiB | peak RSS MiB | sync s |")
        L.append("|---|---|---|---|")
        for p in mem["points"]:
            L.append(f"| {p['pvs']} | {p['steady_rss_kb'] / MIB:.1f} | {p['peak_rss_kb'] / MIB:.1f} | "
                     f"{p['seconds']:.2f} |")
        L.append("")
        L.append(f"Linear fit: {mem['bytes_per_pv']:.0f} bytes per PV, intercept "
                 f"{mem['intercept_bytes'] / 1048576:.1f} MiB")
    h2 = res.get("http2")
    if h2:
        L.append("")
        L.append(f"## Initial sync over TLS: HTTP/2 vs HTTP/1.1 (the same {h2['objects']} objects)")
        L.append("")
        L.append("| protocol | path | wall s | CPU s | peak RSS MiB | connections |")
        L.append("|---|---|---|---|---|---|")
        for key, proto, path in (("h2", "HTTP/2 (h2 by ALPN)", "nghttpx front -> kubesim"),
                                 ("http1_front", "HTTP/1.1 (kubernetes.http2=false)", "nghttpx front -> kubesim"),
                                 ("http1_direct", "HTTP/1.1", "kubesim's TLS listener (no proxy)")):
            r = h2.get(key) or []
            if not r:
                continue
            conns = "-" if key == "http1_direct" else str(max(x["connections"] for x in r))
            L.append(f"| {proto} | {path} | {_rng(r, 'seconds')} | {_rng(r, 'cpu_seconds')} | "
                     f"{_rng(r, 'peak_rss_kb', MIB, '{:.0f}')} | {conns} |")
    L.append("")
    L.append("## Budgets")
    L.append("")
    L.append("| budget | measured | verdict |")
    L.append("|---|---|---|")
    for name, text, verdict in budgets(res):
        L.append(f"| {name} | {text} | {verdict} |")
    L.append("")
    L.append(f"Total benchmark time: {res['total_seconds']:.0f} s")
    return "\n".join(L)


README_HEAD = """# Benchmarks

`make bench` (= `bench/run.sh build`) runs kubesim over plain HTTP with generated
clusters and measures the daemon side by side, in the same run, with the tools a
user would otherwise pick (real `kubectl`, the official Python client) and with
the floor: json-c and yajl parsing the very same bytes alone, the daemon's own
lexer stepping over them (`bench/floor.c` compiles `daemon/kube/sax*.c` in), `memchr` over
them, and a bare fetch of the same pages from kubesim (gzip inflated, nothing
parsed: what any client of that kubesim must spend).
Compare ratios within one run: the machine is shared and absolute figures move.

- **sync**: time from the daemon's start to `/readyz/synced` (every reflector's
  first list: paginated, limit=500, by default; streaming lists, watch with
  `sendInitialEvents`, with `ABC_STREAMING_LIST=1`, measured too),
  CPU (`/proc/<pid>/stat`), peak RSS (`VmHWM`), RSS 3 s after sync. Peers:
  `kubectl get pv,pvc -A -o name --chunk-size=500` and `bench/pyclient.py`
  under `/usr/bin/time` (they list pv,pvc only, 2/3 of the daemon's objects;
  their pages >= 128 KiB come gzipped as from kube-apiserver, the daemon's
  watch streams do not). Floor: `bench/floor.c` on the list pages and the
  streams captured from kubesim once (the very bytes the daemon receives).
- **events**: kubesim's `/mutator` at increasing rates; a marker PV applied
  through `/apply` (bound to a claim named after its sequence number, so its
  line changes) and polled in `/metrics` gives the lag, and in `/debug/store`
  (`ABC_DEBUG_ENDPOINTS=1`) the store lag; stops at the first rate kubesim cannot make or the daemon cannot keep.
  Then a burst: the daemon is stopped (SIGSTOP) while kubesim queues changes,
  and continued; its catch-up rate is its own capacity, kubesim's aside.
- **scrape**: `/metrics` by curl (plain text, and gzip every 4th) at 20k and 100k
  per-PV series while 1000 PV events/s flow (the sync phase's cluster when it
  has that many PVs, else a PV-only cluster started for it).
- **idle**: CPU and context switches (all threads) over `BENCH_IDLE_SECONDS`.
- **memory**: steady RSS after sync at several PV counts, linear fit.
- **http2**: the large cluster's sync over TLS, HTTP/2 against HTTP/1.1: kubesim
  behind the tests' HTTP/2 front (`nghttpx`, h2 and http/1.1 by ALPN), the daemon
  once as it runs (h2) and once with `kubernetes.http2=false` through the same
  front, and once on kubesim's own TLS listener (HTTP/1.1, no proxy hop).

`bench/parse.c` (not run by `make bench`) times list pages through the
daemon's streaming parser, records included, against a json-c tree per page
with the same extractor; build and run it as its header says, under
`valgrind --tool=callgrind` for instruction counts on a busy machine.
`bench/heap.c` (not run by `make bench`) measures the PV path in-process,
without kubesim or sockets: N synthetic PVs through extract, store and engine,
then heap bytes per PV (`mallinfo2`, exact where RSS also holds fragmentation
and the other writers' state) and the CPU time of rendering `/metrics`; build
and run it as its header says (`heap 100000 30 100`: 100k PVs, 30 renders,
100 PV updates between renders).

Knobs: `BENCH_QUICK=1` (20k PVs, idle 10 s, one repeat, < 3 min, no README
update), `BENCH_REPEAT` (3), `BENCH_PEER_REPEAT` (= repeat), `BENCH_IDLE_SECONDS`
(60), `BENCH_PHASES` (sync,scrape,idle,memory,events,http2), `BENCH_README` (`-` = do
not write), `BENCH_JSON` (raw results; default `<build>/bench-results.json`),
`BENCH_BASE_BIN` (another daemon binary, e.g. main's: its paginated sync is
measured in the same repetitions, a row beside the daemon's).

## Latest figures
"""


NOTES_MARK = "<!-- hand-written notes below this line are kept by bench.py -->"


def write_readme(res, table, path):
    """Rewrites path with the latest figures; keeps the hand-written notes
    that follow NOTES_MARK in the existing file."""
    notes = ""
    try:
        with open(path) as f:
            old = f.read()
        if NOTES_MARK in old:
            notes = old.split(NOTES_MARK, 1)[1]
    except OSError:
        pass
    m = res["machine"]
    with open(path, "w") as f:
        f.write(README_HEAD)
        f.write(f"\nRun {res['started']} with `{res['command']}` on {m['nproc']} cores ({m['cpu']}), "
                f"{m['mem_gib']} GiB RAM, Linux {m['kernel']}. perf hardware counters: "
                f"{'yes' if res['perf_hw'] else 'not supported'}; software counters: "
                f"{'yes' if res['perf_sw'] else 'no'}.\n\n")
        f.write(table.split("\n", 1)[1] if table.startswith("Machine:") else table)
        f.write("\n\n" + NOTES_MARK + (notes if notes else "\n"))
