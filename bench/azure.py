#!/usr/bin/env python3
"""Azure view figures (bench/README.md "Azure view"): ARM requests per hour at
the default poll intervals and the daemon's RSS with the view on and off.

Runs kubesim (the fixture cluster) and tests/armsim (tests/integration/
azure_fixture.py's scenario, list pages of 100), then the daemon twice: with
the view off, and on with both intervals divided by SPEEDUP (default 12:
poll_seconds 25, jobs_poll_seconds 5). Counts armsim's requests over WINDOW
seconds after the first full poll and scales them to one hour at the defaults
(300 s / 60 s): requests/h = count * (3600 / WINDOW) / SPEEDUP. RSS is VmRSS
after the window (VmHWM too).
Usage: ABC_BUILDROOT=build python3 bench/azure.py [WINDOW] [SPEEDUP]
"""
import os
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("ABC_SRCROOT", ROOT)
os.environ.setdefault("ABC_BUILDROOT", os.path.join(ROOT, "build"))

import harness  # noqa: E402
import azure_fixture as az  # noqa: E402


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def run(window, speedup, azure):
    with harness.Kubesim() as k, az.ArmSim(az.scenario(page_size=100)) as arm:
        d = harness.Daemon(kubesim=k, start=False, env={"ABC_TEST_NOW": az.NOW})
        with d:
            cfg = az.azure_config(d.tmp, arm)
            cfg = cfg.replace("poll_seconds: 5\n  jobs_poll_seconds: 5",
                              "poll_seconds: %d\n  jobs_poll_seconds: %d" % (300 // speedup, 60 // speedup))
            if not azure:
                cfg = cfg.replace("enabled: true", "enabled: false")
            with open(d.config_path, "w") as f:
                f.write(cfg)
            d.start()
            d.wait_ready()
            time.sleep(1.0)
            arm.control("reset-log")
            time.sleep(window)
            log = arm.log()
            rss = status_kb(d.proc.pid, "VmRSS")
            hwm = status_kb(d.proc.pid, "VmHWM")
            d.stop()
    arm_n = len([e for e in log if e["kind"] == "arm"])
    tok_n = len([e for e in log if e["kind"] in ("token", "imds")])
    return arm_n, tok_n, rss, hwm


def main():
    window = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    speedup = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    off = run(10, speedup, False)
    on = run(window, speedup, True)
    per_hour = on[0] * (3600.0 / window) / speedup
    print(f"ARM requests in {window:.0f} s at 1/{speedup} of the default intervals: {on[0]} "
          f"(+{on[1]} token requests)")
    print(f"ARM requests per hour at the defaults (poll 300 s, jobs 60 s): {per_hour:.0f}")
    print(f"RSS view off: {off[2] / 1024:.1f} MiB (peak {off[3] / 1024:.1f}); "
          f"view on: {on[2] / 1024:.1f} MiB (peak {on[3] / 1024:.1f})")


if __name__ == "__main__":
    main()
