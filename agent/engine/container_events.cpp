#include "engine/container_events.hpp"

#include <spdlog/spdlog.h>

#include <charconv>

#include "core/naming.hpp"

namespace berth::engine {

EventWaits::Seen EventWaits::seen(const std::string& container_id) {
  std::lock_guard lock(m_);
  auto it = counts_.find(container_id);
  return {it == counts_.end() ? 0 : it->second, live_};
}

void EventWaits::on_event(const std::string& container_id) {
  {
    std::lock_guard lock(m_);
    ++counts_[container_id];
    live_ = true;
  }
  cv_.notify_all();
}

EventWaits::Exits EventWaits::exits(const std::string& container_id) {
  std::lock_guard lock(m_);
  auto it = exits_.find(container_id);
  return it == exits_.end() ? Exits{} : it->second;
}

void EventWaits::on_event(const EngineEvent& ev) {
  if (ev.action == "die" || ev.action == "oom") {
    std::lock_guard lock(m_);
    auto& x = exits_[ev.id];
    if (ev.action == "oom") {
      x.oom = true;
    } else {
      ++x.dies;
      if (auto c = ev.attributes.find("exitCode"); c != ev.attributes.end()) {
        int code = 0;
        auto [p, ec] = std::from_chars(c->second.data(), c->second.data() + c->second.size(), code);
        if (ec == std::errc()) x.last_exit_code = code;
      }
    }
  }
  on_event(ev.id);
}

void EventWaits::on_end() {
  {
    std::lock_guard lock(m_);
    live_ = false;
  }
  cv_.notify_all();
}

bool EventWaits::changed(const std::string& container_id, Seen seen) const {
  auto it = counts_.find(container_id);
  return (it == counts_.end() ? 0 : it->second) != seen.count || live_ != seen.live;
}

bool EventWaits::wait(const std::string& container_id, Seen seen, Millis fast, Millis slow) {
  std::unique_lock lock(m_);
  return cv_.wait_for(lock, seen.live && live_ ? slow : fast,
                      [&] { return changed(container_id, seen); });
}

void ContainerEvents::open() {
  std::call_once(started_, [this] {
    thread_ = std::jthread([this](std::stop_token stop) {
      auto r = engine_.stream_events(
          {std::string(labels::kProject) + "=" + project_},
          [this](const EngineEvent& ev) { waits_.on_event(ev); }, stop);
      if (!r) spdlog::debug("converge: container events: {} (polling instead)", r.error().message);
      waits_.on_end();
    });
  });
}

bool ContainerEvents::wait(const std::string& container_id, EventWaits::Seen seen, Millis fast,
                           Millis slow) {
  // Opened by the first wait, not the first snapshot: a converge whose containers are all ready
  // at the first look opens no stream. A snapshot taken before it is still right: the stream's
  // first event wakes every waiter.
  open();
  return waits_.wait(container_id, seen, fast, slow);
}

}  // namespace berth::engine
