"""pytest rules of berth's suite, shared by tests/integration/conftest.py and
tests/e2e/conftest.py (which import everything from here). tests/README.md explains them.

1. Skips: a skip (or xfail) is turned into a failure unless tests/allowed-skips.txt lists its
   test id and reason. The allowed ones are printed by `-rs` (ctest runs pytest with it).
2. Processes: every berth process a test started (berth_process.py) is checked when the test
   ends: exited, with the status it expected, no sanitizer report in its output. Processes of
   module-scoped fixtures that still run then are checked at the end of the session.
3. Nothing leaves the machine: berth gets AWS_EC2_METADATA_DISABLED=true unless a test points
   AWS_EC2_METADATA_SERVICE_ENDPOINT at the fake IMDS (berth_process.berth_env), and
   berth_process.guard checks the environment and configuration of every start.
4. Counts: the session's tests run / skipped (allowed) / failed are printed as one
   `berth-counts:` line and, when $BERTH_TEST_COUNTS_DIR is set, written there as JSON for
   scripts/test's per-stage summary.
"""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "support"))

import allowed_skips  # noqa: E402
import berth_process  # noqa: E402

__all__ = ["pytest_runtest_makereport", "pytest_sessionfinish",
           "pytest_terminal_summary", "berth_processes_checked"]

TESTS_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))

_outcomes = {}  # test id -> "passed" | "skipped" | "failed"
_allowed = []  # (test id, reason) of the allowed skips


def test_id(item_or_report, path=None):
    """The id allowed-skips.txt uses: the pytest node id with the file relative to tests/."""
    nodeid = item_or_report.nodeid
    rest = nodeid.split("::", 1)[1] if "::" in nodeid else ""
    rel = os.path.relpath(str(path), TESTS_DIR) if path else nodeid.split("::", 1)[0]
    return rel + ("::" + rest if rest else "")


def _skip_reason(rep):
    lr = rep.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        reason = lr[2]
    else:
        reason = str(lr)
    if getattr(rep, "wasxfail", None) is not None:
        reason = "xfail: " + (rep.wasxfail or "")
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    tid = test_id(item, item.path)
    if rep.skipped:
        reason = _skip_reason(rep)
        if allowed_skips.allowed(tid, reason):
            _allowed.append((tid, reason))
        else:
            rep.outcome = "failed"
            if hasattr(rep, "wasxfail"):
                del rep.wasxfail
            rep.longrepr = (f"skip not allowed: {tid}: {reason}\n(a skip must be listed in "
                            f"tests/allowed-skips.txt with its reason; see tests/README.md)")
    prev = _outcomes.get(tid)
    if rep.failed:
        _outcomes[tid] = "failed"
    elif rep.skipped and prev != "failed":
        _outcomes[tid] = "skipped"
    elif rep.when == "call" and rep.passed and prev is None:
        _outcomes[tid] = "passed"


@pytest.fixture(autouse=True)
def berth_processes_checked():
    """Every berth process the test started: exit status as expected, no sanitizer report."""
    start = berth_process.mark()
    yield
    problems = berth_process.check_since(start)
    if problems:
        pytest.fail("berth process check:\n" + "\n\n".join(problems), pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    problems = berth_process.stop_leftovers() + berth_process.check_since(0, running_ok=False)
    if problems:
        sys.stderr.write("\nberth process check (processes of module fixtures):\n"
                         + "\n\n".join(problems) + "\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        _outcomes["(berth process check at the end of the session)"] = "failed"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    counts = {k: sum(1 for v in _outcomes.values() if v == k)
              for k in ("passed", "skipped", "failed")}
    terminalreporter.write_line(
        f"berth-counts: ran={counts['passed'] + counts['failed']} skipped={counts['skipped']} "
        f"failed={counts['failed']}")
    out_dir = os.environ.get("BERTH_TEST_COUNTS_DIR")
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        files = sorted({str(a) for a in config.args})
        name = "pytest-" + "-".join(os.path.basename(f).removesuffix(".py") for f in files)
        with open(os.path.join(out_dir, f"{name}-{os.getpid()}.json"), "w") as f:
            json.dump({"files": files, "counts": counts, "skips": _allowed,
                       "failed": sorted(t for t, v in _outcomes.items() if v == "failed")}, f)
