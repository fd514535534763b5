"""The layer check (scripts/lib/check_layers.py, run by every build) refuses a back-edge and I/O
in core/, and passes on the real agent/ tree."""
import os
import shutil
import subprocess

SRC = os.environ.get("BERTH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK = os.path.join(SRC, "scripts", "lib", "check_layers.py")


def run_check(agent_dir, stamp=None):
    args = ["/usr/bin/python3", CHECK, str(agent_dir)] + ([str(stamp)] if stamp else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def copy_agent(tmp_path):
    dst = tmp_path / "agent"
    shutil.copytree(os.path.join(SRC, "agent"), dst,
                    ignore=shutil.ignore_patterns("*.json", "*.md", "CMakeLists.txt"))
    return dst


def test_the_real_tree_is_clean(tmp_path):
    r = run_check(os.path.join(SRC, "agent"), tmp_path / "ok")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ok").read_text() == "ok\n"


def test_a_back_edge_fails_with_file_and_line(tmp_path):
    agent = copy_agent(tmp_path)
    f = agent / "report" / "retry_after.cpp"
    f.write_text('#include "daemon/reconciler.hpp"\n' + f.read_text())
    r = run_check(agent, tmp_path / "ok")
    assert r.returncode == 1
    assert "agent/report/retry_after.cpp:1: report/ may not include daemon/reconciler.hpp" in r.stderr
    assert not (tmp_path / "ok").exists()


def test_core_may_not_do_io(tmp_path):
    agent = copy_agent(tmp_path)
    f = agent / "core" / "planner.cpp"
    f.write_text("#include <fstream>\n#include \"util/logging.hpp\"\n" + f.read_text())
    r = run_check(agent)
    assert r.returncode == 1
    assert "agent/core/planner.cpp:1: core/ is pure (no I/O) and may not include <fstream>" in r.stderr
    assert "agent/core/planner.cpp:2: core/ is pure and may not include util/logging.hpp" in r.stderr


def test_a_folder_that_is_not_a_layer_fails(tmp_path):
    agent = copy_agent(tmp_path)
    (agent / "extra").mkdir()
    (agent / "extra" / "x.cpp").write_text("int x;\n")
    r = run_check(agent)
    assert r.returncode == 1
    assert "folder 'extra' is not a layer" in r.stderr
