"""Issue 4: authentication and transport end to end, daemon against kubesim.
Token rotation through a tokenFile (no restart), a wrong CA refused with a
clear log line, insecure-skip-tls-verify working with a warning, an exec
credential plugin used (and a failing one reported with its stderr),
malformed and truncated watch streams logged, relisted, the daemon still
serving. Tokens never appear in the log."""
import base64
import json
import os
import stat
import subprocess
import sys
import time

import harness
from harness import Daemon, Kubesim, Results, wait_for

R = Results()
TOKEN_A = "tok-alpha-7f3c1e"
TOKEN_B = "tok-beta-91d2aa"
ENV = {"ABC_DEBUG_ENDPOINTS": "1"}


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def kubeconfig(ks, name, user_lines, cluster_lines=None, ca=True):
    """A kubeconfig for ks with the given user block (lines indented 4)."""
    cl = [f"    server: {ks.api}"]
    if ca:
        cl.append(f"    certificate-authority: {ks.ca_path}")
    cl += cluster_lines or []
    text = ("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n" + "\n".join(cl) + "\n"
            "users:\n- name: u\n  user:\n" + ("\n".join(user_lines) if user_lines else "    {}") + "\n"
            "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n")
    return write(os.path.join(ks.tmp, name), text)


def store_names(d, resource="persistentvolumes"):
    code, _, body = d.get("/debug/store?resource=" + resource)
    assert code == 200, f"/debug/store answered {code}"
    return {i["name"]: i["resourceVersion"] for i in json.loads(body)["items"]}


def apply_pv(ks, name):
    ks.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
              "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"}},
              "status": {"phase": "Available"}})


def no_secrets(d, *secrets):
    text = d.log_text()
    for s in secrets:
        assert s not in text, f"a token appeared in the log"


@R.test
def token_file_rotation_without_restart():
    with Kubesim(token=TOKEN_A) as ks:
        tok = write(os.path.join(ks.tmp, "token"), TOKEN_A + "\n")
        kc = kubeconfig(ks, "kc-tokenfile", [f"    tokenFile: {tok}"])
        with Daemon(kubeconfig=kc, env=ENV) as d:
            d.wait_ready(timeout=30)
            pid = d.proc.pid
            # the server rotates, the file follows (as kubelet does for bound tokens)
            ks.control_post("/tokens", {"valid": [TOKEN_B]})
            write(tok, TOKEN_B + "\n")
            ks.control_post("/drop-watches")  # every reflector must come back with the new token
            apply_pv(ks, "after-rotation")
            wait_for(lambda: "after-rotation" in store_names(d), 30, 0.2, "PV created after rotation seen")
            assert d.proc.pid == pid and d.proc.poll() is None
            codes = ks.stats()["codes"]
            assert codes.get("401", 0) >= 1, f"no 401 was answered: {codes}"
            no_secrets(d, TOKEN_A, TOKEN_B)
            d.stop()


@R.test
def wrong_ca_is_refused_with_a_clear_log_line():
    with Kubesim() as ks:
        # no certificate-authority: the system trust store does not know kubesim's CA
        kc = kubeconfig(ks, "kc-noca", [f"    token: {ks.token}"], ca=False)
        with Daemon(kubeconfig=kc, env=ENV) as d:
            def refused():
                return any("certificate" in json.dumps(l).lower() and l.get("level") in ("warn", "error")
                           for l in d.log_lines())
            wait_for(refused, 20, 0.2, "a log line about the certificate")
            assert d.get("/readyz/synced")[0] != 200
            served = sum(ks.stats()["requests"].values())
            assert served == 0, f"{served} requests got through an unverified TLS connection"


@R.test
def insecure_skip_tls_verify_works_and_warns():
    with Kubesim() as ks:
        kc = kubeconfig(ks, "kc-insecure", [f"    token: {ks.token}"],
                        ["    insecure-skip-tls-verify: true"], ca=False)
        with Daemon(kubeconfig=kc, env=ENV) as d:
            d.wait_ready(timeout=30)
            warn = [l for l in d.log_lines() if l.get("level") == "warn" and "insecure" in json.dumps(l)]
            assert len(warn) == 1, f"expected one warning about insecure-skip-tls-verify, got {warn}"
            d.stop()


@R.test
def exec_plugin_token_is_used():
    with Kubesim(token=TOKEN_A) as ks:
        runs = os.path.join(ks.tmp, "runs")
        script = write(os.path.join(ks.tmp, "cred.sh"),
                       "#!/bin/sh\n"
                       f"echo run >> {runs}\n"
                       "[ \"$PLUGIN_MODE\" = ok ] || { echo 'PLUGIN_MODE not passed' >&2; exit 2; }\n"
                       "cat <<EOF\n"
                       '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
                       f'"status":{{"token":"{TOKEN_A}","expirationTimestamp":"2999-01-01T00:00:00Z"}}}}\n'
                       "EOF\n", 0o755)
        kc = kubeconfig(ks, "kc-exec", [
            "    exec:", "      apiVersion: client.authentication.k8s.io/v1", f"      command: {script}",
            "      args: [get-token]", "      env:", "      - name: PLUGIN_MODE", "        value: ok",
            "      interactiveMode: Never"])
        with Daemon(kubeconfig=kc, env=ENV) as d:
            d.wait_ready(timeout=30)
            with open(runs) as f:
                n = len(f.read().split())
            assert 1 <= n <= 2, f"the plugin ran {n} times; its token should be cached"
            no_secrets(d, TOKEN_A)
            d.stop()


@R.test
def failing_exec_plugin_is_reported():
    with Kubesim() as ks:
        script = write(os.path.join(ks.tmp, "fail.sh"),
                       "#!/bin/sh\necho 'AADSTS70043: refresh token expired, run az login' >&2\nexit 1\n", 0o755)
        kc = kubeconfig(ks, "kc-exec-fail", [
            "    exec:", "      apiVersion: client.authentication.k8s.io/v1beta1", f"      command: {script}"])
        with Daemon(kubeconfig=kc, env=ENV) as d:
            def reported():
                return any("exec credential plugin failed" in l.get("msg", "") and "AADSTS70043" in json.dumps(l)
                           for l in d.log_lines())
            wait_for(reported, 20, 0.2, "a log line with the plugin's stderr")
            assert d.get("/readyz/synced")[0] != 200


@R.test
def malformed_and_truncated_watch_streams_relist():
    with Kubesim(extra_args=["--generate-pvs", "300"]) as ks, \
            Daemon(kubesim=ks, env=ENV) as d:
        d.wait_ready(timeout=30)
        for i, mode in enumerate(("malformed", "truncated")):
            ks.control_post("/garbage", {"mode": mode, "resource": "persistentvolumes"})
            apply_pv(ks, f"garbage-{i}")
            want = {x["name"]: x["resourceVersion"] for x in ks.state("persistentvolumes")["items"]}
            wait_for(lambda: store_names(d) == want, 30, 0.2, f"store converged after {mode} stream")
        lines = [l for l in d.log_lines() if "persistentvolumes" in json.dumps(l) and l.get("level") == "warn"]
        text = json.dumps(lines)
        assert "bad watch stream" in text, "malformed stream not logged"
        assert "truncated" in text, "truncated stream not logged"
        m = d.metrics()
        relists = [v for (n, l), v in m.items() if n == "aks_backup_relists_total" and ("resource", "persistentvolumes") in l]
        assert relists and relists[0] >= 2, f"relists {relists}"
        assert d.get("/livez")[0] == 200
        d.stop()


# ---------------------------------------------------------------- client certificates
def client_cert(ks, name, subject, days=30, ca=None):
    """A key and a certificate for subject signed by kubesim's CA (or by
    ca=(crt, key)); days=-1 gives one that expired yesterday."""
    key = os.path.join(ks.tmp, name + ".key")
    csr = os.path.join(ks.tmp, name + ".csr")
    crt = os.path.join(ks.tmp, name + ".crt")
    ca_crt, ca_key = ca or (ks.ca_path, os.path.join(ks.tls_dir, "ca.key"))
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", csr, "-subj", subject], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                    "-out", crt, "-days", str(days)], check=True, capture_output=True)
    return crt, key


def other_ca(ks):
    key = os.path.join(ks.tmp, "other-ca.key")
    crt = os.path.join(ks.tmp, "other-ca.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=other-ca"],
                   check=True, capture_output=True)
    return crt, key


def cert_kubeconfig(ks, name, crt, key, inline=False):
    """Client certificates are verified by kubesim's own TLS listener (an
    HTTP/2 front would not pass them on)."""
    if inline:
        with open(crt, "rb") as f:
            c = base64.b64encode(f.read()).decode()
        with open(key, "rb") as f:
            k = base64.b64encode(f.read()).decode()
        user = [f"    client-certificate-data: {c}", f"    client-key-data: {k}"]
    else:
        user = [f"    client-certificate: {crt}", f"    client-key: {key}"]
    text = ("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
            f"    server: {ks.direct_api}\n    certificate-authority: {ks.ca_path}\n"
            "users:\n- name: u\n  user:\n" + "\n".join(user) + "\n"
            "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n")
    return write(os.path.join(ks.tmp, name), text)


def run_check(kc):
    cfg = os.path.join(os.path.dirname(kc), "check.yaml")
    write(cfg, "accounting:\n  state_file: %s\nregions_file: %s\n"
          % (os.path.join(os.path.dirname(kc), "quota.json"),
             os.path.join(harness.SRCROOT, "config", "regions.txt")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABC_") and k != "KUBECONFIG"}
    return subprocess.run([harness.ABC_BIN, "check", "--kubeconfig", kc, "--config", cfg],
                          capture_output=True, text=True, timeout=60, env=env)


@R.test
def client_certificate_authenticates_as_its_cn():
    with Kubesim(extra_args=["--forbidden-user", "abc-denied"]) as ks:
        crt, key = client_cert(ks, "reader", "/O=abc-readers/O=system:authenticated/CN=abc-reader")
        kc = cert_kubeconfig(ks, "kc-cert", crt, key)
        with Daemon(kubeconfig=kc, env=ENV) as d:
            d.wait_ready(timeout=30)
            mine = [r for r in ks.requests() if r["user_agent"].startswith("aks-backup-companion/")]
            assert mine and all(r["user"] == "abc-reader" for r in mine), mine[:3]
            assert all(r["code"] != 401 for r in mine), [r for r in mine if r["code"] == 401][:3]
            apply_pv(ks, "seen-with-a-certificate")
            wait_for(lambda: "seen-with-a-certificate" in store_names(d), 15, 0.2, "watch with a certificate")
            d.stop()
        # the same certificate inline (-data): `check` gets through (not exit 3)
        p = run_check(cert_kubeconfig(ks, "kc-cert-data", crt, key, inline=True))
        assert p.returncode in (0, 1, 2), (p.returncode, p.stderr)
        # O maps to groups: a denied user is still allowed as system:masters
        crt, key = client_cert(ks, "denied", "/O=abc-readers/CN=abc-denied")
        p = run_check(cert_kubeconfig(ks, "kc-denied", crt, key))
        assert p.returncode == 3 and "forbidden (403)" in p.stderr, (p.returncode, p.stderr)
        assert any(r["user"] == "abc-denied" and r["code"] == 403 for r in ks.requests())
        crt, key = client_cert(ks, "master", "/O=system:masters/CN=abc-denied")
        p = run_check(cert_kubeconfig(ks, "kc-master", crt, key))
        assert p.returncode in (0, 1, 2), (p.returncode, p.stderr)


@R.test
def expired_or_unknown_client_certificate_is_exit_3_naming_the_file():
    with Kubesim() as ks:
        crt, key = client_cert(ks, "expired", "/CN=abc-reader", days=-1)
        kc = cert_kubeconfig(ks, "kc-expired", crt, key)
        p = run_check(kc)
        assert p.returncode == 3, (p.returncode, p.stderr)
        assert f"client certificate {crt} expired at" in p.stderr, p.stderr
        with Daemon(kubeconfig=kc, env=ENV) as d:
            assert d.wait_exit(10) == 3
            assert f"client certificate {crt} expired at" in d.log_text(), d.log_text()[-1000:]
        p = run_check(cert_kubeconfig(ks, "kc-expired-data", crt, key, inline=True))
        assert p.returncode == 3 and "kc-expired-data (user u, client-certificate-data) expired at" in p.stderr, \
            p.stderr
        # signed by a CA the server does not trust: the server's 401, with the file named
        crt, key = client_cert(ks, "unknown", "/CN=abc-reader", ca=other_ca(ks))
        kc = cert_kubeconfig(ks, "kc-unknown", crt, key)
        p = run_check(kc)
        assert p.returncode == 3, (p.returncode, p.stderr)
        assert f"does not accept client certificate {crt}" in p.stderr, p.stderr
        with Daemon(kubeconfig=kc, env=ENV) as d:
            assert d.wait_exit(20) == 3, d.log_text()[-2000:]
            assert f"does not accept client certificate {crt}" in d.log_text(), d.log_text()[-2000:]


# ---------------------------------------------------------------- token rotation, exec plugins
@R.test
def rotated_token_file_is_picked_up_without_a_401():
    """kubelet rewrites a projected token well before the old one expires;
    the daemon re-reads the file on its interval (60 s; 2 s here through
    the ABC_TEST_TOKEN_REREAD_SECONDS testing aid), so by the time the
    server stops accepting the old token no request carries it."""
    with Kubesim(token=TOKEN_A) as ks:
        tok = write(os.path.join(ks.tmp, "token"), TOKEN_A + "\n")
        kc = kubeconfig(ks, "kc-rotate", [f"    tokenFile: {tok}"])
        with Daemon(kubeconfig=kc, env=dict(ENV, ABC_TEST_TOKEN_REREAD_SECONDS="2")) as d:
            d.wait_ready(timeout=30)
            assert "ABC_TEST_TOKEN_REREAD_SECONDS" in d.log_text()
            ks.control_post("/tokens", {"valid": [TOKEN_A, TOKEN_B]})
            write(tok, TOKEN_B + "\n")
            time.sleep(2.5)
            ks.control_post("/tokens", {"valid": [TOKEN_B]})  # the old token is no longer accepted
            ks.control_post("/drop-watches")
            apply_pv(ks, "after-quiet-rotation")
            wait_for(lambda: "after-quiet-rotation" in store_names(d), 15, 0.2, "PV seen after rotation")
            codes = ks.stats()["codes"]
            assert codes.get("401", 0) == 0, f"a request carried the old token: {codes}"
            no_secrets(d, TOKEN_A, TOKEN_B)
            d.stop()


@R.test
def token_file_is_reread_at_once_after_a_401():
    """The server rotates before the file's interval is up: the 401 makes
    the daemon read the file again at once (not 60 s later)."""
    with Kubesim(token=TOKEN_A) as ks:
        tok = write(os.path.join(ks.tmp, "token"), TOKEN_A + "\n")
        kc = kubeconfig(ks, "kc-401", [f"    tokenFile: {tok}"])
        with Daemon(kubeconfig=kc, env=ENV) as d:
            d.wait_ready(timeout=30)
            ks.control_post("/tokens", {"valid": [TOKEN_B]})
            write(tok, TOKEN_B + "\n")
            t0 = time.monotonic()
            ks.control_post("/drop-watches")
            apply_pv(ks, "after-401")
            wait_for(lambda: "after-401" in store_names(d), 20, 0.1, "PV seen after the 401")
            took = time.monotonic() - t0
            assert took < 10, f"took {took:.1f} s: not re-read at once"
            assert ks.stats()["codes"].get("401", 0) >= 1
            d.stop()


@R.test
def hanging_exec_plugin_is_killed_at_its_deadline():
    with Kubesim() as ks:
        pids = os.path.join(ks.tmp, "pids")
        script = write(os.path.join(ks.tmp, "hang.sh"),
                       "#!/bin/sh\n"
                       f"sleep 300 &\necho $$ $! > {pids}\nwait\n", 0o755)
        kc = kubeconfig(ks, "kc-exec-hang", [
            "    exec:", "      apiVersion: client.authentication.k8s.io/v1", f"      command: {script}"])
        with Daemon(kubeconfig=kc, env=dict(ENV, ABC_TEST_EXEC_TIMEOUT_SECONDS="2")) as d:
            def reported():
                return [l for l in d.log_lines() if "exec credential plugin failed" in l.get("msg", "")]
            lines = wait_for(reported, 15, 0.1, "the plugin reported as timed out")
            assert "timed out after 2 s; killed" in json.dumps(lines[0]), lines[0]
            with open(pids) as f:
                procs = [int(x) for x in f.read().split()]

            def all_gone():
                for p in procs:
                    try:
                        os.kill(p, 0)
                        with open(f"/proc/{p}/stat") as f:  # a zombie awaiting its reaper is gone
                            if f.read().split(")")[-1].split()[0] != "Z":
                                return False
                    except (ProcessLookupError, FileNotFoundError):
                        pass
                return True
            wait_for(all_gone, 5, 0.1, "the plugin and its child killed")
            assert d.get("/readyz/synced")[0] != 200
            assert d.proc.poll() is None
            d.stop()


@R.test
def exec_token_is_renewed_at_its_expiration_timestamp():
    """A token that expires within the daemon's 60 s margin is not used
    again: the next request runs the plugin anew."""
    with Kubesim(token=TOKEN_A) as ks:
        runs = os.path.join(ks.tmp, "runs")
        script = write(os.path.join(ks.tmp, "short.sh"),
                       "#!/bin/sh\n"
                       f"echo run >> {runs}\n"
                       "exp=$(date -u -d @$(( $(date +%s) + 66 )) +%Y-%m-%dT%H:%M:%SZ)\n"
                       "cat <<EOF\n"
                       '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
                       f'"status":{{"token":"{TOKEN_A}","expirationTimestamp":"$exp"}}}}\n'
                       "EOF\n", 0o755)
        kc = kubeconfig(ks, "kc-exec-short", [
            "    exec:", "      apiVersion: client.authentication.k8s.io/v1", f"      command: {script}"])

        def nruns():
            with open(runs) as f:
                return len(f.read().split())
        with Daemon(kubeconfig=kc, env=ENV) as d:
            d.wait_ready(timeout=30)
            ks.control_post("/drop-watches")  # within its validity: cached
            wait_for(lambda: ks.stats()["watches_open"] >= 5, 10, 0.1, "watches back")
            n0 = nruns()
            assert n0 <= 2, f"the plugin ran {n0} times while its token was valid"
            time.sleep(6.5)  # now within 60 s of its expiry
            ks.control_post("/drop-watches")
            wait_for(lambda: nruns() > n0, 10, 0.1, "the plugin run again near the token's expiry")
            d.stop()


sys.exit(R.finish())
