"""Issue 2 end to end: the real binary against kubesim over real sockets.
/livez, /readyz?verbose in the kube-apiserver format, /metrics clean under
`promtool check metrics`, OpenMetrics and gzip negotiation, an oversized
header answered 431 with the daemon still up, SIGHUP reload (good and bad),
SIGTERM exit 0 within 5 s."""
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from harness import Daemon, Kubesim, Results, wait_for

R = Results()
# The fixture cluster (Kubernetes v1.30) as of the day its objects describe: the
# 2026-01 support matrix judges kubernetes_version against the AKS release
# calendar, and by today's date 1.30 is past even its long-term support.
FIXTURE_DAY = {"ABC_TEST_NOW": "2026-03-14T15:00:00Z"}
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def with_daemon(fn):
    def run():
        with Kubesim() as ks, Daemon(kubesim=ks, env=FIXTURE_DAY) as d:
            d.wait_ready()
            fn(ks, d)
            d.stop()
    run.__name__ = fn.__name__
    return R.test(run)


@with_daemon
def livez_and_healthz(ks, d):
    for path in ("/livez", "/healthz"):
        code, _, body = d.get(path)
        assert code == 200 and body == b"ok", (path, code, body)


@with_daemon
def readyz_verbose_kube_apiserver_format(ks, d):
    wait_for(lambda: d.get("/readyz")[0] == 200, 15, what="/readyz 200")
    code, _, body = d.get("/readyz?verbose")
    lines = body.decode().splitlines()
    assert code == 200, (code, body)
    assert lines == ["[+]synced ok", "[+]apiserver ok", "[+]extension ok",
                     "[+]prerequisites ok", "readyz check passed"], lines
    code, _, body = d.get("/readyz/synced")
    assert code == 200 and body == b"ok", (code, body)
    code, _, body = d.get("/readyz/nonexistent")
    assert code == 404, code
    code, _, body = d.get("/readyz?verbose&exclude=extension")
    assert code == 200 and "[+]extension excluded: ok" in body.decode(), body


@with_daemon
def metrics_pass_promtool(ks, d):
    # One watch event, so the watch counters have a series too.
    ks.apply({"apiVersion": "v1", "kind": "PersistentVolume",
              "metadata": {"name": "pv-smoke"},
              "spec": {"hostPath": {"path": "/tmp"}, "capacity": {"storage": "1Gi"}}})
    wait_for(lambda: b"pv-smoke" in d.get("/metrics")[2], 5, what="pv-smoke in /metrics")
    code, hdrs, body = d.get("/metrics")
    assert code == 200, code
    assert hdrs["content-type"].startswith("text/plain; version=0.0.4"), hdrs
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, timeout=30)
    out = (p.stdout + p.stderr).decode()
    assert p.returncode == 0 and out.strip() == "", out
    text = body.decode()
    for family in ("aks_backup_build_info", "aks_backup_cluster_info", "aks_backup_prerequisite_status",
                   "aks_backup_persistent_volume_supported", "aks_backup_persistent_volumes",
                   "aks_backup_ready", "aks_backup_informer_synced", "aks_backup_watch_events_total",
                   "aks_backup_apiserver_requests_total", "aks_backup_on_demand_backups_used",
                   "process_resident_memory_bytes"):
        assert f"# TYPE {family} " in text, family


@with_daemon
def openmetrics_and_gzip(ks, d):
    code, hdrs, body = d.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert code == 200 and hdrs["content-type"].startswith("application/openmetrics-text"), hdrs
    assert body.rstrip().endswith(b"# EOF"), body[-50:]
    code, hdrs, body = d.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert code == 200 and hdrs.get("content-encoding") == "gzip", hdrs
    assert b"aks_backup_build_info" in gzip.decompress(body)


@with_daemon
def oversized_header_gets_431_and_daemon_stays_up(ks, d):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    status = s.recv(200).split(b"\r\n")[0]
    s.close()
    assert b" 431 " in status, status
    code, _, _ = d.get("/livez")
    assert code == 200


@R.test
def sighup_reload_good_and_bad():
    with Kubesim() as ks, Daemon(kubesim=ks, env=FIXTURE_DAY) as d:
        d.wait_ready()
        with open(d.config_path) as f:
            good = f.read()
        with open(d.config_path, "w") as f:
            f.write(good + "log:\n  level: debug\n")
        d.signal(signal.SIGHUP)
        wait_for(lambda: any(l.get("msg") == "configuration reloaded" for l in d.log_lines()), 5,
                 what="reload log line")
        with open(d.config_path, "w") as f:
            f.write(good + "http:\n  lisen: 1\n")
        d.signal(signal.SIGHUP)
        wait_for(lambda: any("reload failed" in l.get("msg", "") for l in d.log_lines()), 5,
                 what="reload failure log line")
        line = [l for l in d.log_lines() if "reload failed" in l.get("msg", "")][0]
        assert f"{d.config_path}:" in line["error"] and "listen" in line["error"], line
        assert d.get("/livez")[0] == 200
        # keys fixed at start: named in a warning, the running values stay
        with open(d.config_path, "w") as f:
            f.write(good.replace("quota.json", "other.json")
                    + "http:\n  max_connections: 7\nextension:\n  pod_selector: app=other\n")
        d.signal(signal.SIGHUP)
        wait_for(lambda: any("take effect only at restart" in l.get("msg", "") for l in d.log_lines()),
                 5, what="restart-only keys warning")
        line = [l for l in d.log_lines() if "take effect only at restart" in l.get("msg", "")][0]
        assert line["keys"] == "extension.pod_selector,accounting.state_file,http.max_connections", line
        assert d.get("/livez")[0] == 200
        d.stop()


@R.test
def sigterm_exits_0_within_5s():
    with Kubesim() as ks, Daemon(kubesim=ks, env=FIXTURE_DAY) as d:
        d.wait_ready()
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        rc = d.wait_exit(timeout=5)
        assert rc == 0, rc
        assert time.monotonic() - t0 < 5


@R.test
def no_api_configuration_exits_3():
    with Daemon(env={"ABC_SA_DIR": "/nonexistent"}) as d:
        rc = d.wait_exit(timeout=10)
        assert rc == 3, (rc, d.log_text())
        assert "kubeconfig" in d.log_text().lower()


sys.exit(R.finish())
