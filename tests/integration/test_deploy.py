#!/usr/bin/env python3
"""Runs the deploy checks (tests/deploy/run.sh: helm lint/template, kustomize,
schema validation, promtool rules tests, the admission policy's CEL, RBAC,
Dockerfile and the runtime image tree) from meson and reports its count."""
import os
import re
import subprocess
import sys


def main():
    src = os.environ.get("ABC_SRCROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
    build = os.environ.get("ABC_BUILDROOT") or os.path.join(src, "build")
    env = dict(os.environ)
    proc = subprocess.run(["bash", os.path.join(src, "tests/deploy/run.sh"), build],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=540)
    sys.stdout.write(proc.stdout)
    m = re.search(r"^deploy: (\d+) passed, (\d+) failed$", proc.stdout, re.M)
    if not m:
        print("0 passed, 1 failed")
        print("run.sh printed no summary (exit %d)" % proc.returncode)
        return 1
    passed, failed = int(m.group(1)), int(m.group(2))
    if proc.returncode != 0 and failed == 0:
        failed = 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
