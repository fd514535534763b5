"""Issue 6: berth killed before every step of a stop-first update and of a rollback; the next
`berth up` converges (see crash_lib.py). Registered only with -DBERTH_TEST_HOOKS=ON."""
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
def test_crash_during_stop_first_update(world, berth, project, step):
    res = crash_lib.run_crash_case(world, berth, project, step)
    print(f"\nstep {step}: after the crash {res['after_crash']}; converged in "
          f"{res['seconds']:.1f}s\n{res['recovery']}")


@pytest.mark.parametrize("step", [90, 91])
def test_crash_during_rollback(world, berth, project, step):
    res = crash_lib.run_crash_case(world, berth, project, step, bad=True)
    print(f"\nstep {step}: after the crash {res['after_crash']}\n{res['recovery']}")
