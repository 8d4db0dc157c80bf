"""Helpers of the benchmark (bench/bench.py): /proc readings, statistics,
kubesim and daemon processes on top of tests/integration/harness.py, the
floor capture (the exact bytes the daemon receives) and timed peers."""
import http.client
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SRCROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRCROOT, "tests", "integration"))
import harness  # noqa: E402  (tests/integration/harness.py)

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- /proc
def proc_cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def proc_ctxt_switches(pid):
    """voluntary + nonvoluntary context switches summed over every thread."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches:" in line:
                        total += int(line.split()[1])
        except OSError:
            pass  # thread ended meanwhile
    return total


def proc_threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


# ---------------------------------------------------------------- statistics
def median(v):
    return statistics.median(v) if v else None


def pct(v, p):
    """Nearest-rank percentile (p in 0..100)."""
    if not v:
        return None
    s = sorted(v)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def linfit(xs, ys):
    """Least squares y = a + b x; returns (a, b)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    b = sxy / sxx if sxx else 0.0
    return my - b * mx, b


def summary(v):
    """{"median","min","max","n"} of a list of numbers."""
    return {"median": median(v), "min": min(v) if v else None, "max": max(v) if v else None,
            "n": len(v), "values": list(v)}


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- kubesim
class KubesimSaturated(Exception):
    pass


class Kubesim(harness.Kubesim):
    """harness.Kubesim over plain HTTP, without fixtures, with generated
    objects; waits as long as generating a large cluster takes."""

    def __init__(self, generate, extra_args=(), start_timeout=600):
        self.start_timeout = start_timeout
        args = []
        for kind, n in generate.items():
            if n:
                args += ["--generate", f"{kind}={n}"]
        super().__init__(seed_dirs=[], tls=False, extra_args=args + list(extra_args), start=False)
        self.start()

    def start(self):
        log_f = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.PIPE, stderr=log_f)
        log_f.close()
        r, _, _ = select.select([self.proc.stdout], [], [], self.start_timeout)
        line = self.proc.stdout.readline() if r else b""
        if not line:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("kubesim did not start: " + self.log_text()[-2000:])
        info = json.loads(line)
        self.api, self.control = info["api"], info["control"]
        self.api_port = urllib.parse.urlsplit(self.api).port
        self.control_port = urllib.parse.urlsplit(self.control).port
        self.ssl_ctx = None
        return self

    def stop(self):
        # A mutator running flat out can hold kubesim's lock; stop it first.
        if self.proc and self.proc.poll() is None:
            try:
                self.mutator_stop()
            except KubesimSaturated:
                pass
        super().stop()

    def mutator(self, rate, seed=1, mix=None):
        body = {"rate": int(rate), "resource": "persistentvolumes", "seed": seed,
                "mix": mix or {"add": 1, "update": 2, "delete": 1}}
        return self.control_post("/mutator", body)

    def mutator_stop(self, patience=45.0):
        """Stops the mutator. A mutator asked for more than kubesim can make
        holds kubesim's lock and starves the control endpoint; after
        `patience` seconds kubesim is killed and KubesimSaturated raised."""
        deadline = time.monotonic() + patience
        while True:
            try:
                u = urllib.parse.urlsplit(self.control)
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
                conn.request("POST", "/mutator", body=json.dumps({"rate": 0}),
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status < 300:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                self.proc.stdout.close()
                self.proc = None
                raise KubesimSaturated("kubesim's control endpoint starved by its mutator; killed")

    def mutator_state(self):
        return self.control_get("/mutator")


# ---------------------------------------------------------------- daemon
class TlsKubesim(harness.Kubesim):
    """harness.Kubesim over TLS with generated objects and no fixtures: its own
    TLS listener (HTTP/1.1) and, with http=2, the harness's HTTP/2 front
    (nghttpx, h2 and http/1.1 by ALPN) before its plain backend listener."""

    def __init__(self, generate, extra_args=(), http=2, start_timeout=600):
        self.start_timeout = start_timeout
        args = []
        for kind, n in generate.items():
            if n:
                args += ["--generate", f"{kind}={n}"]
        super().__init__(seed_dirs=[], tls=True, extra_args=args + list(extra_args), http=http)


class Daemon(harness.Daemon):
    """harness.Daemon plus the start time and /proc readings."""

    def __init__(self, kubesim, env=None, kubeconfig=None):
        super().__init__(kubesim=kubesim, env=env, start=False, kubeconfig=kubeconfig)
        self.conn = None

    def start(self):
        self.t_start = time.monotonic()
        return super().start()

    @property
    def pid(self):
        return self.proc.pid

    def wait_synced(self, timeout=900, interval=0.02):
        """Seconds from start to /readyz/synced answering 200."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                if self.get("/readyz/synced", timeout=5)[0] == 200:
                    return time.monotonic() - self.t_start
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("daemon did not sync in time")
            time.sleep(interval)

    def get_keepalive(self, path, timeout=10):
        """GET over one kept-alive connection; (status, body bytes)."""
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                self.conn.request("GET", path)
                resp = self.conn.getresponse()
                body = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, body
            except (OSError, http.client.HTTPException):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise
        return None

    def pv_counters(self, resource="persistentvolumes"):
        """{"events": ADDED+MODIFIED+DELETED, "restarts": watch restarts,
        "relists": lists after the first} of one resource, from /metrics."""
        code, body = self.get_keepalive("/metrics", timeout=60)
        if code != 200:
            raise RuntimeError(f"/metrics answered {code}")
        out = {"events": 0.0, "restarts": 0.0, "relists": 0.0}
        res = f'resource="{resource}"'.encode()
        for line in body.split(b"\n"):
            if res not in line:
                continue
            if line.startswith(b"aks_backup_watch_events_total{"):
                if b'type="BOOKMARK"' not in line and b'type="ERROR"' not in line:
                    out["events"] += float(line.rsplit(b" ", 1)[1])
            elif line.startswith(b"aks_backup_watch_restarts_total{"):
                out["restarts"] += float(line.rsplit(b" ", 1)[1])
            elif line.startswith(b"aks_backup_relists_total{"):
                out["relists"] += float(line.rsplit(b" ", 1)[1])
        return out

    def events_total(self, resource="persistentvolumes"):
        """Sum of aks_backup_watch_events_total{resource} over ADDED/MODIFIED/DELETED."""
        return self.pv_counters(resource)["events"]

    def kill(self):
        """Ends the daemon (SIGKILL) and removes its temporary directory."""
        if self.conn:
            self.conn.close()
            self.conn = None
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- floor capture
INITIAL_END = b'"k8s.io/initial-events-end":"true"'


def capture_watch_list(ks, path, out_path):
    """Streams a watch with sendInitialEvents (what the daemon's reflector
    asks for) and writes its lines up to the initial-events-end bookmark into
    out_path. Returns (bytes, events)."""
    u = urllib.parse.urlsplit(ks.api)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    q = "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    conn.request("GET", f"{path}?{q}", headers={"Accept": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"watch {path} answered {resp.status}")
    total = 0
    tail = b""
    with open(out_path, "wb") as f:
        while True:
            block = resp.read1(1 << 20)
            if not block:
                raise RuntimeError(f"watch {path} ended before the initial-events-end bookmark")
            look = tail + block
            i = look.find(INITIAL_END)
            if i >= 0:
                end = look.index(b"\n", i) + 1 - len(tail)
                f.write(block[:end])
                total += end
                break
            f.write(block)
            total += len(block)
            tail = look[-len(INITIAL_END):]
    conn.close()
    with open(out_path, "rb") as f:
        events = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 22), b""))
    return total, events


def capture_pages(ks, path, out_dir, prefix):
    """Lists path 500 at a time (as the daemon and kubectl --chunk-size=500
    do), accepting gzip as they do, and writes each page's JSON into out_dir;
    returns (JSON bytes, bytes on the wire, files)."""
    u = urllib.parse.urlsplit(ks.api)
    files, total, wire, token, i = [], 0, 0, "", 0
    while True:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        q = "limit=500" + ("&continue=" + urllib.parse.quote(token) if token else "")
        conn.request("GET", f"{path}?{q}", headers={"Accept": "application/json", "Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"list {path} answered {resp.status}")
        wire += len(body)
        if (resp.getheader("Content-Encoding") or "").lower() == "gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        fn = os.path.join(out_dir, f"{prefix}-{i:05d}.json")
        with open(fn, "wb") as f:
            f.write(body)
        files.append(fn)
        total += len(body)
        i += 1
        token = json.loads(body)["metadata"].get("continue") or ""
        if not token:
            return total, wire, files


def bare_fetch(ks, paths):
    """Fetches every page of every path (limit=500, gzip accepted and
    inflated, as the daemon does), one thread per resource as the daemon's
    reflectors run side by side, without parsing: the continue token is
    found by a byte search. The floor a client of kubesim cannot beat.
    Returns (wall seconds, CPU seconds of this process, JSON bytes)."""
    import threading
    u = urllib.parse.urlsplit(ks.api)
    key = b'"continue":"'
    totals = []

    def one(path):
        token, total = "", 0
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        while True:
            q = "limit=500" + ("&continue=" + urllib.parse.quote(token) if token else "")
            conn.request("GET", f"{path}?{q}", headers={"Accept": "application/json", "Accept-Encoding": "gzip"})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"list {path} answered {resp.status}")
            if (resp.getheader("Content-Encoding") or "").lower() == "gzip":
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            total += len(body)
            i = body.find(key, 0, 4096)
            if i < 0:
                i = body.rfind(key)
            token = ""
            if i >= 0:
                j = body.index(b'"', i + len(key))
                token = body[i + len(key):j].decode()
            if not token:
                conn.close()
                totals.append(total)
                return

    t0, c0 = time.monotonic(), time.process_time()
    threads = [threading.Thread(target=one, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, time.process_time() - c0, sum(totals)


def run_floor(floor_bin, mode, min_seconds, files):
    p = subprocess.run([floor_bin, mode, str(min_seconds)] + list(files), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"floor {mode} failed: {p.stderr}")
    return json.loads(p.stdout)


# ---------------------------------------------------------------- peers
def timed(cmd, env=None, stdout_path=os.devnull, timeout=3600):
    """Runs cmd under /usr/bin/time; returns {"seconds","peak_rss_kb","cpu_seconds","rc"}."""
    tfile = stdout_path + ".time" if stdout_path != os.devnull else f"/tmp/bench-time-{os.getpid()}"
    with open(stdout_path, "wb") as out:
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S", "-o", tfile] + list(cmd), stdout=out,
                           stderr=subprocess.PIPE, env=env, timeout=timeout)
        wall = time.monotonic() - t0
    with open(tfile) as f:
        parts = f.read().strip().splitlines()[-1].split()
    os.unlink(tfile)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}: {p.stderr.decode(errors='replace')[-1000:]}")
    return {"seconds": wall, "peak_rss_kb": int(parts[1]), "cpu_seconds": float(parts[2]) + float(parts[3])}


def perf_works():
    """True when `perf stat` counts software events here (hardware ones are
    often <not supported> in VMs)."""
    try:
        p = subprocess.run(["perf", "stat", "-x,", "-e", "task-clock,context-switches", "true"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0 and "not supported" not in p.stderr and "context-switches" in p.stderr


def hw_perf_works():
    try:
        p = subprocess.run(["perf", "stat", "-x,", "-e", "instructions", "true"], capture_output=True, text=True,
                           timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0 and "not supported" not in p.stderr


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = proc_meminfo("MemTotal")
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": os.uname().release}


def proc_meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0
