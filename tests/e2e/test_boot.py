"""Issue 7: a real systemd boots with berth installed from its .deb.

A Debian 12 root (debootstrap, cached in $BERTH_BUILD_DIR/e2e-cache) with the built .deb
installed by dpkg boots systemd in a container ("the server"). berth.service starts at boot
with no manual step and talks to the HOST's Docker through the mounted socket. Around it, on
127.0.0.1: a real registry with htpasswd auth (ECR's AWS:<token> login), the fake ECR API, the
fake IMDSv2 (instance role credentials, region, instance id) and the dashboard receiver.

The tests run in order against one booted server: boot -> healthy -> reported; journald fields;
D-Bus; `systemctl reload` after a pinned tag changes; a new `latest` and a server restart;
the token-file fallback; last, no secret in any journal field after a crash.

Set BERTH_E2E_SKIP=1 to skip (e.g. a machine without a Debian mirror): without it, an
unreachable mirror fails the test with the URL it tried.
"""
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))
sys.path.insert(0, str(HERE.parent / "fakes"))

import berth_process  # noqa: E402
import berth_testlib as lib  # noqa: E402
import e2e_guest as eg  # noqa: E402

pytestmark = pytest.mark.skipif(eg.skip_requested(), reason="BERTH_E2E_SKIP=1")

RUN = uuid.uuid4().hex[:8]
PROJECT = f"t-e2e-{RUN}"
GUEST = f"t-e2e-guest-{RUN}"
GUEST_IMAGE = f"t-e2e-guest-{RUN}:latest"
ECR_PASSWORD = "ecr-" + secrets.token_hex(12)
DASH_TOKEN = "dash-" + secrets.token_hex(12)
INSTANCE_ID = "i-0e2e0123456789abc"
REGION = "us-east-1"
ACCOUNT = "123456789012"
SHA1, SHA2 = "3f2c9e1", "7a1b2c3"  # the pinned "git SHA" tags of the metrics service

BOOT_TIMEOUT = 90
ACTIVE_TIMEOUT = 180  # the first start pulls the images before READY=1
HEALTHY_TIMEOUT = 120

HTTPD = '["/bin/sh", "-c", "trap \'exit 0\' TERM; httpd -f -p {port} -h /www & wait"]'
CHECK = ('{{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:{port}/"], '
         'interval = "2s", timeout = "20s", retries = 3 }}')  # generous: CI machines are loaded

# No `logging` in the stack (issue 15): berth's host (the guest) runs journald, the engine's host
# (outside the guest) does not, and dockerd refuses the journald driver there. The default must
# come from the engine (GET /info LoggingDriver), not from the host berth runs on.


# ---- the world around the server -------------------------------------------------------------
class World:
    pass


def _push(reg, repo, tag, version, docker_config):
    """A busybox image (distinct per `version`) pushed to the registry; returns its digest."""
    local = f"{reg.addr}/{repo}:{tag}"
    lib.import_image(local, version=version)
    env = dict(os.environ, DOCKER_CONFIG=docker_config)
    out = eg.run("docker", "push", local, env=env, timeout=180).stdout
    m = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
    assert m, out
    eg.run("docker", "image", "rm", local, check=False)  # the host must pull it through berth
    return m.group(1)


@pytest.fixture(scope="module")
def world():
    from dashboard import DashboardReceiver
    from fake_ecr import FakeEcr
    from fake_imds import FakeImds
    from registry import Registry

    w = World()
    w.imds = FakeImds(region=REGION, account=ACCOUNT)
    w.imds.identity["instanceId"] = INSTANCE_ID
    creds = w.imds.creds
    w.ecr = FakeEcr(keys={creds["AccessKeyId"]: {"secret": creds["SecretAccessKey"],
                                                 "token": creds["Token"]}},
                    password=ECR_PASSWORD, account=ACCOUNT, region=REGION)
    w.reg = Registry(password=ECR_PASSWORD)
    w.dash = DashboardReceiver(token=DASH_TOKEN)
    started = []
    try:
        for s in (w.imds, w.ecr, w.reg, w.dash):
            s.start()
            started.append(s)
        w.docker_config = tempfile.mkdtemp(prefix="t-e2e-dockercfg-")
        eg.run("docker", "login", "-u", "AWS", "--password-stdin", w.reg.addr,
               input=ECR_PASSWORD, env=dict(os.environ, DOCKER_CONFIG=w.docker_config))
        w.repo_logs = f"{PROJECT}/logs"
        w.repo_metrics = f"{PROJECT}/metrics"
        w.digests = {
            "logs:latest": _push(w.reg, w.repo_logs, "latest", f"{RUN}-logs-1", w.docker_config),
            "metrics:" + SHA1: _push(w.reg, w.repo_metrics, SHA1, f"{RUN}-metrics-1",
                                     w.docker_config),
            "metrics:" + SHA2: _push(w.reg, w.repo_metrics, SHA2, f"{RUN}-metrics-2",
                                     w.docker_config),
        }
        yield w
    finally:
        for s in reversed(started):
            s.stop()
        if getattr(w, "docker_config", None):
            subprocess.run(["rm", "-rf", w.docker_config])


def berth_toml(w, metrics_tag, token_file=None):
    return f'''# written by tests/e2e/test_boot.py
[agent]
project = "{PROJECT}"
config_version = "e2e-{RUN}"

[dashboard]
url = "{w.dash.url}/api/servers/{{instance_id}}/containers"
heartbeat = "5s"
{f'token_file = "{token_file}"' if token_file else ""}

[registries."{w.reg.addr}"]
auth = "ecr"
account = "{ACCOUNT}"
region = "{REGION}"
insecure = true

[services.logs]
image = "{w.reg.addr}/{w.repo_logs}:latest"
command = {HTTPD.format(port=9000)}
healthcheck = {CHECK.format(port=9000)}

[services.metrics]
image = "{w.reg.addr}/{w.repo_metrics}:{metrics_tag}"
command = {HTTPD.format(port=9001)}
healthcheck = {CHECK.format(port=9001)}
depends_on = {{ logs = "service_healthy" }}
restart = "unless-stopped"
'''


def dropin(w):
    # The AWS SDK environment pointing at the fakes (as an operator's drop-in would for a VPC
    # endpoint); the credentials themselves come from the fake IMDS's instance role.
    return f'''[Service]
Environment=AWS_EC2_METADATA_SERVICE_ENDPOINT={w.imds.url}
Environment=AWS_ENDPOINT_URL_ECR={w.ecr.url}
'''


# Crashes of berth.service the tests cause on purpose (the last test's SIGSEGV).
CAUSED_CRASHES = []


def guard_guest(world):
    """The metadata guard of berth_process.py for the guest's berth: the drop-in's environment
    and berth.toml point at the fakes on 127.0.0.1 only."""
    env = {}
    for line in dropin(world).splitlines():
        if line.startswith("Environment="):
            k, v = line[len("Environment="):].split("=", 1)
            env[k] = v
    with tempfile.NamedTemporaryFile("w", prefix="t-e2e-guard-", suffix=".toml") as f:
        f.write(berth_toml(world, SHA1))
        f.flush()
        berth_process.guard(env, ["--config", f.name])


def record_guest_berth(g):
    """berth.service of the guest as a berth process of this module: its journal is scanned for
    sanitizer reports, and every exit of its main process systemd recorded must be a clean one
    or a crash a test caused (berth_process.py checks it at the end of the session)."""
    if not g.running():
        lib.record_finished("berth.service in the e2e guest", "guest not running at the end",
                            g.logs())
        return
    journal = g.exec("journalctl", "-u", "berth", "--no-pager", check=False, timeout=120).stdout
    exits = re.findall(r"berth\.service: Main process exited, code=(\w+), status=(\S+)", journal)
    unexpected = [e for e in exits if e != ("exited", "0/SUCCESS")]
    for _ in CAUSED_CRASHES:  # systemd says code=dumped or code=killed, status=11/SEGV
        segv = [e for e in unexpected if e[1] == "11/SEGV"]
        if segv:
            unexpected.remove(segv[0])
    rc = 0 if not unexpected else f"unexpected exits of berth.service: {unexpected}"
    lib.record_finished("berth.service in the e2e guest", rc, journal, expect=0)


@pytest.fixture(scope="module")
def guest(world):
    guard_guest(world)
    with eg.phase("build the .deb"):
        deb = eg.build_deb()
    with eg.phase("root file system image"):
        base = eg.rootfs_image(eg.deb_depends(deb))
    with eg.phase("install the .deb (image build)"):
        eg.guest_image(base, deb, GUEST_IMAGE)
    g = eg.Guest(GUEST_IMAGE, GUEST)
    try:
        g.create({
            "/etc/berth/berth.toml": (berth_toml(world, SHA1), 0o644),
            # root-only: berth reads it as the systemd credential "dashboard-token".
            "/etc/berth/dashboard.token": (DASH_TOKEN + "\n", 0o600),
            "/etc/systemd/system/berth.service.d/e2e.conf": (dropin(world), 0o644),
        })
        g.start()
        yield g
        record_guest_berth(g)
    finally:
        g.remove()
        lib.cleanup_project(PROJECT)
        eg.run("docker", "image", "rm", "-f", GUEST_IMAGE, check=False)
        remove_pulled_images(world)


def remove_pulled_images(w):
    """The images berth pulled into the host's Docker (by digest, then tagged)."""
    prefix = f"{w.reg.addr}/{PROJECT}/"
    out = eg.run("docker", "images", "--digests", "--format",
                 "{{.Repository}} {{.Tag}} {{.Digest}} {{.ID}}", check=False).stdout
    ids = {line.split()[3] for line in out.splitlines() if line.startswith(prefix)}
    if ids:
        eg.run("docker", "image", "rm", "-f", *sorted(ids), check=False)


def diag(g):
    return "\n" + g.diagnostics()


def wait_active(g, timeout=ACTIVE_TIMEOUT):
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = g.exec("systemctl", "is-active", "berth", check=False).stdout.strip()
        if state == "active":
            return
        if state == "failed":
            break
        time.sleep(0.5)
    raise AssertionError(f"berth.service is {state!r}, not active" + diag(g))


def services(project=PROJECT):
    """{service: inspect} of the project's containers on the host's Docker."""
    out = {}
    for c in lib.containers(project).values():
        out[c["Config"]["Labels"]["com.docker.compose.service"]] = c
    return out


def repo_digest(c):
    """The manifest digest a container runs (from its image's RepoDigests)."""
    img = json.loads(lib.docker("image", "inspect", c["Image"]))[0]
    return {d.split("@", 1)[1] for d in img.get("RepoDigests", [])}


def wait_healthy(names, timeout=HEALTHY_TIMEOUT, g=None):
    def ok():
        cs = services()
        if sorted(cs) != sorted(names):
            return None
        for c in cs.values():
            if c["State"]["Status"] != "running" or \
                    c["State"].get("Health", {}).get("Status") != "healthy":
                return None
        return cs
    try:
        return lib.wait_for(ok, timeout=timeout, interval=0.5, what="healthy " + ", ".join(names))
    except AssertionError as e:
        raise AssertionError(str(e) + "\n" + json.dumps(
            {n: c["State"] for n, c in services().items()}, indent=1)
            + (diag(g) if g else ""))


# ---- the tests, in order ---------------------------------------------------------------------
def test_boot_starts_berth_without_manual_step(guest):
    with eg.phase("boot to is-system-running"):
        state = guest.wait_booted(BOOT_TIMEOUT)
    with eg.phase("berth.service active (first converge: pulls, healthy)"):
        wait_active(guest)
    enabled = guest.exec("systemctl", "is-enabled", "berth", check=False).stdout.strip()
    assert enabled == "enabled", enabled
    # The guest's own Docker is masked: berth uses the host's through the mounted socket, whose
    # group is the guest's docker group.
    assert guest.exec("systemctl", "is-active", "docker", check=False).stdout.strip() != "active"
    sock = guest.exec("stat", "-c", "%U:%G", "/run/docker.sock").stdout.strip()
    assert sock == "root:docker" or sock == "root:root", sock
    failed = guest.exec("systemctl", "--failed", "--no-legend", "--plain").stdout
    assert state == "running", f"is-system-running: {state}; failed units:\n{failed}"


def test_stack_running_and_healthy_on_host_docker(guest, world):
    cs = wait_healthy(["logs", "metrics"], g=guest)
    assert sorted(c["Name"].lstrip("/") for c in cs.values()) == \
        [f"{PROJECT}-logs-1", f"{PROJECT}-metrics-1"]
    assert world.digests["logs:latest"] in repo_digest(cs["logs"])
    assert world.digests["metrics:" + SHA1] in repo_digest(cs["metrics"])
    # Pulled with the ECR token obtained with the instance role's credentials.
    assert world.ecr.stats()["ok"] >= 1, world.ecr.stats()


def test_log_driver_default_comes_from_the_engine_not_from_berths_host(guest):
    # The guest (berth's host) runs journald; the engine's default driver is what the containers
    # got, with no LogConfig of berth's own unless that default is journald.
    assert guest.exec("test", "-S", "/run/systemd/journal/socket", check=False).returncode == 0
    engine_default = lib.docker("info", "--format", "{{.LoggingDriver}}")
    assert engine_default != "journald", "this test needs an engine whose default is not journald"
    for name, c in services().items():
        assert c["HostConfig"]["LogConfig"]["Type"] == engine_default, (name, c["HostConfig"])


def test_systemctl_status_shows_meaningful_status(guest):
    def status_text():
        t = guest.exec("systemctl", "show", "-p", "StatusText", "--value", "berth").stdout.strip()
        return t if re.search(r"2/2\b.*healthy", t) else None
    try:
        lib.wait_for(status_text, timeout=30, interval=0.5, what="STATUS=2/2 ... healthy")
    except AssertionError as e:
        raise AssertionError(str(e) + diag(guest))
    out = guest.exec("systemctl", "status", "berth", "--no-pager", check=False).stdout
    assert re.search(r"Status: \".*2/2.*healthy", out), out


def test_dashboard_got_report_with_digests(guest, world):
    def healthy_doc():
        for doc in reversed(world.dash.received()["documents"]):
            if doc["overall"] == "healthy" and len(doc["services"]) == 2:
                return doc
        return None
    try:
        doc = lib.wait_for(healthy_doc, timeout=30, interval=0.5, what="a healthy report")
    except AssertionError as e:
        raise AssertionError(str(e) + json.dumps(world.dash.received(), indent=1)[-3000:]
                             + diag(guest))
    got = world.dash.received()
    assert got["unauthorized"] == 0 and got["invalid"] == 0 and got["violations"] == [], got
    assert all(p == f"/api/servers/{INSTANCE_ID}/containers" for p in got["paths"]), got["paths"]
    assert doc["project"] == PROJECT and doc["config_version"] == f"e2e-{RUN}"
    assert doc["host"]["instance_id"] == INSTANCE_ID and doc["host"]["region"] == REGION
    by = {s["name"]: s for s in doc["services"]}
    assert by["logs"]["requested_tag"] == "latest"
    assert by["logs"]["digest"] == world.digests["logs:latest"]
    assert by["metrics"]["requested_tag"] == SHA1
    assert by["metrics"]["digest"] == world.digests["metrics:" + SHA1]
    cs = services()
    for name in ("logs", "metrics"):
        assert by[name]["container_id"] == cs[name]["Id"], by[name]
        assert by[name]["health"] == "healthy", by[name]
    # The token never appears in a report.
    assert DASH_TOKEN not in json.dumps(got["documents"])


def test_journal_has_structured_fields(guest):
    out = guest.exec("journalctl", "-u", "berth", "-b", "-o", "json", "--no-pager").stdout
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    mine = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "berth"]
    assert mine, out[-3000:]
    services_logged = {e.get("BERTH_SERVICE") for e in mine} - {None}
    assert {"logs", "metrics"} <= services_logged, services_logged
    # journalctl's field match works, as operators use it.
    logs_only = guest.exec("journalctl", "-u", "berth", "-b", "-o", "json", "--no-pager",
                           "BERTH_SERVICE=logs").stdout
    assert logs_only.strip()
    assert all(json.loads(l)["BERTH_SERVICE"] == "logs" for l in logs_only.splitlines() if l)
    assert DASH_TOKEN not in out and ECR_PASSWORD not in out


def test_dbus_introspect_and_policy(guest):
    intro = guest.exec("busctl", "--system", "introspect", "org.berth.Agent1",
                       "/org/berth/Agent1", check=False)
    assert intro.returncode == 0, intro.stderr + diag(guest)
    assert "org.berth.Agent1" in intro.stdout and "Update" in intro.stdout, intro.stdout
    # Reading is for everyone; acting (Update) only for root.
    base = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            "busctl", "--system", "call", "org.berth.Agent1", "/org/berth/Agent1",
            "org.berth.Agent1"]
    status = guest.exec(*base, "Status", check=False)
    assert status.returncode == 0, status.stderr
    denied = guest.exec(*base, "Update", check=False)
    assert denied.returncode != 0, denied.stdout
    assert "AccessDenied" in denied.stderr or "denied" in denied.stderr.lower(), denied.stderr
    as_root = guest.exec("busctl", "--system", "call", "org.berth.Agent1", "/org/berth/Agent1",
                         "org.berth.Agent1", "Update", check=False)
    assert as_root.returncode == 0, as_root.stderr + diag(guest)


def test_reload_after_pinned_tag_change_recreates_only_that_service(guest, world):
    before = {n: c["Id"] for n, c in wait_healthy(["logs", "metrics"], g=guest).items()}
    guest.put({"/etc/berth/berth.toml": (berth_toml(world, SHA2), 0o644)})
    guest.exec("systemctl", "reload", "berth")

    def swapped():
        cs = services()
        m = cs.get("metrics")
        if not m or m["Id"] == before["metrics"] or \
                m["State"].get("Health", {}).get("Status") != "healthy":
            return None
        return cs
    try:
        cs = lib.wait_for(swapped, timeout=HEALTHY_TIMEOUT, interval=0.5, what="metrics recreated")
    except AssertionError as e:
        raise AssertionError(str(e) + diag(guest))
    assert cs["logs"]["Id"] == before["logs"], "logs must not be recreated"
    assert world.digests["metrics:" + SHA2] in repo_digest(cs["metrics"])
    assert guest.exec("systemctl", "is-active", "berth").stdout.strip() == "active"


def test_server_restart_runs_new_latest(guest, world):
    new = _push(world.reg, world.repo_logs, "latest", f"{RUN}-logs-2", world.docker_config)
    world.digests["logs:latest@2"] = new
    assert new != world.digests["logs:latest"]
    first_boot = guest.started_at()
    with eg.phase("server restart: stop, start, boot, berth active"):
        guest.stop()
        guest.start()
        guest.wait_booted(BOOT_TIMEOUT)
        wait_active(guest)
    assert guest.started_at() != first_boot
    cs = wait_healthy(["logs", "metrics"], g=guest)
    assert new in repo_digest(cs["logs"]), (new, repo_digest(cs["logs"]))
    assert world.digests["metrics:" + SHA2] in repo_digest(cs["metrics"])


def test_without_token_file_the_blank_credential_falls_back_to_token_file(guest, world):
    """No /etc/berth/dashboard.token: LoadCredential= has nothing to load and SetCredential='s
    blank default applies (the unit still starts), and berth uses [dashboard] token_file."""
    guest.sh("rm -f /etc/berth/dashboard.token")
    guest.put({"/etc/berth/berth.toml": (berth_toml(world, SHA2, "/etc/berth/token.txt"), 0o644),
               "/etc/berth/token.txt": (DASH_TOKEN + "\n", 0o600)})
    guest.sh("chown berth:berth /etc/berth/token.txt")  # berth wants it 0600, its own
    seen = len(world.dash.received()["documents"])
    guest.exec("systemctl", "restart", "berth", timeout=ACTIVE_TIMEOUT)
    wait_active(guest)
    try:
        lib.wait_for(lambda: len(world.dash.received()["documents"]) > seen, timeout=30,
                     interval=0.5, what="a report after the restart")
    except AssertionError as e:
        raise AssertionError(str(e) + diag(guest))
    assert world.dash.received()["unauthorized"] == 0


def test_no_secret_in_any_journal_field_even_after_a_crash(guest, world):
    """Issue 9: the secrets (ECR token and its registry login, the instance role's secret key and
    session token, the dashboard token) appear in no field of any journal entry: MESSAGE,
    CODE_FILE/CODE_LINE/CODE_FUNC, the BERTH_* fields, systemd's own fields about the unit. Last
    in the file, so the journal holds everything before: boots, pulls with the ECR token,
    reports, reloads, restarts. And first berth is asked for an update and killed by SIGSEGV
    (systemd records the crash and restarts it)."""
    import base64

    guest.exec("berth", "update")
    CAUSED_CRASHES.append("SIGSEGV")
    guest.exec("systemctl", "kill", "--kill-who=main", "--signal=SIGSEGV", "berth")
    lib.wait_for(lambda: "SEGV" in guest.exec("journalctl", "-u", "berth", "--no-pager",
                                              check=False).stdout,
                 timeout=30, interval=0.5, what="systemd to record berth's crash")
    wait_active(guest)  # Restart=on-failure brought it back
    # Every field of every entry, binary ones included (raw bytes in the export format).
    raw = base64.b64decode(guest.sh("journalctl -o export --no-pager | base64 -w0",
                                    timeout=120).stdout)
    assert b"BERTH_SERVICE=" in raw and b"CODE_FILE=" in raw and b"CODE_FUNC=" in raw
    assert b"SYSLOG_IDENTIFIER=berth" in raw and b"status=11/SEGV" in raw
    creds = world.imds.creds
    secret_values = [ECR_PASSWORD, base64.b64encode(f"AWS:{ECR_PASSWORD}".encode()).decode(),
                     DASH_TOKEN, creds["SecretAccessKey"], creds["Token"]]
    for needle, what in lib.secret_variants(secret_values).items():  # also base64(url)-encoded
        assert needle.encode() not in raw, f"{what} appears in the journal"
    print(f"journal export: {len(raw)} bytes, {raw.count(b'__CURSOR=')} entries, no secret")
