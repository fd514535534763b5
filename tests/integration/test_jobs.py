"""Issue 15: one-shot services (jobs: restart "no" or "on-failure", their command ends by itself).
A job that nothing depends on, on a dockerd of the test's own (it is killed once):
  - `berth up` exits 0 twice and says "completed"; the second run does not start it again;
  - under `berth run` it is reported "completed" with exit code 0 and its finish time, and it is
    not run again by SIGHUP, `berth reload`, periodic update checks or a dockerd kill -9 and
    restart (its container and StartedAt stay the same);
  - changing its command runs it once more (a new container whose log has one run), and only
    once;
  - a job that exits non-zero is a failure of `berth up` with the exit code and its last log
    lines.
The shared dockerd is never touched (tests/integration/private_dockerd.py)."""
import json
import signal

import berth_testlib as lib
from daemon_fixture import Daemon
from private_dockerd import dockerd  # noqa: F401  (the fixture)

HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "5s", retries = 3, start_period = "30s" }')


def config(project, image, job_cmd, interval="0"):
    return f'''[agent]
project = "{project}"
update_interval = "{interval}"

[services.web]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
pull_policy = "never"

[services.migrate]
image = "{image}"
command = {json.dumps(job_cmd)}
restart = "no"
pull_policy = "never"
'''


def job(dockerd, project):
    c = dockerd.containers().get(f"{project}-migrate-1")
    assert c, "no job container"
    return c


def job_ran_again(dockerd, project, first_id):
    # The recreate removes the old container before it creates the new one: for that moment
    # there is no job container at all, which is "not yet", not a failure.
    c = dockerd.containers().get(f"{project}-migrate-1")
    return bool(c) and c["Id"] != first_id and c["State"]["Status"] == "exited"


def settled_status(d):
    st = json.loads(d.cli("status", "--json", check=0).stdout)
    return st if st["overall"] != "converging" else None


def started(c):
    return c["Id"], c["State"]["StartedAt"]


def count_lines(d, text):
    return sum(1 for l in d.output().splitlines() if text in l)


def wait_more(d, text, n0, what, k=1, timeout=90):
    lib.wait_for(lambda: count_lines(d, text) >= n0 + k, timeout=timeout, interval=0.2,
                 what=what)


def test_a_completed_job_is_never_run_again_until_it_changes(dockerd, base_image, tmp_path):
    project = lib.unique_project("t-jobs")
    berth = lib.Berth(str(tmp_path), project)
    env = {"DOCKER_HOST": dockerd.host, "AWS_EC2_METADATA_DISABLED": "true"}
    berth.write(config(project, base_image, ["/bin/sh", "-c", "echo t15-job-run-1"]))
    r1 = berth.up(env=env)
    print(r1.stdout + r1.stderr)
    assert "completed" in r1.stdout
    first = started(job(dockerd, project))
    assert job(dockerd, project)["State"]["ExitCode"] == 0
    r2 = berth.up(env=env)
    assert "(nothing to do)" in r2.stdout, r2.stdout
    assert started(job(dockerd, project)) == first

    berth.write(config(project, base_image, ["/bin/sh", "-c", "echo t15-job-run-1"], "1s"))
    d = Daemon(berth, str(tmp_path), env=env)
    try:
        d.start()
        d.notify.wait_for("READY=1", timeout=90)
        # With a 1 s update interval a periodic check may be running when status is asked:
        # overall is then "converging". Read it between two checks.
        st = lib.wait_for(lambda: settled_status(d), timeout=30, interval=0.1,
                          what="a status read between two periodic checks")
        m = next(s for s in st["services"] if s["name"] == "migrate")
        assert m["state"] == "completed" and m["exit_code"] == 0 and m["job"] is True
        assert m["finished_at"] and m["update_status"] == "up_to_date"
        assert st["overall"] == "healthy", st

        reloaded = "converging: configuration reloaded"
        n = count_lines(d, reloaded)
        d.signal(signal.SIGHUP)
        wait_more(d, reloaded, n, "the SIGHUP converge")
        d.cli("reload", check=0)
        wait_more(d, reloaded, n, "the `berth reload` converge", k=2)
        n = count_lines(d, "converging: periodic update check")
        wait_more(d, "converging: periodic update check", n, "three periodic checks", k=3)
        assert started(job(dockerd, project)) == first

        n = count_lines(d, "docker is back")
        dockerd.kill9()
        why = dockerd.start()
        assert why is None, why
        wait_more(d, "docker is back", n, "berth reconnected")
        n = count_lines(d, "converging: periodic update check")
        wait_more(d, "converging: periodic update check", n, "checks after the reconnect", k=2)
        assert started(job(dockerd, project)) == first
        assert job(dockerd, project)["State"]["Status"] == "exited"

        # A new command: the job runs once more, and only once.
        berth.write(config(project, base_image, ["/bin/sh", "-c", "echo t15-job-run-2"], "1s"))
        d.signal(signal.SIGHUP)
        lib.wait_for(lambda: job_ran_again(dockerd, project, first[0]), timeout=60,
                     what="the changed job ran")
        second = started(job(dockerd, project))
        n = count_lines(d, "converging: periodic update check")
        wait_more(d, "converging: periodic update check", n, "checks after the change", k=3)
        assert started(job(dockerd, project)) == second
        logs = dockerd.docker("logs", f"{project}-migrate-1")
        assert logs.splitlines() == ["t15-job-run-2"], logs
        out = d.output()
        assert "migrate completed (exit code 0)" in out
        assert "container of migrate exited" not in out  # a job's normal end is no death
        assert d.stop() == 0
    finally:
        d.close()

    # A job that fails: `berth up` fails with its exit code and last log lines.
    berth.write(config(project, base_image,
                       ["/bin/sh", "-c", "echo t15-job-broken: no database; exit 4"]))
    r = berth.up(env=env, check=1)
    print(r.stdout + r.stderr)
    assert "did not complete successfully: exit 4" in r.stderr
    assert "t15-job-broken: no database" in r.stderr
    ids = dockerd.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}")
    if ids:
        dockerd.docker("rm", "-f", *ids.split(), check=False)
