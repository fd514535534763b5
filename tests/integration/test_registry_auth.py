"""Issue 3: the other registry logins (basic auth with a password_file, anonymous), pull
progress lines, and pull_policy "missing" / "never" against a real registry."""
import json
import os
import uuid

import pytest

import berth_testlib as lib
from registry_fixture import AWS_UNSET
import registry

HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "10s", retries = 3, '
         'start_period = "30s" }')
USER = "t-reg-user"


@pytest.fixture(scope="module")
def basic_registry():
    pw = "t-reg-basic-" + uuid.uuid4().hex
    reg = registry.Registry(user=USER, password=pw, access_log=True).start()
    reg.test_password = pw
    yield reg
    lib.remove_images_of(reg.addr)
    reg.stop()


@pytest.fixture(scope="module")
def open_registry():
    reg = registry.Registry(auth=False, access_log=True).start()
    yield reg
    lib.remove_images_of(reg.addr)
    reg.stop()


@pytest.fixture
def project():
    p = lib.unique_project("t-reg")
    yield p
    lib.cleanup_project(p)


@pytest.fixture
def env(tmp_path):
    e = {k: None for k in AWS_UNSET}
    e["HOME"] = str(tmp_path)  # no ~/.docker/config.json of the host
    e["AWS_EC2_METADATA_DISABLED"] = "true"
    return e


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


def ids(project):
    return {n: c["Id"] for n, c in lib.containers(project).items()}


def write_password(berth, pw, mode=0o600):
    path = os.path.join(berth.workdir, "registry.password")
    with open(path, "w") as f:
        f.write(pw + "\n")
    os.chmod(path, mode)
    return path


def basic_config(project, reg, image, extra=""):
    return (f'[agent]\nproject = "{project}"\n\n[registries."{reg.addr}"]\nauth = "basic"\n'
            f'username = "{USER}"\npassword_file = "registry.password"\n'
            + service("api", image, extra))


def test_basic_auth_pull(basic_registry, berth, project, env):
    reg = basic_registry
    rp = repo("api")
    digest = lib.push_busybox(reg.addr, rp, "latest", USER, reg.test_password, version="b-1")
    write_password(berth, reg.test_password)
    berth.write(basic_config(project, reg, f"{reg.addr}/{rp}:latest"))
    mark = len(reg.requests())
    r = berth.up(env=env)
    c = lib.containers(project)[f"{project}-api-1"]
    assert c["Config"]["Labels"]["org.berth.image.digest"] == digest
    assert c["State"]["Health"]["Status"] == "healthy"
    # berth's own manifest lookups were authenticated (200), and dockerd pulled with them.
    mine = [x for x in reg.requests()[mark:] if not x[3].startswith("docker/")]
    assert any(m == "HEAD" and s == 200 for m, _, s, _ in mine), mine
    pulls = [x for x in reg.requests()[mark:] if x[3].startswith("docker/") and x[2] == 200]
    assert any(f"/manifests/{digest}" in p for _, p, _, _ in pulls), pulls
    lib.assert_no_secrets([reg.test_password], r.stdout, r.stderr, state_dir=berth.state)


def test_basic_auth_wrong_password_and_open_password_file(basic_registry, berth, project, env):
    reg = basic_registry
    rp = repo("api")
    lib.push_busybox(reg.addr, rp, "latest", USER, reg.test_password, version="b-2")
    write_password(berth, reg.test_password)
    berth.write(basic_config(project, reg, f"{reg.addr}/{rp}:latest"))
    berth.up(env=env)
    before = ids(project)
    lib.push_busybox(reg.addr, rp, "latest", USER, reg.test_password, version="b-3")

    wrong = "t-reg-wrong-" + uuid.uuid4().hex
    write_password(berth, wrong)
    r = berth.up(env=env, check=1)
    print(r.stderr)
    assert reg.addr in r.stderr and f"{rp}:latest" in r.stderr and "credentials" in r.stderr
    assert f"basic (user {USER}" in r.stderr
    assert ids(project) == before
    lib.assert_no_secrets([reg.test_password, wrong], r.stdout, r.stderr, state_dir=berth.state)

    write_password(berth, reg.test_password, mode=0o644)
    r = berth.up(env=env, check=None)
    print(r.stdout + r.stderr)
    assert r.returncode != 0
    assert "registry.password" in r.stderr and "chmod 600" in r.stderr
    assert ids(project) == before
    lib.assert_no_secrets([reg.test_password], r.stdout, r.stderr, state_dir=berth.state)


def test_anonymous_pull_and_progress_lines(open_registry, berth, project, env):
    reg = open_registry
    rp = repo("api")
    digest = lib.push_busybox(reg.addr, rp, "v1", version="a-1")
    # No [registries] table: a loopback registry is plain http and anonymous.
    berth.write(f'[agent]\nproject = "{project}"\n' +
                service("api", f"{reg.addr}/{rp}:v1") + service("web", f"{reg.addr}/{rp}@{digest}"))
    r = berth.up(env=env)
    cs = lib.containers(project)
    assert cs[f"{project}-api-1"]["Config"]["Labels"]["org.berth.image.digest"] == digest
    assert cs[f"{project}-web-1"]["Config"]["Labels"]["org.berth.image.digest"] == digest
    # Progress, not on a terminal: one start line per service pulling, then the result line.
    lines = r.stdout.splitlines()
    starts = [l for l in lines if l.startswith("pulling image for ")]
    assert len(starts) >= 1 and len(starts) == len(set(starts)), lines
    assert any(f"{reg.addr}/{rp}" in l and "pulled" in l for l in lines), lines
    assert lines.index(starts[0]) < min(i for i, l in enumerate(lines) if "created" in l)


def test_pull_policy_missing_and_never(open_registry, berth, project, env):
    reg = open_registry
    rp, absent = repo("api"), repo("absent")
    lib.push_busybox(reg.addr, rp, "latest", version="p-2")  # in the registry
    local_id = lib.import_image(f"{reg.addr}/{rp}:latest", version="p-1",  # another one locally
                                cmd=lib.HTTPD_CMD)
    pushed_absent = lib.push_busybox(reg.addr, absent, "latest", version="p-3")

    # missing + present locally: the local image, no registry request at all.
    berth.write(f'[agent]\nproject = "{project}"\n' +
                service("api", f"{reg.addr}/{rp}:latest", 'pull_policy = "missing"'))
    mark = len(reg.requests())
    r = berth.up(env=env)
    assert lib.containers(project)[f"{project}-api-1"]["Image"] == local_id
    assert reg.requests()[mark:] == []
    assert "pull" not in r.stdout

    # missing + absent: pulled.
    berth.write(f'[agent]\nproject = "{project}"\n' +
                service("api", f"{reg.addr}/{rp}:latest", 'pull_policy = "missing"') +
                service("absent", f"{reg.addr}/{absent}:latest", 'pull_policy = "missing"'))
    r = berth.up(env=env)
    c = lib.containers(project)[f"{project}-absent-1"]
    assert c["State"]["Status"] == "running"
    assert "pulling image for absent" in r.stdout
    assert lib.local_image_id(f"{reg.addr}/{absent}@{pushed_absent}") == c["Image"]

    # never + present: used without asking the registry; never + absent: a clear error.
    gone = repo("gone")
    lib.push_busybox(reg.addr, gone, "latest", version="p-4")
    berth.write(f'[agent]\nproject = "{project}"\n' +
                service("api", f"{reg.addr}/{rp}:latest", 'pull_policy = "never"') +
                service("gone", f"{reg.addr}/{gone}:latest", 'pull_policy = "never"'))
    before = ids(project)
    mark = len(reg.requests())
    r = berth.up(env=env, check=1)
    print(r.stderr)
    assert f"{reg.addr}/{gone}:latest" in r.stderr and '"never"' in r.stderr
    assert reg.requests()[mark:] == []
    assert ids(project)[f"{project}-api-1"] == before[f"{project}-api-1"]
    assert f"{project}-gone-1" not in lib.containers(project)
