#!/usr/bin/python3
"""Run a real registry (Debian's CNCF distribution registry, /usr/bin/docker-registry) for tests.

It listens on a free 127.0.0.1 port with a temporary storage directory and htpasswd basic
auth (bcrypt, `htpasswd -Bbn`), exactly how ECR's `AWS:<token>` login works: start it with the
password the fake ECR's token reveals. Docker treats 127.0.0.0/8 registries as insecure, so
plain http works for `docker push` without daemon configuration.

    reg = Registry(password="...").start()     # reg.addr == "127.0.0.1:PORT"
    digest = push_image(reg.addr, "t-registry-x", "v1", "AWS", "...")   # no docker needed
    reg.stop()

BearerFront(reg.url, user, password) puts Docker-Hub-style token auth in front of a registry
started with auth=False (`registry.py --bearer`).

push_image/push_index upload a tiny image (or an index of several) through the registry API
itself, so tests that only need content in a registry do not need dockerd.

As a script: `registry.py --password PW [--user AWS]` prints the port on the first stdout line,
serves until SIGTERM/SIGINT, stdin EOF (--exit-on-eof) or --max-lifetime, then removes its
storage. `registry.py push ADDR REPO TAG --password PW [--arch amd64,arm64]` pushes and prints
the manifest digest.
"""

import argparse
import base64
import ctypes
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REGISTRY_BIN = "/usr/bin/docker-registry"
MT_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """preexec_fn: SIGTERM the registry when this process dies (PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class Registry:
    def __init__(self, user="AWS", password="ecr-password-0123456789", auth=True,
                 access_log=False):
        self.user, self.password, self.auth = user, password, auth
        self.access_log = access_log  # requests() lists what the registry served
        self.proc = None
        self.dir = None
        self.port = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.addr

    def _write_config(self):
        cfg = ["version: 0.1",
               "log:", "  level: error", "  accesslog:",
               "    disabled: %s" % ("false" if self.access_log else "true"),
               "storage:", "  filesystem:", "    rootdirectory: %s/data" % self.dir,
               "  delete:", "    enabled: true",
               "http:", "  addr: 127.0.0.1:%d" % self.port,
               "  secret: %s" % secrets.token_hex(16)]
        if self.auth:
            line = subprocess.run(["htpasswd", "-Bbn", self.user, self.password],
                                  check=True, capture_output=True, text=True).stdout.strip()
            with open(os.path.join(self.dir, "htpasswd"), "w") as f:
                f.write(line + "\n")
            cfg += ["auth:", "  htpasswd:", "    realm: berth-test",
                    "    path: %s/htpasswd" % self.dir]
        path = os.path.join(self.dir, "config.yml")
        with open(path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        return path

    def _spawn(self):
        cfg = self._write_config()
        out = (open(os.path.join(self.dir, "access.log"), "a") if self.access_log
               else subprocess.DEVNULL)
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", cfg],
                                     stdout=out,
                                     stderr=open(os.path.join(self.dir, "log"), "a"),
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)

    def _wait_up(self, deadline):
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                urllib.request.urlopen(self.url + "/v2/", timeout=1).close()
                return True  # no auth configured: 200
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def start(self, timeout=15.0):
        self.dir = tempfile.mkdtemp(prefix="t-registry-")
        deadline = time.monotonic() + timeout
        while True:
            self.port = _free_port()
            self._spawn()
            if self._wait_up(deadline):
                return self
            if self.proc.poll() is None or time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError("docker-registry did not start in %.0fs" % timeout)
            # exited early (port taken by someone else in between): try another port

    def pause(self):
        """Stops the registry process but keeps its storage and port: the registry is "down"
        (connections refused) until resume()."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def resume(self, timeout=15.0):
        """Starts the registry again on the same port with the same storage."""
        self._spawn()
        if not self._wait_up(time.monotonic() + timeout):
            raise RuntimeError("docker-registry did not restart on port %d" % self.port)
        return self

    def requests(self):
        """With access_log=True: [(method, path, status, user_agent)] served so far, in order
        (the registry writes an Apache combined log line per request to its stdout)."""
        out = []
        try:
            with open(os.path.join(self.dir, "access.log")) as f:
                lines = f.read().splitlines()
        except (OSError, TypeError):
            return out
        for line in lines:
            m = re.search(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d+) \S+ "[^"]*" "([^"]*)"', line)
            if m:
                out.append((m.group(1), m.group(2), int(m.group(3)), m.group(4)))
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _FrontHandler(BaseHTTPRequestHandler):
    """What the registry fronts share: quiet, keep-alive, _send with a Content-Length."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _proxy_to(handler, backend, body):
    """Forwards the handler's request to `backend` (without its Authorization) and sends the
    answer back, Location rewritten to the front."""
    headers = {k: v for k, v in handler.headers.items()
               if k.lower() not in ("host", "authorization", "content-length")}
    req = urllib.request.Request(backend + handler.path, data=body or None,
                                 method=handler.command, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, hdrs, data = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, data = e.code, e.headers, e.read()
    out = {k: v for k, v in hdrs.items()
           if k.lower() not in ("connection", "transfer-encoding", "date", "content-length")}
    if handler.command == "HEAD" and hdrs.get("Content-Length"):
        out["Content-Length"] = hdrs["Content-Length"]
    loc = out.get("Location")
    if loc and loc.startswith(backend):
        out["Location"] = loc[len(backend):]
    handler._send(status, data, out)


class BearerFront:
    """A Docker-Hub-style token-auth front for a Registry started with auth=False.

    GET/HEAD /v2/<repo>/manifests/... need `Authorization: Bearer <token>`; without a valid
    token: 401 with `WWW-Authenticate: Bearer realm="<front>/token",service="berth-test",
    scope="repository:<repo>:pull"`. GET /token?service=&scope= needs Basic user:password and
    returns {"token", "expires_in"}. Everything else (pushes, with Basic) is proxied as is.
    GET /_control/stats -> {"token_requests", "manifest_requests", "unauthorized"};
    POST /_control/revoke drops every issued token."""

    def __init__(self, backend, user="AWS", password="ecr-password-0123456789",
                 expires_in=300):
        self.backend, self.user, self.password = backend, user, password
        self.expires_in = expires_in
        self.tokens = {}  # token -> scope
        self.stats = {"token_requests": 0, "manifest_requests": 0, "unauthorized": 0}
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def _basic_ok(self, header):
        want = "Basic " + base64.b64encode(
            ("%s:%s" % (self.user, self.password)).encode()).decode()
        return header == want

    def _handler(self):
        front = self

        class Handler(_FrontHandler):

            def _proxy(self, body):
                _proxy_to(self, front.backend, body)

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                path = self.path.split("?")[0]
                if path == "/_control/stats":
                    with front.lock:
                        return self._send(200, json.dumps(front.stats).encode(),
                                          {"Content-Type": "application/json"})
                if path == "/_control/revoke":
                    with front.lock:
                        front.tokens.clear()
                    return self._send(200, b"{}", {"Content-Type": "application/json"})
                if path == "/token":
                    with front.lock:
                        front.stats["token_requests"] += 1
                    if not front._basic_ok(self.headers.get("Authorization")):
                        return self._send(401, b'{"details":"incorrect username or password"}')
                    q = urllib.parse.parse_qs(self.path.partition("?")[2])
                    if q.get("service") != ["berth-test"] or not q.get("scope"):
                        return self._send(400, b'{"details":"bad service or scope"}')
                    token = secrets.token_urlsafe(24)
                    with front.lock:
                        front.tokens[token] = q["scope"][0]
                    doc = {"token": token, "expires_in": front.expires_in}
                    return self._send(200, json.dumps(doc).encode(),
                                      {"Content-Type": "application/json"})
                parts = path.split("/manifests/")
                if self.command in ("GET", "HEAD") and len(parts) == 2:
                    repo = parts[0][len("/v2/"):]
                    scope = "repository:%s:pull" % repo
                    auth = self.headers.get("Authorization") or ""
                    with front.lock:
                        front.stats["manifest_requests"] += 1
                        ok = auth.startswith("Bearer ") and front.tokens.get(auth[7:]) == scope
                        if not ok:
                            front.stats["unauthorized"] += 1
                    if not ok:
                        challenge = ('Bearer realm="http://%s/token",service="berth-test",'
                                     'scope="%s"' % (front.addr, scope))
                        return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                                          {"WWW-Authenticate": challenge,
                                           "Content-Type": "application/json"})
                    return self._proxy(body)
                if not front._basic_ok(self.headers.get("Authorization")):
                    return self._send(401, b"", {"WWW-Authenticate": 'Basic realm="front"'})
                return self._proxy(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler


class HostileFront:
    """A registry front that turns hostile on demand (issue 22), in front of a Registry started
    with auth=False. Mode "ok" proxies everything; the others answer the manifest requests of a
    tag (HEAD/GET /v2/<repo>/manifests/<tag>) the way a broken or malicious registry would:

      deep_index      the tag is an OCI index whose platform is nested `levels` deep (default a
                      million: ~2 MB), served with its true digest (it verifies, then must not
                      crash the parser)
      flood_manifest  HEAD gives a digest; GET of that digest streams `bytes` (default 64 MiB)
                      chunked, without Content-Length
      mismatch        HEAD gives a digest; GET of that digest serves another image's manifest
      realm_other     401 Bearer with realm http://127.0.0.2:<port>/token (another host, plain
                      http); that token service counts every request (.stats["realm_requests"])
      big_token       401 Bearer with realm http://127.0.0.1:<front>/token, which streams
                      `bytes` (default 1 MiB) of JSON

    .mode = {"mode": ..., ...}; .stats: {"requests", "realm_requests", "realm_credentials",
    "flood_bytes_sent"}. Digest requests other than the hostile one are proxied (docker pulls)."""

    def __init__(self, backend):
        self.backend = backend
        self.mode = {"mode": "ok"}
        self.stats = {"requests": 0, "realm_requests": 0, "realm_credentials": 0,
                      "flood_bytes_sent": 0}
        self.lock = threading.Lock()
        self._deep = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(realm=False))
        self._server.daemon_threads = True
        self._realm = ThreadingHTTPServer(("127.0.0.2", 0), self._handler(realm=True))
        self._realm.daemon_threads = True

    @property
    def addr(self):
        return "127.0.0.1:%d" % self._server.server_address[1]

    @property
    def realm_url(self):
        return "http://127.0.0.2:%d/token" % self._realm.server_address[1]

    def start(self):
        for srv in (self._server, self._realm):
            threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self):
        for srv in (self._server, self._realm):
            srv.shutdown()
            srv.server_close()

    def deep_index(self, levels):
        if self._deep is None or self._deep[0] != levels:
            body = ('{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s",'
                    '"size":1,"digest":"sha256:%s","platform":%s%s}]}' % (
                        MT_OCI_INDEX, MT_OCI_MANIFEST, "0" * 64, "[" * levels,
                        "]" * levels)).encode()
            self._deep = (levels, body)
        return self._deep[1]

    def _handler(self, realm):
        front = self

        class Handler(_FrontHandler):

            def _stream(self, total, piece, content_type):
                """Chunked, no Content-Length: the client can only stop reading."""
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0
                try:
                    while sent < total:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        sent += len(piece)
                        with front.lock:
                            front.stats["flood_bytes_sent"] = sent
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client hung up: what a bounded reader does
                self.close_connection = True

            def _proxy(self, body):
                _proxy_to(self, front.backend, body)

            def _realm_token(self):
                with front.lock:
                    front.stats["realm_requests"] += 1
                    if self.headers.get("Authorization"):
                        front.stats["realm_credentials"] += 1
                self._send(200, json.dumps({"token": "t", "expires_in": 300}).encode(),
                           {"Content-Type": "application/json"})

            def _hostile(self, mode, repo, ref):
                m = mode["mode"]
                by_digest = ref.startswith("sha256:")
                if m in ("realm_other", "big_token"):
                    if m == "big_token" and self.headers.get("Authorization") == "Bearer t":
                        return False
                    realm = front.realm_url if m == "realm_other" else \
                        "http://%s/token" % front.addr
                    challenge = 'Bearer realm="%s",service="hostile",scope="repository:%s:pull"' % (
                        realm, repo)
                    self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                               {"WWW-Authenticate": challenge, "Content-Type": "application/json"})
                    return True
                if m == "deep_index":
                    body = front.deep_index(mode.get("levels", 1000000))
                    digest = "sha256:" + hashlib.sha256(body).hexdigest()
                    if by_digest and ref != digest:
                        return False
                    self._send(200, body, {"Content-Type": MT_OCI_INDEX,
                                           "Docker-Content-Digest": digest,
                                           "Content-Length": str(len(body))})
                    return True
                fake = "sha256:" + hashlib.sha256(("hostile " + m).encode()).hexdigest()
                if not by_digest:  # the tag now points at the hostile digest
                    self._send(200, b"", {"Content-Type": MT_MANIFEST,
                                          "Docker-Content-Digest": fake, "Content-Length": "2"})
                    return True
                if ref != fake:
                    return False
                if m == "flood_manifest":
                    self._stream(mode.get("bytes", 64 << 20), b"x" * 65536, MT_MANIFEST)
                    return True
                if m == "mismatch":  # another image's manifest under this digest
                    other = mode["body"].encode() if isinstance(mode["body"], str) \
                        else mode["body"]
                    self._send(200, other, {"Content-Type": MT_MANIFEST,
                                            "Docker-Content-Digest": fake})
                    return True
                return False

            def _handle(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                if realm:
                    return self._realm_token()
                with front.lock:
                    front.stats["requests"] += 1
                    mode = dict(front.mode)
                path = self.path.split("?")[0]
                if path == "/token" and mode["mode"] == "big_token":
                    piece = b'{"token":"' + b"t" * 65000 + b'",'
                    return self._stream(mode.get("bytes", 1 << 20), piece, "application/json")
                parts = path.split("/manifests/")
                if (mode["mode"] != "ok" and self.command in ("GET", "HEAD") and len(parts) == 2
                        and self._hostile(mode, parts[0][len("/v2/"):], parts[1])):
                    return
                return self._proxy(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler


# -- pushing through the registry API ----------------------------------------------------

def _request(method, url, user, password, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if user is not None:
        cred = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        req.add_header("Authorization", "Basic " + cred)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), r.read()


def push_blob(addr, repo, data, user="AWS", password=None):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    base = "http://%s/v2/%s/blobs/" % (addr, repo)
    _, hdrs, _ = _request("POST", base + "uploads/", user, password, b"")
    loc = hdrs["Location"]
    if loc.startswith("/"):
        loc = "http://" + addr + loc
    loc += ("&" if "?" in loc else "?") + "digest=" + digest
    _request("PUT", loc, user, password, data, {"Content-Type": "application/octet-stream"})
    return digest, len(data)


def _layer(content):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


def push_manifest(addr, repo, ref, manifest_bytes, media_type, user="AWS", password=None):
    _, hdrs, _ = _request("PUT", "http://%s/v2/%s/manifests/%s" % (addr, repo, ref), user,
                          password, manifest_bytes, {"Content-Type": media_type})
    return hdrs.get("Docker-Content-Digest") or (
        "sha256:" + hashlib.sha256(manifest_bytes).hexdigest())


def push_image(addr, repo, tag, user="AWS", password=None, arch="amd64", content=None,
               oci=False):
    """Pushes a one-layer image; returns {"digest", "layer_size", "config_size", "bytes"}."""
    content = content if content is not None else ("berth test %s %s %s\n" % (
        repo, tag, arch)).encode()
    tar_bytes, layer = _layer(content)
    config = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
    }, sort_keys=True).encode()
    layer_digest, layer_size = push_blob(addr, repo, layer, user, password)
    config_digest, config_size = push_blob(addr, repo, config, user, password)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST if oci else MT_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json" if oci else MT_CONFIG,
                   "size": config_size, "digest": config_digest},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip" if oci
                    else MT_LAYER, "size": layer_size, "digest": layer_digest}],
    }
    body = json.dumps(manifest, indent=3).encode()
    mt = manifest["mediaType"]
    digest = push_manifest(addr, repo, tag or ("sha256:" + hashlib.sha256(body).hexdigest()),
                           body, mt, user, password)
    return {"digest": digest, "layer_size": layer_size, "config_size": config_size,
            "bytes": body, "media_type": mt, "size": len(body)}


def push_index(addr, repo, tag, archs=("amd64", "arm64"), user="AWS", password=None,
               oci=False):
    """Pushes one image per arch and a manifest list/index over them under `tag`.

    Returns {"digest", "images": {arch: push_image result}, "bytes"}."""
    images = {}
    entries = []
    for arch in archs:
        img = push_image(addr, repo, None, user, password, arch=arch, oci=oci)
        images[arch] = img
        plat = {"architecture": arch, "os": "linux"}
        if arch == "arm64":
            plat["variant"] = "v8"
        entries.append({"mediaType": img["media_type"], "size": img["size"],
                        "digest": img["digest"], "platform": plat})
    index = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX if oci else MT_LIST,
             "manifests": entries}
    body = json.dumps(index, indent=3).encode()
    digest = push_manifest(addr, repo, tag, body, index["mediaType"], user, password)
    return {"digest": digest, "images": images, "bytes": body}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "push":
        p = argparse.ArgumentParser(prog="registry.py push")
        p.add_argument("addr")
        p.add_argument("repo")
        p.add_argument("tag")
        p.add_argument("--user", default="AWS")
        p.add_argument("--password", required=True)
        p.add_argument("--arch", default="amd64", help="one arch, or a comma list = an index")
        p.add_argument("--oci", action="store_true")
        a = p.parse_args(argv[1:])
        archs = a.arch.split(",")
        if len(archs) == 1:
            r = push_image(a.addr, a.repo, a.tag, a.user, a.password, arch=archs[0], oci=a.oci)
            print(r["digest"])
            print(r["layer_size"] + r["config_size"])
        else:
            r = push_index(a.addr, a.repo, a.tag, archs, a.user, a.password, oci=a.oci)
            print(r["digest"])
            for arch in archs:
                print(arch, r["images"][arch]["digest"],
                      r["images"][arch]["layer_size"] + r["images"][arch]["config_size"])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--user", default="AWS")
    p.add_argument("--password", default="ecr-password-0123456789")
    p.add_argument("--no-auth", action="store_true")
    p.add_argument("--bearer", action="store_true",
                   help="token auth (Docker Hub style) via a BearerFront; its port is printed")
    p.add_argument("--exit-on-eof", action="store_true")
    p.add_argument("--max-lifetime", type=float, default=900.0)
    a = p.parse_args(argv)
    reg = Registry(a.user, a.password, auth=not (a.no_auth or a.bearer)).start()
    front = BearerFront(reg.url, a.user, a.password).start() if a.bearer else None
    print(front.port if front else reg.port, flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    if a.exit_on_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    try:
        while not done.wait(0.5):
            if reg.proc is None or reg.proc.poll() is not None:
                print("registry.py: docker-registry exited", file=sys.stderr)
                break
            a.max_lifetime -= 0.5
            if a.max_lifetime <= 0:
                break
    finally:
        if front:
            front.stop()
        reg.stop()


if __name__ == "__main__":
    main()
