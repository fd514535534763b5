"""tests/allowed-skips.txt: the only skips a test run may have (see tests/README.md).

Each line is `TEST-ID | REASON`. TEST-ID is a pytest test id with the file relative to tests/
(`integration/test_podman.py::test_x[param]`) or `c++:` and a Catch2 test case name; `*` and `?`
match as in a shell glob. REASON is the start of the reason the test gives when it skips. A skip
that no line matches fails the test that skipped (tests/integration/berth_pytest.py for pytest,
tests/support/skip.hpp for Catch2)."""
import fnmatch
import os

PATH = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "allowed-skips.txt"))


def load(path=PATH):
    entries = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if " | " not in line:
                raise ValueError(f"{path}:{n}: expected `TEST-ID | REASON`, got {line!r}")
            tid, reason = (s.strip() for s in line.split(" | ", 1))
            if not tid or not reason:
                raise ValueError(f"{path}:{n}: a test id and a reason are both required")
            entries.append((tid, reason))
    return entries


def allowed(test_id, reason, path=PATH):
    return any(fnmatch.fnmatchcase(test_id, tid) and reason.startswith(r)
               for tid, r in load(path))
