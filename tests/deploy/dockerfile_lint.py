#!/usr/bin/env python3
"""Structural lint of the Dockerfile (docker cannot run in the test
environment): multi-stage; a Debian bookworm build stage that builds with
meson --buildtype=release and ninja and stages the runtime tree; a final stage
with no shell (FROM scratch, or no RUN), exec-form ENTRYPOINT/CMD, a numeric
non-root USER, only files copied from the build stage; .dockerignore keeps
.git, build dirs and node_modules out of the context.
Usage: dockerfile_lint.py Dockerfile .dockerignore
Prints `dockerfile: N passed, N failed`."""
import json
import re
import sys


def instructions(text):
    """-> list of (line number, INSTRUCTION, arguments) with continuations joined."""
    out, buf, start = [], "", 0
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.partition(" ")
        out.append((start, word.upper(), rest.strip()))
        buf = ""
    return out


def main():
    dockerfile, ignore = sys.argv[1], sys.argv[2]
    with open(dockerfile, encoding="utf-8") as f:
        ins = instructions(f.read())
    with open(ignore, encoding="utf-8") as f:
        ignored = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL: {what}")

    stages = []
    for n, word, args in ins:
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", args, re.I)
            stages.append({"image": m.group(1), "name": (m.group(2) or "").lower(), "ins": []})
        elif stages:
            stages[-1]["ins"].append((n, word, args))
        else:
            check(word == "ARG", f"line {n}: {word} before the first FROM")
    check(len(stages) >= 2, "multi-stage (at least a build and a runtime stage)")
    if len(stages) < 2:
        print(f"dockerfile: {passed} passed, {failed} failed")
        return 1
    build, final = stages[0], stages[-1]
    build_text = " ".join(a for _, w, a in build["ins"] if w == "RUN")
    check(build["image"].startswith("debian:bookworm"), "build stage FROM debian:bookworm")
    check(build["name"] != "", "build stage is named")
    for pkg in ("meson", "ninja-build", "pkg-config", "libuv1-dev", "libcurl4-openssl-dev",
                "libjson-c-dev", "libyajl-dev", "libyaml-dev", "libmicrohttpd-dev", "zlib1g-dev"):
        check(re.search(rf"\b{re.escape(pkg)}\b", build_text), f"build stage installs {pkg}")
    check("--no-install-recommends" in build_text and "rm -rf /var/lib/apt/lists" in build_text,
          "apt: --no-install-recommends and lists removed")
    check(re.search(r"meson setup \S+ .*--buildtype=release", build_text), "meson setup --buildtype=release")
    check(re.search(r"\bninja -C\b", build_text), "ninja builds")
    check("stage-runtime.sh" in build_text, "runtime tree staged (binary + ldd libraries)")

    final_words = [w for _, w, _ in final["ins"]]
    slim_ok = final["image"] == "scratch" or "distroless" in final["image"] or final["image"].startswith("debian:bookworm-slim")
    check(slim_ok, f"runtime stage FROM scratch/distroless/bookworm-slim (is {final['image']})")
    if final["image"] == "scratch":
        check("RUN" not in final_words, "scratch runtime stage has no RUN (there is no shell)")
    users = [(i, a) for i, (_, w, a) in enumerate(final["ins"]) if w == "USER"]
    check(len(users) >= 1, "runtime stage sets USER")
    if users:
        uid = users[-1][1].split(":")[0]
        check(uid.isdigit() and int(uid) != 0, f"USER is a numeric non-root UID (is {uid})")
        check(uid == "65532", "USER 65532")
        after = [(w, a) for _, w, a in final["ins"][users[-1][0] + 1:]]
        check(not any(w == "RUN" and not a.startswith("[") for w, a in after), "no shell-form RUN after USER")
        check(not any(w == "USER" for w, _ in after), "USER is not changed back")
    for word in ("ENTRYPOINT", "CMD"):
        vals = [a for _, w, a in final["ins"] if w == word]
        check(len(vals) == 1, f"one {word} in the runtime stage")
        if vals:
            try:
                form = json.loads(vals[0])
                check(isinstance(form, list) and all(isinstance(x, str) for x in form), f"{word} is exec form")
            except ValueError:
                check(False, f"{word} is exec form (JSON array), not shell form")
                form = []
            if word == "ENTRYPOINT":
                check(form == ["/usr/bin/aks-backup-companion"], 'ENTRYPOINT ["/usr/bin/aks-backup-companion"]')
            else:
                check(form[:1] == ["run"], 'CMD starts with "run"')
    copies = [a for _, w, a in final["ins"] if w in ("COPY", "ADD")]
    check(all(re.match(rf"--from={re.escape(build['name'])}\b", a) for a in copies) and copies,
          "runtime stage copies only from the build stage")
    check("ADD" not in final_words, "no ADD in the runtime stage")
    check(any(w == "EXPOSE" and "8080" in a for _, w, a in final["ins"]), "EXPOSE 8080")

    for pat in (".git", "build", "build-*", "**/node_modules"):
        check(pat in ignored, f".dockerignore excludes {pat}")
    print(f"dockerfile: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
