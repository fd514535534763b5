// Issue 15's pure parts: job classification and planning, preflight bodies and probes, the
// engine-derived log driver default and its check, the configuration keys, the status fields.
#include <catch2/catch.hpp>
#include <map>

#include "config/config.hpp"
#include "core/container_spec.hpp"
#include "core/jsonstream.hpp"
#include "core/label_trust.hpp"
#include "core/naming.hpp"
#include "core/planner.hpp"
#include "core/preflight.hpp"
#include "core/status.hpp"

using namespace berth;

namespace {

config::ParseOutcome parse(std::string_view text) {
  config::FileReader none = [](const std::string&, std::string* why) -> std::optional<std::string> {
    *why = "No such file or directory";
    return std::nullopt;
  };
  return config::parse_config(text, "berth.toml", none, "/etc/berth");
}

std::vector<std::string> errors(std::string_view text) {
  std::vector<std::string> out;
  for (const auto& d : parse(text).diagnostics) out.push_back(config::to_string(d));
  return out;
}

ServiceSpec spec(const std::string& name, const std::string& restart) {
  ServiceSpec s;
  s.name = name;
  s.image = "busybox";
  s.restart = restart;
  return s;
}

ContainerInfo job_container(const std::string& state, int exit_code) {
  ContainerInfo c;
  c.id = "id-migrate";
  c.name = naming::container_name("p", "migrate");
  c.labels = {{labels::kProject, "p"},
              {labels::kService, "migrate"},
              {labels::kConfigHash, "h1"},
              {labels::kImage, "sha256:img1"},
              {labels::kOneoff, "False"}};
  c.labels[labels::kLabelsHash] = labels_hash(c.labels);  // created by berth
  c.state = state;
  c.exit_code = exit_code;
  c.networks = {naming::network_name("p")};
  return c;
}

TargetState job_target(const std::string& hash = "h1", const std::string& image = "sha256:img1") {
  TargetState d;
  d.project = "p";
  TargetService t;
  t.name = "migrate";
  t.config_hash = hash;
  t.image_id = image;
  t.oneshot = true;
  d.services["migrate"] = t;
  return d;
}

Observed with(const ContainerInfo& c) {
  Observed o;
  o.networks.push_back({"nid", "p_default", {}});
  o.containers.push_back(c);
  return o;
}

}  // namespace

TEST_CASE("jobs: restart no and on-failure are jobs, the others keep running", "[jobs]") {
  CHECK(is_job(spec("a", "no")));
  CHECK(is_job(spec("a", "on-failure")));
  CHECK(is_job(spec("a", "on-failure:3")));
  CHECK_FALSE(is_job(spec("a", "always")));
  CHECK_FALSE(is_job(spec("a", "unless-stopped")));

  Config cfg;
  cfg.services["seed"] = spec("seed", "unless-stopped");
  cfg.services["migrate"] = spec("migrate", "no");
  cfg.services["web"] = spec("web", "always");
  cfg.services["web"].depends_on.push_back(
      {"seed", DependsCondition::completed_successfully, false, true});
  CHECK(runs_to_completion(cfg, "migrate"));
  CHECK(runs_to_completion(cfg, "seed"));  // a dependant needs it to complete
  CHECK_FALSE(runs_to_completion(cfg, "web"));
  CHECK_FALSE(runs_to_completion(cfg, "nope"));
}

TEST_CASE("jobs: a completed job is left alone, a failed one runs again", "[jobs][planner]") {
  SECTION("exited 0, unchanged: nothing to do (periodic checks, reloads, reconnects)") {
    auto c = job_container("exited", 0);
    auto plan = make_plan(job_target(), with(c));
    CHECK_FALSE(plan.services["migrate"].action);
    CHECK(plan.empty());
  }
  SECTION("exited 1: started again") {
    auto c = job_container("exited", 1);
    auto plan = make_plan(job_target(), with(c));
    REQUIRE(plan.services["migrate"].action);
    CHECK(plan.services["migrate"].action->type == ActionType::start);
  }
  SECTION("its configuration changed: recreated (runs once more)") {
    auto c = job_container("exited", 0);
    auto plan = make_plan(job_target("h2"), with(c));
    REQUIRE(plan.services["migrate"].action);
    CHECK(plan.services["migrate"].action->type == ActionType::recreate);
  }
  SECTION("its image changed: recreated") {
    auto c = job_container("exited", 0);
    auto plan = make_plan(job_target("h1", "sha256:img2"), with(c));
    REQUIRE(plan.services["migrate"].action);
    CHECK(plan.services["migrate"].action->reason == "image changed");
  }
  SECTION("still running: left to finish") {
    auto c = job_container("running", 0);
    CHECK_FALSE(make_plan(job_target(), with(c)).services["migrate"].action);
  }
}

TEST_CASE("preflight: the trial body publishes nothing and has no aliases", "[preflight]") {
  ServiceSpec s = spec("web", "unless-stopped");
  s.ports.push_back({"", 8080, 80, "tcp"});
  auto body = container_body(s, SpecContext{"p", "", "", "1.41"});
  REQUIRE(body["HostConfig"].contains("PortBindings"));
  auto trial = preflight_body(body);
  CHECK_FALSE(trial["HostConfig"].contains("PortBindings"));
  CHECK(trial["HostConfig"]["PublishAllPorts"] == false);
  CHECK(trial["HostConfig"]["NetworkMode"] == "p_default");  // same network
  CHECK_FALSE(trial["NetworkingConfig"]["EndpointsConfig"]["p_default"].contains("Aliases"));
  CHECK(trial["Labels"] == body["Labels"]);
  CHECK(trial["Env"] == body["Env"]);
}

TEST_CASE("preflight: berth's probe is aimed at the trial container", "[preflight]") {
  std::vector<PortMapping> ports{{"", 8080, 80, "tcp"}, {"127.0.0.1", 9000, 9001, "tcp"}};
  Probe http;
  http.http = "http://127.0.0.1:8080/health?x=1";
  CHECK(probe_for_container(http, ports, "172.18.0.5").http == "http://172.18.0.5:80/health?x=1");
  http.http = "http://localhost:7000/";
  CHECK(probe_for_container(http, ports, "172.18.0.5").http == "http://172.18.0.5:7000/");
  http.http = "http://[::1]:9000";
  CHECK(probe_for_container(http, ports, "10.0.0.2").http == "http://10.0.0.2:9001");
  http.http = "http://127.0.0.1/";  // port 80: not published, kept
  CHECK(probe_for_container(http, ports, "10.0.0.2").http == "http://10.0.0.2:80/");
  Probe tcp;
  tcp.tcp = "127.0.0.1:9000";
  CHECK(probe_for_container(tcp, ports, "10.0.0.2").tcp == "10.0.0.2:9001");
  CHECK(probe_for_container(tcp, ports, "fd00::5").tcp == "[fd00::5]:9001");
  tcp.tcp = "garbage";
  CHECK(probe_for_container(tcp, ports, "10.0.0.2").tcp == "garbage");
}

TEST_CASE("engine defaults: the log driver comes from the engine", "[engine_defaults]") {
  ServiceSpec s = spec("web", "unless-stopped");
  SECTION("engine default json-file: no LogConfig, the engine's default applies") {
    auto body = container_body(s, SpecContext{"p", "", "json-file", "1.41"});
    CHECK_FALSE(body["HostConfig"].contains("LogConfig"));
  }
  SECTION("engine default journald: journald tagged with the service") {
    auto body = container_body(s, SpecContext{"p", "", "journald", "1.41"});
    CHECK(body["HostConfig"]["LogConfig"]["Type"] == "journald");
    CHECK(body["HostConfig"]["LogConfig"]["Config"]["tag"] == "web");
  }
  SECTION("configured driver wins, untagged") {
    s.logging.driver = "json-file";
    auto body = container_body(s, SpecContext{"p", "", "journald", "1.41"});
    CHECK(body["HostConfig"]["LogConfig"]["Type"] == "json-file");
    CHECK_FALSE(body["HostConfig"]["LogConfig"]["Config"].contains("tag"));
  }
}

TEST_CASE("engine defaults: a log driver the engine lacks is named with what it has",
          "[engine_defaults]") {
  EngineInfo e;
  e.server_version = "20.10.24";
  e.log_drivers = {"json-file", "local", "syslog"};
  ServiceSpec s = spec("web", "unless-stopped");
  CHECK(log_driver_problem(s, e).empty());  // nothing configured
  s.logging.driver = "local";
  CHECK(log_driver_problem(s, e).empty());
  s.logging.driver = "journald";
  CHECK(log_driver_problem(s, e) ==
        "services.web.logging.driver: \"journald\" is not a log driver of the container engine "
        "(version 20.10.24) (it has: json-file, local, syslog); nothing was changed for web");
  CHECK(log_driver_problem(s, EngineInfo{}).empty());  // the engine did not say: no check
}

TEST_CASE("engine defaults: /info and /version decoded", "[engine_defaults][jsonstream]") {
  auto info =
      nlohmann::json::parse(R"({"ServerVersion":"20.10.24+dfsg1","LoggingDriver":"json-file",
    "CgroupDriver":"cgroupfs","DefaultRuntime":"runc","Runtimes":{"runc":{"path":"runc"}},
    "SecurityOptions":["name=seccomp,profile=default"],"OperatingSystem":"Debian GNU/Linux 12",
    "Plugins":{"Log":["awslogs","journald","json-file"]}})");
  auto e = jsonstream::decode_engine_info(info, nlohmann::json());
  REQUIRE(e);
  CHECK(e->server_version == "20.10.24+dfsg1");
  CHECK(e->default_log_driver == "json-file");
  CHECK(e->log_drivers == std::vector<std::string>{"awslogs", "journald", "json-file"});
  CHECK(e->cgroup_driver == "cgroupfs");
  CHECK(e->default_runtime == "runc");
  CHECK(e->runtimes == std::vector<std::string>{"runc"});
  CHECK(e->security_options.size() == 1);
  auto podman = jsonstream::decode_engine_info(nlohmann::json::object(),
                                               nlohmann::json{{"Version", "4.3.1"}});
  REQUIRE(podman);
  CHECK(podman->server_version == "4.3.1");
  CHECK(podman->log_drivers.empty());
  CHECK_FALSE(jsonstream::decode_engine_info(nlohmann::json::array(), nlohmann::json()));
}

TEST_CASE("config: retry_max and update_strategy preflight", "[config]") {
  auto ok = parse(
      "[agent]\nretry_max = \"30s\"\n[services.web]\nimage = \"nginx\"\nports = [\"80:80\"]\n"
      "update_strategy = \"preflight\"\nprobe = { http = \"http://127.0.0.1:80/\" }\n");
  REQUIRE(ok.ok());
  CHECK(ok.config->agent.retry_max == Millis{30000});
  CHECK(ok.config->services.at("web").update_strategy == UpdateStrategy::preflight);
  CHECK(parse("[services.web]\nimage = \"nginx\"\n").config->agent.retry_max == Millis{120000});

  CHECK(errors("[agent]\nretry_max = \"1s\"\n") ==
        std::vector<std::string>{"berth.toml:2:13: agent.retry_max: \"1s\" is too short (expected "
                                 "at least \"5s\", e.g. \"2m\")"});
  CHECK(errors("[services.web]\nimage = \"nginx\"\nupdate_strategy = \"preflight\"\n") ==
        std::vector<std::string>{
            "berth.toml:3:19: services.web.update_strategy: \"preflight\" needs a health check to "
            "judge the new container, and this service has none (expected a healthcheck or a "
            "probe in [services.web], or \"stop-first\")"});
  CHECK(errors("[services.web]\nimage = \"nginx\"\nupdate_strategy = \"preflight\"\n"
               "healthcheck = { disable = true }\n")
            .size() == 1);
  CHECK(errors("[services.m]\nimage = \"nginx\"\nrestart = \"no\"\nupdate_strategy = "
               "\"preflight\"\nhealthcheck = { test = [\"CMD\", \"true\"] }\n") ==
        std::vector<std::string>{
            "berth.toml:4:19: services.m.update_strategy: \"preflight\" is for services that keep "
            "running; this one is a job (restart \"no\") (expected \"stop-first\")"});
  CHECK(errors("[services.web]\nimage = \"nginx\"\nupdate_strategy = \"preflight\"\n"
               "network_mode = \"host\"\nprobe = { tcp = \"127.0.0.1:80\" }\n") ==
        std::vector<std::string>{
            "berth.toml:3:19: services.web.update_strategy: \"preflight\" runs the new container "
            "beside the old one, and with network_mode = \"host\" both would need the same ports "
            "(expected \"stop-first\", or a network of its own)"});
  CHECK(errors("[services.web]\nimage = \"nginx\"\nupdate_strategy = \"blue-green\"\n") ==
        std::vector<std::string>{
            "berth.toml:3:19: services.web.update_strategy: \"blue-green\" is not an update "
            "strategy (expected \"stop-first\", \"start-first\" or \"preflight\")"});
}

TEST_CASE("status: jobs, failed steps, log tails and the pending retry in documents", "[status]") {
  StackStatus st;
  st.project = "p";
  st.agent_version = "0.1.0";
  ServiceStatus job;
  job.name = "migrate";
  job.image = "r/migrate";
  job.state = "completed";
  job.job = true;
  job.exit_code = 0;
  job.finished_at = "2026-11-01T12:00:00Z";
  ServiceStatus web;
  web.name = "web";
  web.image = "r/web";
  web.state = "running";
  web.update_status = UpdateStatus::stale;
  web.failed_step = FailedStep::image;
  web.last_error = "registry unreachable";
  web.log_tail = std::string(5000, 'x');
  st.services = {job, web};
  CHECK(compute_overall(st.services, false) == OverallState::healthy);
  st.next_retry_at = "2026-11-01T12:00:05Z";
  st.retry_attempt = 2;
  auto j = to_report_json(st, {}, 1, "2026-11-01T12:00:00Z");
  CHECK(j["retry"] == nlohmann::json{{"next_at", "2026-11-01T12:00:05Z"}, {"attempt", 2}});
  CHECK(j["services"][0]["state"] == "completed");
  CHECK(j["services"][0]["job"] == true);
  CHECK(j["services"][0]["exit_code"] == 0);
  CHECK(j["services"][0]["finished_at"] == "2026-11-01T12:00:00Z");
  CHECK(j["services"][0]["failed_step"].is_null());
  CHECK(j["services"][1]["failed_step"] == "image");
  CHECK(j["services"][1]["log_tail"].get<std::string>().size() <= kMaxLogTail);
  st.next_retry_at.clear();
  CHECK(to_status_json(st)["retry"].is_null());
  for (auto step :
       {FailedStep::image, FailedStep::engine, FailedStep::config, FailedStep::create,
        FailedStep::start, FailedStep::health, FailedStep::swap, FailedStep::dependency})
    CHECK(parse_failed_step(to_string(step)) == step);
}
