"""Runs `berth run` the way systemd would: its own NOTIFY_SOCKET (recording every datagram),
WATCHDOG_USEC, and a private D-Bus daemon standing in for the system bus."""
import os
import signal
import socket
import subprocess
import threading
import time

import berth_testlib as lib


class NotifyListener:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []  # (time, text)
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while self.running:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.time(), data.decode()))

    def texts(self):
        with self.lock:
            return [m for _, m in self.messages]

    def timed(self):
        with self.lock:
            return list(self.messages)

    def wait_for(self, text, timeout=60, start=0):
        def found():
            msgs = self.texts()[start:]
            for i, m in enumerate(msgs):
                if text in m.split("\n"):
                    return start + i + 1
            return None
        return lib.wait_for(found, timeout=timeout, what=f"sd_notify {text}")

    def close(self):
        self.running = False
        self.sock.close()


class PrivateBus:
    def __init__(self, tmpdir):
        self.path = os.path.join(tmpdir, "bus")
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1",
             f"--address=unix:path={self.path}"], stdout=subprocess.PIPE, text=True)
        self.address = self.proc.stdout.readline().strip()

    def busctl(self, *args, check=True):
        r = subprocess.run(["busctl", f"--address={self.address}", *args], capture_output=True,
                           text=True, timeout=10)
        if check and r.returncode != 0:
            raise AssertionError(f"busctl {' '.join(args)}: {r.stderr}")
        return r

    def monitor(self, match):
        return BusMonitor(self.address, match)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=5)


class BusMonitor:
    """dbus-monitor on the private bus, its output collected by a thread. Returned once the
    monitor is subscribed: dbus-monitor prints the NameLost of its own connection when
    BecomeMonitor took effect (a fixed sleep missed signals on a loaded machine)."""

    def __init__(self, address, match):
        self.proc = subprocess.Popen(["dbus-monitor", "--address", address, match],
                                     stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.wait_for(lambda out: "member=NameLost" in out, what="dbus-monitor subscribed")

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line)

    def output(self):
        with self.lock:
            return "".join(self.lines)

    def wait_for(self, pred, timeout=60, what="dbus-monitor output"):
        return lib.wait_for(lambda: pred(self.output()), timeout=timeout, what=what)

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(10)
        return self.output()


class Daemon:
    def __init__(self, berth, tmpdir, env=None, watchdog_usec=2_000_000, bus=True):
        self.berth = berth
        self.notify = NotifyListener(os.path.join(tmpdir, "notify.sock"))
        self.bus = PrivateBus(tmpdir) if bus else None
        # What this daemon's environment changes (None unsets: EcrWorld.env() clears the AWS_*
        # variables); self.env is the whole environment it gets (berth_process.berth_env).
        self.overrides = {"NOTIFY_SOCKET": self.notify.path,
                          "WATCHDOG_USEC": str(watchdog_usec),
                          "BERTH_DBUS_ADDRESS": self.bus.address if self.bus else "none",
                          "WATCHDOG_PID": None}
        self.overrides.update(env or {})
        self.env = lib.berth_env(self.overrides)
        self.log_path = os.path.join(tmpdir, "berth-run.log")
        open(self.log_path, "w").close()  # one log for every start of this daemon
        self.proc = None
        self.process = None

    def start(self, expect=0):
        """Starts `berth run`; expect: its exit status once stopped (checked at the end of the
        test with its log, see berth_process.py)."""
        self.process = lib.start_berth(
            ["run", "--config", self.berth.config, "--state-dir", self.berth.state],
            env=self.overrides, log_path=self.log_path, expect=expect)
        self.proc = self.process.popen
        return self

    def expect_exit(self, *statuses, crash_report=False):
        """The exit statuses the current `berth run` may end with (negative: a signal), when the
        test kills it on purpose; crash_report: a sanitizer's report of that crash is expected."""
        self.process.expect_exit(*statuses, crash_report=crash_report)

    def cli(self, *args, check=None, expect=None):
        r = lib.run_berth(list(args), env=self.overrides, timeout=60,
                          expect=expect if expect is not None else check)
        if check is not None and r.returncode != check:
            raise AssertionError(f"berth {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def signal(self, sig):
        self.proc.send_signal(sig)

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def close(self):
        self.stop()
        self.notify.close()
        if self.bus:
            self.bus.close()
