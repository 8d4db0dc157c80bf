"""Shared helpers for the integration tests (standard library only).

Kubesim  -- starts tests/kubesim (KUBESIM_BIN) on free ports, writes a kubeconfig,
            talks to its control endpoint and to its API (raw HTTP with the CA).
Daemon   -- starts aks-backup-companion (ABC_BIN) against a kubeconfig, reads its
            JSON log lines, HTTP endpoints and Prometheus metrics.
Results  -- the tiny test runner: each test file ends with `sys.exit(R.finish())`
            and prints "N passed, N failed" as its last line.
"""
import http.client
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

SRCROOT = os.environ.get("ABC_SRCROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDROOT = os.environ.get("ABC_BUILDROOT", os.path.join(SRCROOT, "build"))
FIXTURES = os.path.join(SRCROOT, "tests", "fixtures")
KUBESIM_BIN = os.environ.get("KUBESIM_BIN", os.path.join(BUILDROOT, "tests", "kubesim", "kubesim"))
ABC_BIN = os.environ.get("ABC_BIN", os.path.join(BUILDROOT, "daemon", "aks-backup-companion"))
KUBECTL = os.environ.get("KUBECTL", os.path.join(BUILDROOT, "tools", "kubectl"))
NGHTTPX = os.environ.get("NGHTTPX") or shutil.which("nghttpx") or "/usr/sbin/nghttpx"
# KUBESIM_HTTP=2 (tests/integration/meson.build sets it for the *_h2 runs of
# a suite): every TLS Kubesim is reached through an HTTP/2 front, as AKS
# serves its API server (ALPN h2 beside http/1.1). Otherwise HTTP/1.1 only.
KUBESIM_HTTP = os.environ.get("KUBESIM_HTTP", "1.1")


# ---------------------------------------------------------------- runner
class Results:
    """Collects test functions (@R.test) and runs them in order; command-line
    arguments select tests by name."""

    def __init__(self):
        self.tests = []

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def finish(self):
        passed = failed = 0
        only = sys.argv[1:]
        for fn in self.tests:
            if only and fn.__name__ not in only:
                continue
            t0 = time.monotonic()
            try:
                fn()
                passed += 1
                print(f"ok   {fn.__name__} ({time.monotonic() - t0:.1f} s)", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {fn.__name__} ({time.monotonic() - t0:.1f} s)", flush=True)
                traceback.print_exc(file=sys.stdout)
        print(f"{passed} passed, {failed} failed", flush=True)
        return 1 if failed else 0


def wait_for(cond, timeout=10.0, interval=0.05, what="condition"):
    """Polls cond() until it returns a truthy value; returns it or raises."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ControlError(Exception):
    def __init__(self, code, body):
        super().__init__(f"control answered {code}: {body}")
        self.code = code
        self.body = body


class WatchStream:
    """A streaming GET (watch) on the API; .next(timeout) returns the next
    parsed event, None at a clean end of stream; raises on a broken stream."""

    def __init__(self, conn, resp):
        self.conn = conn
        self.resp = resp
        self.status = resp.status
        self.headers = dict(resp.getheaders())
        self.clean_end = False
        orig = resp._read_next_chunk_size

        def next_chunk_size():  # notes the terminating zero-size chunk
            n = orig()
            if n == 0:
                self.clean_end = True
            return n
        resp._read_next_chunk_size = next_chunk_size

    def next_line(self, timeout=10.0):
        self.conn.sock.settimeout(timeout)
        line = self.resp.readline()
        if not line:
            # http.client's readline hides a cut chunked stream: only a clean
            # end has read the terminating zero-size chunk.
            if self.resp.chunked and not self.clean_end:
                raise http.client.IncompleteRead(b"")
            return None
        return line

    def next(self, timeout=10.0):
        line = self.next_line(timeout)
        return None if line is None else json.loads(line)

    def close(self):
        try:
            self.conn.close()
        except OSError:
            pass


# ---------------------------------------------------------------- kubesim
class Kubesim:
    """Context manager around one kubesim process.

    seed_dirs: directories of JSON files (None = tests/fixtures, [] = nothing).
    tls: HTTPS with a generated CA and bearer tokens (False = --http, no auth).
    token: the valid token written into the kubeconfig.
    """

    def __init__(self, seed_dirs=None, tls=True, token="t0", extra_args=(), start=True, http=None,
                 max_streams=100, goaway_grace=2.0):
        self.seed_dirs = [FIXTURES] if seed_dirs is None else list(seed_dirs)
        self.tls = tls
        self.token = token
        self.extra_args = list(extra_args)
        # HTTP/2: nghttpx terminates TLS in front of kubesim's plain backend
        # listener (same authentication), offering h2 and http/1.1 by ALPN,
        # capping concurrent streams per connection at max_streams (kube-
        # apiserver's default is 100); goaway() reloads it: its old worker
        # sends GOAWAY on every connection and closes them goaway_grace s later.
        self.http2 = tls and str(http or KUBESIM_HTTP) == "2"
        self.max_streams = max_streams
        self.goaway_grace = goaway_grace
        self.front = None
        self.front_port = self.backend_port = 0
        self.daemon_may_use_http1 = False  # checked at exit over HTTP/2 (see check_front_protocols)
        self.tmp = tempfile.mkdtemp(prefix="kubesim-")
        self.kubeconfig_path = os.path.join(self.tmp, "kubeconfig")
        self.tls_dir = os.path.join(self.tmp, "tls")
        self.ca_path = os.path.join(self.tls_dir, "ca.crt")
        self.log_path = os.path.join(self.tmp, "kubesim.log")
        self.proc = None
        self.api = self.control = None
        self.api_port = self.control_port = 0
        self.rv_start = 100
        if start:
            self.start()

    def __enter__(self):
        return self

    def __exit__(self, etype=None, *exc):
        try:
            self.stop()
            if self.front and etype is None:
                self.check_front_protocols()
        finally:
            self.stop_front()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def args(self):
        a = [KUBESIM_BIN, "--listen", f"127.0.0.1:{self.api_port}",
             "--control", f"127.0.0.1:{self.control_port}",
             "--kubeconfig-out", self.kubeconfig_path, "--rv-start", str(self.rv_start)]
        for d in self.seed_dirs:
            a += ["--seed", d]
        if self.tls:
            a += ["--tls-dir", self.tls_dir, "--token", self.token]
        else:
            a += ["--http"]
        if self.http2:
            a += ["--backend-listen", f"127.0.0.1:{self.backend_port}"]
        return a + self.extra_args

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.PIPE, stderr=log)
        log.close()
        r, _, _ = select.select([self.proc.stdout], [], [], getattr(self, "start_timeout", 30))
        line = self.proc.stdout.readline() if r else b""
        if not line:
            self.proc.kill()
            self.proc.wait()
            with open(self.log_path, errors="replace") as f:
                raise RuntimeError("kubesim did not start: " + f.read()[-2000:])
        info = json.loads(line)
        self.api, self.control = info["api"], info["control"]
        self.api_port = urllib.parse.urlsplit(self.api).port
        self.control_port = urllib.parse.urlsplit(self.control).port
        self.direct_api = self.api  # kubesim's own TLS listener (HTTP/1.1, client certificates)
        if self.http2:
            self.backend_port = urllib.parse.urlsplit(info["backend"]).port
            if not self.front or self.front.poll() is not None:
                self.start_front()
            self.api = f"https://127.0.0.1:{self.front_port}"
            with open(self.kubeconfig_path) as f:
                kc = f.read()
            with open(self.kubeconfig_path, "w") as f:
                f.write(kc.replace(f"server: {self.direct_api}\n", f"server: {self.api}\n"))
        if self.tls:
            self.ssl_ctx = ssl.create_default_context(cafile=self.ca_path)
        else:
            self.ssl_ctx = None
        return self

    # -- the HTTP/2 front (nghttpx)
    def start_front(self):
        d = os.path.join(self.tmp, "front")
        os.makedirs(d, exist_ok=True)
        self.front_conf = os.path.join(d, "nghttpx.conf")
        self.front_pid = os.path.join(d, "nghttpx.pid")
        self.front_access = os.path.join(d, "access.log")
        self.front_error = os.path.join(d, "error.log")
        for attempt in range(5):
            self.front_port = free_port()
            with open(self.front_conf, "w") as f:
                f.write("\n".join([
                    f"frontend=127.0.0.1,{self.front_port}",
                    f"backend=127.0.0.1,{self.backend_port}",
                    f"private-key-file={os.path.join(self.tls_dir, 'server.key')}",
                    f"certificate-file={os.path.join(self.tls_dir, 'server.crt')}",
                    "workers=1", "no-ocsp=yes", "no-via=yes", "no-server-rewrite=yes",
                    f"frontend-http2-max-concurrent-streams={self.max_streams}",
                    # watches are quiet for up to a bookmark interval
                    "backend-read-timeout=15m", "frontend-read-timeout=15m",
                    "frontend-http2-read-timeout=15m", "backend-keep-alive-timeout=10s",
                    f"worker-process-grace-shutdown-period={self.goaway_grace:g}s",
                    f"pid-file={self.front_pid}",
                    f"accesslog-file={self.front_access}", "accesslog-write-early=yes",
                    # tab-separated; the User-Agent last (it has spaces)
                    "accesslog-format=$alpn\t$remote_port\t$status\t$method\t$path\t$http_user_agent",
                    f"errorlog-file={self.front_error}", ""]))
            self.front = subprocess.Popen([NGHTTPX, f"--conf={self.front_conf}"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def listening():
                if self.front.poll() is not None:
                    return "exited"
                try:
                    socket.create_connection(("127.0.0.1", self.front_port), timeout=1).close()
                    return "up"
                except OSError:
                    return None
            state = wait_for(listening, 15, 0.05, "nghttpx to listen")
            if state == "up" and os.path.exists(self.front_pid):
                return
            self.stop_front()
        raise RuntimeError("nghttpx did not start: " + self.front_error_text()[-2000:])

    def front_error_text(self):
        try:
            with open(self.front_error, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop_front(self):
        if not self.front:
            return
        if self.front.poll() is None:
            self.front.send_signal(signal.SIGQUIT)  # graceful; the workers follow
            try:
                self.front.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.front.kill()
                self.front.wait()
        # the worker processes end with the main one (IPC socket closed)
        self.front = None

    def goaway(self, wait=True):
        """HTTP/2 GOAWAY on every open connection (kube-apiserver's
        --goaway-chance does it to rebalance clients): nghttpx reloads, its
        old worker sends GOAWAY (first the graceful one, then with the last
        stream id), finishes nothing new and is ended goaway_grace s later,
        which cuts the streams still open on those connections."""
        assert self.front, "goaway() needs the HTTP/2 front"
        before = self.front_error_text().count("Graceful shutdown commencing")
        with open(self.front_pid) as f:
            os.kill(int(f.read().strip()), signal.SIGHUP)
        if wait:
            wait_for(lambda: self.front_error_text().count("Graceful shutdown commencing") > before,
                     10, 0.05, "nghttpx to start its graceful shutdown (GOAWAY)")

    def front_log(self):
        """The front's requests: [{"alpn","port","status","method","path","user_agent"}]
        (port: the client's; one per connection)."""
        out = []
        try:
            with open(self.front_access, errors="replace") as f:
                for line in f:
                    p = line.rstrip("\n").split("\t")
                    if len(p) >= 6:
                        out.append({"alpn": p[0], "port": int(p[1]) if p[1].isdigit() else 0,
                                    "status": p[2], "method": p[3], "path": p[4], "user_agent": p[5]})
        except OSError:
            pass
        return out

    def check_front_protocols(self):
        """Over HTTP/2 the daemon and kubectl must have spoken h2 (both
        negotiate it by ALPN); a test that forces HTTP/1.1 says so."""
        for e in self.front_log():
            ua = e["user_agent"]
            if ua.startswith("aks-backup-companion/") and self.daemon_may_use_http1:
                continue
            if ua.startswith(("aks-backup-companion/", "kubectl/")) and e["alpn"] != "h2":
                raise AssertionError(f"over the HTTP/2 front, {ua} used {e['alpn']}: {e}")

    def _note_rv(self):
        try:
            self.last_rv = int(self.control_get("/stats")["resourceVersion"])
        except Exception:
            pass

    def stop(self):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self._note_rv()  # so that a later restart() keeps RVs growing
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc = None

    def restart(self, keep_state=True):
        """Same ports and arguments; resourceVersions keep growing. With
        keep_state the objects (uids, timestamps) and the /version body survive,
        like an API server restarting on the same etcd; otherwise the seeds are
        loaded afresh. Run-time switches (/tokens, /api-disable, faults) reset.
        After stop(), restart() starts from the seeds (or the last saved state)."""
        running = self.proc is not None and self.proc.poll() is None
        if running:
            self._note_rv()
        rv = getattr(self, "last_rv", None) or self.rv_start + 100000
        if keep_state and running:  # a stopped kubesim restarts from the last state saved (or the seeds)
            dump = self.control_get("/dump")
            version = self.get("/version")[2]
            self.restarts = getattr(self, "restarts", 0) + 1
            state_dir = os.path.join(self.tmp, f"state-{self.restarts}")
            os.makedirs(state_dir)
            with open(os.path.join(state_dir, "objects.json"), "w") as f:
                json.dump(dump, f)
            if isinstance(version, dict):
                with open(os.path.join(state_dir, "version.json"), "w") as f:
                    json.dump(version, f)
            self.seed_dirs = [state_dir]
        self.stop()
        self.rv_start = rv + 1000
        deadline = time.monotonic() + 10
        while True:
            try:
                return self.start()
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    # -- control endpoint
    def control_request(self, method, path, obj=None):
        u = urllib.parse.urlsplit(self.control)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        body = None if obj is None else json.dumps(obj)
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return resp.status, parsed

    def control_post(self, path, obj=None):
        code, body = self.control_request("POST", path, {} if obj is None else obj)
        if code >= 300:
            raise ControlError(code, body)
        return body

    def control_get(self, path):
        code, body = self.control_request("GET", path)
        if code >= 300:
            raise ControlError(code, body)
        return body

    def apply(self, obj):
        return self.control_post("/apply", obj)

    def delete(self, apiVersion, kind, name, namespace=None):
        o = {"apiVersion": apiVersion, "kind": kind, "name": name}
        if namespace:
            o["namespace"] = namespace
        return self.control_post("/delete", o)

    def state(self, resource):
        return self.control_get("/state?resource=" + urllib.parse.quote(resource))

    def stats(self):
        return self.control_get("/stats")

    def requests(self, since_ms=0):
        return self.control_get(f"/requests?since={int(since_ms)}")

    def rv(self):
        return int(self.stats()["resourceVersion"])

    # -- API (raw HTTP)
    def _conn(self, timeout):
        u = urllib.parse.urlsplit(self.api)
        if self.tls:
            return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=self.ssl_ctx)
        return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)

    def _headers(self, headers, token):
        h = {"Accept": "application/json", "User-Agent": "kubesim-harness"}
        tok = self.token if token is None else token
        if self.tls and tok:
            h["Authorization"] = "Bearer " + tok
        h.update(headers or {})
        return h

    def api_request(self, method, path, body=None, headers=None, token=None, timeout=30):
        """Returns (status, headers dict, parsed JSON or raw bytes)."""
        conn = self._conn(timeout)
        h = self._headers(headers, token)
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        conn.close()
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = data
        return resp.status, hdrs, parsed

    def get(self, path, **kw):
        return self.api_request("GET", path, **kw)

    def watch(self, path, headers=None, token=None, timeout=30):
        conn = self._conn(timeout)
        conn.request("GET", path, headers=self._headers(headers, token))
        return WatchStream(conn, conn.getresponse())

    def kubectl(self, *args, timeout=60, check=True):
        """Runs real kubectl with this kubeconfig and a private HOME/cache."""
        home = os.path.join(self.tmp, "home")
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ, HOME=home, KUBECONFIG=self.kubeconfig_path)
        cmd = [KUBECTL, "--kubeconfig", self.kubeconfig_path,
               "--cache-dir", os.path.join(home, "cache")] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p


# ---------------------------------------------------------------- daemon
def parse_metrics(text):
    """Prometheus text format -> {(name, frozenset(labels.items())): value}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        labels = {}
        if "{" in line:
            name, rest = line.split("{", 1)
            i = 0
            while i < len(rest) and rest[i] != "}":
                eq = rest.index("=", i)
                key = rest[i:eq].strip().lstrip(",").strip()
                j = eq + 2  # skip ="
                val = []
                while rest[j] != '"':
                    if rest[j] == "\\":
                        j += 1
                        val.append({"n": "\n", "\\": "\\", '"': '"'}.get(rest[j], rest[j]))
                    else:
                        val.append(rest[j])
                    j += 1
                labels[key] = "".join(val)
                i = j + 1
                while i < len(rest) and rest[i] in ", ":
                    i += 1
            value = rest[i + 1:].split()[0]
        else:
            parts = line.split()
            name, value = parts[0], parts[1]
        out[(name.strip(), frozenset(labels.items()))] = float(value)
    return out


# -- ABC_VALGRIND=1 (issue 11, scripts/test-extra.sh): every Daemon.start()
# runs the daemon under valgrind memcheck. Any error or definite leak makes
# it exit 99 instead of 0, which Daemon.stop() reports as a failure.
VALGRIND_EXIT = 99


def valgrind_prefix():
    if os.environ.get("ABC_VALGRIND", "0") in ("", "0"):
        return []
    supp = os.path.join(SRCROOT, "tests", "valgrind.supp")
    return ["valgrind", "--error-exitcode=%d" % VALGRIND_EXIT, "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--track-fds=no", "-q", "--suppressions=" + supp]


class Daemon:
    """aks-backup-companion run --config <tmp> --kubeconfig <path> --listen 127.0.0.1:<free>."""

    def __init__(self, args=(), env=None, config_text=None, kubeconfig=None, kubesim=None, start=True):
        self.tmp = tempfile.mkdtemp(prefix="abc-daemon-")
        self.config_path = os.path.join(self.tmp, "config.yaml")
        if config_text is None:
            config_text = ("accounting:\n  state_file: %s\nregions_file: %s\n"
                           % (os.path.join(self.tmp, "quota.json"),
                              os.path.join(SRCROOT, "config", "regions.txt")))
        with open(self.config_path, "w") as f:
            f.write(config_text)
        if kubeconfig is None and kubesim is not None:
            kubeconfig = kubesim.kubeconfig_path
        self.kubeconfig = kubeconfig
        self.port = free_port()
        self.listen = f"127.0.0.1:{self.port}"
        self.args = list(args)
        self.env = dict(env or {})
        self.log_path = os.path.join(self.tmp, "daemon.log")
        self.proc = None
        if start:
            self.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ABC_")}
        env.pop("KUBECONFIG", None)
        env["HOME"] = self.tmp
        env.update(self.env)
        cmd = [ABC_BIN, "run", "--config", self.config_path, "--listen", self.listen, "--log-format", "json"]
        if self.kubeconfig:
            cmd += ["--kubeconfig", self.kubeconfig]
        cmd += self.args
        cmd = valgrind_prefix() + cmd
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
        log.close()
        return self

    def log_lines(self):
        out = []
        with open(self.log_path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"unparsed": line})
        return out

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def get(self, path, headers=None, method="GET", body=None, timeout=10):
        """Returns (status, headers dict lower-cased, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        conn.close()
        return resp.status, hdrs, data

    def wait_ready(self, path="/readyz/synced", timeout=30):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                return self.get(path, timeout=2)[0] == 200
            except OSError:
                return False
        wait_for(ready, timeout, 0.1, f"{path} to answer 200")

    def metrics(self):
        code, _, body = self.get("/metrics")
        assert code == 200, f"/metrics answered {code}"
        return parse_metrics(body.decode())

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=10):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("daemon did not exit within 10 s of SIGTERM")
        assert rc == 0, f"daemon exited {rc} after SIGTERM: {self.log_text()[-2000:]}"
        return rc
