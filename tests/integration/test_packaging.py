"""Packaging: the unit's hardening score, and the .deb and .rpm built from one /usr build.

The packages come from their own build directory ($BERTH_BUILD_DIR/packaging-test, configured
with -DCMAKE_INSTALL_PREFIX=/usr and kept between runs so that rebuilding is incremental).
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(os.environ.get("BERTH_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("BERTH_BUILD_DIR", SRC / "build"))
UNIT = SRC / "systemd" / "berth.service"


def run(*cmd, cwd=None, check=True, timeout=600):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip("missing: " + ", ".join(missing))


def test_unit_exposure_at_most_3():
    need("systemd-analyze")
    p = run("systemd-analyze", "security", "--offline=yes", str(UNIT), check=False)
    m = re.search(r"Overall exposure level for berth\.service: ([0-9.]+)", p.stdout)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= 3.0, p.stdout


def test_unit_verifies():
    need("systemd-analyze")
    p = run("systemd-analyze", "verify", "--man=no", str(UNIT), check=False)
    # The only complaint allowed here: /usr/bin/berth is not installed on the test machine.
    problems = [l for l in (p.stdout + p.stderr).splitlines()
                if l.strip() and "is not executable" not in l]
    assert problems == []


@pytest.fixture(scope="module")
def packages():
    need("cmake", "cpack", "dpkg-deb", "rpmbuild", "rpm")
    # scripts/test configures the main build with prefix /usr and without sanitizers: package
    # that one (already built). Any other build gets its own packaging build directory.
    cache = (BUILD / "CMakeCache.txt").read_text() if (BUILD / "CMakeCache.txt").exists() else ""
    if "CMAKE_INSTALL_PREFIX:PATH=/usr\n" in cache and "BERTH_SANITIZE:BOOL=ON" not in cache \
            and "BERTH_TSAN:BOOL=ON" not in cache:
        pkg_build = BUILD
    else:
        pkg_build = BUILD / "packaging-test"
        run("cmake", "-S", SRC, "-B", pkg_build, "-DCMAKE_INSTALL_PREFIX=/usr",
            "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DBERTH_TESTS=OFF")
    run("cmake", "--build", pkg_build, "-j2", "--target", "berth", timeout=1200)
    for old in list(pkg_build.glob("berth*.deb")) + list(pkg_build.glob("berth*.rpm")):
        old.unlink()
    run("cpack", "-G", "DEB", cwd=pkg_build)
    run("cpack", "-G", "RPM", cwd=pkg_build)
    debs = list(pkg_build.glob("berth_*.deb"))
    rpms = list(pkg_build.glob("berth-*.rpm"))
    assert len(debs) == 1 and len(rpms) == 1, (debs, rpms)
    return debs[0], rpms[0]


def deb_files(deb):
    out = run("dpkg-deb", "-c", deb).stdout
    return sorted(line.split()[-1].lstrip(".") for line in out.splitlines() if not line.endswith("/"))


def test_deb_contents(packages):
    deb, _ = packages
    assert deb_files(deb) == [
        "/etc/berth/berth.toml",
        "/lib/systemd/system/berth.service",
        "/usr/bin/berth",
        "/usr/lib/sysusers.d/berth.conf",
        "/usr/lib/tmpfiles.d/berth.conf",
        "/usr/share/dbus-1/system.d/org.berth.Agent1.conf",
        "/usr/share/doc/berth/changelog.gz",
        "/usr/share/doc/berth/copyright",
            "/usr/share/doc/berth/examples/berth.toml",
        "/usr/share/man/man8/berth.8.gz",
    ]


def test_deb_control(packages, tmp_path):
    deb, _ = packages
    depends = run("dpkg-deb", "-f", deb, "Depends").stdout.strip()
    assert depends.startswith("docker.io | docker-ce | docker, dbus")
    run("dpkg-deb", "-e", deb, tmp_path / "control")
    control = tmp_path / "control"
    assert (control / "conffiles").read_text().split() == ["/etc/berth/berth.toml"]
    for script in ("postinst", "prerm", "postrm"):
        path = control / script
        assert os.access(path, os.X_OK), script
        text = path.read_text()
        if "systemctl" in text and script != "postinst":
            assert "/run/systemd/system" in text, script
    postinst = (control / "postinst").read_text()
    assert "systemd-sysusers /usr/lib/sysusers.d/berth.conf" in postinst
    assert "services\\." in postinst  # starts only with at least one [services.*] table


def test_config_is_0640_root_berth(packages):
    """Issue 22: berth.toml can hold secret environment values: 0640, group berth (set by the
    scripts once the group exists), never readable by others."""
    deb, rpm = packages
    listing = run("dpkg-deb", "-c", deb).stdout
    line = next(l for l in listing.splitlines() if l.endswith("/etc/berth/berth.toml"))
    assert line.startswith("-rw-r----- root/root"), line
    modes = run("rpm", "-qp", "--queryformat", "[%{FILEMODES:perms} %{FILENAMES}\n]", rpm).stdout
    assert "-rw-r----- /etc/berth/berth.toml" in modes.splitlines(), modes
    scripts = run("rpm", "-qp", "--scripts", rpm).stdout
    for text in (scripts, run("dpkg-deb", "-I", deb, "postinst").stdout):
        assert 'chgrp berth "$CONFIG"' in text and "o-rwx" in text


def test_lintian_has_no_errors(packages):
    """lintian's verdict decides: it exits non-zero on an error (--fail-on error) and also when
    it could not check the package at all, which a look for "E:" lines alone took for clean."""
    need("lintian")
    deb, _ = packages
    p = run("lintian", "--pedantic", "--fail-on", "error", deb, check=False, timeout=300)
    errors = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith("E:")]
    assert errors == [], p.stdout + p.stderr
    assert p.returncode == 0, f"lintian exited {p.returncode}:\n{p.stdout}{p.stderr}"
    print(p.stdout)  # warnings and pedantic notes stay visible


def test_rpm_contents(packages):
    _, rpm = packages
    files = run("rpm", "-qp", "--queryformat", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]", rpm).stdout
    flags = dict(line.rsplit(" ", 1) if " " in line else (line, "") for line in files.splitlines())
    assert "/usr/lib/systemd/system/berth.service" in flags
    assert "/lib/systemd/system/berth.service" not in flags
    assert "/usr/bin/berth" in flags
    assert "/usr/share/dbus-1/system.d/org.berth.Agent1.conf" in flags
    config = sorted(f for f, fl in flags.items() if "c" in fl)
    assert config == ["/etc/berth/berth.toml"]
    assert "n" in flags["/etc/berth/berth.toml"]  # %config(noreplace)
    requires = run("rpm", "-qp", "--requires", rpm).stdout
    assert "(docker or docker-ce or moby-engine or podman-docker)" in requires
    info = run("rpm", "-qpi", rpm).stdout
    assert "Relocations" not in info  # /etc and /lib paths: not relocatable
    scripts = run("rpm", "-qp", "--scripts", rpm).stdout
    assert "postinstall scriptlet" in scripts and "preuninstall scriptlet" in scripts
