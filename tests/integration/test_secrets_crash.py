"""Issue 9, secret hygiene in crash output. With every secret loaded (ECR token, AWS keys,
dashboard token) and dockerd pulling the new image (its blob request stalled by the proxy),
`berth run` is killed mid-update by SIGSEGV, by SIGABRT and by std::terminate from inside the
update (an exception nobody catches: the C++ runtime prints its own crash text; a test hook, so
this file is registered only in builds with -DBERTH_TEST_HOOKS=ON). Everything berth printed (under ASan also
the sanitizer's crash report with its stack trace), the CLI's output, the reports and the state
directory: zero hits. berth has no crash handler of its own. A core file is the process's memory, where the
secrets must be while they are in use: not output, not searched.

The journal is searched by the e2e boot test (tests/e2e/test_boot.py, real systemd-journald,
berth killed by SIGSEGV there too)."""
import json
import secrets
import signal
import uuid

import pytest

import berth_testlib as lib
from daemon_fixture import Daemon
from dashboard import DashboardReceiver
from fault_proxy import FaultProxy
from faults_lib import auth_proxy, images, project, snapshot, world  # noqa: F401
from test_secrets import dashboard_config, private_files, write_token


def has_crash_hooks():
    with open(lib.berth_bin(), "rb") as f:
        return b"BERTH_TEST_CRASH_HOW" in f.read()


# (how berth dies, the env that makes it die from inside, the signal it dies of)
CRASHES = [
    ("SIGSEGV", None, signal.SIGSEGV),
    ("SIGABRT", None, signal.SIGABRT),
    ("terminate", "terminate", signal.SIGABRT),  # std::terminate -> abort()
]


@pytest.mark.parametrize("how,hook,sig", CRASHES, ids=[c[0] for c in CRASHES])
def test_crash_mid_update_leaks_no_secret(world, images, auth_proxy, berth, project, tmp_path,
                                          how, hook, sig):
    # Registered only in builds with -DBERTH_TEST_HOOKS=ON (tests/CMakeLists.txt).
    assert has_crash_hooks(), f"{lib.berth_bin()} has no crash-injection hooks"
    proxy = auth_proxy
    token = "t-faults-dash-" + secrets.token_urlsafe(24)
    dash = DashboardReceiver(token=token).start()
    tag = "c" + uuid.uuid4().hex[:8]
    d1 = images.tag(tag, "v1")
    image = f"{proxy.addr}/{images.repo}:{tag}"
    berth.write(dashboard_config(project, proxy.addr, image, dash,
                                 write_token(tmp_path, token, 0o600)))
    env = world.env()
    if hook:  # dies inside the swap, right before it creates the new container
        env.update({"BERTH_TEST_CRASH_AT": "api:1", "BERTH_TEST_CRASH_HOW": hook})
    d = Daemon(berth, str(tmp_path), env=env)
    cli = None
    try:
        d.start()
        # Killed on purpose; under ASan a SIGSEGV becomes its report and an abort.
        d.expect_exit(-sig, -signal.SIGABRT, crash_report=True)
        d.notify.wait_for("READY=1", timeout=60)
        assert snapshot(project)[f"{project}-api-1"][1:] == ("running", d1)
        images.tag(tag, "v2")
        if not hook:
            # dockerd's blob request waits: berth is mid-update, token handed over, pull running.
            proxy.add(match=FaultProxy.docker_blob, action="stall")
        cli = lib.start_berth(["update"], env=d.overrides, expect=None)  # fails: its daemon dies
        if not hook:
            lib.wait_for(lambda: proxy.fired("stall"), timeout=30, what="the pull under way")
            d.signal(sig)
        rc = d.proc.wait(timeout=60)
        cli.popen.wait(timeout=60)
        cli_out = cli.output()
        log = d.output()
    finally:
        proxy.clear()
        if cli and cli.poll() is None:
            cli.popen.kill()
            cli.popen.wait()
        d.close()
        dash.stop()
    print(log)
    if sig == signal.SIGSEGV and "ERROR: AddressSanitizer: SEGV" in log:
        # An ASan build catches the SEGV itself, prints its report (searched below like any
        # crash output) and aborts (ASAN_OPTIONS=abort_on_error=1).
        assert rc == -signal.SIGABRT, (rc, log[-3000:])
    else:
        assert rc == -sig, (rc, log[-3000:])
    if hook == "terminate":
        assert "terminate called" in log, log[-3000:]  # the runtime's crash text was captured
    secret_values = world.secrets() + [token]
    lib.assert_no_secrets(secret_values, log, cli_out,
                          json.dumps(dash.received()), state_dir=berth.state)
    assert private_files(berth.state) == []


@pytest.fixture(autouse=True)
def _no_credentials_directory(monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
