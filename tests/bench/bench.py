#!/usr/bin/python3
"""berth against docker-compose on the same work, on the same engine, and the daemon's footprint.

Usage: tests/bench/run [--quick | --tiny] [--sizes 1,10,50] [--runs 5] [--scenarios LIST]
                       [--out DIR] [--save] [--keep]
See tests/bench/README.md for what is measured and how to read the table."""
import argparse
import datetime
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import berth_process  # noqa: E402  (the metadata guard and the sanitizer patterns)
import dockerapi  # noqa: E402
import images  # noqa: E402
import report  # noqa: E402

SCENARIOS = ["noop", "cold", "update", "pull", "badimage", "daemon"]
# start_period: failures in the first 30 s do not count (a success counts at once, so it costs no
# time); without it, 50 simultaneous starts on 2 cores can time a check out three times and
# Docker marks the container unhealthy (seen in a full run). Both tools and the floor get it.
HEALTH = {"interval": "1s", "timeout": "2s", "retries": 3, "start_period": "30s"}
REG_USER = "bench"


LOG_FILE = None
# Every berth process this run started: {"what", "rc", "expect", "report"} (the sanitizer report
# when its output had one). Written to berth-processes.json next to results.json; the smoke test
# (tests/integration/test_bench_smoke.py) checks each like the processes it starts itself.
BERTH_PROCESSES = []


def berth_env():
    """berth never asks the instance metadata address: the bench has no AWS in it."""
    return berth_process.berth_env({"AWS_EC2_METADATA_DISABLED": "true"})


def record_berth(cmd, rc, text, expect=None):
    hits = [p for p in berth_process.SANITIZER_PATTERNS if p in text]
    report_text = ""
    if hits:
        start = min(text.index(p) for p in hits)
        report_text = text[max(0, start - 2000):start + 12000]
    BERTH_PROCESSES.append({"what": " ".join(map(str, cmd)), "rc": rc, "expect": expect,
                            "report": report_text})


def run_berth_timed(cmd, timeout=600, expect=None):
    """run_timed for a berth command: the metadata guard first, the process recorded after."""
    env = berth_env()
    berth_process.guard(env, cmd[1:])
    p = run_timed(cmd, env=env, timeout=timeout)
    record_berth(cmd, p.rc, p.out + "\n" + p.err, expect)
    return p


def log(msg):
    line = "[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg)
    sys.stderr.write(line)
    sys.stderr.flush()
    if LOG_FILE:
        LOG_FILE.write(line)
        LOG_FILE.flush()


def berth_bin():
    b = os.environ.get("BERTH_BIN")
    if b:
        return os.path.abspath(b)
    for build in (os.environ.get("BERTH_BUILD_DIR"), os.path.join(ROOT, "build")):
        if build and os.path.exists(os.path.join(build, "agent", "berth")):
            return os.path.join(build, "agent", "berth")
    raise SystemExit("bench: no berth binary (build it, or set BERTH_BIN)")


# ---------------------------------------------------------------------------------------------
# Running a command and measuring it

class Proc:
    """A finished command: wall time, exit code, output lines with their arrival times, and the
    child's rusage (peak RSS, CPU time) from wait4."""

    def __init__(self, cmd, wall, rc, lines, err, maxrss_kb, cpu):
        self.cmd, self.wall, self.rc, self.lines = cmd, wall, rc, lines
        self.err, self.maxrss_kb, self.cpu = err, maxrss_kb, cpu

    @property
    def out(self):
        return "\n".join(l for _, l in self.lines)

    def check(self, what):
        if self.rc != 0:
            last = [l for l in self.err.splitlines() if l.strip()][-2:]
            raise RuntimeError("%s: exited %d: %s\ncommand: %s\nstdout:\n%s\nstderr:\n%s" %
                               (what, self.rc, " / ".join(last), " ".join(self.cmd),
                                self.out[-3000:], self.err[-3000:]))
        return self


GNU_TIME = "/usr/bin/time"


def run_timed(cmd, env=None, cwd=None, timeout=600):
    """Runs cmd; wall time from here, CPU time from wait4 (the command and its children), peak
    RSS from GNU time. Not from wait4: a child forked from this Python process starts with
    Python's RSS as its high-water mark (it survives exec), which would hide a small program's
    real peak."""
    rss_file = None
    full = list(cmd)
    if os.path.exists(GNU_TIME):
        fd, rss_file = tempfile.mkstemp(prefix="t-bench-rss-")
        os.close(fd)
        full = [GNU_TIME, "-o", rss_file, "-f", "%M", *cmd]
    t0 = time.monotonic()
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                         stdin=subprocess.DEVNULL)
    lines, err = [], []

    def read_out():
        for raw in p.stdout:
            lines.append((time.monotonic() - t0, raw.decode(errors="replace").rstrip("\n")))

    def read_err():
        err.append(p.stderr.read().decode(errors="replace"))

    readers = [threading.Thread(target=read_out, daemon=True),
               threading.Thread(target=read_err, daemon=True)]
    for r in readers:
        r.start()
    killer = threading.Timer(timeout, lambda: p.kill())
    killer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        killer.cancel()
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join(10)
    maxrss = None
    if rss_file:
        try:
            with open(rss_file) as f:
                maxrss = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
        os.unlink(rss_file)
    return Proc(cmd, wall, p.returncode, lines, "".join(err), maxrss, ru.ru_utime + ru.ru_stime)


# ---------------------------------------------------------------------------------------------
# The environment: registry, credentials, tools

class Bench:
    def __init__(self, args):
        self.args = args
        self.rid = secrets.token_hex(2)
        self.docker = dockerapi.Docker()
        self.berth = berth_bin()
        self.work = tempfile.mkdtemp(prefix="t-bench-")
        self.password = secrets.token_hex(12)
        self.registry = None
        self.client = None
        self.image_ids = set()  # every image this run made the engine hold (for clean-up)
        self.projects = set()
        self.compose_env = None

    # -- set-up and clean-up
    def start(self):
        log("registry: starting docker-registry with htpasswd basic auth")
        self.registry = images.start_registry(REG_USER, self.password)
        self.addr = self.registry.addr
        self.client = images.RegistryClient(self.addr, REG_USER, self.password)
        self.password_file = os.path.join(self.work, "registry.password")
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password + "\n")
        # docker-compose reads its credentials from $DOCKER_CONFIG/config.json (docker login).
        dcfg = os.path.join(self.work, "docker-config")
        os.makedirs(dcfg, mode=0o700)
        self.compose_env = dict(os.environ, DOCKER_CONFIG=dcfg, COMPOSE_INTERACTIVE_NO_CLI="1")
        self.compose_env.pop("COMPOSE_PROJECT_NAME", None)
        r = subprocess.run(["docker", "login", "-u", REG_USER, "--password-stdin", self.addr],
                           input=self.password, text=True, capture_output=True,
                           env=self.compose_env, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("docker login %s: %s" % (self.addr, r.stderr))

    def cleanup(self):
        if self.args.keep:
            log("--keep: leaving projects %s and %s" % (sorted(self.projects), self.work))
            return
        for c in self.docker.containers():
            p = (c.get("Labels") or {}).get("com.docker.compose.project", "")
            if p.startswith("t-bench-%s-" % self.rid):
                self.projects.add(p)
        for p in sorted(self.projects):
            try:
                self.docker.remove_project(p)
            except Exception as e:  # noqa: BLE001 (best effort, keep going)
                log("clean-up of %s: %s" % (p, e))
        prefix = self.addr + "/" if self.registry else None
        for img in self.docker.images() or []:
            refs = (img.get("RepoTags") or []) + (img.get("RepoDigests") or [])
            if img["Id"] in self.image_ids or (prefix and any(r.startswith(prefix) for r in refs)):
                for ref in refs:
                    if prefix and ref.startswith(prefix):
                        self.docker.remove_image(ref)
                self.docker.remove_image(img["Id"])
        if self.registry:
            self.registry.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    # -- images
    def push(self, repo, tag, image):
        self.client.push(repo, tag, image)
        self.image_ids.add(image.image_id)
        return "%s/%s:%s" % (self.addr, repo, tag)

    def project(self, tool, name):
        p = "t-bench-%s-%s%s" % (self.rid, tool, name)
        self.projects.add(p)
        return p

    # -- the tools
    def berth_cmd(self, stack, *args):
        return [self.berth, *args, "--config", stack.berth_path, "--state-dir", stack.state]

    def run_berth(self, stack, *args, timeout=600):
        return run_berth_timed(self.berth_cmd(stack, *args), timeout=timeout)

    def run_compose(self, stack, *args, timeout=600):
        return run_timed(["docker-compose", "-p", stack.project, "-f", stack.compose_path,
                          "--no-ansi", *args], env=self.compose_env, timeout=timeout)


class Stack:
    """One description of N services, written for both tools: berth.toml and docker-compose.yml
    with the same images, commands, health checks, restart policy and log driver."""

    def __init__(self, bench, tool, name, services, health=True, pull_policy=None, extra="",
                 other_interval=None, command=True):
        self.bench = bench
        self.tool = tool
        self.project = bench.project(tool, name)
        self.services = services  # [(name, image ref)]
        self.dir = os.path.join(bench.work, self.project)
        os.makedirs(self.dir, exist_ok=True)
        self.state = os.path.join(self.dir, "state")
        os.makedirs(self.state, exist_ok=True)
        self.berth_path = os.path.join(self.dir, "berth.toml")
        self.compose_path = os.path.join(self.dir, "docker-compose.yml")
        q = json.dumps
        toml = ['[agent]', 'project = %s' % q(self.project), 'config_version = "bench"', '',
                '[registries.%s]' % q(bench.addr), 'auth = "basic"',
                'username = %s' % q(REG_USER), 'password_file = %s' % q(bench.password_file),
                'insecure = true', '']
        if extra:
            toml += [extra, '']
        compose = {"version": "2.4", "services": {}}
        for i, (svc, image) in enumerate(services):
            hc = dict(HEALTH)
            if other_interval and i > 0:
                hc["interval"] = other_interval
            toml += ['[services.%s]' % svc, 'image = %s' % q(image),
                     'restart = "unless-stopped"', 'logging = { driver = "json-file" }']
            c = {"image": image, "restart": "unless-stopped", "logging": {"driver": "json-file"}}
            if command:  # else the image's own CMD (the bad image scenario)
                toml.append('command = %s' % q(images.CMD))
                c["command"] = images.CMD
            if health:
                toml.append('healthcheck = { test = %s, interval = "%s", timeout = "%s", '
                            'retries = %d, start_period = "%s" }'
                            % (q(images.HEALTH_TEST), hc["interval"], hc["timeout"],
                               hc["retries"], hc["start_period"]))
                c["healthcheck"] = dict(hc, test=images.HEALTH_TEST)
            if pull_policy:
                toml.append('pull_policy = %s' % q(pull_policy))
            toml.append('')
            compose["services"][svc] = c
        with open(self.berth_path, "w") as f:
            f.write("\n".join(toml))
        with open(self.compose_path, "w") as f:
            json.dump(compose, f, indent=1)  # JSON is YAML

    @property
    def names(self):
        return [s for s, _ in self.services]

    # -- untimed helpers
    def prepull(self):
        """Pulls the stack's images over the Engine API (untimed set-up)."""
        threads = [threading.Thread(target=self.bench.docker.pull, args=(ref, REG_USER,
                                                                         self.bench.password,
                                                                         self.bench.addr))
                   for _, ref in self.services]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def up(self):
        """Brings the stack up with its own tool and waits until every service is healthy."""
        if self.tool == "b":
            self.prepull()
            self.bench.run_berth(self, "up").check("berth up " + self.project)
        else:
            with dockerapi.EventWatch(self.bench.docker, self.project) as w:
                self.bench.run_compose(self, "up", "-d").check("compose up " + self.project)
                self.wait_all_healthy(w)

    def wait_all_healthy(self, watch=None, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cs = self.containers()
            if len(cs) >= len(self.services) and all(
                    "(healthy)" in c["Status"] for c in cs.values()):
                return
            if watch:
                try:
                    watch.wait(lambda ev: None, 0.2)
                except TimeoutError:
                    pass
            else:
                time.sleep(0.2)
        raise TimeoutError("%s: not all healthy after %ds" % (self.project, timeout))

    def containers(self):
        """{service: container summary} of running containers."""
        out = {}
        for c in self.bench.docker.containers("com.docker.compose.project=" + self.project,
                                              all=False):
            out[c["Labels"].get("com.docker.compose.service")] = c
        return out

    def down(self):
        self.bench.docker.remove_project(self.project)


def service_images(bench, key, n, version="1"):
    """n services, each its own repository in the registry, all the same busybox image."""
    img = images.Image(labels={"org.berth.bench": "base", "org.berth.bench.version": version})
    return [("svc%02d" % i, bench.push("t-bench-%s/svc%02d" % (key, i), "latest", img))
            for i in range(n)]


# ---------------------------------------------------------------------------------------------
# The floor: what Docker itself needs for a cold start, driven directly over the Engine API

def floor_cold_start(bench, project, services, timeout=300):
    d = bench.docker
    net = project + "_default"
    labels = {"com.docker.compose.project": project}
    hc = {"Test": images.HEALTH_TEST, "Interval": 1_000_000_000, "Timeout": 2_000_000_000,
          "Retries": 3, "StartPeriod": 30_000_000_000}
    errors = []

    def one(svc, image):
        try:
            body = {"Image": image, "Cmd": images.CMD, "Healthcheck": hc,
                    "Labels": dict(labels, **{"com.docker.compose.service": svc}),
                    "HostConfig": {"NetworkMode": net,
                                   "RestartPolicy": {"Name": "unless-stopped"},
                                   "LogConfig": {"Type": "json-file", "Config": {}}},
                    "NetworkingConfig": {"EndpointsConfig": {net: {"Aliases": [svc]}}}}
            cid = d.create("%s-%s-1" % (project, svc), body)["Id"]
            d.start(cid)
        except Exception as e:  # noqa: BLE001
            errors.append("%s: %s" % (svc, e))

    with dockerapi.EventWatch(d, project) as w:
        t0 = time.monotonic()
        d.create_network(net, labels)
        threads = [threading.Thread(target=one, args=s) for s in services]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError("floor: " + "; ".join(errors))
        t_healthy = w.healthy(len(services), timeout=timeout)
        t_created, t_started = w.nth("create", 1), w.nth("start", len(services))
    return {"t": t_healthy - t0, "healthy_at": t_healthy - t0, "first_create_at": t_created - t0,
            "started_at": t_started - t0}


# ---------------------------------------------------------------------------------------------
# Scenarios. Each returns {"berth": [samples], "compose": [...], ("floor": [...]), "ratio": [...]}
# where a sample is {"t": seconds, ...}; ratios are computed pair by pair.

def alternate(runs, warmup, fns):
    """Runs warm-up rounds, then `runs` rounds of every fn in a rotating order. Returns
    {name: [sample per measured round]}."""
    names = list(fns)
    out = {n: [] for n in names}
    for i in range(warmup + runs):
        k = i % len(names)
        order = names[k:] + names[:k]
        for n in order:
            s = fns[n]()
            if i >= warmup:
                out[n].append(s)
    return out


def pair_ratios(out, num="berth", den="compose"):
    return [a["t"] / b["t"] for a, b in zip(out[num], out[den]) if b["t"] > 0]


def setup_pair(bench, n):
    """Both stacks of N services up and healthy, each from its own repositories. svc00 (the one
    scenario 3 updates) checks its health every second; the others every --steady-interval,
    so that two stacks of 50 do not run 100 probes a second on a small machine."""
    iv = bench.args.steady_interval
    b = Stack(bench, "b", "s%d" % n, service_images(bench, "b%d" % n, n), other_interval=iv)
    c = Stack(bench, "c", "s%d" % n, service_images(bench, "c%d" % n, n), other_interval=iv)
    log("N=%d: bringing both stacks up" % n)
    errors = []

    def up(stack):
        try:
            stack.up()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=up, args=(st,)) for st in (b, c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return b, c


def scenario_noop(bench, n, runs, warmup, stacks):
    b, c = stacks
    ids_b = {k: v["Id"] for k, v in b.containers().items()}
    ids_c = {k: v["Id"] for k, v in c.containers().items()}

    def berth():
        p = bench.run_berth(b, "up").check("berth up (no-op)")
        return {"t": p.wall, "maxrss_kb": p.maxrss_kb, "cpu": p.cpu,
                "changed": {k: v["Id"] for k, v in b.containers().items()} != ids_b}

    def compose():
        p1 = bench.run_compose(c, "pull").check("docker-compose pull")
        p2 = bench.run_compose(c, "up", "-d").check("docker-compose up -d")
        return {"t": p1.wall + p2.wall, "pull": p1.wall, "up": p2.wall,
                "maxrss_kb": max(p1.maxrss_kb or 0, p2.maxrss_kb or 0), "cpu": p1.cpu + p2.cpu,
                "changed": {k: v["Id"] for k, v in c.containers().items()} != ids_c}

    log("noop N=%d" % n)
    out = alternate(runs, warmup, {"berth": berth, "compose": compose})
    out["ratio"] = pair_ratios(out)
    return out


def scenario_update(bench, n, runs, warmup, stacks):
    """A new digest for svc00; time until its new container is healthy."""
    b, c = stacks
    version = [1]

    def one(stack, key, run_tool, wait_s):
        version[0] += 1
        img = images.Image(extra_layers=[images.file_layer(
            "bench/version", ("%s %d %s\n" % (key, version[0], secrets.token_hex(8))).encode())],
            labels={"org.berth.bench": "update", "org.berth.bench.version": str(version[0])})
        bench.push("t-bench-%s/svc00" % key, "latest", img)
        old = stack.containers()["svc00"]["Id"]
        with dockerapi.EventWatch(bench.docker, stack.project) as w:
            t0 = time.monotonic()
            procs = run_tool()
            t_exit = time.monotonic() - t0
            try:
                t_healthy = w.healthy(1, exclude={old}, service="svc00", timeout=wait_s) - t0
            except TimeoutError:
                raise RuntimeError("%s: no new healthy svc00 container %.0f s after the "
                                   "command returned (no update?)" % (stack.project, wait_s))
        now = stack.containers()["svc00"]
        if now["Id"] == old or now["ImageID"] != img.image_id:
            raise RuntimeError("%s: svc00 was not updated to %s" % (stack.project,
                                                                    img.image_id[:19]))
        t = max(t_exit, t_healthy)
        return {"t": t, "healthy_at": t_healthy, "exit_at": t_exit,
                "maxrss_kb": max(p.maxrss_kb or 0 for p in procs), "cpu": sum(p.cpu for p in procs)}

    def berth():
        return one(b, "b%d" % n, lambda: [bench.run_berth(b, "up").check("berth up (update)")],
                   5)

    def compose():
        return one(c, "c%d" % n, lambda: [
            bench.run_compose(c, "pull").check("docker-compose pull"),
            bench.run_compose(c, "up", "-d").check("docker-compose up -d")], 60)

    log("update N=%d" % n)
    out = alternate(runs, warmup, {"berth": berth, "compose": compose})
    out["ratio"] = pair_ratios(out)
    return out


def scenario_cold(bench, n, runs, warmup):
    svcs_b = service_images(bench, "b%d" % n, n)
    svcs_c = service_images(bench, "c%d" % n, n)
    # Images local, no registry round trip: compose's `up -d` does not pull present images;
    # berth is told the same with pull_policy = "missing".
    b = Stack(bench, "b", "cold%d" % n, svcs_b, pull_policy="missing")
    c = Stack(bench, "c", "cold%d" % n, svcs_c)
    f_project = bench.project("f", "cold%d" % n)
    log("cold N=%d: pulling the images once" % n)
    b.prepull()
    c.prepull()

    # Every run removes its stack when it has been measured (also when it fails), so the run
    # after it starts on an idle engine and nothing is left behind: N containers checking their
    # health every second are load of their own (two left-over stacks of 50 ran 100 probes a
    # second on 2 cores and timed checks out).
    def berth():
        try:
            with dockerapi.EventWatch(bench.docker, b.project) as w:
                t0 = time.monotonic()
                p = bench.run_berth(b, "up").check("berth up (cold)")
                t_exit = time.monotonic() - t0
                t_healthy = w.healthy(n, timeout=60) - t0
                t_created, t_started = w.nth("create", 1), w.nth("start", n)
        finally:
            b.down()
        return {"t": t_exit, "healthy_at": t_healthy, "maxrss_kb": p.maxrss_kb, "cpu": p.cpu,
                "first_create_at": t_created - t0, "started_at": t_started - t0}

    def compose():
        try:
            with dockerapi.EventWatch(bench.docker, c.project) as w:
                t0 = time.monotonic()
                p = bench.run_compose(c, "up", "-d").check("docker-compose up -d (cold)")
                t_exit = time.monotonic() - t0
                t_healthy = w.healthy(n, timeout=300) - t0
                t_created, t_started = w.nth("create", 1), w.nth("start", n)
        finally:
            c.down()
        return {"t": max(t_exit, t_healthy), "exit_at": t_exit, "healthy_at": t_healthy,
                "maxrss_kb": p.maxrss_kb, "cpu": p.cpu, "first_create_at": t_created - t0,
                "started_at": t_started - t0}

    floor_runs = []

    def floor():
        # A fresh project (and network) per run: dockerd 20.10 sometimes keeps a stale endpoint
        # on a network whose containers were force-removed, and the name could not be reused.
        floor_runs.append("%s%d" % (f_project, len(floor_runs)))
        try:
            return floor_cold_start(bench, floor_runs[-1], svcs_b)
        finally:
            bench.docker.remove_project(floor_runs[-1])

    log("cold N=%d" % n)
    out = alternate(runs, warmup, {"berth": berth, "compose": compose, "floor": floor})
    out["ratio"] = pair_ratios(out)
    out["ratio_floor"] = pair_ratios(out, "berth", "floor")
    return out


def scenario_pull(bench, m, size_mb, runs, warmup):
    """m images with a distinct random layer each; removed from the engine between runs."""
    svcs = []
    ids = []
    for i in range(m):
        img = images.Image(extra_layers=[images.file_layer(
            "bench/data", os.urandom(int(size_mb * 1024 * 1024)), level=1)],
            labels={"org.berth.bench": "pull", "org.berth.bench.n": str(i)})
        svcs.append(("img%02d" % i, bench.push("t-bench-pull/img%02d" % i, "latest", img)))
        ids.append(img.image_id)
    b = Stack(bench, "b", "pull%d" % m, svcs, health=False)
    c = Stack(bench, "c", "pull%d" % m, svcs, health=False)

    def reset():
        b.down()
        c.down()
        for i in ids:
            bench.docker.remove_image(i)
        for _, ref in svcs:
            bench.docker.remove_image(ref)

    def berth():
        reset()
        p = bench.run_berth(b, "up").check("berth up (pull)")
        pulled = [t for t, l in p.lines if re.search(r"\bpulled\b", l)]
        if len(pulled) < m:
            raise RuntimeError("berth up (pull): %d of %d images reported pulled:\n%s" %
                               (len(pulled), m, p.out))
        return {"t": max(pulled), "total": p.wall, "maxrss_kb": p.maxrss_kb, "cpu": p.cpu}

    def compose():
        reset()
        p1 = bench.run_compose(c, "pull").check("docker-compose pull")
        p2 = bench.run_compose(c, "up", "-d").check("docker-compose up -d")
        return {"t": p1.wall, "total": p1.wall + p2.wall,
                "maxrss_kb": max(p1.maxrss_kb or 0, p2.maxrss_kb or 0), "cpu": p1.cpu + p2.cpu}

    log("pull M=%d x %.1f MB" % (m, size_mb))
    out = alternate(runs, warmup, {"berth": berth, "compose": compose})
    out["ratio"] = pair_ratios(out)
    out["ratio_total"] = [a["total"] / b_["total"] for a, b_ in
                          zip(out["berth"], out["compose"])]
    reset()
    return out


def scenario_badimage(bench, runs, warmup):
    """stop-first, a new image that exits at once (Docker restarts it): the service is down from
    the old container's `die` to its `health_status: healthy` after the rollback. The floor is
    Docker's own: the same container stopped, started and checked healthy over the Engine API."""
    good = images.Image(labels={"org.berth.bench": "badimage-good"})
    ref = bench.push("t-bench-bad/svc00", "latest", good)
    b = Stack(bench, "b", "bad", [("svc00", ref)], command=False)
    log("bad image: bringing the stack up")
    b.up()
    f_project = bench.project("f", "bad")
    d = bench.docker
    net = f_project + "_default"
    labels = {"com.docker.compose.project": f_project}
    d.create_network(net, labels)
    hc = {"Test": images.HEALTH_TEST, "Interval": 1_000_000_000, "Timeout": 2_000_000_000,
          "Retries": 3, "StartPeriod": 30_000_000_000}
    fid = d.create(f_project + "-svc00-1", {
        "Image": ref, "Cmd": images.CMD, "Healthcheck": hc,
        "Labels": dict(labels, **{"com.docker.compose.service": "svc00"}),
        "HostConfig": {"NetworkMode": net, "RestartPolicy": {"Name": "unless-stopped"},
                       "LogConfig": {"Type": "json-file", "Config": {}}},
        "NetworkingConfig": {"EndpointsConfig": {net: {"Aliases": ["svc00"]}}}})["Id"]
    with dockerapi.EventWatch(d, f_project) as w:
        d.start(fid)
        w.healthy(1, timeout=120)
    version = [0]

    def down_window(w, cid, timeout=120):
        """(die time, healthy-again time) of container cid, from the event stream."""
        def pred(events):
            t_die = next((t for t, ev in events if ev.get("id") == cid and
                          ev.get("status") == "die"), None)
            if t_die is None:
                return None
            return next(((t_die, t) for t, ev in events if t > t_die and ev.get("id") == cid
                         and ev.get("status") == "health_status: healthy"), None)
        return w.wait(pred, timeout)

    def berth():
        version[0] += 1
        bad = images.Image(labels={"org.berth.bench": "badimage-bad",
                                   "org.berth.bench.version": str(version[0])},
                           cmd=["/bin/sh", "-c", "echo bench: bad image; exit 3"])
        bench.push("t-bench-bad/svc00", "latest", bad)
        old = b.containers()["svc00"]["Id"]
        with dockerapi.EventWatch(d, b.project) as w:
            p = bench.run_berth(b, "up")
            if p.rc != 1 or "exited with code 3" not in p.err:
                raise RuntimeError("berth up (bad image): expected a rollback on the exit, got "
                                   "exit %d:\n%s\n%s" % (p.rc, p.out[-2000:], p.err[-2000:]))
            t_die, t_back = down_window(w, old)
        if b.containers()["svc00"]["Id"] != old:
            raise RuntimeError("bad image: svc00 is not the old container after the rollback")
        return {"t": t_back - t_die, "exit_at": p.wall}

    def floor():
        with dockerapi.EventWatch(d, f_project) as w:
            d.request("POST", "/containers/%s/stop?t=10" % fid)
            d.start(fid)
            t_die, t_back = down_window(w, fid)
        return {"t": t_back - t_die}

    log("bad image (stop-first, exits at once)")
    try:
        out = alternate(runs, warmup, {"berth": berth, "floor": floor})
    finally:
        b.down()
        d.remove_project(f_project)
    out["ratio_floor"] = pair_ratios(out, "berth", "floor")
    return out


# ---------------------------------------------------------------------------------------------
# The daemon: footprint at idle, peak during an update, report latency

def proc_sample(pid):
    """RSS, peak RSS, CPU time and context switches of every thread of PID."""
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.strip()
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick  # utime, stime (whole thread group)
    vol = invol = 0
    run_ns = 0
    threads = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        invol += int(line.split()[1])
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                run_ns += int(f.read().split()[0])
            threads += 1
        except OSError:
            pass  # thread exited meanwhile
    pss = None
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    kb = lambda k: int(st.get(k, "0 kB").split()[0])  # noqa: E731
    return {"t": time.monotonic(), "rss_kb": kb("VmRSS"), "hwm_kb": kb("VmHWM"),
            "anon_kb": kb("RssAnon"), "file_kb": kb("RssFile"), "pss_kb": pss,
            "cpu": cpu, "run_ns": run_ns, "ctxt": vol + invol, "threads": threads}


class Daemon:
    """`berth run` as berth.service starts it: sd_notify socket, the unit's watchdog
    (WatchdogSec=60s), a private D-Bus daemon standing in for the system bus."""

    def __init__(self, bench, stack):
        sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
        from daemon_fixture import NotifyListener, PrivateBus
        self.bench, self.stack = bench, stack
        self.notify = NotifyListener(os.path.join(stack.dir, "notify.sock"))
        self.bus = PrivateBus(stack.dir)
        self.logf = open(os.path.join(stack.dir, "berth-run.log"), "w+")
        env = dict(berth_env(), NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC="60000000",
                   BERTH_DBUS_ADDRESS=self.bus.address)
        env.pop("WATCHDOG_PID", None)
        self.cmd = bench.berth_cmd(stack, "run")
        berth_process.guard(env, self.cmd[1:])
        self.t0 = time.time()
        self.proc = subprocess.Popen(self.cmd, stdout=self.logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def ready_at(self):
        """Seconds from start to READY=1, or None."""
        for t, m in self.notify.timed():
            if "READY=1" in m.split("\n"):
                return t - self.t0
        return None

    def output(self):
        self.logf.flush()
        self.logf.seek(0)
        return self.logf.read()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        record_berth(self.cmd, self.proc.returncode, self.output(), expect=0)
        self.notify.close()
        self.bus.close()
        self.logf.close()


def berth_run_available(bench):
    p = run_berth_timed([bench.berth, "run", "--config", "/nonexistent/berth.toml"], timeout=30)
    return "not implemented" not in (p.err + p.out)


def scenario_daemon(bench, n, idle_s, kills):
    sys.path.insert(0, os.path.join(ROOT, "tests", "fakes"))
    from dashboard import DashboardReceiver  # tests/fakes/dashboard.py

    out = {"n": n, "idle_s": idle_s}
    token = secrets.token_hex(16)
    recv = DashboardReceiver(token=token).start()
    token_file = os.path.join(bench.work, "dashboard.token")
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    dash = ('[dashboard]\nurl = %s\ntoken_file = %s\nheartbeat = "60s"' %
            (json.dumps(recv.url + "/report/{project}"), json.dumps(token_file)))
    stack = Stack(bench, "b", "daemon%d" % n, service_images(bench, "d%d" % n, n), extra=dash)
    d = None
    try:
        log("daemon N=%d: berth run, waiting for all healthy" % n)
        stack.prepull()
        d = Daemon(bench, stack)
        deadline = time.monotonic() + 120
        while d.ready_at() is None:
            if not d.alive():
                raise RuntimeError("berth run exited %s:\n%s" % (d.proc.returncode, d.output()))
            if time.monotonic() > deadline:
                raise RuntimeError("berth run: no READY=1 after 120 s:\n" + d.output())
            time.sleep(0.1)
        out["ready_s"] = d.ready_at()
        cs = stack.containers()
        if len(cs) != n or not all("(healthy)" in c["Status"] for c in cs.values()):
            raise RuntimeError("berth run: READY=1 but not all %d services healthy" % n)
        time.sleep(min(5.0, idle_s))  # let the report after convergence go out
        # 1. Idle.
        log("daemon: idle window %.0f s" % idle_s)
        a = proc_sample(d.pid)
        time.sleep(idle_s)
        z = proc_sample(d.pid)
        dt = z["t"] - a["t"]
        out["idle"] = {
            "rss_kb": z["rss_kb"], "hwm_kb": z["hwm_kb"], "threads": z["threads"],
            "anon_kb": z["anon_kb"], "file_kb": z["file_kb"], "pss_kb": z["pss_kb"],
            "cpu_pct": 100.0 * (z["run_ns"] - a["run_ns"]) / 1e9 / dt,
            "cpu_pct_ticks": 100.0 * (z["cpu"] - a["cpu"]) / dt,
            "wakeups_per_s": (z["ctxt"] - a["ctxt"]) / dt, "window_s": dt,
        }
        log("daemon idle: %s" % out["idle"])
        # 2. An update (scenario 3 for the daemon): new digest for svc00, SIGHUP.
        img = images.Image(extra_layers=[images.file_layer(
            "bench/version", ("daemon %s\n" % secrets.token_hex(8)).encode())],
            labels={"org.berth.bench": "update", "org.berth.bench.version": "daemon"})
        bench.push("t-bench-d%d/svc00" % n, "latest", img)
        old = stack.containers()["svc00"]["Id"]
        with dockerapi.EventWatch(bench.docker, stack.project) as w:
            t0 = time.monotonic()
            d.proc.send_signal(signal.SIGHUP)
            t_h = w.healthy(1, exclude={old}, service="svc00", timeout=120) - t0
        time.sleep(1.0)
        s = proc_sample(d.pid)
        out["update"] = {"t": t_h, "hwm_kb": s["hwm_kb"], "rss_kb": s["rss_kb"]}
        log("daemon update: %s" % out["update"])
        # 3. Report latency: docker kill -> the dashboard has a report showing it.
        out["report"] = report_latency(bench, stack, recv, kills)
        log("daemon report latency: %s" % out["report"]["summary"])
        out["final"] = proc_sample(d.pid)
    finally:
        if d:
            out["log_tail"] = d.output()[-4000:]
            d.stop()
        recv.stop()
        stack.down()
    return out


def _docs_with_times(recv):
    """[(epoch time accepted, document)] from the receiver, in order."""
    r = recv.received()
    t_by_seq = {}
    for e in r["log"]:
        if e.get("status") and 200 <= e["status"] < 300 and e.get("sequence") is not None:
            t_by_seq.setdefault(e["sequence"], e["t"])
    return [(t_by_seq.get(doc.get("sequence")), doc) for doc in r["documents"]]


def report_latency(bench, stack, recv, kills):
    """`docker kill` (over the Engine API) of one service's container -> the first accepted
    report showing that container not running. A killed container stays down (Docker counts a
    kill as a manual stop), so the harness starts it again and lets the stack settle between
    kills."""
    samples = []
    die = []
    names = stack.names
    watch = dockerapi.EventWatch(bench.docker, stack.project, events=("die",))
    for i in range(kills):
        svc = names[i % len(names)]
        c = stack.containers()[svc]
        time.sleep(0.5)  # the reports of the previous round are out
        seen = len(recv.received()["documents"])
        n_die = len(watch.events)
        t0, t0_mono = time.time(), time.monotonic()
        bench.docker.kill(c["Id"])
        t_rep = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and t_rep is None:
            for t, doc in _docs_with_times(recv)[seen:]:
                for s in doc.get("services", []):
                    if s.get("name") == svc and (s.get("container_id") != c["Id"] or
                                                 s.get("state") != "running"):
                        t_rep = t
                        break
                if t_rep:
                    break
            time.sleep(0.005)
        samples.append(None if t_rep is None else t_rep - t0)
        try:
            die.append(watch.wait(lambda evs: evs[n_die][0] if len(evs) > n_die else None,
                                  5) - t0_mono)
        except TimeoutError:
            pass
        for cs in bench.docker.containers("com.docker.compose.project=" + stack.project):
            if cs["State"] != "running":
                bench.docker.start(cs["Id"])
        stack.wait_all_healthy(timeout=60)
    watch.close()
    got = sorted(s for s in samples if s is not None)
    summary = {"kills": kills, "reported": len(got)}
    if die:
        summary["die_event_p50"] = report.percentile(die, 50)
    if got:
        summary.update(p50=report.percentile(got, 50), p95=report.percentile(got, 95),
                       max=got[-1], min=got[0])
    return {"samples": samples, "summary": summary}


def binary_sizes(path):
    out = {"unstripped": os.path.getsize(path)}
    with tempfile.TemporaryDirectory() as d:
        s = os.path.join(d, "berth")
        if subprocess.run(["strip", "-o", s, path], capture_output=True).returncode == 0:
            out["stripped"] = os.path.getsize(s)
    return out


# ---------------------------------------------------------------------------------------------

def machine(bench):
    v = bench.docker.version()
    info = bench.docker.info()
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    compose = subprocess.run(["docker-compose", "version", "--short"], capture_output=True,
                             text=True).stdout.strip()
    berth_v = run_berth_timed([bench.berth, "version"], timeout=30, expect=0).out.strip()
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": platform.release(), "docker": v.get("Version"),
            "docker_api": v.get("ApiVersion"), "storage_driver": info.get("Driver"),
            "compose": compose, "berth": berth_v, "loadavg_start": os.getloadavg(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: N=1,10, 2 runs")
    ap.add_argument("--tiny", action="store_true", help="CI smoke: N=2, 1 run, no warm-up")
    ap.add_argument("--sizes", help="service counts, e.g. 1,10,50")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help="comma list of " + ",".join(SCENARIOS))
    ap.add_argument("--pull-images", type=int, help="M for the pull scenario")
    ap.add_argument("--pull-mb", type=float, help="MB of random data per pulled image")
    ap.add_argument("--idle", type=float, help="daemon idle window, seconds")
    ap.add_argument("--kills", type=int, help="docker kills for the report latency")
    ap.add_argument("--daemon-services", type=int, default=None)
    ap.add_argument("--steady-interval", default="10s",
                    help="health check interval of svc01.. in the stacks that stay up for "
                         "scenarios 1 and 3 (svc00 and every other scenario: 1s)")
    ap.add_argument("--out", help="where results.json, RESULTS.md and scaling.png go")
    ap.add_argument("--save", action="store_true",
                    help="also write tests/bench/RESULTS.md and tests/bench/scaling.png")
    ap.add_argument("--keep", action="store_true", help="leave projects and files (debugging)")
    ap.add_argument("--verbose", "-v", action="store_true", help="tracebacks of failures")
    args = ap.parse_args(argv)

    if args.tiny:
        d = dict(sizes="2", runs=1, warmup=0, pull_images=2, pull_mb=0.25, idle=3.0, kills=3,
                 daemon_services=2)
    elif args.quick:
        d = dict(sizes="1,10", runs=2, warmup=1, pull_images=5, pull_mb=2.0, idle=20.0,
                 kills=10, daemon_services=10)
    else:
        d = dict(sizes="1,10,50", runs=5, warmup=1, pull_images=10, pull_mb=4.0, idle=60.0,
                 kills=20, daemon_services=10)
    for k, v in d.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    sizes = [int(s) for s in args.sizes.split(",")]
    scen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in scen:
        if s not in SCENARIOS:
            ap.error("unknown scenario %s" % s)
    out_dir = args.out or os.path.join(os.environ.get("BERTH_BUILD_DIR") or
                                       os.path.join(ROOT, "build"), "bench")
    os.makedirs(out_dir, exist_ok=True)
    global LOG_FILE
    LOG_FILE = open(os.path.join(out_dir, "bench.log"), "w")

    bench = Bench(args)
    stop = {"sig": None}

    def on_signal(sig, _frame):
        stop["sig"] = sig
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    results = {"config": {"sizes": sizes, "runs": args.runs, "warmup": args.warmup,
                          "scenarios": scen, "pull_images": args.pull_images,
                          "pull_mb": args.pull_mb, "idle_s": args.idle, "kills": args.kills,
                          "daemon_services": args.daemon_services,
                          "steady_interval": args.steady_interval,
                          "mode": "tiny" if args.tiny else "quick" if args.quick else "full"},
               "scenarios": {}, "notes": [], "rid": bench.rid}
    t_start = time.monotonic()
    try:
        bench.start()
        results["machine"] = machine(bench)
        results["binary"] = binary_sizes(bench.berth)
        log("machine: %s" % results["machine"])
        res = results["scenarios"]

        def attempt(what, fn, *a):
            """A failed scenario is reported in the results, not hidden, and the run goes on."""
            try:
                return fn(*a)
            except Exception as e:  # noqa: BLE001
                msg = "%s: failed: %s" % (what, str(e).strip().splitlines()[0][:400])
                results["notes"].append(msg)
                results["failures"] = results.get("failures", 0) + 1
                log(msg)
                if args.verbose:
                    import traceback
                    traceback.print_exc()
                return None

        def store(key, n, value):
            if value is not None:
                res.setdefault(key, {})[str(n)] = value

        for n in sizes:
            if "noop" in scen or "update" in scen:
                stacks = attempt("set-up N=%d" % n, setup_pair, bench, n)
                if stacks and "noop" in scen:
                    store("noop", n, attempt("no-op N=%d" % n, scenario_noop, bench, n,
                                             args.runs, args.warmup, stacks))
                if stacks and "update" in scen:
                    store("update", n, attempt("update N=%d" % n, scenario_update, bench, n,
                                               args.runs, args.warmup, stacks))
                for key in ("b", "c"):
                    bench.docker.remove_project(bench.project(key, "s%d" % n))
            if "cold" in scen:
                store("cold", n, attempt("cold start N=%d" % n, scenario_cold, bench, n,
                                         args.runs, args.warmup))
        if "pull" in scen:
            store("pull", args.pull_images, attempt(
                "pull M=%d" % args.pull_images, scenario_pull, bench, args.pull_images,
                args.pull_mb, args.runs, args.warmup))
        if "badimage" in scen:
            store("badimage", 1, attempt("bad image", scenario_badimage, bench, args.runs,
                                         args.warmup))
        if "daemon" in scen:
            if berth_run_available(bench):
                d = attempt("daemon", scenario_daemon, bench, args.daemon_services, args.idle,
                            args.kills)
                if d:
                    res["daemon"] = d
            else:
                results["notes"].append("daemon: `berth run` is not implemented in this build; "
                                        "footprint and report latency not measured")
                log(results["notes"][-1])
    except KeyboardInterrupt:
        log("interrupted (signal %s): cleaning up" % stop["sig"])
        bench.cleanup()
        return 130
    except Exception:
        bench.cleanup()
        raise
    finally:
        with open(os.path.join(out_dir, "berth-processes.json"), "w") as f:
            json.dump(BERTH_PROCESSES, f, indent=1)
    results["elapsed_s"] = time.monotonic() - t_start
    results["machine"]["loadavg_end"] = os.getloadavg()
    bench.cleanup()

    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    md = report.markdown(results)
    with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
        f.write(md)
    chart = report.chart(results, os.path.join(out_dir, "scaling.png"))
    if args.save:
        shutil.copy(os.path.join(out_dir, "RESULTS.md"), os.path.join(HERE, "RESULTS.md"))
        if chart:
            shutil.copy(chart, os.path.join(HERE, "scaling.png"))
    sys.stdout.write(md)
    log("done in %.0f s; results in %s" % (results["elapsed_s"], out_dir))
    if results.get("failures"):
        log("%d scenario(s) failed: see the notes at the end of RESULTS.md" %
            results["failures"])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
