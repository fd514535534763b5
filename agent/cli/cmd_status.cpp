// `berth status`, and the daemon-control commands.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cli/cli.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "config/config_loader.hpp"
#include "core/image_ref.hpp"
#include "core/label_trust.hpp"
#include "core/naming.hpp"
#include "daemon/dbus_client.hpp"
#include "daemon/reconciler.hpp"
#include "engine/engine.hpp"
#include "report/token.hpp"
#include "util/logging.hpp"

namespace berth::cli {

namespace {

std::string short_digest(const std::string& d) {
  if (d.starts_with("sha256:")) return d.substr(7, 12);
  return d.empty() ? "-" : d;
}

std::string uptime(const std::string& started_at) {
  if (started_at.empty()) return "-";
  struct tm tm {};
  if (!strptime(started_at.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return "-";
  time_t t = timegm(&tm);
  long long secs = static_cast<long long>(time(nullptr) - t);
  if (secs < 0) return "-";
  if (secs < 120) return std::to_string(secs) + "s";
  if (secs < 7200) return std::to_string(secs / 60) + "m";
  if (secs < 172800) return std::to_string(secs / 3600) + "h";
  return std::to_string(secs / 86400) + "d";
}

// A string field, "" when absent, null or not a string.
std::string str(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void print_table(const nlohmann::json& j) {
  std::printf("project %s  config %s  state %s\n", str(j, "project").c_str(),
              str(j, "config_version").c_str(),
              (str(j, "overall").empty() ? str(j, "state") : str(j, "overall")).c_str());
  if (!str(j, "status").empty()) std::printf("%s\n", str(j, "status").c_str());
  if (j.contains("retry") && j["retry"].is_object())
    std::printf("next try %s (retry %d since the last success)\n",
                str(j["retry"], "next_at").c_str(), j["retry"].value("attempt", 0));
  std::printf("\n%-18s %-24s %-13s %-10s %-10s %-7s %s\n", "SERVICE", "TAG", "DIGEST", "STATE",
              "HEALTH", "UPTIME", "LAST ERROR");
  if (!j.contains("services") || !j["services"].is_array()) return;
  for (const auto& s : j["services"]) {
    std::string tag = str(s, "requested_tag");
    std::string health = s.contains("health") && s["health"].is_object()
                             ? str(s["health"], "status")
                             : str(s, "health");
    std::string err = str(s, "last_error");
    err = err.substr(0, err.find('\n'));
    if (!str(s, "failed_step").empty()) err = str(s, "failed_step") + ": " + err;
    if (err.size() > 60) err = err.substr(0, 57) + "...";
    std::string state = str(s, "state");
    std::string update = str(s, "update_status");
    if (!update.empty() && update != "up_to_date") state += "/" + update;
    std::printf("%-18s %-24s %-13s %-10s %-10s %-7s %s\n", str(s, "name").c_str(),
                tag.empty() ? "-" : tag.c_str(), short_digest(str(s, "digest")).c_str(),
                state.c_str(), health.empty() ? "-" : health.c_str(),
                uptime(str(s, "started_at")).c_str(), err.empty() ? "-" : err.c_str());
  }
  if (auto notes = j.find("notes"); notes != j.end() && notes->is_array()) {
    std::printf("\nnotes:\n");
    for (const auto& n : *notes)
      if (n.is_string()) std::printf("  %s\n", n.get_ref<const std::string&>().c_str());
  }
}

// Without a daemon: the project's containers as Docker lists them. Only containers whose labels
// verify are services; the others are notes.
int status_from_docker(const Options& o, const std::string& why) {
  std::string project = o.project;
  if (project.empty()) {
    int code = kExitOk;
    auto cfg = load_or_report(o.config_path(), &code);
    if (!cfg) return code;
    project = cfg->agent.project;
  }
  auto engine = engine::make_docker_engine();
  if (auto v = engine->ping(); !v) {
    std::fprintf(stderr, "berth status: %s\n", v.error().message.c_str());
    return kExitFailed;
  }
  auto cs = engine->list_containers({std::string(labels::kProject) + "=" + project});
  if (!cs) {
    std::fprintf(stderr, "berth status: %s\n", cs.error().message.c_str());
    return kExitFailed;
  }
  nlohmann::json j;
  j["project"] = project;
  j["source"] = "docker";
  j["status"] = "no berth daemon answered (" + why + "); read from Docker";
  j["services"] = nlohmann::json::array();
  for (const auto& c : *cs) {
    if (ownership(c.labels) == Ownership::foreign) {
      j["notes"].push_back("container " + c.name +
                           " has the project label but was not created by berth (its labels do "
                           "not verify)");
      continue;
    }
    auto label = [&](const char* k) { return c.labels.count(k) ? c.labels.at(k) : std::string(); };
    nlohmann::json s;
    s["name"] = label(labels::kService);
    s["container"] = c.name;
    std::string requested = label(labels::kRequested);
    if (auto ref = parse_image_ref(requested.empty() ? c.image : requested)) {
      s["image"] = ref->familiar_name();
      s["requested_tag"] = ref->tag;
    }
    s["digest"] = label(labels::kDigest);
    s["state"] = c.state;
    s["health"] = c.health;
    j["services"].push_back(s);
  }
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    print_table(j);
  }
  return kExitOk;
}

}  // namespace

int cmd_status(const Options& o) {
  auto from_daemon = daemon::dbus_call_status();
  if (from_daemon) {
    if (o.json) {
      std::printf("%s\n", from_daemon->c_str());
      return kExitOk;
    }
    auto j = nlohmann::json::parse(*from_daemon, nullptr, false);
    if (j.is_discarded()) {
      std::fprintf(stderr, "berth status: the daemon sent a malformed reply\n");
      return kExitFailed;
    }
    print_table(j);
    return kExitOk;
  }
  // Without a daemon: read Docker directly.
  return status_from_docker(o, from_daemon.error().message);
}

int cmd_run(const Options& o) {
  // Before any thread exists: glibc gives threads their own malloc arenas (up to 8 per core),
  // each a separate heap of partly used pages; the daemon's few, mostly idle threads share one.
  mallopt(M_ARENA_MAX, 1);  // NOLINT(concurrency-mt-unsafe): no other thread exists yet
  const char* level = std::getenv("BERTH_LOG_LEVEL");
  log::setup_logging(log::LogTarget::automatic, level ? level : "info");
  int code = kExitOk;
  std::string path = o.config_path();
  auto outcome = config::load_config_file(path);
  if (!outcome.ok()) {
    for (const auto& d : outcome.diagnostics) spdlog::error("{}", config::to_string(d));
    spdlog::critical("{}: configuration rejected; not starting (exit 78)", path);
    return kExitConfig;
  }
  (void)code;
  if (outcome.config->dashboard) {
    if (auto t = report::check_dashboard_token_file(*outcome.config->dashboard); !t) {
      spdlog::critical("{}: {}; not starting (exit 78)", path, t.error().message);
      return kExitConfig;
    }
  }
  daemon::RunOptions ro;
  ro.config_path = path;
  ro.state_dir = o.state_path();
  daemon::Reconciler r(std::move(*outcome.config), ro);
  return r.run();
}

int cmd_control(const Options& o) {
  Result<void> r;
  std::string bus = daemon::dbus_default_bus();
  if (o.command == "update") {
    r = daemon::dbus_call_update(bus);
  } else if (o.command == "reload") {
    r = daemon::dbus_call_reload(bus);
  } else {
    if (o.positional.size() != 1) {
      std::fprintf(stderr, "usage: berth restart SERVICE\n");
      return kExitUsage;
    }
    r = daemon::dbus_call_restart(bus, o.positional[0]);
  }
  if (!r) {
    std::fprintf(stderr, "berth %s: %s\n", o.command.c_str(), r.error().message.c_str());
    return kExitFailed;
  }
  std::printf("berth %s: requested\n", o.command.c_str());
  return kExitOk;
}

}  // namespace berth::cli
