#!/usr/bin/env python3
"""Prints, as a JSON request log for rbac_check.py, the API requests
aks-backup-companion makes with the default config (README: Permissions):
LIST+WATCH of every watched resource, Events, the warnings ConfigMap, and with
--ha the Lease and the quota ConfigMap. --extra VERB PATH adds a request,
--drop WORD removes those whose path contains WORD (for checking the checker).
The real log comes from kubesim's /requests after an integration run."""
import argparse
import json

NS = "aks-backup-companion"
EXT_NS = "dataprotection-microsoft"
WATCHED = [
    "/api/v1/persistentvolumes",
    "/api/v1/persistentvolumeclaims",
    "/api/v1/nodes",
    f"/api/v1/namespaces/{EXT_NS}/pods",
    "/apis/storage.k8s.io/v1/storageclasses",
    "/apis/storage.k8s.io/v1/csidrivers",
    "/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses",
    "/apis/snapshot.storage.k8s.io/v1/volumesnapshots",
    "/apis/velero.io/v1/backups",      # accounting source velero-backups, namespace ""
    "/apis/velero.io/v1/restores",     # accounting source velero-restores
    "/api/v1/namespaces",              # namespace count, velero.io/ metadata
    "/apis/velero.io/v1/backupstoragelocations",  # the extension's location, another Velero
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ha", action="store_true")
    ap.add_argument("--extra", nargs=2, action="append", default=[], metavar=("VERB", "PATH"))
    ap.add_argument("--drop", action="append", default=[])
    a = ap.parse_args()
    log = [{"verb": "GET", "path": "/version"}, {"verb": "GET", "path": "/apis"},
           # the Azure Files CSI driver's version, every 10 min
           {"verb": "GET", "path": "/apis/apps/v1/namespaces/kube-system/daemonsets/csi-azurefile-node"}]
    for p in WATCHED:
        log.append({"verb": "GET", "path": p + "?limit=500"})
        log.append({"verb": "GET", "path": p + "?watch=true&allowWatchBookmarks=true&resourceVersion=1"})
    log += [
        {"verb": "POST", "path": "/api/v1/namespaces/default/events"},
        {"verb": "PATCH", "path": "/api/v1/namespaces/default/events/pv-nfs-archive.1"},
        {"verb": "GET", "path": f"/api/v1/namespaces/{NS}/configmaps/aks-backup-companion-storage-classes"},
        {"verb": "POST", "path": f"/api/v1/namespaces/{NS}/configmaps"},
        {"verb": "PUT", "path": f"/api/v1/namespaces/{NS}/configmaps/aks-backup-companion-storage-classes"},
    ]
    if a.ha:
        lease = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
        log += [
            {"verb": "GET", "path": lease + "/aks-backup-companion"},
            {"verb": "POST", "path": lease},
            {"verb": "PUT", "path": lease + "/aks-backup-companion"},
            {"verb": "GET", "path": f"/api/v1/namespaces/{NS}/configmaps/aks-backup-companion-quota"},
            {"verb": "PUT", "path": f"/api/v1/namespaces/{NS}/configmaps/aks-backup-companion-quota"},
        ]
    log += [{"verb": v, "path": p} for v, p in a.extra]
    log = [e for e in log if not any(w in e["path"] for w in a.drop)]
    print(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()
