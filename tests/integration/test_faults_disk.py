"""Issue 9, faults: the state directory read-only or full.

berth keeps the stack running and converging (the state directory only holds what berth
remembers: last-known-good images, rollback targets, update intents, the report spool), says
so once per run as a warning and again at the end of `berth up`, keeps the exit code of the
converge (0 here: the stack is up), never leaves a half-written state.json or temporary files,
and saves its state again as soon as the directory is writable. `berth run` starts and serves
with a read-only state directory.

Read-only: the tests run as root, for whom mode 0555 means nothing, so the directory is made
immutable (chattr +i). Full: a 64 KiB tmpfs mounted on the state directory, filled up. Skipped
with the reason when chattr or mount are not available."""
import json
import os
import subprocess

import pytest

import berth_testlib as lib
from daemon_fixture import Daemon

CMD = json.dumps(["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"])


def config(project, version):
    return (f'[agent]\nproject = "{project}"\n\n[services.app]\nimage = "{lib.BASE_IMAGE}"\n'
            f'pull_policy = "never"\ncommand = {CMD}\nenvironment = {{ VERSION = "{version}" }}\n')


def app(project):
    c = lib.containers(project).get(f"{project}-app-1")
    return c and (c["Id"], c["State"]["Status"], dict(
        e.split("=", 1) for e in c["Config"]["Env"])["VERSION"])


def state_text(berth):
    with open(os.path.join(berth.state, "state.json")) as f:
        return f.read()


def leftovers(berth):
    return [f for f in os.listdir(berth.state) if f != "state.json" and ".tmp" in f]


@pytest.fixture
def project():
    p = lib.unique_project("t-faults")
    yield p
    lib.cleanup_project(p)


@pytest.fixture
def immutable(berth):
    """chattr +i on the state directory (and its state.json) for the test's duration."""
    paths = []

    def make():
        for p in (os.path.join(berth.state, "state.json"), berth.state):
            r = subprocess.run(["chattr", "+i", p], capture_output=True, text=True)
            if r.returncode != 0:
                pytest.skip("chattr +i not possible here: " + r.stderr.strip())
            paths.append(p)

    def undo():
        for p in reversed(paths):
            subprocess.run(["chattr", "-i", p], capture_output=True)
        paths.clear()
    yield make, undo
    undo()


def test_read_only_state_dir(base_image, berth, project, immutable):
    make_ro, undo = immutable
    berth.write(config(project, "1"))
    berth.up()
    saved = state_text(berth)
    make_ro()
    berth.write(config(project, "2"))
    r = berth.up(check=0)
    print(r.stdout + r.stderr)
    # The update happened and the stack runs ...
    cid, status, version = app(project)
    assert (status, version) == ("running", "2")
    # ... berth said why its memory is not saved: once while working, once at the end.
    out = r.stdout + r.stderr
    assert out.count("cannot write state to " + berth.state) == 2, out
    assert "Operation not permitted" in r.stdout + r.stderr
    assert r.stderr.rstrip().endswith("(the stack keeps running; rollback memory is not saved)")
    assert state_text(berth) == saved and leftovers(berth) == []
    # Writable again: the next run saves, and knows the running container's image as good.
    undo()
    r = berth.up(check=0)
    assert "cannot write state" not in r.stdout + r.stderr and app(project)[0] == cid
    assert json.loads(state_text(berth))["services"]["app"]["last_good"]["image_id"]
    assert state_text(berth) != saved


def test_full_state_dir(base_image, berth, project):
    berth.write(config(project, "1"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "t-faults-state",
                        berth.state], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.strip())
    try:
        berth.up()
        saved = state_text(berth)
        filler = os.path.join(berth.state, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 1024)
        except OSError:
            pass
        finally:
            os.close(fd)
        berth.write(config(project, "2"))
        r = berth.up(check=0)
        print(r.stdout + r.stderr)
        cid, status, version = app(project)
        assert (status, version) == ("running", "2")
        assert "No space left on device" in r.stdout + r.stderr
        out = r.stdout + r.stderr
        assert out.count("cannot write state to " + berth.state) == 2, out
        assert "rollback memory is not saved" in r.stderr
        assert state_text(berth) == saved and leftovers(berth) == []
        os.unlink(filler)
        r = berth.up(check=0)
        assert "cannot write state" not in r.stdout + r.stderr and app(project)[0] == cid
        assert state_text(berth) != saved
    finally:
        subprocess.run(["umount", "-l", berth.state], capture_output=True)


def test_daemon_runs_with_read_only_state_dir(base_image, berth, project, immutable, tmp_path):
    make_ro, undo = immutable
    berth.write(config(project, "1"))
    berth.up()
    make_ro()
    berth.write(config(project, "2"))
    d = Daemon(berth, str(tmp_path), env={"AWS_EC2_METADATA_DISABLED": "true"})
    try:
        d.start()
        d.notify.wait_for("READY=1", timeout=60)
        lib.wait_for(lambda: app(project) and app(project)[1:] == ("running", "2"), timeout=60,
                     what="app updated by the daemon")
        st = d.cli("status", "--json", check=0)
        svcs = {s["name"]: s for s in json.loads(st.stdout)["services"]}
        assert svcs["app"]["state"] == "running"
        assert d.proc.poll() is None
        assert d.stop() == 0
        out = d.output()
        print(out)
        assert "cannot write state to " + berth.state in out
    finally:
        d.close()
