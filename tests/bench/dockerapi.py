"""The Docker Engine API over its unix socket, for the benchmark's own measurements (the floor,
health watching, clean-up). Plain http.client over AF_UNIX: no docker CLI in any timed path."""
import base64
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

API = "/v1.41"


def socket_path():
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://"):]
    return "/var/run/docker.sock"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class DockerError(RuntimeError):
    def __init__(self, status, message):
        super().__init__("docker API %d: %s" % (status, message))
        self.status = status


class Docker:
    """One connection per call (thread-safe without locking; the daemon is local)."""

    def __init__(self, path=None):
        self.path = path or socket_path()

    def request(self, method, url, body=None, timeout=120, ok=(200, 201, 204, 304),
                headers=None):
        conn = _UnixConnection(self.path, timeout)
        try:
            data = None
            headers = dict(headers or {})
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, API + url, body=data, headers=headers)
            r = conn.getresponse()
            raw = r.read()
            if r.status not in ok:
                try:
                    msg = json.loads(raw).get("message", raw.decode(errors="replace"))
                except ValueError:
                    msg = raw.decode(errors="replace")
                raise DockerError(r.status, msg)
            if not raw:
                return None
            try:
                return json.loads(raw)
            except ValueError:
                return raw
        finally:
            conn.close()

    @staticmethod
    def filters(**kw):
        return urllib.parse.quote(json.dumps(kw))

    # -- containers
    def containers(self, label=None, all=True):
        q = "?all=%d" % (1 if all else 0)
        if label:
            q += "&filters=" + self.filters(label=[label])
        return self.request("GET", "/containers/json" + q)

    def inspect(self, cid):
        return self.request("GET", "/containers/%s/json" % cid)

    def create(self, name, body):
        return self.request("POST", "/containers/create?name=" + urllib.parse.quote(name), body)

    def start(self, cid):
        return self.request("POST", "/containers/%s/start" % cid)

    def kill(self, cid, signal="KILL"):
        return self.request("POST", "/containers/%s/kill?signal=%s" % (cid, signal))

    def remove(self, cid):
        try:
            self.request("DELETE", "/containers/%s?force=1&v=1" % cid)
        except DockerError as e:
            if e.status != 404:
                raise

    # -- networks, images
    def create_network(self, name, labels):
        return self.request("POST", "/networks/create",
                            {"Name": name, "CheckDuplicate": True, "Labels": labels})

    def networks(self, label):
        return self.request("GET", "/networks?filters=" + self.filters(label=[label]))

    def remove_network(self, nid, attempts=40):
        """dockerd 20.10 can still count the endpoint of a container it has just removed (force)
        for a moment: retry "has active endpoints" (403) for up to ~10 s."""
        for i in range(attempts):
            try:
                self.request("DELETE", "/networks/%s" % nid)
                return
            except DockerError as e:
                if e.status == 404:
                    return
                if e.status != 403 or "active endpoints" not in str(e) or i == attempts - 1:
                    raise
                time.sleep(0.25)

    def pull(self, ref, username=None, password=None, server=None):
        """POST /images/create; raises on an error message in the progress stream."""
        name, _, tag = ref.rpartition(":")
        if "/" in tag or not name:
            name, tag = ref, "latest"
        headers = {}
        if username:
            auth = json.dumps({"username": username, "password": password,
                               "serveraddress": server})
            headers["X-Registry-Auth"] = base64.urlsafe_b64encode(auth.encode()).decode()
        raw = self.request("POST", "/images/create?fromImage=%s&tag=%s" % (
            urllib.parse.quote(name, safe=""), urllib.parse.quote(tag, safe="")),
            headers=headers, timeout=600)
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else json.dumps(raw)
        for line in text.splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and msg.get("error"):
                raise DockerError(500, "pull %s: %s" % (ref, msg["error"]))

    def images(self):
        return self.request("GET", "/images/json?all=1")

    def remove_image(self, ref):
        try:
            self.request("DELETE", "/images/%s?force=1" % urllib.parse.quote(ref, safe=":@/"),
                         ok=(200,))
            return True
        except DockerError as e:
            if e.status in (404, 409):
                return False
            raise

    def version(self):
        return self.request("GET", "/version")

    def info(self):
        return self.request("GET", "/info")

    def remove_project(self, project):
        """Containers, networks and volumes labelled com.docker.compose.project=PROJECT."""
        label = "com.docker.compose.project=" + project
        cs = self.containers(label)
        threads = [threading.Thread(target=self.remove, args=(c["Id"],)) for c in cs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for n in self.networks(label) or []:
            try:
                self.remove_network(n["Id"])
            except DockerError as e:  # a stale endpoint (see remove_network): report, go on
                print("clean-up of %s: %s" % (project, e), file=sys.stderr)
        vols = self.request("GET", "/volumes?filters=" + self.filters(label=[label]))
        for v in (vols or {}).get("Volumes") or []:
            try:
                self.request("DELETE", "/volumes/%s?force=1" % v["Name"])
            except DockerError:
                pass


class EventWatch:
    """A subscription to the Engine's container events of one compose project, opened before the
    timed action starts. Records (monotonic receive time, event) for every event."""

    def __init__(self, docker, project,
                 events=("health_status", "create", "start", "die", "destroy")):
        self.events = []
        self.cond = threading.Condition()
        f = {"type": ["container"], "event": list(events),
             "label": ["com.docker.compose.project=" + project]}
        self._conn = _UnixConnection(docker.path, timeout=None)
        self._conn.request("GET", API + "/events?filters=" + Docker.filters(**f))
        self._resp = self._conn.getresponse()  # headers come back at once: subscribed
        if self._resp.status != 200:
            raise DockerError(self._resp.status, self._resp.read().decode(errors="replace"))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        try:
            while True:
                line = self._resp.readline()
                if not line:
                    break
                t = time.monotonic()
                line = line.strip()
                if not line:
                    continue
                ev = json.loads(line)
                with self.cond:
                    self.events.append((t, ev))
                    self.cond.notify_all()
        except Exception:  # noqa: BLE001 (closed under us by close(): the watch is over)
            pass

    def close(self):
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait(self, pred, timeout):
        """Waits until pred(events) returns a value (not None); returns it, or raises."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred(self.events)
                if v is not None:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("event wait timed out after %.0fs" % timeout)
                self.cond.wait(left)

    def nth(self, action, n):
        """Monotonic time of the n-th distinct container's `action` event so far, or None."""
        seen = set()
        with self.cond:
            for t, ev in self.events:
                if ev.get("Action") == action and ev.get("id") not in seen:
                    seen.add(ev.get("id"))
                    if len(seen) >= n:
                        return t
        return None

    def healthy(self, n, exclude=(), service=None, timeout=300):
        """Monotonic time at which the n-th distinct container (not in exclude, of `service` if
        given) reported health_status: healthy."""
        def pred(events):
            seen = set()
            for t, ev in events:
                if ev.get("status") != "health_status: healthy":
                    continue
                cid = ev.get("id") or ev.get("Actor", {}).get("ID")
                if cid in exclude or cid in seen:
                    continue
                attrs = ev.get("Actor", {}).get("Attributes", {})
                if service and attrs.get("com.docker.compose.service") != service:
                    continue
                seen.add(cid)
                if len(seen) >= n:
                    return t
            return None
        return self.wait(pred, timeout)
