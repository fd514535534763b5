"""Issue 6 (download, then swap): an image that does not fit in the Docker data root is refused
before anything is pulled or stopped. A second dockerd runs on a 64 MiB tmpfs data root (own
exec root, pid file and socket, no bridge, no iptables); berth is pointed at it with DOCKER_HOST.
Skipped with the reason when a tmpfs cannot be mounted or a second dockerd cannot run here."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import berth_testlib as lib
import registry

HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "10s", retries = 3, '
         'start_period = "30s" }')
DATA_ROOT_MIB = 64
BIG_MIB = 40  # compressed size ~= 40 MiB (random data): 3x that is needed, 64 MiB exist


class SmallDockerd:
    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="t-safe-dd-")
        self.root = os.path.join(self.base, "root")
        self.exec_root = os.path.join(self.base, "exec")
        self.sock = os.path.join(self.base, "docker.sock")
        self.pidfile = os.path.join(self.base, "docker.pid")
        self.proc = None
        self.mounted = False

    @property
    def host(self):
        return "unix://" + self.sock

    def docker(self, *args, check=True):
        r = subprocess.run(["docker", "-H", self.host, *args], capture_output=True, text=True,
                           timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {r.stderr}")
        return r.stdout.strip()

    def start(self):
        """Returns None when running, else why it cannot run here."""
        os.makedirs(self.root)
        os.makedirs(self.exec_root)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DATA_ROOT_MIB}m", "tmpfs",
                            self.root], capture_output=True, text=True)
        if r.returncode != 0:
            return f"cannot mount a tmpfs data root: {r.stderr.strip()}"
        self.mounted = True
        self.log = open(os.path.join(self.base, "dockerd.log"), "w")
        try:
            self.proc = subprocess.Popen(
                ["dockerd", "--data-root", self.root, "--exec-root", self.exec_root,
                 "--pidfile", self.pidfile, "-H", self.host, "--bridge=none",
                 "--iptables=false", "--ip6tables=false"],
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except OSError as e:
            return f"cannot start dockerd: {e}"
        deadline = time.time() + 40
        while time.time() < deadline:
            if self.proc.poll() is not None:
                with open(os.path.join(self.base, "dockerd.log")) as f:
                    return "a second dockerd exited at start: " + f.read()[-500:]
            if subprocess.run(["docker", "-H", self.host, "version"], capture_output=True,
                              timeout=10).returncode == 0:
                return None
            time.sleep(0.3)
        return "a second dockerd did not answer within 40 s"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.mounted:
            if subprocess.run(["umount", self.root], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", self.root], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def small():
    d = SmallDockerd()
    why = d.start()
    if why:
        d.stop()
        pytest.skip(why)
    yield d
    d.stop()


@pytest.fixture(scope="module")
def reg():
    r = registry.Registry(auth=False).start()
    yield r
    lib.remove_images_of(r.addr)
    r.stop()


def free_mib(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / (1 << 20)


def test_image_too_big_for_the_data_root_is_refused(small, reg, tmp_path):
    project = lib.unique_project("t-safe")
    berth = lib.Berth(str(tmp_path), project)
    env = {"DOCKER_HOST": small.host}
    rp = f"t-safe-big-{project[-8:]}/app"
    lib.push_busybox(reg.addr, rp, "latest", version="small-1")
    berth.write(f'''[agent]
project = "{project}"

[services.app]
image = "{reg.addr}/{rp}:latest"
command = {HTTPD}
healthcheck = {CHECK}
''')
    try:
        berth.up(env=env)
        cs = json.loads(small.docker("inspect", f"{project}-app-1"))
        old_id = cs[0]["Id"]
        images_before = small.docker("images", "-q", "--no-trunc")

        # A new latest with an incompressible 40 MiB layer: it cannot fit.
        lib.push_busybox(reg.addr, rp, "latest", version="big-2",
                         extra_files={"big.bin": os.urandom(BIG_MIB << 20)})
        free_before = free_mib(small.root)
        r = berth.up(env=env, check=None)
        print(f"\nfree in the data root: {free_before:.1f} MiB\n{r.stdout}{r.stderr}")
        assert r.returncode == 1
        assert "not enough space" in r.stderr and f"{reg.addr}/{rp}:latest" in r.stderr
        assert "nothing was changed" in r.stderr
        cs = json.loads(small.docker("inspect", f"{project}-app-1"))
        assert cs[0]["Id"] == old_id and cs[0]["State"]["Status"] == "running"
        assert small.docker("images", "-q", "--no-trunc") == images_before  # nothing pulled
        names = small.docker("ps", "-a", "--format", "{{.Names}}").split()
        assert names == [f"{project}-app-1"]
    finally:
        berth.run("down", env=env)
