// The health-gated swap of one service's container (a recreate), by update_strategy:
//   stop-first  create <name>-next; stop the old one and keep it as <name>-prev; the new one takes
//               the name and starts; when it is ready the old one is removed, else the new one is
//               removed and the old one renamed back and started (rolled back);
//   start-first the new one starts beside the old one; when it is ready the old one goes;
//   preflight   a trial container (no published ports, no network aliases) runs beside the old
//               one; only when it is healthy is it removed and the stop-first swap done; when it is
//               not, it is removed and the update is rolled back: the old one was never stopped.
// Every destructive step is announced through `step` first (intent record, crash injection).
#pragma once

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/model.hpp"
#include "core/observed.hpp"
#include "core/status.hpp"
#include "engine/engine.hpp"
#include "engine/health_wait.hpp"

namespace berth::engine {

// What a swap needs from the converge that runs it, bound to one service.
struct SwapContext {
  Engine& engine;
  HealthWaiter& waiter;
  ContainerEvents& events;
  std::atomic<int>& ops;  // container operations made
  std::function<void(int step, const char* what)> step;
  std::function<void(const std::string& text)> line;
  std::function<void()> acted;  // the service's new container was started
};

struct SwapRequest {
  const ServiceSpec* svc = nullptr;
  std::string project;
  std::string name;                    // the service
  const ContainerInfo* old = nullptr;  // the container that runs the service now
  nlohmann::json body;                 // the new container's create body
  bool want_completed = false;         // a job
  Millis timeout{0};
  std::string reason;  // "image changed", "configuration changed", ...
};

struct SwapOutcome {
  bool ok = false;
  bool replaced = false;     // the new container holds the name
  bool rolled_back = false;  // the new container was judged and failed: its image is quarantined
  FailedStep step = FailedStep::none;
  std::string error;
  std::string container_id;  // the container that holds the service's name now
  Ready ready;               // the verdict on the new (or trial) container
  std::string previous_digest;
  std::string previous_image_id;
};

SwapOutcome swap_container(const SwapContext& ctx, const SwapRequest& req);

}  // namespace berth::engine
