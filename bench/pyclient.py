"""The Python peer: lists PersistentVolumes and PersistentVolumeClaims with the
official client (python3-kubernetes), 500 per page, as a user's script would.
Usage: /usr/bin/python3 pyclient.py KUBECONFIG  -> prints {"objects": N} on stdout."""
import json
import sys

from kubernetes import client, config


def list_all(fn):
    n, token = 0, None
    while True:
        kw = {"limit": 500}
        if token:
            kw["_continue"] = token
        page = fn(**kw)
        n += len(page.items)
        token = page.metadata._continue
        if not token:
            return n


def main():
    config.load_kube_config(config_file=sys.argv[1])
    v1 = client.CoreV1Api()
    n = list_all(v1.list_persistent_volume)
    n += list_all(v1.list_persistent_volume_claim_for_all_namespaces)
    print(json.dumps({"objects": n}))


if __name__ == "__main__":
    main()
