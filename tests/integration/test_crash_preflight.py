"""Issue 15: berth killed before every step of a preflight trial (create, start, remove the trial
container), with a good and with a bad new image; the old container keeps running through the
crash, and the next `berth up` converges: the good image swapped in, the bad one rolled back and
then quarantined (see crash_lib.py). Skipped without -DBERTH_TEST_HOOKS=ON."""
import pytest

import berth_testlib as lib
import crash_lib


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = crash_lib.CrashWorld()
    crash_lib.require_hooks(w, str(tmp_path_factory.mktemp("hooks")))
    yield w
    w.close()


@pytest.fixture
def project():
    p = lib.unique_project("t-safe")
    yield p
    lib.cleanup_project(p)


def old_running(project, res):
    running = [n for n, s in res["after_crash"].items() if s == "running"]
    assert f"{project}-{crash_lib.SERVICE}-1" in running, res["after_crash"]


@pytest.mark.parametrize("step", [10, 11, 12])
def test_crash_during_preflight_of_a_good_image(world, berth, project, step):
    res = crash_lib.run_crash_case(world, berth, project, step, strategy="preflight")
    old_running(project, res)
    print(f"\nstep {step}: after the crash {res['after_crash']}\n{res['recovery']}")


@pytest.mark.parametrize("step", [12])
def test_crash_after_a_failed_preflight(world, berth, project, step):
    res = crash_lib.run_crash_case(world, berth, project, step, bad=True, strategy="preflight")
    old_running(project, res)
    print(f"\nstep {step}: after the crash {res['after_crash']}\n{res['recovery']}")
