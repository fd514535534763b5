// Waiting until a container is ready: healthy (Docker's check or berth's probe), running (no
// check), or finished with exit 0 (a job). Fails fast: for a service that is meant to keep
// running, an exit, a restart by Docker, an OOM kill or `health_status: unhealthy` ends the wait
// at once (the container's events wake it), with the exit code, the last log lines and the
// failing check's output. The full timeout only applies to a container that keeps running but
// never becomes healthy.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "core/model.hpp"
#include "core/observed.hpp"
#include "engine/container_events.hpp"
#include "engine/engine.hpp"

namespace berth::engine {

struct Ready {
  bool ok = false;
  bool completed = false;  // a job that exited 0
  bool checked = false;    // has a health check and passed it
  // Docker could not be asked (down or restarting): no verdict on the container. An update
  // interrupted this way is undone but its image is not blamed (not quarantined).
  bool no_verdict = false;
  std::string error;  // why not ready (exit code, check output, last log lines)
  ContainerInfo info;
  std::optional<int> exit_code;  // of a container that exited or was restarted
  std::string log_tail;          // its last log lines (kLogTailLines / kLogTailBytes)
};

struct WaitFor {
  const ServiceSpec* svc = nullptr;  // the service (its healthcheck and probe)
  std::string container;             // id or name
  bool want_completed = false;       // a job: exit 0 is success, running is "not yet"
  Millis timeout{0};
  // Created by this converge: every die event of it counts (for an older container only what
  // Docker's state and restart count say: a stop berth made itself is no failure).
  bool fresh = false;
  const Probe* probe = nullptr;  // berth's probe to run (preflight aims it elsewhere); null = none
};

class HealthWaiter {
 public:
  HealthWaiter(Engine& engine, ContainerEvents& events, Millis poll_interval,
               const std::atomic<bool>* stop)
      : engine_(engine), events_(events), poll_(poll_interval), stop_(stop) {}

  Ready wait(const WaitFor& w);

  // Docker itself gone (killed, restarting): the failed call says nothing about the container.
  // A 5xx alone is not enough (a container that cannot start gets one too): Docker must also
  // fail a ping.
  bool engine_unreachable(const Error& e);

 private:
  struct Progress;
  std::optional<Ready> judge(const WaitFor& w, Progress& p, const ContainerInfo& info);
  std::optional<Ready> crashed(const WaitFor& w, const Progress& p, const ContainerInfo& info);
  std::optional<Ready> job_done(const ContainerInfo& info);
  std::optional<Ready> probed(const WaitFor& w, Progress& p);
  Ready timed_out(const WaitFor& w, const Progress& p, const ContainerInfo& info);
  void add_log_tail(Ready& r, const std::string& container);
  void pause(const WaitFor& w, Progress& p, const ContainerInfo& info);
  bool stopping() const { return stop_ && stop_->load(); }

  Engine& engine_;
  ContainerEvents& events_;
  Millis poll_;
  const std::atomic<bool>* stop_;
};

}  // namespace berth::engine
