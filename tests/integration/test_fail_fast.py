"""Issue 15: a bad new image costs as little as possible, and every error path leaves the running
containers as they were.
  1. stop-first, a new image that exits at once and is restarted by Docker: the health wait ends
     on the container's exit (not after health_timeout), the update is rolled back, and the error
     carries the exit code and the container's last log lines;
  2. update_strategy = "preflight", Docker's health check: a bad image is tried beside the old
     container (no published ports) and rolled back; an HTTP client polling the service every
     100 ms sees no failed request and the old container is never stopped; a good image is swapped
     in and serves;
  3. preflight with berth's own probe only: the probe is aimed at the trial container's address;
  4. a logging.driver the engine does not have: a clear error before anything is stopped.
Real registry (ECR credentials from the fake IMDS role), real dockerd. No duration is asserted:
that the wait ended on the exit is read from the error (an exit code, not "not healthy after")."""
import json
import time

import pytest

import berth_testlib as lib
from registry_fixture import EcrWorld
from test_safe_updates import Poller, http_ok, repo

# retries = 10 at 300 ms: health_timeout is about two minutes, a wait that is not fail-fast would
# end with "not healthy after 2m...". start_period keeps a slow first check from counting.
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "10s", retries = 10, start_period = "30s" }')
# A new image whose PID 1 says why and exits 3 at once: Docker restarts it (unless-stopped).
CRASH = ["/bin/sh", "-c", "echo t15-crash-marker: config missing; echo second line; exit 3"]


@pytest.fixture(scope="module")
def world():
    w = EcrWorld()
    yield w
    w.close()


@pytest.fixture
def project():
    p = lib.unique_project("t-fast")
    yield p
    lib.cleanup_project(p)


def config(project, world, services):
    """services: {name: (image, extra toml lines)}; the images' own CMD runs (httpd, or CRASH)."""
    text = f'[agent]\nproject = "{project}"\n' + world.registry_toml()
    for name, (image, extra) in services.items():
        text += f'''
[services.{name}]
image = "{image}"
{extra}
'''
    return text


def snapshot(project):
    """{container name: (id, image, StartedAt, status)}: what "as they were" means."""
    return {n: (c["Id"], c["Image"], c["State"]["StartedAt"], c["State"]["Status"])
            for n, c in lib.containers(project).items()}


def test_crash_looping_image_rolls_back_at_once_with_exit_code_and_log_tail(world, berth,
                                                                            project):
    web, side = repo("web"), repo("side")
    good = world.push(web, version="ff-good-1")
    world.push(side, version="ff-side-1")
    berth.write(config(project, world, {
        "web": (world.image(web), f"healthcheck = {CHECK}"),
        "side": (world.image(side), f"healthcheck = {CHECK}")}))
    berth.up(env=world.env())
    before = snapshot(project)
    name = f"{project}-web-1"

    bad = world.push(web, version="ff-bad-2", cmd=CRASH)
    r = berth.up(env=world.env(), check=1)
    out = r.stdout + r.stderr
    print(out)
    # The wait ended on the exit, with its code and the container's own words.
    assert "exited with code 3" in r.stderr
    assert "t15-crash-marker: config missing" in r.stderr and "second line" in r.stderr
    assert "last log lines" in r.stderr
    assert "not healthy after" not in out
    assert "rolled back" in r.stdout
    # The old container runs again (same container, same image); the other one was not touched.
    after = snapshot(project)
    assert set(after) == set(before)
    assert after[name][:2] == before[name][:2] and after[name][3] == "running"
    side_name = f"{project}-side-1"
    assert after[side_name] == before[side_name]
    state = lib.read_state(berth)["services"]["web"]
    assert [q["digest"] for q in state["quarantined"]] == [bad]
    assert state["last_good"]["digest"] == good
    assert lib.read_state(berth)["intents"] == []


def preflight_extra(port, check):
    return f'ports = ["127.0.0.1:{port}:8080"]\nupdate_strategy = "preflight"\n{check}'


def test_preflight_bad_image_never_takes_the_old_one_down_and_a_good_one_is_swapped(
        world, berth, project):
    web = repo("web")
    port = lib.free_port()
    good = world.push(web, version="pf-good-1")
    berth.write(config(project, world, {
        "web": (world.image(web), preflight_extra(port, f"healthcheck = {CHECK}"))}))
    berth.up(env=world.env())
    name = f"{project}-web-1"
    before = snapshot(project)

    bad = world.push(web, version="pf-bad-2", no_www=True)  # httpd answers 404: the check fails
    with Poller(http_ok(port), interval=0.1) as poll:
        time.sleep(0.3)
        r = berth.up(env=world.env(), check=1)
        time.sleep(0.3)
    out = r.stdout + r.stderr
    print(out)
    failed = [t for t, ok in poll.samples if not ok]
    print(f"preflight, bad image: {len(poll.samples)} requests every 100 ms, "
          f"{len(failed)} failed")
    assert len(poll.samples) >= 5
    assert len(failed) == 0
    assert snapshot(project) == before  # never stopped: same container, same StartedAt
    assert "preflight" in r.stdout and "was not stopped" in r.stdout
    assert "update rolled back: preflight container unhealthy" in r.stderr
    state = lib.read_state(berth)["services"]["web"]
    assert [q["digest"] for q in state["quarantined"]] == [bad]
    assert state["last_good"]["digest"] == good
    assert lib.read_state(berth)["intents"] == []

    # A good image: tried, then swapped in with the normal stop-first swap, and it serves.
    fixed = world.push(web, version="pf-good-3")
    r = berth.up(env=world.env())
    print(r.stdout + r.stderr)
    c = lib.containers(project)[name]
    assert c["Id"] != before[name][0]
    assert c["Config"]["Labels"]["org.berth.image.digest"] == fixed
    assert set(lib.containers(project)) == {name}  # no trial container left
    lib.wait_for(http_ok(port), timeout=30, what="the new container serves")
    assert "preflight" in r.stdout


def test_preflight_with_berths_own_probe_checks_the_trial_containers_address(
        world, berth, project):
    web = repo("web")
    port = lib.free_port()
    world.push(web, version="pp-good-1")
    probe = (f'probe = {{ http = "http://127.0.0.1:{port}/", interval = "300ms", '
             f'retries = 3, start_period = "1s" }}')
    berth.write(config(project, world, {"web": (world.image(web), preflight_extra(port, probe))}))
    berth.up(env=world.env())
    name = f"{project}-web-1"
    before = snapshot(project)

    world.push(web, version="pp-bad-2", no_www=True)
    with Poller(http_ok(port), interval=0.1) as poll:
        r = berth.up(env=world.env(), check=1)
    print(r.stdout + r.stderr)
    assert [ok for _, ok in poll.samples].count(False) == 0 and len(poll.samples) >= 3
    assert snapshot(project) == before
    # The probe went to the trial container's own address and port 8080, not to the old one's
    # published port (which answers 200 all along).
    assert "probe failed" in r.stderr and ":8080/: HTTP 404" in r.stderr
    assert f"127.0.0.1:{port}" not in r.stderr

    fixed = world.push(web, version="pp-good-3")
    berth.up(env=world.env())
    c = lib.containers(project)[name]
    assert c["Id"] != before[name][0]
    assert c["Config"]["Labels"]["org.berth.image.digest"] == fixed


def test_a_log_driver_the_engine_lacks_is_refused_before_anything_stops(world, berth, project):
    web = repo("web")
    world.push(web, version="ld-1")
    berth.write(config(project, world, {"web": (world.image(web), f"healthcheck = {CHECK}")}))
    berth.up(env=world.env())
    before = snapshot(project)
    drivers = json.loads(lib.docker("info", "--format", "{{json .Plugins.Log}}"))

    berth.write(config(project, world, {
        "web": (world.image(web),
                f'healthcheck = {CHECK}\nlogging = {{ driver = "t15-no-such-driver" }}')}))
    since = f"{time.time():.9f}"
    r = berth.up(env=world.env(), check=1)
    print(r.stdout + r.stderr)
    assert ('services.web.logging.driver: "t15-no-such-driver" is not a log driver of the '
            'container engine') in r.stderr
    assert "(it has: " + ", ".join(drivers) + ")" in r.stderr
    assert snapshot(project) == before
    ops = [a for e in ("create", "start", "stop", "kill", "die", "destroy", "rename")
           for a in ("--filter", f"event={e}")]
    evs = lib.docker("events", "--since", since, "--until", f"{time.time() + 1:.0f}",
                     "--filter", f"label=com.docker.compose.project={project}",
                     "--filter", "type=container", *ops, "--format", "{{.Action}}")
    assert evs.split() == []  # not one container operation
