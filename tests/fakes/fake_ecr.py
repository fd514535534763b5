#!/usr/bin/python3
"""A strict fake of Amazon ECR's GetAuthorizationToken (AWS JSON 1.1 protocol).

Strict means: it rejects what the real service rejects, the way the real service does, so a
client that passes here is a client that works against AWS:
  * POST / only; Content-Type exactly application/x-amz-json-1.1; a JSON object body.
  * X-Amz-Target must be AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken
    (anything else: 400 UnknownOperationException).
  * SigV4 (AWS4-HMAC-SHA256): the signature is recomputed with botocore's SigV4Auth over the
    request as received (method, URL, the headers named in SignedHeaders, body, the client's
    own X-Amz-Date) with the secret the fake knows for the access key. A mismatch is
    403 InvalidSignatureException, an unknown key or a wrong/missing session token is
    403 UnrecognizedClientException, a request older than 15 minutes is "Signature expired".
    host, x-amz-date, content-type, x-amz-target and (with a session token)
    x-amz-security-token must all be signed.
  * Success: {"authorizationData":[{"authorizationToken": base64("AWS:<password>"),
    "expiresAt": <fractional epoch seconds>, "proxyEndpoint": "https://..."}]}.

Control plane (never part of the ECR API): /_control/...
  GET  /_control/stats    -> {"calls", "ok", "rejected": {type: n}, "last_signed_headers", ...}
  POST /_control/mode     {"mode": "ok"|"deny"|"error500"|"throttle", "count": N}
                          (count: only the next N well-signed calls, then "ok"; absent: until
                          changed)
  POST /_control/config   {"lifetime": seconds, "password": "...",
                           "add_key": {"access_key","secret","token"}}
  POST /_control/reset    counters to zero

Importable (FakeEcr(...).start() / .stop(), .port, .url) and runnable as a script: the port is
the first line on stdout; it serves until SIGTERM/SIGINT, stdin EOF (--exit-on-eof) or
--max-lifetime seconds.
"""

import argparse
import base64
import datetime
import hmac
import json
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
TARGET = TARGET_PREFIX + "GetAuthorizationToken"
CONTENT_TYPE = "application/x-amz-json-1.1"
DEFAULT_ACCESS_KEY = "AKIDEXAMPLE"
DEFAULT_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REQUIRED_SIGNED = ("host", "x-amz-date", "content-type", "x-amz-target")
AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")
SIG_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. "
                "Consult the service documentation for details.")


class AwsError(Exception):
    def __init__(self, status, type_, message):
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message


class FakeEcr:
    def __init__(self, keys=None, password="ecr-password-0123456789", lifetime=43200.0,
                 account="123456789012", region="us-east-1", proxy_endpoint=None,
                 host="127.0.0.1", port=0):
        # keys: {access_key: {"secret": ..., "token": ... or None}}
        self.keys = dict(keys or {DEFAULT_ACCESS_KEY: {"secret": DEFAULT_SECRET, "token": None}})
        self.password = password
        self.lifetime = float(lifetime)
        self.account = account
        self.region = region
        self.proxy_endpoint = proxy_endpoint
        self.mode = "ok"
        self.mode_count = None  # None: the mode stays until changed
        self.lock = threading.Lock()
        self.reset()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = None

    def reset(self):
        with self.lock:
            self.calls = 0
            self.ok = 0
            self.rejected = {}
            self.last_signed_headers = []
            self.last_body = None
            self.last_error = None

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def stats(self):
        with self.lock:
            return {"calls": self.calls, "ok": self.ok, "rejected": dict(self.rejected),
                    "last_signed_headers": list(self.last_signed_headers),
                    "last_body": self.last_body, "last_error": self.last_error,
                    "mode": self.mode}

    # -- the API -------------------------------------------------------------------------
    def _verify_signature(self, method, path, headers, body):
        auth = headers.get("authorization")
        if not auth:
            raise AwsError(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
        m = AUTH_RE.match(auth.strip())
        if not m:
            raise AwsError(400, "IncompleteSignatureException",
                           "Authorization header requires 'Credential', 'Signature' and "
                           "'SignedHeaders' parameters in AWS4-HMAC-SHA256 form.")
        akid, scope_date, region, service, signed, signature = m.groups()
        amz_date = headers.get("x-amz-date")
        if not amz_date or not re.match(r"^\d{8}T\d{6}Z$", amz_date):
            raise AwsError(400, "IncompleteSignatureException",
                           "Authorization header requires existence of either a 'X-Amz-Date' "
                           "or a 'Date' header.")
        key = self.keys.get(akid)
        if key is None:
            raise AwsError(403, "UnrecognizedClientException",
                           "The security token included in the request is invalid.")
        if key.get("token"):
            got = headers.get("x-amz-security-token")
            if got is None or not hmac.compare_digest(got, key["token"]):
                raise AwsError(403, "UnrecognizedClientException",
                               "The security token included in the request is invalid.")
        if service != "ecr":
            raise AwsError(403, "InvalidSignatureException",
                           "Credential should be scoped to correct service: 'ecr'.")
        if self.region and region != self.region:
            raise AwsError(403, "InvalidSignatureException",
                           "Credential should be scoped to a valid region.")
        if scope_date != amz_date[:8]:
            raise AwsError(403, "InvalidSignatureException",
                           "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                           "version of date from HTTP")
        signed_names = signed.split(";")
        if signed_names != sorted(signed_names):
            raise AwsError(403, "InvalidSignatureException", SIG_MISMATCH)
        required = list(REQUIRED_SIGNED)
        if "x-amz-security-token" in headers:
            required.append("x-amz-security-token")
        for name in required:
            if name not in signed_names:
                raise AwsError(403, "InvalidSignatureException",
                               "Header '%s' must be signed (SignedHeaders=%s)" % (name, signed))
        for name in signed_names:
            if name not in headers:
                raise AwsError(403, "InvalidSignatureException", SIG_MISMATCH)
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
        skew = abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds())
        if skew > 15 * 60:
            raise AwsError(403, "InvalidSignatureException",
                           "Signature expired: %s is now earlier or later than the allowed "
                           "15 minute window." % amz_date)
        # Recompute with botocore over exactly what was received.
        req = AWSRequest(method=method, url="http://%s%s" % (headers["host"], path),
                         data=body, headers={n: headers[n] for n in signed_names})
        req.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(akid, key["secret"], key.get("token")), "ecr", region)
        canonical = signer.canonical_request(req)
        expected = signer.signature(signer.string_to_sign(req, canonical), req)
        with self.lock:
            self.last_signed_headers = signed_names
        if not hmac.compare_digest(expected, signature):
            raise AwsError(403, "InvalidSignatureException", SIG_MISMATCH)

    def handle_api(self, method, path, headers, body):
        """Returns (status, json-able body, extra headers)."""
        with self.lock:
            self.calls += 1
        if path != "/":
            raise AwsError(404, "UnknownOperationException", "Unknown path " + path)
        if method != "POST":
            raise AwsError(405, "UnknownOperationException", "Only POST is supported")
        if headers.get("content-type") != CONTENT_TYPE:
            raise AwsError(400, "SerializationException",
                           "Content-Type must be " + CONTENT_TYPE)
        target = headers.get("x-amz-target", "")
        if not target.startswith(TARGET_PREFIX):
            raise AwsError(400, "UnknownOperationException", None)
        self._verify_signature(method, path, headers, body)
        if target != TARGET:
            raise AwsError(400, "UnknownOperationException", None)
        try:
            doc = json.loads(body.decode("utf-8"))
        except Exception:
            raise AwsError(400, "SerializationException", "Body is not valid JSON")
        if not isinstance(doc, dict) or set(doc) - {"registryIds"}:
            raise AwsError(400, "SerializationException", "Unexpected field in request body")
        ids = doc.get("registryIds")
        if ids is not None and (not isinstance(ids, list) or not ids or not all(
                isinstance(i, str) and re.match(r"^\d{12}$", i) for i in ids)):
            raise AwsError(400, "InvalidParameterException",
                           "Invalid parameter at 'registryIds' failed to satisfy constraint")
        with self.lock:
            self.last_body = doc
            mode = self.mode
            if mode != "ok" and self.mode_count is not None:
                self.mode_count -= 1
                if self.mode_count <= 0:
                    self.mode, self.mode_count = "ok", None
        if mode == "deny":
            raise AwsError(400, "AccessDeniedException",
                           "User: arn:aws:sts::%s:assumed-role/msd-role/i-0123456789abcdef0 is "
                           "not authorized to perform: ecr:GetAuthorizationToken on resource: * "
                           "because no identity-based policy allows the "
                           "ecr:GetAuthorizationToken action" % self.account)
        if mode == "error500":
            raise AwsError(500, "ServerException", "Internal service error")
        if mode == "throttle":
            raise AwsError(429, "ThrottlingException", "Rate exceeded")
        accounts = ids or [self.account]
        token = base64.b64encode(("AWS:" + self.password).encode()).decode()
        expires = round(time.time() + self.lifetime, 3)
        data = [{"authorizationToken": token, "expiresAt": expires,
                 "proxyEndpoint": self.proxy_endpoint or
                 "https://%s.dkr.ecr.%s.amazonaws.com" % (a, self.region)} for a in accounts]
        with self.lock:
            self.ok += 1
        return 200, {"authorizationData": data}

    def handle_control(self, method, path, body):
        verb = path[len("/_control/"):]
        doc = json.loads(body.decode() or "{}") if method == "POST" else {}
        if verb == "stats":
            return 200, self.stats()
        if verb == "mode":
            if doc.get("mode") not in ("ok", "deny", "error500", "throttle"):
                return 400, {"error": "unknown mode"}
            count = doc.get("count")
            if count is not None and (not isinstance(count, int) or count < 1):
                return 400, {"error": "count must be a positive integer"}
            with self.lock:
                self.mode, self.mode_count = doc["mode"], count
            return 200, {"mode": self.mode}
        if verb == "config":
            with self.lock:
                if "lifetime" in doc:
                    self.lifetime = float(doc["lifetime"])
                if "password" in doc:
                    self.password = doc["password"]
                if "add_key" in doc:
                    k = doc["add_key"]
                    self.keys[k["access_key"]] = {"secret": k["secret"], "token": k.get("token")}
            return 200, {}
        if verb == "reset":
            self.reset()
            return 200, {}
        return 404, {"error": "unknown control " + verb}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, doc, content_type="application/json", extra=None):
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _dispatch(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                path = self.path
                if path.startswith("/_control/"):
                    status, doc = fake.handle_control(self.command, path, body)
                    return self._send(status, doc)
                # Lower-case header map; repeated headers are joined like botocore does.
                headers = {}
                for k, v in self.headers.items():
                    lk = k.lower()
                    headers[lk] = headers[lk] + "," + v if lk in headers else v
                try:
                    status, doc = fake.handle_api(self.command, path, headers, body)
                    self._send(status, doc, CONTENT_TYPE)
                except AwsError as e:
                    with fake.lock:
                        fake.rejected[e.type] = fake.rejected.get(e.type, 0) + 1
                        fake.last_error = e.type
                    doc = {"__type": e.type}
                    if e.message is not None:
                        doc["message"] = e.message
                    self._send(e.status, doc, CONTENT_TYPE, {"x-amzn-ErrorType": e.type})

            do_POST = do_GET = do_PUT = do_DELETE = _dispatch

            def do_HEAD(self):
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


def _parse_key(text):
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError("--key ACCESS_KEY:SECRET[:SESSION_TOKEN]")
    return parts[0], {"secret": parts[1], "token": parts[2] if len(parts) == 3 else None}


def serve_until_stopped(server_stop, exit_on_eof, max_lifetime):
    """Shared script-mode loop: returns when a signal, stdin EOF or the deadline arrives."""
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    if exit_on_eof:
        def watch():
            sys.stdin.read()
            done.set()
        threading.Thread(target=watch, daemon=True).start()
    done.wait(max_lifetime)
    server_stop()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--key", action="append", type=_parse_key, default=[],
                   help="ACCESS_KEY:SECRET[:SESSION_TOKEN] (repeatable)")
    p.add_argument("--password", default="ecr-password-0123456789")
    p.add_argument("--lifetime", type=float, default=43200.0, help="token lifetime, seconds")
    p.add_argument("--account", default="123456789012")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--proxy-endpoint", default=None)
    p.add_argument("--exit-on-eof", action="store_true")
    p.add_argument("--max-lifetime", type=float, default=900.0)
    a = p.parse_args(argv)
    fake = FakeEcr(keys=dict(a.key) if a.key else None, password=a.password,
                   lifetime=a.lifetime, account=a.account, region=a.region,
                   proxy_endpoint=a.proxy_endpoint, port=a.port).start()
    print(fake.port, flush=True)
    serve_until_stopped(fake.stop, a.exit_on_eof, a.max_lifetime)


if __name__ == "__main__":
    main()
