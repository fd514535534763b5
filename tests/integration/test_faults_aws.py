"""Issue 9, faults: AWS credentials misbehaving during an update (fake IMDSv2 -> strict fake ECR
with SigV4 checked by botocore -> registry behind a fault proxy that checks the ECR token).

  * the ECR token expires between berth's tag lookup and dockerd's pull: renewed once, the
    update completes;
  * IMDS throttles (429) the credential fetch and ECR throttles GetAuthorizationToken
    (ThrottlingException): both retried, the deployment completes;
  * the instance role's keys are rotated between two runs (the old ones rejected by ECR): the
    second run signs with the new keys;
  * `berth run` started with the registry configured anonymous (every pull refused) picks up
    the ECR settings from a reload (they used to be read once, at start).
No secret of any of them appears in berth's output or state directory."""
import secrets
import uuid

import berth_testlib as lib
from daemon_fixture import Daemon
from faults_lib import (CMD, auth_proxy, config, images, project, snapshot, started,  # noqa: F401
                        world)


def test_ecr_token_expires_mid_update(world, images, auth_proxy, berth, project):
    proxy = auth_proxy
    before, d2 = started(world, images, proxy, berth, project)
    new_pw = "t-faults-pw2-" + secrets.token_urlsafe(16)
    expired = []

    def expire(method, path):
        # berth has checked the new digest's manifest: the token it holds expires now, and ECR
        # hands out a new one from here on.
        proxy.set_passwords({new_pw})
        world.ecr.password = new_pw
        expired.append(path)
    proxy.add(lambda m, p, ua: m == "GET" and "/manifests/sha256:" in p and
              not proxy.is_docker(ua), "pass", count=1, after=expire)
    ok_before = world.ecr.stats()["ok"]
    r = berth.up(env=world.env(), check=0)
    print(r.stdout + r.stderr)
    assert expired, "berth did not fetch the new manifest"
    # dockerd's first pull attempt carried the expired token and was refused ...
    refused = [e for e in proxy.log()
               if e[3] == 401 and proxy.is_docker(e[4]) and "/manifests/" in e[2]]
    assert refused, proxy.log()
    # ... berth renewed the token once (one ECR call for the run, one renewal) and pulled.
    assert world.ecr.stats()["ok"] - ok_before == 2
    c = snapshot(project)[f"{project}-api-1"]
    assert c[1:] == ("running", d2) and c[0] != before[f"{project}-api-1"][0]
    lib.assert_no_secrets(world.secrets() + [new_pw], r.stdout, r.stderr, state_dir=berth.state)


def test_throttled_imds_and_ecr_then_credentials_rotated(world, images, auth_proxy, berth,
                                                         project):
    proxy = auth_proxy
    throttled0 = world.imds.stats_["throttled"]
    ecr_throttled0 = world.ecr.stats()["rejected"].get("ThrottlingException", 0)
    world.imds.mode, world.imds.mode_count = "throttle", 2
    world.ecr.mode, world.ecr.mode_count = "throttle", 2
    try:
        # berth up #1: IMDS answers 429 twice, then ECR answers ThrottlingException twice.
        before, d2 = started(world, images, proxy, berth, project)
    finally:
        world.imds.mode, world.imds.mode_count = "ok", None
        world.ecr.mode, world.ecr.mode_count = "ok", None
    assert world.imds.stats_["throttled"] - throttled0 == 2
    assert world.ecr.stats()["rejected"].get("ThrottlingException", 0) - ecr_throttled0 == 2

    # The role's credentials rotate; ECR forgets the old key.
    old_key = world.access_key
    new = {"AccessKeyId": "ASIAT" + secrets.token_hex(6).upper(),
           "SecretAccessKey": "t-faults/" + secrets.token_urlsafe(24),
           "Token": "t-faults-session//" + secrets.token_urlsafe(32) + "=="}
    world.ecr.keys[new["AccessKeyId"]] = {"secret": new["SecretAccessKey"], "token": new["Token"]}
    old = world.ecr.keys.pop(old_key)
    world.imds.rotate(new["AccessKeyId"], new["SecretAccessKey"], new["Token"])
    try:
        rejected0 = sum(world.ecr.stats()["rejected"].values())
        r = berth.up(env=world.env(), check=0)
        print(r.stdout + r.stderr)
        assert sum(world.ecr.stats()["rejected"].values()) == rejected0  # never the old key
        c = snapshot(project)[f"{project}-api-1"]
        assert c[1:] == ("running", d2) and c[0] != before[f"{project}-api-1"][0]
        lib.assert_no_secrets(world.secrets() + [new["SecretAccessKey"], new["Token"]],
                              r.stdout, r.stderr, state_dir=berth.state)
    finally:
        world.ecr.keys.pop(new["AccessKeyId"], None)
        world.ecr.keys[old_key] = old
        world.imds.rotate(old_key, world.secret_key, world.session_token)


def test_reload_applies_new_registry_settings(world, images, berth, project, tmp_path):
    tag = "r" + uuid.uuid4().hex[:8]
    d1 = images.tag(tag, "v1")
    image = f"{world.addr}/{images.repo}:{tag}"
    berth.write(f'[agent]\nproject = "{project}"\n\n[registries."{world.addr}"]\nauth = "none"\n'
                f'\n[services.api]\nimage = "{image}"\ncommand = {CMD}\n')
    env = world.env()
    d = Daemon(berth, str(tmp_path), env=env)
    try:
        d.start()
        n = d.notify.wait_for("READY=1", timeout=60)
        assert lib.containers(project) == {}  # anonymous: the registry refused the image
        ok0 = world.ecr.stats()["ok"]
        berth.write(config(project, world.addr, {"api": image}))
        d.cli("reload", check=0)
        d.notify.wait_for("READY=1", start=n, timeout=60)
        assert snapshot(project)[f"{project}-api-1"][1:] == ("running", d1)
        assert world.ecr.stats()["ok"] > ok0
        assert d.stop() == 0
        out = d.output()
    finally:
        d.close()
    print(out)
    assert "requires authentication" in out
    lib.assert_no_secrets(world.secrets(), out, state_dir=berth.state)
