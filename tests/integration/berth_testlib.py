"""Shared helpers for berth's integration tests: a real dockerd, offline busybox images, and
running the berth binary. Used by conftest.py and by the benchmark and e2e harnesses."""
import base64
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid

from berth_process import (berth_bin, berth_env, metadata_problems,  # noqa: F401
                           record_finished, run_berth, start_berth)

BUSYBOX = "/bin/busybox"
BASE_IMAGE = "berth-test/busybox:base"


def docker(*args, check=True, capture=True, input=None, timeout=120):
    r = subprocess.run(["docker", *args], check=False, text=True, input=input,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {r.stderr}")
    return r.stdout.strip() if capture else ""


def _rootfs_tar(extra_files=None, no_www=False):
    """A root file system with busybox and its applet links, as a tar in memory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ["bin", "tmp", "www", "etc", "var", "proc", "sys", "dev"]:
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(ti)
        tar.add(BUSYBOX, arcname="bin/busybox")
        applets = subprocess.run([BUSYBOX, "--list"], text=True, capture_output=True,
                                 check=True).stdout.split()
        for a in applets:
            if a == "busybox":
                continue
            ti = tarfile.TarInfo("bin/" + a)
            ti.type = tarfile.SYMTYPE
            ti.linkname = "busybox"
            tar.addfile(ti)
        files = {"etc/passwd": "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
                 "etc/group": "root:x:0:\nnogroup:x:65534:\n",
                 "www/index.html": "ok\n"}
        if no_www:
            del files["www/index.html"]
        files.update(extra_files or {})
        for path, content in files.items():
            data = content if isinstance(content, bytes) else content.encode()
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            ti.mode = 0o755 if path.startswith("bin/") else 0o644
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def import_image(ref, version="1", extra_files=None, cmd=None, healthcheck=None, no_www=False):
    """docker import a busybox root fs as REF. Distinct `version` values give distinct image IDs
    (the label is part of the image config). no_www: without /www/index.html (httpd answers 404)."""
    changes = [f"LABEL org.berth.test.version={version}",
               "CMD " + json.dumps(cmd or ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"])]
    if healthcheck:
        changes.append("HEALTHCHECK " + healthcheck)
    args = ["import"]
    for c in changes:
        args += ["--change", c]
    args += ["-", ref]
    r = subprocess.run(["docker", *args], input=_rootfs_tar(extra_files, no_www), capture_output=True,
                       timeout=120)
    if r.returncode != 0:
        raise RuntimeError("docker import failed: " + r.stderr.decode())
    return docker("image", "inspect", "-f", "{{.Id}}", ref)


def ensure_base_image():
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode != 0:
        import_image(BASE_IMAGE, version="base")
    return BASE_IMAGE


def unique_project(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def cleanup_project(project):
    ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}", check=False)
    if ids:
        docker("rm", "-f", *ids.split(), check=False)
    nets = docker("network", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}", check=False)
    if nets:
        docker("network", "rm", *nets.split(), check=False)
    vols = docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}", check=False)
    if vols:
        docker("volume", "rm", "-f", *vols.split(), check=False)


def containers(project):
    """{service: inspect dict} for the project's containers."""
    ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}")
    out = {}
    if not ids:
        return out
    # A container can disappear between the listing and the inspect (berth removes the old one
    # after a swap): inspect tolerantly and keep what still exists.
    r = subprocess.run(["docker", "inspect", *ids.split()], capture_output=True, text=True,
                       timeout=120)
    for c in json.loads(r.stdout or "[]"):
        out[c["Name"].lstrip("/")] = c
    return out


class Berth:
    """Runs the berth binary against one config file and state dir."""

    def __init__(self, workdir, project):
        self.workdir = workdir
        self.project = project
        self.config = os.path.join(workdir, "berth.toml")
        self.state = os.path.join(workdir, "state")
        os.makedirs(self.state, exist_ok=True)

    def write(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def run(self, *args, timeout=180, env=None, check=None, expect=None):
        """Runs `berth ARGS` (with --config/--state-dir for up/down/status) to completion.
        check: the exit status it must have (raises at once otherwise). expect: exit statuses
        the process check at the end of the test accepts (default: `check`, else any ordinary
        exit 0..127)."""
        cmd = list(args)
        if args and args[0] in ("up", "down", "status") and "--config" not in args:
            cmd += ["--config", self.config, "--state-dir", self.state]
        r = run_berth(cmd, env=env, timeout=timeout,
                      expect=expect if expect is not None else check)
        if check is not None and r.returncode != check:
            raise AssertionError(f"berth {' '.join(args)} exited {r.returncode}, wanted {check}\n"
                                 f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def up(self, check=0, **kw):
        return self.run("up", check=check, **kw)

    def down(self, *extra, check=0):
        return self.run("down", *extra, check=check)


# The shortest bound a wait gets: it only catches a hang. The suite shares two cores with the
# sanitizer builds and other test files, and Docker (restarts, health checks) slows down with
# them: a 20 s bound made a restart under ASan "time out" (tests/README.md).
MIN_WAIT_S = 120.0


def wait_for(pred, timeout=MIN_WAIT_S, interval=0.1, what="condition"):
    """Polls pred() until it returns something true (returned) or the bound passes (raises).
    The bound is at least MIN_WAIT_S, whatever the caller asked: never a timing assertion."""
    timeout = max(timeout, MIN_WAIT_S)
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ProjectEvents:
    """The container events of one project, followed live while a test acts:

        with lib.ProjectEvents(project) as ev:
            berth.up()
        ev.events("create", "start")   # [event dict], in order

    Not `docker events --since`: that replays dockerd's in-memory log, which keeps the last 256
    events only, and on the shared dockerd the health-check exec events of every other test
    overwrite it within seconds (a run under load found no "start" of a service berth had just
    started). Fences make the follow exact: a throwaway container of another project is created
    and removed, and once its "create" arrives, every earlier event has arrived too (dockerd
    sends them in order): one when the follow starts (subscribed), one when events() is asked."""

    ACTIONS = ("create", "start", "die", "destroy", "rename", "stop", "kill", "health_status")

    def __init__(self, project):
        self.project = project
        self._all = []
        self._lock = threading.Lock()
        self._start = 0

    def __enter__(self):
        ensure_base_image()
        cmd = ["docker", "events", "--format", "{{json .}}", "--filter", "type=container",
               "--filter", "label=com.docker.compose.project"]
        for a in self.ACTIONS:
            cmd += ["--filter", f"event={a}"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self._start = self._fence()
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait(30)

    def _read(self):
        for line in self.proc.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self._all.append(e)

    def _fence(self):
        """Index just past a fence event: everything dockerd sent before it has arrived.

        The first fence may be created before `docker events` has subscribed (the client takes
        a moment to start), and then its event never comes: a new fence is made every few
        seconds until one arrives. Once one has arrived the follow is live, and later fences
        arrive on the first try."""
        deadline = time.time() + MIN_WAIT_S
        while True:
            cid = docker("create", "--network", "none", "--label",
                         f"com.docker.compose.project=t-fence-{uuid.uuid4().hex[:8]}",
                         BASE_IMAGE, "true")
            docker("rm", cid, check=False)
            try_until = time.time() + 3
            while time.time() < try_until:
                with self._lock:
                    for i, e in enumerate(self._all):
                        if e.get("Action") == "create" and e.get("Actor", {}).get("ID") == cid:
                            return i + 1
                time.sleep(0.05)
            if self.proc.poll() is not None:
                raise AssertionError(f"docker events ended (exit {self.proc.returncode})")
            if time.time() > deadline:
                raise AssertionError(
                    f"timed out after {MIN_WAIT_S}s waiting for the docker events fence")

    def events(self, *actions):
        """This project's events from the start of the follow until now, in order; only
        `actions` (the part before ':', e.g. "health_status") when given."""
        end = self._fence()
        with self._lock:
            evs = self._all[self._start:end]
        out = []
        for e in evs:
            attrs = e.get("Actor", {}).get("Attributes", {})
            if attrs.get("com.docker.compose.project") != self.project:
                continue
            if actions and e["Action"].split(":")[0] not in actions:
                continue
            out.append(e)
        return out


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# -- images in a registry ----------------------------------------------------------------------

# A busybox PID 1 that stops promptly on TERM and serves /www on :8080 (the usual test service).
HTTPD_CMD = ["/bin/sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]


def push_busybox(addr, repo, tag, user=None, password=None, version="1", extra_files=None,
                 cmd=None, healthcheck=None, keep_local=False, no_www=False):
    """Builds a runnable busybox image (import_image), pushes it to the registry at `addr`
    ("127.0.0.1:PORT") as REPO:TAG and returns its manifest digest ("sha256:...").

    Distinct `version` values give distinct digests. The login goes to a temporary DOCKER_CONFIG
    (never ~/.docker). Unless keep_local, the local tag is removed afterwards so that berth has
    to pull it. no_www: the image has no /www/index.html (an httpd health check against it fails)."""
    ref = f"{addr}/{repo}:{tag}"
    files = dict(extra_files or {})
    image_id = import_image(ref, version=version, extra_files=files, cmd=cmd or HTTPD_CMD,
                            healthcheck=healthcheck, no_www=no_www)
    cfgdir = tempfile.mkdtemp(prefix="t-reg-dockercfg-")
    try:
        base = ["--config", cfgdir]
        if user is not None:
            r = subprocess.run(["docker", *base, "login", "-u", user, "--password-stdin", addr],
                               input=password, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError(f"docker login {addr} failed: {r.stderr}")
        r = subprocess.run(["docker", *base, "push", ref], capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"docker push {ref} failed: {r.stdout}{r.stderr}")
        digest = None
        for line in r.stdout.splitlines():
            if "digest: sha256:" in line:
                digest = line.split("digest: ", 1)[1].split()[0]
        if not digest:
            raise RuntimeError(f"docker push {ref}: no digest in output:\n{r.stdout}")
    finally:
        shutil.rmtree(cfgdir, ignore_errors=True)
    if not keep_local:
        remove_image(image_id)
    return digest


def remove_image(ref_or_id):
    """Removes an image and every tag of it (containers using it keep it alive: not forced)."""
    r = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}} {{json .RepoTags}}",
                        ref_or_id], capture_output=True, text=True)
    if r.returncode != 0:
        return
    image_id, tags = r.stdout.strip().split(" ", 1)
    for t in json.loads(tags) or []:
        docker("rmi", "--no-prune", t, check=False)
    docker("rmi", "--no-prune", image_id, check=False)


def remove_images_of(addr):
    """Removes every local image whose repository starts with `addr/` (a test registry)."""
    out = docker("images", "--format", "{{.Repository}} {{.ID}}", "--no-trunc", check=False)
    ids = {line.split()[1] for line in out.splitlines()
           if line.startswith(addr + "/") and len(line.split()) == 2}
    for i in ids:
        docker("rmi", "-f", i, check=False)


def local_image_id(ref):
    r = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def read_state(berth):
    with open(os.path.join(berth.state, "state.json")) as f:
        return json.load(f)


def base64_forms(secret):
    """How `secret` looks inside base64 or base64url text, wherever it starts in the encoded
    bytes: the encoding of the secret after 0, 1 and 2 bytes of something else, cut to the
    characters that only the secret's bits determine. X-Registry-Auth is base64url of a JSON
    object holding the password; an Authorization header is base64 of "user:password"."""
    data = secret.encode()
    forms = set()
    for lead in range(3):
        first = -(-8 * lead // 6)  # the first character with no bit of the leading bytes
        last = 8 * (lead + len(data)) // 6  # after the last character with only the secret's bits
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            piece = enc(b"\0" * lead + data).decode()[first:last]
            if len(piece) >= 8:
                forms.add(piece)
    return forms


def secret_variants(secrets):
    """Every secret, the password inside an ECR-style token (base64 of "USER:PASSWORD"), and
    the base64 / base64url forms of each of these."""
    plain = set()
    for s in secrets:
        if not s:
            continue
        plain.add(s)
        try:
            decoded = base64.b64decode(s, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        if ":" in decoded and decoded.isprintable():
            password = decoded.split(":", 1)[1]
            if len(password) >= 8:
                plain.add(password)
    out = {}
    for s in plain:
        out[s] = f"a secret ({s[:4]}...)"
        for f in base64_forms(s):
            out.setdefault(f, f"the base64 form of a secret ({s[:4]}...)")
    return out


def assert_no_secrets(secrets, *texts, state_dir=None):
    """None of `secrets` (non-empty strings) appears in the texts nor in any file of state_dir:
    neither as is nor base64- or base64url-encoded (secret_variants)."""
    blobs = [("output", t) for t in texts if t]
    if state_dir and os.path.isdir(state_dir):
        for root, _, files in os.walk(state_dir):
            for fn in files:
                p = os.path.join(root, fn)
                try:
                    with open(p, errors="replace") as f:
                        blobs.append((p, f.read()))
                except OSError:
                    pass
    for needle, what in secret_variants(secrets).items():
        for where, text in blobs:
            assert needle not in text, f"{what} appears in {where}"
