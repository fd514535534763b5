"""Issue 22: hostile or broken peers. A registry (tests/fakes/registry.py HostileFront in front of
a real docker-registry) that serves a deeply nested index, a manifest flood, a manifest that does
not match its digest, a Bearer realm on another host over plain http, an oversized token; an IMDS
that floods its token answer. Each ends in a clear error (the exact message), no crash (`berth up`
exits 1, not by a signal), the running stack untouched, and berth's peak RSS bounded (measured
with wait4; printed, and checked against a generous bound, never a time)."""
import hashlib
import os
import subprocess
import tempfile
import uuid

import pytest

import berth_testlib as lib
import registry
from registry_fixture import EcrWorld

HTTPD = '["/bin/sh", "-c", "trap \'exit 0\' TERM; httpd -f -p 8080 -h /www & wait"]'
# Peak RSS a hostile answer may add over berth's own no-op `up` (the limits are 4 MiB for a
# manifest, 64 KiB for a token or IMDS answer; the rest is slack for the allocator).
MAX_GROWTH_KB = 16 * 1024


def run_measured(berth, args, env=None, timeout=240):
    """Runs `berth ARGS --config ... --state-dir ...` under GNU time; returns (exit code, stdout,
    stderr, peak RSS of berth in KiB). time forks and execs berth, so the figure is berth's own
    (a child forked straight from pytest would inherit pytest's RSS high-water mark)."""
    e = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    with tempfile.NamedTemporaryFile("r") as rss:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss.name, lib.berth_bin(), *args,
               "--config", berth.config, "--state-dir", berth.state]
        r = subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout)
        lines = rss.read().split()
    # time reports a signal as "Command terminated by signal N" and exits 128 + N.
    assert "signal" not in lines, f"berth {args} was killed: {lines}\n{r.stdout}{r.stderr}"
    return r.returncode, r.stdout, r.stderr, int(lines[-1])


@pytest.fixture
def hostile():
    backend = registry.Registry(auth=False).start()
    front = registry.HostileFront(backend.url).start()
    yield backend, front
    front.stop()
    lib.remove_images_of(front.addr)
    lib.remove_images_of(backend.addr)
    backend.stop()


def config(project, front, password_file, image):
    return f'''[agent]
project = "{project}"

[registries."{front.addr}"]
auth = "basic"
username = "hostile-user"
password_file = "{password_file}"

[services.web]
image = "{image}"
command = {HTTPD}
'''


def web(project):
    c = lib.containers(project).get(f"{project}-web-1")
    assert c is not None, "the web container is gone"
    return c["Id"], c["State"]["Status"]


def test_hostile_registry(hostile, berth, project, tmp_path):
    backend, front = hostile
    repo = f"t-hostile-{uuid.uuid4().hex[:6]}/web"
    digest = lib.push_busybox(backend.addr, repo, "v1", version="hostile-1")
    pw = tmp_path / "registry.password"
    pw.write_text("hostile-secret-0123456789\n")
    os.chmod(pw, 0o600)
    image = f"{front.addr}/{repo}:v1"
    berth.write(config(project, front, pw, image))

    rc, out, err, first_kb = run_measured(berth, ["up"])
    assert rc == 0, out + err
    before = web(project)
    assert before[1] == "running"
    rc, out, err, base_kb = run_measured(berth, ["up"])  # no-op: the baseline
    assert rc == 0, out + err
    assert web(project) == before

    name = f"{front.addr}/{repo}"
    fake = {m: "sha256:" + hashlib.sha256(("hostile " + m).encode()).hexdigest()
            for m in ("flood_manifest", "mismatch")}
    real_manifest = registry._request(
        "GET", f"{backend.url}/v2/{repo}/manifests/{digest}", None, None,
        headers={"Accept": registry.MT_MANIFEST})[2]
    actual = "sha256:" + hashlib.sha256(real_manifest).hexdigest()
    deep_digest = "sha256:" + hashlib.sha256(front.deep_index(1000000)).hexdigest()
    cases = [
        ({"mode": "deep_index"},
         f"image {image} not pulled: registry {front.addr} served a manifest for "
         f"{name}@{deep_digest} nested deeper than 64 levels"),
        ({"mode": "flood_manifest"},
         f"image {image} not pulled: registry {front.addr}: answer from "
         f"http://{front.addr}/v2/{repo}/manifests/{fake['flood_manifest']} larger than 4 MiB "
         "(the limit for a registry manifest); transfer aborted"),
        ({"mode": "mismatch", "body": real_manifest},
         f"image {image} not pulled: registry {front.addr} served a manifest for "
         f"{name}@{fake['mismatch']} whose sha256 is {actual}: the content does not match its "
         "digest"),
        ({"mode": "realm_other"},
         f"registry {front.addr}: Bearer realm {front.realm_url} refused: a token service gets "
         "the registry credentials, so it must be https (or the registry's own host when the "
         "registry itself is plain http on loopback); no credentials were sent"),
        ({"mode": "big_token"},
         f"registry {front.addr}: token service http://{front.addr}/token: answer from "
         f"http://{front.addr}/token larger than 64 KiB (the limit for a token service answer); "
         "transfer aborted"),
    ]
    figures = {"no-op up (baseline)": base_kb, "first up (pull)": first_kb}
    for mode, message in cases:
        front.mode = mode
        rc, out, err, peak_kb = run_measured(berth, ["up"])
        figures[mode["mode"]] = peak_kb
        assert rc == 1, f"{mode['mode']}: exit {rc} (a negative code is a signal)\n{out}{err}"
        assert f"error: web: {message}\n" in err, f"{mode['mode']}:\n{err}"
        assert web(project) == before, mode["mode"]  # the running stack is untouched
        assert "hostile-secret" not in out + err
        assert peak_kb - base_kb < MAX_GROWTH_KB, (mode["mode"], peak_kb, base_kb)
    assert front.stats["realm_requests"] == 0  # nothing, credentials least of all
    assert front.stats["realm_credentials"] == 0
    # The floods were cut off by berth, not sent whole.
    assert front.stats["flood_bytes_sent"] < 64 << 20
    print("\npeak RSS of `berth up` (KiB):", figures)

    front.mode = {"mode": "ok"}
    rc, out, err, _ = run_measured(berth, ["up"])
    assert rc == 0, out + err
    assert web(project) == before


@pytest.fixture(scope="module")
def world():
    w = EcrWorld()
    yield w
    w.close()


def test_imds_flood(world, berth, project):
    repo = f"t-hostile-{uuid.uuid4().hex[:6]}/imds"
    world.push(repo, "latest", version="imds-1")
    berth.write(f'''[agent]
project = "{project}"
{world.registry_toml()}
[services.web]
image = "{world.image(repo)}"
command = {HTTPD}
''')
    env = world.env()
    rc, out, err, base_kb = run_measured(berth, ["up"], env=env)
    assert rc == 0, out + err
    before = web(project)

    world.imds.handle_control("POST", "mode", {"mode": "flood", "bytes": 16 << 20})
    try:
        rc, out, err, peak_kb = run_measured(berth, ["up"], env=env)
    finally:
        world.imds.handle_control("POST", "mode", {"mode": "ok"})
    assert rc == 1, out + err
    expected = (f"instance metadata session token: answer from {world.imds.url}/latest/api/token "
                "larger than 64 KiB (the limit for an instance metadata answer); transfer aborted")
    lines = [l for l in err.splitlines() if l.startswith("error: web: ")]
    assert lines and expected in lines[0], err
    assert web(project) == before
    sent = world.imds.handle_control("GET", "stats", {})[1]["flood_bytes_sent"]
    assert sent < 16 << 20  # cut off, once (not retried)
    assert peak_kb - base_kb < MAX_GROWTH_KB, (peak_kb, base_kb)
    lib.assert_no_secrets(world.secrets(), out, err)
    print(f"\npeak RSS of `berth up` (KiB): baseline {base_kb}, IMDS flood {peak_kb}; "
          f"IMDS sent {sent} bytes before berth hung up")
