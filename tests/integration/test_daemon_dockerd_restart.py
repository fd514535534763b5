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
import time

import berth_testlib as lib
from daemon_fixture import Daemon
from private_dockerd import dockerd  # noqa: F401  (the fixture)

HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "5s", retries = 3, start_period = "30s" }')


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
