"""The daemon's HTTP listener under abuse: slowloris,
a flood of connections, oversized header and body, unknown methods, path
traversal, HTTP/1.0 and pipelining -- over raw sockets against the real
binary. The API server is unreachable on purpose: /livez must not care."""
import os
import resource
import select
import socket
import sys
import time

import harness

READ_TIMEOUT = 2
MAX_CONNECTIONS = 64

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: nowhere
  context:
    cluster: nowhere
    user: u
users:
- name: u
  user:
    token: not-a-token
current-context: nowhere
"""


def start_daemon(nofile=None):
    """The daemon against an API server that is not there. nofile: the
    descriptor limit the child inherits (set around the fork only)."""
    d = harness.Daemon(start=False,
                       env={"ABC_HTTP_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
                            "ABC_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS)})
    d.kubeconfig = os.path.join(d.tmp, "kubeconfig")
    with open(d.kubeconfig, "w") as f:
        f.write(KUBECONFIG)
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    if nofile:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, saved[1]))
    try:
        d.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)
    d.wait_ready("/livez", timeout=15)
    return d


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect(port, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return s


def read_until_close(s, limit=1 << 20):
    data = b""
    while len(data) < limit:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


def exchange(port, raw):
    s = connect(port)
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = read_until_close(s)
    s.close()
    return data


def status_of(data):
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


def body_of(data):
    return data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""


def get(port, target, method="GET", extra=b""):
    return exchange(port, method.encode() + b" " + target.encode() +
                    b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + extra + b"\r\n")


D = None
r = harness.Results()


@r.test
def livez_at_start():
    data = get(D.port, "/livez")
    assert status_of(data) == 200, data
    assert body_of(data) == b"ok", data


@r.test
def slowloris_cut_after_read_timeout():
    s = connect(D.port, timeout=1)
    s.sendall(b"GET /livez HTTP/1.1\r\nHost: t\r\nX-Slow: ")
    t0 = time.monotonic()
    closed_at = None
    # One byte every 0.4 s keeps the connection from ever being idle.
    while time.monotonic() - t0 < 4 * READ_TIMEOUT:
        time.sleep(0.4)
        try:
            s.sendall(b"a")
        except (BrokenPipeError, ConnectionResetError):
            closed_at = time.monotonic() - t0
            break
        rl, _, _ = select.select([s], [], [], 0)
        if rl:
            try:
                if s.recv(4096) == b"":
                    closed_at = time.monotonic() - t0
                    break
            except ConnectionResetError:
                closed_at = time.monotonic() - t0
                break
    s.close()
    assert closed_at is not None, "trickled request still open after %ds" % (4 * READ_TIMEOUT)
    assert closed_at < READ_TIMEOUT + 1.5, closed_at
    assert status_of(get(D.port, "/livez")) == 200


@r.test
def two_thousand_connections():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    n = min(2000, want - 100)
    assert n >= 1500, "fd limit too low for the test: %d" % want
    socks = []
    t0 = time.monotonic()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", D.port))
        except BlockingIOError:
            pass
        socks.append(s)
    # Everything beyond max_connections is closed at once.
    closed = set()
    poller = select.poll()
    by_fd = {}
    for s in socks:
        poller.register(s, select.POLLIN)
        by_fd[s.fileno()] = s
    while time.monotonic() - t0 < 5 and len(closed) < n - MAX_CONNECTIONS:
        for fd, ev in poller.poll(100):
            s = by_fd[fd]
            try:
                if s.recv(1) == b"":
                    closed.add(fd)
            except BlockingIOError:
                continue
            except OSError:
                closed.add(fd)
            if fd in closed:
                poller.unregister(fd)
    assert D.proc.poll() is None, "daemon died: " + D.log_text()[-2000:]
    assert len(closed) >= n - MAX_CONNECTIONS, (len(closed), n)
    for s in socks:
        s.close()
    time.sleep(0.3)
    data = get(D.port, "/livez")
    assert status_of(data) == 200, data
    print("  %d connections: %d closed at once in %.2f s" % (n, len(closed), time.monotonic() - t0))


@r.test
def out_of_descriptors_sheds_clients():
    # max_connections (64) above what the process may open: accept() hits
    # EMFILE; the daemon must shed clients, not spin or die.
    d = start_daemon(nofile=40)
    try:
        socks = [socket.create_connection(("127.0.0.1", d.port), timeout=2) for _ in range(80)]
        cpu0 = cpu_seconds(d.proc.pid)
        time.sleep(1.0)
        busy = cpu_seconds(d.proc.pid) - cpu0
        assert d.proc.poll() is None, "daemon died: " + d.log_text()[-2000:]
        assert busy < 0.3, "daemon spun %.2f s of CPU in 1 s while out of fds" % busy
        for s in socks:
            s.close()
        time.sleep(0.3)
        data = get(d.port, "/livez")
        assert status_of(data) == 200, data
    finally:
        try:
            d.stop()
        finally:
            d.__exit__(None, None, None)


@r.test
def oversized_header_431():
    data = get(D.port, "/livez", extra=b"X-Big: " + b"a" * (9 * 1024) + b"\r\n")
    assert status_of(data) == 431, data[:200]
    data = get(D.port, "/livez", extra=b"X-Huge: " + b"a" * (100 * 1024) + b"\r\n")
    assert status_of(data) == 431, data[:200]


@r.test
def oversized_body_413():
    data = get(D.port, "/livez", method="POST", extra=b"Content-Length: 70000\r\n")
    assert status_of(data) == 413, data[:200]
    # chunked, growing past 64 KiB while uploading
    s = connect(D.port)
    s.sendall(b"POST /livez HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"1000\r\n" + b"c" * 4096 + b"\r\n"
    try:
        for _ in range(20):
            s.sendall(chunk)
        s.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = read_until_close(s)
    s.close()
    assert status_of(data) == 413, data[:200]


@r.test
def unknown_method_501():
    for m in ("BREW", "PROPFIND", "FOO"):
        data = get(D.port, "/livez", method=m)
        assert status_of(data) == 501, (m, data[:200])


@r.test
def known_method_wrong_route_405():
    data = get(D.port, "/livez", method="DELETE")
    assert status_of(data) == 405, data[:200]
    assert b"\r\nAllow: GET" in data, data[:300]


@r.test
def path_traversal_never_a_file():
    for target in ("/../etc/passwd", "/%2e%2e/etc/passwd", "/..%2fetc%2fpasswd",
                   "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/readyz/../../etc/passwd",
                   "/livez%00", "/%zz", "/metrics/..;/x"):
        data = get(D.port, target)
        st = status_of(data)
        assert st in (400, 404), (target, data[:200])
        assert b"root:" not in data, target


@r.test
def unknown_path_404():
    assert status_of(get(D.port, "/nope")) == 404


@r.test
def http_1_0_works():
    data = exchange(D.port, b"GET /livez HTTP/1.0\r\n\r\n")
    assert status_of(data) == 200, data
    assert body_of(data) == b"ok", data


@r.test
def pipelined_requests_both_answered():
    data = exchange(D.port, b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n"
                            b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert data.count(b"HTTP/1.1 200") == 2, data


@r.test
def metrics_gzip_and_openmetrics():
    import gzip
    data = get(D.port, "/metrics", extra=b"Accept-Encoding: gzip\r\n")
    assert status_of(data) == 200, data[:200]
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"Content-Encoding: gzip" in head, head
    text = gzip.decompress(body).decode()
    assert "aks_backup_build_info{" in text, text[:500]
    data = get(D.port, "/metrics", extra=b"Accept: application/openmetrics-text; version=1.0.0\r\n")
    assert b"application/openmetrics-text" in data.split(b"\r\n\r\n")[0], data[:300]
    assert body_of(data).endswith(b"# EOF\n"), data[-100:]


@r.test
def livez_at_end_and_clean_exit():
    data = get(D.port, "/livez")
    assert status_of(data) == 200, data
    assert D.proc.poll() is None
    D.stop()  # asserts exit 0 within 10 s of SIGTERM


if __name__ == "__main__":
    D = start_daemon()
    try:
        code = r.finish()
    finally:
        D.__exit__(None, None, None)  # kills it if a test failed early
    sys.exit(code)
