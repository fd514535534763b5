#include "core/retry.hpp"

#include <algorithm>

namespace berth {

Millis backoff_bound(int attempt, Millis first, Millis cap) {
  if (first.count() <= 0) return Millis{0};
  Millis bound = first;
  for (int i = 0; i < attempt && bound < cap; ++i) bound *= 2;
  return std::min(bound, cap);
}

Millis backoff_delay(int attempt, Millis first, Millis cap, double unit) {
  unit = std::clamp(unit, 0.0, 1.0);
  auto bound = static_cast<double>(backoff_bound(attempt, first, cap).count());
  return Millis{static_cast<Millis::rep>(bound * unit)};
}

RetrySchedule::Clock::time_point RetrySchedule::failed(Clock::time_point now) {
  Millis delay = backoff_delay(attempt_, first_, cap_, uniform_ ? uniform_() : 1.0);
  ++attempt_;
  return now + delay;
}

FailureChanges FailureLog::update(const std::vector<FailureCause>& now,
                                  const std::set<std::string>& scope) {
  FailureChanges ch;
  std::map<std::string, FailureCause> seen;
  for (const auto& c : now) seen.emplace(c.service, c);  // the first cause of a service wins
  for (auto it = current_.begin(); it != current_.end();) {
    bool covered = it->first.empty() || scope.count(it->first) > 0;
    if (covered && !seen.count(it->first)) {
      ch.cleared.push_back(it->second);
      it = current_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [service, cause] : seen) {
    auto it = current_.find(service);
    // The same step failing again is the same cause, even when its text moved (a restart count,
    // an address): logged once while it lasts.
    if (it != current_.end() && it->second.step == cause.step) {
      it->second.text = cause.text;
      continue;
    }
    ch.appeared.push_back(cause);
    current_[service] = cause;
  }
  return ch;
}

std::vector<std::string> FailureLog::services() const {
  std::vector<std::string> out;
  for (const auto& [service, _] : current_)
    if (!service.empty()) out.push_back(service);
  return out;
}

}  // namespace berth
