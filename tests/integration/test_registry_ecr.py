"""Issue 3: tags resolved to digests and images pulled from a real registry with ECR credentials
that come only from the instance role (fake IMDSv2 -> strict fake ECR -> htpasswd registry).

Exit code decision for "registry down": `berth up` exits 0 when every service runs healthy, even
when it runs the last-known-good image because the registry cannot be reached; the output says
so (a warning naming the registry and the cause). Wrong credentials and unknown repositories are
errors the operator must fix: exit 1, the running containers untouched."""
import json
import time
import uuid

import pytest

import berth_testlib as lib
from registry_fixture import EcrWorld

HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "10s", retries = 3, '
         'start_period = "30s" }')


@pytest.fixture(scope="module")
def world():
    w = EcrWorld()
    yield w
    w.close()


@pytest.fixture
def project():
    p = lib.unique_project("t-reg")
    yield p
    lib.cleanup_project(p)


def repo(name):
    return f"t-reg-{uuid.uuid4().hex[:6]}/{name}"


def service(name, image, extra=""):
    return f'''
[services.{name}]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
{extra}
'''


def config(project, world, services):
    text = f'[agent]\nproject = "{project}"\n' + world.registry_toml()
    for name, image in services.items():
        text += service(name, image)
    return text


def ids(project):
    return {n: c["Id"] for n, c in lib.containers(project).items()}


def running(project):
    return {n: (c["State"]["Status"], c["State"].get("Health", {}).get("Status"))
            for n, c in lib.containers(project).items()}


def check_secrets(world, berth, *results):
    texts = []
    for r in results:
        texts += [r.stdout, r.stderr]
    lib.assert_no_secrets(world.secrets(), *texts, state_dir=berth.state)


def test_first_boot_pulls_latest_with_instance_role(world, berth, project):
    api, web = repo("api"), repo("web")
    d_api = world.push(api, version="api-1")
    d_web = world.push(web, version="web-1")
    assert lib.local_image_id(world.image(api)) is None  # berth has to pull it
    berth.write(config(project, world, {"api": world.image(api), "web": world.image(web)}))
    creds_before = world.imds.stats_["creds_served"]
    r = berth.up(env=world.env())
    cs = lib.containers(project)
    for svc, rp, digest in (("api", api, d_api), ("web", web, d_web)):
        c = cs[f"{project}-{svc}-1"]
        assert c["State"]["Status"] == "running" and c["State"]["Health"]["Status"] == "healthy"
        labels = c["Config"]["Labels"]
        assert labels["org.berth.image.digest"] == digest
        # The container runs the digest; the tag points at it locally too.
        by_digest = lib.local_image_id(f"{world.addr}/{rp}@{digest}")
        assert by_digest and c["Image"] == by_digest
        assert lib.local_image_id(world.image(rp)) == by_digest
        assert f"pulling image for {svc}" in r.stdout
        assert f"image {world.image(rp)} pulled" in r.stdout
    assert world.imds.stats_["creds_served"] > creds_before  # credentials from the role
    assert world.ecr.stats()["ok"] >= 1
    check_secrets(world, berth, r)
    state = lib.read_state(berth)
    assert state["services"]["api"]["last_good"]["digest"] == d_api


def test_unchanged_digests_pull_nothing_and_touch_nothing(world, berth, project):
    api, web = repo("api"), repo("web")
    world.push(api, version="api-1")
    world.push(web, version="web-1")
    berth.write(config(project, world, {"api": world.image(api), "web": world.image(web)}))
    berth.up(env=world.env())
    before = ids(project)
    mark = len(world.registry.requests())
    ecr_before = world.ecr.stats()["ok"]
    with lib.ProjectEvents(project) as ev:
        r = berth.up(env=world.env())
        actions = [e["Action"] for e in ev.events()]
    assert ids(project) == before
    assert "(nothing to do)" in r.stdout
    assert "pull" not in r.stdout and "created" not in r.stdout
    seen = world.registry.requests()[mark:]
    # Only manifest HEADs (the first may be answered 401 when it carries no credentials yet).
    assert seen, "berth did not check the registry"
    for method, path, status, agent in seen:
        assert method == "HEAD" and "/manifests/latest" in path, seen
        assert not agent.startswith("docker/"), seen
    assert {p for _, p, s, _ in seen if s == 200} == {f"/v2/{api}/manifests/latest",
                                                       f"/v2/{web}/manifests/latest"}
    assert world.ecr.stats()["ok"] - ecr_before <= 1  # one token for the whole run
    # No container operation at all: no Docker events for the project.
    assert [a for a in actions if not a.startswith("health_status")] == [], actions
    check_secrets(world, berth, r)


def test_new_latest_recreates_only_that_service(world, berth, project):
    api, web = repo("api"), repo("web")
    world.push(api, version="api-1")
    world.push(web, version="web-1")
    berth.write(config(project, world, {"api": world.image(api), "web": world.image(web)}))
    berth.up(env=world.env())
    before = ids(project)
    d2 = world.push(api, version="api-2")
    r = berth.up(env=world.env())
    after = ids(project)
    assert after[f"{project}-web-1"] == before[f"{project}-web-1"]
    assert after[f"{project}-api-1"] != before[f"{project}-api-1"]
    assert len(after) == 2
    c = lib.containers(project)[f"{project}-api-1"]
    assert c["Config"]["Labels"]["org.berth.image.digest"] == d2
    assert c["State"]["Health"]["Status"] == "healthy"
    assert "pulling image for api" in r.stdout and "pulling image for web" not in r.stdout
    assert "image changed" in r.stdout
    state = lib.read_state(berth)["services"]["api"]
    assert state["last_good"]["digest"] == d2
    assert state["previous"]["digest"] != d2 and state["previous"]["image_id"]
    check_secrets(world, berth, r)


def test_pinned_sha_tag_and_digest(world, berth, project):
    rp = repo("metrics")
    d1 = world.push(rp, "3f2c9e1", version="m-1")
    world.push(rp, "latest", version="m-2")
    berth.write(config(project, world, {"bytag": world.image(rp, "3f2c9e1"),
                                        "bydigest": f"{world.addr}/{rp}@{d1}"}))
    mark = len(world.registry.requests())
    r = berth.up(env=world.env())
    cs = lib.containers(project)
    for svc in ("bytag", "bydigest"):
        assert cs[f"{project}-{svc}-1"]["Config"]["Labels"]["org.berth.image.digest"] == d1
    # A digest pin needs no tag lookup: berth itself only asked for the SHA tag's manifest.
    heads = [p for m, p, _, _ in world.berth_requests(mark) if "/manifests/" in p]
    assert all(p.endswith("/manifests/3f2c9e1") or p.endswith("/manifests/" + d1) for p in heads), heads
    assert any(p.endswith("/manifests/3f2c9e1") for p in heads)
    before = ids(project)
    world.push(rp, "latest", version="m-3")  # a new latest does not move the pins
    r2 = berth.up(env=world.env())
    assert ids(project) == before and "(nothing to do)" in r2.stdout
    check_secrets(world, berth, r, r2)


def test_expired_token_is_renewed(world, berth, project):
    world.ecr.lifetime = 3.0
    try:
        rp = repo("api")
        world.push(rp, version="t-1")
        berth.write(config(project, world, {"api": world.image(rp)}))
        before = world.ecr.stats()["ok"]
        berth.up(env=world.env())
        assert world.ecr.stats()["ok"] == before + 1
        time.sleep(3.5)  # the token berth got has expired
        d2 = world.push(rp, version="t-2")
        r = berth.up(env=world.env())
        assert world.ecr.stats()["ok"] == before + 2
        c = lib.containers(project)[f"{project}-api-1"]
        assert c["Config"]["Labels"]["org.berth.image.digest"] == d2
        check_secrets(world, berth, r)
    finally:
        world.ecr.lifetime = 43200.0


def test_expired_token_renewed_by_the_daemon(world, berth, project, tmp_path):
    """Within one `berth run` process the token is cached: after it expires, `berth update`
    must fetch a new one instead of failing with the stale token."""
    from daemon_fixture import Daemon
    world.ecr.lifetime = 3.0
    rp = repo("api")
    world.push(rp, version="d-1")
    berth.write(config(project, world, {"api": world.image(rp)}))
    d = Daemon(berth, str(tmp_path), env={k: v for k, v in world.env().items() if v is not None})
    for k, v in world.env().items():
        if v is None:
            d.env.pop(k, None)
    try:
        before = world.ecr.stats()["ok"]
        d.start()
        d.notify.wait_for("READY=1", timeout=60)
        assert world.ecr.stats()["ok"] == before + 1
        old = ids(project)[f"{project}-api-1"]
        time.sleep(3.5)
        d2 = world.push(rp, version="d-2")
        d.cli("update", check=0)
        lib.wait_for(lambda: lib.containers(project).get(f"{project}-api-1", {}).get(
            "Config", {}).get("Labels", {}).get("org.berth.image.digest") == d2 and
            lib.containers(project)[f"{project}-api-1"]["State"].get("Health", {}).get(
                "Status") == "healthy", timeout=60, what="api updated by the daemon")
        assert ids(project)[f"{project}-api-1"] != old
        assert world.ecr.stats()["ok"] >= before + 2
        assert d.stop() == 0
        lib.assert_no_secrets(world.secrets(), d.output(), state_dir=berth.state)
    finally:
        d.close()
        world.ecr.lifetime = 43200.0


def test_wrong_credentials_is_a_clear_error_and_keeps_containers(world, berth, project):
    rp = repo("api")
    world.push(rp, version="w-1")
    berth.write(config(project, world, {"api": world.image(rp)}))
    berth.up(env=world.env())
    before = ids(project)
    world.push(rp, version="w-2")
    wrong = "t-reg-wrong-" + uuid.uuid4().hex
    world.ecr.password = wrong
    try:
        r = berth.up(env=world.env(), check=1)
    finally:
        world.ecr.password = world.password
    err = r.stderr
    print(r.stdout + err)
    assert world.image(rp) in err, err
    assert world.addr in err
    assert "credentials" in err or "401" in err, err
    assert "0/1 services up, 1 kept on the previous image" in err
    assert ids(project) == before
    assert running(project)[f"{project}-api-1"] == ("running", "healthy")
    lib.assert_no_secrets(world.secrets() + [wrong], r.stdout, r.stderr, state_dir=berth.state)


def test_unknown_repository_is_a_clear_error(world, berth, project):
    rp = repo("api")
    world.push(rp, version="u-1")
    berth.write(config(project, world, {"api": world.image(rp)}))
    berth.up(env=world.env())
    before = ids(project)
    missing = repo("does-not-exist")
    berth.write(config(project, world, {"api": world.image(rp), "nope": world.image(missing)}))
    r = berth.up(env=world.env(), check=1)
    print(r.stdout + r.stderr)
    assert world.image(missing) in r.stderr and world.addr in r.stderr, r.stderr
    assert "not found" in r.stderr or "unknown" in r.stderr, r.stderr
    assert ids(project) == before  # api untouched, nothing created for nope
    assert running(project)[f"{project}-api-1"] == ("running", "healthy")
    check_secrets(world, berth, r)


def test_registry_down_keeps_last_known_good(world, berth, project):
    rp = repo("api")
    world.push(rp, version="x-1")
    berth.write(config(project, world, {"api": world.image(rp)}))
    berth.up(env=world.env())
    before = ids(project)
    world.registry.pause()
    try:
        t0 = time.time()
        r = berth.up(env=world.env(), check=0)
        took = time.time() - t0
    finally:
        world.registry.resume()
    out = r.stdout + r.stderr
    print(out)
    assert "unreachable" in out and world.addr in out, out
    assert "last-known-good" in out, out
    assert "1/1 services up, 1 on the last-known-good image (registry unreachable)" in r.stdout
    assert ids(project) == before
    assert running(project)[f"{project}-api-1"] == ("running", "healthy")
    print(f"berth up with the registry down took {took:.1f}s")
    check_secrets(world, berth, r)


def test_ecr_down_keeps_last_known_good(world, berth, project):
    """The token service failing (5xx) is like the registry being down: keep running."""
    rp = repo("api")
    world.push(rp, version="e-1")
    berth.write(config(project, world, {"api": world.image(rp)}))
    berth.up(env=world.env())
    before = ids(project)
    world.ecr.mode = "error500"
    try:
        r = berth.up(env=world.env(), check=0)
    finally:
        world.ecr.mode = "ok"
    out = r.stdout + r.stderr
    print(out)
    assert "last-known-good" in out, out
    assert ids(project) == before
    check_secrets(world, berth, r)
