"""The one place tests start berth processes, and the check every one of them gets.

Every berth a test starts goes through run_berth() (to completion) or start_berth() (in the
background); bench.py and the e2e guest report the berths they ran with record_finished(). Each
start passes the metadata guard (berth must not be able to reach 169.254.169.254 or AWS); each
process is recorded here, and at the end of the test that started it (the autouse fixture in
berth_pytest.py) it is checked: it has exited, with a status the test expected, and its output
has no sanitizer report (ASan, UBSan, TSan, LSan). A hit fails that test with the report
attached. tests/README.md says what a test author has to do."""
import ipaddress
import os
import signal
import subprocess
import tempfile
import threading
import tomllib
import urllib.parse

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:", "WARNING: ThreadSanitizer",
                      "LeakSanitizer")

# Variables that make berth (or its AWS SDK conventions) talk to an endpoint: each one set must
# point at 127.0.0.0/8 or ::1.
ENDPOINT_VARS = ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECR",
                 "AWS_ENDPOINT_URL_STS", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def berth_bin():
    b = os.environ.get("BERTH_BIN")
    if b:
        return b
    root = os.environ.get("BERTH_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    return os.path.join(root, "build", "agent", "berth")


# -- the metadata guard ---------------------------------------------------------------------------

def is_loopback_url(url):
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _config_path(args):
    args = list(args)
    for i, a in enumerate(args):
        if a == "--config" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    if len(args) >= 2 and args[0] == "check-config":
        return args[1]
    return None


def _config_problems(path, env):
    """What in the configuration would make berth leave the machine: a dashboard that is not on
    127.0.0.0/8, an ECR registry without a loopback ECR endpoint. An unreadable or invalid file
    is berth's to refuse (tests of bad configurations), not the guard's."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return []
    out = []
    url = (doc.get("dashboard") or {}).get("url")
    if isinstance(url, str) and url and not is_loopback_url(url.replace("{", "").replace("}", "")):
        out.append(f"[dashboard] url = {url!r} is not on 127.0.0.0/8")
    ecr = any(isinstance(r, dict) and r.get("auth") == "ecr"
              for r in (doc.get("registries") or {}).values())
    if ecr and not any(env.get(v) for v in ("AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL")):
        out.append("an ECR registry is configured but neither AWS_ENDPOINT_URL_ECR nor "
                   "AWS_ENDPOINT_URL points at the fake ECR")
    return out


def metadata_problems(env, args=()):
    """Why a berth with this environment (and the configuration named in args) could contact an
    address outside the machine; [] when it cannot."""
    out = []
    for v in ENDPOINT_VARS:
        if env.get(v) and not is_loopback_url(env[v]):
            out.append(f"{v}={env[v]} is not on 127.0.0.0/8")
    disabled = env.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true"
    if not disabled and not env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"):
        out.append("neither AWS_EC2_METADATA_DISABLED=true nor a loopback "
                   "AWS_EC2_METADATA_SERVICE_ENDPOINT is set: berth would ask 169.254.169.254")
    # Only `up` and `run` act on the configuration's registries and dashboard (check-config
    # reads it, the other commands talk to the daemon or Docker).
    path = _config_path(args)
    if path and args and args[0] in ("up", "run"):
        out += _config_problems(path, env)
    return out


def guard(env, args):
    problems = metadata_problems(env, args)
    if problems:
        raise AssertionError("berth " + " ".join(map(str, args)) + " not started: nothing may "
                             "leave the machine:\n  " + "\n  ".join(problems))


def berth_env(env=None):
    """berth's environment: os.environ with `env` applied (a None value unsets the variable).
    Unless `env` says something about AWS_EC2_METADATA_DISABLED or points
    AWS_EC2_METADATA_SERVICE_ENDPOINT somewhere (the fake IMDS), berth gets
    AWS_EC2_METADATA_DISABLED=true: no test lets it ask 169.254.169.254 by default."""
    env = env or {}
    e = dict(os.environ)
    for k, v in env.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    if "AWS_EC2_METADATA_DISABLED" not in env and not e.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"):
        e["AWS_EC2_METADATA_DISABLED"] = "true"
    return e


# -- the processes --------------------------------------------------------------------------------

class BerthProcess:
    """One berth process: its command, how it ended, where its output is."""

    def __init__(self, what, expect=None, log_path=None):
        self.what = what
        self.expect = expect  # None: any ordinary exit (0..127); else a set of statuses
        self.crash_report_ok = False
        self.log_path = log_path
        self.text = ""
        self.returncode = None
        self.popen = None
        self.checked = False

    def expect_exit(self, *statuses, crash_report=False):
        """The statuses the test expects (negative: killed by that signal). crash_report: the
        test kills berth on purpose and a sanitizer's report of that crash is expected."""
        self.expect = set(statuses)
        self.crash_report_ok = crash_report
        return self

    def poll(self):
        if self.popen is not None and self.returncode is None:
            self.returncode = self.popen.poll()
        return self.returncode

    def output(self):
        if self.log_path:
            try:
                with open(self.log_path, errors="replace") as f:
                    return f.read()
            except OSError:
                return ""
        return self.text

    def problems(self):
        rc = self.poll()
        if rc is None:
            return [f"{self.what}: still running"]
        out = []
        if not isinstance(rc, int):
            out.append(f"{self.what}: {rc}")
        elif self.expect is None:
            if not 0 <= rc < 128:
                out.append(f"{self.what}: exit status {rc} (killed by a signal or crashed)")
        elif rc not in self.expect:
            out.append(f"{self.what}: exit status {rc}, expected {sorted(self.expect)}")
        text = self.output()
        hits = [p for p in SANITIZER_PATTERNS if p in text]
        if hits and not self.crash_report_ok:
            start = min(text.index(p) for p in hits)
            out.append(f"{self.what}: sanitizer report ({', '.join(hits)}):\n"
                       + text[max(0, start - 2000):start + 12000])
        return out


_lock = threading.Lock()
_processes = []


def _record(p):
    with _lock:
        _processes.append(p)
    return p


def mark():
    with _lock:
        return len(_processes)


def run_berth(args, env=None, timeout=180, expect=None, cwd=None):
    """Runs berth to completion (stdout and stderr captured) and records it."""
    e = berth_env(env)
    guard(e, args)
    p = _record(BerthProcess("berth " + " ".join(map(str, args)),
                             expect={expect} if isinstance(expect, int) else expect))
    try:
        r = subprocess.run([berth_bin(), *args], capture_output=True, text=True, timeout=timeout,
                           env=e, cwd=cwd)
    except subprocess.TimeoutExpired as te:
        p.returncode = "timed out"
        p.text = _text(te.stdout) + _text(te.stderr)
        raise
    p.returncode, p.text = r.returncode, r.stdout + r.stderr
    return r


def _text(b):
    if b is None:
        return ""
    return b.decode(errors="replace") if isinstance(b, bytes) else b


def start_berth(args, env=None, log_path=None, expect=0):
    """Starts berth in the background, stdout and stderr to log_path (a new temp file when not
    given); returns the BerthProcess (its Popen in .popen). expect: the exit status when it is
    stopped (default 0: a SIGTERM'd daemon exits 0)."""
    e = berth_env(env)
    guard(e, args)
    if log_path is None:
        fd, log_path = tempfile.mkstemp(prefix="t-berth-", suffix=".log")
        os.close(fd)
    p = BerthProcess("berth " + " ".join(map(str, args)),
                     expect={expect} if isinstance(expect, int) else expect, log_path=log_path)
    with open(log_path, "a") as log:
        p.popen = subprocess.Popen([berth_bin(), *args], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=e)
    return _record(p)


def record_finished(what, returncode, output, expect=None, crash_report=False):
    """A berth process run elsewhere (bench.py, the e2e guest's berth.service) that a test
    reports for the same check."""
    p = BerthProcess(what, expect={expect} if isinstance(expect, int) else expect)
    p.returncode, p.text, p.crash_report_ok = returncode, output, crash_report
    return _record(p)


def check_since(start, running_ok=True):
    """Problems of the processes recorded from index `start` on; marks the finished ones
    checked. running_ok: a process still running is left for a later check (a module's daemon)."""
    with _lock:
        todo = [p for p in _processes[start:] if not p.checked]
    out = []
    for p in todo:
        if p.poll() is None and running_ok:
            continue
        p.checked = True
        out += p.problems()
    return out


def stop_leftovers():
    """Kills what is still running at the end of the session (each one is then a problem)."""
    with _lock:
        todo = [p for p in _processes if not p.checked and p.poll() is None]
    for p in todo:
        try:
            p.popen.send_signal(signal.SIGKILL)
            p.popen.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return [f"{p.what}: still running at the end of the session (killed)" for p in todo]
