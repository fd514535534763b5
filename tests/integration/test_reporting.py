"""Issue 5: `berth run` reports to a (fake, strict) dashboard. One berth run, end to end:
  1. the first converge is reported: every document validates against the repo's JSON Schema,
     the bearer token is checked, the containers and tags are the ones Docker runs;
  2. `docker kill` of a container -> a report with its state (exited, exit code 137) and a
     `died` event with the exit code (the latency is printed, never asserted);
  3. the dashboard answers 503 + Retry-After while a container crashes three times (restarted
     by Docker's restart policy) -> reports are spooled and, once it
     recovers, delivered in order (sequence strictly increasing), every event exactly once;
  4. berth restarted while the dashboard is down (connections cut) -> the spooled reports
     survive the restart and are delivered after it, in the same stream, before newer ones;
  5. the token never appears in berth's output, the reports or the state directory.
The receiver is tests/fakes/dashboard.py, in-process: it validates every document against
agent/report/berth.status.v1.schema.json, checks the token, dedupes by (stream, sequence) and
records any ordering or exactly-once violation."""
import json
import os
import signal
import time

import jsonschema
import pytest

import berth_testlib as lib
from daemon_fixture import Daemon
from dashboard import DEFAULT_SCHEMA, DashboardReceiver

TOKEN = "t-daemonrep-dash-9f3c2a71e4b84d06"
HTTPD = json.dumps(lib.HTTPD_CMD)
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "5s", retries = 3, start_period = "30s" }')


def config(project, image, port, token_file):
    return f'''
[agent]
project = "{project}"
config_version = "2026.11.23"

[dashboard]
url = "http://127.0.0.1:{port}/api/servers/{{hostname}}/containers?project={{project}}"
token_file = "{token_file}"
heartbeat = "1h"

[services.db]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
pull_policy = "never"

[services.api]
image = "{image}"
command = {HTTPD}
pull_policy = "never"
'''


@pytest.fixture
def dash():
    d = DashboardReceiver(token=TOKEN).start()
    yield d
    d.stop()


def svc(doc, name):
    return next(s for s in doc["services"] if s["name"] == name)


def check_clean(r):
    """The receiver saw nothing wrong: schema, token, order, exactly once."""
    assert r["violations"] == [], r["violations"]
    assert r["invalid"] == 0 and r["unauthorized"] == 0


def test_reports_kill_outage_restart_and_no_token(dash, berth, project, base_image, tmp_path):
    with open(DEFAULT_SCHEMA) as f:
        validator = jsonschema.Draft7Validator(json.load(f))
    token_file = os.path.join(str(tmp_path), "dashboard.token")
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(token_file, 0o600)
    berth.write(config(project, base_image, dash.port, token_file))
    spool = os.path.join(berth.state, "report", "spool")
    # No IMDS lookups: tests talk to 127.0.0.0/8 only.
    d = Daemon(berth, str(tmp_path), env={"AWS_EC2_METADATA_DISABLED": "true"})
    outputs = []

    def db():
        return lib.containers(project)[f"{project}-db-1"]

    def crash(c):
        # The container's main process killed from outside, like the OOM killer would: Docker's
        # restart policy brings it back (a `docker kill` counts as a manual stop and would not).
        os.kill(c["State"]["Pid"], signal.SIGKILL)
    try:
        # 1. First converge reported.
        d.start()
        d.notify.wait_for("READY=1", timeout=90)
        cs = lib.containers(project)
        ids = {n: c["Id"] for n, c in cs.items()}

        def converged(r):
            for doc in reversed(r["documents"]):
                states = {s["name"]: (s["state"], s["container_id"]) for s in doc["services"]}
                if states == {"db": ("running", ids[f"{project}-db-1"]),
                              "api": ("running", ids[f"{project}-api-1"])}:
                    return doc
            return None
        first = lib.wait_for(lambda: converged(dash.received()), timeout=20,
                             what="a report of the converged stack")
        r = dash.received()
        check_clean(r)
        assert r["paths"][0] == f"/api/servers/{os.uname().nodename}/containers?project={project}"
        assert first["schema"] == "berth.status/v1" and first["project"] == project
        assert first["config_version"] == "2026.11.23"
        assert first["host"]["hostname"] == os.uname().nodename
        assert first["host"]["instance_id"] is None  # off EC2
        for name in ("db", "api"):
            s = svc(first, name)
            assert s["image"] == base_image.split(":")[0] and s["requested_tag"] == "base"
        stream = first["stream"]

        # 2. docker kill -> exited with its exit code, and a `died` event.
        n_docs = len(r["documents"])
        t0 = time.time()
        lib.docker("kill", f"{project}-api-1")

        def died(r):
            for doc in r["documents"][n_docs:]:
                evs = [e for e in doc["events"] if e["service"] == "api" and e["kind"] == "died"]
                if evs and svc(doc, "api")["state"] == "exited":
                    return doc, evs[0], time.time()
            return None
        doc, ev, t1 = lib.wait_for(lambda: died(dash.received()), timeout=20, interval=0.02,
                                   what="the report of api's death")
        print(f"\ndocker kill -> report at the dashboard: {(t1 - t0) * 1000:.0f} ms "
              f"(polled every 20 ms)")
        assert ev["exit_code"] == 137 and "137" in ev["detail"]
        assert svc(doc, "api")["exit_code"] == 137
        assert doc["overall"] == "degraded"
        check_clean(dash.received())

        # 3. 503 + Retry-After: spooled, then delivered in order, every event exactly once.
        before = dash.received()
        dash.set_mode("status", status=503, retry_after="1")
        kills = 3
        restarts = []
        for i in range(kills):
            db_id = db()["Id"]
            t_kill = time.time()
            crash(db())
            lib.wait_for(lambda: db()["RestartCount"] > i and db()["State"]["Status"] == "running",
                         what="db restarted")
            restarts.append(time.time() - t_kill)
            assert db()["Id"] == db_id
        # Docker's restart policy brings it back (its delay doubles: 100, 200, 400 ms); on a
        # loaded machine the restart itself takes seconds (printed, never asserted).
        print("db restarted by Docker after " + ", ".join(f"{s:.1f}s" for s in restarts))
        lib.wait_for(lambda: len([f for f in os.listdir(spool) if f.endswith(".json") and
                                  f.startswith("r")]) >= 2, timeout=20,
                     what="reports spooled while the dashboard answers 503")
        refused = [x for x in dash.received()["log"] if x["status"] == 503]
        assert refused, "berth did not try while the dashboard answered 503"
        gaps = [b["t"] - a["t"] for a, b in zip(refused, refused[1:])]
        print(f"503 answers: {len(refused)}, gaps between tries (Retry-After: 1): "
              + ", ".join(f"{g:.2f}s" for g in gaps))
        dash.set_mode("ok")
        rc_now = db()["RestartCount"]

        def recovered(r):
            new = r["documents"][len(before["documents"]):]
            died_db = [e for d_ in new for e in d_["events"]
                       if e["service"] == "db" and e["kind"] == "died"]
            last = r["documents"][-1] if r["documents"] else None
            return (len(died_db) >= kills and last and
                    svc(last, "db")["restart_count"] == rc_now and
                    svc(last, "db")["state"] == "running")
        lib.wait_for(lambda: recovered(dash.received()), timeout=30,
                     what="the spooled reports delivered after the outage")
        r = dash.received()
        check_clean(r)
        new = r["documents"][len(before["documents"]):]
        seqs = [x["sequence"] for x in r["documents"]]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        ev_ids = [e["id"] for e in r["events"]]
        assert ev_ids == sorted(ev_ids) and len(set(ev_ids)) == len(ev_ids)  # exactly once
        died_db = [e for x in new for e in x["events"] if e["service"] == "db"
                   and e["kind"] == "died"]
        assert len(died_db) == kills and all(e["exit_code"] == 137 for e in died_db)
        assert all(x["stream"] == stream for x in r["documents"])

        # 4. berth restarted while the dashboard is down (connections cut): the spool survives.
        before = dash.received()
        dash.set_mode("refuse")
        crash(db())
        lib.wait_for(lambda: db()["RestartCount"] > rc_now, timeout=20, what="db restarted")
        lib.wait_for(lambda: any(x["mode"] == "refuse" for x in dash.received()["log"]),
                     timeout=20, what="berth trying while the dashboard is down")
        assert d.stop() == 0
        outputs.append(d.output())
        left = sorted(f for f in os.listdir(spool) if f.startswith("r") and f.endswith(".json"))
        assert left, "nothing spooled at stop while the dashboard was down"
        spooled = []
        for f in left:
            with open(os.path.join(spool, f)) as fh:
                spooled.append(json.load(fh))
        spooled_events = [e["id"] for x in spooled for e in x["events"]]
        assert any(e["service"] == "db" and e["kind"] == "died" for x in spooled
                   for e in x["events"])
        n = len(d.notify.texts())
        tries = len(dash.received()["log"])
        d.start()
        d.notify.wait_for("READY=1", start=n, timeout=90)
        lib.wait_for(lambda: any(x["mode"] == "refuse" for x in dash.received()["log"][tries:]),
                     timeout=20, what="the restarted berth trying while the dashboard is down")
        dash.set_mode("ok")

        def delivered(r):
            got = {e["id"] for e in r["events"]}
            return all(i in got for i in spooled_events) and \
                len(r["documents"]) > len(before["documents"]) + len(spooled)
        lib.wait_for(lambda: delivered(dash.received()), timeout=30,
                     what="the spool of the previous run delivered after the restart")
        r = dash.received()
        check_clean(r)
        new = r["documents"][len(before["documents"]):]
        # The previous run's reports first, in order, then the new run's, one stream.
        assert [x["sequence"] for x in new[:len(spooled)]] == [x["sequence"] for x in spooled]
        seqs = [x["sequence"] for x in r["documents"]]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        ev_ids = [e["id"] for e in r["events"]]
        assert ev_ids == sorted(ev_ids) and len(set(ev_ids)) == len(ev_ids)
        assert all(x["stream"] == stream for x in r["documents"])
        assert new[-1]["agent"]["started_at"] != first["agent"]["started_at"]
        lib.wait_for(lambda: not [f for f in os.listdir(spool) if f.startswith("r")],
                     timeout=10, what="the spool emptied")

        # 5. Every document valid against the repo's schema (the receiver checked each one at
        # arrival; checked again here), and the token nowhere.
        for x in r["documents"]:
            errors = list(validator.iter_errors(x))
            assert not errors, errors[0].message
        assert d.stop() == 0
        outputs.append(d.output())
        lib.assert_no_secrets([TOKEN], *outputs, json.dumps(r), state_dir=berth.state)
        assert "Bearer" not in "".join(outputs)
    finally:
        d.close()
