"""kubesim's API semantics over raw HTTPS (CA + bearer token): pagination
snapshots and remainingItemCount, expired continue tokens (410), watch from
a compacted RV (200 + ERROR 410), list/watch from a future RV (504 /
200 + ERROR 504 ResourceVersionTooLarge after 3 s), RV=0 synthetic ADDED, replay, bookmarks,
timeoutSeconds, sendInitialEvents, selectors, write status codes, 401/403,
disabled APIs, and the control faults (/fail, /garbage, /drop-watches,
/stall-watches, /partition, /latency, /mutator)."""
import gzip
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

import harness
from harness import Kubesim, Results, wait_for

R = Results()
KS = None
PV = "/api/v1/persistentvolumes"
CM = "/api/v1/namespaces/default/configmaps"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


def fixture(name):
    with open(os.path.join(harness.FIXTURES, name)) as f:
        return json.load(f)["items"]


PV_NAMES = sorted(i["metadata"]["name"] for i in fixture("persistentvolumes.json"))
PODS = fixture("pods.json")


def ok(path, **kw):
    code, hdrs, body = KS.get(path, **kw)
    assert code == 200, (path, code, body)
    return body


def q(s):
    return urllib.parse.quote(s, safe="")


def cm(name, data, labels=None):
    o = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
         "data": data}
    if labels:
        o["metadata"]["labels"] = labels
    return o


# ------------------------------------------------------------------ lists
@R.test
def list_shape_builtin_and_crd():
    d = ok(PV)
    assert d["kind"] == "PersistentVolumeList" and d["apiVersion"] == "v1", d["kind"]
    assert int(d["metadata"]["resourceVersion"]) == KS.rv()
    assert sorted(i["metadata"]["name"] for i in d["items"]) == PV_NAMES
    assert all("kind" not in i and "apiVersion" not in i for i in d["items"]), "built-in items carry no kind"
    b = ok("/apis/velero.io/v1/backups")
    assert b["kind"] == "BackupList" and b["items"], b["kind"]
    assert all(i["kind"] == "Backup" and i["apiVersion"] == "velero.io/v1" for i in b["items"])
    one = ok(PV + "/" + PV_NAMES[0])
    assert one["kind"] == "PersistentVolume" and one["apiVersion"] == "v1"
    code, _, st = KS.get(PV + "/does-not-exist")
    assert code == 404 and st["kind"] == "Status" and st["reason"] == "NotFound", st
    assert st["details"] == {"name": "does-not-exist", "kind": "persistentvolumes"}, st


@R.test
def pagination_is_a_snapshot():
    p1 = ok(PV + "?limit=5")
    rv = p1["metadata"]["resourceVersion"]
    assert len(p1["items"]) == 5 and p1["metadata"]["remainingItemCount"] == len(PV_NAMES) - 5, p1["metadata"]
    seen = [i["metadata"]["name"] for i in p1["items"]]
    # change the world between pages: add, delete a not-yet-listed one, modify one
    victim = PV_NAMES[-1]
    saved = KS.control_get(f"/objects?resource=persistentvolumes&name={victim}")
    KS.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "zzz-added-between-pages"},
              "spec": {"capacity": {"storage": "1Gi"}}})
    KS.delete("v1", "PersistentVolume", victim)
    cont = p1["metadata"]["continue"]
    remaining = [p1["metadata"]["remainingItemCount"]]
    while cont:
        p = ok(PV + "?limit=5&continue=" + q(cont))
        assert p["metadata"]["resourceVersion"] == rv, "every page is at the first page's RV"
        seen += [i["metadata"]["name"] for i in p["items"]]
        cont = p["metadata"].get("continue")
        if cont:
            remaining.append(p["metadata"]["remainingItemCount"])
    assert seen == PV_NAMES, seen
    assert remaining == [11, 6, 1], remaining
    # a fresh list shows the new state
    now = [i["metadata"]["name"] for i in ok(PV)["items"]]
    assert "zzz-added-between-pages" in now and victim not in now
    KS.delete("v1", "PersistentVolume", "zzz-added-between-pages")
    saved["metadata"].pop("resourceVersion")
    KS.apply(saved)


@R.test
def selectors_hide_remaining_count():
    p = ok("/api/v1/pods?limit=1&labelSelector=" + q("app.kubernetes.io/name"))
    assert len(p["items"]) == 1 and p["metadata"].get("continue"), p["metadata"]
    assert "remainingItemCount" not in p["metadata"], p["metadata"]


@R.test
def expired_continue_is_410():
    p1 = ok(PV + "?limit=4")
    KS.apply(cm("bump-for-compaction", {"a": "1"}))
    KS.control_post("/compact")
    code, _, st = KS.get(PV + "?limit=4&continue=" + q(p1["metadata"]["continue"]))
    assert code == 410 and st["reason"] == "Expired" and st["code"] == 410, (code, st)
    fresh = st["metadata"]["continue"]
    assert fresh, st
    p2 = ok(PV + "?limit=100&continue=" + q(fresh))
    assert [i["metadata"]["name"] for i in p2["items"]] == PV_NAMES[4:]
    code, _, st = KS.get(PV + "?limit=4&continue=not-a-token")
    assert code == 400, (code, st)


@R.test
def resource_version_params():
    code, _, st = KS.get(PV + "?resourceVersionMatch=NotOlderThan")
    assert code == 422 and st["reason"] == "Invalid", (code, st)
    d = ok(PV + "?resourceVersion=0&limit=2")
    assert len(d["items"]) == len(PV_NAMES), "RV=0 is served from the cache and ignores limit"
    rv = KS.rv()
    d = ok(PV + f"?resourceVersion={rv}&resourceVersionMatch=Exact")
    assert d["metadata"]["resourceVersion"] == str(rv)
    t0 = time.monotonic()
    code, _, st = KS.get(PV + f"?resourceVersion={rv + 1000}")
    assert code == 504 and "Too large resource version" in st["message"], (code, st)
    assert time.monotonic() - t0 >= 2.5


def invalid_list_options(query, causes):
    """kube-apiserver's ValidateListOptions: 422 Invalid ListOptions.meta.k8s.io with one cause per violation."""
    code, _, st = KS.get(PV + "?" + query)
    assert code == 422 and st["kind"] == "Status" and st["reason"] == "Invalid", (query, code, st)
    assert st["details"]["kind"] == "ListOptions" and st["details"]["group"] == "meta.k8s.io", st
    got = [(c["field"], c["reason"], c["message"]) for c in st["details"]["causes"]]
    assert got == causes, (query, got)
    return st


@R.test
def list_options_validation():
    fb, ns = "FieldValueForbidden", "FieldValueNotSupported"
    st = invalid_list_options("resourceVersionMatch=NotOlderThan", [("resourceVersionMatch", fb, (
        "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"))])
    assert st["message"] == ('ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
                             'resourceVersionMatch is forbidden unless resourceVersion is provided'), st
    bogus = 'Unsupported value: "Bogus": supported values: "Exact", "NotOlderThan", ""'
    invalid_list_options(f"resourceVersion={KS.rv()}&resourceVersionMatch=Bogus",
                         [("resourceVersionMatch", ns, bogus)])
    st = invalid_list_options("resourceVersionMatch=Bogus", [
        ("resourceVersionMatch", fb, "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"),
        ("resourceVersionMatch", ns, bogus)])
    assert st["message"].startswith('ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: '), st
    invalid_list_options("resourceVersion=0&resourceVersionMatch=Exact", [("resourceVersionMatch", fb, (
        'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))])
    invalid_list_options("resourceVersion=5&resourceVersionMatch=NotOlderThan&continue=abc", [(
        "resourceVersionMatch", fb, "Forbidden: resourceVersionMatch is forbidden when continue is provided")])
    invalid_list_options("sendInitialEvents=false", [("sendInitialEvents", fb,
                                                      "Forbidden: sendInitialEvents is forbidden for list")])
    invalid_list_options("watch=true&resourceVersionMatch=NotOlderThan", [("resourceVersionMatch", fb, (
        "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))])
    invalid_list_options("watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=Exact", [
        ("resourceVersionMatch", fb, "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
        ("resourceVersionMatch", ns, 'Unsupported value: "Exact": supported values: "NotOlderThan"')])
    # valid combinations still answer 200, and a GET of one object ignores list options
    rv = KS.rv()
    for query in [f"resourceVersion={rv}&resourceVersionMatch=NotOlderThan", f"resourceVersion={rv}&resourceVersionMatch=Exact",
                  "resourceVersion=0&resourceVersionMatch=NotOlderThan", "resourceVersion=0"]:
        assert ok(PV + "?" + query)["kind"] == "PersistentVolumeList", query
    assert ok(PV + "/" + PV_NAMES[0] + "?resourceVersionMatch=Bogus")["kind"] == "PersistentVolume"


@R.test
def label_selectors():
    def names(sel):
        d = ok("/api/v1/pods?labelSelector=" + q(sel))
        return sorted(i["metadata"]["name"] for i in d["items"])

    def want(pred):
        return sorted(p["metadata"]["name"] for p in PODS if pred(p["metadata"].get("labels", {})))

    K = "app.kubernetes.io/name"
    cases = {
        f"{K}=dataprotection-microsoft-kubernetes": lambda l: l.get(K) == "dataprotection-microsoft-kubernetes",
        f"{K}==azure-arc-k8s": lambda l: l.get(K) == "azure-arc-k8s",
        f"{K}!=azure-arc-k8s": lambda l: l.get(K) != "azure-arc-k8s",
        f"{K} in (azure-arc-k8s, nothing)": lambda l: l.get(K) in ("azure-arc-k8s", "nothing"),
        f"{K} notin (azure-arc-k8s)": lambda l: l.get(K) != "azure-arc-k8s",
        "control-plane": lambda l: "control-plane" in l,
        "!control-plane": lambda l: "control-plane" not in l,
        f"{K}=dataprotection-microsoft-kubernetes,name=velero":
            lambda l: l.get(K) == "dataprotection-microsoft-kubernetes" and l.get("name") == "velero",
    }
    for sel, pred in cases.items():
        w = want(pred)
        assert w, f"fixture has no match for {sel}: the case proves nothing"
        assert names(sel) == w, (sel, names(sel), w)
    assert names("no-such-label") == []
    code, _, st = KS.get("/api/v1/pods?labelSelector=" + q("a in (b"))
    assert code == 400 and st["reason"] == "BadRequest", (code, st)


@R.test
def field_selectors():
    def names(path, sel):
        d = ok(path + "?fieldSelector=" + q(sel))
        return sorted(i["metadata"]["name"] for i in d["items"])

    node = PODS[1]["spec"]["nodeName"]
    assert names("/api/v1/pods", "spec.nodeName=" + node) == sorted(
        p["metadata"]["name"] for p in PODS if p["spec"].get("nodeName") == node)
    assert names(PV, "metadata.name=" + PV_NAMES[3]) == [PV_NAMES[3]]
    assert names(PV, "metadata.name!=" + PV_NAMES[3]) == [n for n in PV_NAMES if n != PV_NAMES[3]]
    assert names("/api/v1/pods", "metadata.namespace=dataprotection-microsoft") == sorted(
        p["metadata"]["name"] for p in PODS)
    assert names("/api/v1/pods", "metadata.namespace=other") == []
    code, _, st = KS.get("/api/v1/pods?fieldSelector=" + q("spec.unknownField=x"))
    assert code == 400 and "field label not supported" in st["message"], (code, st)


# ------------------------------------------------------------------ watches
def read_until(w, pred, timeout=10):
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ev = w.next(timeout=max(0.1, deadline - time.monotonic()))
        if ev is None:
            break
        out.append(ev)
        if pred(ev):
            return out
    raise AssertionError(f"condition not met; got {[(e['type'], e['object'].get('metadata', {}).get('name')) for e in out]}")


@R.test
def watch_rv0_synthetic_added_then_live():
    w = KS.watch(PV + "?watch=true&resourceVersion=0")
    try:
        assert w.status == 200
        evs = [w.next() for _ in PV_NAMES]
        assert all(e["type"] == "ADDED" for e in evs)
        assert sorted(e["object"]["metadata"]["name"] for e in evs) == PV_NAMES
        KS.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-live"}, "spec": {}})
        ev = w.next()
        assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "pv-live", ev
        assert ev["object"]["kind"] == "PersistentVolume", "watch objects carry kind"
        KS.delete("v1", "PersistentVolume", "pv-live")
        ev = w.next()
        assert ev["type"] == "DELETED" and int(ev["object"]["metadata"]["resourceVersion"]) == KS.rv(), ev
    finally:
        w.close()


@R.test
def watch_replays_from_rv_in_window():
    rv0 = KS.rv()
    KS.apply(cm("replay-a", {"v": "1"}))
    KS.apply(cm("replay-a", {"v": "2"}))
    KS.delete("v1", "ConfigMap", "replay-a", "default")
    w = KS.watch(CM + f"?watch=true&resourceVersion={rv0}")
    try:
        evs = [w.next() for _ in range(3)]
        assert [e["type"] for e in evs] == ["ADDED", "MODIFIED", "DELETED"], evs
        assert [int(e["object"]["metadata"]["resourceVersion"]) for e in evs] == [rv0 + 1, rv0 + 2, rv0 + 3]
        assert evs[1]["object"]["data"] == {"v": "2"}
    finally:
        w.close()


@R.test
def watch_from_compacted_rv_is_200_then_error_410():
    old = KS.rv()
    KS.apply(cm("compact-me", {"a": "1"}))
    KS.control_post("/compact")
    w = KS.watch(CM + f"?watch=true&resourceVersion={old}")
    try:
        assert w.status == 200, w.status
        ev = w.next()
        assert ev["type"] == "ERROR", ev
        st = ev["object"]
        assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired", st
        assert "too old resource version" in st["message"], st
        assert w.next() is None, "the stream ends after the ERROR event"
    finally:
        w.close()


@R.test
def watch_label_selector_transitions():
    rv = KS.rv()
    w = KS.watch(CM + f"?watch=true&resourceVersion={rv}&labelSelector=" + q("tier=gold"))
    try:
        KS.apply(cm("sel-x", {"a": "1"}, {"tier": "silver"}))   # not selected: nothing
        KS.apply(cm("sel-x", {"a": "2"}, {"tier": "gold"}))     # enters: ADDED
        KS.apply(cm("sel-x", {"a": "3"}, {"tier": "gold"}))     # MODIFIED
        KS.apply(cm("sel-x", {"a": "4"}, {"tier": "bronze"}))   # leaves: DELETED
        evs = [w.next() for _ in range(3)]
        assert [e["type"] for e in evs] == ["ADDED", "MODIFIED", "DELETED"], evs
        assert evs[2]["object"]["metadata"]["labels"] == {"tier": "gold"}, "DELETED shows the last selected state"
        assert int(evs[2]["object"]["metadata"]["resourceVersion"]) == KS.rv()
    finally:
        w.close()
        KS.delete("v1", "ConfigMap", "sel-x", "default")


@R.test
def bookmarks_and_timeout():
    t0 = time.monotonic()
    w = KS.watch(CM + f"?watch=true&resourceVersion={KS.rv()}&allowWatchBookmarks=true&timeoutSeconds=3")
    evs = []
    while True:
        ev = w.next(timeout=10)
        if ev is None:
            break
        evs.append(ev)
    took = time.monotonic() - t0
    w.close()
    assert 2.5 <= took <= 5, took
    assert len(evs) >= 2 and all(e["type"] == "BOOKMARK" for e in evs), evs
    b = evs[-1]["object"]
    assert b["kind"] == "ConfigMap" and b["metadata"]["creationTimestamp"] is None, b
    assert int(b["metadata"]["resourceVersion"]) == KS.rv()
    # without allowWatchBookmarks: nothing, then a clean end
    t0 = time.monotonic()
    w = KS.watch(CM + f"?watch=true&resourceVersion={KS.rv()}&timeoutSeconds=1")
    assert w.next(timeout=5) is None
    assert 0.8 <= time.monotonic() - t0 < 3
    w.close()


@R.test
def send_initial_events_ends_with_annotated_bookmark():
    w = KS.watch(PV + "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
                 "&allowWatchBookmarks=true")
    try:
        evs = [w.next() for _ in range(len(PV_NAMES) + 1)]
        assert [e["type"] for e in evs[:-1]] == ["ADDED"] * len(PV_NAMES)
        last = evs[-1]
        assert last["type"] == "BOOKMARK", last
        assert last["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}, last
        assert int(last["object"]["metadata"]["resourceVersion"]) == KS.rv()
    finally:
        w.close()
    code, _, st = KS.get(PV + "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan")
    assert code == 422, "sendInitialEvents needs allowWatchBookmarks"


@R.test
def drop_stall_and_garbage():
    # drop-watches breaks the stream abruptly
    w = KS.watch(CM + f"?watch=true&resourceVersion={KS.rv()}")
    wait_for(lambda: KS.stats()["watches_open"] >= 1, what="watch open")
    KS.control_post("/drop-watches")
    try:
        w.next(timeout=5)
        broke = False
    except (http.client.IncompleteRead, http.client.HTTPException, OSError, ValueError):
        broke = True
    w.close()
    assert broke, "drop-watches must cut the stream (no clean chunked end)"
    wait_for(lambda: KS.stats()["watches_open"] == 0, what="watches_open back to 0")

    # stall: events during the stall arrive after it
    w = KS.watch(CM + f"?watch=true&resourceVersion={KS.rv()}")
    KS.control_post("/stall-watches", {"seconds": 2})
    t0 = time.monotonic()
    KS.apply(cm("stalled", {"a": "1"}))
    ev = w.next(timeout=10)
    assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "stalled"
    assert time.monotonic() - t0 >= 1.5, "event must wait for the stall to end"
    # malformed: the next event line is not JSON; the stream goes on
    KS.control_post("/garbage", {"mode": "malformed", "resource": "configmaps"})
    KS.apply(cm("stalled", {"a": "2"}))
    line = w.next_line()
    try:
        json.loads(line)
        parsed = True
    except ValueError:
        parsed = False
    assert not parsed, line
    KS.apply(cm("stalled", {"a": "3"}))
    ev = w.next()
    assert ev["type"] == "MODIFIED" and ev["object"]["data"] == {"a": "3"}, ev
    # truncated: half an event, then the connection is cut
    KS.control_post("/garbage", {"mode": "truncated"})
    KS.apply(cm("stalled", {"a": "4"}))
    try:
        line = w.next_line()
        cut = line is None or not line.endswith(b"\n")
        if not cut:
            json.loads(line)
    except (http.client.IncompleteRead, http.client.HTTPException, OSError, ValueError):
        cut = True
    assert cut, line
    w.close()
    KS.delete("v1", "ConfigMap", "stalled", "default")


# ------------------------------------------------------------------ writes
@R.test
def write_status_codes():
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "sem-lease", "namespace": "default"},
             "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                      "renewTime": "2026-03-14T12:00:00.000000Z"}}
    code, _, o = KS.api_request("POST", LEASES, lease)
    assert code == 201 and o["metadata"]["uid"] and o["kind"] == "Lease", (code, o)
    rv1 = o["metadata"]["resourceVersion"]
    code, _, st = KS.api_request("POST", LEASES, lease)
    assert code == 409 and st["reason"] == "AlreadyExists", (code, st)
    # no-op PUT keeps the RV
    code, _, o2 = KS.api_request("PUT", LEASES + "/sem-lease", o)
    assert code == 200 and o2["metadata"]["resourceVersion"] == rv1, (code, o2)
    # a real update bumps it
    o["spec"]["holderIdentity"] = "b"
    code, _, o3 = KS.api_request("PUT", LEASES + "/sem-lease", o)
    assert code == 200 and int(o3["metadata"]["resourceVersion"]) > int(rv1), (code, o3)
    assert o3["metadata"]["uid"] == o["metadata"]["uid"]
    # stale RV: 409 Conflict
    o["spec"]["holderIdentity"] = "c"
    code, _, st = KS.api_request("PUT", LEASES + "/sem-lease", o)
    assert code == 409 and st["reason"] == "Conflict", (code, st)
    assert "the object has been modified" in st["message"]
    # merge patch, strategic merge patch
    code, _, o4 = KS.api_request("PATCH", LEASES + "/sem-lease", {"spec": {"holderIdentity": "d"}},
                                 headers={"Content-Type": "application/merge-patch+json"})
    assert code == 200 and o4["spec"]["holderIdentity"] == "d" and o4["spec"]["leaseDurationSeconds"] == 15
    code, _, o5 = KS.api_request("PATCH", LEASES + "/sem-lease", {"spec": {"leaseDurationSeconds": None}},
                                 headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert code == 200 and "leaseDurationSeconds" not in o5["spec"], o5
    code, _, st = KS.api_request("PATCH", LEASES + "/sem-lease",
                                 {"metadata": {"resourceVersion": rv1}, "spec": {"holderIdentity": "e"}},
                                 headers={"Content-Type": "application/merge-patch+json"})
    assert code == 409, (code, st)
    jp = {"Content-Type": "application/json-patch+json"}
    code, _, o6 = KS.api_request("PATCH", LEASES + "/sem-lease",
                                 [{"op": "add", "path": "/metadata/labels", "value": {"a/b": "1"}},
                                  {"op": "replace", "path": "/spec/holderIdentity", "value": "f"}], headers=jp)
    assert code == 200 and o6["metadata"]["labels"] == {"a/b": "1"} and o6["spec"]["holderIdentity"] == "f", o6
    code, _, o7 = KS.api_request("PATCH", LEASES + "/sem-lease",
                                 [{"op": "test", "path": "/metadata/labels/a~1b", "value": "1"},
                                  {"op": "remove", "path": "/metadata/labels/a~1b"}], headers=jp)
    assert code == 200 and o7["metadata"]["labels"] == {}, (code, o7)
    code, _, st = KS.api_request("PATCH", LEASES + "/sem-lease",
                                 [{"op": "test", "path": "/spec/holderIdentity", "value": "zzz"}], headers=jp)
    assert code == 422, (code, st)
    code, _, st = KS.api_request("PATCH", LEASES + "/nope", {"spec": {}},
                                 headers={"Content-Type": "application/merge-patch+json"})
    assert code == 404, (code, st)
    # events in both groups, configmaps
    ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
          "metadata": {"generateName": "pv-", "namespace": "default"},
          "eventTime": "2026-03-14T12:00:00.000000Z", "reason": "Unsupported", "action": "Check",
          "reportingController": "aks-backup-companion", "reportingInstance": "x", "type": "Warning"}
    code, _, e = KS.api_request("POST", "/apis/events.k8s.io/v1/namespaces/default/events", ev)
    assert code == 201 and e["metadata"]["name"].startswith("pv-") and len(e["metadata"]["name"]) > 3, (code, e)
    code, _, e = KS.api_request("POST", "/api/v1/namespaces/default/events",
                                {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "core-ev"},
                                 "reason": "X", "involvedObject": {"kind": "PersistentVolume", "name": "a"}})
    assert code == 201 and e["metadata"]["namespace"] == "default", (code, e)
    code, _, st = KS.api_request("POST", CM, cm("wrong-ns", {}) | {"metadata": {"name": "w", "namespace": "other"}})
    assert code == 400, (code, st)
    # delete
    code, _, o6 = KS.api_request("DELETE", LEASES + "/sem-lease")
    assert code == 200, (code, o6)
    assert KS.get(LEASES + "/sem-lease")[0] == 404
    assert KS.api_request("DELETE", LEASES + "/sem-lease")[0] == 404


# ------------------------------------------------------------------ auth, APIs, faults
# Kubernetes protobuf, written from k8s.io/api core/v1 and apimachinery generated.proto
def pb_varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7f) | (0x80 if n > 0x7f else 0))
        n >>= 7
        if not n:
            return bytes(out)


def pb_bytes(num, data):
    data = data.encode() if isinstance(data, str) else data
    return pb_varint(num << 3 | 2) + pb_varint(len(data)) + data


def pb_int(num, n):
    return pb_varint(num << 3) + pb_varint(n)


def pb_map(num, d):
    return b"".join(pb_bytes(num, pb_bytes(1, k) + pb_bytes(2, v)) for k, v in d.items())


def pb_unknown(api_version, kind, raw, encoding=""):
    return (b"k8s\0" + pb_bytes(1, pb_bytes(1, api_version) + pb_bytes(2, kind)) + pb_bytes(2, raw)
            + pb_bytes(3, encoding) + pb_bytes(4, ""))


PB = {"Content-Type": "application/vnd.kubernetes.protobuf", "Accept": "application/vnd.kubernetes.protobuf,application/json"}


@R.test
def protobuf_bodies():
    owner = pb_bytes(5, "apps/v1") + pb_bytes(1, "Deployment") + pb_bytes(3, "web") + pb_bytes(4, "u-1") + pb_int(6, 1)
    meta = (pb_bytes(1, "pb-cm") + pb_bytes(3, "default") + pb_bytes(6, "") + pb_int(7, 0) + pb_bytes(8, b"")
            + pb_map(11, {"app": "pb", "tier": "x"}) + pb_map(12, {"note": "hé"}) + pb_bytes(13, owner)
            + pb_bytes(14, "example.com/keep"))
    raw = pb_bytes(1, meta) + pb_map(2, {"a": "b", "empty": ""}) + pb_map(3, {"bin": b"\x00\xff\x10"}) + pb_int(4, 1)
    code, hdrs, o = KS.api_request("POST", CM, body=pb_unknown("v1", "ConfigMap", raw), headers=PB)
    assert code == 201 and hdrs["content-type"] == "application/json", (code, o)
    got = ok(CM + "/pb-cm")
    m = got["metadata"]
    assert got["data"] == {"a": "b", "empty": ""} and got["binaryData"] == {"bin": "AP8Q"}, got
    assert got["immutable"] is True and m["labels"] == {"app": "pb", "tier": "x"}, got
    assert m["annotations"] == {"note": "hé"} and m["finalizers"] == ["example.com/keep"], m
    assert m["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u-1",
                                     "controller": True}], m
    assert m["uid"] and int(m["resourceVersion"]) == KS.rv() and "generation" not in m, m
    # PUT in protobuf: a stale resourceVersion is a 409, the current one updates
    upd = lambda rv, v: pb_unknown("v1", "ConfigMap", pb_bytes(1, pb_bytes(1, "pb-cm") + pb_bytes(6, rv))
                                   + pb_map(2, {"a": v}))
    code, _, st = KS.api_request("PUT", CM + "/pb-cm", body=upd("1", "c"), headers=PB)
    assert code == 409 and st["reason"] == "Conflict", (code, st)
    code, _, o = KS.api_request("PUT", CM + "/pb-cm", body=upd(m["resourceVersion"], "c"), headers=PB)
    assert code == 200 and o["data"] == {"a": "c"} and o["metadata"]["uid"] == m["uid"], (code, o)
    # generateName, Secret data (bytes), stringData folded into data, type defaulted
    sec = pb_bytes(1, pb_bytes(2, "pb-sec-")) + pb_map(2, {"k": b"\x01\x02"}) + pb_map(4, {"s": "text"})
    code, _, o = KS.api_request("POST", "/api/v1/namespaces/default/secrets", body=pb_unknown("v1", "Secret", sec),
                                headers=PB)
    assert code == 201 and o["metadata"]["name"].startswith("pb-sec-") and len(o["metadata"]["name"]) == 12, o
    assert o["data"] == {"k": "AQI=", "s": "dGV4dA=="} and o["type"] == "Opaque" and "stringData" not in o, o
    # the same folding for JSON bodies
    code, _, o = KS.api_request("POST", "/api/v1/namespaces/default/secrets", body={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "json-sec"}, "type": "example.com/t",
        "data": {"k": "AQI="}, "stringData": {"k": "over"}})
    assert code == 201 and o["data"] == {"k": "b3Zlcg=="} and o["type"] == "example.com/t", (code, o)
    # what kubesim cannot decode: other kinds, encodings, CBOR, protobuf patches -> 415; garbage -> 400
    pod_body = pb_unknown("v1", "Pod", pb_bytes(1, pb_bytes(1, "pb-pod")))
    code, _, st = KS.api_request("POST", "/api/v1/namespaces/default/pods", body=pod_body, headers=PB)
    assert code == 415 and st["reason"] == "UnsupportedMediaType", (code, st)
    code, _, st = KS.api_request("POST", CM, body=pb_unknown("v1", "ConfigMap", raw, "gzip"), headers=PB)
    assert code == 415, (code, st)
    code, _, st = KS.api_request("POST", CM, body=b"\xa1\x61\x61\x61\x62",
                                 headers={"Content-Type": "application/cbor"})
    assert code == 415, (code, st)
    code, _, st = KS.api_request("PATCH", CM + "/pb-cm", body=upd("", "d"), headers=PB)
    assert code == 415, (code, st)
    for bad in [b"k8s\0\x0a\xff", b"not protobuf", pb_unknown("v1", "ConfigMap", b"\x0a\x05ab")]:
        code, _, st = KS.api_request("POST", CM, body=bad, headers=PB)
        assert code == 400 and st["reason"] == "BadRequest", (bad, code, st)
    cur = ok(CM + "/pb-cm")
    assert cur["data"] == {"a": "c"}, "failed writes change nothing"
    # DeleteOptions in protobuf: preconditions {uid 1, resourceVersion 2} are honoured
    dele = lambda rv: pb_unknown("v1", "DeleteOptions", pb_bytes(2, pb_bytes(2, rv)) + pb_bytes(4, "Background"))
    code, _, st = KS.api_request("DELETE", CM + "/pb-cm", body=dele("1"), headers=PB)
    assert code == 409 and st["reason"] == "Conflict", (code, st)
    code, _, o = KS.api_request("DELETE", CM + "/pb-cm", body=dele(cur["metadata"]["resourceVersion"]), headers=PB)
    assert code == 200 and o["metadata"]["name"] == "pb-cm", (code, o)
    assert KS.api_request("DELETE", "/api/v1/namespaces/default/secrets/json-sec")[0] == 200


@R.test
def auth_401_403_and_rotation():
    code, _, st = KS.get(PV, token="")
    assert code == 401 and st["reason"] == "Unauthorized", (code, st)
    assert KS.get("/version", token="")[0] == 200, "anonymous /version (system:public-info-viewer)"
    assert KS.get("/version", token="wrong")[0] == 401, "a bad token is 401 everywhere"
    assert KS.get("/api", token="")[0] == 401
    code, _, st = KS.get(PV, token="wrong")
    assert code == 401
    code, _, st = KS.get(PV, token="forbidden-one")
    assert code == 403 and st["reason"] == "Forbidden", (code, st)
    KS.control_post("/tokens", {"valid": ["t1", "t2"], "forbidden": []})
    try:
        assert KS.get(PV, token="t0")[0] == 401
        assert KS.get(PV, token="t1")[0] == 200
        assert KS.get(PV, token="t2")[0] == 200
        assert KS.get(PV, token="forbidden-one")[0] == 401
    finally:
        KS.control_post("/tokens", {"valid": ["t0"], "forbidden": ["forbidden-one"]})
    assert KS.get(PV)[0] == 200


@R.test
def disabled_api_is_404_and_absent_from_discovery():
    groups = [g["name"] for g in ok("/apis")["groups"]]
    assert "velero.io" in groups and "snapshot.storage.k8s.io" in groups
    KS.control_post("/api-disable", {"group": "velero.io", "version": "v1"})
    try:
        assert "velero.io" not in [g["name"] for g in ok("/apis")["groups"]]
        code, _, st = KS.get("/apis/velero.io/v1")
        assert code == 404 and st["kind"] == "Status", (code, st)
        code, _, st = KS.get("/apis/velero.io/v1/backups")
        assert code == 404 and st["reason"] == "NotFound", (code, st)
    finally:
        KS.control_post("/api-enable", {"group": "velero.io", "version": "v1"})
    assert ok("/apis/velero.io/v1/backups")["items"]
    res = ok("/apis/snapshot.storage.k8s.io/v1")
    assert {r["name"] for r in res["resources"]} >= {"volumesnapshots", "volumesnapshotclasses",
                                                     "volumesnapshotcontents"}
    assert ok("/api")["versions"] == ["v1"]
    assert ok("/version")["gitVersion"] == "v1.30.6"
    root = ok("/openapi/v3")
    assert "apis/coordination.k8s.io/v1" in root["paths"], list(root["paths"])
    doc = ok(root["paths"]["apis/coordination.k8s.io/v1"]["serverRelativeURL"])
    gvks = [s.get("x-kubernetes-group-version-kind") for s in doc["components"]["schemas"].values()]
    assert [{"group": "coordination.k8s.io", "kind": "Lease", "version": "v1"}] in gvks, gvks


@R.test
def fail_injection_with_retry_after():
    KS.control_post("/fail", {"count": 2, "code": 429, "retry_after": 3, "verb": "list",
                              "path": "persistentvolumes"})
    assert KS.get("/api/v1/pods")[0] == 200, "other paths are untouched"
    for _ in range(2):
        code, hdrs, st = KS.get(PV)
        assert code == 429 and hdrs.get("retry-after") == "3", (code, hdrs)
        assert st["kind"] == "Status" and st["reason"] == "TooManyRequests" and st["code"] == 429, st
    assert KS.get(PV)[0] == 200, "only count requests fail"
    KS.control_post("/fail", {"count": 1, "code": 503})
    code, hdrs, st = KS.get("/api/v1/nodes")
    assert code == 503 and "retry-after" not in hdrs and st["reason"] == "ServiceUnavailable", (code, hdrs, st)
    KS.control_post("/fail", {"count": 1, "code": 500, "verb": "get"})
    assert KS.get(PV)[0] == 200  # a list is not a get
    assert KS.get(PV + "/" + PV_NAMES[0])[0] == 500


@R.test
def latency_and_partition():
    KS.control_post("/latency", {"ms": 300})
    t0 = time.monotonic()
    ok("/api/v1/nodes")
    assert time.monotonic() - t0 >= 0.29
    KS.control_post("/latency", {"ms": 0})
    KS.control_post("/partition", {"user_agent_contains": "cut-me", "seconds": 2})
    try:
        KS.get(PV, headers={"User-Agent": "cut-me/1.0"})
        cut = False
    except (http.client.HTTPException, OSError):
        cut = True
    assert cut, "a partitioned client gets no answer"
    assert KS.get(PV)[0] == 200, "other clients are served"
    time.sleep(2.1)
    assert KS.get(PV, headers={"User-Agent": "cut-me/1.0"})[0] == 200
    # mode hang: no answer at all until the partition ends, then a close; watches go silent
    w = KS.watch(CM + f"?watch=true&resourceVersion={KS.rv()}", headers={"User-Agent": "hang-me/1.0"})
    KS.control_post("/partition", {"user_agent_contains": "hang-me", "seconds": 1.5, "mode": "hang"})
    KS.apply(cm("during-hang", {"a": "1"}))
    t0 = time.monotonic()
    try:
        KS.get(PV, headers={"User-Agent": "hang-me/1.0"})
        cut = False
    except (http.client.HTTPException, OSError):
        cut = True
    assert cut and time.monotonic() - t0 >= 1.2, (cut, time.monotonic() - t0)
    try:
        ev = w.next(timeout=5)
        got = ev is not None
    except (http.client.HTTPException, OSError, ValueError):
        got = False
    assert not got, "a hung watch delivers nothing and is cut at the end"
    w.close()
    KS.delete("v1", "ConfigMap", "during-hang", "default")


@R.test
def control_readouts_and_mutator():
    st = KS.state("persistentvolumes")
    assert sorted(i["name"] for i in st["items"]) == PV_NAMES
    assert all(set(i) == {"namespace", "name", "uid", "resourceVersion"} for i in st["items"])
    assert st["resourceVersion"] == str(KS.rv())
    code, body = KS.control_request("POST", "/delete", {"apiVersion": "v1", "kind": "ConfigMap",
                                                        "namespace": "default", "name": "absent"})
    assert code == 404, (code, body)
    s = KS.stats()
    assert s["requests"]["list"] > 0 and s["requests"]["watch"] > 0 and s["codes"]["200"] > 0, s
    assert s["codes"].get("410", 0) >= 1 and s["codes"].get("429", 0) >= 2, s["codes"]
    reqs = KS.requests()
    assert all({"t", "verb", "method", "path", "query", "user_agent", "code"} <= set(r) for r in reqs)
    assert any(r["verb"] == "watch" and "watch=true" in r["query"] for r in reqs)
    rv0 = KS.rv()
    KS.control_post("/mutator", {"rate": 100, "resource": "configmaps", "seed": 7,
                                 "mix": {"add": 2, "update": 1, "delete": 1}})
    time.sleep(1.0)
    KS.control_post("/mutator", {"rate": 0})
    m = KS.control_get("/mutator")
    done = m["added"] + m["updated"] + m["deleted"]
    assert 50 <= done <= 150 and m["added"] > 0, m
    assert KS.rv() - rv0 == done, (KS.rv(), rv0, m)
    time.sleep(0.3)
    assert KS.control_get("/mutator")["added"] == m["added"], "rate 0 stops the mutator"


@R.test
def restart_keeps_rv_growing_and_state():
    KS.apply(cm("survivor", {"a": "1"}))
    uid = KS.control_get("/objects?resource=configmaps&namespace=default&name=survivor")["metadata"]["uid"]
    KS.delete("v1", "PersistentVolume", PV_NAMES[0])
    before = KS.rv()
    port = KS.api_port
    KS.restart()
    assert KS.api_port == port
    assert KS.rv() > before, (KS.rv(), before)
    assert sorted(i["metadata"]["name"] for i in ok(PV)["items"]) == PV_NAMES[1:]
    o = ok(CM + "/survivor")
    assert o["metadata"]["uid"] == uid and int(o["metadata"]["resourceVersion"]) > before, o
    assert ok("/version")["gitVersion"] == "v1.30.6"
    # and a restart from the seeds brings the deleted PV back
    KS.seed_dirs = [harness.FIXTURES]
    KS.restart(keep_state=False)
    assert sorted(i["metadata"]["name"] for i in ok(PV)["items"]) == PV_NAMES
    assert KS.get(CM + "/survivor")[0] == 404
    # stop, then restart: RVs still grow
    before = KS.rv()
    KS.stop()
    KS.restart()
    assert KS.rv() > before and KS.get(PV)[0] == 200


@R.test
def generated_pvs_are_realistic_and_fast():
    with Kubesim(seed_dirs=[], tls=False, extra_args=["--generate-pvs", "5000", "--history", "5",
                                                      "--disable-api", "velero.io/v1"]) as big:
        t0 = time.monotonic()
        cont, n, size, pages = "", 0, 0, 0
        while True:
            code, _, d = big.get(PV + "?limit=500" + ("&continue=" + q(cont) if cont else ""))
            assert code == 200
            n += len(d["items"])
            size += len(json.dumps(d))
            pages += 1
            cont = d["metadata"].get("continue")
            if not cont:
                break
        took = time.monotonic() - t0
        print(f"  5000 generated PVs in {pages} pages: {took:.2f} s, {size // n} bytes/PV", flush=True)
        assert n == 5000 and pages == 10
        assert 1500 <= size // n <= 3500, size // n
        kinds = {}
        for i in big.get(PV + "?limit=20")[2]["items"]:
            spec = i["spec"]
            k = spec.get("csi", {}).get("driver") or next(x for x in ("azureDisk", "hostPath") if x in spec)
            kinds[k] = kinds.get(k, 0) + 1
        assert len(kinds) >= 4, kinds
        assert took < 10, took
        # gzip for bodies >= 128 KiB when accepted, like kube-apiserver
        code, hdrs, raw = big.get(PV + "?limit=500", headers={"Accept-Encoding": "gzip"})
        assert code == 200 and hdrs.get("content-encoding") == "gzip", hdrs
        assert len(json.loads(gzip.decompress(raw))["items"]) == 500
        code, hdrs, small = big.get(PV + "?limit=5", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in hdrs and len(small["items"]) == 5, hdrs
        # --disable-api at start
        assert big.get("/apis/velero.io/v1/backups")[0] == 404
        assert "velero.io" not in [g["name"] for g in big.get("/apis")[2]["groups"]]
        # --history 5: a watch or a continue token older than 5 events is expired
        rv0 = big.rv()
        p1 = big.get(PV + "?limit=10")[2]
        for i in range(6):
            big.apply(cm(f"h{i}", {"i": str(i)}))
        w = big.watch(CM + f"?watch=true&resourceVersion={rv0}")
        ev = w.next()
        w.close()
        assert ev["type"] == "ERROR" and ev["object"]["code"] == 410, ev
        code, _, st = big.get(PV + "?limit=10&continue=" + q(p1["metadata"]["continue"]))
        assert code == 410, (code, st)
        w = big.watch(CM + f"?watch=true&resourceVersion={rv0 + 1}")
        evs = [w.next() for _ in range(5)]
        w.close()
        assert [e["object"]["metadata"]["name"] for e in evs] == [f"h{i}" for i in range(1, 6)], evs


def too_large_status(st, want):
    """kube-apiserver's storage.NewTooLargeResourceVersionError(want, current, 1)."""
    assert st["kind"] == "Status" and st["code"] == 504 and st["reason"] == "Timeout", st
    assert st["message"].startswith(f"Timeout: Too large resource version: {want}, current: "), st
    assert int(st["message"].rsplit(" ", 1)[1]) < want, st
    assert st["details"]["causes"] == [{"reason": "ResourceVersionTooLarge",
                                        "message": "Too large resource version"}], st
    assert st["details"]["retryAfterSeconds"] == 1, st


@R.test
def resource_version_too_large():
    """A resourceVersion the server has not reached: waited for ~3 s (the
    watch cache's waitUntilFreshAndBlock), then a LIST gets HTTP 504 with the
    ResourceVersionTooLarge cause and Retry-After: 1, and a WATCH gets HTTP 200
    and one ERROR event holding the same Status, then a clean end."""
    want = KS.rv() + 500
    for query in (f"resourceVersion={want}", f"resourceVersion={want}&resourceVersionMatch=NotOlderThan",
                  f"resourceVersion={want}&resourceVersionMatch=Exact&limit=2"):
        t0 = time.monotonic()
        code, hdrs, st = KS.get(PV + "?" + query)
        assert code == 504 and hdrs.get("retry-after") == "1", (query, code, hdrs, st)
        too_large_status(st, want)
        assert 2.5 <= time.monotonic() - t0 < 10, query
    for query in (f"watch=true&allowWatchBookmarks=true&resourceVersion={want}",
                  f"watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
                  f"&resourceVersionMatch=NotOlderThan&resourceVersion={want}"):
        t0 = time.monotonic()
        w = KS.watch(PV + "?" + query)
        try:
            assert w.status == 200, (query, w.status)
            ev = w.next(timeout=10)
            assert ev["type"] == "ERROR", (query, ev)
            too_large_status(ev["object"], want)
            assert w.next(timeout=10) is None and w.clean_end, "the stream ends cleanly after the ERROR"
        finally:
            w.close()
        assert 2.5 <= time.monotonic() - t0 < 10, query
    # reached within the wait: served normally (no error)
    want = KS.rv() + 1
    pv = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-too-large-later"},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                   "hostPath": {"path": "/tmp/x"}}}
    # the RV reaches want (a ConfigMap) 0.5 s into the wait; the PV comes after it
    later = threading.Timer(0.5, lambda: (KS.apply(cm("too-large-catch-up", {"a": "1"})), KS.apply(pv)))
    later.start()
    t0 = time.monotonic()
    w = KS.watch(PV + f"?watch=true&resourceVersion={want}")
    later.join()
    try:
        assert w.status == 200 and time.monotonic() - t0 < 2.5, (w.status, time.monotonic() - t0)
        ev = w.next(timeout=10)
        assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "pv-too-large-later", ev
    finally:
        w.close()
        KS.control_post("/delete", {"apiVersion": "v1", "kind": "PersistentVolume", "name": "pv-too-large-later"})


def main():
    global KS
    with Kubesim(extra_args=["--bookmark-interval", "1", "--forbidden-token", "forbidden-one"]) as ks:
        KS = ks
        return R.finish()


if __name__ == "__main__":
    sys.exit(main())
