#!/usr/bin/env python3
"""armsim: a simulator of the Azure endpoints the companion's Azure view uses.

Serves, on one plain-HTTP listener (loopback, tests only):
  POST /{tenant}/oauth2/v2.0/token        Entra ID client-credentials grant with a
                                          client assertion (AKS Workload Identity)
  GET  /metadata/identity/oauth2/token    IMDS managed-identity token (Metadata: true)
  GET  <ARM resource id or collection>    Azure Resource Manager reads (bearer token,
                                          api-version required), nextLink paging
  /_armsim/...                            control: faults, token expiry, request log, state
Seeded from a JSON fixture (see README.md). Standard library only.
"""
import argparse
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HELP_EPILOG = """
seed file: {"tenant_id": "...", "client_id": "...",
            "federated_tokens": ["<accepted client assertion>", ...],   (empty: any non-empty)
            "api_versions": {"<provider/type suffix>": "<version>", ...}, (optional: required versions)
            "page_size": 2,
            "resources": {"<resource id>": {...ARM object...}, ...},
            "collections": {"<collection path>": [{...}, ...], ...}}
Paths compare case-insensitively. Control endpoints (JSON bodies):
  POST /_armsim/fault   {"match": "<substring of path>", "status": 429, "count": 1,
                         "retry_after": 2, "code": "TooManyRequests", "latency_ms": 0}
  POST /_armsim/expire  every issued token becomes expired (next ARM call: 401
                        ExpiredAuthenticationToken)
  POST /_armsim/federated {"tokens": [...]}  the accepted assertions from now on
  POST /_armsim/set     {"resources": {...}, "collections": {...}} replaces entries
  GET  /_armsim/log     the request log: [{"t","method","path","query","status",
                        "token_ok","kind"}]   (tokens never logged)
  POST /_armsim/reset-log
"""


class State:
    def __init__(self, seed, token_lifetime):
        self.lock = threading.RLock()
        self.tenant = seed.get("tenant_id", "")
        self.client_id = seed.get("client_id", "")
        self.federated = list(seed.get("federated_tokens", []))
        self.api_versions = {k.lower(): v for k, v in seed.get("api_versions", {}).items()}
        self.page_size = int(seed.get("page_size", 100))
        self.resources = {k.lower(): v for k, v in seed.get("resources", {}).items()}
        self.collections = {k.lower().rstrip("/"): v for k, v in seed.get("collections", {}).items()}
        self.tokens = {}  # token -> expiry (unix seconds)
        self.faults = []
        self.log = []
        self.token_lifetime = token_lifetime
        self.t0 = time.time()

    def issue(self):
        tok = "armsim-" + secrets.token_hex(16)
        exp = int(time.time()) + self.token_lifetime
        self.tokens[tok] = exp
        return tok, exp

    def take_fault(self, path):
        for f in self.faults:
            if f["count"] != 0 and f["match"].lower() in path.lower():
                if f["count"] > 0:
                    f["count"] -= 1
                return dict(f)
        return None


def arm_error(code, message):
    return {"error": {"code": code, "message": message}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "armsim/1"

    def log_message(self, fmt, *args):  # quiet; the request log is the record
        pass

    @property
    def st(self):
        return self.server.state

    def _send(self, status, obj, headers=None, kind="arm", token_ok=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-ms-request-id", secrets.token_hex(8))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        u = urllib.parse.urlsplit(self.path)
        if not u.path.startswith("/_armsim/"):
            with self.st.lock:
                self.st.log.append({"t": time.time(), "method": self.command, "path": u.path,
                                    "query": u.query, "status": status, "kind": kind,
                                    "token_ok": token_ok})

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # ------------------------------------------------------------ control
    def _control(self, method, path):
        st = self.st
        if method == "GET" and path == "/_armsim/log":
            with st.lock:
                return self._send(200, list(st.log), kind="control")
        if method != "POST":
            return self._send(405, arm_error("MethodNotAllowed", method), kind="control")
        raw = self._body()
        obj = json.loads(raw) if raw else {}
        with st.lock:
            if path == "/_armsim/fault":
                st.faults.append({"match": obj.get("match", ""), "status": int(obj.get("status", 500)),
                                  "count": int(obj.get("count", 1)),
                                  "retry_after": obj.get("retry_after"),
                                  "code": obj.get("code"), "latency_ms": int(obj.get("latency_ms", 0))})
            elif path == "/_armsim/clear-faults":
                st.faults = []
            elif path == "/_armsim/expire":
                for t in st.tokens:
                    st.tokens[t] = 0
            elif path == "/_armsim/federated":
                st.federated = list(obj.get("tokens", []))
            elif path == "/_armsim/set":
                for k, v in obj.get("resources", {}).items():
                    if v is None:
                        st.resources.pop(k.lower(), None)
                    else:
                        st.resources[k.lower()] = v
                for k, v in obj.get("collections", {}).items():
                    st.collections[k.lower().rstrip("/")] = v
            elif path == "/_armsim/reset-log":
                st.log = []
            else:
                return self._send(404, arm_error("NotFound", path), kind="control")
        return self._send(200, {"ok": True}, kind="control")

    # ------------------------------------------------------------ tokens
    def _wi_token(self, path):
        st = self.st
        form = urllib.parse.parse_qs(self._body().decode())
        g = lambda k: (form.get(k) or [""])[0]
        tenant = path.split("/")[1]
        if st.tenant and tenant.lower() != st.tenant.lower():
            return self._send(400, {"error": "invalid_request",
                                    "error_description": f"AADSTS90002: Tenant '{tenant}' not found."},
                              kind="token")
        if g("grant_type") != "client_credentials" or \
                g("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
                or not g("scope").endswith("/.default"):
            return self._send(400, {"error": "invalid_request",
                                    "error_description": "AADSTS900144: malformed request"}, kind="token")
        if st.client_id and g("client_id") != st.client_id:
            return self._send(400, {"error": "unauthorized_client",
                                    "error_description": "AADSTS700016: application not found"},
                              kind="token")
        a = g("client_assertion")
        with st.lock:
            ok = bool(a) and (not st.federated or a in st.federated)
            if not ok:
                return self._send(401, {"error": "invalid_client",
                                        "error_description": "AADSTS700024: Client assertion is not "
                                                             "within its valid time range."}, kind="token")
            tok, exp = st.issue()
        return self._send(200, {"token_type": "Bearer", "expires_in": exp - int(time.time()),
                                "ext_expires_in": exp - int(time.time()), "access_token": tok},
                          kind="token")

    def _imds_token(self, q):
        st = self.st
        if self.headers.get("Metadata", "").lower() != "true":
            return self._send(400, {"error": "invalid_request",
                                    "error_description": "Required metadata header not specified"},
                              kind="imds")
        if (q.get("api-version") or [""])[0] != "2018-02-01" or not q.get("resource"):
            return self._send(400, {"error": "invalid_request",
                                    "error_description": "api-version or resource missing"}, kind="imds")
        with st.lock:
            tok, exp = st.issue()
        return self._send(200, {"access_token": tok, "client_id": (q.get("client_id") or [st.client_id])[0],
                                "expires_in": str(exp - int(time.time())), "expires_on": str(exp),
                                "ext_expires_in": str(exp - int(time.time())),
                                "not_before": str(int(time.time())), "resource": q["resource"][0],
                                "token_type": "Bearer"}, kind="imds")

    # ------------------------------------------------------------ ARM
    def _arm(self, path, q):
        st = self.st
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else ""
        with st.lock:
            exp = st.tokens.get(tok)
        if exp is None:
            return self._send(401, arm_error("InvalidAuthenticationToken",
                                             "The access token is invalid."),
                              {"WWW-Authenticate": 'Bearer authorization_uri="x", error="invalid_token"'},
                              token_ok=False)
        if exp <= time.time():
            return self._send(401, arm_error("ExpiredAuthenticationToken",
                                             "The access token expiry UTC time is earlier than current "
                                             "UTC time."),
                              {"WWW-Authenticate": 'Bearer error="invalid_token"'}, token_ok=False)
        av = (q.get("api-version") or [""])[0]
        if not av:
            return self._send(400, arm_error("MissingApiVersionParameter",
                                             "The api-version query parameter (?api-version=) is required "
                                             "for all requests."), token_ok=True)
        lp = path.lower().rstrip("/")
        for suffix, want in st.api_versions.items():
            if lp.endswith(suffix) or ("/" + suffix + "/") in lp:
                if av != want:
                    return self._send(400, arm_error("InvalidApiVersionParameter",
                                                     f"The api-version '{av}' is invalid. The supported "
                                                     f"versions are '{want}'."), token_ok=True)
                break
        with st.lock:
            f = st.take_fault(path)
        if f:
            if f["latency_ms"]:
                time.sleep(f["latency_ms"] / 1000.0)
            if f["status"] and f["status"] != 200:
                hdr = {}
                if f["retry_after"] is not None:
                    hdr["Retry-After"] = str(f["retry_after"])
                code = f["code"] or {429: "TooManyRequests", 403: "AuthorizationFailed",
                                     404: "ResourceNotFound", 401: "InvalidAuthenticationToken",
                                     500: "InternalServerError", 503: "ServiceUnavailable"}.get(
                    f["status"], "Error")
                return self._send(f["status"], arm_error(code, f"armsim fault {f['status']} on {path}"),
                                  hdr, token_ok=True)
        with st.lock:
            if lp in st.resources:
                return self._send(200, st.resources[lp], token_ok=True)
            items = st.collections.get(lp)
        if items is None:
            return self._send(404, arm_error("ResourceNotFound",
                                             f"The Resource '{path}' was not found."), token_ok=True)
        skip = int((q.get("$skiptoken") or ["0"])[0] or 0)
        page = items[skip:skip + st.page_size]
        body = {"value": page}
        if skip + st.page_size < len(items):
            nq = {k: v[0] for k, v in q.items() if k != "$skiptoken"}
            nq["$skiptoken"] = str(skip + st.page_size)
            host = self.headers.get("Host", "127.0.0.1")
            scheme = "https" if self.server.tls else "http"
            body["nextLink"] = f"{scheme}://{host}{path}?" + urllib.parse.urlencode(nq)
        return self._send(200, body, token_ok=True)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if u.path.startswith("/_armsim/"):
            return self._control("GET", u.path)
        if u.path == "/metadata/identity/oauth2/token":
            return self._imds_token(q)
        return self._arm(u.path, q)

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path.startswith("/_armsim/"):
            return self._control("POST", u.path)
        if u.path.endswith("/oauth2/v2.0/token"):
            return self._wi_token(u.path)
        self._body()
        return self._send(405, arm_error("MethodNotAllowed", "armsim serves reads only"))


def make_tls(d):
    """A CA and a server certificate for 127.0.0.1/localhost in d (openssl CLI), as kubesim does."""
    import os
    import subprocess
    ca, cakey, crt, key = (os.path.join(d, n) for n in ("ca.crt", "ca.key", "server.crt", "server.key"))
    if all(os.path.exists(p) for p in (ca, crt, key)):
        return crt, key
    os.makedirs(d, exist_ok=True)
    csr, ext = os.path.join(d, "server.csr"), os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in (["openssl", "req", "-x509"] + ec + ["-keyout", cakey, "-out", ca, "-days", "3650", "-subj",
                                                     "/CN=armsim-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                                                     "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"],
                ["openssl", "req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=armsim"],
                ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial", "-out", crt,
                 "-days", "3650", "-extfile", ext]):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


def main(argv=None):
    ap = argparse.ArgumentParser(prog="armsim", description=__doc__.split("\n")[0],
                                 epilog=HELP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 = a free port)")
    ap.add_argument("--seed", action="append", default=[], help="JSON seed file (repeatable, merged)")
    ap.add_argument("--token-lifetime", type=int, default=3600, help="seconds an issued token lives")
    ap.add_argument("--page-size", type=int, default=0, help="items per list page (overrides the seed)")
    ap.add_argument("--tls-dir", default="", help="serve HTTPS with DIR/server.crt and server.key (generated "
                                                  "with DIR/ca.crt by the openssl CLI when absent)")
    a = ap.parse_args(argv)
    seed = {}
    for f in a.seed:
        with open(f) as fh:
            s = json.load(fh)
        for k, v in s.items():
            if isinstance(v, dict) and isinstance(seed.get(k), dict):
                seed[k].update(v)
            else:
                seed[k] = v
    host, port = a.listen.rsplit(":", 1)
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    srv.state = State(seed, a.token_lifetime)
    srv.tls = bool(a.tls_dir)
    if a.page_size > 0:
        srv.state.page_size = a.page_size
    scheme = "http"
    if a.tls_dir:
        import ssl
        crt, key = make_tls(a.tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    url = f"{scheme}://{host}:{srv.server_address[1]}"
    print(json.dumps({"arm": url, "authority": url, "imds": url, "control": url + "/_armsim"}), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main())
