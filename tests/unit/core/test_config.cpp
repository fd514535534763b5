#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "config/config.hpp"
#include "core/container_spec.hpp"

using namespace berth;
using namespace berth::config;
using namespace std::string_literals;

namespace {

// Serves env files from memory; anything else is "No such file or directory".
FileReader reader(std::map<std::string, std::string> files = {}) {
  return [files](const std::string& path, std::string* why) -> std::optional<std::string> {
    auto it = files.find(path);
    if (it != files.end()) return it->second;
    *why = "No such file or directory";
    return std::nullopt;
  };
}

ParseOutcome parse(std::string_view text, std::map<std::string, std::string> files = {}) {
  return parse_config(text, "berth.toml", reader(std::move(files)), "/etc/berth");
}

std::vector<std::string> messages(const ParseOutcome& o) {
  std::vector<std::string> out;
  for (const auto& d : o.diagnostics) out.push_back(to_string(d));
  return out;
}

// Exactly one diagnostic, returned as text.
std::string only_error(std::string_view text, std::map<std::string, std::string> files = {}) {
  auto o = parse(text, std::move(files));
  INFO(text);
  auto m = messages(o);
  CAPTURE(m);
  REQUIRE(m.size() == 1);
  REQUIRE_FALSE(o.config);
  REQUIRE_FALSE(o.ok());
  return m[0];
}

const ServiceSpec& service(const ParseOutcome& o, const std::string& name) {
  CAPTURE(messages(o));
  REQUIRE(o.ok());
  return o.config->services.at(name);
}

std::string web(std::string_view body) {
  return "[services.web]\nimage = \"nginx\"\n" + std::string(body) + "\n";
}

}  // namespace

// ------------------------------------------------------------------ the pinned messages

TEST_CASE("config: unknown key suggests the closest known key", "[config]") {
  CHECK(only_error("[services.web]\nimage = \"nginx\"\nimgae = \"nginx\"\n") ==
        "berth.toml:3:1: services.web.imgae: unknown key (did you mean \"image\"?)");
  CHECK(only_error("[agent]\nprojekt = \"x\"\n") ==
        "berth.toml:2:1: agent.projekt: unknown key (did you mean \"project\"?)");
  CHECK(only_error("[service.web]\nimage = \"x\"\n") ==
        "berth.toml:1:2: service: unknown key (did you mean \"services\"?)");
  // Nothing close: small tables list what they accept.
  CHECK(only_error("[aws]\nzone = \"x\"\n") ==
        "berth.toml:2:1: aws.zone: unknown key (expected one of \"region\")");
  CHECK(only_error(web("frobnicate = 1")) ==
        "berth.toml:3:1: services.web.frobnicate: unknown key (see docs/configuration.md for the "
        "keys of this table)");
  // Compose keys berth deliberately does not support say so.
  CHECK(only_error(web("container_name = \"x\"")) ==
        "berth.toml:3:1: services.web.container_name: not supported by berth (containers are "
        "named <project>-<service>-1)");
}

TEST_CASE("config: a malformed duration", "[config]") {
  CHECK(only_error(web("healthcheck = { test = [\"CMD\", \"true\"], interval = \"5 seconds\" }")) ==
        "berth.toml:3:52: services.web.healthcheck.interval: \"5 seconds\" is not a duration "
        "(expected e.g. \"500ms\", \"10s\", \"1m30s\")");
  CHECK(only_error(web("stop_grace_period = 10")) ==
        "berth.toml:3:21: services.web.stop_grace_period: expected a duration string (e.g. "
        "\"500ms\", \"10s\", \"1m30s\"), got integer");
}

TEST_CASE("config: port 80:80:80 is not HOST:CONTAINER", "[config]") {
  CHECK(only_error(web("ports = [\"80:80:80\"]")) ==
        "berth.toml:3:10: services.web.ports[0]: \"80:80:80\" is not HOST:CONTAINER (\"80\" is not "
        "an IP address; expected e.g. \"8080:80\", \"127.0.0.1:8080:80\" or \"80\", optionally "
        "followed by \"/udp\")");
}

TEST_CASE("config: depends_on naming an unknown service", "[config]") {
  CHECK(only_error(web("depends_on = [\"db\"]")) ==
        "berth.toml:3:15: services.web.depends_on[0]: unknown service \"db\" (expected one of the "
        "services defined here: \"web\")");
  CHECK(only_error(web("depends_on = { db = \"service_healthy\" }")) ==
        "berth.toml:3:16: services.web.depends_on.db: unknown service \"db\" (expected one of the "
        "services defined here: \"web\")");
}

TEST_CASE("config: a dependency cycle is named once", "[config]") {
  const char* text = R"([services.a]
image = "busybox"
depends_on = ["b"]
[services.b]
image = "busybox"
depends_on = { c = "service_healthy" }
[services.c]
image = "busybox"
depends_on = { a = { condition = "service_started" } }
)";
  CHECK(only_error(text) ==
        "berth.toml:3:14: services.a.depends_on: dependency cycle a -> b -> c -> a");
  CHECK(only_error(web("depends_on = [\"web\"]")) ==
        "berth.toml:3:14: services.web.depends_on: dependency cycle web -> web");
}

TEST_CASE("config: an env_file that does not exist", "[config]") {
  CHECK(
      only_error(web("env_file = \"web.env\"")) ==
      "berth.toml:3:12: services.web.env_file: cannot read \"web.env\": No such file or directory");
  CHECK(only_error(web("env_file = [\"ok.env\", \"sub/../gone.env\"]"), {{"ok.env", "A=1\n"}}) ==
        "berth.toml:3:23: services.web.env_file[1]: cannot read \"sub/../gone.env\": No such file "
        "or directory");
}

TEST_CASE("config: an invalid image reference", "[config]") {
  CHECK(only_error("[services.web]\nimage = \"Foo/bar\"\n") ==
        "berth.toml:2:9: services.web.image: invalid image reference \"Foo/bar\": repository name "
        "must be lowercase");
  CHECK(only_error("[services.web]\nimage = \"a b\\u0007\"\n") ==
        "berth.toml:2:9: services.web.image: invalid image reference \"a b\\u0007\": contains "
        "whitespace or a non-ASCII character");
  CHECK(only_error("[services.web]\nports = [\"80\"]\n") ==
        "berth.toml:1:1: services.web: missing required key \"image\" (expected e.g. image = "
        "\"123456789012.dkr.ecr.us-east-2.amazonaws.com/app:latest\")");
}

TEST_CASE("config: a value of the wrong type", "[config]") {
  CHECK(only_error("[agent]\npull_concurrency = \"3\"\n") ==
        "berth.toml:2:20: agent.pull_concurrency: expected an integer, got string");
  CHECK(only_error("[agent]\npull_concurrency = 0\n") ==
        "berth.toml:2:20: agent.pull_concurrency: 0 is out of range (expected 1..16)");
  CHECK(only_error("services = 3\n") == "berth.toml:1:12: services: expected a table, got integer");
  CHECK(only_error(web("ports = \"80:80\"")) ==
        "berth.toml:3:9: services.web.ports: expected an array of strings like \"8080:80\", got "
        "string");
}

TEST_CASE("config: no services at all is a valid, empty stack", "[config]") {
  auto empty = parse("");
  REQUIRE(empty.ok());
  CHECK(empty.config->services.empty());
  CHECK(empty.config->agent.project == "berth");
  auto only_agent = parse("[agent]\nproject = \"msd\"\n[services]\n");
  REQUIRE(only_agent.ok());
  CHECK(only_agent.config->services.empty());
}

TEST_CASE("config: every error is reported, sorted by position", "[config]") {
  const char* text = R"([agent]
pull_concurrency = "3"
update_interval = "soon"

[services.web]
imgae = "nginx"
ports = ["80:80:80", "8080:80"]
depends_on = ["db"]

[services.api]
image = "INVALID"
restart = "sometimes"
)";
  auto o = parse(text);
  REQUIRE_FALSE(o.config);
  auto m = messages(o);
  REQUIRE(m.size() == 8);
  CHECK(m[0] == "berth.toml:2:20: agent.pull_concurrency: expected an integer, got string");
  CHECK(m[1] ==
        "berth.toml:3:19: agent.update_interval: \"soon\" is not a duration (expected e.g. "
        "\"500ms\", \"10s\", \"1m30s\")");
  CHECK(m[2] ==
        "berth.toml:5:1: services.web: missing required key \"image\" (expected e.g. image = "
        "\"123456789012.dkr.ecr.us-east-2.amazonaws.com/app:latest\")");
  CHECK(m[3] == "berth.toml:6:1: services.web.imgae: unknown key (did you mean \"image\"?)");
  CHECK(m[4].starts_with(
      "berth.toml:7:10: services.web.ports[0]: \"80:80:80\" is not HOST:CONTAINER"));
  CHECK(m[5] ==
        "berth.toml:8:15: services.web.depends_on[0]: unknown service \"db\" (expected one of the "
        "services defined here: \"api\", \"web\")");
  CHECK(
      m[6].starts_with("berth.toml:11:9: services.api.image: invalid image reference \"INVALID\""));
  CHECK(m[7].starts_with(
      "berth.toml:12:11: services.api.restart: \"sometimes\" is not a restart policy"));
}

TEST_CASE("config: errors in one service do not hide errors in another", "[config]") {
  const char* text = R"([services.a]
image = "busybox"
restart = "sometimes"
[services.b]
image = "busybox"
cpus = 0
[services.c]
image = "busybox"
mem_limit = "lots"
)";
  auto m = messages(parse(text));
  REQUIRE(m.size() == 3);
  CHECK(m[0] ==
        "berth.toml:3:11: services.a.restart: \"sometimes\" is not a restart policy (expected "
        "\"no\", \"always\", \"on-failure\", \"on-failure:N\" or \"unless-stopped\")");
  CHECK(m[1] ==
        "berth.toml:6:8: services.b.cpus: 0 is not a CPU count (expected more than 0, e.g. 0.5 or "
        "2)");
  CHECK(m[2] ==
        "berth.toml:9:13: services.c.mem_limit: \"lots\" is not a size (expected e.g. \"512m\", "
        "\"1g\" or a number of bytes)");
}

// ------------------------------------------------------------------ syntax and hostile input

TEST_CASE("config: TOML syntax errors carry toml++'s position", "[config]") {
  CHECK(only_error("[agent]\nproject = \"msd\" x\n") ==
        "berth.toml:2:17: invalid TOML: error while parsing key-value pair: expected a comment or "
        "whitespace, saw 'x'");
  CHECK(only_error("[agent]\n[agent]\n") ==
        "berth.toml:2:1: invalid TOML: error while parsing table header: cannot redefine existing "
        "table 'agent'");
}

TEST_CASE("config: invalid UTF-8 gives a clean message", "[config]") {
  auto msg = only_error("[agent]\nproject = \"ms\xff\xfe\"\n");
  CHECK(msg == "berth.toml:2:13: invalid TOML: encountered invalid utf-8 sequence");
  auto key = only_error("[services.\"we\xc3\"]\nimage = \"x\"\n");
  CHECK(key.starts_with("berth.toml:1:"));
  for (unsigned char ch : key) CHECK((ch >= 0x20 && ch < 0x7f));
}

TEST_CASE("config: control characters in values are escaped in messages", "[config]") {
  CHECK(only_error(web("restart = \"x\\u001b[31m\"")) ==
        "berth.toml:3:11: services.web.restart: \"x\\u001b[31m\" is not a restart policy (expected "
        "\"no\", \"always\", \"on-failure\", \"on-failure:N\" or \"unless-stopped\")");
}

TEST_CASE("config: hostile input is refused without crashing", "[config]") {
  SECTION("larger than 1 MiB") {
    std::string big(kMaxConfigBytes + 1, '#');
    auto o = parse(big);
    REQUIRE(o.diagnostics.size() == 1);
    CHECK(to_string(o.diagnostics[0]) ==
          "berth.toml: the configuration is larger than 1 MiB (1048577 bytes; expected a small "
          "TOML file)");
  }
  SECTION("deeply nested table headers") {
    std::string deep = "[a";
    for (int i = 0; i < 100000; ++i) deep += ".a";
    deep += "]\n";
    CHECK(only_error(deep) ==
          "berth.toml:1:129: keys are nested more than 64 levels deep (expected a berth "
          "configuration)");
  }
  SECTION("deeply nested dotted keys") {
    std::string deep = "x = 1\n";
    for (int i = 0; i < 100000; ++i) deep += "a.";
    deep += "a = 1\n";
    CHECK(only_error(deep).starts_with("berth.toml:2:"));
  }
  SECTION("deeply nested arrays and inline tables") {
    CHECK(only_error("x = " + std::string(300, '[') + std::string(300, ']'))
              .find("exceeded maximum nested value depth") != std::string::npos);
    std::string t = "x = ";
    for (int i = 0; i < 300; ++i) t += "{a=";
    t += "1" + std::string(300, '}');
    CHECK(only_error(t).find("invalid TOML") != std::string::npos);
  }
  SECTION("a huge array of bad ports reports at most kMaxDiagnostics + 1 lines") {
    std::string ports = "ports = [";
    for (int i = 0; i < 50000; ++i) ports += "\"x\",";
    ports += "]";
    auto o = parse(web(ports));
    REQUIRE(o.diagnostics.size() == kMaxDiagnostics + 1);
    CHECK(to_string(o.diagnostics.back()) == "berth.toml: 49900 more errors not shown");
  }
  SECTION("a long dependency chain does not recurse") {
    std::string chain;
    const int n = 5000;
    for (int i = 0; i < n; ++i)
      chain += "[services.s" + std::to_string(i) + "]\nimage = \"busybox\"\n" +
               (i + 1 < n ? "depends_on = [\"s" + std::to_string(i + 1) + "\"]\n"
                          : "depends_on = [\"s0\"]\n");
    auto m = messages(parse(chain));
    REQUIRE(m.size() == 1);
    CHECK(m[0] ==
          "berth.toml:3:14: services.s0.depends_on: dependency cycle s0 -> s1 -> s2 -> s3 -> s4 "
          "-> s5 -> s6 -> s7 -> ... -> s4999 -> s0 (5000 services)");
  }
  SECTION("NUL bytes and garbage") {
    std::string garbage("a = \"\0\"\n\x01\x02", 10);
    auto o = parse(garbage);
    REQUIRE(o.diagnostics.size() == 1);
    CHECK(o.diagnostics[0].line == 1);
  }
}

// ------------------------------------------------------------------ every key into the model

TEST_CASE("config: [agent] [aws] [dashboard]", "[config]") {
  auto o = parse(R"(
[agent]
project = "My Stack!"
config_version = "2026.11.1"
update_interval = "15m"
pull_concurrency = 5
pull_inactivity_timeout = "45s"
[aws]
region = "eu-central-1"
[dashboard]
url = "https://dash.example.com/api/servers/{instance_id}/containers"
token_file = "dashboard.token"
ca_file = "/etc/ssl/dash.pem"
desired_url = "https://dash.example.com/api/servers/{hostname}/desired?p={project}"
heartbeat = "30s"
)");
  CAPTURE(messages(o));
  REQUIRE(o.ok());
  const Config& c = *o.config;
  CHECK(c.path == "berth.toml");
  CHECK(c.dir == "/etc/berth");
  CHECK(c.agent.project == "mystack");
  CHECK(c.agent.config_version == "2026.11.1");
  CHECK(c.agent.update_interval == Millis{15 * 60 * 1000});
  CHECK(c.agent.pull_concurrency == 5);
  CHECK(c.agent.pull_inactivity_timeout == Millis{45000});
  CHECK(c.aws.region == "eu-central-1");
  REQUIRE(c.dashboard);
  CHECK(c.dashboard->url == "https://dash.example.com/api/servers/{instance_id}/containers");
  CHECK(c.dashboard->token_file == "/etc/berth/dashboard.token");
  CHECK(c.dashboard->ca_file == "/etc/ssl/dash.pem");
  CHECK(c.dashboard->desired_url ==
        "https://dash.example.com/api/servers/{hostname}/desired?p={project}");
  CHECK(c.dashboard->heartbeat == Millis{30000});

  auto defaults = parse("");
  REQUIRE(defaults.ok());
  CHECK(defaults.config->agent.pull_concurrency == 3);
  CHECK(defaults.config->agent.update_interval == Millis{0});
  CHECK(defaults.config->agent.pull_inactivity_timeout == Millis{120000});
  CHECK_FALSE(defaults.config->dashboard);
}

TEST_CASE("config: [agent] [aws] [dashboard] errors", "[config]") {
  CHECK(only_error("[agent]\nproject = \"__!!\"\n") ==
        "berth.toml:2:11: agent.project: \"__!!\" has no letters or digits (expected e.g. \"msd\"; "
        "only a-z, 0-9, _ and - are kept)");
  CHECK(only_error("[agent]\nupdate_interval = \"10ms\"\n") ==
        "berth.toml:2:19: agent.update_interval: \"10ms\" is too short (expected \"0\" (never) or "
        "at least \"1s\", e.g. \"15m\")");
  CHECK(only_error("[agent]\npull_inactivity_timeout = \"500ms\"\n") ==
        "berth.toml:2:27: agent.pull_inactivity_timeout: \"500ms\" is too short (expected at "
        "least \"1s\", e.g. \"2m\")");
  CHECK(only_error("[aws]\nregion = \"US East\"\n") ==
        "berth.toml:2:10: aws.region: \"US East\" is not an AWS region (expected e.g. "
        "\"us-east-2\")");
  CHECK(only_error("[dashboard]\nheartbeat = \"60s\"\n") ==
        "berth.toml:1:1: dashboard: missing required key \"url\" (expected e.g. url = "
        "\"https://dash.example.com/api/servers/{instance_id}/containers\")");
  CHECK(only_error("[dashboard]\nurl = \"ftp://x\"\n") ==
        "berth.toml:2:7: dashboard.url: \"ftp://x\" is not an http(s) URL (expected e.g. "
        "\"https://dash.example.com/...\")");
  CHECK(only_error("[dashboard]\nurl = \"https://d/{instance}\"\n") ==
        "berth.toml:2:7: dashboard.url: \"https://d/{instance}\" has an unknown placeholder "
        "\"{instance}\" (expected {instance_id}, {hostname} or {project})");
  CHECK(only_error("[dashboard]\nurl = \"https://me:s3cret@d/{x}\"\n") ==
        "berth.toml:2:7: dashboard.url: \"https://d/{x}\" has an unknown placeholder \"{x}\" "
        "(expected {instance_id}, {hostname} or {project})");
  CHECK(only_error("[dashboard]\nurl = \"https://d/\"\nheartbeat = \"0\"\n") ==
        "berth.toml:3:13: dashboard.heartbeat: \"0\" is too short (expected at least \"1s\", e.g. "
        "\"60s\")");
}

TEST_CASE("config: dashboard URLs are https, or http to an exact loopback host", "[config]") {
  CHECK(only_error("[dashboard]\nurl = \"http://dash.example.com/api\"\n") ==
        "berth.toml:2:7: dashboard.url: \"http://dash.example.com/api\" is plain http to "
        "\"dash.example.com\": the bearer token and the pins would travel in clear (expected "
        "https://, or http:// only to a loopback host: 127.0.0.0/8, [::1] or localhost)");
  CHECK(only_error("[dashboard]\nurl = \"https://d/\"\ndesired_url = "
                   "\"http://localhost.evil.com/desired/{hostname}\"\n") ==
        "berth.toml:3:15: dashboard.desired_url: \"http://localhost.evil.com/desired/{hostname}\" "
        "is plain http to \"localhost.evil.com\": the bearer token and the pins would travel in "
        "clear (expected https://, or http:// only to a loopback host: 127.0.0.0/8, [::1] or "
        "localhost)");
  // user-info never reaches the message, and does not count as the host
  CHECK(only_error("[dashboard]\nurl = \"http://localhost:pw@evil.com/x?token=1\"\n") ==
        "berth.toml:2:7: dashboard.url: \"http://evil.com/x\" is plain http to \"evil.com\": the "
        "bearer token and the pins would travel in clear (expected https://, or http:// only to a "
        "loopback host: 127.0.0.0/8, [::1] or localhost)");
  for (const char* ok :
       {"http://127.0.0.1:8080/api/{hostname}", "http://localhost/api", "http://[::1]:9000/api",
        "http://127.9.8.7/x", "https://dash.example.com/"}) {
    auto o =
        parse(std::string("[dashboard]\nurl = \"") + ok + "\"\ndesired_url = \"" + ok + "\"\n");
    CHECK(o.ok());
  }
}

TEST_CASE("config: [registries]", "[config]") {
  auto o = parse(R"(
[registries."123456789012.dkr.ecr.us-east-2.amazonaws.com"]
[registries."127.0.0.1:5000"]
auth = "basic"
username = "ci"
password_file = "secrets/registry.password"
insecure = true
[registries."ghcr.io"]
auth = "docker-config"
config_file = "/root/.docker/config.json"
[registries."localhost:5001"]
auth = "ecr"
account = "210987654321"
region = "us-west-2"
)");
  CAPTURE(messages(o));
  REQUIRE(o.ok());
  const auto& r = o.config->registries;
  REQUIRE(r.size() == 4);
  const auto& ecr = r.at("123456789012.dkr.ecr.us-east-2.amazonaws.com");
  CHECK(ecr.auth == RegistryAuth::ecr);
  CHECK(ecr.account == "123456789012");
  CHECK(ecr.region == "us-east-2");
  CHECK_FALSE(ecr.insecure);
  const auto& basic = r.at("127.0.0.1:5000");
  CHECK(basic.host == "127.0.0.1:5000");
  CHECK(basic.auth == RegistryAuth::basic);
  CHECK(basic.username == "ci");
  CHECK(basic.password_file == "/etc/berth/secrets/registry.password");
  CHECK(basic.insecure);
  CHECK(r.at("ghcr.io").auth == RegistryAuth::docker_config);
  CHECK(r.at("ghcr.io").config_file == "/root/.docker/config.json");
  CHECK(r.at("localhost:5001").account == "210987654321");
  CHECK(r.at("localhost:5001").region == "us-west-2");
}

TEST_CASE("config: ECR hosts used by images get an implicit registry entry", "[config]") {
  auto o = parse(R"(
[services.a]
image = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/a:latest"
[services.b]
image = "127.0.0.1:5000/b"
[services.c]
image = "busybox"
)");
  CAPTURE(messages(o));
  REQUIRE(o.ok());
  const auto& r = o.config->registries;
  REQUIRE(r.size() == 1);
  const auto& e = r.at("210987654321.dkr.ecr.eu-west-1.amazonaws.com");
  CHECK(e.host == "210987654321.dkr.ecr.eu-west-1.amazonaws.com");
  CHECK(e.auth == RegistryAuth::ecr);
  CHECK(e.account == "210987654321");
  CHECK(e.region == "eu-west-1");
}

TEST_CASE("config: [registries] errors", "[config]") {
  CHECK(only_error("[registries.\"https://r.example.com\"]\n") ==
        "berth.toml:1:13: registries.\"https://r.example.com\": \"https://r.example.com\" is a "
        "URL, not a registry host (expected e.g. \"127.0.0.1:5000\" or "
        "\"123456789012.dkr.ecr.us-east-2.amazonaws.com\")");
  CHECK(only_error("[registries.\"r:5000\"]\nauth = \"oauth\"\n") ==
        "berth.toml:2:8: registries.\"r:5000\".auth: \"oauth\" is not an auth method (expected "
        "\"none\", \"basic\", \"ecr\" or \"docker-config\")");
  CHECK(only_error("[registries.\"r:5000\"]\nauth = \"ecr\"\naccount = \"1234\"\n") ==
        "berth.toml:3:11: registries.\"r:5000\".account: \"1234\" is not an AWS account id "
        "(expected 12 digits)");
  CHECK(only_error("[registries.\"r:5000\"]\nauth = \"basic\"\nusername = \"u\"\npassword_file = "
                   "\"p\"\naccount = \"123456789012\"\n") ==
        "berth.toml:5:1: registries.\"r:5000\".account: only used with auth = \"ecr\" (this "
        "registry has auth = \"basic\")");
  CHECK(only_error("[registries.\"r:5000\"]\nauth = \"basic\"\n") ==
        "berth.toml:1:1: registries.\"r:5000\": auth = \"basic\" needs \"username\" and "
        "\"password_file\"");
}

TEST_CASE("config: every service key is parsed into the model", "[config]") {
  auto o = parse(R"(
[services.db]
image = "postgres:16"
healthcheck = { test = "pg_isready", interval = "2s", timeout = "1s", start_period = "30s", retries = 5 }

[services.web]
image = "123456789012.dkr.ecr.us-east-2.amazonaws.com/web:3f2c9e1"
command = "sh -c 'echo \"hi there\"' done"
entrypoint = ["/bin/tini", "--"]
env_file = ["web.env", "/etc/shared.env"]
environment = { LOG_LEVEL = "debug", WORKERS = 4, RATIO = 0.5, DEBUG = false }
ports = ["8080:80", "127.0.0.1:9090:90/udp", "[::1]:7070:70", "127.0.0.1::71", "81", 82]
volumes = ["data:/var/lib/web", "/srv/static:/static:ro", "./conf:/etc/web:rw", "../shared:/shared", "/cache"]
depends_on = { db = { condition = "service_healthy", restart = true, required = false } }
probe = { tcp = "127.0.0.1:80", interval = "1s", timeout = "500ms", retries = 10, start_period = "5s" }
restart = "on-failure:5"
stop_signal = 15
stop_grace_period = "1m30s"
user = "1000:1000"
working_dir = "/app"
labels = ["com.example.team=web", "com.example.flag"]
logging = { driver = "json-file", options = { max-size = "10m", max-file = 3 } }
network_mode = "bridge"
extra_hosts = { "metadata.internal" = "169.254.169.254", gw = "host-gateway" }
cap_add = ["net_admin", "CAP_SYS_TIME"]
cap_drop = ["ALL"]
mem_limit = "1.5g"
cpus = 2
ulimits = { nofile = { soft = 1024, hard = 4096 }, nproc = 512, core = -1 }
tmpfs = "/run:size=64m"
pull_policy = "if_not_present"
health_timeout = "2m"
update_strategy = "stop-first"
)",
                 {{"web.env", "# comment\nLOG_LEVEL=info\nexport FROM_FILE='a b'\n"},
                  {"/etc/shared.env", "SHARED=\"x\\ny\" # note\n"}});
  const ServiceSpec& s = service(o, "web");
  CHECK(s.name == "web");
  CHECK(s.position.line == 6);
  CHECK(s.image == "123456789012.dkr.ecr.us-east-2.amazonaws.com/web:3f2c9e1");
  CHECK(s.command == std::vector<std::string>{"sh", "-c", "echo \"hi there\"", "done"});
  CHECK(s.entrypoint == std::vector<std::string>{"/bin/tini", "--"});
  CHECK(s.env_file == std::vector<std::string>{"web.env", "/etc/shared.env"});
  CHECK(s.environment == std::map<std::string, std::string>{{"LOG_LEVEL", "debug"},
                                                            {"FROM_FILE", "a b"},
                                                            {"SHARED", "x\ny"},
                                                            {"WORKERS", "4"},
                                                            {"RATIO", "0.5"},
                                                            {"DEBUG", "false"}});
  REQUIRE(s.ports.size() == 6);
  CHECK(s.ports[0].host_ip == "");
  CHECK(s.ports[0].host_port == 8080);
  CHECK(s.ports[0].container_port == 80);
  CHECK(s.ports[0].protocol == "tcp");
  CHECK(s.ports[1].host_ip == "127.0.0.1");
  CHECK(s.ports[1].host_port == 9090);
  CHECK(s.ports[1].container_port == 90);
  CHECK(s.ports[1].protocol == "udp");
  CHECK(s.ports[2].host_ip == "::1");
  CHECK(s.ports[2].host_port == 7070);
  CHECK(s.ports[3].host_ip == "127.0.0.1");
  CHECK(s.ports[3].host_port == 0);
  CHECK(s.ports[3].container_port == 71);
  CHECK(s.ports[4].host_port == 0);
  CHECK(s.ports[4].container_port == 81);
  CHECK(s.ports[5].container_port == 82);
  REQUIRE(s.volumes.size() == 5);
  CHECK(s.volumes[0].type == VolumeMount::Type::named);
  CHECK(s.volumes[0].source == "data");
  CHECK(s.volumes[0].target == "/var/lib/web");
  CHECK_FALSE(s.volumes[0].read_only);
  CHECK(s.volumes[1].type == VolumeMount::Type::bind);
  CHECK(s.volumes[1].source == "/srv/static");
  CHECK(s.volumes[1].read_only);
  CHECK(s.volumes[2].type == VolumeMount::Type::bind);
  CHECK(s.volumes[2].source == "/etc/berth/conf");
  CHECK(s.volumes[3].source == "/etc/shared");
  CHECK(s.volumes[4].type == VolumeMount::Type::anonymous);
  CHECK(s.volumes[4].source == "");
  CHECK(s.volumes[4].target == "/cache");
  REQUIRE(s.depends_on.size() == 1);
  CHECK(s.depends_on[0].service == "db");
  CHECK(s.depends_on[0].condition == DependsCondition::healthy);
  CHECK(s.depends_on[0].restart);
  CHECK_FALSE(s.depends_on[0].required);
  CHECK_FALSE(s.healthcheck);
  REQUIRE(s.probe);
  CHECK(s.probe->tcp == "127.0.0.1:80");
  CHECK(s.probe->http.empty());
  CHECK(s.probe->interval == Millis{1000});
  CHECK(s.probe->timeout == Millis{500});
  CHECK(s.probe->retries == 10);
  CHECK(s.probe->start_period == Millis{5000});
  CHECK(s.restart == "on-failure:5");
  CHECK(s.stop_signal == "SIGTERM");
  CHECK(s.stop_grace_period == Millis{90000});
  CHECK(s.user == "1000:1000");
  CHECK(s.working_dir == "/app");
  CHECK(s.labels ==
        std::map<std::string, std::string>{{"com.example.team", "web"}, {"com.example.flag", ""}});
  CHECK(s.logging.driver == "json-file");
  CHECK(s.logging.options ==
        std::map<std::string, std::string>{{"max-size", "10m"}, {"max-file", "3"}});
  CHECK(s.network_mode == "bridge");
  CHECK(s.extra_hosts ==
        std::vector<std::string>{"gw:host-gateway", "metadata.internal:169.254.169.254"});
  CHECK(s.cap_add == std::vector<std::string>{"NET_ADMIN", "SYS_TIME"});
  CHECK(s.cap_drop == std::vector<std::string>{"ALL"});
  CHECK(s.mem_limit == std::int64_t{3} * 512 * 1024 * 1024);
  CHECK(s.cpus == 2.0);
  REQUIRE(s.ulimits.size() == 3);
  CHECK(s.ulimits.at("nofile").soft == 1024);
  CHECK(s.ulimits.at("nofile").hard == 4096);
  CHECK(s.ulimits.at("nproc").soft == 512);
  CHECK(s.ulimits.at("nproc").hard == 512);
  CHECK(s.ulimits.at("core").hard == -1);
  CHECK(s.tmpfs == std::vector<std::string>{"/run:size=64m"});
  CHECK(s.pull_policy == PullPolicy::missing);
  CHECK(s.health_timeout == Millis{120000});
  CHECK(s.update_strategy == UpdateStrategy::stop_first);

  const ServiceSpec& db = service(o, "db");
  REQUIRE(db.healthcheck);
  CHECK(db.healthcheck->test == std::vector<std::string>{"CMD-SHELL", "pg_isready"});
  CHECK(db.healthcheck->interval == Millis{2000});
  CHECK(db.healthcheck->timeout == Millis{1000});
  CHECK(db.healthcheck->start_period == Millis{30000});
  CHECK(db.healthcheck->retries == 5);
  CHECK_FALSE(db.healthcheck->disable);
  // Defaults.
  CHECK(db.restart == "unless-stopped");
  CHECK(db.pull_policy == PullPolicy::always);
  CHECK(db.update_strategy == UpdateStrategy::stop_first);
  CHECK_FALSE(db.command);
  CHECK_FALSE(db.stop_grace_period);
  CHECK(db.network_mode.empty());
}

TEST_CASE("config: short forms", "[config]") {
  auto o = parse(R"(
[services.a]
image = "busybox"
depends_on = ["b"]
environment = ["A=1", "B=x=y", "C="]
labels = { team = "x" }
healthcheck = { disable = true }
probe = { http = "http://127.0.0.1:8080/health" }
stop_signal = "int"
entrypoint = []
extra_hosts = ["h1:10.0.0.1", "h2=::1"]
tmpfs = ["/run", "/tmp"]
mem_limit = 8388608
[services.b]
image = "busybox"
network_mode = "host"
pull_policy = "never"
update_strategy = "start-first"
ports = []
)");
  const ServiceSpec& a = service(o, "a");
  CHECK(a.depends_on.at(0).service == "b");
  CHECK(a.depends_on.at(0).condition == DependsCondition::started);
  CHECK(a.depends_on.at(0).required);
  CHECK(a.environment == std::map<std::string, std::string>{{"A", "1"}, {"B", "x=y"}, {"C", ""}});
  CHECK(a.labels.at("team") == "x");
  REQUIRE(a.healthcheck);
  CHECK(a.healthcheck->disable);
  CHECK(a.healthcheck->test == std::vector<std::string>{"NONE"});
  CHECK(a.probe->http == "http://127.0.0.1:8080/health");
  CHECK(a.probe->interval == Millis{5000});
  CHECK(a.probe->timeout == Millis{2000});
  CHECK(a.probe->retries == 3);
  CHECK(a.stop_signal == "SIGINT");
  REQUIRE(a.entrypoint);
  CHECK(a.entrypoint->empty());
  CHECK(a.extra_hosts == std::vector<std::string>{"h1:10.0.0.1", "h2:::1"});
  CHECK(a.tmpfs == std::vector<std::string>{"/run", "/tmp"});
  CHECK(a.mem_limit == 8388608);
  const ServiceSpec& b = service(o, "b");
  CHECK(b.network_mode == "host");
  CHECK(b.pull_policy == PullPolicy::never);
  CHECK(b.update_strategy == UpdateStrategy::start_first);
}

TEST_CASE("config: environment wins over env_file, later env files win", "[config]") {
  auto o = parse(web("env_file = [\"a.env\", \"b.env\"]\nenvironment = { X = \"env\" }"),
                 {{"a.env", "X=a\nY=a\nZ=a\n"}, {"b.env", "Y=b\n"}});
  const auto& s = service(o, "web");
  CHECK(s.environment == std::map<std::string, std::string>{{"X", "env"}, {"Y", "b"}, {"Z", "a"}});
}

TEST_CASE("config: service key errors", "[config]") {
  // ports
  CHECK(only_error(web("ports = [\"70000:80\"]")) ==
        "berth.toml:3:10: services.web.ports[0]: \"70000:80\": port 70000 is out of range "
        "(expected 1..65535)");
  CHECK(only_error(web("ports = [\"8000-8010:80\"]")) ==
        "berth.toml:3:10: services.web.ports[0]: \"8000-8010:80\": port ranges are not supported "
        "(expected one port per entry)");
  CHECK(only_error(web("ports = [\"80/sctp\"]")) ==
        "berth.toml:3:10: services.web.ports[0]: \"80/sctp\": unknown protocol \"sctp\" (expected "
        "\"tcp\" or \"udp\")");
  CHECK(only_error(web("ports = [0]")) ==
        "berth.toml:3:10: services.web.ports[0]: 0 is out of range (expected a port 1..65535)");
  CHECK(only_error(web("ports = [\"8080:80\", \"8080:81\"]")) ==
        "berth.toml:3:21: services.web.ports[1]: host port 8080/tcp is already published by "
        "services.web.ports[0] (expected each host port once)");
  CHECK(only_error(web("network_mode = \"host\"\nports = [\"80:80\"]")) ==
        "berth.toml:4:9: services.web.ports: cannot publish ports with network_mode = \"host\" "
        "(expected no ports, or leave network_mode out)");
  // volumes
  CHECK(only_error(web("volumes = [\"data:var/lib\"]")) ==
        "berth.toml:3:12: services.web.volumes[0]: \"data:var/lib\": the container path "
        "\"var/lib\" is not absolute (expected \"NAME:/path\", \"/host/path:/path\", "
        "\"./dir:/path\" or \"/path\", optionally followed by \":ro\")");
  CHECK(only_error(web("volumes = [\"data:/d:rx\"]")) ==
        "berth.toml:3:12: services.web.volumes[0]: \"data:/d:rx\": unsupported mode \"rx\" "
        "(expected \"ro\" or \"rw\")");
  CHECK(only_error(web("volumes = [\"~/x:/d\"]")) ==
        "berth.toml:3:12: services.web.volumes[0]: \"~/x:/d\": \"~\" is not expanded (expected an "
        "absolute path or one starting with \"./\")");
  CHECK(only_error(web("volumes = [\"a:/d\", \"b:/d/\"]")) ==
        "berth.toml:3:20: services.web.volumes[1]: the container path \"/d\" is already mounted "
        "by services.web.volumes[0]");
  // env_file
  CHECK(only_error(web("env_file = \"../secret.env\"")) ==
        "berth.toml:3:12: services.web.env_file: \"../secret.env\" is outside the configuration "
        "directory (expected a path inside it, or an absolute path)");
  CHECK(only_error(web("env_file = \"a.env\""), {{"a.env", "A=1\nPASSWORD hunter2\n"}}) ==
        "berth.toml:3:12: services.web.env_file: \"a.env\", line 2: expected KEY=VALUE (no \"=\" "
        "found)");
  // environment
  CHECK(only_error(web("environment = [\"HOME\"]")) ==
        "berth.toml:3:16: services.web.environment[0]: \"HOME\" has no value (expected "
        "\"KEY=VALUE\"; berth does not pass its own environment through)");
  CHECK(only_error(web("environment = { A = [1] }")) ==
        "berth.toml:3:21: services.web.environment.A: expected a string, number or boolean, got "
        "array");
  // command
  CHECK(only_error(web("command = \"sh -c 'echo\"")) ==
        "berth.toml:3:11: services.web.command: \"sh -c 'echo\": unterminated single quote "
        "(expected a closing ')");
  // depends_on
  CHECK(only_error(web("depends_on = { web2 = \"service_ready\" }\n[services.web2]\nimage = "
                       "\"x\"")) ==
        "berth.toml:3:23: services.web.depends_on.web2: \"service_ready\" is not a condition "
        "(expected \"service_started\", \"service_healthy\" or "
        "\"service_completed_successfully\")");
  // healthcheck / probe
  CHECK(only_error(web("healthcheck = { test = [\"curl\", \"-f\", \"x\"] }")) ==
        "berth.toml:3:24: services.web.healthcheck.test: the first element is \"curl\" (expected "
        "\"CMD\", \"CMD-SHELL\" or \"NONE\", e.g. [\"CMD\", \"wget\", \"-qO-\", "
        "\"http://127.0.0.1/\"])");
  CHECK(only_error(web("probe = { interval = \"1s\" }")) ==
        "berth.toml:3:9: services.web.probe: needs exactly one of \"http\" or \"tcp\" (expected "
        "e.g. http = \"http://127.0.0.1:8080/health\" or tcp = \"127.0.0.1:5432\")");
  CHECK(only_error(web("probe = { http = \"https://x/\" }")) ==
        "berth.toml:3:18: services.web.probe.http: \"https://x/\" is not an http:// URL (expected "
        "e.g. \"http://127.0.0.1:8080/health\"; the probe speaks plain HTTP)");
  CHECK(only_error(web("probe = { tcp = \"localhost\" }")) ==
        "berth.toml:3:17: services.web.probe.tcp: \"localhost\" is not HOST:PORT (expected e.g. "
        "\"127.0.0.1:5432\")");
  // stop_signal, working_dir, labels, network_mode
  CHECK(only_error(web("stop_signal = \"SIGFOO\"")) ==
        "berth.toml:3:15: services.web.stop_signal: \"SIGFOO\" is not a signal (expected e.g. "
        "\"SIGTERM\", \"SIGINT\", \"TERM\" or 15)");
  CHECK(only_error(web("working_dir = \"app\"")) ==
        "berth.toml:3:15: services.web.working_dir: \"app\" is not absolute (expected e.g. "
        "\"/app\")");
  CHECK(only_error(web("labels = { \"com.docker.compose.project\" = \"x\" }")) ==
        "berth.toml:3:12: services.web.labels.\"com.docker.compose.project\": the "
        "\"com.docker.compose.\" prefix is reserved for berth (expected your own, e.g. "
        "\"com.example.team\")");
  CHECK(only_error(web("labels = [\"org.berth.x=1\"]")) ==
        "berth.toml:3:11: services.web.labels[0]: the \"org.berth.\" prefix is reserved for berth "
        "(expected your own, e.g. \"com.example.team\")");
  CHECK(only_error(web("network_mode = \"service:db\"")) ==
        "berth.toml:3:16: services.web.network_mode: \"service:db\" is not supported (expected "
        "\"host\", \"none\" or \"bridge\"; leave it out for the project network)");
  // extra_hosts, caps, mem_limit, ulimits, tmpfs, pull_policy, update_strategy
  CHECK(only_error(web("extra_hosts = [\"db:10.0.0\"]")) ==
        "berth.toml:3:16: services.web.extra_hosts[0]: \"db:10.0.0\": \"10.0.0\" is not an IP "
        "address (expected \"HOST:IP\", e.g. \"db.internal:10.0.0.5\", or \"host-gateway\")");
  CHECK(only_error(web("cap_add = [\"NET_ADMN\"]")) ==
        "berth.toml:3:12: services.web.cap_add[0]: \"NET_ADMN\" is not a Linux capability (did you "
        "mean \"NET_ADMIN\"?)");
  CHECK(only_error(web("mem_limit = 512")) ==
        "berth.toml:3:13: services.web.mem_limit: 512 is below Docker's minimum of 6 MiB "
        "(expected e.g. \"512m\" or \"1g\"; a bare number is bytes)");
  CHECK(only_error(web("ulimits = { nofiles = 10 }")) ==
        "berth.toml:3:13: services.web.ulimits.nofiles: \"nofiles\" is not a ulimit (did you mean "
        "\"nofile\"?)");
  CHECK(only_error(web("ulimits = { nofile = { soft = 10, hard = 5 } }")) ==
        "berth.toml:3:22: services.web.ulimits.nofile: the soft limit 10 is above the hard limit 5 "
        "(expected soft <= hard)");
  CHECK(only_error(web("tmpfs = [\"tmp\"]")) ==
        "berth.toml:3:10: services.web.tmpfs[0]: \"tmp\" is not an absolute path (expected e.g. "
        "\"/run\" or \"/tmp:size=64m\")");
  CHECK(only_error(web("pull_policy = \"build\"")) ==
        "berth.toml:3:15: services.web.pull_policy: \"build\" is not supported: berth does not "
        "build images (expected \"always\", \"missing\" or \"never\")");
  CHECK(only_error(web("ports = [\"8443:443\"]\nupdate_strategy = \"start-first\"")) ==
        "berth.toml:4:19: services.web.update_strategy: \"start-first\" cannot be used with the "
        "fixed host port 8443 (services.web.ports[0]): the old and the new container would both "
        "need it (expected \"stop-first\", or a container port only, e.g. \"80\")");
  CHECK(only_error("[services.\"my web\"]\nimage = \"x\"\n") ==
        "berth.toml:1:11: services.\"my web\": \"my web\" is not a valid service name (expected "
        "letters, digits, \"_\", \".\" or \"-\", starting with a letter or digit, at most 63)");
}

TEST_CASE("config: env file contents never appear in messages", "[config]") {
  auto m = only_error(web("env_file = \"s.env\""), {{"s.env", "TOKEN \"s3cr3t\n"}});
  CHECK(m.find("s3cr3t") == std::string::npos);
  auto u = only_error(web("env_file = \"s.env\""), {{"s.env", "A=1\nB=s3cr3t\xff\n"}});
  CHECK(u ==
        "berth.toml:3:12: services.web.env_file: \"s.env\", line 2: invalid UTF-8 (expected "
        "UTF-8 text)");
}

TEST_CASE("config: never throws, even with a throwing file reader", "[config]") {
  FileReader bad = [](const std::string&, std::string*) -> std::optional<std::string> {
    throw std::runtime_error("boom");
  };
  ParseOutcome o;
  REQUIRE_NOTHROW(o = parse_config(web("env_file = \"x.env\""), "berth.toml", bad));
  REQUIRE(o.diagnostics.size() == 1);
  CHECK(to_string(o.diagnostics[0]) ==
        "berth.toml: internal error while reading the configuration: boom");
  // No reader at all: env files cannot be read, but nothing crashes.
  auto none = parse_config(web("env_file = \"x.env\""), "berth.toml", FileReader{});
  REQUIRE(none.diagnostics.size() == 1);
  CHECK(none.diagnostics[0].message ==
        "services.web.env_file: cannot read \"x.env\": no file reader");
}

// ------------------------------------------------------------------ the documented example

TEST_CASE("config: config/berth.toml, the documented example, loads clean", "[config]") {
  std::ifstream f(std::filesystem::path(BERTH_SOURCE_DIR) / "config" / "berth.toml");
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  auto o = parse_config(ss.str(), "config/berth.toml", reader(), "/etc/berth");
  CAPTURE(messages(o));
  REQUIRE(o.ok());
  const Config& c = *o.config;
  CHECK(c.agent.project == "msd");
  CHECK(c.services.size() == 2);
  CHECK(c.services.at("msd-metrics").depends_on.at(0).service == "msd-logs");
  CHECK(c.services.at("msd-metrics").depends_on.at(0).condition == DependsCondition::healthy);
  CHECK(c.registries.at("123456789012.dkr.ecr.us-east-2.amazonaws.com").auth == RegistryAuth::ecr);
  CHECK(c.registries.size() == 1);
  REQUIRE(c.dashboard);
}

// ------------------------------------------------------------------ effective spec

TEST_CASE("config: effective_spec_json is canonical and ignores non-container keys", "[config]") {
  auto a = parse(R"(
[services.web]
image = "nginx:1.25"
ports = ["8080:80", "9090:90"]
cap_add = ["SYS_TIME", "NET_ADMIN"]
environment = { B = "2", A = "1" }
stop_grace_period = "30s"
)");
  auto b = parse(R"(
[services.web]
environment = { A = "1", B = "2" }
cap_add = ["NET_ADMIN", "SYS_TIME"]
ports = ["9090:90", "8080:80"]
image = "nginx:1.25"
stop_grace_period = "30s"
pull_policy = "missing"
update_strategy = "stop-first"
health_timeout = "5m"
probe = { tcp = "127.0.0.1:80" }
depends_on = ["db"]
[services.db]
image = "postgres"
)");
  auto ja = effective_spec_json(service(a, "web"));
  auto jb = effective_spec_json(service(b, "web"));
  CHECK(ja == jb);
  CHECK(
      ja.dump() ==
      R"({"cap_add":["NET_ADMIN","SYS_TIME"],"environment":{"A":"1","B":"2"},"image":"nginx:1.25","ports":[{"container_port":80,"host_ip":"","host_port":8080,"protocol":"tcp"},{"container_port":90,"host_ip":"","host_port":9090,"protocol":"tcp"}],"restart":"unless-stopped","stop_grace_period_ms":30000})");
  auto c = parse(web("command = [\"a\", \"b\"]"));
  auto d = parse(web("command = [\"b\", \"a\"]"));
  CHECK(effective_spec_json(service(c, "web")) != effective_spec_json(service(d, "web")));
  CHECK(effective_spec_json(service(parse(web("update_strategy = \"start-first\"")), "web")) ==
        effective_spec_json(service(parse(web("")), "web")));
  auto e = parse(web("entrypoint = []"));
  CHECK(effective_spec_json(service(e, "web")).at("entrypoint") == nlohmann::json::array());
}

// ------------------------------------------------------------------ building blocks

TEST_CASE("config: split_command", "[config]") {
  using V = std::vector<std::string>;
  CHECK(*split_command("a  b\tc") == V{"a", "b", "c"});
  CHECK(*split_command("sh -c 'echo $HOME; ls'") == V{"sh", "-c", "echo $HOME; ls"});
  CHECK(*split_command(R"(echo "a \"b\" \$c \n")") == V{"echo", R"(a "b" $c \n)"});
  CHECK(*split_command(R"(a\ b c\\d)") == V{"a b", "c\\d"});
  CHECK(*split_command("x '' \"\"") == V{"x", "", ""});
  CHECK(*split_command("a'b'\"c\"d") == V{"abcd"});
  CHECK(split_command("")->empty());
  CHECK(split_command("   ")->empty());
  CHECK(split_command("a \\\nb") == V{"a", "b"});
  CHECK_FALSE(split_command("echo \"x"));
  CHECK_FALSE(split_command("echo 'x"));
  CHECK_FALSE(split_command("echo x\\"));
}

TEST_CASE("config: parse_env_file", "[config]") {
  using V = std::vector<std::pair<std::string, std::string>>;
  auto r = parse_env_file(
      "\xEF\xBB\xBF# c\n\nA=1\r\n  export B = two words  # comment\nC='lit #x "
      "\\n'\nD=\"q\\n\\\"x\\\"\" # c\nE=\nF=a#b\n");
  REQUIRE(r);
  CHECK(*r == V{{"A", "1"},
                {"B", "two words"},
                {"C", "lit #x \\n"},
                {"D", "q\n\"x\""},
                {"E", ""},
                {"F", "a#b"}});
  CHECK(parse_env_file("A=1\nB\n").error().message ==
        "line 2: expected KEY=VALUE (no \"=\" found)");
  CHECK(parse_env_file("=1\n").error().message ==
        "line 1: empty variable name (expected KEY=VALUE)");
  CHECK(parse_env_file("A=\"x\n").error().message ==
        "line 1: unterminated double quote (expected a closing \")");
  CHECK(parse_env_file("A='x' y\n").error().message ==
        "line 1: text after the closing quote (expected KEY='VALUE')");
}

TEST_CASE("config: parse_env_file: \"export # ...\" is a comment, as in sh", "[config]") {
  // Found by fuzz_env_file: the name "#//" was accepted after "export " and written back as a
  // comment line (tests/fuzz/regressions/env_file/export-then-comment).
  using V = std::vector<std::pair<std::string, std::string>>;
  auto r = parse_env_file("export   #//=/x  \x1b #c\nexport\t# just a comment\nA=1\n");
  REQUIRE(r);
  CHECK(*r == V{{"A", "1"}});
}

TEST_CASE("config: small parsers", "[config]") {
  CHECK(normalize_project_name("My_Project-1!") == "my_project-1");
  CHECK(normalize_project_name("--x") == "x");
  CHECK(normalize_project_name("!!!") == "");

  CHECK(normalize_signal("SIGTERM") == "SIGTERM");
  CHECK(normalize_signal("term") == "SIGTERM");
  CHECK(normalize_signal("15") == "SIGTERM");
  CHECK(normalize_signal("9") == "SIGKILL");
  CHECK(normalize_signal("SIGRTMIN+3") == "SIGRTMIN+3");
  CHECK(normalize_signal("37") == "SIGRTMIN+3");
  CHECK(normalize_signal("RTMAX") == "SIGRTMIN+30");
  CHECK_FALSE(normalize_signal("0"));
  CHECK_FALSE(normalize_signal("65"));
  CHECK_FALSE(normalize_signal("SIGNOPE"));

  CHECK(parse_byte_size("512m") == 512 * 1024 * 1024);
  CHECK(parse_byte_size("1g") == 1024 * 1024 * 1024);
  CHECK(parse_byte_size("1.5GiB") == 1536 * 1024 * 1024);
  CHECK(parse_byte_size("64 MB") == 64 * 1024 * 1024);
  CHECK(parse_byte_size("100") == 100);
  CHECK(parse_byte_size("100b") == 100);
  CHECK_FALSE(parse_byte_size("1x"));
  CHECK_FALSE(parse_byte_size("m"));
  CHECK_FALSE(parse_byte_size("-1m"));
  CHECK_FALSE(parse_byte_size("99999999999p"));

  CHECK(normalize_path("a/./b/../c") == "a/c");
  CHECK(normalize_path("/x/../../y/") == "/y");
  CHECK(normalize_path("../a/../../b") == "../../b");
  CHECK(normalize_path("") == ".");
  CHECK(normalize_path("//") == "/");

  CHECK(is_ipv4("127.0.0.1"));
  CHECK(is_ipv4("255.255.255.255"));
  CHECK_FALSE(is_ipv4("256.0.0.1"));
  CHECK_FALSE(is_ipv4("80"));
  CHECK_FALSE(is_ipv4("1.2.3"));
  CHECK_FALSE(is_ipv4("01.2.3.4"));
  CHECK(is_ipv6("::1"));
  CHECK(is_ipv6("::"));
  CHECK(is_ipv6("fe80::1:2"));
  CHECK(is_ipv6("2001:db8:0:0:0:0:2:1"));
  CHECK(is_ipv6("::ffff:10.0.0.1"));
  CHECK_FALSE(is_ipv6("1::2::3"));
  CHECK_FALSE(is_ipv6("12345::"));
  CHECK_FALSE(is_ipv6("1:2:3:4:5:6:7"));
}

TEST_CASE("config: parsed services turn into the right create body fields", "[config]") {
  auto o =
      parse(web("tmpfs = [\"/run\", \"/tmp:size=64m,mode=1777\"]\ncap_add = [\"cap_net_admin\"]\n"
                "stop_signal = 2\nextra_hosts = { h = \"10.0.0.1\" }"));
  auto body = berth::container_body(service(o, "web"),
                                    berth::SpecContext{"p", "/etc/berth/berth.toml", "", "1.41"});
  const auto& host = body.at("HostConfig");
  CHECK(host.at("Tmpfs") == nlohmann::json{{"/run", ""}, {"/tmp", "size=64m,mode=1777"}});
  CHECK(host.at("CapAdd") == nlohmann::json::array({"NET_ADMIN"}));
  CHECK(host.at("ExtraHosts") == nlohmann::json::array({"h:10.0.0.1"}));
  CHECK(body.at("StopSignal") == "SIGINT");
}
