#!/usr/bin/env python3
"""Compares the requests aks-backup-companion made with the RBAC it is granted.

Input: a JSON request log (array of {"verb", "path"}; verb is an HTTP method or
a Kubernetes verb, path may carry the query string, or "query" holds it; this is
kubesim's control GET /requests as is: entries with a user_agent not starting
with --user-agent, e.g. kubectl's, are left out) and the rendered RBAC
(JSON: a list of objects or a kind: List; YAML too when PyYAML is installed).
Fails when a request is not allowed, or when a rule grants a resource the
daemon never touched (with --strict: a verb it never used).

  rbac_check.py --log requests.json --rbac rendered.json [--serviceaccount NS/NAME] [--strict]

Prints one line per finding and `rbac: N passed, N failed`; exit 0 when clean.
"""
import argparse
import json
import sys
from urllib.parse import urlsplit, parse_qs



def load_objects(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except ValueError:
        try:
            import yaml  # optional: PyYAML
        except ImportError:
            sys.exit(f"{path}: not JSON, and PyYAML is not installed to read YAML")
        data = [d for d in yaml.safe_load_all(text) if d]
    if isinstance(data, dict):
        data = data.get("items", [data]) if data.get("kind", "").endswith("List") else [data]
    return data


def parse_request(entry):
    """-> dict(verb, group, resource, subresource, namespace, name) or None (non-resource)."""
    parts = urlsplit(entry["path"])
    query = parse_qs(parts.query)
    if "query" in entry and isinstance(entry["query"], str):
        query.update(parse_qs(entry["query"]))
    segs = [s for s in parts.path.split("/") if s]
    # Non-resource URLs and discovery (/version, /api, /apis/g/v, /openapi/...).
    if not segs or segs[0] not in ("api", "apis"):
        return None
    if segs[0] == "api":
        if len(segs) < 3:
            return None
        group, rest = "", segs[2:]
    else:
        if len(segs) < 4:
            return None
        group, rest = segs[1], segs[3:]
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        namespace, rest = rest[1], rest[2:]
    elif rest and rest[0] == "namespaces" and len(rest) == 2:
        pass  # GET of a Namespace object itself
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    verb = entry["verb"]
    http = verb.upper()
    if http in ("GET", "HEAD"):
        watch = query.get("watch", ["false"])[0] in ("1", "true")
        verb = "watch" if watch else ("get" if name else "list")
    elif http == "POST":
        verb = "create"
    elif http == "PUT":
        verb = "update"
    elif http == "PATCH":
        verb = "patch"
    elif http == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = verb.lower()
    return {"verb": verb, "group": group, "resource": resource + ("/" + sub if sub else ""),
            "namespace": namespace, "name": name}


def rule_matches(rule, req):
    def has(lst, v):
        return "*" in lst or v in lst
    return (has(rule.get("apiGroups", []), req["group"])
            and has(rule.get("resources", []), req["resource"])
            and has(rule.get("verbs", []), req["verb"])
            and (not rule.get("resourceNames") or req["name"] in rule["resourceNames"]))


def grants(objs, sa_ns, sa_name):
    """-> list of (scope, rule) with one apiGroup and one resource per rule;
    scope is None (cluster-wide) or a namespace."""
    roles = {}
    for o in objs:
        if o.get("kind") == "ClusterRole":
            roles[("ClusterRole", None, o["metadata"]["name"])] = o.get("rules", [])
        elif o.get("kind") == "Role":
            roles[("Role", o["metadata"].get("namespace", "default"), o["metadata"]["name"])] = o.get("rules", [])
    out = []
    for o in objs:
        kind = o.get("kind")
        if kind not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa_name
                   and s.get("namespace", o["metadata"].get("namespace")) == sa_ns
                   for s in o.get("subjects", [])):
            continue
        ref = o["roleRef"]
        scope = None if kind == "ClusterRoleBinding" else o["metadata"].get("namespace", "default")
        key = (ref["kind"], scope if ref["kind"] == "Role" else None, ref["name"])
        for r in roles.get(key, []):
            for grp in r.get("apiGroups", []):
                for res in r.get("resources", []):
                    atom = dict(r, apiGroups=[grp], resources=[res])
                    out.append((scope, atom))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--rbac", required=True)
    ap.add_argument("--serviceaccount", help="NS/NAME (default: the ServiceAccount in the RBAC file)")
    ap.add_argument("--strict", action="store_true", help="every granted verb must have been used")
    ap.add_argument("--user-agent", default="aks-backup-companion/",
                    help="only entries whose user_agent starts with this (entries without one are kept)")
    a = ap.parse_args()
    objs = load_objects(a.rbac)
    if a.serviceaccount:
        sa_ns, sa_name = a.serviceaccount.split("/", 1)
    else:
        sas = [o for o in objs if o.get("kind") == "ServiceAccount"]
        if len(sas) != 1:
            sys.exit("give --serviceaccount NS/NAME (found %d ServiceAccounts)" % len(sas))
        sa_ns, sa_name = sas[0]["metadata"].get("namespace", "default"), sas[0]["metadata"]["name"]
    with open(a.log, encoding="utf-8") as f:
        log = json.load(f)
    log = [e for e in log if not e.get("user_agent") or e["user_agent"].startswith(a.user_agent)]
    g = grants(objs, sa_ns, sa_name)
    passed = failed = 0
    used = set()  # (index of grant, verb)
    nonres = 0
    for entry in log:
        req = parse_request(entry)
        if req is None:
            nonres += 1  # discovery and /version: allowed to every authenticated user
            continue
        hits = [i for i, (scope, r) in enumerate(g)
                if (scope is None or scope == req["namespace"]) and rule_matches(r, req)]
        if hits:
            passed += 1
            for i in hits:
                used.add((i, req["verb"]))
        else:
            failed += 1
            print(f"DENIED: {req['verb']} {entry['path']} (group {req['group']!r}, resource "
                  f"{req['resource']}, namespace {req['namespace'] or '-'}, name {req['name'] or '-'})")
    for i, (scope, r) in enumerate(g):
        verbs_used = {v for (j, v) in used if j == i}
        where = "cluster-wide" if scope is None else f"namespace {scope}"
        desc = f"{','.join(r.get('verbs', []))} {','.join(r.get('apiGroups', [])) or 'core'}/" \
               f"{','.join(r.get('resources', []))} ({where})"
        if not verbs_used:
            failed += 1
            print(f"UNUSED: {desc}: no request used this grant")
        elif a.strict and set(r.get("verbs", [])) - verbs_used:
            failed += 1
            print(f"UNUSED: {desc}: verbs never used: {sorted(set(r.get('verbs', [])) - verbs_used)}")
        else:
            passed += 1
    print(f"({len(log)} requests, {nonres} non-resource, {len(g)} grants)")
    print(f"rbac: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
