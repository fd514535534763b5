"""Crash injection for the health-gated swap (issue 6). A build with -DBERTH_TEST_HOOKS=ON makes
berth `_Exit(137)` right before step N of SERVICE's update when BERTH_TEST_CRASH_AT=SERVICE:N.

Steps: stop-first 1 create new, 2 stop old, 3 rename old, 4 rename new, 5 start new, 6 remove
old; rollback 90 remove new, 91 restore old; start-first 1 create, 2 start new, 3 stop old,
4 rename old, 5 rename new, 6 remove old; preflight 10 create the trial container, 11 start it,
12 remove it (then the stop-first steps).

Images are local (pull_policy = "never"): the swap, not the registry, is under test."""
import json
import os
import time
import uuid

import pytest

import berth_testlib as lib

CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "10s", retries = 10 }')
SERVICE = "web"
CRASH_EXIT = 137


class CrashWorld:
    """Three local images under one tag's name: good v1, good v2, bad (health check fails)."""

    def __init__(self):
        self.repo = f"t-safe-crash-{uuid.uuid4().hex[:8]}"
        self.v1 = lib.import_image(f"{self.repo}:v1", version="v1", cmd=lib.HTTPD_CMD)
        self.v2 = lib.import_image(f"{self.repo}:v2", version="v2", cmd=lib.HTTPD_CMD)
        self.bad = lib.import_image(f"{self.repo}:bad", version="bad", cmd=lib.HTTPD_CMD,
                                    no_www=True)

    def use(self, which):
        """Points REPO:latest at one of them (what `docker pull` of a new latest would do)."""
        lib.docker("tag", f"{self.repo}:{which}", f"{self.repo}:latest")
        return {"v1": self.v1, "v2": self.v2, "bad": self.bad}[which]

    def close(self):
        for t in ("latest", "v1", "v2", "bad"):
            lib.docker("rmi", "--no-prune", f"{self.repo}:{t}", check=False)


def config(project, image, strategy="stop-first"):
    return f'''[agent]
project = "{project}"

[services.{SERVICE}]
image = "{image}"
command = {json.dumps(lib.HTTPD_CMD)}
healthcheck = {CHECK}
pull_policy = "never"
update_strategy = "{strategy}"

[services.other]
image = "{image.rsplit(':', 1)[0]}:v1"
command = {json.dumps(lib.HTTPD_CMD)}
healthcheck = {CHECK}
pull_policy = "never"
'''


def service_containers(project, service=SERVICE):
    out = {}
    for name, c in lib.containers(project).items():
        if c["Config"]["Labels"].get("com.docker.compose.service") == service:
            out[name] = c
    return out


_hooks = {}


def require_hooks(world, tmp_root):
    """Fails unless the berth binary has the crash hook: one trivial update with
    BERTH_TEST_CRASH_AT set must exit 137 (a build without the hooks just performs the update).
    These tests are registered only in builds with -DBERTH_TEST_HOOKS=ON (tests/CMakeLists.txt),
    so a missing hook is a broken build, not a reason to skip."""
    b = lib.berth_bin()
    if b not in _hooks:
        project = lib.unique_project("t-safe-probe")
        d = os.path.join(tmp_root, "probe")
        os.makedirs(d, exist_ok=True)
        berth = lib.Berth(d, project)
        try:
            world.use("v1")
            berth.write(config(project, f"{world.repo}:latest"))
            berth.up()
            berth.write(config(project, f"{world.repo}:latest").replace(
                'pull_policy = "never"\nupdate', 'pull_policy = "never"\n'
                'environment = { PROBE = "1" }\nupdate', 1))
            r = berth.run("up", env={"BERTH_TEST_CRASH_AT": f"{SERVICE}:1"},
                          expect={0, CRASH_EXIT})
            _hooks[b] = r.returncode == CRASH_EXIT
        finally:
            lib.cleanup_project(project)
    if not _hooks[b]:
        pytest.fail(f"{b} has no crash-injection hook: BERTH_TEST_CRASH_AT did not make it exit "
                    f"{CRASH_EXIT} (build with -DBERTH_TEST_HOOKS=ON, as scripts/test's ASan "
                    "build does)", pytrace=False)


def check_after_crash(project, step, start_first=False):
    """Right after the crash: the service still has a container (old or new, maybe stopped), and
    at most one runs (two only for start-first). state.json parses and records the intent."""
    cs = service_containers(project)
    assert cs, f"crash at step {step}: no container left for {SERVICE}"
    running = [n for n, c in cs.items() if c["State"]["Status"] == "running"]
    assert len(running) <= (2 if start_first else 1), (step, running)
    return cs


def check_state(berth, step=None):
    path = os.path.join(berth.state, "state.json")
    with open(path) as f:
        doc = json.load(f)
    if step is not None:
        assert {"service": SERVICE, "step": step} in [
            {"service": i["service"], "step": i["step"]} for i in doc["intents"]], doc["intents"]
    return doc


def check_converged(project, image_id, timeout=60):
    """Exactly one container for the service, under its name, running the image, healthy; no
    -next/-prev leftovers."""
    name = f"{project}-{SERVICE}-1"

    def done():
        cs = service_containers(project)
        if list(cs) != [name]:
            return False
        c = cs[name]
        return c["State"]["Status"] == "running" and \
            c["State"].get("Health", {}).get("Status") == "healthy"
    try:
        lib.wait_for(done, timeout=timeout, what=f"{SERVICE} converged")
    except AssertionError:
        raise AssertionError(f"not converged: {json.dumps({n: (c['State']['Status'], c['State'].get('Health', {}).get('Status'), c['Image'][:19]) for n, c in service_containers(project).items()})}")
    c = service_containers(project)[name]
    assert c["Image"] == image_id, (c["Image"], image_id)
    other = lib.containers(project)[f"{project}-other-1"]
    assert other["State"]["Status"] == "running"
    return c


def run_crash_case(world, berth, project, step, bad=False, strategy="stop-first"):
    """v1 runs healthy; an update (to v2, or to the bad image for the rollback steps) crashes
    at `step`; the next `berth up` must converge."""
    world.use("v1")
    berth.write(config(project, f"{world.repo}:latest", strategy))
    berth.up()
    old_id = service_containers(project)[f"{project}-{SERVICE}-1"]["Id"]
    target = world.use("bad" if bad else "v2")
    t0 = time.time()
    r = berth.run("up", env={"BERTH_TEST_CRASH_AT": f"{SERVICE}:{step}"}, expect=CRASH_EXIT)
    assert r.returncode == CRASH_EXIT, (step, r.returncode, r.stdout, r.stderr)
    cs = check_after_crash(project, step, strategy in ("start-first", "preflight"))
    check_state(berth, step)
    after_crash = {n: c["State"]["Status"] for n, c in cs.items()}

    r2 = berth.run("up")
    took = time.time() - t0
    out = r2.stdout + r2.stderr
    if bad:
        # The bad image is tried again (the crash came before it could be quarantined) and
        # rolled back again: exit 1, the old image runs. The run after that is quiet.
        assert r2.returncode in (0, 1), out
        c = check_converged(project, world.v1)
        r3 = berth.run("up", check=0)
        assert r3.returncode == 0, r3.stdout + r3.stderr
        assert "quarantined" in r3.stdout + r3.stderr
        check_converged(project, world.v1)
    else:
        assert r2.returncode == 0, out
        c = check_converged(project, target)
    doc = check_state(berth)
    assert doc["intents"] == []
    return {"after_crash": after_crash, "recovery": out, "old_id": old_id, "new": c["Id"],
            "seconds": took}
