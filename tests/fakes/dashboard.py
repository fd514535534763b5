#!/usr/bin/python3
"""A strict fake of the fleet dashboard, for berth's tests.

Receives berth.status/v1 reports (POST to any path not starting with "/_"):
  - checks "Authorization: Bearer <token>" when a token is set (401 otherwise),
  - validates every document against agent/report/berth.status.v1.schema.json (422 otherwise),
  - dedupes by (stream, sequence) like a real receiver must (a retry is acknowledged, ignored),
  - records accepted documents in order and flags every violation of the delivery contract:
    a sequence going backwards, an event id delivered twice or out of order.
Serves the desired state (GET /desired...) with an ETag and If-None-Match/304.

Control endpoints (no auth):
  GET  /_received  {"documents": [...], "paths": [...], "events": [...], "violations": [...],
                    "duplicates": n, "requests": n, "unauthorized": n, "invalid": n,
                    "log": [{"t": epoch, "status": code|null, "sequence": n|null, "mode": m}],
                    "desired_requests": n, "if_none_match": [...]}
  POST /_mode      {"mode": "ok" | "refuse" | "status" | "slow" | "cut" | "cut_request",
                    "status": 503, "retry_after": "2", "body": "...", "delay": 2.0,
                    "count": N}     count: apply to the next N report requests, then back to ok
                    refuse: close the connection without an answer; status: answer `status`
                    (with Retry-After when given); slow: wait `delay` s then accept; cut: accept
                    and record, then cut the response mid-body; cut_request: read half the
                    body, then close.
  POST /_reset     forget everything received
  PUT  /_desired   set the desired-state document (raw body); DELETE /_desired: none (404)
  POST /_desired_mode {"mode": "ok" | "flood" | "drip", "bytes": N, "interval": s}
                   how GET /desired answers (issue 22, hostile peer): flood streams N bytes
                   chunked (no Content-Length); drip sends a Content-Length of N and then one
                   byte every `interval` seconds. /_received counts "desired_bytes_sent".

Run: /usr/bin/python3 dashboard.py [--port 0] [--port-file F] [--token T | --token-file F]
                                   [--mode '{"mode": "status", "status": 503, "count": 1}']
     prints "PORT <n>" on stdout when listening. Or import it:
     r = DashboardReceiver(token="t"); r.start(); ... r.received(); r.stop()
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import jsonschema
except ImportError:  # pragma: no cover
    sys.stderr.write("dashboard.py needs python3-jsonschema (apt-get install python3-jsonschema)\n")
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.normpath(
    os.path.join(HERE, "..", "..", "agent", "report", "berth.status.v1.schema.json"))


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()
        self.mode = {"mode": "ok"}
        self.desired = None  # bytes
        self.desired_mode = {"mode": "ok"}
        self.desired_bytes_sent = 0

    def reset(self):
        self.documents = []
        self.paths = []
        self.events = []
        self.violations = []
        self.duplicates = 0
        self.requests = 0
        self.unauthorized = 0
        self.invalid = 0
        self.log = []
        self.seen_seq = {}  # stream -> set of sequences
        self.last_seq = {}  # stream -> last accepted sequence
        self.seen_events = {}  # stream -> set of event ids
        self.last_event = {}  # stream -> last event id
        self.desired_requests = 0
        self.if_none_match = []

    def take_mode(self):
        """The mode for this report request (consumes one of `count`)."""
        with self.lock:
            m = dict(self.mode)
            if "count" in self.mode:
                self.mode["count"] -= 1
                if self.mode["count"] <= 0:
                    self.mode = {"mode": "ok"}
            return m


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-dashboard/1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, fmt, *args):  # quiet
        pass

    # --- helpers ------------------------------------------------------------------------------
    @property
    def st(self):
        return self.server.state

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, code, body=b"", headers=None, ctype="application/json"):
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body or code not in (204, 304):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _abort(self):
        """Close the connection with a reset, no answer."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    def _authorized(self):
        token = self.server.token
        return token is None or self.headers.get("Authorization") == "Bearer " + token

    def _log(self, status, seq, mode):
        with self.st.lock:
            self.st.log.append({"t": time.time(), "status": status, "sequence": seq, "mode": mode})

    # --- control ------------------------------------------------------------------------------
    def do_GET(self):
        if self.path == "/_received":
            with self.st.lock:
                snap = {
                    "documents": list(self.st.documents),
                    "paths": list(self.st.paths),
                    "events": list(self.st.events),
                    "violations": list(self.st.violations),
                    "duplicates": self.st.duplicates,
                    "requests": self.st.requests,
                    "unauthorized": self.st.unauthorized,
                    "invalid": self.st.invalid,
                    "log": list(self.st.log),
                    "desired_requests": self.st.desired_requests,
                    "desired_bytes_sent": self.st.desired_bytes_sent,
                    "if_none_match": list(self.st.if_none_match),
                }
            return self._send(200, snap)
        if self.path.startswith("/desired"):
            return self._get_desired()
        return self._send(404, {"error": "no such path"})

    def _get_desired(self):
        with self.st.lock:
            self.st.desired_requests += 1
            self.st.if_none_match.append(self.headers.get("If-None-Match"))
            doc = self.st.desired
        if not self._authorized():
            return self._send(401, {"error": "unauthorized"})
        with self.st.lock:
            mode = dict(self.st.desired_mode)
        if mode["mode"] != "ok":
            return self._hostile_desired(mode)
        if doc is None:
            return self._send(404, {"error": "no desired state for this host"})
        etag = '"' + hashlib.sha256(doc).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            return self._send(304, b"", {"ETag": etag})
        return self._send(200, doc, {"ETag": etag})

    def _hostile_desired(self, mode):
        total = int(mode.get("bytes", 200 << 20))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if mode["mode"] == "flood":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(total))
        self.end_headers()
        piece = b'{"schema":' + b" " * 65526 + b"\n"
        sent = 0
        try:
            while sent < total:
                if mode["mode"] == "flood":
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    sent += len(piece)
                else:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    sent += 1
                    time.sleep(float(mode.get("interval", 1.0)))
                with self.st.lock:
                    self.st.desired_bytes_sent = sent
            if mode["mode"] == "flood":
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client hung up
        self.close_connection = True

    def do_PUT(self):
        if self.path == "/_desired":
            body = self._read_body()
            with self.st.lock:
                self.st.desired = body
            return self._send(204)
        return self._send(404, {"error": "no such path"})

    def do_DELETE(self):
        if self.path == "/_desired":
            with self.st.lock:
                self.st.desired = None
            return self._send(204)
        return self._send(404, {"error": "no such path"})

    def do_POST(self):
        if self.path == "/_desired_mode":
            mode = json.loads(self._read_body() or b"{}")
            if mode.get("mode") not in ("ok", "flood", "drip"):
                return self._send(400, {"error": "unknown desired mode"})
            with self.st.lock:
                self.st.desired_mode = mode
                self.st.desired_bytes_sent = 0
            return self._send(200, {"ok": True})
        if self.path == "/_mode":
            mode = json.loads(self._read_body() or b"{}")
            with self.st.lock:
                self.st.mode = mode
            return self._send(200, {"ok": True})
        if self.path == "/_reset":
            self._read_body()
            with self.st.lock:
                self.st.reset()
            return self._send(200, {"ok": True})
        return self._report()

    # --- reports ------------------------------------------------------------------------------
    def _report(self):
        mode = self.st.take_mode()
        name = mode.get("mode", "ok")
        with self.st.lock:
            self.st.requests += 1
        if name == "refuse":
            self._log(None, None, name)
            return self._abort()
        if name == "cut_request":
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n // 2)
            self._log(None, None, name)
            return self._abort()
        body = self._read_body()
        if name == "slow":
            time.sleep(float(mode.get("delay", 2)))
        if name == "status":
            code = int(mode.get("status", 503))
            headers = {}
            if "retry_after" in mode:
                headers["Retry-After"] = str(mode["retry_after"])
            self._log(code, None, name)
            return self._send(code, mode.get("body", '{"error": "try later"}'), headers)
        if not self._authorized():
            with self.st.lock:
                self.st.unauthorized += 1
            self._log(401, None, name)
            return self._send(401, {"error": "bad or missing bearer token"})
        try:
            doc = json.loads(body)
        except ValueError as e:
            with self.st.lock:
                self.st.invalid += 1
                self.st.violations.append("not JSON: %s" % e)
            self._log(400, None, name)
            return self._send(400, {"error": "not JSON"})
        errors = sorted(self.server.validator.iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            msg = "; ".join("%s: %s" % ("/".join(map(str, e.path)) or "(root)", e.message)
                            for e in errors[:5])
            with self.st.lock:
                self.st.invalid += 1
                self.st.violations.append("schema: " + msg)
            self._log(422, doc.get("sequence") if isinstance(doc, dict) else None, name)
            return self._send(422, {"error": msg})
        self._accept(doc)
        self._log(200, doc["sequence"], name)
        if name == "cut":
            # Recorded, but the client never sees a complete answer.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"ok": tr')
            self.wfile.flush()
            return self._abort()
        return self._send(200, {"ok": True})

    def _accept(self, doc):
        stream = doc.get("stream", "")
        seq = doc["sequence"]
        with self.st.lock:
            seen = self.st.seen_seq.setdefault(stream, set())
            if seq in seen:
                self.st.duplicates += 1  # a retry of a document we already have
                return
            last = self.st.last_seq.get(stream, 0)
            if seq <= last:
                self.st.violations.append(
                    "sequence %d arrived after %d (stream %s)" % (seq, last, stream))
            seen_ev = self.st.seen_events.setdefault(stream, set())
            last_ev = self.st.last_event.get(stream, 0)
            for ev in doc["events"]:
                eid = ev["id"]
                if eid in seen_ev:
                    self.st.violations.append("event %d delivered twice (sequence %d)" % (eid, seq))
                elif eid <= last_ev:
                    self.st.violations.append(
                        "event %d out of order after %d (sequence %d)" % (eid, last_ev, seq))
                seen_ev.add(eid)
                last_ev = max(last_ev, eid)
            self.st.last_event[stream] = last_ev
            seen.add(seq)
            self.st.last_seq[stream] = max(last, seq)
            self.st.documents.append(doc)
            self.st.paths.append(self.path)
            self.st.events.extend(doc["events"])

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # aborted connections are expected
        pass


class DashboardReceiver:
    def __init__(self, token=None, schema_path=DEFAULT_SCHEMA, port=0, host="127.0.0.1"):
        with open(schema_path) as f:
            schema = json.load(f)
        jsonschema.Draft7Validator.check_schema(schema)
        self._server = _Server((host, port), _Handler)
        self._server.state = _State()
        self._server.token = token
        self._server.validator = jsonschema.Draft7Validator(schema)
        self._thread = None

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(5)

    def received(self):
        st = self._server.state
        with st.lock:
            return {
                "documents": list(st.documents), "paths": list(st.paths),
                "events": list(st.events), "violations": list(st.violations),
                "duplicates": st.duplicates, "requests": st.requests,
                "unauthorized": st.unauthorized, "invalid": st.invalid, "log": list(st.log),
                "desired_requests": st.desired_requests,
                "desired_bytes_sent": st.desired_bytes_sent,
                "if_none_match": list(st.if_none_match),
            }

    def set_mode(self, mode="ok", **kw):
        st = self._server.state
        with st.lock:
            st.mode = dict(kw, mode=mode)

    def set_desired_mode(self, mode="ok", **kw):
        """How GET /desired answers: ok, flood (bytes=N, chunked) or drip (bytes=N, interval=s)."""
        st = self._server.state
        with st.lock:
            st.desired_mode = dict(kw, mode=mode)
            st.desired_bytes_sent = 0

    def set_desired(self, doc):
        st = self._server.state
        with st.lock:
            if doc is None:
                st.desired = None
            elif isinstance(doc, (bytes, str)):
                st.desired = doc.encode() if isinstance(doc, str) else doc
            else:
                st.desired = json.dumps(doc).encode()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--token")
    ap.add_argument("--token-file")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA)
    ap.add_argument("--mode", help='initial mode, JSON as for POST /_mode')
    args = ap.parse_args(argv)
    token = args.token
    if args.token_file:
        with open(args.token_file) as f:
            token = f.read().strip()
    r = DashboardReceiver(token=token, schema_path=args.schema, port=args.port)
    if args.mode:
        m = json.loads(args.mode)
        r.set_mode(**m)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    r.start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % r.port)
        os.rename(tmp, args.port_file)
    print("PORT %d" % r.port, flush=True)
    stop.wait()
    r.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
