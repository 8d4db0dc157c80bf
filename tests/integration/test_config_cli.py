"""The command line's contract for configuration and usage errors: the real
binary, exit codes and FILE:LINE:COL messages."""
import os
import subprocess
import sys
import tempfile

from harness import Results

BIN = os.environ["ABC_BIN"]
SRC = os.environ["ABC_SRCROOT"]


def run(args, env=None, timeout=20):
    e = {k: v for k, v in os.environ.items() if not k.startswith("ABC_") or k in ("ABC_BIN",)}
    e["HOME"] = tempfile.mkdtemp()
    e.pop("KUBECONFIG", None)
    if env:
        e.update(env)
    p = subprocess.run([BIN] + args, capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


def write(text):
    fd, path = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


r = Results()


@r.test
def validate_shipped_config():
    rc, out, err = run(["config", "validate", "--config", os.path.join(SRC, "config/aks-backup-companion.yaml")])
    assert rc == 0, (rc, out, err)
    assert out.startswith("config OK"), out
    assert len(out.strip().splitlines()) == 1, out


@r.test
def validate_defaults_without_file():
    rc, out, err = run(["config", "validate"])
    assert rc == 0, (rc, out, err)
    assert "listen 0.0.0.0:8080" in out, out


@r.test
def unknown_key_names_position_and_suggestion():
    path = write("http:\n  max_connections: 10\n  lisen: 127.0.0.1:9000\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4, (rc, err)
    assert f"{path}:3:3:" in err, err
    assert "listen" in err and "lisen" in err, err


@r.test
def unknown_edition_names_position_and_valid_editions():
    path = write("cluster:\n  identity: system\nmatrix:\n  edition: \"2024-05\"\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4, (rc, out, err)
    assert f"{path}:4:12:" in err, err
    assert "2024-05" in err and "2026-01" in err and "2023-08" in err, err
    rc, out, err = run(["config", "validate"], env={"ABC_MATRIX_EDITION": "2099-01"})
    assert rc == 4 and "ABC_MATRIX_EDITION" in err and "2026-01, 2023-08" in err, (rc, err)
    for ed in ("2026-01", "2023-08"):
        rc, out, err = run(["config", "validate", "--config", write(f"matrix:\n  edition: \"{ed}\"\n")])
        assert rc == 0, (ed, rc, err)


@r.test
def impossible_schedule_date_names_position():
    path = write("vault:\n  backup_schedule: R/2026-02-30T02:00:00+00:00/PT4H\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4, (rc, out, err)
    assert f"{path}:2:20:" in err and "2026-02-30" in err, err
    path = write("vault:\n  backup_schedule: R/2026-04-31T02:00:00Z/P1D\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4 and f"{path}:2:20:" in err, (rc, err)
    path = write("vault:\n  backup_schedule: R/2028-02-29T02:00:00Z/P1D\n")  # a leap day
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 0, (rc, err)


@r.test
def vault_lists_and_tolerance():
    path = write("vault:\n  tiers: [operational, vault]\n  backup_namespaces: [shop, analytics]\n"
                 "  schedule_tolerance_minutes: -1\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 0, (rc, err)
    path = write("vault:\n  tiers: [operational, archive]\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4 and f"{path}:2:24:" in err and "archive" in err, (rc, err)
    path = write("vault:\n  backup_namespaces: [Shop_1]\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4 and f"{path}:2:23:" in err, (rc, err)
    path = write("vault:\n  schedule_tolerance_minutes: -2\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4 and f"{path}:2:31:" in err, (rc, err)


@r.test
def malformed_kubernetes_versions_file_is_a_config_error():
    kv = write("1.33 2026-07-31\n1.34 2026-11-31\n")
    path = write(f"kubernetes_versions_file: {kv}\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4 and f"{kv}:2:" in err, (rc, err)


@r.test
def wrong_type_names_position():
    path = write("limits:\n  warn_ratio: lots\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4, (rc, err)
    assert f"{path}:2:15:" in err, err


@r.test
def out_of_range_value():
    path = write("limits:\n  warn_ratio: 1.5\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4 and f"{path}:2:15:" in err, (rc, err)


@r.test
def malformed_pod_selector_is_a_config_error():
    path = write('extension:\n  pod_selector: "app in (a"\n')
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4 and f"{path}:2:17:" in err and "label selector" in err, (rc, err)
    # the same check for the environment override, before any API call
    rc, out, err = run(["check", "--kubeconfig", "/nonexistent"],
                       env={"ABC_EXTENSION_POD_SELECTOR": "!!bad value"})
    assert rc == 4 and "ABC_EXTENSION_POD_SELECTOR" in err, (rc, err)
    path = write('extension:\n  pod_selector: "app.kubernetes.io/name=x, tier notin (a,b), !old"\n')
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 0, (rc, err)


@r.test
def malformed_schedule_is_a_config_error():
    path = write("vault:\n  backup_schedule: every six hours\n")
    rc, out, err = run(["config", "validate", "--config", path])
    assert rc == 4 and f"{path}:2:20:" in err, (rc, err)


@r.test
def env_override_and_bad_env_value():
    rc, out, err = run(["config", "validate"], env={"ABC_HTTP_LISTEN": "127.0.0.1:9999"})
    assert rc == 0 and "127.0.0.1:9999" in out, (rc, out, err)
    rc, out, err = run(["config", "validate"], env={"ABC_HTTP_LISTEN": "nowhere"})
    assert rc == 4 and "ABC_HTTP_LISTEN" in err, (rc, err)


@r.test
def missing_config_file():
    rc, out, err = run(["config", "validate", "--config", "/nonexistent/abc.yaml"])
    assert rc == 4 and "/nonexistent/abc.yaml" in err, (rc, err)


@r.test
def usage_errors_exit_4():
    for args in (["frobnicate"], ["run", "--bogus"], ["check", "--output", "yaml"],
                 ["config"], ["version", "--listen", "x"]):
        rc, out, err = run(args)
        assert rc == 4, (args, rc, err)
        assert "usage" in err, (args, err)


@r.test
def version_prints_version():
    rc, out, err = run(["version"])
    assert rc == 0 and out.startswith("aks-backup-companion "), (rc, out)


@r.test
def check_without_any_api_configuration_exits_3():
    rc, out, err = run(["check"], env={"ABC_SA_DIR": "/nonexistent"})
    assert rc == 3, (rc, out, err)
    assert "kubeconfig" in err.lower(), err


@r.test
def run_with_bad_config_starts_nothing():
    path = write("http:\n  listen: [1, 2]\n")
    rc, out, err = run(["run", "--config", path], timeout=10)
    assert rc == 4 and f"{path}:2:11:" in err, (rc, err)


sys.exit(r.finish())
