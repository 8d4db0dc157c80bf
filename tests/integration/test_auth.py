"""Issue 4: authentication and transport end to end, daemon against kubesim.
Token rotation through a tokenFile (no restart), a wrong CA refused with a
clear log line, insecure-skip-tls-verify working with a warning, an exec
credential plugin used (and a failing one reported with its stderr),
malformed and truncated watch streams logged, relisted, the daemon still
serving. Tokens never appear in the log."""
import json
import os
import stat
import sys
import time

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


sys.exit(R.finish())
