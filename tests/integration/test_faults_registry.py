"""Issue 9, faults: the registry misbehaving while `berth up` updates a running stack.

A fault proxy (tests/fakes/fault_proxy.py) sits between berth/dockerd and a real registry with
ECR credentials (registry_fixture.EcrWorld): berth's manifest lookups and dockerd's pulls both
go through it, so a fault can hit exactly one step of an update. Every scenario starts from a
running stack on version 1 with version 2 pushed, and ends either converged on version 2 after
a retry or with a clear error (exit 1) naming the registry and the old containers untouched
(same container IDs, still running): never a half-updated stack."""
import time
import tomllib

import berth_testlib as lib
from fault_proxy import FaultProxy
from faults_lib import (assert_clear_error, assert_untouched, converges, images, project,  # noqa: F401
                        proxy, snapshot, started, world)


def test_429_with_retry_after_then_5xx_then_success(world, images, proxy, berth, project):
    """A throttled registry (429, Retry-After: 3) and then a failing one (503): both retried,
    the first scheduled after the time the registry asked for; the update completes."""
    before, d2 = started(world, images, proxy, berth, project)
    proxy.add(FaultProxy.berth_manifest, "status", status=429, count=1,
              headers={"Retry-After": "3"},
              body=b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}')
    proxy.add(FaultProxy.berth_manifest, "status", status=503, count=1)
    r = berth.up(env=world.env(), check=0)
    out = r.stdout + r.stderr
    print(out)
    assert proxy.fired() == 2
    assert "HTTP 429, retry after 3 s) (attempt 1/3, retrying in 3000 ms)" in out, out
    assert "HTTP 503) (attempt 2/3" in out, out
    # The retry was scheduled by the registry's Retry-After (the message above), and the next
    # request after the 429 is the retry (no wall-clock assertion: tests/README.md).
    log = [e for e in proxy.log() if FaultProxy.berth_manifest(e[1], e[2], e[4])]
    i = next(i for i, e in enumerate(log) if e[3] == 429)
    assert log[i + 1][3] == 503, log
    c = snapshot(project)[f"{project}-api-1"]
    assert c[1:] == ("running", d2) and c[0] != before[f"{project}-api-1"][0]
    lib.assert_no_secrets(world.secrets(), r.stdout, r.stderr, state_dir=berth.state)


def test_5xx_that_does_not_end_keeps_last_known_good(world, images, proxy, berth, project):
    """A registry that keeps failing is "unreachable": the running image is kept (exit 0, the
    documented offline behaviour), nothing is recreated, and it converges once it recovers."""
    before, d2 = started(world, images, proxy, berth, project)
    proxy.add(FaultProxy.berth_manifest, "status", status=500)
    r = berth.up(env=world.env(), check=0)
    print(r.stdout + r.stderr)
    assert proxy.fired() == 3  # three attempts, then the offline path
    assert "last-known-good" in r.stdout + r.stderr and proxy.addr in r.stdout + r.stderr
    assert "1/1 services up, 1 on the last-known-good image (registry unreachable)" in r.stdout
    assert_untouched(project, before)
    proxy.clear()
    converges(world, berth, project, d2)


def test_registry_goes_down_mid_update(world, images, proxy, berth, project):
    """The tag resolves to a new digest, then the registry stops accepting connections before
    dockerd pulls: a clear error naming the registry, the old container keeps running."""
    before, d2 = started(world, images, proxy, berth, project)
    # Let berth's tag lookup through, then go down for everything that follows.
    heads = []

    def after_head(method, path):
        heads.append(path)
        proxy.add(FaultProxy.any_registry, "down")
    proxy.add(lambda m, p, ua: m == "HEAD" and "/manifests/t" in p and
              not FaultProxy.is_docker(ua), "pass", count=1, after=after_head)
    r = berth.up(env=world.env(), check=1)
    assert heads, "berth did not look the tag up"
    assert_clear_error(r, proxy, "pull")
    assert_untouched(project, before)
    proxy.clear()
    proxy.resume()
    converges(world, berth, project, d2)


def test_corrupt_manifest_is_refused(world, images, proxy, berth, project):
    """dockerd gets manifest bytes that do not hash to the digest berth resolved."""
    before, d2 = started(world, images, proxy, berth, project)
    proxy.add(lambda m, p, ua: FaultProxy.docker_manifest(m, p, ua) and m == "GET" and
              "/manifests/sha256:" in p, "corrupt")
    r = berth.up(env=world.env(), check=1)
    assert proxy.fired() >= 1
    assert_clear_error(r, proxy, d2[7:19])
    # The exact error: the service, the tag and digest it resolved, the registry, and dockerd's
    # verdict on the bytes it got for that digest.
    with open(berth.config, "rb") as f:
        ref = tomllib.load(f)["services"]["api"]["image"]
    repo = ref.rsplit(":", 1)[0]
    assert (f"error: api: pull {ref} ({d2[7:19]}) from {proxy.addr}: docker: pull {repo}@{d2}: "
            f"manifest verification failed for digest {d2}") in r.stderr.splitlines(), r.stderr
    assert_untouched(project, before)
    assert lib.local_image_id(f"{proxy.addr}/{images.repo}@{d2}") is None
    proxy.clear()
    converges(world, berth, project, d2)


def test_stalled_pull_is_aborted(world, images, proxy, berth, project):
    """The registry accepts the layer request and then sends nothing: the pull is abandoned
    after [agent] pull_inactivity_timeout (retried, then an error); the old container runs."""
    before, d2 = started(world, images, proxy, berth, project,
                         agent_extra='pull_inactivity_timeout = "1s"')
    proxy.add(FaultProxy.docker_blob, "stall")
    t0 = time.time()
    r = berth.up(env=world.env(), check=1, timeout=120)
    print(f"berth up against a stalled registry took {time.time() - t0:.1f}s")
    assert proxy.fired("stall") >= 1
    assert_clear_error(r, proxy, "stalled: no progress for 1s")
    assert_untouched(project, before)
    proxy.clear()
    converges(world, berth, project, d2)
