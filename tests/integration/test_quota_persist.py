"""Quota counts across restarts: restart and SIGKILL keep counts
identical (reservations included), a corrupt state file is moved aside and
the counts rebuilt, and a +05:30 day boundary resets at the right instant."""
import glob
import json
import os
import signal
import sys
import time

import harness
from harness import Daemon, Kubesim, wait_for
from test_quota import (NOW, backup, config_text, parse_ts, quota, reserve, stays, used,
                          wait_used)

R = harness.Results()


def make(k, now=NOW, **cfg):
    d = Daemon(kubesim=k, start=False, env={"ABC_TEST_NOW": now})
    d.state_file = os.path.join(d.tmp, "state", "quota.json")
    with open(d.config_path, "w") as f:
        f.write(config_text(d.tmp, state_file=d.state_file, **cfg))
    return d


def restart(d, now=NOW):
    # ABC_TEST_NOW is set again; a short gap keeps "now" on the same day.
    d.env["ABC_TEST_NOW"] = now
    d.start()
    d.wait_ready()


@R.test
def restart_keeps_counts_and_reservations():
    with Kubesim() as k, make(k) as d:
        d.start()
        d.wait_ready()
        wait_used(d, 4)
        assert reserve(d, key="r-1")[0] == 200
        assert reserve(d, key="r-2")[0] == 200
        wait_used(d, 6)
        assert os.path.exists(d.state_file)
        d.stop()
        restart(d)
        wait_used(d, 6)
        wait_used(d, 2, "restore")
        stays(d, 6)
        code, _, body = reserve(d, key="r-1")
        assert code == 200 and body["used"] == 5, body
        assert used(d) == 6
        d.stop()


@R.test
def sigkill_mid_stream_counts_identical():
    with Kubesim() as k, make(k) as d:
        d.start()
        d.wait_ready()
        wait_used(d, 4)
        applied = 0
        for i in range(5):
            k.apply(backup("2026-03-14T12:%02d:30Z" % (10 + i)))
            applied += 1
        wait_used(d, 4 + applied)
        # A burst, killed while the daemon is taking it in (and writing state).
        for i in range(12):
            k.apply(backup("2026-03-14T12:%02d:45Z" % (10 + i)))
            applied += 1
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        # Whatever was on disk is a whole document (atomic replace).
        with open(d.state_file) as f:
            json.load(f)
        # Objects keep arriving while the daemon is down.
        for i in range(2):
            k.apply(backup("2026-03-14T12:%02d:30Z" % (30 + i)))
            applied += 1
        restart(d)
        wait_used(d, 4 + applied)
        stays(d, 4 + applied)
        # A temp file left by the kill is cleaned at start.
        assert not glob.glob(d.state_file + ".tmp*"), os.listdir(os.path.dirname(d.state_file))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        restart(d)
        wait_used(d, 4 + applied)
        stays(d, 4 + applied)
        d.stop()


@R.test
def corrupt_state_file_moved_aside_and_rebuilt():
    with Kubesim() as k, make(k) as d:
        os.makedirs(os.path.dirname(d.state_file), exist_ok=True)
        with open(d.state_file, "w") as f:
            f.write('{"version":1,"days":{"2026-03-14":{"default":{"backup":{"objects":[{"uid"')
        d.start()
        d.wait_ready()
        wait_used(d, 4)
        wait_used(d, 2, "restore")
        aside = glob.glob(d.state_file + ".corrupt-*")
        assert len(aside) == 1, aside
        errors = [l for l in d.log_lines() if l.get("level") == "error" and "quota state" in l.get("msg", "")]
        assert errors and errors[0].get("moved_to") == aside[0], errors
        # A fresh, valid file is written.
        wait_for(lambda: os.path.exists(d.state_file), 5, 0.1, "a new state file")
        d.stop()
        restart(d)
        wait_used(d, 4)
        assert len(glob.glob(d.state_file + ".corrupt-*")) == 1
        d.stop()


@R.test
def day_boundary_plus_0530():
    start_iso = "2026-03-14T18:29:50Z"
    with Kubesim() as k, make(k, now=start_iso, schedule=None, day_boundary="+05:30") as d:
        t0 = time.monotonic()
        d.start()
        d.wait_ready()
        boundary = parse_ts("2026-03-14T18:30:00Z")
        doc = quota(d)
        assert parse_ts(start_iso) + (time.monotonic() - t0) < boundary - 1, "daemon started too slowly"
        # Local day 2026-03-14 at +05:30: 13T18:30Z .. 14T18:30Z holds all 7 backups.
        assert doc["day"] == "2026-03-14", doc
        assert doc["resets_at"] == "2026-03-14T18:30:00Z", doc
        wait_used(d, 7)
        wait_used(d, 2, "restore")
        assert parse_ts(start_iso) + (time.monotonic() - t0) < boundary, "too slow to see the old day"
        remaining = boundary - (parse_ts(start_iso) + (time.monotonic() - t0))
        time.sleep(max(0, remaining) + 1.0)
        doc = quota(d)
        assert doc["day"] == "2026-03-15", doc
        assert doc["resets_at"] == "2026-03-15T18:30:00Z", doc
        inst = [i for i in doc["instances"] if i["instance"] == "default"][0]
        assert inst["backup"]["used"] == 0 and inst["restore"]["used"] == 0, inst
        m = d.metrics()
        assert m[("aks_backup_quota_reset_timestamp_seconds", frozenset())] == parse_ts("2026-03-15T18:30:00Z")
        lines = [l for l in d.log_lines() if "quota day started" in l.get("msg", "")]
        assert lines and lines[0].get("day") == "2026-03-15", lines
        d.stop()


@R.test
def unwritable_state_directory_is_said_at_start():
    # the state file's nearest existing ancestor is a regular file: no save
    # can ever land, so the daemon says so at start (not at the first POST)
    with Kubesim() as k:
        d = Daemon(kubesim=k, start=False, env={"ABC_TEST_NOW": NOW})
        blocker = os.path.join(d.tmp, "not-a-dir")
        open(blocker, "w").close()
        with open(d.config_path, "w") as f:
            f.write(config_text(d.tmp, state_file=os.path.join(blocker, "sub", "quota.json")))
        d.start()
        d.wait_ready()
        lines = [l for l in d.log_lines() if "not writable" in l.get("msg", "")]
        assert lines and lines[0]["level"] == "warn" and "not-a-dir" in lines[0]["state_file"], lines
        assert reserve(d, key="k1")[0] == 503
        d.stop()
    # a directory that does not exist yet but can be made is fine
    with Kubesim() as k:
        d = make(k)
        d.state_file = os.path.join(d.tmp, "new", "deeper", "quota.json")
        with open(d.config_path, "w") as f:
            f.write(config_text(d.tmp, state_file=d.state_file))
        d.start()
        d.wait_ready()
        assert not [l for l in d.log_lines() if "not writable" in l.get("msg", "")]
        assert reserve(d, key="k2")[0] == 200 and os.path.exists(d.state_file)
        d.stop()


sys.exit(R.finish())
