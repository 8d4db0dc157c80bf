"""A real Prometheus (Debian's `prometheus`) scrapes the daemon the way the
Prometheus Operator scrapes it through the chart's ServiceMonitor, and
evaluates the chart's PrometheusRule on what it scraped.

The chart is rendered with a release that is not called aks-backup-companion
(nameOverride/fullnameOverride backup-companion, namespace backup). The scrape
config is generated from the rendered ServiceMonitor, Service and Deployment
with the relabelings the Operator generates for an endpoints target: target
labels namespace, pod, container, service, job (from jobLabel), endpoint;
honor_labels false. The target is the daemon on loopback (against kubesim);
the Kubernetes metadata an endpoints discovery would give is attached to the
static target as __meta_kubernetes_* labels, which the relabelings consume.

Asserted: no series carries an exported_* label (no metric label clashes with
a target label); AKSBackupCompanionDown's expression is empty while the target
is up (its job selector matches the job the ServiceMonitor gives); and an
OOMKilled extension container injected in kubesim makes
AKSBackupExtensionOOMKilled fire naming the extension's pod and container,
while `pod` stays the companion's own pod."""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import yaml

from harness import SRCROOT, Daemon, Kubesim, Results, free_port, wait_for

R = Results()
HELM = os.environ.get("HELM") or os.path.join(os.environ.get("ABC_BUILDROOT", ""), "tools", "helm")
if not os.access(HELM, os.X_OK):  # e.g. the ASan build: scripts/tools.sh fills build/tools
    HELM = os.path.join(SRCROOT, "build", "tools", "helm")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
CHART = os.path.join(SRCROOT, "charts", "aks-backup-companion")
NS = "backup"
EXT_NS = "dataprotection-microsoft"
AGENT = "dataprotection-microsoft-kubernetes-agent-8446d5458b-2fcr8"
TARGET_LABELS = {"namespace", "pod", "container", "service", "job", "endpoint", "instance"}


def render():
    p = subprocess.run([HELM, "template", "prod", CHART, "--namespace", NS,
                        "--set", "nameOverride=backup-companion", "--set", "fullnameOverride=backup-companion",
                        "--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    one = lambda kind: [d for d in docs if d["kind"] == kind][0]  # noqa: E731
    return one("ServiceMonitor"), one("Service"), one("Deployment"), one("PrometheusRule")


def sanitize(name):
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def scrape_config(sm, svc, dep, address, pod_name):
    """The Operator's scrape config for endpoint 0 of sm, with a static target
    that carries the metadata endpoints discovery would attach."""
    ep = sm["spec"]["endpoints"][0]
    port = [p for p in svc["spec"]["ports"] if p["name"] == ep["port"]][0]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    meta = {
        "__meta_kubernetes_namespace": svc["metadata"]["namespace"],
        "__meta_kubernetes_service_name": svc["metadata"]["name"],
        "__meta_kubernetes_endpoint_port_name": port["name"],
        "__meta_kubernetes_endpoint_address_target_kind": "Pod",
        "__meta_kubernetes_endpoint_address_target_name": pod_name,
        "__meta_kubernetes_pod_name": pod_name,
        "__meta_kubernetes_pod_container_name": container["name"],
        "__meta_kubernetes_pod_container_port_name": port["name"],
    }
    for k, v in svc["metadata"].get("labels", {}).items():
        meta["__meta_kubernetes_service_label_" + sanitize(k)] = v
        meta["__meta_kubernetes_service_labelpresent_" + sanitize(k)] = "true"
    relabel = [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]
    for k, v in sm["spec"]["selector"]["matchLabels"].items():
        relabel.append({"action": "keep",
                        "source_labels": ["__meta_kubernetes_service_label_" + sanitize(k),
                                          "__meta_kubernetes_service_labelpresent_" + sanitize(k)],
                        "regex": f"({re.escape(v)});true"})
    relabel += [
        {"action": "keep", "source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": ep["port"]},
        {"source_labels": ["__meta_kubernetes_endpoint_address_target_kind",
                           "__meta_kubernetes_endpoint_address_target_name"],
         "separator": ";", "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"},
        {"source_labels": ["__meta_kubernetes_endpoint_address_target_kind",
                           "__meta_kubernetes_endpoint_address_target_name"],
         "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"},
    ]
    if sm["spec"].get("jobLabel"):
        relabel.append({"source_labels": ["__meta_kubernetes_service_label_" + sanitize(sm["spec"]["jobLabel"])],
                        "target_label": "job", "regex": "(.+)", "replacement": "${1}"})
    relabel.append({"target_label": "endpoint", "replacement": ep["port"]})
    relabel += ep.get("relabelings", [])
    return {
        "job_name": f"serviceMonitor/{sm['metadata']['namespace']}/{sm['metadata']['name']}/0",
        "honor_labels": bool(ep.get("honorLabels", False)),
        "metrics_path": ep.get("path", "/metrics"),
        "scheme": ep.get("scheme", "http"),
        # The ServiceMonitor's interval is 30s; a test cannot wait that long.
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "static_configs": [{"targets": [address], "labels": meta}],
        "relabel_configs": relabel,
        "metric_relabel_configs": ep.get("metricRelabelings", []),
    }


class Prometheus:
    def __init__(self, config, rules):
        self.tmp = tempfile.mkdtemp(prefix="abc-prom-")
        self.port = free_port()
        rules_path = os.path.join(self.tmp, "rules.yaml")
        with open(rules_path, "w") as f:
            yaml.safe_dump(rules, f)
        cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
               "rule_files": [rules_path], "scrape_configs": [config]}
        cfg_path = os.path.join(self.tmp, "prometheus.yml")
        with open(cfg_path, "w") as f:
            yaml.safe_dump(cfg, f)
        self.log_path = os.path.join(self.tmp, "prometheus.log")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([PROMETHEUS, "--config.file", cfg_path,
                                      "--storage.tsdb.path", os.path.join(self.tmp, "data"),
                                      "--web.listen-address", f"127.0.0.1:{self.port}"],
                                     stdout=log, stderr=log)
        log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.loads(r.read())
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, q):
        return self.api("/api/v1/query", query=q)["result"]

    def ready(self):
        assert self.proc.poll() is None, "prometheus exited: " + self.log()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False


def crashloop_oom(ks, name):
    code, _, pod = ks.get(f"/api/v1/namespaces/{EXT_NS}/pods/{name}")
    assert code == 200, code
    pod = copy.deepcopy(pod)
    pod["metadata"].pop("resourceVersion", None)
    pod.setdefault("apiVersion", "v1")
    pod.setdefault("kind", "Pod")
    c = pod["status"]["containerStatuses"][0]
    c["ready"] = False
    c["restartCount"] = c.get("restartCount", 0) + 1
    c["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}
    c["lastState"] = {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                     "startedAt": "2026-03-14T14:50:00Z", "finishedAt": "2026-03-14T14:55:00Z"}}
    return pod, c["name"]


@R.test
def operator_style_scrape_and_alert():
    t0 = time.monotonic()
    sm, svc, dep, rule = render()
    job = svc["metadata"]["labels"][sm["spec"]["jobLabel"]]
    assert job == "backup-companion", job
    companion_pod = dep["metadata"]["name"] + "-7d9f8c6b5-abcde"
    with Kubesim() as ks, Daemon(kubesim=ks) as d:
        d.wait_ready()
        cfg = scrape_config(sm, svc, dep, d.listen, companion_pod)
        with Prometheus(cfg, rule["spec"]) as prom:
            wait_for(prom.ready, 20, 0.1, what="prometheus ready")
            wait_for(lambda: prom.query(f'up{{job="{job}"}} == 1'), 20, 0.2, what="target up")
            # two scrapes of the extension families before the OOM kill
            wait_for(lambda: prom.query('count_over_time(aks_backup_extension_container_restarts_total[1m]) >= 2'),
                     20, 0.2, what="two scrapes")

            series = prom.api("/api/v1/series", **{"match[]": '{__name__=~"aks_backup_.+"}'})
            assert len(series) > 50, len(series)
            exported = sorted({k for s in series for k in s if k.startswith("exported_")})
            assert exported == [], f"labels renamed by the scrape: {exported}"
            for s in series:
                assert s["namespace"] == NS and s["pod"] == companion_pod and s["service"] == svc["metadata"]["name"] \
                    and s["job"] == job and s["endpoint"] == "http-metrics" \
                    and s["container"] == dep["spec"]["template"]["spec"]["containers"][0]["name"], s
            ext = [s for s in series if s["__name__"] == "aks_backup_extension_pod_ready"]
            assert {s["extension_pod"] for s in ext} >= {AGENT}, ext

            # AKSBackupCompanionDown selects the job this ServiceMonitor gives: empty while up.
            rules = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
            assert prom.query(rules["AKSBackupCompanionDown"]["expr"]) == [], rules["AKSBackupCompanionDown"]["expr"]

            pod, container = crashloop_oom(ks, AGENT)
            ks.apply(pod)

            def fired():
                return [a for a in prom.api("/api/v1/alerts")["alerts"]
                        if a["labels"]["alertname"] == "AKSBackupExtensionOOMKilled" and a["state"] == "firing"]
            alerts = wait_for(fired, 20, 0.2, what="AKSBackupExtensionOOMKilled firing") or fired()
            assert len(alerts) == 1, alerts
            a = alerts[0]
            assert a["labels"]["extension_pod"] == AGENT and a["labels"]["extension_container"] == container, a
            assert a["labels"]["pod"] == companion_pod and a["labels"]["namespace"] == NS, a
            assert not any(k.startswith("exported_") for k in a["labels"]), a
            summary = a["annotations"]["summary"]
            assert f"{AGENT}/{container}" in summary and companion_pod not in summary, summary
    assert time.monotonic() - t0 < 60, time.monotonic() - t0


sys.exit(R.finish())
