// One project on one engine: the configuration, the engine connection, where images come from,
// and the lifecycle. Shared by `berth up` (once) and `berth run` (the reconciler owns one).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/local_state.hpp"
#include "core/model.hpp"
#include "core/planner.hpp"
#include "engine/engine.hpp"
#include "engine/images.hpp"
#include "engine/lifecycle.hpp"
#include "util/result.hpp"

namespace berth::daemon {

struct StackOptions {
  std::string state_dir;
  std::string docker_host;  // "" = $DOCKER_HOST or the default socket
  std::function<void(const std::string& service, const std::string& line)> on_line;
  std::function<void(const std::string& service, int percent)> on_pull_progress;
  std::function<void(const std::string& service)> on_update_start;
  const std::atomic<bool>* stop = nullptr;
  bool log_attempts = true;  // a warning per failed registry attempt (false: debug, the daemon)
};

class Stack {
 public:
  // Connects to the engine (ping + version negotiation).
  static Result<std::unique_ptr<Stack>> create(const Config& cfg, StackOptions opts);
  ~Stack();

  const Config& config() const { return cfg_; }
  void set_config(Config cfg);
  engine::Engine& engine() { return *engine_; }

  Result<Plan> plan();
  engine::ConvergeReport converge(const std::vector<std::string>& only = {});
  Result<int> down(bool volumes);
  Result<void> restart_service(const std::string& service);

  // GET /info of the engine, asked once and kept; forget_engine_info() when the engine may have
  // changed (docker restarted). Every default that depends on the engine comes from here.
  Result<EngineInfo> engine_info();
  void forget_engine_info();

  // The durable per-service state (last-known-good, quarantine), loaded at create().
  const LocalState& local_state() const { return state_; }
  // Problems with the state directory (not fatal: berth keeps the stack running).
  const std::string& state_warning() const { return state_warning_; }

 private:
  Stack(Config cfg, StackOptions opts, std::unique_ptr<engine::Engine> engine);
  engine::LifecycleOptions lifecycle_options(const EngineInfo& info) const;
  engine::LifecycleHooks hooks();

  Config cfg_;
  StackOptions opts_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::ImageSource> images_;
  LocalState state_;
  std::string state_warning_;
  bool state_unwritable_ = false;  // the last save failed (warned once)
  std::optional<EngineInfo> engine_info_;
  std::mutex state_mutex_;

  void make_image_source();
  void load_state();
  void save_state();
  void record_outcome(const engine::ConvergeReport& report);
  void prune_images(const engine::ConvergeReport& report);
};

}  // namespace berth::daemon
