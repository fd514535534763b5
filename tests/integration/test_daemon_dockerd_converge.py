"""Issue 9: dockerd killed (-9) and restarted WHILE `berth run` converges. The sibling
test_daemon_dockerd_restart.py covers an idle berth; here every kill lands in the middle of a
converge, at a point picked from the private dockerd's own event stream (the kill is sent the
moment the event arrives):

  start    berth starts from nothing: killed right after the first container is created;
  fresh    all containers removed, then a reload: killed when the second one is created;
  reload   a new configuration (every service's environment changes, so all three are
           recreated; db and worker are stop-first, api is start-first), killed at:
             - the first -next container created (stop-first db),
             - db's old container renamed to -prev (mid-swap),
             - db's new container started (during its health wait),
             - api's -next started (start-first, both api containers running),
             - api's -next healthy (start-first, before the old one goes),
             - worker's old container stopped (stop-first, nothing runs worker),
             - the first old container removed (end of the swap).

After each kill, once berth says "waiting for docker" (the interrupted converge is over),
dockerd is started again and berth must end converged with no help: exactly
one container per service under its own name, running, healthy, with the current
configuration (environment and config-hash label, image), no -next/-prev leftovers, nothing else
in that dockerd (no duplicate, no orphan, nothing unlabelled), STATUS "3/3 services healthy",
D-Bus State "healthy", and `berth up --dry-run` finds nothing to do. The daemon never exits.

CI runs the start and the first 3 kill points; BERTH_DOCKERD_CONVERGE_CYCLES=20 runs twenty,
going round the list (the issue's 20-cycle trial). Skipped with the reason when a second dockerd
cannot run here."""
import json
import os
import signal
import subprocess
import threading
import time

import berth_testlib as lib
from daemon_fixture import Daemon
from private_dockerd import dockerd  # noqa: F401  (the fixture)

HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "5s", retries = 3, start_period = "30s" }')
SERVICES = ("db", "api", "worker")
BUS = ("org.berth.Agent1", "/org/berth/Agent1", "org.berth.Agent1")


def config(project, image, gen):
    return f'''
[agent]
project = "{project}"

[services.db]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
pull_policy = "never"
environment = {{ GEN = "{gen}" }}

[services.api]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
depends_on = {{ db = "service_healthy" }}
pull_policy = "never"
update_strategy = "start-first"
environment = {{ GEN = "{gen}" }}

[services.worker]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
pull_policy = "never"
environment = {{ GEN = "{gen}" }}
'''


def name_of(ev):
    return ev.get("Actor", {}).get("Attributes", {}).get("name", "")


def service_of(ev):
    return ev.get("Actor", {}).get("Attributes", {}).get("com.docker.compose.service", "")


# (label, trigger, predicate(event, project, seen) -> kill now). `seen` counts matches.
def nth(n, pred):
    def p(ev, project, seen):
        if pred(ev, project):
            seen[0] += 1
            return seen[0] == n
        return False
    return p


POINTS = [
    ("reload: api -next started (start-first)", "reload",
     nth(1, lambda ev, p: ev["Action"] == "start" and name_of(ev) == f"{p}-api-1-next")),
    ("reload: db old renamed to -prev", "reload",
     nth(1, lambda ev, p: ev["Action"] == "rename" and name_of(ev) == f"{p}-db-1-prev")),
    ("reload: db new container started, health wait", "reload",
     nth(1, lambda ev, p: ev["Action"] == "start" and name_of(ev) == f"{p}-db-1")),
    ("fresh: after the 2nd create", "fresh",
     nth(2, lambda ev, p: ev["Action"] == "create")),
    ("reload: stop-first db -next created", "reload",
     nth(1, lambda ev, p: ev["Action"] == "create" and name_of(ev) == f"{p}-db-1-next")),
    ("reload: api -next healthy (start-first)", "reload",
     nth(1, lambda ev, p: ev["Action"].startswith("health_status: healthy") and
         name_of(ev) == f"{p}-api-1-next")),
    ("reload: worker old stopped (stop-first)", "reload",
     nth(1, lambda ev, p: ev["Action"] == "die" and name_of(ev) == f"{p}-worker-1")),
    ("reload: first old container removed", "reload",
     nth(1, lambda ev, p: ev["Action"] == "destroy")),
]
CYCLES = int(os.environ.get("BERTH_DOCKERD_CONVERGE_CYCLES", "3"))


class KillOnEvent:
    """Follows the private dockerd's container events (from `since`, so nothing is missed
    between starting it and the trigger) and kill -9s dockerd on the first event the predicate
    takes."""

    def __init__(self, dockerd, project, pred, since):
        self.dockerd, self.project, self.pred = dockerd, project, pred
        self.seen = [0]
        self.since_ns = int(since * 1e9)
        self.events = []
        self.killed = threading.Event()
        self.proc = subprocess.Popen(
            ["docker", "-H", dockerd.host, "events", "--since", f"{since:.3f}",
             "--filter", "type=container", "--format", "{{json .}}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            self.events.append((ev["Action"], name_of(ev)))
            if ev.get("timeNano", 0) < self.since_ns:
                continue  # (the end of the previous cycle)
            if not self.killed.is_set() and self.pred(ev, self.project, self.seen):
                self.dockerd.kill9()
                self.killed.set()
                return

    def wait(self, timeout):
        ok = self.killed.wait(timeout)
        self.close()
        return ok

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def wait_status(daemon, text, start, what, timeout=90, prefix=False):
    def found():
        for m in daemon.notify.texts()[start:]:
            for line in m.split("\n"):
                if line == f"STATUS={text}" or (prefix and line.startswith(f"STATUS={text}")):
                    return True
        return False
    try:
        lib.wait_for(found, timeout=timeout, what=what)
    except AssertionError:
        seen = [m for m in daemon.notify.texts()[start:] if m.startswith("STATUS=")]
        raise AssertionError(f"{what}; STATUS seen: {seen[-10:]}\n"
                             f"berth:\n{daemon.output()[-4000:]}")


def dry_run(daemon):
    return daemon.cli("up", "--dry-run", "--config", daemon.berth.config, "--state-dir",
                      daemon.berth.state, check=None)


def assert_converged(dockerd, project, image_id, gen, daemon):
    names = {f"{project}-{s}-1" for s in SERVICES}

    def ok():
        cs = dockerd.containers()
        return (set(cs) == names and
                all(c["State"]["Status"] == "running" and
                    c["State"].get("Health", {}).get("Status") == "healthy" and
                    f"GEN={gen}" in c["Config"]["Env"] for c in cs.values()))
    try:
        lib.wait_for(ok, timeout=90, interval=0.3, what="the stack converged again")
    except AssertionError:
        cs = dockerd.containers()
        raise AssertionError(
            "not converged: " +
            str({n: (c["State"]["Status"], c["State"].get("Health", {}).get("Status"),
                     [e for e in c["Config"]["Env"] if e.startswith("GEN=")])
                 for n, c in cs.items()}) + f"\nberth:\n{daemon.output()[-4000:]}")
    cs = dockerd.containers()
    for n, c in cs.items():
        labels = c["Config"]["Labels"]
        assert labels.get("com.docker.compose.project") == project, n
        assert labels.get("org.berth.managed") == "true", n
        assert labels.get("com.docker.compose.config-hash"), n
        assert c["Image"] == image_id, n
    return {n: c["Config"]["Labels"]["com.docker.compose.config-hash"] for n, c in cs.items()}


def test_dockerd_killed_while_berth_converges(dockerd, base_image, tmp_path):
    project = lib.unique_project("t-daemonrep-cv")
    image_id = dockerd.docker("image", "inspect", "-f", "{{.Id}}", base_image)
    berth = lib.Berth(str(tmp_path), project)
    gen = 1
    berth.write(config(project, base_image, gen))
    d = Daemon(berth, str(tmp_path),
               env={"DOCKER_HOST": dockerd.host, "AWS_EC2_METADATA_DISABLED": "true"})
    timings = []
    try:
        # Cycle 0: berth starts from nothing; dockerd dies after the first create.
        killer = KillOnEvent(dockerd, project,
                             nth(1, lambda ev, p: ev["Action"] == "create"), time.time() - 1)
        t0 = time.time()
        d.start()
        assert killer.wait(60), f"no create seen: {killer.events}\n{d.output()[-3000:]}"
        wait_status(d, "waiting for docker", 0, "start: waiting for docker", timeout=60,
                    prefix=True)
        assert dockerd.start() is None
        wait_status(d, "3/3 services healthy", 0, "start: 3/3 healthy after the restart")
        hashes = assert_converged(dockerd, project, image_id, gen, d)
        timings.append(("start: after the 1st create", time.time() - t0, killer.events))
        print(f"\nstart: killed after {killer.events}; converged {time.time() - t0:.1f} s "
              "after berth started")

        for i in range(CYCLES):
            label, trigger, pred = POINTS[i % len(POINTS)]
            n = len(d.notify.texts())
            since = time.time()
            if trigger == "fresh":
                ids = dockerd.docker("ps", "-aq").split()
                dockerd.docker("rm", "-f", *ids)
                since = time.time()
            killer = KillOnEvent(dockerd, project, pred, since)
            if trigger == "reload":
                gen += 1
                berth.write(config(project, base_image, gen))
            t = time.time()
            d.signal(signal.SIGHUP)
            assert killer.wait(60), (f"cycle {i + 1} ({label}): the kill point never came; "
                                     f"events: {killer.events}\nberth:\n{d.output()[-3000:]}")
            killed_at = time.time()
            # dockerd comes back once berth has seen it gone (the interrupted converge is over):
            # every call that failed, failed against a dead dockerd.
            wait_status(d, "waiting for docker", n, f"cycle {i + 1}: waiting for docker",
                        timeout=60, prefix=True)
            assert d.proc.poll() is None, d.output()[-3000:]
            n = len(d.notify.texts())
            why = dockerd.start()
            assert why is None, why
            restarted = time.time()
            wait_status(d, "3/3 services healthy", n,
                        f"cycle {i + 1} ({label}): 3/3 services healthy again")
            new_hashes = assert_converged(dockerd, project, image_id, gen, d)
            if trigger == "reload":
                assert all(new_hashes[k] != hashes[k] for k in hashes), (hashes, new_hashes)
            hashes = new_hashes
            state = d.bus.busctl("get-property", *BUS, "State").stdout.strip()
            assert state == 's "healthy"', state
            r = dry_run(d)
            assert r.returncode == 0, r.stdout + r.stderr
            assert f"nothing to do: {project} is up to date" in r.stdout, r.stdout
            took = time.time() - restarted
            timings.append((label, took, killer.events))
            print(f"cycle {i + 1} ({label}): killed {killed_at - t:.1f} s into the converge "
                  f"after {killer.events[-1]}; converged {took:.1f} s after dockerd was back")
        assert d.proc.poll() is None
        out = d.output()
        # Docker dying mid-update is no verdict on the new container: nothing was rolled back
        # for it, no image quarantined (the regression: an image blamed for Docker's absence).
        assert "quarantined" not in out and "rolled back" not in out, out[-4000:]
        assert d.stop() == 0
    finally:
        d.close()
        ids = dockerd.docker("ps", "-aq", check=False).split()
        if ids:
            dockerd.docker("rm", "-f", *ids, check=False)
    if timings:
        took = [t for _, t, _ in timings[1:]]
        if took:
            print(f"reconverge after restart: min {min(took):.1f} s, max {max(took):.1f} s, "
                  f"mean {sum(took) / len(took):.1f} s over {len(took)} cycles")
