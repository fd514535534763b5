"""Issue 8: the benchmark harness (tests/bench/run) in its tiny mode: N=2, one run, no warm-up.

Checks that every scenario ran and that the Markdown table and the chart came out. It never
asserts a timing: the figures of a tiny run on a shared CI machine mean nothing (the full run,
`tests/bench/run`, is what tests/bench/RESULTS.md records)."""
import json
import os
import subprocess
import sys

import berth_testlib as lib

ROOT = os.environ.get("BERTH_SOURCE_DIR",
                      os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..")))


def test_bench_tiny_produces_the_table(tmp_path):
    env = dict(os.environ, BERTH_BIN=lib.berth_bin(), AWS_EC2_METADATA_DISABLED="true")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "bench", "bench.py"), "--tiny",
                        "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                       timeout=600)
    # Each berth the harness ran gets the check of the processes a test starts itself (exit
    # status, sanitizer report; berth_process.py): bench.py lists them in berth-processes.json.
    procs_path = tmp_path / "berth-processes.json"
    assert procs_path.exists(), f"no berth-processes.json\nstderr:\n{r.stderr[-4000:]}"
    procs = json.loads(procs_path.read_text())
    assert procs, "the harness ran no berth process"
    for p in procs:
        lib.record_finished("bench: " + p["what"], p["rc"], p["report"], expect=p["expect"])
    md_path = tmp_path / "RESULTS.md"
    assert md_path.exists(), f"no RESULTS.md\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    md = md_path.read_text()
    assert r.returncode == 0, f"a scenario failed (exit {r.returncode}):\n{md}\n{r.stderr[-4000:]}"

    assert "| Scenario | N | berth | docker-compose |" in md
    for row in ("| 1. No-op converge | 2 |", "| 2. Cold start to healthy | 2 |",
                "| 3. Update one service | 2 |", "| 4. Pull 2 images"):
        assert row in md, f"missing row {row!r}:\n{md}"
    for line in ("| Idle RSS (VmRSS", "| Report latency, `docker kill`", "| Binary size, stripped",
                 "## Targets"):
        assert line in md, f"missing {line!r}:\n{md}"
    assert (tmp_path / "scaling.png").stat().st_size > 1000

    res = json.loads((tmp_path / "results.json").read_text())
    assert res["config"]["mode"] == "tiny"
    assert res["machine"]["nproc"] >= 1
    # The harness cleaned up after itself: nothing of this run's projects is left.
    prefix = "t-bench-%s-" % res["rid"]
    names = lib.docker("ps", "-a", "--format", "{{.Names}}", check=False).split()
    assert not [n for n in names if n.startswith(prefix)]
    nets = lib.docker("network", "ls", "--format", "{{.Name}}", check=False).split()
    assert not [n for n in nets if n.startswith(prefix)]
