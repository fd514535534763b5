#!/usr/bin/python3
"""A strict fake of the EC2 instance metadata service, IMDSv2 only.

  PUT /latest/api/token            needs X-aws-ec2-metadata-token-ttl-seconds (1..21600), else
                                   400; a request with X-Forwarded-For is refused (403) as on EC2.
                                   Returns the token; it expires after its TTL.
  GET /latest/...                  needs a valid, unexpired X-aws-ec2-metadata-token, else 401.
    meta-data/iam/security-credentials/         the role name (404 when no role is attached)
    meta-data/iam/security-credentials/<role>   {"Code":"Success","LastUpdated","Type":
                                                 "AWS-HMAC","AccessKeyId","SecretAccessKey",
                                                 "Token","Expiration"}
    dynamic/instance-identity/document          accountId, region, availabilityZone, ...
    meta-data/placement/region, .../availability-zone, meta-data/instance-id

Control plane: /_control/...
  GET  /_control/stats          {"token_puts","gets","unauthorized","throttled","creds_served"}
  POST /_control/rotate         {"AccessKeyId","SecretAccessKey","Token","lifetime"} new creds
  POST /_control/expire_tokens  every issued token becomes invalid (the next GET gets 401)
  POST /_control/mode           {"mode":"ok"|"throttle"|"down"|"error500"|"flood", "count": N}
                                flood (issue 22): answers with `bytes` (default 16 MiB) streamed
                                chunked, no Content-Length; stats "flood_bytes_sent"
                                (count: only the next N requests; absent: until changed)
  POST /_control/config         {"role": "..."|null, "creds_lifetime": s, "identity": {...}}

Importable (FakeImds(...).start()/.stop(), .port, .url) and runnable as a script: the port is
the first line on stdout.
"""

import argparse
import datetime
import json
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CREDS_PREFIX = "/latest/meta-data/iam/security-credentials/"


def _iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


class FakeImds:
    def __init__(self, access_key="ASIAIMDSEXAMPLE", secret="imds/secret+EXAMPLEKEY",
                 token="IQoJb3JpZ2luX2VjEXAMPLE//session+token==", role="msd-role",
                 creds_lifetime=6 * 3600, region="us-east-1", account="123456789012",
                 host="127.0.0.1", port=0):
        self.lock = threading.Lock()
        self.creds = {"AccessKeyId": access_key, "SecretAccessKey": secret, "Token": token}
        self.creds_lifetime = float(creds_lifetime)
        self.creds_expiration = time.time() + self.creds_lifetime
        self.role = role
        self.identity = {
            "accountId": account, "architecture": "x86_64",
            "availabilityZone": region + "a", "imageId": "ami-0123456789abcdef0",
            "instanceId": "i-0123456789abcdef0", "instanceType": "t3.small",
            "pendingTime": "2026-01-01T00:00:00Z", "privateIp": "10.0.0.12",
            "region": region, "version": "2017-09-30"}
        self.tokens = {}  # token -> expiry (epoch)
        self.mode, self.mode_count = "ok", None
        self.flood_bytes = 16 << 20
        self.stats_ = {"token_puts": 0, "gets": 0, "unauthorized": 0, "throttled": 0,
                       "creds_served": 0, "bad_puts": 0, "flood_bytes_sent": 0}
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def rotate(self, access_key, secret, token, lifetime=None):
        with self.lock:
            self.creds = {"AccessKeyId": access_key, "SecretAccessKey": secret, "Token": token}
            if lifetime is not None:
                self.creds_lifetime = float(lifetime)
            self.creds_expiration = time.time() + self.creds_lifetime

    def _take_mode(self):
        with self.lock:
            mode = self.mode
            if mode != "ok" and self.mode_count is not None:
                self.mode_count -= 1
                if self.mode_count <= 0:
                    self.mode, self.mode_count = "ok", None
            return mode

    def handle_control(self, method, verb, doc):
        with self.lock:
            if verb == "stats":
                return 200, dict(self.stats_)
            if verb == "expire_tokens":
                self.tokens.clear()
                return 200, {}
            if verb == "mode":
                if doc.get("mode") not in ("ok", "throttle", "down", "error500", "flood"):
                    return 400, {"error": "unknown mode"}
                self.mode, self.mode_count = doc["mode"], doc.get("count")
                self.flood_bytes = int(doc.get("bytes", 16 << 20))
                return 200, {}
            if verb == "config":
                if "role" in doc:
                    self.role = doc["role"]
                if "creds_lifetime" in doc:
                    self.creds_lifetime = float(doc["creds_lifetime"])
                    self.creds_expiration = time.time() + self.creds_lifetime
                if "identity" in doc:
                    self.identity.update(doc["identity"])
                return 200, {}
        if verb == "rotate":
            self.rotate(doc["AccessKeyId"], doc["SecretAccessKey"], doc.get("Token", ""),
                        doc.get("lifetime"))
            return 200, {}
        return 404, {"error": "unknown control " + verb}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body, content_type="text/plain", extra=None):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _control(self):
                body = self._body()
                doc = json.loads(body.decode() or "{}") if body else {}
                status, out = fake.handle_control(self.command, self.path[len("/_control/"):],
                                                  doc)
                self._send(status, json.dumps(out), "application/json")

            def _gate(self):
                """Applies the failure mode; returns False when the request was answered."""
                mode = fake._take_mode()
                if mode == "down":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return False
                if mode == "throttle":
                    with fake.lock:
                        fake.stats_["throttled"] += 1
                    self._send(429, "Too Many Requests")
                    return False
                if mode == "error500":
                    self._send(500, "Internal Server Error")
                    return False
                if mode == "flood":
                    self._flood(fake.flood_bytes)
                    return False
                return True

            def _flood(self, total):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                piece, sent = b"A" * 65536, 0
                try:
                    while sent < total:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        sent += len(piece)
                        with fake.lock:
                            fake.stats_["flood_bytes_sent"] = sent
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass
                self.close_connection = True

            def do_PUT(self):
                if self.path.startswith("/_control/"):
                    return self._control()
                self._body()
                if not self._gate():
                    return
                if self.path != "/latest/api/token":
                    return self._send(404, "Not Found")
                if self.headers.get("X-Forwarded-For"):
                    return self._send(403, "Forbidden")
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                try:
                    ttl_s = int(ttl)
                except (TypeError, ValueError):
                    ttl_s = -1
                if not 1 <= ttl_s <= 21600:
                    with fake.lock:
                        fake.stats_["bad_puts"] += 1
                    return self._send(400, "Bad Request")
                token = "AQAEA" + secrets.token_urlsafe(40)
                with fake.lock:
                    fake.tokens[token] = time.time() + ttl_s
                    fake.stats_["token_puts"] += 1
                self._send(200, token, extra={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl_s)})

            def do_POST(self):
                if self.path.startswith("/_control/"):
                    return self._control()
                self._body()
                self._send(405, "Method Not Allowed")

            def do_GET(self):
                if self.path.startswith("/_control/"):
                    return self._control()
                if not self._gate():
                    return
                with fake.lock:
                    fake.stats_["gets"] += 1
                    token = self.headers.get("X-aws-ec2-metadata-token")
                    expiry = fake.tokens.get(token) if token else None
                    ok = expiry is not None and expiry > time.time()
                    if not ok:
                        fake.stats_["unauthorized"] += 1
                if not ok:
                    return self._send(401, "Unauthorized")
                path = self.path
                with fake.lock:
                    role = fake.role
                    creds = dict(fake.creds)
                    expiration = fake.creds_expiration
                    identity = dict(fake.identity)
                if path == CREDS_PREFIX:
                    return self._send(200, role) if role else self._send(404, "Not Found")
                if path.startswith(CREDS_PREFIX):
                    if not role or path[len(CREDS_PREFIX):] != role:
                        return self._send(404, "Not Found")
                    with fake.lock:
                        fake.stats_["creds_served"] += 1
                    doc = {"Code": "Success", "LastUpdated": _iso(time.time()),
                           "Type": "AWS-HMAC", **creds, "Expiration": _iso(expiration)}
                    return self._send(200, json.dumps(doc, indent=2))
                if path == "/latest/dynamic/instance-identity/document":
                    return self._send(200, json.dumps(identity, indent=2), "text/plain")
                if path.rstrip("/") == "/latest/meta-data/placement/availability-zone":
                    return self._send(200, identity["availabilityZone"])
                if path == "/latest/meta-data/placement/region":
                    return self._send(200, identity["region"])
                if path == "/latest/meta-data/instance-id":
                    return self._send(200, identity["instanceId"])
                return self._send(404, "Not Found")

        return Handler


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--access-key", default="ASIAIMDSEXAMPLE")
    p.add_argument("--secret", default="imds/secret+EXAMPLEKEY")
    p.add_argument("--token", default="IQoJb3JpZ2luX2VjEXAMPLE//session+token==")
    p.add_argument("--role", default="msd-role", help="'' = no instance profile")
    p.add_argument("--creds-lifetime", type=float, default=6 * 3600)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--account", default="123456789012")
    p.add_argument("--exit-on-eof", action="store_true")
    p.add_argument("--max-lifetime", type=float, default=900.0)
    a = p.parse_args(argv)
    fake = FakeImds(access_key=a.access_key, secret=a.secret, token=a.token, role=a.role or None,
                    creds_lifetime=a.creds_lifetime, region=a.region, account=a.account,
                    port=a.port).start()
    print(fake.port, flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    if a.exit_on_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(a.max_lifetime)
    fake.stop()


if __name__ == "__main__":
    main()
