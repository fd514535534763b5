"""Benchmark images, built in memory and pushed through the registry API (no docker push, no
dockerd in the loop): a shared busybox root-file-system layer plus, per image, an optional layer
of its own (a version file for updates, a few MB of random data for the pull scenario)."""
import base64
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

import berth_testlib as lib  # noqa: E402

MT_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

CMD = ["/bin/sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
HEALTH_TEST = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]


class Layer:
    def __init__(self, tar_bytes, level=1):
        self.diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
        self.blob = gzip.compress(tar_bytes, compresslevel=level, mtime=0)
        self.digest = "sha256:" + hashlib.sha256(self.blob).hexdigest()
        self.size = len(self.blob)


def _tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mode = 0o644
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


_BASE = None


def base_layer():
    """busybox and its applet links, /www/index.html (shared by every benchmark image)."""
    global _BASE
    if _BASE is None:
        _BASE = Layer(lib._rootfs_tar(), level=6)
    return _BASE


def file_layer(path, data, level=1):
    return Layer(_tar({path: data}), level=level)


class Image:
    """An image = config + manifest over the base layer and extra layers."""

    def __init__(self, extra_layers=(), labels=None, cmd=CMD):
        self.layers = [base_layer(), *extra_layers]
        config = {
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": cmd, "Labels": labels or {}},
            "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in self.layers]},
        }
        self.config = json.dumps(config, sort_keys=True).encode()
        self.config_digest = "sha256:" + hashlib.sha256(self.config).hexdigest()
        manifest = {
            "schemaVersion": 2, "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "size": len(self.config),
                       "digest": self.config_digest},
            "layers": [{"mediaType": MT_LAYER, "size": l.size, "digest": l.digest}
                       for l in self.layers],
        }
        self.manifest = json.dumps(manifest, indent=2).encode()
        self.digest = "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    @property
    def image_id(self):
        return self.config_digest  # what `docker images` shows as the ID

    @property
    def size(self):
        return sum(l.size for l in self.layers) + len(self.config)


class RegistryClient:
    def __init__(self, addr, user, password):
        self.addr = addr
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.known = {}  # blob digest -> a repo holding it (for cross-repo mounts)

    def _req(self, method, url, data=None, headers=None, ok=(200, 201, 202, 204)):
        if url.startswith("/"):
            url = "http://" + self.addr + url
        req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        req.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return e.code, e.headers, e.read()
            raise

    def push_blob(self, repo, digest, data):
        try:
            st, _, _ = self._req("HEAD", "/v2/%s/blobs/%s" % (repo, digest))
            if st == 200:
                return
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
        src = self.known.get(digest)
        if src and src != repo:
            st, hdrs, _ = self._req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" %
                                    (repo, digest, src))
            if st == 201:
                return
        else:
            st, hdrs, _ = self._req("POST", "/v2/%s/blobs/uploads/" % repo, b"")
        loc = hdrs["Location"]
        loc += ("&" if "?" in loc else "?") + "digest=" + digest
        self._req("PUT", loc, data, {"Content-Type": "application/octet-stream"})
        self.known.setdefault(digest, repo)

    def push(self, repo, tag, image):
        """Pushes the image as repo:tag; returns the manifest digest."""
        for l in image.layers:
            self.push_blob(repo, l.digest, l.blob)
        self.push_blob(repo, image.config_digest, image.config)
        _, hdrs, _ = self._req("PUT", "/v2/%s/manifests/%s" % (repo, tag), image.manifest,
                               {"Content-Type": MT_MANIFEST})
        got = hdrs.get("Docker-Content-Digest")
        if got and got != image.digest:
            raise RuntimeError("registry computed %s for %s:%s, expected %s" %
                               (got, repo, tag, image.digest))
        return image.digest


def start_registry(user, password):
    """A real docker-registry with htpasswd basic auth on 127.0.0.1 (tests/fakes/registry.py)."""
    from registry import Registry  # tests/fakes/registry.py
    return Registry(user=user, password=password).start()
