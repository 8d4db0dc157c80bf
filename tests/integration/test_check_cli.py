"""The command line as kubectl users expect it, against kubesim: `check` and
`run` read the deployed config (/etc/aks-backup-companion/aks-backup-companion.yaml,
shown inside a private mount namespace) when no --config is given and `check`
names the file on its first line; `check` logs only warnings and errors by
default; -o for --output; per-command --help; "did you mean" for mistyped
commands and flags; `completion bash`; the JSON report's apiVersion, kind and
status (the same as the exit code); metrics.per_pv."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from harness import ABC_BIN, SRCROOT, Daemon, Kubesim, Results, free_port, parse_metrics, wait_for

R = Results()
DEFAULT = "/etc/aks-backup-companion/aks-backup-companion.yaml"
REGIONS = os.path.join(SRCROOT, "config", "regions.txt")

# Shows CFG as /etc/aks-backup-companion/aks-backup-companion.yaml to the
# command, in a private user+mount namespace: /etc is replaced by a directory
# of links to the real entries plus aks-backup-companion/.
WITH_ETC = r'''set -e
T=$1; shift
W=$(mktemp -d "$T/ns.XXXXXX")
mkdir -p "$W/real" "$W/etc"
for f in /etc/* /etc/.[!.]*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  ln -s "$W/real/${f#/etc/}" "$W/etc/${f#/etc/}"
done
mkdir "$W/etc/aks-backup-companion"
cp "$T/cfg.yaml" "$W/etc/aks-backup-companion/aks-backup-companion.yaml"
mount --bind /etc "$W/real"
mount --bind "$W/etc" /etc
exec "$@"
'''


# The fixture cluster (Kubernetes v1.30) as of the day its objects describe: the
# 2026-01 support matrix judges kubernetes_version against the AKS release
# calendar, and by today's date 1.30 is past even its long-term support.
FIXTURE_DAY = {"ABC_TEST_NOW": "2026-03-14T15:00:00Z"}


def env_clean(home):
    e = {k: v for k, v in os.environ.items() if not k.startswith("ABC_")}
    e.pop("KUBECONFIG", None)
    e["HOME"] = home
    e.update(FIXTURE_DAY)
    return e


def with_etc_config(cfg_text, argv):
    t = tempfile.mkdtemp(prefix="abc-etc-")
    with open(os.path.join(t, "cfg.yaml"), "w") as f:
        f.write(cfg_text)
    return t, ["unshare", "-rm", "sh", "-c", WITH_ETC, "sh", t] + argv


def run(argv, home, timeout=60):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env_clean(home))
    return p.returncode, p.stdout, p.stderr


@R.test
def check_reads_the_deployed_config_and_names_it():
    assert not os.path.exists(DEFAULT), f"this test needs {DEFAULT} absent on the host"
    with Kubesim() as ks:
        # Without a deployed file: the built-in defaults, said on the first line.
        rc, out, err = run([ABC_BIN, "check", "--kubeconfig", ks.kubeconfig_path], ks.tmp)
        assert rc == 1, (rc, out, err)
        first = out.splitlines()[0]
        assert first.startswith("config: built-in defaults") and DEFAULT in first, first
        # The deployed file (a vault in another region: vault_same_region fails).
        cfg = "vault:\n  region: eastus\nregions_file: %s\n" % REGIONS
        t, argv = with_etc_config(cfg, [ABC_BIN, "check", "--kubeconfig", ks.kubeconfig_path])
        try:
            rc, out, err = run(argv, ks.tmp)
            assert rc == 2, (rc, out, err)
            assert out.splitlines()[0] == f"config: {DEFAULT}", out.splitlines()[:2]
            assert "vault_same_region" in out
            # --config still wins over the deployed file.
            own = os.path.join(t, "own.yaml")
            with open(own, "w") as f:
                f.write("regions_file: %s\n" % REGIONS)
            rc, out, err = run(argv + ["--config", own], ks.tmp)
            assert rc == 1 and out.splitlines()[0] == f"config: {own}", (rc, out[:200], err)
        finally:
            shutil.rmtree(t, ignore_errors=True)


@R.test
def run_reads_the_deployed_config():
    with Kubesim() as ks:
        port = free_port()
        cfg = ("http:\n  listen: 127.0.0.1:%d\naccounting:\n  state_file: %s/q.json\nregions_file: %s\n"
               % (port, ks.tmp, REGIONS))
        t, argv = with_etc_config(cfg, [ABC_BIN, "run", "--kubeconfig", ks.kubeconfig_path])
        log = open(os.path.join(t, "run.log"), "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=log, env=env_clean(ks.tmp))
        log.close()
        try:
            import http.client

            def up():
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    c.request("GET", "/livez")
                    return c.getresponse().status == 200
                except OSError:
                    return False
            wait_for(up, 20, 0.1, what=f"run listening on the deployed config's port {port}")
        finally:
            p.terminate()
            p.wait(10)
            shutil.rmtree(t, ignore_errors=True)


@R.test
def check_logs_only_warnings_by_default():
    with Kubesim() as ks:
        cfg = os.path.join(ks.tmp, "c.yaml")
        with open(cfg, "w") as f:
            f.write("regions_file: %s\nlog:\n  level: info\n" % REGIONS)  # as deployed: info
        rc, out, err = run([ABC_BIN, "check", "--kubeconfig", ks.kubeconfig_path, "--config", cfg], ks.tmp)
        assert rc == 1, (rc, err)
        levels = {json.loads(l)["level"] for l in err.splitlines() if l.startswith("{")}
        assert levels <= {"warn", "error"}, err
        rc, out, err = run([ABC_BIN, "check", "--kubeconfig", ks.kubeconfig_path, "--config", cfg,
                            "--log-level", "info"], ks.tmp)
        levels = {json.loads(l)["level"] for l in err.splitlines() if l.startswith("{")}
        assert "info" in levels, err


@R.test
def json_report_has_api_version_kind_and_status():
    with Kubesim() as ks, Daemon(kubesim=ks, env=FIXTURE_DAY) as d:
        cfgs = {1: "regions_file: %s\n" % REGIONS,
                2: "vault:\n  region: eastus\nregions_file: %s\n" % REGIONS}
        for want_rc, text in cfgs.items():
            path = os.path.join(ks.tmp, f"c{want_rc}.yaml")
            with open(path, "w") as f:
                f.write(text)
            for flag in (["-o", "json"], ["--output", "json"], ["-ojson"], ["--output=json"]):
                rc, out, err = run([ABC_BIN, "check", "--kubeconfig", ks.kubeconfig_path, "--config", path]
                                   + flag, ks.tmp)
                doc = json.loads(out)
                assert rc == want_rc, (flag, rc, err)
                assert doc["apiVersion"] == "aks-backup-companion/v1" and doc["kind"] == "Report", doc.keys()
                assert doc["status"] == {0: "ok", 1: "warning", 2: "failed"}[rc], (rc, doc["status"])
        d.wait_ready()
        st, _, body = d.get("/api/v1/report")
        doc = json.loads(body)
        assert st == 200 and doc["kind"] == "Report" and doc["status"] == "warning", doc.get("status")


@R.test
def help_per_command():
    home = tempfile.mkdtemp()
    for argv, want in ((["check", "--help"], "usage: aks-backup-companion check"),
                       (["check", "-h"], "usage: aks-backup-companion check"),
                       (["help", "check"], "usage: aks-backup-companion check"),
                       (["run", "--help"], "usage: aks-backup-companion [run]"),
                       (["config", "validate", "--help"], "usage: aks-backup-companion config validate"),
                       (["completion", "--help"], "usage: aks-backup-companion completion bash")):
        rc, out, err = run([ABC_BIN] + argv, home)
        assert rc == 0 and out.startswith(want), (argv, rc, out[:100])
    rc, out, _ = run([ABC_BIN, "check", "--help"], home)
    assert "-o, --output" in out and "--listen" not in out, out
    rc, out, _ = run([ABC_BIN, "run", "--help"], home)
    assert "--listen" in out and "--output" not in out, out


@R.test
def did_you_mean():
    home = tempfile.mkdtemp()
    for argv, hint in ((["chek"], "did you mean check?"),
                       (["verison"], "did you mean version?"),
                       (["check", "--outptu", "json"], "did you mean --output?"),
                       (["check", "--kubeconfg", "x"], "did you mean --kubeconfig?"),
                       (["run", "--lsiten", "x"], "did you mean --listen?"),
                       (["config", "validat"], "did you mean config validate?"),
                       (["check", "-o", "jsno"], "did you mean json?")):
        rc, out, err = run([ABC_BIN] + argv, home)
        assert rc == 4 and hint in err, (argv, rc, err)
    rc, out, err = run([ABC_BIN, "frobnicate"], home)
    assert rc == 4 and "did you mean" not in err, err


@R.test
def completion_bash():
    home = tempfile.mkdtemp()
    rc, script, err = run([ABC_BIN, "completion", "bash"], home)
    assert rc == 0 and "complete -o default -F _aks_backup_companion aks-backup-companion" in script
    path = os.path.join(home, "c.bash")
    with open(path, "w") as f:
        f.write(script)

    def complete(*words):
        words = ["aks-backup-companion"] + list(words)
        sh = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
              '_aks_backup_companion; printf "%s\\n" "${COMPREPLY[@]}"')
        p = subprocess.run(["bash", "-c", sh, "bash", path] + words, capture_output=True, text=True, timeout=10)
        assert p.returncode == 0, p.stderr
        return set(p.stdout.split())
    assert complete("ch") == {"check"}
    assert complete("co") == {"config", "completion"}
    assert complete("check", "--o") == {"--output"}
    assert complete("check", "-o", "") == {"text", "json"}
    assert complete("config", "") == {"validate"}
    assert "--listen" in complete("run", "--") and "--output" not in complete("run", "--")
    assert complete("run", "--log-level", "w") == {"warn"}
    rc, out, err = run([ABC_BIN, "completion", "zsh"], home)
    assert rc == 4, rc


@R.test
def per_pv_config():
    home = tempfile.mkdtemp()
    bad = os.path.join(home, "bad.yaml")
    with open(bad, "w") as f:
        f.write("metrics:\n  per_pv: some\n")
    rc, out, err = run([ABC_BIN, "config", "validate", "--config", bad], home)
    assert rc == 4 and f"{bad}:2:" in err and "all, skipped or none" in err, (rc, err)
    with Kubesim() as ks:
        counts = {}
        for mode in ("all", "skipped", "none"):
            cfg = ("metrics:\n  per_pv: %s\naccounting:\n  state_file: %s/q-%s.json\nregions_file: %s\n"
                   % (mode, ks.tmp, mode, REGIONS))
            with Daemon(kubesim=ks, config_text=cfg) as d:
                d.wait_ready()
                m = parse_metrics(d.get("/metrics")[2].decode())
                vals = [v for (n, l), v in m.items() if n == "aks_backup_persistent_volume_supported"]
                total = sum(v for (n, l), v in m.items() if n == "aks_backup_persistent_volumes")
                counts[mode] = (len(vals), sum(vals), total)
        n_all, n_supported, total = counts["all"]
        assert n_all == total and 0 < n_supported < n_all, counts
        assert counts["skipped"] == (n_all - n_supported, 0, total), counts
        assert counts["none"] == (0, 0, total), counts


sys.exit(R.finish())
