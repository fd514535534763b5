"""Plumbing of the boot test: the berth .deb, a Debian 12 root with systemd, an image with the
package installed, and a "server" (a container booting systemd) that talks to the host's Docker.

    deb = build_deb()                              # $BERTH_BUILD_DIR/packaging-test, prefix /usr
    base = rootfs_image(deb_depends(deb))          # cached in $BERTH_BUILD_DIR/e2e-cache/
    image = guest_image(base, deb, "t-e2e-guest-1234")
    g = Guest(image, "t-e2e-guest-1234")
    g.create({"/etc/berth/berth.toml": (text, 0o644)}); g.start(); g.wait_booted()
    g.sh("systemctl is-active berth")
    g.remove()

The guest runs with the flags measured to boot systemd under Docker 20.10 with cgroup v1
(--privileged does not work here): CAP_SYS_ADMIN, no seccomp filter or AppArmor profile (systemd installs its own
for the units' SystemCallFilter=), the host's cgroup namespace and /sys/fs/cgroup read-write,
/run and /run/lock as tmpfs. --network host lets berth reach the fakes on 127.0.0.1; the host's
/var/run/docker.sock is mounted at /run/docker.sock (the guest's own Docker is masked).
"""
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SRC = Path(os.environ.get("BERTH_SOURCE_DIR", HERE.parents[1]))
BUILD = Path(os.environ.get("BERTH_BUILD_DIR", SRC / "build"))
CACHE = BUILD / "e2e-cache"
HOST_DOCKER_SOCK = "/var/run/docker.sock"

BOOT_FLAGS = [
    "--cap-add", "SYS_ADMIN",
    "--security-opt", "seccomp=unconfined",
    # Hosts with AppArmor (Ubuntu CI runners): docker-default forbids the mounts systemd makes
    # for the units' sandboxing. Accepted (and moot) where AppArmor is off.
    "--security-opt", "apparmor=unconfined",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
    "--stop-timeout", "60",
    "--network", "host",
    "-v", f"{HOST_DOCKER_SOCK}:/run/docker.sock",
    "-e", "container=docker",
]


@contextlib.contextmanager
def phase(what):
    """Prints how long a step took (pytest shows it with -s, and on failure)."""
    t = time.monotonic()
    try:
        yield
    finally:
        print(f"e2e: {what}: {time.monotonic() - t:.1f} s", file=sys.stderr, flush=True)


def run(*cmd, cwd=None, check=True, timeout=600, input=None, env=None):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, input=input, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n"
                             f"{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def skip_requested():
    return os.environ.get("BERTH_E2E_SKIP") == "1"


# ---- the package -----------------------------------------------------------------------------
def build_deb():
    """The .deb: from the main build when it is configured for /usr without sanitizers (what
    scripts/test does), else from its own /usr build (the directory test_packaging.py uses)."""
    cache = (BUILD / "CMakeCache.txt").read_text() if (BUILD / "CMakeCache.txt").exists() else ""
    if "CMAKE_INSTALL_PREFIX:PATH=/usr\n" in cache and "BERTH_SANITIZE:BOOL=ON" not in cache \
            and "BERTH_TSAN:BOOL=ON" not in cache:
        pkg_build = BUILD
    else:
        pkg_build = BUILD / "packaging-test"
        run("cmake", "-S", SRC, "-B", pkg_build, "-DCMAKE_INSTALL_PREFIX=/usr",
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DBERTH_TESTS=OFF")
    run("cmake", "--build", pkg_build, "-j2", "--target", "berth", timeout=1500)
    for old in pkg_build.glob("berth_*.deb"):
        old.unlink()
    run("cpack", "-G", "DEB", cwd=pkg_build)
    debs = list(pkg_build.glob("berth_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def _providers():
    """{virtual package: the installed package providing it}, from the host's dpkg database
    (the host built the .deb against its own packages: same distribution as the guest)."""
    out = run("dpkg-query", "-W", "-f", "${Package}\t${Provides}\n", check=False).stdout
    providers = {}
    for line in out.splitlines():
        pkg, _, provides = line.partition("\t")
        for p in provides.split(","):
            name = p.strip().split(" ")[0]
            if name:
                providers.setdefault(name, pkg)
    return providers


def deb_depends(deb):
    """Package names of the .deb's Depends (the first of each alternative), for debootstrap."""
    depends = run("dpkg-deb", "-f", deb, "Depends").stdout.strip()
    # debootstrap --include takes real packages only: a virtual one (libspdlog1.10-fmt9 is
    # provided by libspdlog1.10) becomes its provider.
    installed = set(run("dpkg-query", "-W", "-f", "${Package}\n", check=False).stdout.split())
    providers = _providers()
    names = []
    for clause in depends.split(","):
        first = clause.split("|")[0].strip()
        name = re.split(r"[\s(:]", first, maxsplit=1)[0]
        if name:
            names.append(name if name in installed else providers.get(name, name))
    return sorted(set(names))


# ---- the root file system --------------------------------------------------------------------
def rootfs_image(packages):
    """The cached Debian 12 image with systemd and `packages` (built on first use, ~1-2 min)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    p = run(HERE / "build_rootfs.sh", CACHE, *packages, check=False, timeout=1200)
    if p.returncode != 0:
        why = "cannot reach a Debian mirror" if p.returncode == 3 else "building the root failed"
        pytest.fail(f"e2e: {why} (build_rootfs.sh exit {p.returncode}; set BERTH_E2E_SKIP=1 to "
                    f"skip the boot test on machines without a mirror):\n{p.stderr[-4000:]}",
                    pytrace=False)
    return p.stdout.strip().splitlines()[-1]


DOCKERFILE = r"""FROM @BASE@
ARG DOCKER_GID
COPY berth.deb /tmp/berth.deb
# The host's /var/run/docker.sock is mounted into this guest: its group must be the guest's
# "docker" group (berth.service: SupplementaryGroups=docker). On a real host Docker creates the
# socket with the local docker group; here the socket belongs to the HOST's group, so the
# guest's docker group takes the host's gid (a guest group already using that gid moves away).
# A socket owned by gid 0 (root): berth gets the root group instead.
RUN set -eu; \
    want="$DOCKER_GID"; cur=$(getent group docker | cut -d: -f3); \
    if [ "$want" != 0 ] && [ "$cur" != "$want" ]; then \
      other=$(getent group "$want" | cut -d: -f1 || true); \
      if [ -n "$other" ]; then \
        free=$(for g in $(seq 900 997); do getent group "$g" >/dev/null || { echo "$g"; break; }; done); \
        groupmod -g "$free" "$other"; \
        find / -xdev -gid "$want" -exec chgrp -h "$free" {} + ; \
      fi; \
      groupmod -g "$want" docker; \
      find / -xdev -gid "$cur" -exec chgrp -h "$want" {} + ; \
    fi; \
    dpkg -i /tmp/berth.deb; rm /tmp/berth.deb; \
    if [ "$want" = 0 ]; then usermod -a -G root berth; fi
# systemd makes / shared on a real host, but not when it runs in a container: it expects the
# container manager to have done it. Docker leaves the mounts private, and then systemd 252
# cannot pass credentials (LoadCredential=/SetCredential=) into the units' mount namespaces:
# $CREDENTIALS_DIRECTORY comes up empty and unreadable.
CMD ["/bin/sh", "-c", "mount --make-rshared / && exec /lib/systemd/systemd"]
STOPSIGNAL SIGRTMIN+3
"""


def guest_image(base, deb, tag):
    """`base` with the .deb installed (dpkg -i, as an image build does: no running systemd)."""
    gid = os.stat(HOST_DOCKER_SOCK).st_gid
    with tempfile.TemporaryDirectory(prefix="t-e2e-ctx-") as ctx:
        shutil.copy(deb, os.path.join(ctx, "berth.deb"))
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE.replace("@BASE@", base))
        env = dict(os.environ, DOCKER_BUILDKIT="0")
        run("docker", "build", "-q", "--network", "host", "--build-arg", f"DOCKER_GID={gid}", "-t", tag, ctx,
            env=env, timeout=600)
    return tag


# ---- the booted server -----------------------------------------------------------------------
def _tar(files):
    """{guest path: (content, mode)} as a tar stream rooted at /."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs = set()
        for path in files:
            parent = os.path.dirname(path.lstrip("/"))
            while parent and parent not in dirs:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        for d in sorted(dirs):
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            tar.addfile(ti)
        for path, (content, mode) in files.items():
            data = content.encode() if isinstance(content, str) else content
            ti = tarfile.TarInfo(path.lstrip("/"))
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = int(time.time())
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class Guest:
    def __init__(self, image, name):
        self.image = image
        self.name = name

    def create(self, files=None):
        run("docker", "create", "--name", self.name, "--hostname", self.name, *BOOT_FLAGS,
            self.image)
        if files:
            self.put(files)

    def put(self, files):
        """Write files into the guest (running or not) through `docker cp -` (owner root)."""
        p = subprocess.run(["docker", "cp", "-", f"{self.name}:/"], input=_tar(files),
                           capture_output=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("docker cp into the guest failed: " + p.stderr.decode())

    def start(self):
        run("docker", "start", self.name)

    def stop(self, timeout=60):
        run("docker", "stop", "-t", str(timeout), self.name, timeout=timeout + 30)

    def remove(self):
        run("docker", "rm", "-f", self.name, check=False, timeout=120)

    def exec(self, *cmd, check=True, timeout=60, input=None):
        flags = ["-i"] if input is not None else []
        return run("docker", "exec", *flags, self.name, *cmd, check=check, timeout=timeout,
                   input=input)

    def sh(self, script, check=True, timeout=60, input=None):
        return self.exec("sh", "-c", script, check=check, timeout=timeout, input=input)

    def running(self):
        p = run("docker", "inspect", "-f", "{{.State.Running}}", self.name, check=False)
        return p.stdout.strip() == "true"

    def wait_booted(self, timeout=90):
        """Wait until systemd has finished starting up; returns is-system-running's answer
        ("running" or "degraded")."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError(f"guest {self.name} exited during boot:\n" + self.logs())
            p = self.exec("systemctl", "is-system-running", check=False, timeout=30)
            state = p.stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.5)
        raise AssertionError(f"guest {self.name} did not finish booting in {timeout}s "
                             f"(is-system-running: {state!r}); jobs:\n"
                             + self.exec("systemctl", "list-jobs", check=False).stdout)

    def started_at(self):
        """When the server last booted (the kernel's boot_id is the host's, so not that)."""
        return run("docker", "inspect", "-f", "{{.State.StartedAt}}", self.name).stdout.strip()

    def logs(self):
        return run("docker", "logs", "--tail", "80", self.name, check=False).stdout

    def diagnostics(self):
        """What to print when an assertion fails: berth's status and journal, failed units."""
        if not self.running():
            return "guest not running:\n" + self.logs()
        out = []
        for cmd in ("systemctl status berth --no-pager -l",
                    "systemctl --failed --no-pager --no-legend",
                    "journalctl -u berth -b --no-pager -n 120"):
            p = self.sh(cmd + " 2>&1", check=False, timeout=30)
            out.append(f"$ {cmd}\n{p.stdout}")
        return "\n".join(out)
