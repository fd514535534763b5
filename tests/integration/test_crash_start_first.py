"""Issue 6: berth killed before every step of a start-first update; the next `berth up`
converges, and at no point is the service left without a container (see crash_lib.py).
Registered only with -DBERTH_TEST_HOOKS=ON. (The rollback steps 90/91 are the same code for both
strategies: test_crash_stop_first.py covers them.)"""
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


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5, 6])
def test_crash_during_start_first_update(world, berth, project, step):
    res = crash_lib.run_crash_case(world, berth, project, step, strategy="start-first")
    print(f"\nstep {step}: after the crash {res['after_crash']}; converged in "
          f"{res['seconds']:.1f}s\n{res['recovery']}")

