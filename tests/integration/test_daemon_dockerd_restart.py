"""Issue 4: dockerd restarted under a running `berth run`. While dockerd is gone berth says
"waiting for docker" (STATUS=) and D-Bus State is "failed"; when it is back berth reconnects,
re-lists and converges again: every service running and healthy, nothing duplicated, nothing
left over, and the daemon never exits.

The shared dockerd is never touched: the test starts its OWN dockerd (own socket, data root,
exec root and pid file; no bridge, no iptables), loads the test image into it and points berth
at it with DOCKER_HOST. Three kill -9 / restart cycles, each with a different disturbance:
  1. nothing else: the containers come back under Docker's restart policy, berth keeps them;
  2. a container removed (`docker rm -f`) before dockerd dies: berth recreates it;
  3. a container stopped (`docker stop`) before dockerd dies: Docker does not restart it on
     its own (unless-stopped), berth does.
Skipped with the reason when a second dockerd cannot run here."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import berth_testlib as lib
from daemon_fixture import Daemon

HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "5s", retries = 3, start_period = "30s" }')


class PrivateDockerd:
    """A dockerd of the test's own, on a socket, data root and exec root under one temp dir."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="t-daemonrep-dd-")
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

    def log_tail(self, n=1500):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def start(self, timeout=60):
        """Returns None when it answers, else why it cannot run here."""
        self.starts += 1
        log = open(self.log_path, "a")
        try:
            self.proc = subprocess.Popen(
                ["dockerd", "--data-root", self.root, "--exec-root", self.exec_root,
                 "--pidfile", self.pidfile, "-H", self.host, "--bridge=none",
                 "--iptables=false", "--ip6tables=false"],
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
        return f"a private dockerd did not answer within {timeout} s"

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
    why = d.start()
    if why:
        d.stop()
        pytest.skip(why)
    try:
        # The offline test image, moved over from the shared dockerd (nothing is pulled).
        save = subprocess.Popen(["docker", "save", base_image], stdout=subprocess.PIPE)
        d.docker("load", stdin=save.stdout)
        save.stdout.close()
        assert save.wait(60) == 0
        yield d
    finally:
        d.stop()


def config(project, image):
    return f'''
[agent]
project = "{project}"

[services.db]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
pull_policy = "never"

[services.api]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
depends_on = {{ db = "service_healthy" }}
pull_policy = "never"
'''


def status_texts(daemon, start):
    return [m for m in daemon.notify.texts()[start:] if m.startswith("STATUS=")]


def wait_status(daemon, pred, start, what, timeout=60):
    def found():
        for i, m in enumerate(daemon.notify.texts()[start:]):
            for line in m.split("\n"):
                if line.startswith("STATUS=") and pred(line[len("STATUS="):]):
                    return start + i + 1
        return None
    try:
        return lib.wait_for(found, timeout=timeout, what=what)
    except AssertionError:
        raise AssertionError(f"{what}; STATUS seen: {status_texts(daemon, start)[-10:]}\n"
                             f"berth:\n{daemon.output()[-3000:]}")


def assert_converged(dockerd, project, daemon):
    """Exactly the two service containers, running and healthy, nothing else."""
    names = {f"{project}-db-1", f"{project}-api-1"}

    def ok():
        cs = dockerd.containers()
        return (set(cs) == names and
                all(c["State"]["Status"] == "running" and
                    c["State"].get("Health", {}).get("Status") == "healthy" for c in cs.values()))
    try:
        lib.wait_for(ok, timeout=60, interval=0.3, what="the stack converged again")
    except AssertionError:
        cs = dockerd.containers()
        raise AssertionError(
            "not converged: " +
            str({n: (c["State"]["Status"], c["State"].get("Health", {}).get("Status"))
                 for n, c in cs.items()}) + f"\nberth:\n{daemon.output()[-3000:]}")
    cs = dockerd.containers()
    for c in cs.values():
        assert c["Config"]["Labels"].get("com.docker.compose.project") == project
    return {n: c["Id"] for n, c in cs.items()}


# CI runs 3 cycles; BERTH_DOCKERD_CYCLES=20 is the 20-cycle trial (about 2 minutes).
CYCLES = int(os.environ.get("BERTH_DOCKERD_CYCLES", "3"))


def test_dockerd_killed_and_restarted_three_times(dockerd, base_image, tmp_path):
    project = lib.unique_project("t-daemonrep")
    berth = lib.Berth(str(tmp_path), project)
    berth.write(config(project, base_image))
    # No IMDS lookups: tests talk to 127.0.0.0/8 only.
    d = Daemon(berth, str(tmp_path),
               env={"DOCKER_HOST": dockerd.host, "AWS_EC2_METADATA_DISABLED": "true"})
    db, api = f"{project}-db-1", f"{project}-api-1"
    try:
        t0 = time.time()
        d.start()
        d.notify.wait_for("READY=1", timeout=90)
        ids = assert_converged(dockerd, project, d)
        print(f"\nfirst converge: {time.time() - t0:.1f} s")

        for n_cycle in range(1, CYCLES + 1):
            cycle = (n_cycle - 1) % 3 + 1  # the three disturbances in turn
            if cycle == 2:
                n = len(d.notify.texts())
                dockerd.docker("rm", "-f", api)
                wait_status(d, lambda s: "api: missing" in s, n, "berth saw api removed")
            if cycle == 3:
                dockerd.docker("stop", "-t", "5", db)
                assert dockerd.containers()[db]["State"]["Status"] == "exited"
            n = len(d.notify.texts())
            t = time.time()
            dockerd.kill9()
            wait_status(d, lambda s: s.startswith("waiting for docker"), n,
                        f"cycle {n_cycle}: STATUS says waiting for docker", timeout=30)
            assert d.proc.poll() is None, d.output()[-3000:]
            # D-Bus still answers while Docker is away, and says the stack is not fine.
            lib.wait_for(lambda: d.bus.busctl(
                "get-property", "org.berth.Agent1", "/org/berth/Agent1", "org.berth.Agent1",
                "State", check=False).stdout.strip() == 's "failed"', timeout=10,
                what="D-Bus State failed while dockerd is down")
            n = len(d.notify.texts())
            why = dockerd.start()
            assert why is None, why
            wait_status(d, lambda s: s == "2/2 services healthy", n,
                        f"cycle {n_cycle}: STATUS says 2/2 services healthy again", timeout=90)
            after = assert_converged(dockerd, project, d)
            print(f"cycle {n_cycle}: converged again {time.time() - t:.1f} s after kill -9")
            if cycle == 1:
                assert after == ids  # the same containers started again, none recreated
            elif cycle == 2:
                assert after[db] == ids[db] and after[api] != ids[api]  # api recreated
            else:
                assert after == ids  # db started again, not recreated
            ids = after
            assert d.proc.poll() is None

        out = d.output()
        assert out.count("docker is back: converging again") >= CYCLES, out[-3000:]
        st = d.cli("status", "--json", check=0)
        doc = json.loads(st.stdout)
        assert {s["name"]: s["state"] for s in doc["services"]} == {"api": "running",
                                                                     "db": "running"}
        assert d.stop() == 0
        assert set(dockerd.containers()) == {db, api}  # SIGTERM leaves the stack running
    finally:
        d.close()
        ids = dockerd.docker("ps", "-aq", check=False).split()
        if ids:
            dockerd.docker("rm", "-f", *ids, check=False)
