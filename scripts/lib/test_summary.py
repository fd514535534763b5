#!/usr/bin/python3
"""Counts of one scripts/test stage, and the check that Catch2 ran every test it has.

  test_summary.py STAGE --build DIR --junit FILE [--counts DIR] [--check-catch2]
  test_summary.py STAGE --catch2-output FILE [--counts DIR]

Prints one line: "STAGE: N run (Catch2 a, pytest b), S skipped (allowed), F failed". The
numbers come from ctest's JUnit file (--output-junit: one entry per Catch2 test case and per
pytest file), the `berth-skip:` lines allowed Catch2 skips print (tests/support/skip.hpp) and
the counts each pytest session writes to $BERTH_TEST_COUNTS_DIR (tests/integration/
berth_pytest.py); --catch2-output reads a Catch2 console run instead (the TSan stage).

--check-catch2 (a run without ctest filters): for every Catch2 binary ctest knows, the number of
test cases it lists (--list-test-names-only) must equal the number of ctest tests registered for
it and the number ctest ran; a name catch_discover_tests mangled shows up here. Exit status 1
when that check fails or anything failed."""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET


def ctest_tests(build):
    out = subprocess.run(["ctest", "--show-only=json-v1"], cwd=build, capture_output=True,
                         text=True, check=True).stdout
    return {t["name"]: t.get("command") or [] for t in json.loads(out)["tests"]}


def is_catch2(command):
    return bool(command) and re.fullmatch(r"berth_\w+_tests", os.path.basename(command[0]))


def junit_cases(path):
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        out = case.find("system-out")
        yield case.get("name"), case.get("status"), (out.text or "") if out is not None else ""


def pytest_counts(counts_dir):
    total = {"passed": 0, "skipped": 0, "failed": 0}
    files = set()
    for path in glob.glob(os.path.join(counts_dir or "", "pytest-*.json")):
        with open(path) as f:
            doc = json.load(f)
        for k in total:
            total[k] += doc["counts"][k]
        files.update(os.path.basename(p) for p in doc["files"])
    return total, files


def catch2_check(build, commands, ran_by_binary):
    problems = []
    for binary in sorted({c[0] for c in commands.values() if is_catch2(c)}):
        listed = subprocess.run([binary, "--list-test-names-only"], capture_output=True,
                                text=True).stdout
        n_listed = len([line for line in listed.splitlines() if line.strip()])
        n_registered = sum(1 for c in commands.values() if c and c[0] == binary)
        n_ran = ran_by_binary.get(binary, 0)
        name = os.path.basename(binary)
        if not n_listed == n_registered == n_ran:
            problems.append(f"{name}: lists {n_listed} test cases, ctest has {n_registered}, "
                            f"ran {n_ran}")
        else:
            print(f"  {name}: {n_listed} test cases listed, registered and run")
    return problems


def from_ctest(args):
    commands = ctest_tests(args.build)
    catch = {"run": 0, "skipped": 0, "failed": 0}
    ran_by_binary = {}
    py_failed_without_counts = []
    _, py_files = pytest_counts(args.counts)
    for name, status, output in junit_cases(args.junit):
        command = commands.get(name, [])
        if status not in ("run", "fail"):
            continue  # not run (filtered out, disabled)
        if is_catch2(command):
            ran_by_binary[command[0]] = ran_by_binary.get(command[0], 0) + 1
            if status == "fail":
                catch["failed"] += 1
            elif "berth-skip: " in output:
                catch["skipped"] += 1
            else:
                catch["run"] += 1
        elif status == "fail":
            test_file = os.path.basename(command[-1]) if command else name
            if test_file not in py_files:
                py_failed_without_counts.append(name)
    return catch, ran_by_binary, commands, py_failed_without_counts


def from_catch2_output(path):
    text = open(path, errors="replace").read()
    catch = {"run": 0, "skipped": 0, "failed": 0}
    m = re.search(r"All tests passed \(\d+ assertions? in (\d+) test cases?\)", text)
    if m:
        catch["run"] = int(m.group(1))
    else:
        m = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed", text)
        if m:
            catch["run"], catch["failed"] = int(m.group(2)), int(m.group(3))
        else:
            catch["failed"] = 1  # no summary line: the binary did not finish
    catch["skipped"] = text.count("berth-skip: ")
    catch["run"] -= catch["skipped"]
    return catch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stage")
    ap.add_argument("--build")
    ap.add_argument("--junit")
    ap.add_argument("--counts")
    ap.add_argument("--catch2-output")
    ap.add_argument("--check-catch2", action="store_true")
    args = ap.parse_args()

    problems = []
    no_counts = []
    if args.catch2_output:
        catch = from_catch2_output(args.catch2_output)
    else:
        catch, ran_by_binary, commands, no_counts = from_ctest(args)
        if args.check_catch2:
            problems = catch2_check(args.build, commands, ran_by_binary)
    py, _ = pytest_counts(args.counts)
    n_catch = catch["run"] + catch["failed"]
    n_py = py["passed"] + py["failed"]
    failed = catch["failed"] + py["failed"] + len(no_counts)
    skipped = catch["skipped"] + py["skipped"]
    print(f"{args.stage}: {n_catch + n_py + len(no_counts)} run (Catch2 {n_catch}, pytest {n_py}), "
          f"{skipped} skipped (allowed), {failed} failed")
    for name in no_counts:
        print(f"  {name} failed before pytest counted anything (collection or start-up error)")
    for p in problems:
        print(f"  Catch2 check FAILED: {p}")
    return 1 if problems or failed else 0


if __name__ == "__main__":
    sys.exit(main())
