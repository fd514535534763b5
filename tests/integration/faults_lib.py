"""Shared by the fault tests (issue 9): a registry world with ECR credentials, two runnable
images pushed once per module, a fault proxy per test, and a stack started on v1 whose tag
has moved to v2 (see test_faults_registry.py)."""
import base64
import hashlib
import json
import urllib.request
import uuid

import pytest

import berth_testlib as lib
import registry
from fault_proxy import FaultProxy
from registry_fixture import ACCOUNT, REGION, EcrWorld

CMD = json.dumps(["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"])


@pytest.fixture(scope="module")
def world():
    w = EcrWorld()
    yield w
    w.close()


class Images:
    """Two runnable images (v1, v2) pushed once per module; a test points a fresh tag of its own
    at v1, then moves it to v2 through the registry API (no docker push per test)."""

    def __init__(self, world):
        self.world = world
        self.repo = f"t-faults-{uuid.uuid4().hex[:6]}/api"
        self.manifests = {}
        for v in ("v1", "v2"):
            digest = world.push(self.repo, v, version="faults-" + v, cmd=json.loads(CMD))
            req = urllib.request.Request(
                f"{world.registry.url}/v2/{self.repo}/manifests/{v}",
                headers={"Accept": registry.MT_MANIFEST,
                         "Authorization": "Basic " + base64.b64encode(
                             ("AWS:" + world.password).encode()).decode()})
            with urllib.request.urlopen(req, timeout=30) as r:
                body, mt = r.read(), r.headers["Content-Type"]
            assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
            self.manifests[v] = (body, mt, digest)

    def tag(self, tag, version):
        body, mt, digest = self.manifests[version]
        registry.push_manifest(self.world.addr, self.repo, tag, body, mt, "AWS",
                               self.world.password)
        return digest


@pytest.fixture(scope="module")
def images(world):
    return Images(world)


@pytest.fixture
def proxy(world):
    p = FaultProxy(world.registry.url).start()
    yield p
    p.clear()
    p.stop()
    lib.remove_images_of(p.addr)


@pytest.fixture
def project():
    p = lib.unique_project("t-faults")
    yield p
    lib.cleanup_project(p)


def config(project, addr, services, agent_extra=""):
    text = (f'[agent]\nproject = "{project}"\n{agent_extra}\n'
            f'[registries."{addr}"]\nauth = "ecr"\naccount = "{ACCOUNT}"\nregion = "{REGION}"\n')
    for name, image in services.items():
        text += f'\n[services.{name}]\nimage = "{image}"\ncommand = {CMD}\n'
    return text


def snapshot(project):
    """{container name: (id, state, digest label)}"""
    return {n: (c["Id"], c["State"]["Status"], c["Config"]["Labels"].get("org.berth.image.digest"))
            for n, c in lib.containers(project).items()}


def started(world, images, proxy, berth, project, agent_extra=""):
    """A running api on v1 (pulled through the proxy), its tag moved to v2 in the registry;
    returns (snapshot before, digest of v2)."""
    tag = "t" + uuid.uuid4().hex[:8]
    d1 = images.tag(tag, "v1")
    berth.write(config(project, proxy.addr, {"api": f"{proxy.addr}/{images.repo}:{tag}"},
                       agent_extra))
    berth.up(env=world.env())
    before = snapshot(project)
    assert before[f"{project}-api-1"][1:] == ("running", d1)
    return before, images.tag(tag, "v2")


def assert_untouched(project, before):
    assert snapshot(project) == before


def assert_clear_error(r, proxy, *words):
    print(r.stdout + r.stderr)
    assert r.returncode == 1
    assert proxy.addr in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)
    assert "0/1 services up, 1 kept on the previous image" in r.stderr


def converges(world, berth, project, d2):
    r = berth.up(env=world.env(), check=0)
    c = snapshot(project)[f"{project}-api-1"]
    assert c[1:] == ("running", d2)
    return r


@pytest.fixture
def auth_proxy(world):
    """A fault proxy that checks the ECR password itself (world.password at first) and sends
    the registry's own credentials upstream: set_passwords() expires a token at once."""
    p = FaultProxy(world.registry.url, auth=("AWS", {world.password}),
                   backend_auth=("AWS", world.password)).start()
    yield p
    p.clear()
    p.stop()
    world.ecr.password = world.password
    lib.remove_images_of(p.addr)
