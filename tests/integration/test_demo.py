"""`make demo` end to end (scripts/demo.sh with DEMO_SECONDS): kubesim with
the demo cluster, the `check` report, then the daemon serving until it is
stopped with SIGTERM. The demo must serve /metrics and the report, accept a
reservation with the token it prints, and stop cleanly."""
import os
import re
import subprocess
import sys
import urllib.request

from harness import SRCROOT, Results, free_port, wait_for

R = Results()
BUILD = os.environ["ABC_BUILDROOT"]


@R.test
def demo_serves_and_stops_cleanly():
    port = free_port()
    env = dict(os.environ, DEMO_SECONDS="6", DEMO_PORT=str(port))
    env = {k: v for k, v in env.items() if k not in ("ABC_TEST_NOW", "ABC_MATRIX_EDITION")}
    p = subprocess.Popen(["bash", os.path.join(SRCROOT, "scripts", "demo.sh"), BUILD], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"

    def get(path):
        try:
            with urllib.request.urlopen(base + path, timeout=2) as r:
                return r.status, r.read().decode()
        except OSError:
            return None, ""

    try:
        wait_for(lambda: get("/readyz/synced")[0] == 200, timeout=20, what="the demo daemon ready")
        code, metrics = get("/metrics")
        assert code == 200 and "aks_backup_persistent_volume_supported{" in metrics, code
        code, report = get("/api/v1/report")
        assert code == 200 and '"persistent_volumes"' in report, code
        out, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, (p.returncode, out[-3000:])
    assert "PERSISTENT VOLUMES" in out, out[-3000:]
    tok = re.search(r"Authorization: Bearer (\S+)'", out)
    assert tok and len(tok.group(1)) >= 32, out[-2000:]
    with open(os.path.join(BUILD, "demo", "api-token")) as f:
        assert f.read().strip() == tok.group(1)


sys.exit(R.finish())
