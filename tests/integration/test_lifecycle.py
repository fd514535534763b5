"""Issue 2: the compose-style lifecycle against the real dockerd (images local, no registry)."""
import os
import re
import subprocess

import berth_testlib as lib

# busybox httpd as PID 1 would ignore SIGTERM: a shell that traps it stops promptly.
HTTPD = '["/bin/sh", "-c", "trap \'exit 0\' TERM; httpd -f -p 8080 -h /www & wait"]'
CHECK = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"], '
         'interval = "300ms", timeout = "2s", retries = 3, '
         'start_period = "30s" }')


def stack(project, image, web_env="1", extra="", web=True):
    text = f'''
[agent]
project = "{project}"
config_version = "test-1"

[services.db]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
pull_policy = "never"
volumes = ["data:/data"]

[services.api]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
depends_on = {{ db = "service_healthy" }}
pull_policy = "never"
'''
    if web:
        text += f'''
[services.web]
image = "{image}"
command = {HTTPD}
healthcheck = {CHECK}
depends_on = {{ api = "service_healthy" }}
environment = {{ WEB_VERSION = "{web_env}" }}
pull_policy = "never"
'''
    return text + extra


def ids(project):
    return {name: c["Id"] for name, c in lib.containers(project).items()}


def test_first_start_healthy_chain_then_idempotent(berth, project, base_image):
    berth.write(stack(project, base_image))
    with lib.ProjectEvents(project) as ev:
        r = berth.up()
        chain = ev.events("start", "health_status")
    cs = lib.containers(project)
    assert sorted(cs) == [f"{project}-api-1", f"{project}-db-1", f"{project}-web-1"]
    for name, c in cs.items():
        assert c["State"]["Status"] == "running", name
        assert c["State"]["Health"]["Status"] == "healthy", name
        labels = c["Config"]["Labels"]
        assert labels["com.docker.compose.project"] == project
        assert labels["com.docker.compose.container-number"] == "1"
        assert labels["com.docker.compose.oneoff"] == "False"
        assert len(labels["com.docker.compose.config-hash"]) == 64
        assert labels["com.docker.compose.image"].startswith("sha256:")
        assert f"{project}_default" in c["NetworkSettings"]["Networks"]
    # The healthy-gated chain: api started only after db was healthy, web after api (from the
    # engine's own event log).
    order = []  # (service, action) in the order dockerd sent them, first occurrence each
    for e in chain:
        key = (e["Actor"]["Attributes"]["com.docker.compose.service"], e["Action"].split(":")[0])
        if key not in order:
            order.append(key)
    assert order.index(("api", "start")) > order.index(("db", "health_status")), order
    assert order.index(("web", "start")) > order.index(("api", "health_status")), order
    assert f"container {project}-db-1 created" in r.stdout
    assert f"network {project}_default created" in r.stdout
    assert f"volume {project}_data created" in r.stdout

    before = ids(project)
    r2 = berth.up()
    assert ids(project) == before
    assert "nothing to do" in r2.stdout
    assert "created" not in r2.stdout and "started" not in r2.stdout


def test_changed_environment_recreates_only_that_service(berth, project, base_image):
    berth.write(stack(project, base_image, web_env="1"))
    berth.up()
    before = ids(project)
    berth.write(stack(project, base_image, web_env="2"))
    r = berth.up()
    after = ids(project)
    assert after[f"{project}-db-1"] == before[f"{project}-db-1"]
    assert after[f"{project}-api-1"] == before[f"{project}-api-1"]
    assert after[f"{project}-web-1"] != before[f"{project}-web-1"]
    assert "configuration changed" in r.stdout
    env = lib.containers(project)[f"{project}-web-1"]["Config"]["Env"]
    assert "WEB_VERSION=2" in env
    assert len(after) == 3  # the previous container was removed after the swap


def test_stopped_container_is_started_and_orphan_removed(berth, project, base_image):
    berth.write(stack(project, base_image))
    berth.up()
    lib.docker("stop", "-t", "1", f"{project}-api-1")
    berth.write(stack(project, base_image, web=False))
    r = berth.up()
    cs = lib.containers(project)
    assert sorted(cs) == [f"{project}-api-1", f"{project}-db-1"]
    assert cs[f"{project}-api-1"]["State"]["Status"] == "running"
    assert f"container {project}-web-1 removed" in r.stdout
    assert "no longer configured" in r.stdout


def test_failing_health_check_fails_up_with_clear_message(berth, project, base_image):
    bad = ('{ test = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9999/"], '
           'interval = "200ms", timeout = "1s", retries = 2 }')
    berth.write(f'''
[agent]
project = "{project}"

[services.db]
image = "{base_image}"
command = {HTTPD}
healthcheck = {bad}
pull_policy = "never"

[services.api]
image = "{base_image}"
command = {HTTPD}
depends_on = {{ db = "service_healthy" }}
pull_policy = "never"
''')
    r = berth.up(check=1)
    assert f"container {project}-db-1 unhealthy" in r.stderr
    assert "api: dependency db failed" in r.stderr
    cs = lib.containers(project)
    assert f"{project}-api-1" not in cs  # never created: its dependency failed


def test_down_removes_containers_and_network_keeps_volumes(berth, project, base_image):
    berth.write(stack(project, base_image))
    berth.up()
    r = berth.down()
    assert lib.containers(project) == {}
    assert f"{project}_default" not in lib.docker("network", "ls", "--format", "{{.Name}}")
    assert f"{project}_data" in lib.docker("volume", "ls", "--format", "{{.Name}}")
    assert "3 containers removed" in r.stdout
    berth.down("--volumes")
    assert f"{project}_data" not in lib.docker("volume", "ls", "--format", "{{.Name}}")


def test_stop_order_is_reverse_dependency_order(berth, project, base_image):
    berth.write(stack(project, base_image))
    berth.up()
    with lib.ProjectEvents(project) as ev:
        berth.down()
        died = ev.events("die")
    order = [e["Actor"]["Attributes"]["com.docker.compose.service"] for e in died]
    assert order.index("web") < order.index("api") < order.index("db"), order


def compose_ps(project, compose_file):
    """{container name: State column} from Debian's docker-compose (v1) `ps` of the project."""
    r = subprocess.run(["docker-compose", "-p", project, "-f", compose_file, "--no-ansi", "ps"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, COMPOSE_INTERACTIVE_NO_CLI="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    # A header ("Name  Command  State  Ports"), a dashed rule, one row per container; the
    # columns are separated by runs of two or more spaces.
    assert len(lines) >= 2 and lines[1].startswith("---"), r.stdout
    rows = {}
    for line in lines[2:]:
        cols = re.split(r"\s{2,}", line.strip())
        assert len(cols) >= 3, line
        rows[cols[0]] = cols[2]
    return rows


def test_compose_sees_berth_containers(berth, project, base_image, tmp_path):
    """Debian's docker-compose (v1) lists berth's containers by their labels, as its own, with
    their state: every service of the project, healthy, and a stopped one as exited."""
    berth.write(stack(project, base_image))
    berth.up()
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text("version: \"2.4\"\nservices:\n" + "".join(
        f"  {s}:\n    image: {base_image}\n" for s in ("db", "api", "web")))
    assert compose_ps(project, str(compose_file)) == {
        f"{project}-{s}-1": "Up (healthy)" for s in ("db", "api", "web")}

    lib.docker("stop", f"{project}-web-1")  # its PID 1 traps TERM and exits 0
    assert compose_ps(project, str(compose_file)) == {
        f"{project}-db-1": "Up (healthy)", f"{project}-api-1": "Up (healthy)",
        f"{project}-web-1": "Exit 0"}


def test_bad_config_exits_78_and_changes_nothing(berth, project, base_image):
    berth.write(stack(project, base_image))
    berth.up()
    before = ids(project)
    berth.write(stack(project, base_image) + '\n[services.bad]\nimage = "Not Valid"\nports = ["80:80:80"]\n')
    r = berth.up(check=78)
    assert "berth.toml:" in r.stderr
    assert 'services.bad.ports[0]: "80:80:80"' in r.stderr
    assert ids(project) == before


def test_dependant_with_restart_true_restarts_after_its_dependency_is_updated(berth, project, base_image):
    def cfg(db_env):
        return f'''
[agent]
project = "{project}"

[services.db]
image = "{base_image}"
command = {HTTPD}
healthcheck = {CHECK}
environment = {{ DB_VERSION = "{db_env}" }}
pull_policy = "never"

[services.api]
image = "{base_image}"
command = {HTTPD}
depends_on = {{ db = {{ condition = "service_healthy", restart = true }} }}
pull_policy = "never"
'''
    berth.write(cfg("1"))
    berth.up()
    api_before = lib.containers(project)[f"{project}-api-1"]
    berth.write(cfg("2"))
    r = berth.up()
    api_after = lib.containers(project)[f"{project}-api-1"]
    assert api_after["Id"] == api_before["Id"]  # not recreated...
    assert api_after["State"]["StartedAt"] > api_before["State"]["StartedAt"]  # ...but restarted
    assert "dependency db was updated" in r.stdout
