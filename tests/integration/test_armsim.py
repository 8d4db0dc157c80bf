"""tests/armsim against the public REST API examples (tests/armsim/examples/,
copied from Azure/azure-rest-api-specs): every field armsim answers exists in
the example of that operation with the same JSON type (or is a field the REST
description defines that the example leaves out, listed below with its
definition), and every field the daemon reads is in armsim's answer. Also the
simulator's own behaviour: tokens (Workload Identity, IMDS), ARM errors, faults,
paging and the request log."""
import json
import os
import sys
import time
import urllib.parse

import harness
from azure_fixture import (ArmSim, CLIENT, CLUSTER, SNAP_RG, STORAGE, TENANT, VAULT, lock, scenario)

EXAMPLES = os.path.join(harness.SRCROOT, "tests", "armsim", "examples")

# Fields the REST description (the swagger definitions) has that the stored example
# bodies do not show.
DESCRIBED = {
    "ListBackupInstances": {
        # PolicyInfo.policyParameters -> PolicyParameters
        "value[].properties.policyInfo.policyParameters": "object",
        "value[].properties.policyInfo.policyParameters.dataStoreParametersList": "array",
        "value[].properties.policyInfo.policyParameters.dataStoreParametersList[]": "object",
        "value[].properties.policyInfo.policyParameters.dataStoreParametersList[].dataStoreType": "string",
        "value[].properties.policyInfo.policyParameters.dataStoreParametersList[].objectType": "string",
        "value[].properties.policyInfo.policyParameters.dataStoreParametersList[].resourceGroupId": "string",
        # PolicyParameters.backupDatasourceParametersList -> KubernetesClusterBackupDatasourceParameters
        "value[].properties.policyInfo.policyParameters.backupDatasourceParametersList": "array",
        "value[].properties.policyInfo.policyParameters.backupDatasourceParametersList[]": "object",
        "value[].properties.policyInfo.policyParameters.backupDatasourceParametersList[].objectType": "string",
        "value[].properties.policyInfo.policyParameters.backupDatasourceParametersList[].includeClusterScopeResources": "boolean",
        "value[].properties.policyInfo.policyParameters.backupDatasourceParametersList[].snapshotVolumes": "boolean",
        "value[].properties.policyInfo.policyParameters.backupDatasourceParametersList[].includedNamespaces": "array",
        "value[].properties.policyInfo.policyParameters.backupDatasourceParametersList[].includedNamespaces[]": "string",
    },
    "ListJobs": {
        # AzureBackupJob.errorDetails -> UserFacingError[]
        "value[].properties.errorDetails": "array",
        "value[].properties.errorDetails[]": "object",
        "value[].properties.errorDetails[].code": "string",
        "value[].properties.errorDetails[].message": "string",
    },
    "ManagedClustersGet": {
        # ManagedCluster.identity -> ManagedClusterIdentity
        "identity": "object", "identity.type": "string",
    },
    "StorageAccountGetProperties": {},
    "ListBackupPolicy": {
        # AzureRetentionRule.lifecycles[].sourceDataStore, the OperationalStore data store type
    },
}

# What the daemon reads from each answer (daemon/azure/azure.c).
READS = {
    "GetBackupVaultWithMSI": ["location", "properties.storageSettings[].type",
                              "properties.featureSettings.crossRegionRestoreSettings.state"],
    "ListBackupPolicy": ["value[].id", "value[].properties.policyRules[].trigger.schedule.repeatingTimeIntervals[]",
                         "value[].properties.policyRules[].dataStore.dataStoreType",
                         "value[].properties.policyRules[].lifecycles[].sourceDataStore.dataStoreType"],
    "ListBackupInstances": ["value[].id", "value[].name", "value[].properties.dataSourceInfo.resourceID",
                            "value[].properties.dataSourceInfo.datasourceType",
                            "value[].properties.policyInfo.policyId",
                            "value[].properties.protectionStatus.status",
                            "value[].properties.policyInfo.policyParameters.dataStoreParametersList[].resourceGroupId"],
    "ListJobs": ["value[].name", "value[].properties.backupInstanceId", "value[].properties.operationCategory",
                 "value[].properties.isUserTriggered", "value[].properties.status", "value[].properties.startTime",
                 "value[].properties.endTime", "value[].properties.errorDetails[].code"],
    "ManagedClustersGet": ["location", "identity.type", "properties.servicePrincipalProfile.clientId"],
    "TrustedAccessRoleBindings_List": ["value[].properties.sourceResourceId", "value[].properties.roles[]"],
    "StorageAccountGetProperties": ["location", "kind", "sku.name", "properties.networkAcls.defaultAction",
                                    "properties.networkAcls.bypass"],
    "Snapshot_ListByResourceGroup": ["value[].properties.creationData.sourceResourceId"],
    "ManagementLocks_ListAtResourceGroupLevel": ["value[].properties.level", "value[].name"],
}

REQUESTS = {
    "GetBackupVaultWithMSI": (VAULT, "2024-04-01"),
    "ListBackupPolicy": (VAULT + "/backupPolicies", "2024-04-01"),
    "ListBackupInstances": (VAULT + "/backupInstances", "2024-04-01"),
    "ListJobs": (VAULT + "/backupJobs", "2024-04-01"),
    "ManagedClustersGet": (CLUSTER, "2024-02-01"),
    "TrustedAccessRoleBindings_List": (CLUSTER + "/trustedAccessRoleBindings", "2024-02-01"),
    "StorageAccountGetProperties": (STORAGE, "2023-05-01"),
    "Snapshot_ListByResourceGroup": (SNAP_RG + "/providers/Microsoft.Compute/snapshots", "2023-10-02"),
    "ManagementLocks_ListAtResourceGroupLevel": (SNAP_RG + "/providers/Microsoft.Authorization/locks", "2020-05-01"),
}


def jtype(v):
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}[type(v)]


def paths(o, prefix="", out=None):
    out = {} if out is None else out
    if isinstance(o, dict):
        for k, v in o.items():
            p = f"{prefix}.{k}" if prefix else k
            out.setdefault(p, set()).add(jtype(v))
            if k != "tags":  # free-form map
                paths(v, p, out)
    elif isinstance(o, list):
        for v in o:
            p = prefix + "[]"
            out.setdefault(p, set()).add(jtype(v))
            paths(v, p, out)
    return out


def fetch_all(a, token, path, version):
    """GET with nextLink followed; list pages joined like the daemon does."""
    url = f"{path}?api-version={version}"
    code, _, body = a.request("GET", url, token=token)
    assert code == 200, (code, body)
    if "value" not in body:
        return body, 1
    items, pages = list(body["value"]), 1
    while body.get("nextLink"):
        u = urllib.parse.urlsplit(body["nextLink"])
        code, _, body = a.request("GET", f"{u.path}?{u.query}", token=token)
        assert code == 200, (code, body)
        items += body["value"]
        pages += 1
    return {"value": items}, pages


R = harness.Results()


@R.test
def answers_match_the_rest_examples():
    with ArmSim(scenario(page_size=3, locks=[lock()])) as a:
        tok = a.imds_token()
        for name, (path, version) in REQUESTS.items():
            with open(os.path.join(EXAMPLES, name + ".json")) as f:
                ex = json.load(f)["responses"]["200"]["body"]
            got, _ = fetch_all(a, tok, path, version)
            assert got.get("value", [None]) != [], f"{name}: armsim answered an empty list"
            allowed = paths(ex)
            for p, t in DESCRIBED.get(name, {}).items():
                allowed.setdefault(p, set()).add(t)
            answered = paths(got)
            for p, types in answered.items():
                assert p in allowed, f"{name}: armsim answers field {p} that the REST example does not have"
                bad = types - allowed[p] - {"null"}
                assert not bad, f"{name}: {p} is {bad} in armsim but {allowed[p]} in the example"
            for p in READS[name]:
                assert p in answered, f"{name}: the daemon reads {p} but armsim does not answer it"
                assert p in allowed, f"{name}: the daemon reads {p}, which the REST API does not describe"


@R.test
def workload_identity_token_exchange():
    seed = scenario()
    seed["federated_tokens"] = ["jwt-one"]
    with ArmSim(seed) as a:
        def exchange(assertion, tenant=TENANT, client=CLIENT, scope="https://management.azure.com/.default"):
            form = urllib.parse.urlencode({
                "grant_type": "client_credentials", "client_id": client,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion, "scope": scope}).encode()
            return a.request("POST", f"/{tenant}/oauth2/v2.0/token", body=form,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
        code, _, body = exchange("jwt-one")
        assert code == 200 and body["token_type"] == "Bearer" and body["expires_in"] > 3000, body
        assert a.request("GET", VAULT + "?api-version=2024-04-01", token=body["access_token"])[0] == 200
        code, _, body = exchange("jwt-two")
        assert code == 401 and body["error"] == "invalid_client", body
        a.control("federated", {"tokens": ["jwt-two"]})  # the projected token rotated
        assert exchange("jwt-two")[0] == 200
        assert exchange("jwt-two", tenant="00000000-0000-0000-0000-000000000000")[0] == 400
        assert exchange("jwt-two", scope="https://management.azure.com/")[0] == 400


@R.test
def imds_needs_the_metadata_header():
    with ArmSim(scenario()) as a:
        code, _, body = a.request("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01"
                                         "&resource=https%3A%2F%2Fmanagement.azure.com%2F")
        assert code == 400, body
        tok = a.imds_token()
        code, _, body = a.request("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01"
                                         "&resource=https%3A%2F%2Fmanagement.azure.com%2F",
                                  headers={"Metadata": "true"})
        assert code == 200 and body["expires_on"].isdigit() and body["expires_in"].isdigit(), body
        assert tok != body["access_token"]


@R.test
def arm_errors_have_arm_bodies():
    with ArmSim(scenario()) as a:
        code, hdrs, body = a.request("GET", VAULT + "?api-version=2024-04-01")
        assert code == 401 and body["error"]["code"] == "InvalidAuthenticationToken", body
        assert "WWW-Authenticate" in hdrs
        tok = a.imds_token()
        code, _, body = a.request("GET", VAULT, token=tok)
        assert code == 400 and body["error"]["code"] == "MissingApiVersionParameter", body
        code, _, body = a.request("GET", VAULT + "?api-version=2021-01-01", token=tok)
        assert code == 400 and body["error"]["code"] == "InvalidApiVersionParameter", body
        code, _, body = a.request("GET", VAULT + "x?api-version=2024-04-01", token=tok)
        assert code == 404 and body["error"]["code"] == "ResourceNotFound", body
        a.fault("/storageAccounts/", 403, count=1)
        code, _, body = a.request("GET", STORAGE + "?api-version=2023-05-01", token=tok)
        assert code == 403 and body["error"]["code"] == "AuthorizationFailed", body
        assert a.request("GET", STORAGE + "?api-version=2023-05-01", token=tok)[0] == 200
        a.fault("/backupJobs", 429, count=1, retry_after=7)
        code, hdrs, body = a.request("GET", VAULT + "/backupJobs?api-version=2024-04-01", token=tok)
        assert code == 429 and hdrs.get("Retry-After") == "7" and body["error"]["code"] == "TooManyRequests"
        a.fault("/backupPolicies", 503, count=1)
        assert a.request("GET", VAULT + "/backupPolicies?api-version=2024-04-01", token=tok)[0] == 503
        a.fault("/backupVaults/vault-contoso", 200, count=1, latency_ms=400)
        t0 = time.monotonic()
        assert a.request("GET", VAULT + "?api-version=2024-04-01", token=tok)[0] == 200
        assert time.monotonic() - t0 >= 0.4
        a.control("expire")
        code, _, body = a.request("GET", VAULT + "?api-version=2024-04-01", token=tok)
        assert code == 401 and body["error"]["code"] == "ExpiredAuthenticationToken", body


@R.test
def paging_and_request_log():
    with ArmSim(scenario(page_size=2)) as a:
        tok = a.imds_token()
        got, pages = fetch_all(a, tok, VAULT + "/backupJobs", "2024-04-01")
        assert len(got["value"]) == 16 and pages == 8, (len(got["value"]), pages)
        log = a.log()
        jobs = [e for e in log if e["path"].endswith("/backupJobs")]
        assert len(jobs) == 8 and all(e["status"] == 200 for e in jobs), jobs
        assert all("armsim-" not in json.dumps(e) for e in log), "a token reached the request log"
        assert [e["kind"] for e in log][0] == "imds"


@R.test
def help_text():
    import subprocess
    import sys
    from azure_fixture import ARMSIM
    out = subprocess.run([sys.executable, ARMSIM, "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "--seed" in out.stdout and "/_armsim/fault" in out.stdout, out.stdout


sys.exit(R.finish())
