// The reconciler's message queue. D-Bus handlers, the Docker event stream, signals and timers
// post here; only the reconciler thread takes messages and touches Docker or state.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/observed.hpp"
#include "util/result.hpp"

namespace berth::daemon {

struct Message {
  enum class Kind {
    converge,         // check images and converge (Update(), timer, SIGHUP after reload)
    reload,           // reread the configuration (SIGHUP, Reload())
    restart_service,  // D-Bus RestartService(name)
    engine_event,     // a Docker event about one of our containers
    engine_lost,      // the event stream broke: Docker went away
    engine_back,      // the event stream is back
    stop,             // SIGTERM/SIGINT
  };
  Kind kind = Kind::converge;
  std::string reason;
  std::string service;
  EngineEvent event;
  std::shared_ptr<std::promise<Result<void>>> reply;  // restart_service
};

class MessageQueue {
 public:
  void push(Message m) {
    {
      std::lock_guard lock(m_);
      // Coalesce: one pending converge/reload is enough.
      if (m.kind == Message::Kind::converge || m.kind == Message::Kind::reload) {
        for (const auto& q : q_)
          if (q.kind == m.kind) return;
      }
      q_.push_back(std::move(m));
    }
    cv_.notify_one();
  }

  // Next message, or nullopt when `deadline` passes first.
  std::optional<Message> pop_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(m_);
    if (!cv_.wait_until(lock, deadline, [&] { return !q_.empty(); })) return std::nullopt;
    Message m = std::move(q_.front());
    q_.pop_front();
    return m;
  }

  bool has(Message::Kind kind) {
    std::lock_guard lock(m_);
    for (const auto& q : q_)
      if (q.kind == kind) return true;
    return false;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Message> q_;
};

}  // namespace berth::daemon
