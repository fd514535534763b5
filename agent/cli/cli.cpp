#include "cli/cli.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "config/config.hpp"
#include "config/config_loader.hpp"
#include "daemon/process_guard.hpp"

namespace berth::cli {

namespace {

const char* kUsage =
    "usage: berth <command> [options]\n"
    "\n"
    "commands:\n"
    "  run          [--config PATH] [--state-dir DIR]   the daemon (what berth.service starts)\n"
    "  up           [--config PATH] [--state-dir DIR] [--dry-run]\n"
    "                                converge once and exit: 0 when every service runs (healthy\n"
    "                                where it has a check), 1 otherwise\n"
    "  down         [--config PATH] [--project NAME] [--volumes]\n"
    "                                stop and remove the project (reverse dependency order)\n"
    "  status       [--json] [--config PATH]   from the daemon over D-Bus, else from Docker\n"
    "  check-config [PATH]           validate only; every error as FILE:LINE:COL: message\n"
    "  update                        ask the running daemon to check for new images now\n"
    "  reload                        ask the running daemon to reread its configuration\n"
    "  restart SERVICE               ask the running daemon to restart one service\n"
    "  version                       print the version\n"
    "\n"
    "config: --config, else $BERTH_CONFIG, else /etc/berth/berth.toml\n"
    "state:  --state-dir, else $STATE_DIRECTORY, else /var/lib/berth\n"
    "exit codes: 0 ok, 1 failed to converge, 2 usage, 78 configuration error\n";

}  // namespace

std::string Options::config_path() const {
  if (!config.empty()) return config;
  if (const char* e = std::getenv("BERTH_CONFIG"); e && *e) return e;
  return "/etc/berth/berth.toml";
}

std::string Options::state_path() const {
  if (!state_dir.empty()) return state_dir;
  if (const char* e = std::getenv("STATE_DIRECTORY"); e && *e) {
    // systemd may pass several, colon-separated: the first is ours.
    std::string s = e;
    return s.substr(0, s.find(':'));
  }
  return "/var/lib/berth";
}

std::optional<Config> load_or_report(const std::string& path, int* exit_code) {
  auto outcome = config::load_config_file(path);
  if (!outcome.ok()) {
    for (const auto& d : outcome.diagnostics)
      std::fprintf(stderr, "%s\n", config::to_string(d).c_str());
    *exit_code = kExitConfig;
    return std::nullopt;
  }
  return std::move(*outcome.config);
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  Options o;
  o.command = args[0];
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) -> bool {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "berth %s: %s needs a value\n", o.command.c_str(), a.c_str());
        return false;
      }
      out = args[++i];
      return true;
    };
    if (a == "--config" || a == "-c") {
      if (!value(o.config)) return kExitUsage;
    } else if (a.starts_with("--config=")) {
      o.config = a.substr(9);
    } else if (a == "--state-dir") {
      if (!value(o.state_dir)) return kExitUsage;
    } else if (a == "--project" || a == "-p") {
      if (!value(o.project)) return kExitUsage;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--volumes" || a == "-v") {
      o.volumes = true;
    } else if (a == "--dry-run") {
      o.dry_run = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (!a.starts_with("-")) {
      o.positional.push_back(a);
    } else {
      std::fprintf(stderr, "berth %s: unknown option %s\n\n%s", o.command.c_str(), a.c_str(),
                   kUsage);
      return kExitUsage;
    }
  }

  if (o.command == "version" || o.command == "--version") {
    std::printf("berth %s\n", BERTH_VERSION);
    return kExitOk;
  }
  if (o.command == "help" || o.command == "--help" || o.command == "-h") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (o.command == "run" || o.command == "up") {
    // These two read secrets (ECR tokens, AWS keys, the dashboard token): no core dumps of this
    // process from here on, and no ptrace or /proc/PID/mem for other processes of the user.
    if (auto guard = daemon::make_non_dumpable(); !guard)
      std::fprintf(stderr, "berth: warning: %s\n", guard.error().message.c_str());
  }
  if (o.command == "check-config") return cmd_check_config(o);
  if (o.command == "up") return cmd_up(o);
  if (o.command == "down") return cmd_down(o);
  if (o.command == "status") return cmd_status(o);
  if (o.command == "run") return cmd_run(o);
  if (o.command == "update" || o.command == "reload" || o.command == "restart")
    return cmd_control(o);
  std::fprintf(stderr, "berth: unknown command \"%s\"\n\n%s", o.command.c_str(), kUsage);
  return kExitUsage;
}

}  // namespace berth::cli
