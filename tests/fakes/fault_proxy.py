#!/usr/bin/python3
"""A fault-injecting HTTP proxy in front of a real registry (or any HTTP/1.1 server), for tests.

Everything is forwarded unchanged (method, path, headers including Host, body; responses are
streamed back) except requests matched by a rule, which get a fault instead:

    proxy = FaultProxy("http://127.0.0.1:5000").start()       # proxy.addr == "127.0.0.1:PORT"
    proxy.add(match=FaultProxy.berth_manifest, action="status", status=503, count=2)
    proxy.add(match=FaultProxy.docker_blob, action="stall")   # no bytes until released
    proxy.clear()                                             # every rule gone, stalls released

Actions:
  status   answer `status` with `headers` and `body` (a registry-style JSON error by default)
  reset    close the connection without an answer (a crashed or restarting registry)
  stall    read the request and answer nothing until clear()/release() or `stall_limit` s
  corrupt  forward, then change the response body (a byte appended, JSON still valid) while
           keeping every header, Docker-Content-Digest included (a corrupting cache or disk)
  down     stop accepting connections at all (connection refused) until resume()
  pass     forward unchanged (with `after`: do something once a request went through)
A rule applies `count` times (None = until cleared); `after(method, path)` runs when it fires.

Matchers take (method, path, user_agent). The registry's clients are told apart by User-Agent:
dockerd's start with "docker/", everything else is berth.

auth: with FaultProxy(..., auth=(user, {passwords}), backend_auth=(user, password)) the proxy
checks Basic credentials itself (401 + Basic challenge otherwise, like the registry) and sends
backend_auth upstream: a test can then revoke a password (an expired ECR token) and accept a
new one with set_passwords() without restarting the registry.

log(): [(time, method, path, outcome, user_agent)] with outcome an HTTP status or the action.
"""

import base64
import http.client
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FaultProxy:
    def __init__(self, backend, auth=None, backend_auth=None, stall_limit=90.0):
        u = urllib.parse.urlsplit(backend)
        if u.scheme != "http" or not u.hostname:
            raise ValueError("backend must be http://host:port")
        self.backend_host, self.backend_port = u.hostname, u.port or 80
        self.auth_user = auth[0] if auth else None
        self.passwords = set(auth[1]) if auth else set()
        self.backend_auth = backend_auth
        self.stall_limit = stall_limit
        self.lock = threading.Lock()
        self.rules = []
        self._log = []
        self._released = threading.Event()
        self._server = None
        self.port = 0
        self.is_down = False

    # -- matchers ----------------------------------------------------------------------
    @staticmethod
    def is_docker(ua):
        return ua.startswith("docker/")

    @staticmethod
    def berth_manifest(method, path, ua):
        return "/manifests/" in path and not FaultProxy.is_docker(ua)

    @staticmethod
    def docker_manifest(method, path, ua):
        return "/manifests/" in path and FaultProxy.is_docker(ua)

    @staticmethod
    def docker_blob(method, path, ua):
        return "/blobs/sha256:" in path and method == "GET" and FaultProxy.is_docker(ua)

    @staticmethod
    def any_registry(method, path, ua):
        return path.startswith("/v2/")

    # -- control -----------------------------------------------------------------------
    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.addr

    def start(self):
        self._server = _Server(("127.0.0.1", self.port), self._handler())
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self):
        self._released.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def pause(self):
        """Connection refused on the proxy's port until resume(); requests on connections
        that were already open are dropped without an answer."""
        self.is_down = True
        self.stop()

    def resume(self):
        self._released = threading.Event()
        self.is_down = False
        return self.start()

    def add(self, match, action, count=None, status=503, headers=None, body=None, after=None):
        if action not in ("status", "reset", "stall", "corrupt", "down", "pass"):
            raise ValueError("unknown action " + action)
        with self.lock:
            self.rules.append({"match": match, "action": action, "count": count,
                               "status": status, "headers": dict(headers or {}),
                               "body": body, "after": after, "fired": 0})

    def clear(self):
        with self.lock:
            self.rules = []
        self.release()

    def release(self):
        """Ends every stall (those connections are then closed without an answer)."""
        self._released.set()
        self._released = threading.Event()

    def set_passwords(self, passwords):
        with self.lock:
            self.passwords = set(passwords)

    def fired(self, action=None):
        with self.lock:
            return sum(r["fired"] for r in self.rules if action in (None, r["action"]))

    def log(self):
        with self.lock:
            return list(self._log)

    def _take(self, method, path, ua):
        with self.lock:
            for r in self.rules:
                if r["count"] is not None and r["fired"] >= r["count"]:
                    continue
                if r["match"](method, path, ua):
                    r["fired"] += 1
                    return dict(r)
        return None

    def _record(self, method, path, outcome, ua):
        with self.lock:
            self._log.append((time.time(), method, path, outcome, ua))

    def _auth_ok(self, header):
        if self.auth_user is None:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return False
        with self.lock:
            return user == self.auth_user and pw in self.passwords

    # -- the proxy ---------------------------------------------------------------------
    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _drop(self):
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                method, path = self.command, self.path
                ua = self.headers.get("User-Agent") or ""
                if proxy.is_down:
                    proxy._record(method, path, "down", ua)
                    return self._drop()
                rule = proxy._take(method, path, ua)
                action = rule["action"] if rule else None
                try:
                    if action == "down":
                        proxy._record(method, path, "down", ua)
                        proxy.is_down = True
                        self._drop()
                        threading.Thread(target=proxy.pause, daemon=True).start()
                        return
                    if action == "reset":
                        proxy._record(method, path, "reset", ua)
                        return self._drop()
                    if action == "stall":
                        proxy._record(method, path, "stall", ua)
                        proxy._released.wait(proxy.stall_limit)
                        return self._drop()
                    if action == "status":
                        proxy._record(method, path, rule["status"], ua)
                        data = rule["body"]
                        if data is None:
                            data = (b'{"errors":[{"code":"UNAVAILABLE","message":"injected '
                                    b'fault"}]}')
                        hdrs = {"Content-Type": "application/json"}
                        hdrs.update(rule["headers"])
                        return self._send(rule["status"], data, hdrs)
                    return self._forward(method, path, body, ua, corrupt=action == "corrupt")
                finally:
                    if rule and rule["after"]:
                        rule["after"](method, path)

            def _forward(self, method, path, body, ua, corrupt):
                headers = {}
                for k, v in self.headers.items():
                    if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                        continue
                    headers[k] = v
                if proxy.auth_user is not None and path.startswith("/v2"):
                    if not proxy._auth_ok(self.headers.get("Authorization")):
                        proxy._record(method, path, 401, ua)
                        return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":'
                                          b'"authentication required"}]}',
                                          {"WWW-Authenticate": 'Basic realm="berth-test"',
                                           "Content-Type": "application/json",
                                           "Docker-Distribution-Api-Version": "registry/2.0"})
                    if proxy.backend_auth:
                        u, p = proxy.backend_auth
                        headers = {k: v for k, v in headers.items()
                                   if k.lower() != "authorization"}
                        headers["Authorization"] = "Basic " + base64.b64encode(
                            ("%s:%s" % (u, p)).encode()).decode()
                if body or method in ("POST", "PUT", "PATCH"):
                    headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(proxy.backend_host, proxy.backend_port,
                                                  timeout=60)
                try:
                    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                    for k, v in headers.items():
                        conn.putheader(k, v)
                    conn.endheaders(body or None)
                    resp = conn.getresponse()
                except OSError:
                    proxy._record(method, path, "backend-down", ua)
                    return self._drop()
                out = [(k, v) for k, v in resp.getheaders()
                       if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
                length = resp.getheader("Content-Length")
                proxy._record(method, path, resp.status, ua)
                if corrupt and method != "HEAD":
                    data = resp.read()
                    if data:
                        data += b" "  # still valid JSON, no longer the digest's bytes
                    self.send_response(resp.status)
                    for k, v in out:
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    conn.close()
                    return
                self.send_response(resp.status)
                for k, v in out:
                    self.send_header(k, v)
                if length is not None:
                    self.send_header("Content-Length", length)
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if method == "HEAD":
                    conn.close()
                    return
                while True:
                    chunk = resp.read(64 * 1024)
                    if not chunk:
                        break
                    if length is None:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    else:
                        self.wfile.write(chunk)
                if length is None:
                    self.wfile.write(b"0\r\n\r\n")
                conn.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler
