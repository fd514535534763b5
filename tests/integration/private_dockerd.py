"""A dockerd of the test's own (own socket, data root, exec root and pid file; no bridge, no
iptables), for tests that kill -9 dockerd: the shared dockerd is never touched. The `dockerd`
fixture starts one per test module, loads the offline test image into it and always stops it.
A dockerd that does not come up within a generous bound fails the test with its log: never a
skip (tests/README.md)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import berth_testlib as lib


# Networks of a private dockerd come from a range of their own: left to the defaults they take
# the shared dockerd's pools (172.17-31/16, 192.168/20), and bridges left by a killed one make
# the shared dockerd answer "could not find an available, non-overlapping IPv4 address pool".
ADDRESS_POOL = "base=10.213.0.0/16,size=24"


class PrivateDockerd:
    """A dockerd of the test's own, on a socket, data root and exec root under one temp dir.
    tmpfs_mib: the data root is a tmpfs of that size (a small disk)."""

    def __init__(self, prefix="t-daemonrep-dd-", tmpfs_mib=None):
        self.base = tempfile.mkdtemp(prefix=prefix)
        self.tmpfs_mib = tmpfs_mib
        self.root = os.path.join(self.base, "root")
        self.exec_root = os.path.join(self.base, "exec")
        self.sock = os.path.join(self.base, "docker.sock")
        self.pidfile = os.path.join(self.base, "docker.pid")
        self.log_path = os.path.join(self.base, "dockerd.log")
        self.proc = None
        self.starts = 0
        os.makedirs(self.root)
        os.makedirs(self.exec_root)

    @property
    def host(self):
        return "unix://" + self.sock

    def docker(self, *args, check=True, **kw):
        r = subprocess.run(["docker", "-H", self.host, *args], capture_output=True, text=True,
                           timeout=120, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {r.stderr}")
        return r.stdout.strip()

    def require_started(self):
        """start(), failing the test (with the dockerd log) when it does not come up."""
        why = self.start()
        if why:
            self.stop()
            pytest.fail(f"private dockerd ({self.base}) did not start: {why}", pytrace=False)

    def log_tail(self, n=1500):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def start(self, timeout=180):
        """Returns None when it answers, else why it did not (with the end of its log). The
        bound only catches a dockerd that never comes up: a loaded machine needs a while."""
        self.starts += 1
        if self.tmpfs_mib and self.starts == 1:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.tmpfs_mib}m", "tmpfs",
                                self.root], capture_output=True, text=True)
            if r.returncode != 0:
                return f"cannot mount a tmpfs data root: {r.stderr.strip()}"
        log = open(self.log_path, "a")
        try:
            self.proc = subprocess.Popen(
                ["dockerd", "--data-root", self.root, "--exec-root", self.exec_root,
                 "--pidfile", self.pidfile, "-H", self.host, "--bridge=none",
                 "--default-address-pool", ADDRESS_POOL, "--iptables=false",
                 "--ip6tables=false"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except OSError as e:
            return f"cannot start dockerd: {e}"
        finally:
            log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return "a private dockerd exited at start: " + self.log_tail(500)
            if subprocess.run(["docker", "-H", self.host, "version"], capture_output=True,
                              timeout=30).returncode == 0:
                return None
            time.sleep(0.2)
        return (f"a private dockerd did not answer within {timeout} s; its log:\n"
                + self.log_tail(4000))

    def _containerd_pid(self):
        try:
            with open(os.path.join(self.exec_root, "containerd", "containerd.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def kill9(self):
        """kill -9 dockerd. Its containerd dies with it (parent-death signal); the containers'
        shims live on, as on a real host."""
        cpid = self._containerd_pid()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        if cpid is None:
            return
        # The dead containerd stays a zombie until this sandbox's init reaps it, and a restarted
        # dockerd would take the zombie for a running containerd and time out waiting for it.
        # systemd reaps at once; here the stale pid file goes once the process is dead.
        def dead():
            try:
                with open(f"/proc/{cpid}/stat") as f:
                    return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
            except OSError:
                return True
        lib.wait_for(dead, timeout=20, what="containerd to die with dockerd")
        try:
            os.unlink(os.path.join(self.exec_root, "containerd", "containerd.pid"))
        except OSError:
            pass

    def containers(self):
        """{name: inspect dict} of every container this dockerd has."""
        ids = self.docker("ps", "-aq").split()
        if not ids:
            return {}
        out = self.docker("inspect", *ids, check=False)
        return {c["Name"].lstrip("/"): c for c in json.loads(out or "[]")}

    def _own_processes(self):
        """Processes of this dockerd's world still alive: containerd, shims (by their paths)."""
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if self.base.encode() in f.read():
                        out.append(int(pid))
            except OSError:
                pass
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            ids = self.docker("ps", "-aq", check=False).split()
            if ids:  # everything in this dockerd is the test's own
                self.docker("rm", "-f", *ids, check=False)
            # Its networks' bridges live in the host's namespace and outlive the data root.
            self.docker("network", "prune", "-f", check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        # Whatever is left after a failure (a dockerd that did not come back): the shims with
        # their containers' processes, and containerd. All started by this test, killed by pid.
        for pid in self._own_processes():
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except OSError:
                children = []
            for c in children + [pid]:
                try:
                    os.kill(c, signal.SIGKILL)
                except OSError:
                    pass
        # Mounts left by a dockerd that did not shut down cleanly (its data root's bind mount).
        for _ in range(10):
            with open("/proc/self/mounts") as f:
                mounts = [line.split()[1] for line in f if self.base in line.split()[1]]
            if not mounts:
                break
            for m in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def dockerd(base_image):
    d = PrivateDockerd()
    d.require_started()
    try:
        # The offline test image, moved over from the shared dockerd (nothing is pulled).
        save = subprocess.Popen(["docker", "save", base_image], stdout=subprocess.PIPE)
        d.docker("load", stdin=save.stdout)
        save.stdout.close()
        assert save.wait(60) == 0
        yield d
    finally:
        d.stop()
