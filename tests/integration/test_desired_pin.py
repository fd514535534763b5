"""Issue 5, desired state: the dashboard pins one service to another tag ("roll this server back
to SHA X"). Under `berth run` with `[dashboard] desired_url`, a pin recreates only that service,
from the pinned digest, and the next report shows the new digest; an invalid desired document
changes nothing; removing the pin goes back to the config's tag. Registry: a real docker-registry
with ECR credentials from the strict fakes (EcrWorld); dashboard: tests/fakes/dashboard.py."""
import json
import os
import uuid

import pytest

import berth_testlib as lib
from daemon_fixture import Daemon
from dashboard import DashboardReceiver
from registry_fixture import EcrWorld

TOKEN = "t-pin-dash-6d1f0c9a2b7e4e55"
HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "5s", retries = 3, start_period = "30s" }')


@pytest.fixture(scope="module")
def world():
    w = EcrWorld()
    yield w
    w.close()


@pytest.fixture
def dash():
    d = DashboardReceiver(token=TOKEN).start()
    yield d
    d.stop()


@pytest.fixture
def project():
    p = lib.unique_project("t-pin")
    yield p
    lib.cleanup_project(p)


def config(project, world, port, token_file, images):
    text = f'''[agent]
project = "{project}"
{world.registry_toml()}
[dashboard]
url = "http://127.0.0.1:{port}/api/servers/{{hostname}}"
desired_url = "http://127.0.0.1:{port}/desired/{{hostname}}"
token_file = "{token_file}"
heartbeat = "1h"
'''
    for name, image in images.items():
        text += f'''
[services.{name}]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
'''
    return text


def running(project):
    return {n.rsplit("-", 2)[-2]: (c["Id"], c["Config"]["Labels"].get("org.berth.image.digest"))
            for n, c in lib.containers(project).items() if c["State"]["Status"] == "running"}


def last_digest(dash, service):
    docs = dash.received()["documents"]
    for doc in reversed(docs):
        for s in doc["services"]:
            if s["name"] == service:
                return s["digest"]
    return None


def test_desired_pin_recreates_only_that_service(world, dash, berth, project, tmp_path):
    web, api = f"t-pin-{uuid.uuid4().hex[:6]}/web", f"t-pin-{uuid.uuid4().hex[:6]}/api"
    web_latest = world.push(web, "latest", version="pin-web-1")
    web_pinned = world.push(web, "3f2c9e1", version="pin-web-2")
    api_latest = world.push(api, "latest", version="pin-api-1")
    token_file = tmp_path / "dash-token"
    token_file.write_text(TOKEN + "\n")
    os.chmod(token_file, 0o600)
    berth.write(config(project, world, dash.port, token_file,
                       {"web": world.image(web), "api": world.image(api)}))
    dash.set_desired('{"schema": "berth.desired/v1", "services": {}}')

    env = world.env()
    d = Daemon(berth, str(tmp_path), env=env)
    try:
        d.start()
        d.notify.wait_for("READY=1", timeout=120)
        before = running(project)
        assert before["web"][1] == web_latest and before["api"][1] == api_latest
        lib.wait_for(lambda: last_digest(dash, "web") == web_latest, timeout=30,
                     what="first report with web's digest")

        # The dashboard pins web to the CI's git SHA tag: only web is recreated, from that digest.
        dash.set_desired({"schema": "berth.desired/v1", "services": {"web": {"tag": "3f2c9e1"}}})
        d.cli("update", check=0)
        lib.wait_for(lambda: running(project).get("web", (None, None))[1] == web_pinned,
                     timeout=120, what="web recreated from the pinned digest")
        after = running(project)
        assert after["api"] == before["api"]  # untouched: same container, same digest
        assert after["web"][0] != before["web"][0]
        lib.wait_for(lambda: last_digest(dash, "web") == web_pinned, timeout=30,
                     what="a report with web's pinned digest")
        # Cached (0600) so a reboot without network keeps the pin.
        cache = os.path.join(berth.state, "report", "desired.json")
        assert os.stat(cache).st_mode & 0o077 == 0
        assert json.loads(json.load(open(cache))["body"])["services"]["web"] == {"tag": "3f2c9e1"}

        # An invalid desired document (unknown service) is rejected: nothing changes.
        dash.set_desired({"schema": "berth.desired/v1", "services": {"nosuch": {"tag": "x"}}})
        n = len(d.output())
        d.cli("update", check=0)
        lib.wait_for(lambda: "nosuch" in d.output()[n:], timeout=60,
                     what="the invalid desired document named in the log")
        assert running(project) == after

        # The pin removed: back to the config's tag (latest).
        dash.set_desired({"schema": "berth.desired/v1", "services": {"web": None}})
        d.cli("update", check=0)
        lib.wait_for(lambda: running(project).get("web", (None, None))[1] == web_latest,
                     timeout=120, what="web back on latest")
        assert running(project)["api"] == before["api"]
        r = dash.received()
        assert r["violations"] == [] and r["invalid"] == 0 and r["unauthorized"] == 0
        assert TOKEN not in d.output()
        assert d.stop() == 0
    finally:
        d.close()
