#!/usr/bin/python3
"""The layers of agent/ (docs/architecture.md), checked on every build.

  check_layers.py AGENT_DIR [STAMP]

Each folder of agent/ is one static library; a file may include headers of its own folder and of
the folders below it here, nothing else. The libraries link in the same direction (see
agent/CMakeLists.txt), but a header-only back-edge would slip past the linker, so this check reads
the #include lines themselves. core/ is the pure layer: besides util's pure headers it may include
no header that does I/O (files, sockets, processes, threads, clocks, logging).
Prints every violation as FILE:LINE: ... and exits 1; writes STAMP when everything is clean."""
import os
import re
import sys

# folder -> the folders it may include (transitively closed by hand: keep it readable).
ALLOWED = {
    "util": set(),
    "core": {"util"},
    "config": {"util", "core"},
    "net": {"util", "core", "config"},
    "aws": {"util", "core", "config", "net"},
    "engine": {"util", "core", "config", "net"},
    "registry": {"util", "core", "config", "net", "aws", "engine"},
    "report": {"util", "core", "config", "net"},
    "daemon": {"util", "core", "config", "net", "aws", "engine", "registry", "report"},
    "cli": {"util", "core", "config", "net", "aws", "engine", "registry", "report", "daemon"},
}
MAIN = set(ALLOWED) | {"."}
# The only util headers the pure core may use.
CORE_UTIL_HEADERS = {"util/result.hpp", "util/strings.hpp"}
# System headers that mean I/O, threads or a clock of one's own: never in core/.
CORE_FORBIDDEN = re.compile(
    r"^(fstream|iostream|filesystem|thread|mutex|condition_variable|future|random|cstdio|"
    r"curl/.*|spdlog/.*|systemd/.*|sdbus-c\+\+/.*|sys/.*|unistd\.h|fcntl\.h|poll\.h|"
    r"netinet/.*|arpa/.*|signal\.h|csignal)$")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def check_file(agent, rel):
    folder = rel.split("/")[0] if "/" in rel else "."
    allowed = MAIN if folder == "." else ALLOWED.get(folder)
    problems = []
    if allowed is None:
        return [f"agent/{rel}:1: folder '{folder}' is not a layer in scripts/lib/check_layers.py"]
    with open(os.path.join(agent, rel), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, header = m.groups()
            where = f"agent/{rel}:{n}"
            if kind == '"':
                target = header.split("/")[0] if "/" in header else folder
                if target != folder and target not in allowed:
                    problems.append(f"{where}: {folder}/ may not include {header} "
                                    f"({folder} is below {target}; see docs/architecture.md)")
                elif folder == "core" and target == "util" and header not in CORE_UTIL_HEADERS:
                    problems.append(f"{where}: core/ is pure and may not include {header}")
            elif folder == "core" and CORE_FORBIDDEN.match(header):
                problems.append(f"{where}: core/ is pure (no I/O) and may not include <{header}>")
    return problems


def main():
    agent = sys.argv[1]
    problems = []
    for root, _, files in os.walk(agent):
        for name in sorted(files):
            if name.endswith((".cpp", ".hpp")):
                rel = os.path.relpath(os.path.join(root, name), agent)
                problems += check_file(agent, rel)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
