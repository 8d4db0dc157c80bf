#!/usr/bin/env python3
"""`helm template` with each of the chart's values, checking that it renders
what values.yaml says: image registry/digest, extraArgs, extraEnv,
extraVolumes/extraVolumeMounts, topologySpreadConstraints, the
PodDisruptionBudget, networkPolicy, revisionHistoryLimit, updateStrategy,
service.annotations, the ServiceMonitor's interval/scrapeTimeout/relabelings/
metricRelabelings/jobLabel, namespaceOverride, the probes, the container port
following http.listen (and http.health_listen), and the PrometheusRule fitted
to the release (job, thresholds, disabled alerts, extra labels/annotations).
Also that values.schema.json and the templates reject what they cannot do.
Usage: chart_values.py HELM CHART   (prints one line per case, then a count)"""
import subprocess
import sys

import yaml

HELM, CHART = sys.argv[1], sys.argv[2]
NS = "abc"
passed = failed = 0


def template(*args, release="abc", ok=True):
    p = subprocess.run([HELM, "template", release, CHART, "--namespace", NS] + list(args),
                       capture_output=True, text=True, timeout=60)
    if not ok:
        return p
    if p.returncode != 0:
        raise AssertionError(f"helm template {' '.join(args)} failed: {p.stderr.strip()}")
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def kind(docs, k):
    return [d for d in docs if d["kind"] == k]


def workload(docs, k="Deployment"):
    w = kind(docs, k)
    assert len(w) == 1, [d["kind"] for d in docs]
    return w[0]


def container(docs, k="Deployment"):
    return workload(docs, k)["spec"]["template"]["spec"]["containers"][0]


def rules(docs):
    pr = kind(docs, "PrometheusRule")
    assert len(pr) == 1
    return {r["alert"]: r for g in pr[0]["spec"]["groups"] for r in g["rules"]}


def case(fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {fn.__name__}")
    except Exception as e:  # noqa: BLE001 - report every failure and go on
        failed += 1
        import traceback
        print(f"FAIL {fn.__name__}: {e!r} at line {traceback.extract_tb(e.__traceback__)[-1].lineno}")
    return fn


@case
def image_registry_tag_and_digest():
    assert container(template())["image"] == "registry.example.com/aks-backup-companion:0.1.0"
    c = container(template("--set", "image.registry=ghcr.io", "--set", "image.repository=org/abc",
                           "--set", "image.tag=1.2.3"))
    assert c["image"] == "ghcr.io/org/abc:1.2.3", c["image"]
    dg = "sha256:" + "0123456789abcdef" * 4
    c = container(template("--set", f"image.digest={dg}", "--set", "image.tag=1.2.3"))
    assert c["image"] == f"registry.example.com/aks-backup-companion@{dg}", c["image"]
    c = container(template("--set", "image.registry="))
    assert c["image"] == "aks-backup-companion:0.1.0", c["image"]


@case
def extra_args_env_volumes():
    docs = template("--set-json", 'extraArgs=["--log-level","debug"]',
                    "--set-json", 'extraEnv=[{"name":"ABC_LOG_FORMAT","value":"text"}]',
                    "--set-json", 'extraVolumes=[{"name":"ca","configMap":{"name":"corp-ca"}}]',
                    "--set-json", 'extraVolumeMounts=[{"name":"ca","mountPath":"/etc/ssl/corp","readOnly":true}]')
    c = container(docs)
    assert c["args"] == ["run", "--config", "/etc/aks-backup-companion/aks-backup-companion.yaml",
                         "--log-level", "debug"], c["args"]
    assert {"name": "ABC_LOG_FORMAT", "value": "text"} in c["env"] and c["env"][0]["name"] == "POD_NAME"
    assert {"name": "ca", "mountPath": "/etc/ssl/corp", "readOnly": True} in c["volumeMounts"]
    vols = workload(docs)["spec"]["template"]["spec"]["volumes"]
    assert {"name": "ca", "configMap": {"name": "corp-ca"}} in vols and vols[0]["name"] == "config"


@case
def topology_spread_constraints():
    assert "topologySpreadConstraints" not in workload(template())["spec"]["template"]["spec"]
    tsc = ('[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"ScheduleAnyway",'
           '"labelSelector":{"matchLabels":{"app.kubernetes.io/instance":"{{ .Release.Name }}"}}}]')
    spec = workload(template("--set-json", f"topologySpreadConstraints={tsc}"))["spec"]["template"]["spec"]
    t = spec["topologySpreadConstraints"]
    assert len(t) == 1 and t[0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert t[0]["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "abc", t


@case
def pod_disruption_budget():
    assert kind(template(), "PodDisruptionBudget") == []  # one replica: no PDB (it would block drains)
    p = kind(template("--set", "replicas=3"), "PodDisruptionBudget")
    assert len(p) == 1 and p[0]["spec"]["minAvailable"] == 1 and "maxUnavailable" not in p[0]["spec"], p
    p = kind(template("--set", "replicas=3", "--set", "podDisruptionBudget.maxUnavailable=1",
                      "--set", "podDisruptionBudget.unhealthyPodEvictionPolicy=AlwaysAllow"), "PodDisruptionBudget")
    assert p[0]["spec"]["maxUnavailable"] == 1 and "minAvailable" not in p[0]["spec"], p
    assert p[0]["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    p = kind(template("--set", "replicas=3", "--set", "podDisruptionBudget.minAvailable=2"), "PodDisruptionBudget")
    assert p[0]["spec"]["minAvailable"] == 2
    assert kind(template("--set", "replicas=3", "--set", "podDisruptionBudget.enabled=false"),
                "PodDisruptionBudget") == []


@case
def network_policy():
    assert kind(template(), "NetworkPolicy") == []
    docs = template("--set", "networkPolicy.enabled=true")
    np = kind(docs, "NetworkPolicy")
    assert len(np) == 1
    spec = np[0]["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["podSelector"]["matchLabels"] == workload(docs)["spec"]["selector"]["matchLabels"]
    assert len(spec["ingress"]) == 1
    ing = spec["ingress"][0]
    assert ing["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}], ing
    assert ing["ports"] == [{"port": 8080, "protocol": "TCP"}], ing
    assert spec["egress"] == [{"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}], spec
    spec = kind(template("--set", "networkPolicy.enabled=true", "--set-string", "config.http.listen=0.0.0.0:9090",
                         "--set-json", 'networkPolicy.apiServer.cidrs=["10.0.0.1/32"]',
                         "--set-json", 'networkPolicy.monitoringNamespaceSelector={"matchLabels":{"kubernetes.io/metadata.name":"obs"}}',
                         "--set-json", 'networkPolicy.monitoringPodSelector={"matchLabels":{"app":"prometheus"}}'),
                "NetworkPolicy")[0]["spec"]
    assert spec["ingress"][0]["ports"] == [{"port": 9090, "protocol": "TCP"}], spec["ingress"]
    assert spec["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "obs"}},
                                           "podSelector": {"matchLabels": {"app": "prometheus"}}}]
    assert spec["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}], spec["egress"]


@case
def revision_history_and_update_strategy():
    assert workload(template())["spec"]["revisionHistoryLimit"] == 10
    assert "strategy" not in workload(template())["spec"]
    d = workload(template("--set", "revisionHistoryLimit=3",
                          "--set-json", 'updateStrategy={"type":"RollingUpdate","rollingUpdate":{"maxSurge":0,"maxUnavailable":1}}'))
    assert d["spec"]["revisionHistoryLimit"] == 3
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    ds = workload(template("--set", "workload.kind=DaemonSet", "--set", "revisionHistoryLimit=4",
                           "--set-json", 'updateStrategy={"type":"OnDelete"}'), "DaemonSet")
    assert ds["spec"]["revisionHistoryLimit"] == 4 and ds["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert "strategy" not in ds["spec"]


@case
def service_annotations_and_labels():
    svc = kind(template(), "Service")[0]
    assert "annotations" not in svc["metadata"]
    svc = kind(template("--set", "service.annotations.team=storage",
                        "--set", "service.labels.tier=ops"), "Service")[0]
    assert svc["metadata"]["annotations"] == {"team": "storage"}
    assert svc["metadata"]["labels"]["tier"] == "ops"


@case
def service_monitor_settings():
    docs = template("--set", "serviceMonitor.enabled=true")
    sm = kind(docs, "ServiceMonitor")[0]
    ep = sm["spec"]["endpoints"][0]
    assert sm["spec"]["jobLabel"] == "app.kubernetes.io/name"
    assert ep["interval"] == "30s" and ep["scrapeTimeout"] == "10s" and ep["honorLabels"] is False, ep
    assert "relabelings" not in ep and "metricRelabelings" not in ep
    docs = template("--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.interval=15s",
                    "--set", "serviceMonitor.scrapeTimeout=5s",
                    "--set-json", 'serviceMonitor.relabelings=[{"targetLabel":"cluster","replacement":"prod-1"}]',
                    "--set-json", 'serviceMonitor.metricRelabelings=[{"action":"drop","sourceLabels":["__name__"],"regex":"aks_backup_persistent_volume_supported"}]')
    ep = kind(docs, "ServiceMonitor")[0]["spec"]["endpoints"][0]
    assert ep["interval"] == "15s" and ep["scrapeTimeout"] == "5s"
    assert ep["relabelings"] == [{"targetLabel": "cluster", "replacement": "prod-1"}]
    assert ep["metricRelabelings"][0]["action"] == "drop"


@case
def namespace_override():
    docs = template("--set", "namespaceOverride=ops", "--set", "serviceMonitor.enabled=true",
                    "--set", "prometheusRule.enabled=true", "--set", "replicas=2", "--set", "networkPolicy.enabled=true")
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy",
                      "ValidatingAdmissionPolicyBinding"}
    for d in docs:
        if d["kind"] in cluster_scoped:
            continue
        ns = d["metadata"].get("namespace")
        # the extension's Role lives in the extension's namespace, the Role that
        # reads the Azure Files CSI driver's DaemonSet in kube-system, and the
        # Events Role where the Events are written (default)
        if d["metadata"]["name"].endswith("-events"):
            assert ns == "default", (d["kind"], d["metadata"]["name"], ns)
            continue
        assert ns in ("ops", "dataprotection-microsoft", "kube-system"), (d["kind"], d["metadata"]["name"], ns)
    assert sum(1 for d in docs if d["metadata"].get("namespace") == "ops") >= 8
    for b in kind(docs, "ClusterRoleBinding") + kind(docs, "RoleBinding"):
        assert all(s["namespace"] == "ops" for s in b["subjects"]), b
    assert kind(docs, "ServiceMonitor")[0]["spec"]["namespaceSelector"]["matchNames"] == ["ops"]


@case
def probes_configurable():
    c = container(template())
    # the chart's default config has a probe listener (http.health_listen :8081)
    assert c["livenessProbe"] == {"httpGet": {"path": "/livez", "port": "http-health"}, "initialDelaySeconds": 5,
                                  "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3}, c["livenessProbe"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz/synced", "port": "http-health"}
    c = container(template("--set", "livenessProbe.periodSeconds=30", "--set", "livenessProbe.timeoutSeconds=5",
                           "--set", "readinessProbe.enabled=false"))
    assert c["livenessProbe"]["periodSeconds"] == 30 and c["livenessProbe"]["timeoutSeconds"] == 5
    assert "readinessProbe" not in c


@case
def container_port_follows_http_listen():
    docs = template("--set-string", "config.http.listen=0.0.0.0:9090", "--set-string",
                    "config.http.health_listen=")
    c = container(docs)
    assert c["ports"] == [{"name": "http-metrics", "containerPort": 9090, "protocol": "TCP"}], c["ports"]
    assert c["livenessProbe"]["httpGet"]["port"] == "http-metrics"
    assert c["readinessProbe"]["httpGet"]["port"] == "http-metrics"
    cm = kind(docs, "ConfigMap")[0]
    assert "listen: 0.0.0.0:9090" in cm["data"]["aks-backup-companion.yaml"]
    svc = kind(docs, "Service")[0]
    assert svc["spec"]["ports"][0]["targetPort"] == "http-metrics"
    c = container(template("--set-string", "config.http.listen=[::]:8443"))
    assert c["ports"][0]["containerPort"] == 8443
    # the chart's probe listener (the default): probes go there
    c = container(template())
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http-metrics": 8080, "http-health": 8081}, ports
    assert c["livenessProbe"]["httpGet"]["port"] == "http-health" == c["readinessProbe"]["httpGet"]["port"]
    c = container(template("--set-string", "config.http.health_listen=0.0.0.0:9091"))
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http-metrics": 8080, "http-health": 9091}, ports
    assert c["livenessProbe"]["httpGet"]["port"] == "http-health" == c["readinessProbe"]["httpGet"]["port"]
    p = template("--set-string", "config.http.listen=0.0.0.0:0", ok=False)
    assert p.returncode != 0 and "fixed port" in p.stderr, p.stderr


@case
def alerts_fit_the_release():
    base = ["--set", "prometheusRule.enabled=true"]
    r = rules(template(*base))
    assert 'up{job="aks-backup-companion"}' in r["AKSBackupCompanionDown"]["expr"]
    # nameOverride changes the Service's app.kubernetes.io/name label, the job
    r = rules(template(*base, "--set", "nameOverride=backup-companion", release="prod"))
    assert 'up{job="backup-companion"}' in r["AKSBackupCompanionDown"]["expr"], r["AKSBackupCompanionDown"]["expr"]
    # fullnameOverride does not (jobLabel reads the name label)
    r = rules(template(*base, "--set", "fullnameOverride=bc", release="prod"))
    assert 'up{job="aks-backup-companion"}' in r["AKSBackupCompanionDown"]["expr"]
    # jobLabel "" = the Service name
    r = rules(template(*base, "--set", "serviceMonitor.jobLabel=", "--set", "fullnameOverride=bc"))
    assert 'up{job="bc"}' in r["AKSBackupCompanionDown"]["expr"]
    r = rules(template(*base, "--set", "prometheusRule.job=custom-scrape"))
    assert 'up{job="custom-scrape"}' in r["AKSBackupCompanionDown"]["expr"]
    p = template(*base, "--set", "serviceMonitor.jobLabel=team", ok=False)
    assert p.returncode != 0 and "not a label of the Service" in p.stderr, p.stderr


@case
def alert_thresholds_follow_the_daemon_config():
    r = rules(template("--set", "prometheusRule.enabled=true"))
    assert ">= 0.8" in r["AKSBackupOnDemandQuotaNearlyExhausted"]["expr"]
    assert r["AKSBackupSnapshotLimitNear"]["expr"].strip() == "aks_backup_volume_snapshots_per_claim_max >= 400"
    # --set-json: `--set` would pass 0.9 as a string
    docs = template("--set", "prometheusRule.enabled=true", "--set-json", "config.limits.warn_ratio=0.9",
                    "--set", "config.limits.snapshots_per_disk=1000", "--set", "config.extension.namespace=backup-ext")
    r = rules(docs)
    for a in ("AKSBackupOnDemandQuotaNearlyExhausted", "AKSBackupRestoreQuotaNearlyExhausted"):
        assert ">= 0.9" in r[a]["expr"] and ">= 0.8" not in r[a]["expr"], r[a]["expr"]
    assert r["AKSBackupSnapshotLimitNear"]["expr"].strip() == "aks_backup_volume_snapshots_per_claim_max >= 900"
    assert "an Azure disk allows 1000." in r["AKSBackupSnapshotLimitNear"]["annotations"]["summary"]
    assert "(90% of the 1000 snapshots" in r["AKSBackupSnapshotLimitNear"]["annotations"]["description"]
    assert "pods in backup-ext" in r["AKSBackupExtensionDown"]["annotations"]["description"]
    cm = kind(docs, "ConfigMap")[0]["data"]["aks-backup-companion.yaml"]
    assert "warn_ratio: 0.9" in cm and "snapshots_per_disk: 1000" in cm  # the daemon gets the same values


@case
def alerts_toggles_and_extra_labels():
    docs = template("--set", "prometheusRule.enabled=true",
                    "--set", "prometheusRule.alerts.AKSBackupVolumesSkipped.enabled=false",
                    "--set", "prometheusRule.alerts.AKSBackupExtensionDown.labels.severity=page",
                    "--set", "prometheusRule.alerts.AKSBackupExtensionDown.for=10m",
                    "--set", "prometheusRule.additionalLabels.team=storage",
                    "--set", "prometheusRule.additionalLabels.severity=info",
                    "--set", "prometheusRule.additionalAnnotations.dashboard=https://grafana.example.org/d/abc")
    r = rules(docs)
    assert "AKSBackupVolumesSkipped" not in r and len(r) == 14, sorted(r)  # 15 alerts, one disabled
    for name, rule in r.items():
        assert rule["labels"]["team"] == "storage", name
        assert rule["annotations"]["dashboard"] == "https://grafana.example.org/d/abc", name
        assert rule["annotations"]["runbook_url"].endswith("#" + name.lower()), name
    assert r["AKSBackupExtensionDown"]["labels"]["severity"] == "page" and r["AKSBackupExtensionDown"]["for"] == "10m"
    assert r["AKSBackupPrerequisiteFailed"]["labels"]["severity"] == "warning"  # an alert's own label wins
    p = template("--set", "prometheusRule.enabled=true", "--set", "prometheusRule.alerts.AKSBackupNope.enabled=false",
                 ok=False)
    assert p.returncode != 0 and "no such alert" in p.stderr, p.stderr


@case
def schema_rejects_unknown_and_bad_values():
    for args in (["--set", "networkPolicy.bogus=1"], ["--set", "livenessProbe.bogus=1"],
                 ["--set", "image.digest=latest"], ["--set", "podDisruptionBudget.unhealthyPodEvictionPolicy=Never"],
                 ["--set", "serviceMonitor.relabeling=x"], ["--set", "prometheusRule.alerts.AKSBackupVolumesSkipped.enable=false"],
                 ["--set", "extraArgs=--x"], ["--set", "revisionHistoryLimit=-1"]):
        p = template(*args, ok=False)
        assert p.returncode != 0, f"{args} accepted"


print(f"chart-values: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
