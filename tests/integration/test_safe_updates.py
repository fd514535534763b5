"""Issue 6: safe updates against a real registry (ECR credentials from the fake IMDS role):
health-gated swap with automatic rollback and quarantine, start-first, offline boot from the
last-known-good state, and a lost state directory."""
import json
import os
import shutil
import threading
import time
import urllib.request
import uuid

import pytest

import berth_testlib as lib
import fake_ecr
from registry_fixture import EcrWorld

HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "10s", retries = 10 }')


@pytest.fixture(scope="module")
def world():
    w = EcrWorld()
    yield w
    w.close()


@pytest.fixture
def project():
    p = lib.unique_project("t-safe")
    yield p
    lib.cleanup_project(p)


def repo(name):
    return f"t-safe-{uuid.uuid4().hex[:6]}/{name}"


def config(project, world, services, extra=None):
    text = f'[agent]\nproject = "{project}"\n' + world.registry_toml()
    for name, image in services.items():
        text += f'''
[services.{name}]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
{(extra or {}).get(name, "")}
'''
    return text


def ids(project):
    return {n: c["Id"] for n, c in lib.containers(project).items()}


class Poller:
    """Polls a URL (or a predicate) in a thread; records (time, ok)."""

    def __init__(self, fn, interval=0.02):
        self.fn, self.interval = fn, interval
        self.samples = []
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while self.running:
            t = time.monotonic()
            try:
                v = self.fn()
            except Exception:
                v = False
            self.samples.append((t, v))
            time.sleep(self.interval)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join(5)

    def failures(self):
        return sum(1 for _, ok in self.samples if not ok)

    def longest_gap(self):
        """Longest stretch (seconds) from the first failing sample to the next good one."""
        worst, start = 0.0, None
        for t, ok in self.samples:
            if not ok and start is None:
                start = t
            elif ok and start is not None:
                worst = max(worst, t - start)
                start = None
        if start is not None:
            worst = max(worst, self.samples[-1][0] - start)
        return worst


def service_answers(project, service):
    """One probe: some running container of the service answers HTTP 200 on its address in the
    project's network (the host reaches a bridge network's addresses). A container listed as
    running may be stopped before it is asked (the old one, once the new one is healthy): then
    the containers are listed once more, so a probe fails only when none answered."""
    for _ in range(2):
        ids = lib.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
                         "--filter", f"label=com.docker.compose.service={service}",
                         "--filter", "status=running", check=False).split()
        addrs = lib.docker("inspect", "-f",
                           "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", *ids,
                           check=False).split() if ids else []
        for ip in addrs:
            try:
                with urllib.request.urlopen(f"http://{ip}:8080/", timeout=10) as r:
                    if r.status == 200:
                        return True
            except OSError:
                pass
    return False


def http_ok(port):
    def check():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.5) as r:
            return r.status == 200
    return check


def wait_healthy(project, name, timeout=30):
    def ok():
        c = lib.containers(project).get(name)
        return c and c["State"]["Status"] == "running" and \
            c["State"].get("Health", {}).get("Status") == "healthy"
    lib.wait_for(ok, timeout=timeout, what=f"{name} healthy")


def test_failed_update_rolls_back_quarantines_and_takes_a_fixed_image(world, berth, project):
    rp = repo("web")
    port = lib.free_port()
    good = world.push(rp, version="good-1")
    extra = {"web": f'ports = ["127.0.0.1:{port}:8080"]'}
    berth.write(config(project, world, {"web": world.image(rp)}, extra))
    berth.up(env=world.env())
    name = f"{project}-web-1"
    old_id = ids(project)[name]
    good_image = lib.containers(project)[name]["Image"]

    bad = world.push(rp, version="bad-2", no_www=True)  # httpd answers 404: the check fails
    with Poller(http_ok(port)) as poll:
        time.sleep(0.3)
        t0 = time.monotonic()
        r = berth.up(env=world.env(), check=1)
        took = time.monotonic() - t0
        wait_healthy(project, name)
        time.sleep(0.3)
    downtime = poll.longest_gap()
    print(f"\nrollback: berth up took {took:.1f}s; the service did not answer for "
          f"{downtime:.2f}s (longest gap, polled every 20 ms at 127.0.0.1:{port})")
    print(r.stdout + r.stderr)
    assert ids(project) == {name: old_id}  # the old container, no leftovers
    c = lib.containers(project)[name]
    assert c["Image"] == good_image and c["Config"]["Labels"]["org.berth.image.digest"] == good
    assert "rolling back" in r.stdout and "rolled back" in r.stdout
    assert "unhealthy" in r.stderr
    assert "0/1 services up, 1 kept on the previous image" in r.stderr
    state = lib.read_state(berth)["services"]["web"]
    assert [q["digest"] for q in state["quarantined"]] == [bad]
    assert state["last_good"]["digest"] == good
    assert lib.read_state(berth)["intents"] == []

    # The next runs do not retry the quarantined image.
    for attempt in range(2):
        with lib.ProjectEvents(project) as ev:
            r2 = berth.up(env=world.env(), check=None)
            created = ev.events("create")
        print(r2.stdout + r2.stderr)
        assert "quarantined" in r2.stdout + r2.stderr
        assert created == []
        assert ids(project) == {name: old_id}
        state = lib.read_state(berth)["services"]["web"]
        assert [q["digest"] for q in state["quarantined"]] == [bad], attempt
        assert state["last_good"]["digest"] == good, attempt
    assert r2.returncode == 0  # it runs healthy (on the previous image): see the output

    # A configuration change meanwhile is applied on the image that runs, not on the
    # quarantined one; a stopped container is started again (not left down because the
    # newer image is quarantined).
    extra["web"] += '\nenvironment = { T_SAFE = "2" }'
    berth.write(config(project, world, {"web": world.image(rp)}, extra))
    r4 = berth.up(env=world.env())
    print(r4.stdout + r4.stderr)
    c = lib.containers(project)[name]
    assert c["Id"] != old_id and "T_SAFE=2" in c["Config"]["Env"]
    assert c["Image"] == good_image and "rolled back" not in r4.stdout
    assert "quarantined" in r4.stdout
    old_id = c["Id"]
    lib.docker("stop", "-t", "1", name)
    r5 = berth.up(env=world.env())
    c = lib.containers(project)[name]
    assert c["Id"] == old_id and c["State"]["Status"] == "running"
    assert c["Image"] == good_image
    assert [q["digest"] for q in lib.read_state(berth)["services"]["web"]["quarantined"]] == [bad]

    # A fixed image pushed later is taken.
    fixed = world.push(rp, version="fixed-3")
    r3 = berth.up(env=world.env())
    c = lib.containers(project)[name]
    assert c["Id"] != old_id and c["Config"]["Labels"]["org.berth.image.digest"] == fixed
    assert c["State"]["Health"]["Status"] == "healthy"
    state = lib.read_state(berth)["services"]["web"]
    assert state["last_good"]["digest"] == fixed and state["previous"]["digest"] == good
    lib.assert_no_secrets(world.secrets(), r.stdout, r.stderr, r2.stdout, r3.stdout, r4.stdout,
                          r5.stdout, state_dir=berth.state)


def test_start_first_keeps_a_container_running_throughout(world, berth, project):
    rp = repo("api")
    world.push(rp, version="sf-1")
    extra = {"api": 'update_strategy = "start-first"'}
    berth.write(config(project, world, {"api": world.image(rp)}, extra))
    berth.up(env=world.env())
    old_id = ids(project)[f"{project}-api-1"]
    new_digest = world.push(rp, version="sf-2")

    def running_count():
        out = lib.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
                         "--filter", "label=com.docker.compose.service=api",
                         "--filter", "status=running")
        return len(out.split())

    assert service_answers(project, "api")
    with lib.ProjectEvents(project) as ev, Poller(running_count, interval=0.05) as poll, \
            Poller(lambda: service_answers(project, "api"), interval=0.05) as probes:
        r = berth.up(env=world.env())
        evs = ev.events("die", "health_status")
    counts = [v for _, v in poll.samples]
    print(f"\nstart-first: running containers of api during the update: min {min(counts)}, "
          f"max {max(counts)} ({len(counts)} samples); HTTP probes: {len(probes.samples)}, "
          f"failed {probes.failures()}")
    assert min(counts) >= 1 and max(counts) == 2
    assert probes.samples and probes.failures() == 0  # zero downtime: no probe went unanswered
    c = lib.containers(project)[f"{project}-api-1"]
    assert c["Id"] != old_id and c["Config"]["Labels"]["org.berth.image.digest"] == new_digest
    assert len(lib.containers(project)) == 1
    # The old one stopped only after the new one was healthy (in the order dockerd sent them).
    healthy_new = [i for i, e in enumerate(evs) if e["Actor"]["ID"] == c["Id"]
                   and e["Action"] == "health_status: healthy"]
    old_died = [i for i, e in enumerate(evs) if e["Actor"]["ID"] == old_id and e["Action"] == "die"]
    assert healthy_new and old_died and min(old_died) > min(healthy_new), evs
    assert "start-first" in r.stdout


def test_start_first_failed_check_leaves_the_old_one_running(world, berth, project):
    rp = repo("api")
    good = world.push(rp, version="sfb-1")
    berth.write(config(project, world, {"api": world.image(rp)},
                       {"api": 'update_strategy = "start-first"'}))
    berth.up(env=world.env())
    old_id = ids(project)[f"{project}-api-1"]
    bad = world.push(rp, version="sfb-2", no_www=True)
    # The old container keeps answering: probed on its own address (the new one answers 404).
    old_ip = lib.docker("inspect", "-f",
                        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", old_id)

    def old_answers():
        with urllib.request.urlopen(f"http://{old_ip}:8080/", timeout=10) as resp:
            return resp.status == 200
    assert old_answers()
    with Poller(lambda: lib.containers(project)[f"{project}-api-1"]["State"]["Status"]
                == "running", interval=0.05) as poll, Poller(old_answers, interval=0.05) as probes:
        r = berth.up(env=world.env(), check=1)
    assert all(v for _, v in poll.samples), "the old container stopped during a start-first update"
    print(f"\nHTTP probes of the old container: {len(probes.samples)}, failed {probes.failures()}")
    assert probes.samples and probes.failures() == 0
    assert ids(project) == {f"{project}-api-1": old_id}
    state = lib.read_state(berth)["services"]["api"]
    assert [q["digest"] for q in state["quarantined"]] == [bad]
    assert state["last_good"]["digest"] == good
    assert "rolled back" in r.stdout


def restart_ecr(world):
    port = world.ecr.port
    world.ecr = fake_ecr.FakeEcr(
        keys={world.access_key: {"secret": world.secret_key, "token": world.session_token}},
        password=world.password, account="123456789012", region="us-east-1", port=port).start()


def test_offline_boot_from_last_known_good(world, berth, project):
    a, b = repo("a"), repo("b")
    da = world.push(a, version="off-a1")
    db = world.push(b, version="off-b1")
    berth.write(config(project, world, {"a": world.image(a), "b": world.image(b)}))
    berth.up(env=world.env())
    images = {n: c["Image"] for n, c in lib.containers(project).items()}

    # Boot without network: registry and ECR down, the containers gone, images still local.
    world.registry.pause()
    world.ecr.stop()
    try:
        lib.docker("rm", "-f", *ids(project).values())
        r = berth.up(env=world.env(), check=0)
        print(r.stdout + r.stderr)
        cs = lib.containers(project)
        assert {n: c["Image"] for n, c in cs.items()} == images
        for c in cs.values():
            assert c["State"]["Status"] == "running"
            assert c["State"]["Health"]["Status"] == "healthy"
        assert r.stdout.count("running the last-known-good image") == 2
        state = lib.read_state(berth)["services"]
        assert state["a"]["last_good"]["digest"] == da and state["b"]["last_good"]["digest"] == db
    finally:
        world.registry.resume()
        restart_ecr(world)

    # Back online: a pushed update is applied.
    da2 = world.push(a, version="off-a2")
    before = ids(project)
    r = berth.up(env=world.env())
    after = ids(project)
    assert after[f"{project}-b-1"] == before[f"{project}-b-1"]
    assert after[f"{project}-a-1"] != before[f"{project}-a-1"]
    assert lib.containers(project)[f"{project}-a-1"]["Config"]["Labels"][
        "org.berth.image.digest"] == da2
    assert "last-known-good" not in r.stdout


def test_lost_state_dir_is_rebuilt_from_labels(world, berth, project):
    a = repo("a")
    da = world.push(a, version="ls-1")
    berth.write(config(project, world, {"a": world.image(a)}))
    berth.up(env=world.env())
    before = ids(project)
    shutil.rmtree(berth.state)
    with lib.ProjectEvents(project) as ev:
        r = berth.up(env=world.env())
        changes = ev.events("create", "stop", "destroy", "rename")
    assert ids(project) == before and "(nothing to do)" in r.stdout
    assert changes == []
    state = lib.read_state(berth)["services"]["a"]
    assert state["last_good"]["digest"] == da

    # Lost state AND registry down: the local image of the tag keeps it running.
    shutil.rmtree(berth.state)
    world.registry.pause()
    try:
        r = berth.up(env=world.env(), check=0)
    finally:
        world.registry.resume()
    print(r.stdout + r.stderr)
    assert ids(project) == before
    assert "unreachable" in r.stdout + r.stderr
    assert os.path.exists(os.path.join(berth.state, "state.json"))
