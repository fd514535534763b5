"""Issue 9, secret hygiene, with the dashboard slow and cutting answers mid-body and the AWS
credentials rotating under a running daemon.

One `berth run` (private D-Bus, sd_notify) deploys and then updates an image from a registry that
takes only the ECR token (behind a fault proxy that checks it), with AWS keys from the fake IMDS,
and reports to a fake dashboard with a bearer token. Before the update, the ECR token expires,
the instance role's keys rotate (ECR forgets the old key) and the IMDSv2 session token expires:
the daemon must renew the ECR token, find its cached keys refused, get a new IMDS token, fetch
the new keys once, and update. The dashboard cuts its first
answer mid-body (the report was recorded: the retry must be deduplicated, not counted twice)
and answers slowly during the update. Every secret value (old and new) is recognisable and
searched for in everything berth produced: the daemon's output, the CLI's output, D-Bus
replies, the state directory (state, report spool), the reports the dashboard received, and the
container's configuration: zero hits. The state directory and the report spool are private
(0700, files 0600).

Also: a dashboard token file readable by group/others makes `berth run` and `berth check-config`
refuse the configuration (exit 78) with the file named and the fix, not the token."""
import json
import os
import secrets
import stat
import uuid

import pytest

import berth_testlib as lib
from daemon_fixture import Daemon
from dashboard import DashboardReceiver
from faults_lib import (auth_proxy, config, images, project, snapshot,  # noqa: F401
                        world)

BUS = ("org.berth.Agent1", "/org/berth/Agent1", "org.berth.Agent1")


def dashboard_config(project, addr, image, dash, token_file):
    return (config(project, addr, {"api": image}, 'config_version = "t-faults-1"') +
            f'\n[dashboard]\nurl = "{dash.url}/api/servers/{{hostname}}/containers"\n'
            f'token_file = "{token_file}"\n')


def write_token(tmp_path, token, mode):
    path = os.path.join(str(tmp_path), "dashboard.token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, mode)
    return path


def private_files(root):
    """Every directory/file under root whose mode lets group/others in."""
    bad = []
    for d, dirs, files in os.walk(root):
        for name in [d] + [os.path.join(d, f) for f in files]:
            m = stat.S_IMODE(os.lstat(name).st_mode)
            if m & 0o077:
                bad.append((name, oct(m)))
    return bad


def rotate_everything(world, proxy):
    """The ECR token berth holds expires, and the role's keys rotate (the old key is revoked).
    Returns the new secrets and an undo function."""
    new_pw = "t-faults-pw3-" + secrets.token_urlsafe(16)
    proxy.set_passwords({new_pw})
    world.ecr.password = new_pw
    old_key = world.access_key
    ak = "ASIAT" + secrets.token_hex(6).upper()
    sk = "t-faults/" + secrets.token_urlsafe(24)
    st = "t-faults-session//" + secrets.token_urlsafe(32) + "=="
    world.ecr.keys[ak] = {"secret": sk, "token": st}
    old = world.ecr.keys.pop(old_key)
    world.imds.rotate(ak, sk, st)
    with world.imds.lock:
        world.imds.tokens.clear()  # and the IMDSv2 session token berth holds expires too

    def undo():
        world.ecr.keys.pop(ak, None)
        world.ecr.keys[old_key] = old
        world.imds.rotate(old_key, world.secret_key, world.session_token)
        world.ecr.password = world.password
    return [new_pw, sk, st], undo


def test_full_update_leaks_no_secret(world, images, auth_proxy, berth, project, tmp_path):
    proxy = auth_proxy
    token = "t-faults-dash-" + secrets.token_urlsafe(24)
    dash = DashboardReceiver(token=token).start()
    dash.set_mode("cut", count=1)
    tag = "s" + uuid.uuid4().hex[:8]
    d1 = images.tag(tag, "v1")
    image = f"{proxy.addr}/{images.repo}:{tag}"
    berth.write(dashboard_config(project, proxy.addr, image, dash,
                                 write_token(tmp_path, token, 0o600)))
    env = world.env()
    d = Daemon(berth, str(tmp_path), env=env)
    outputs = []
    undo = None
    try:
        d.start()
        d.notify.wait_for("READY=1", timeout=60)
        assert snapshot(project)[f"{project}-api-1"][1:] == ("running", d1)

        # The update, with the ECR token expired, the role's keys rotated and the dashboard
        # answering slowly.
        dash.set_mode("slow", delay=1.5, count=2)
        d2 = images.tag(tag, "v2")
        ecr0 = world.ecr.stats()
        imds0 = dict(world.imds.stats_)
        new_secrets, undo = rotate_everything(world, proxy)
        outputs.append(d.cli("update", check=0))
        lib.wait_for(lambda: snapshot(project).get(f"{project}-api-1", (0, 0, 0))[1:] ==
                     ("running", d2), timeout=60, what="api updated by the daemon")

        def reported():
            docs = dash.received()["documents"]
            return docs and any(e["kind"] == "update_finished" for doc in docs
                                for e in doc["events"]) and docs[-1]
        lib.wait_for(reported, timeout=30, what="the update reported to the dashboard")
        outputs.append(d.cli("status", "--json", check=0))
        outputs.append(d.cli("status", check=0))
        for prop in ("Services", "State", "ConfigVersion"):
            outputs.append(d.bus.busctl("--json=short", "get-property", *BUS, prop))
        outputs.append(d.bus.busctl("introspect", BUS[0], BUS[1]))
        assert d.stop() == 0
        log = d.output()
        ecr1 = world.ecr.stats()
        imds1 = dict(world.imds.stats_)
    finally:
        d.close()
        dash.stop()
        if undo:
            undo()

    rec = dash.received()
    print(log)
    # Reports: in order, the cut one deduplicated, nothing unauthorized or invalid.
    assert rec["violations"] == [] and rec["unauthorized"] == 0 and rec["invalid"] == 0
    assert rec["duplicates"] >= 1
    seqs = [doc["sequence"] for doc in rec["documents"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    ids = [e["id"] for e in rec["events"]]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    last = {s["name"]: s for s in rec["documents"][-1]["services"]}
    assert last["api"]["digest"] == d2

    # The old keys were refused once, the new ones fetched and used for the new token.
    rejected = {k: v - ecr0["rejected"].get(k, 0) for k, v in ecr1["rejected"].items()}
    assert {k: v for k, v in rejected.items() if v} == {"UnrecognizedClientException": 1}
    assert ecr1["ok"] - ecr0["ok"] == 1
    # The expired IMDSv2 token was refused once and replaced (one new PUT).
    assert imds1["unauthorized"] - imds0["unauthorized"] == 1
    assert imds1["token_puts"] - imds0["token_puts"] == 1
    assert imds1["creds_served"] - imds0["creds_served"] == 1

    # Not a single secret anywhere.
    secret_values = world.secrets() + new_secrets + [token]
    texts = [log] + [o.stdout + o.stderr for o in outputs]
    texts.append(json.dumps(rec))
    texts.append(lib.docker("inspect", f"{project}-api-1"))
    lib.assert_no_secrets(secret_values, *texts, state_dir=berth.state)
    # State directory and spool: private.
    assert private_files(berth.state) == []
    assert os.path.isdir(os.path.join(berth.state, "report"))


def test_token_file_readable_by_others_is_refused(world, berth, project, tmp_path):
    token = "t-faults-dash-" + secrets.token_urlsafe(24)
    dash = DashboardReceiver(token=token).start()
    try:
        path = write_token(tmp_path, token, 0o644)
        berth.write(dashboard_config(project, world.addr, f"{world.addr}/t-faults-none/api:v1",
                                     dash, path))
        r = berth.run("check-config", berth.config, check=78)
        # The fakes' endpoints although berth must stop at the token file: were it to go on,
        # it would ask the fake ECR, not AWS (the metadata guard, tests/README.md).
        d = Daemon(berth, str(tmp_path), env=world.env(), bus=False)
        try:
            d.start(expect=78)
            assert d.proc.wait(timeout=30) == 78
            out = d.output()
        finally:
            d.close()
    finally:
        dash.stop()
    print(r.stderr + out)
    for text in (r.stderr, out):
        assert f"dashboard token file {path} has mode 0644" in text
        assert f"chmod 600 {path}" in text
    assert "not starting (exit 78)" in out
    assert dash.received()["requests"] == 0 and lib.containers(project) == {}
    lib.assert_no_secrets([token], r.stdout, r.stderr, out, state_dir=berth.state)


@pytest.fixture(autouse=True)
def _no_credentials_directory(monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
