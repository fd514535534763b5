"""Issue 22 under `berth run`: a hostile dashboard (a 200 MiB desired state, an oversized one, a
slow drip), https-only dashboard URLs, URL user-info and queries kept out of the logs, pins
logged and reported with their source, no core dumps, and containers berth did not create:
reported, never removed; labels berth did not write are not trusted (an image's depends_on,
a forged hash, a cycle that must not hang `down`)."""
import hashlib
import json
import os
import resource
import signal
import subprocess
import time
import uuid

import pytest

import berth_testlib as lib
from daemon_fixture import Daemon
from dashboard import DashboardReceiver

TOKEN = "t-hard-dash-4b8e1f0c2d9a7e63"
USER, PW, SIG = "berthuser", "pa55-userinfo-9f3e1a", "sig-query-7c2d5b"
HTTPD = json.dumps(lib.HTTPD_CMD)
# Growth of berth's peak RSS (VmHWM) allowed for all hostile answers together; the desired-state
# limit is 1 MiB.
MAX_GROWTH_KB = 16 * 1024


def vm(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def ids(project):
    return {n: c["Id"] for n, c in lib.containers(project).items()}


@pytest.fixture
def dash():
    d = DashboardReceiver(token=TOKEN).start()
    yield d
    d.stop()


def test_check_config_refuses_plain_http_dashboards(berth, tmp_path):
    cases = {
        'url = "http://dash.example.com/api"\n':
            'berth.toml:2:7: dashboard.url: "http://dash.example.com/api" is plain http to '
            '"dash.example.com": the bearer token and the pins would travel in clear (expected '
            'https://, or http:// only to a loopback host: 127.0.0.0/8, [::1] or localhost)',
        'url = "https://d/"\ndesired_url = "http://u:secret-pw@localhost.evil.com/d?t=secret-q"\n':
            'berth.toml:3:15: dashboard.desired_url: "http://localhost.evil.com/d" is plain '
            'http to "localhost.evil.com": the bearer token and the pins would travel in clear '
            '(expected https://, or http:// only to a loopback host: 127.0.0.0/8, [::1] or '
            'localhost)',
    }
    for body, message in cases.items():
        path = tmp_path / "berth.toml"
        path.write_text("[dashboard]\n" + body)
        r = subprocess.run([lib.berth_bin(), "check-config", str(path)], capture_output=True,
                           text=True, timeout=30, cwd=str(tmp_path))
        assert r.returncode == 78, r.stdout + r.stderr
        assert r.stderr == f"{path}{message[len('berth.toml'):]}\n{path}: 1 error\n"
        assert "secret" not in r.stdout + r.stderr
    path.write_text('[dashboard]\nurl = "http://127.0.0.1:9/x"\ndesired_url = "http://[::1]/d"\n')
    r = subprocess.run([lib.berth_bin(), "check-config", str(path)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_hostile_dashboard(dash, berth, project, base_image, tmp_path):
    token_file = tmp_path / "dash-token"
    token_file.write_text(TOKEN + "\n")
    os.chmod(token_file, 0o600)
    pinned = f"berth-test/busybox:pin-{uuid.uuid4().hex[:8]}"
    lib.docker("tag", base_image, pinned)
    desired_url = f"http://{USER}:{PW}@127.0.0.1:{dash.port}/desired/x?sig={SIG}"
    berth.write(f'''[agent]
project = "{project}"

[dashboard]
url = "http://{USER}:{PW}@127.0.0.1:{dash.port}/api/servers/{{hostname}}?sig={SIG}"
desired_url = "{desired_url}"
token_file = "{token_file}"
heartbeat = "1h"

[services.web]
image = "{base_image}"
command = {HTTPD}
pull_policy = "never"
''')
    dash.set_desired({"schema": "berth.desired/v1", "services": {}})
    d = Daemon(berth, str(tmp_path))
    try:
        d.start()
        d.notify.wait_for("READY=1", timeout=120)
        pid = d.proc.pid
        base_hwm = vm(pid, "VmHWM")

        # A pin is logged with its source and reported with pin_source (the pinned tag is the
        # same image here: nothing is recreated).
        dash.set_desired({"schema": "berth.desired/v1",
                          "services": {"web": {"tag": pinned.split(":")[1]}}})
        d.cli("update", check=0)
        lib.wait_for(lambda: f"desired state (dashboard): web pinned to tag "
                             f"{pinned.split(':')[1]} ({pinned})" in d.output(),
                     timeout=120, what="the pin logged with its source")
        lib.wait_for(lambda: any(s.get("pin_source") == "dashboard"
                                 for doc in dash.received()["documents"]
                                 for s in doc["services"]),
                     timeout=60, what="a report with pin_source dashboard")
        before = ids(project)

        where = f"http://127.0.0.1:{dash.port}/desired/x"
        too_large = (f"desired state not refreshed: desired state: answer from {where} larger "
                     "than 1 MiB (the limit for a desired-state document); transfer aborted")
        cases = [
            ("200 MiB chunked", lambda: dash.set_desired_mode("flood", bytes=200 << 20),
             too_large),
            ("2 MiB with Content-Length",
             lambda: (dash.set_desired_mode("ok"), dash.set_desired(b"{" + b" " * (2 << 20) + b"}")),
             too_large),
            ("slow drip, 1 byte/s", lambda: dash.set_desired_mode("drip", bytes=1000, interval=1),
             f"desired state not refreshed: desired state: {where}: Timeout was reached"),
        ]
        figures = {"baseline VmHWM": base_hwm}
        for what, arrange, message in cases:
            arrange()
            n = len(d.output())
            d.cli("update", check=0)
            lib.wait_for(lambda: message in d.output()[n:], timeout=120, what=what)
            assert d.proc.poll() is None, what  # no crash
            assert ids(project) == before, what  # the stack untouched, the pin kept
            figures[what] = vm(pid, "VmHWM")
        sent = dash.received()["desired_bytes_sent"]
        assert sent < 1000  # the drip: berth gave up long before the end
        print("\nberth run VmHWM (KiB):", figures)
        assert figures["slow drip, 1 byte/s"] - base_hwm < MAX_GROWTH_KB, figures

        r = dash.received()
        assert r["violations"] == [] and r["invalid"] == 0 and r["unauthorized"] == 0
        assert r["documents"], "no report was delivered"
        out = d.output()
        for secret in (PW, SIG, USER + ":", TOKEN):
            assert secret not in out, f"{secret[:6]}... in the log"
        assert d.stop() == 0
    finally:
        d.close()
        lib.docker("rmi", pinned, check=False)


def test_no_core_dump(berth, project, base_image, tmp_path):
    """berth run is non-dumpable (PR_SET_DUMPABLE 0): SIGABRT with RLIMIT_CORE unlimited writes no
    core file, where the same signal to a plain process does (core_pattern here is a file)."""
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|"):
        pytest.skip(f"core_pattern pipes cores to {pattern}: no core file to look for")

    def unlimited_core():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    control_dir = tmp_path / "control"
    control_dir.mkdir()
    ctl = subprocess.Popen(["sleep", "60"], cwd=control_dir, preexec_fn=unlimited_core)
    time.sleep(0.3)
    ctl.send_signal(signal.SIGABRT)
    assert ctl.wait(timeout=30) == -signal.SIGABRT
    lib.wait_for(lambda: list(control_dir.iterdir()), timeout=10, what="the control's core file")

    berth.write(f'''[agent]
project = "{project}"

[services.web]
image = "{base_image}"
command = {HTTPD}
pull_policy = "never"
''')
    cwd = tmp_path / "berth-cwd"
    cwd.mkdir()
    d = Daemon(berth, str(tmp_path))
    d.log = open(d.log_path, "w")
    d.proc = subprocess.Popen(
        [lib.berth_bin(), "run", "--config", berth.config, "--state-dir", berth.state],
        stdout=d.log, stderr=subprocess.STDOUT, env=d.env, cwd=cwd, preexec_fn=unlimited_core)
    try:
        d.notify.wait_for("READY=1", timeout=120)
        d.signal(signal.SIGABRT)
        assert d.proc.wait(timeout=30) == -signal.SIGABRT
        assert list(cwd.iterdir()) == [], "berth left a core file"
    finally:
        d.close()


def labels_hash(labels):
    """core/label_trust.cpp, re-done here: sha256 of the canonical JSON of berth's own labels."""
    owned = ["com.docker.compose.project", "com.docker.compose.service",
             "com.docker.compose.container-number", "com.docker.compose.oneoff",
             "com.docker.compose.config-hash", "com.docker.compose.image",
             "com.docker.compose.depends_on", "com.docker.compose.project.config_files",
             "com.docker.compose.project.working_dir", "org.berth.managed",
             "org.berth.image.requested", "org.berth.image.digest", "org.berth.version"]
    doc = {k: labels[k] for k in owned if k in labels}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def test_foreign_containers_and_untrusted_labels(berth, project, base_image, tmp_path):
    # An image whose own labels try to pass for berth's: a depends_on and a forged hash.
    image = f"berth-test/labelled:{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "import", "--change",
                    "LABEL com.docker.compose.depends_on=db:service_started:false",
                    "--change", "LABEL org.berth.labels-hash=forged",
                    "--change", "CMD " + HTTPD, "-", image],
                   input=lib._rootfs_tar(), capture_output=True, timeout=120, check=True)
    intruder = f"{project}-intruder"
    lib.docker("run", "-d", "--network", "none", "--name", intruder, "--label", f"com.docker.compose.project={project}",
               "--label", "com.docker.compose.service=ghost", base_image, "sleep", "600")
    berth.write(f'''[agent]
project = "{project}"

[services.db]
image = "{base_image}"
command = {HTTPD}
pull_policy = "never"

[services.web]
image = "{image}"
pull_policy = "never"
''')
    note = (f"container {intruder} has the project label but was not created by berth (its "
            "labels do not verify); left alone (set [agent] remove_foreign = true to remove such "
            "containers)")
    d = Daemon(berth, str(tmp_path))
    try:
        d.start()
        d.notify.wait_for("READY=1", timeout=120)
        assert note in d.output()
        status = json.loads(d.cli("status", "--json", check=0).stdout)
        assert note in status["notes"]
        assert [s["name"] for s in status["services"]] == ["db", "web"]
        web = lib.containers(project)[f"{project}-web-1"]["Config"]["Labels"]
        assert web["com.docker.compose.depends_on"] == ""  # the image's label did not show through
        assert web["org.berth.labels-hash"] == labels_hash(web) != "forged"
        assert lib.containers(project)[intruder]["State"]["Status"] == "running"
        assert d.stop() == 0
    finally:
        d.close()

    # Without the daemon: status reads Docker and keeps the intruder out of the services.
    r = berth.run("status", "--json", check=0, env={"BERTH_DBUS_ADDRESS": "none"})
    st = json.loads(r.stdout)
    assert sorted(s["name"] for s in st["services"]) == ["db", "web"]
    assert any(intruder in n for n in st["notes"])

    r = berth.down(check=0)
    assert f"container {intruder} has the project label but was not created by berth" in r.stdout
    assert "network and volumes kept" in r.stdout
    assert set(lib.containers(project)) == {intruder}

    # Containers of an older berth (no hash) whose depends_on labels form a cycle: `down` is
    # bounded by its timeout only, never by the cycle; the intruder stays.
    for svc, dep in (("a", "b"), ("b", "a")):
        lib.docker("run", "-d", "--network", "none", "--name", f"{project}-{svc}-1",
                   "--label", f"com.docker.compose.project={project}",
                   "--label", f"com.docker.compose.service={svc}",
                   "--label", "org.berth.managed=true",
                   "--label", "com.docker.compose.config-hash=0123",
                   "--label", "org.berth.version=0.0.9",
                   "--label", f"com.docker.compose.depends_on={dep}:service_started:false",
                   base_image, "sleep", "600")
    r = berth.run("down", "--project", project, check=0, timeout=180)
    assert "container " + project + "-a-1 removed" in r.stdout
    assert set(lib.containers(project)) == {intruder}
    lib.docker("rmi", image, check=False)
