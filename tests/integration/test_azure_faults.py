"""The Azure view's credentials and faults against kubesim + armsim: AKS
Workload Identity with a rotating federated token and an expired ARM token
(401, a new token, the read retried once), IMDS tokens refreshed before they
expire, 429 with Retry-After honoured (from armsim's log) and 5xx retried, ARM
unreachable (quota from the cluster with azure_unavailable), clean shutdown
while a retry waits, HTTPS with a private CA (azure.ca_file), and no token
in any log line."""
import sys
import time

import harness
from harness import Daemon, Kubesim
import azure_fixture as az
from azure_fixture import ArmSim
from test_azure import inst, no_token_in_logs, prereq, quota, start, wait_prereq, wait_quota

R = harness.Results()


@R.test
def arm_unreachable_quota_from_the_cluster():
    with Kubesim() as k, ArmSim(az.scenario()) as arm:
        d = Daemon(kubesim=k, start=False, env={"ABC_TEST_NOW": az.NOW})
        dead = "http://127.0.0.1:%d" % harness.free_port()
        cfg = az.azure_config(d.tmp, arm).replace("resource_manager_url: " + arm.url,
                                                   "resource_manager_url: " + dead)
        with open(d.config_path, "w") as f:
            f.write(cfg)
        with d:
            d.start()
            d.wait_ready()

            def fallen_back():
                doc = quota(d)
                w = [x for x in doc["warnings"] if x["code"] == "azure_unavailable"]
                return doc if w and "not read yet" not in w[0]["message"] else None
            doc = harness.wait_for(fallen_back, 20, 0.2, "azure_unavailable")
            assert inst(doc, "default") is not None, doc  # the cluster's counts
            assert inst(doc, az.INSTANCE) is None, doc
            # every Azure-derived check is unknown, with the transport error as the reason
            for c in ("trusted_access", "storage_account_kind", "storage_same_region", "vault_same_region",
                      "policies_within_limit", "instances_within_limit", "identity"):
                p = wait_prereq(d, c, "unknown", observed="Azure: ")
                assert "connect" in p["observed"].lower(), p
            # what the cluster alone judges does not change
            for c in ("kubernetes_version", "csi_disk_driver", "region_supported", "extension_running"):
                assert prereq(d, c)["status"] == "pass", prereq(d, c)
            reads = {x["resource"]: x for x in harness.wait_for(
                lambda: (lambda r: r if all(x["ok"] is False for x in r) else None)(
                    __import__("json").loads(d.get("/api/v1/report")[2])["azure"]["reads"]), 20, 0.2,
                "every read failed")}
            assert reads["snapshots"]["ok"] is False and reads["locks"]["ok"] is False, reads
            assert d.metrics()[("aks_backup_azure_up", frozenset())] == 0


@R.test
def rate_limited_read_waits_for_retry_after():
    with Kubesim() as k, ArmSim(az.scenario(page_size=50)) as arm:
        arm.fault("/backupJobs", 429, count=1, retry_after=3)
        with start(k, arm) as d:
            wait_quota(d)
            log = [e for e in arm.log() if e["path"].endswith("/backupJobs")]
            i = next(i for i, e in enumerate(log) if e["status"] == 429)
            nxt = log[i + 1]
            assert nxt["status"] == 200, log
            assert nxt["t"] - log[i]["t"] >= 3.0, (nxt["t"] - log[i]["t"])
            arm.fault("/backupPolicies", 503, count=1)
            arm.control("reset-log")
            harness.wait_for(lambda: [e["status"] for e in arm.log() if e["path"].endswith("/backupPolicies")]
                             [:2] == [503, 200], 20, 0.2, "503 then a retry")
            # stopping while a read waits out a long Retry-After: prompt, clean exit
            arm.fault("/backupJobs", 429, count=1, retry_after=60)
            harness.wait_for(lambda: any(e["status"] == 429 and e["path"].endswith("/backupJobs")
                                         for e in arm.log()), 15, 0.2, "a second 429")
            t0 = time.monotonic()
            d.stop()
            assert time.monotonic() - t0 < 5


@R.test
def workload_identity_rotation_and_expired_token():
    seed = az.scenario()
    seed["federated_tokens"] = ["federated-jwt-1"]
    with Kubesim() as k, ArmSim(seed) as arm, start(k, arm, wi="federated-jwt-1\n",
                                                     env={"ABC_LOG_LEVEL": "debug"}) as d:
        wait_quota(d)
        kinds = [e["kind"] for e in arm.log()]
        assert "token" in kinds and "imds" not in kinds, kinds
        # kubelet rotates the projected token; Entra ID accepts only the new one
        with open(d.wi_path, "w") as f:
            f.write("federated-jwt-2\n")
        arm.control("federated", {"tokens": ["federated-jwt-2"]})
        arm.control("reset-log")
        arm.control("expire")  # the cached ARM token is now expired: 401 ExpiredAuthenticationToken

        def recovered():
            log = arm.log()
            t401 = [e for e in log if e["status"] == 401 and e["kind"] == "arm"]
            tok = [e for e in log if e["kind"] == "token" and e["status"] == 200]
            ok_after = [e for e in log if e["kind"] == "arm" and e["status"] == 200 and tok and e["t"] > tok[0]["t"]]
            return t401 and tok and ok_after
        harness.wait_for(recovered, 20, 0.2, "a new token after the 401")
        log = arm.log()
        first401 = next(e for e in log if e["status"] == 401)
        retried = [e for e in log if e["path"] == first401["path"] and e["t"] > first401["t"]]
        assert retried and retried[0]["status"] == 200, log  # the read retried once, with the new token
        time.sleep(0.3)
        assert d.metrics()[("aks_backup_azure_up", frozenset())] == 1
        no_token_in_logs(d, arm)
        d.stop()


@R.test
def tokens_refreshed_before_expiry():
    with Kubesim() as k, ArmSim(az.scenario(page_size=50), token_lifetime=4) as arm, start(k, arm) as d:
        wait_quota(d)
        harness.wait_for(lambda: len([e for e in arm.log() if e["kind"] == "imds"]) >= 3, 25, 0.2,
                         "three IMDS token requests")
        assert not [e for e in arm.log() if e["status"] == 401], "a read used an expired token"
        no_token_in_logs(d, arm)



@R.test
def https_with_a_private_ca():
    """azure.ca_file: the endpoints' private CA is trusted beside the system's; without it the
    TLS verification fails and the reads are unknown with the transport error."""
    with Kubesim() as k, ArmSim(az.scenario(page_size=50), tls=True) as arm:
        assert arm.url.startswith("https://")
        with start(k, arm, extra="  ca_file: %s\n" % arm.ca) as d:
            doc = wait_quota(d)
            assert inst(doc, az.INSTANCE)["backup"]["used"] == 3
            wait_prereq(d, "trusted_access", "pass")
            d.stop()
        with start(k, arm) as d:
            p = wait_prereq(d, "trusted_access", "unknown", observed="Azure: ")
            assert "certificate" in p["observed"].lower() or "ssl" in p["observed"].lower(), p


sys.exit(R.finish())
