#include "engine/container_events.hpp"

#include <spdlog/spdlog.h>

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

bool ContainerEvents::wait(const std::string& container_id, EventWaits::Seen seen, Millis fast,
                           Millis slow) {
  // Opened by the first wait, not the first snapshot: a converge whose containers are all ready
  // at the first look opens no stream. A snapshot taken before it is still right: the stream's
  // first event wakes every waiter.
  std::call_once(started_, [this] {
    thread_ = std::jthread([this](std::stop_token stop) {
      auto r = engine_.stream_events(
          {std::string(labels::kProject) + "=" + project_},
          [this](const EngineEvent& ev) { waits_.on_event(ev.id); }, stop);
      if (!r) spdlog::debug("converge: container events: {} (polling instead)", r.error().message);
      waits_.on_end();
    });
  });
  return waits_.wait(container_id, seen, fast, slow);
}

}  // namespace berth::engine
