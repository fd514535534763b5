// `berth run`: the reconciler. One thread owns the stack and its status; the Docker event
// stream, D-Bus handlers, signals and timers only post messages to its queue (DESIGN.md).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "core/model.hpp"
#include "core/retry.hpp"
#include "core/status.hpp"
#include "daemon/dbus_service.hpp"
#include "daemon/notify.hpp"
#include "daemon/queue.hpp"
#include "daemon/stack.hpp"
#include "report/desired_fetch.hpp"
#include "report/reporter.hpp"

namespace berth::daemon {

struct RunOptions {
  std::string config_path;
  std::string state_dir;
  std::string dbus_bus;  // "" = $BERTH_DBUS_ADDRESS or "system"; "none" = no D-Bus
};

class Reconciler final : public DbusHandler {
 public:
  Reconciler(Config cfg, RunOptions opts);
  ~Reconciler() override;

  // Runs until SIGTERM/SIGINT (or stop()). Returns the process exit code.
  int run();
  void stop();

  // DbusHandler (called on the D-Bus thread: post and return).
  void request_update() override;
  void request_reload() override;
  Result<void> request_restart(const std::string& service) override;

 private:
  using Clock = std::chrono::steady_clock;

  Config cfg_;
  RunOptions opts_;
  MessageQueue queue_;
  Notifier notifier_;
  std::atomic<bool> stopping_{false};
  std::stop_source events_stop_;  // wakes the events thread at once (no polling)
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<DbusService> dbus_;
  std::unique_ptr<report::Reporter> reporter_;
  std::unique_ptr<report::DesiredFetcher> desired_;
  std::thread events_thread_;
  std::thread signal_thread_;

  // Status (reconciler thread only, except progress which the converge worker updates).
  std::mutex status_mutex_;
  std::map<std::string, ServiceStatus> services_;
  std::vector<StatusEvent> pending_events_;
  bool converging_ = false;
  bool engine_up_ = false;
  std::string engine_error_;
  std::string config_problem_;
  std::uint64_t last_converge_usec_ = 0;
  HostInfo host_;
  std::string started_at_;
  std::map<std::string, int> pull_percent_;
  std::atomic<long long> last_progress_ns_{0};
  std::map<std::string, Clock::time_point> last_auto_restart_;
  std::optional<DesiredState> pins_;
  std::map<std::string, std::string> pin_sources_;  // service -> "config" | "dashboard"
  std::vector<std::string> pin_notes_;              // refused pins
  std::vector<std::string> converge_notes_;         // from the last converge (foreign containers)
  bool pins_logged_ = false;

  // A failed converge is retried with backoff (core/retry.hpp); reconciler thread only.
  std::mt19937_64 rng_{std::random_device{}()};
  RetrySchedule retry_;
  FailureLog failures_;
  Clock::time_point next_retry_ = Clock::time_point::max();
  std::string next_retry_at_;            // RFC 3339 (status, reports); "" = none pending
  std::vector<std::string> retry_only_;  // the services to retry; empty = the whole stack

  void start_signal_thread();
  void start_events_thread();
  void stop_threads();
  bool connect_engine();
  void converge(const std::string& reason, bool first = false,
                const std::vector<std::string>& only = {});
  void schedule_retry(const engine::ConvergeReport& report, const std::vector<std::string>& only);
  void retry_now();
  void reload();
  void handle_event(const EngineEvent& ev);
  void on_exit(const std::string& service, const EngineEvent& ev);
  bool handle_message(const Message& msg);
  void restart(const std::string& service,
               const std::shared_ptr<std::promise<Result<void>>>& reply);
  Config effective_config();
  void note_pins(const Config& effective, const std::vector<PinOutcome>& outcomes, bool log);
  void refresh_service(const std::string& service);
  void apply_report(const engine::ConvergeReport& report);
  void publish();
  // The one-line status (STATUS=, D-Bus, `berth status`); retry_cause: with the failing cause.
  std::string status_line(bool retry_cause = true);
  void add_event(const std::string& service, EventKind kind, const std::string& detail,
                 std::optional<int> exit_code = std::nullopt);
  void touch_progress();
  void make_reporter();
};

}  // namespace berth::daemon
