"""Issue 2: the same basic stack through Podman's Docker-compatible socket (Debian's podman 4.3,
`podman system service`). Host networking: Podman's bridge networks were not verified on these
machines. Podman runs health checks from systemd timers, which a machine without systemd as
PID 1 does not have, so this stack orders by service_started and checks with an agent-side
probe instead."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import berth_testlib as lib

pytestmark = pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")


@pytest.fixture
def podman(tmp_path):
    conf = tmp_path / "containers.conf"
    # The hard nofile limit here is 20000: podman's default ulimits would not start containers.
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    sock = f"/tmp/berth-podman-{os.getpid()}-{int(time.time())}.sock"
    log = open(tmp_path / "podman.log", "w")
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    lib.wait_for(lambda: os.path.exists(sock), timeout=30, what="podman socket")
    # The busybox root fs, imported into podman's own store.
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(lib._rootfs_tar())
    image = "localhost/t-pod/busybox:1"
    subprocess.run(["podman", "import", "-q", "--change",
                    'CMD ["/bin/sh", "-c", "trap \'exit 0\' TERM; while true; do sleep 1; done"]',
                    str(tar), image], env=env, check=True, capture_output=True, timeout=120)
    yield {"env": env, "host": f"unix://{sock}", "image": image}
    subprocess.run(["podman", "rm", "-f", "-a"], env=env, capture_output=True, timeout=60)
    subprocess.run(["podman", "rmi", "-f", image], env=env, capture_output=True, timeout=60)
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
    if os.path.exists(sock):
        os.unlink(sock)


def test_basic_stack_on_podman(podman, tmp_path):
    project = lib.unique_project("t-pod")
    port = lib.free_port()
    b = lib.Berth(str(tmp_path), project)
    b.write(f'''
[agent]
project = "{project}"

[services.web]
image = "{podman["image"]}"
network_mode = "host"
command = ["/bin/sh", "-c", "trap 'exit 0' TERM; httpd -f -p {port} -h /www & wait"]
probe = {{ http = "http://127.0.0.1:{port}/", interval = "200ms", retries = 10 }}
pull_policy = "never"

[services.worker]
image = "{podman["image"]}"
network_mode = "host"
depends_on = {{ web = "service_started" }}
pull_policy = "never"
''')
    env = dict(podman["env"], DOCKER_HOST=podman["host"])
    r = b.up(env=env)
    assert f"container {project}-web-1 healthy" in r.stdout
    ps = subprocess.run(["podman", "ps", "--format", "{{.Names}} {{.Status}}"], env=podman["env"],
                        capture_output=True, text=True, check=True).stdout
    assert f"{project}-web-1" in ps and f"{project}-worker-1" in ps

    r2 = b.up(env=env)
    assert "nothing to do" in r2.stdout

    r3 = b.run("down", env=env, check=0)
    assert "2 containers removed" in r3.stdout
    ps = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], env=podman["env"],
                        capture_output=True, text=True, check=True).stdout
    assert project not in ps
