"""Helpers for the Azure view tests (standard library only).

ArmSim    -- starts tests/armsim/armsim.py on a free port with a seed, talks to its
             control endpoints (faults, token expiry, accepted federated tokens,
             state) and reads its request log.
scenario  -- a consistent seed: the Backup vault, its policies, instances (this
             cluster's and another cluster's), jobs of today and yesterday, the
             managed cluster and its trusted-access binding, the storage account,
             the snapshots and locks of the snapshot resource group; shaped after
             the public REST API examples in tests/armsim/examples/.
"""
import copy
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import harness

ARMSIM = os.path.join(harness.SRCROOT, "tests", "armsim", "armsim.py")
SUB = "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f"   # the subscription of tests/fixtures/nodes.json
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "0d7b3c41-5a2e-4f1b-9c3d-8e6f7a9b0c1d"
RG_BACKUP = f"/subscriptions/{SUB}/resourceGroups/rg-backup"
VAULT = f"{RG_BACKUP}/providers/Microsoft.DataProtection/backupVaults/vault-contoso"
CLUSTER = f"/subscriptions/{SUB}/resourceGroups/rg-contoso-prod/providers/Microsoft.ContainerService/managedClusters/aks-contoso-prod"
OTHER_CLUSTER = f"/subscriptions/{SUB}/resourceGroups/rg-other/providers/Microsoft.ContainerService/managedClusters/aks-other"
STORAGE = f"{RG_BACKUP}/providers/Microsoft.Storage/storageAccounts/stcontosobackup"
SNAP_RG = f"/subscriptions/{SUB}/resourceGroups/rg-aks-snapshots"
POLICY = f"{VAULT}/backupPolicies/aks-policy"
SCHEDULE = "R/2026-03-01T02:00:00+00:00/PT4H"
INSTANCE = "aks-contoso-prod-aks-contoso-prod-0f1e2d3c"
OTHER_INSTANCE = "aks-other-aks-other-9a8b7c6d"
NOW = "2026-03-14T12:00:00Z"

API_VERSIONS = {
    "microsoft.dataprotection/backupvaults": "2024-04-01",
    "microsoft.containerservice/managedclusters": "2024-02-01",
    "microsoft.storage/storageaccounts": "2023-05-01",
    "microsoft.compute/snapshots": "2023-10-02",
    "microsoft.authorization/locks": "2020-05-01",
}


def vault():
    return {"identity": {"principalId": "c009b9a0-0024-417c-83cd-025d3776045d", "tenantId": TENANT,
                         "type": "SystemAssigned"},
            "id": VAULT, "name": "vault-contoso", "type": "Microsoft.DataProtection/backupVaults",
            "location": "westeurope", "tags": {},
            "properties": {"provisioningState": "Succeeded",
                           "storageSettings": [{"datastoreType": "VaultStore", "type": "GeoRedundant"}],
                           "featureSettings": {"crossRegionRestoreSettings": {"state": "Disabled"}},
                           "securitySettings": {"softDeleteSettings": {"state": "On",
                                                                       "retentionDurationInDays": 14}}}}


def policy(pid=POLICY, schedule=SCHEDULE, vault_tier=False):
    rules = [{"backupParameters": {"backupType": "Incremental", "objectType": "AzureBackupParams"},
              "trigger": {"schedule": {"repeatingTimeIntervals": [schedule]},
                          "taggingCriteria": [{"tagInfo": {"tagName": "Default", "id": "Default_"},
                                               "taggingPriority": 99, "isDefault": True}],
                          "objectType": "ScheduleBasedTriggerContext"},
              "dataStore": {"dataStoreType": "OperationalStore", "objectType": "DataStoreInfoBase"},
              "name": "BackupHourly", "objectType": "AzureBackupRule"},
             {"lifecycles": [{"sourceDataStore": {"dataStoreType": "VaultStore" if vault_tier else "OperationalStore",
                                                  "objectType": "DataStoreInfoBase"},
                              "deleteAfter": {"objectType": "AbsoluteDeleteOption", "duration": "P7D"}}],
              "isDefault": True, "name": "Default", "objectType": "AzureRetentionRule"}]
    return {"id": pid, "name": pid.rsplit("/", 1)[1], "type": "Microsoft.DataProtection/backupVaults/backupPolicies",
            "properties": {"policyRules": rules,
                           "datasourceTypes": ["Microsoft.ContainerService/managedClusters"],
                           "objectType": "BackupPolicy"}}


def instance(name, cluster, namespaces=None):
    ns = {"objectType": "KubernetesClusterBackupDatasourceParameters", "includeClusterScopeResources": True,
          "snapshotVolumes": True}
    if namespaces is not None:
        ns["includedNamespaces"] = namespaces
    cname = cluster.rsplit("/", 1)[1]
    return {"id": f"{VAULT}/backupInstances/{name}", "name": name,
            "type": "Microsoft.DataProtection/backupVaults/backupInstances", "tags": {},
            "properties": {"friendlyName": name,
                           "dataSourceInfo": {"resourceID": cluster, "resourceUri": cluster,
                                              "datasourceType": "Microsoft.ContainerService/managedClusters",
                                              "resourceName": cname,
                                              "resourceType": "Microsoft.ContainerService/managedClusters",
                                              "resourceLocation": "westeurope", "objectType": "Datasource"},
                           "dataSourceSetInfo": {"resourceID": cluster, "resourceUri": cluster,
                                                 "datasourceType": "Microsoft.ContainerService/managedClusters",
                                                 "resourceName": cname,
                                                 "resourceType": "Microsoft.ContainerService/managedClusters",
                                                 "resourceLocation": "westeurope", "objectType": "DatasourceSet"},
                           "policyInfo": {"policyId": POLICY, "policyVersion": "",
                                          "policyParameters": {
                                              "dataStoreParametersList": [
                                                  {"dataStoreType": "OperationalStore",
                                                   "objectType": "AzureOperationalStoreParameters",
                                                   "resourceGroupId": SNAP_RG}],
                                              "backupDatasourceParametersList": [ns]}},
                           "protectionStatus": {"status": "ProtectionConfigured"},
                           "provisioningState": "Succeeded", "objectType": "BackupInstance"}}


def job(jid, inst, start, category="Backup", user=False, status="Completed", end=None, error=None,
        case_variant=False):
    bi = f"{VAULT}/backupInstances/{inst}"
    if case_variant:  # ARM itself mixes resourcegroups/resourceGroups, Backupvaults/backupVaults
        bi = bi.replace("resourceGroups", "resourcegroups").replace("backupVaults", "Backupvaults")
    p = {"activityID": jid, "subscriptionId": SUB, "backupInstanceId": bi, "policyId": POLICY,
         "dataSourceId": CLUSTER, "vaultName": "vault-contoso", "backupInstanceFriendlyName": inst,
         "policyName": "aks-policy", "sourceResourceGroup": "rg-contoso-prod",
         "dataSourceSetName": "aks-contoso-prod", "dataSourceName": "aks-contoso-prod", "progressEnabled": False,
         "sourceSubscriptionID": SUB, "startTime": start,
         "dataSourceType": "Microsoft.ContainerService/managedClusters", "operationCategory": category,
         "operation": "OnDemandBackup" if (category == "Backup" and user) else (
             "ScheduledBackup" if category == "Backup" else "Restore"),
         "status": status, "isUserTriggered": user, "supportedActions": [""], "duration": "00:02:11.9724387",
         "dataSourceLocation": "westeurope"}
    if end:
        p["endTime"] = end
    if error:
        p["errorDetails"] = [{"code": error, "message": "The disk has reached its snapshot limit."}]
    return {"properties": p, "id": f"{VAULT}/backupJobs/{jid}", "name": jid,
            "type": "Microsoft.DataProtection/backupVaults/backupJobs"}


def jobs_today():
    """This cluster: 3 scheduled backups, on-demand 3 (one failed, one in progress, one listed twice),
    2 restores (one failed); yesterday 2 on-demand; another cluster: 5 on-demand today."""
    j = [
        job("0a000001-0000-4000-8000-000000000001", INSTANCE, "2026-03-14T02:00:05.1746833Z",
            end="2026-03-14T02:04:05.1746833Z"),
        job("0a000001-0000-4000-8000-000000000002", INSTANCE, "2026-03-14T06:00:05.1746833Z",
            end="2026-03-14T06:04:05.1746833Z"),
        job("0a000001-0000-4000-8000-000000000003", INSTANCE, "2026-03-14T10:00:05.1746833Z",
            end="2026-03-14T10:05:00.0000000Z"),
        job("0a000001-0000-4000-8000-000000000004", INSTANCE, "2026-03-14T08:15:00.0000000Z", user=True,
            end="2026-03-14T08:19:00.0000000Z", case_variant=True),
        job("0a000001-0000-4000-8000-000000000005", INSTANCE, "2026-03-14T09:30:00.0000000Z", user=True,
            status="Failed", end="2026-03-14T09:31:00.0000000Z", error="UserErrorPVSnapshotLimitReached"),
        job("0a000001-0000-4000-8000-000000000006", INSTANCE, "2026-03-14T11:00:00.0000000Z", user=True,
            status="InProgress"),
        job("0a000001-0000-4000-8000-000000000007", INSTANCE, "2026-03-14T07:00:00.0000000Z",
            category="Restore", user=True, end="2026-03-14T07:20:00.0000000Z"),
        job("0a000001-0000-4000-8000-000000000008", INSTANCE, "2026-03-14T11:30:00.0000000Z",
            category="Restore", user=True, status="Failed", error="UserErrorRestoreNamespaceExists"),
        job("0a000001-0000-4000-8000-000000000009", INSTANCE, "2026-03-13T13:00:00.0000000Z", user=True,
            end="2026-03-13T13:05:00.0000000Z"),
        job("0a000001-0000-4000-8000-00000000000a", INSTANCE, "2026-03-13T14:00:00.0000000Z", user=True,
            end="2026-03-13T14:05:00.0000000Z"),
    ]
    j.append(copy.deepcopy(j[3]))  # the same job listed twice counts once
    for i in range(5):
        j.append(job(f"0b000001-0000-4000-8000-00000000000{i}", OTHER_INSTANCE,
                     f"2026-03-14T0{i + 1}:30:00.0000000Z", user=True, end=f"2026-03-14T0{i + 1}:35:00.0000000Z"))
    return j


def cluster(identity="SystemAssigned", location="westeurope"):
    o = {"id": CLUSTER.replace("resourceGroups", "resourcegroups"), "location": location,
         "name": "aks-contoso-prod", "tags": {}, "type": "Microsoft.ContainerService/ManagedClusters",
         "properties": {"provisioningState": "Succeeded", "kubernetesVersion": "1.33.2",
                        "currentKubernetesVersion": "1.33.2", "dnsPrefix": "aks-contoso",
                        "fqdn": "aks-contoso-abcd1234.hcp.westeurope.azmk8s.io",
                        "servicePrincipalProfile": {"clientId": "msi"},
                        "nodeResourceGroup": "MC_rg-contoso-prod_aks-contoso-prod_westeurope",
                        "enableRBAC": True}}
    if identity == "ServicePrincipal":
        o["properties"]["servicePrincipalProfile"] = {"clientId": "3f1c0e6a-1b2c-4d5e-8f90-a1b2c3d4e5f6"}
    else:
        o["identity"] = {"type": identity}
    return o


def binding(vault_id=VAULT, role="Microsoft.DataProtection/backupVaults/backup-operator"):
    return {"id": f"{CLUSTER}/trustedAccessRoleBindings/backup-binding",
            "type": "Microsoft.ContainerService/managedClusters/trustedAccessRoleBindings",
            "name": "backup-binding", "properties": {"sourceResourceId": vault_id, "roles": [role]}}


def storage(kind="StorageV2", sku="Standard_LRS", location="westeurope", deny=False):
    return {"id": STORAGE, "kind": kind, "location": location, "name": "stcontosobackup",
            "properties": {"creationTime": "2025-06-01T02:42:41.7633306Z",
                           "networkAcls": {"bypass": "None" if deny else "AzureServices",
                                           "defaultAction": "Deny" if deny else "Allow",
                                           "ipRules": [], "virtualNetworkRules": [], "resourceAccessRules": []},
                           "primaryLocation": location, "provisioningState": "Succeeded",
                           "statusOfPrimary": "available", "supportsHttpsTrafficOnly": True},
            "sku": {"name": sku, "tier": "Premium" if sku.startswith("Premium") else "Standard"}, "tags": {},
            "type": "Microsoft.Storage/storageAccounts"}


def snapshot(name, disk):
    return {"properties": {"osType": "Linux",
                           "creationData": {"createOption": "Copy", "sourceResourceId": disk},
                           "diskSizeGB": 8, "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
                           "timeCreated": "2026-03-14T02:01:35.9278721+00:00", "provisioningState": "Succeeded"},
            "type": "Microsoft.Compute/snapshots", "location": "westeurope", "tags": {},
            "id": f"{SNAP_RG}/providers/Microsoft.Compute/snapshots/{name}", "name": name}


DISK = (f"/subscriptions/{SUB}/resourceGroups/MC_rg-contoso-prod_aks-contoso-prod_westeurope"
        "/providers/Microsoft.Compute/disks/pvc-0f6a3d2e")
DISK2 = DISK[:-8] + "pvc-77aa01bb"


def lock(level="CanNotDelete"):
    return {"properties": {"level": level},
            "id": f"{SNAP_RG}/providers/Microsoft.Authorization/locks/keep-snapshots",
            "type": "Microsoft.Authorization/locks", "name": "keep-snapshots"}


def scenario(page_size=2, n_snap=4, locks=None, **kw):
    """The seed armsim serves: every read passing (override parts with kw)."""
    resources = {VAULT: vault(), CLUSTER: kw.get("cluster", cluster()), STORAGE: kw.get("storage", storage())}
    collections = {
        VAULT + "/backupPolicies": [policy(), policy(f"{VAULT}/backupPolicies/blob-policy")],
        VAULT + "/backupInstances": [instance(INSTANCE, CLUSTER), instance(OTHER_INSTANCE, OTHER_CLUSTER)],
        VAULT + "/backupJobs": kw.get("jobs", jobs_today()),
        CLUSTER + "/trustedAccessRoleBindings": kw.get("bindings", [binding()]),
        SNAP_RG + "/providers/Microsoft.Compute/snapshots":
            [snapshot(f"snap-{i}", DISK) for i in range(n_snap)] + [snapshot("snap-x", DISK2)],
        SNAP_RG + "/providers/Microsoft.Authorization/locks": locks if locks is not None else [],
    }
    return {"tenant_id": TENANT, "client_id": CLIENT, "federated_tokens": [], "api_versions": API_VERSIONS,
            "page_size": page_size, "resources": resources, "collections": collections}


class ArmSim:
    def __init__(self, seed, token_lifetime=3600, extra_args=(), tls=False):
        self.tmp = tempfile.mkdtemp(prefix="armsim-")
        self.ca = os.path.join(self.tmp, "tls", "ca.crt") if tls else None
        if tls:
            extra_args = list(extra_args) + ["--tls-dir", os.path.join(self.tmp, "tls")]
        self.seed_path = os.path.join(self.tmp, "seed.json")
        with open(self.seed_path, "w") as f:
            json.dump(seed, f)
        self.stderr = open(os.path.join(self.tmp, "armsim.log"), "wb")
        self.proc = subprocess.Popen([sys.executable, ARMSIM, "--listen", "127.0.0.1:0", "--seed", self.seed_path,
                                      "--token-lifetime", str(token_lifetime)] + list(extra_args),
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("armsim did not start")
        self.urls = json.loads(line)
        self.url = self.urls["arm"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()

    def _ctx(self):
        if not self.ca:
            return None
        import ssl
        return ssl.create_default_context(cafile=self.ca)

    def control(self, path, obj=None):
        data = json.dumps(obj or {}).encode()
        req = urllib.request.Request(self.url + "/_armsim/" + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5, context=self._ctx()) as r:
            return json.loads(r.read())

    def fault(self, match, status, count=1, retry_after=None, code=None, latency_ms=0):
        return self.control("fault", {"match": match, "status": status, "count": count,
                                      "retry_after": retry_after, "code": code, "latency_ms": latency_ms})

    def log(self):
        with urllib.request.urlopen(self.url + "/_armsim/log", timeout=5, context=self._ctx()) as r:
            return json.loads(r.read())

    def request(self, method, path, token=None, headers=None, body=None):
        """Raw request: (status, headers, parsed body)."""
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=10, context=self._ctx()) as r:
                return r.status, dict(r.headers), json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read() or b"null")

    def imds_token(self):
        code, _, body = self.request("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01"
                                            "&resource=https%3A%2F%2Fmanagement.azure.com%2F",
                                     headers={"Metadata": "true"})
        assert code == 200, body
        return body["access_token"]


def azure_config(tmp, arm, extra=""):
    """Config for the daemon with the Azure view on, pointed at armsim."""
    return ("accounting:\n  state_file: %s\nregions_file: %s\n"
            "azure:\n  enabled: true\n  vault_id: %s\n  cluster_id: %s\n  storage_account_id: %s\n"
            "  resource_manager_url: %s\n  authority_host: %s\n  imds_url: %s\n"
            "  poll_seconds: 5\n  jobs_poll_seconds: 5\n%s"
            % (os.path.join(tmp, "quota.json"), os.path.join(harness.SRCROOT, "config", "regions.txt"),
               VAULT, CLUSTER, STORAGE, arm.url, arm.url, arm.url, extra))
