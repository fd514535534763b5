// `berth up`, `berth down`, `berth check-config`: one-shot commands that need neither a running
// daemon nor D-Bus.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "cli/cli.hpp"
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "config/config_loader.hpp"
#include "daemon/stack.hpp"
#include "engine/engine.hpp"
#include "engine/lifecycle.hpp"
#include "report/token.hpp"

namespace berth::cli {

int cmd_check_config(const Options& o) {
  std::string path = o.positional.empty() ? o.config_path() : o.positional[0];
  auto outcome = config::load_config_file(path);
  if (!outcome.ok()) {
    for (const auto& d : outcome.diagnostics)
      std::fprintf(stderr, "%s\n", config::to_string(d).c_str());
    std::fprintf(stderr, "%s: %zu error%s\n", path.c_str(), outcome.diagnostics.size(),
                 outcome.diagnostics.size() == 1 ? "" : "s");
    return kExitConfig;
  }
  if (outcome.config->dashboard) {
    if (auto t = report::check_dashboard_token_file(*outcome.config->dashboard); !t) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), t.error().message.c_str());
      return kExitConfig;
    }
  }
  std::printf("%s: ok (project %s, %zu service%s)\n", path.c_str(),
              outcome.config->agent.project.c_str(), outcome.config->services.size(),
              outcome.config->services.size() == 1 ? "" : "s");
  return kExitOk;
}

namespace {

// Pull progress: a redrawn line on a terminal, otherwise start/finish lines only.
class ProgressPrinter {
 public:
  ProgressPrinter() : tty_(isatty(STDOUT_FILENO) == 1) {}
  void update(const std::string& service, int percent) {
    std::lock_guard lock(m_);
    bool first = !pct_.count(service);
    pct_[service] = percent;
    if (!tty_) {
      if (first) std::printf("pulling image for %s\n", service.c_str());
      std::fflush(stdout);
      return;
    }
    std::string line = "\r\033[K";
    for (const auto& [s, p] : pct_) {
      if (p >= 100) continue;
      int filled = p / 5;
      line += s + " [" + std::string(static_cast<size_t>(filled), '#') +
              std::string(static_cast<size_t>(20 - filled), '.') + "] " + std::to_string(p) + "%  ";
    }
    std::fputs(line.c_str(), stdout);
    std::fflush(stdout);
    drawn_ = true;
  }
  void print(const std::string& text) {
    std::lock_guard lock(m_);
    if (tty_ && drawn_) {
      std::fputs("\r\033[K", stdout);
      drawn_ = false;
    }
    std::printf("%s\n", text.c_str());
    std::fflush(stdout);
  }

 private:
  std::mutex m_;
  bool tty_;
  bool drawn_ = false;
  std::map<std::string, int> pct_;
};

}  // namespace

int cmd_up(const Options& o) {
  int code = kExitOk;
  auto cfg = load_or_report(o.config_path(), &code);
  if (!cfg) return code;

  ProgressPrinter printer;
  daemon::StackOptions so;
  so.state_dir = o.state_path();
  so.on_line = [&](const std::string&, const std::string& text) { printer.print(text); };
  so.on_pull_progress = [&](const std::string& s, int p) { printer.update(s, p); };
  auto stack = daemon::Stack::create(*cfg, so);
  if (!stack) {
    std::fprintf(stderr, "berth up: %s\n", stack.error().message.c_str());
    return kExitFailed;
  }
  if (o.dry_run) {
    auto plan = (*stack)->plan();
    if (!plan) {
      std::fprintf(stderr, "berth up: %s\n", plan.error().message.c_str());
      return kExitFailed;
    }
    if (plan->empty()) std::printf("nothing to do: %s is up to date\n", cfg->agent.project.c_str());
    for (const auto& l : plan->describe()) std::printf("%s\n", l.c_str());
    return kExitOk;
  }
  auto report = (*stack)->converge();
  // The stack runs, but what berth knows about it (last-known-good images, rollback targets)
  // could not be saved: said at the end, where it is seen; the exit code stays the converge's.
  if (!(*stack)->state_warning().empty())
    std::fprintf(stderr, "warning: %s (the stack keeps running; rollback memory is not saved)\n",
                 (*stack)->state_warning().c_str());
  // Services that run, but not what was asked for: on the last-known-good image because the
  // registry could not be reached (still a success), or on the previous image after a failed
  // update (rolled back, or the new image could not be pulled).
  size_t up = 0, stale = 0, kept = 0, completed = 0;
  for (const auto& [name, s] : report.services) {
    if (!s.image.note.empty()) printer.print(name + ": " + s.image.note);
    up += s.ok ? 1 : 0;
    stale += s.ok && s.image.stale ? 1 : 0;
    kept += !s.ok && (s.rolled_back || (s.image_failed && s.state == "running")) ? 1 : 0;
    completed += s.ok && s.completed ? 1 : 0;
  }
  std::string notes;
  if (completed) notes += ", " + std::to_string(completed) + " completed (job)";
  if (stale)
    notes += ", " + std::to_string(stale) + " on the last-known-good image (registry unreachable)";
  if (kept) notes += ", " + std::to_string(kept) + " kept on the previous image";
  if (report.ok) {
    std::printf("%s: %zu/%zu services up%s%s\n", cfg->agent.project.c_str(), report.services.size(),
                cfg->services.size(), notes.c_str(),
                report.container_operations == 0 ? " (nothing to do)" : "");
    return kExitOk;
  }
  for (const auto& e : report.errors) std::fprintf(stderr, "error: %s\n", e.c_str());
  std::fprintf(stderr, "%s: %zu/%zu services up%s\n", cfg->agent.project.c_str(), up,
               cfg->services.size(), notes.c_str());
  return kExitFailed;
}

int cmd_down(const Options& o) {
  std::string project = o.project;
  bool remove_foreign = false;  // without a configuration: never
  if (project.empty()) {
    int code = kExitOk;
    auto cfg = load_or_report(o.config_path(), &code);
    if (!cfg) return code;
    project = cfg->agent.project;
    remove_foreign = cfg->agent.remove_foreign;
  }
  auto engine = engine::make_docker_engine();
  if (auto v = engine->ping(); !v) {
    std::fprintf(stderr, "berth down: %s\n", v.error().message.c_str());
    return kExitFailed;
  }
  engine::LocalImageSource images(*engine);
  engine::LifecycleHooks hooks;
  hooks.on_line = [](const std::string&, const std::string& text) {
    std::printf("%s\n", text.c_str());
  };
  engine::LifecycleOptions lo;
  lo.spec.project = project;
  lo.remove_foreign = remove_foreign;
  engine::Lifecycle lc(*engine, images, lo, hooks);
  auto r = lc.down(project, o.volumes);
  if (!r) {
    std::fprintf(stderr, "berth down: %s\n", r.error().message.c_str());
    return kExitFailed;
  }
  std::printf("%s: down (%d container%s removed)\n", project.c_str(), *r, *r == 1 ? "" : "s");
  return kExitOk;
}

}  // namespace berth::cli
