#pragma once
// Wakes the waits of a converge (health, completion) on the project's container events instead
// of only polling: a container used to be seen healthy up to poll_interval (250 ms) after Docker
// said so. Measured in the cold-start bench before this: `berth up` exited 0.25 s after the last
// health_status event. Polling stays as the fallback: quickly until the stream has delivered an
// event (it may not be connected yet, or cannot be opened), slowly after.
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/model.hpp"
#include "engine/engine.hpp"

namespace berth::engine {

// The bookkeeping, without I/O: what a waiter has seen, and whether something new arrived.
class EventWaits {
 public:
  struct Seen {
    std::uint64_t count = 0;  // events of this container so far
    bool live = false;        // the stream had delivered an event
  };

  // What the events said about a container's exits: a health wait ends at once on any of them
  // for a service that is meant to keep running (die, oom; a restart by Docker is a die too).
  struct Exits {
    int dies = 0;
    std::optional<int> last_exit_code;  // from the last die event
    bool oom = false;
  };

  Seen seen(const std::string& container_id);
  Exits exits(const std::string& container_id);
  // An event: counted like on_event(id); die and oom are remembered for exits().
  void on_event(const EngineEvent& ev);
  // One event of a container (full ID) arrived. The first event of the stream wakes every
  // waiter: what happened before the stream was connected is looked at once more. So does the
  // end of the stream (waits go back to polling quickly).
  void on_event(const std::string& container_id);
  // The stream ended (failed or stopped): waits poll quickly again.
  void on_end();
  // Blocks until this container has a new event, the stream starts or ends delivering, or the
  // fallback time (`fast` while no event has arrived, else `slow`) passes. True when woken by
  // an event.
  bool wait(const std::string& container_id, Seen seen, Millis fast, Millis slow);

 private:
  bool changed(const std::string& container_id, Seen seen) const;

  std::mutex m_;
  std::condition_variable cv_;
  std::map<std::string, std::uint64_t> counts_;
  std::map<std::string, Exits> exits_;
  bool live_ = false;
};

// EventWaits fed by the Engine's events stream of one project, opened by the first wait.
class ContainerEvents {
 public:
  ContainerEvents(Engine& engine, std::string project)
      : engine_(engine), project_(std::move(project)) {}
  ContainerEvents(const ContainerEvents&) = delete;
  ContainerEvents& operator=(const ContainerEvents&) = delete;
  ~ContainerEvents() = default;  // the stream thread is stopped and joined (jthread)

  EventWaits::Seen seen(const std::string& container_id) { return waits_.seen(container_id); }
  EventWaits::Exits exits(const std::string& container_id) { return waits_.exits(container_id); }
  // Opens the stream now (before starting a container whose exit must not be missed); else the
  // first wait that blocks opens it.
  void open();
  bool wait(const std::string& container_id, EventWaits::Seen seen, Millis fast, Millis slow);

 private:
  Engine& engine_;
  std::string project_;
  EventWaits waits_;
  std::once_flag started_;
  std::jthread thread_;  // last: stopped and joined before the members it uses go
};

}  // namespace berth::engine
