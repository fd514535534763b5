"""Issue 6 (download, then swap): an image that does not fit in the Docker data root is refused
before anything is pulled or stopped. A second dockerd runs on a 64 MiB tmpfs data root (own
exec root, pid file and socket, no bridge, no iptables); berth is pointed at it with DOCKER_HOST.
A private dockerd that does not come up fails the test with its log (never a skip)."""
import json
import os

import pytest

import berth_testlib as lib
import registry
from private_dockerd import PrivateDockerd

HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "10s", retries = 3, '
         'start_period = "30s" }')
DATA_ROOT_MIB = 64
BIG_MIB = 40  # compressed size ~= 40 MiB (random data): 3x that is needed, 64 MiB exist


@pytest.fixture(scope="module")
def small():
    d = PrivateDockerd(prefix="t-safe-dd-", tmpfs_mib=DATA_ROOT_MIB)
    d.require_started()
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
