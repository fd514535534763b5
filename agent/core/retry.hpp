// Retrying a failed converge (pure: the clock and the random numbers are passed in).
//
// RetrySchedule: exponential backoff with full jitter. The n-th retry (n = 0 for the first)
// waits a uniformly random time in [0, min(cap, first << n)]: the first retry comes within
// `first` (5 s), the bound doubles per failed retry up to `cap` ([agent] retry_max, 2 min).
//
// FailureLog: which causes are failing now, so that each is logged once when it appears and
// once when it clears, not on every retry.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/model.hpp"
#include "core/status.hpp"

namespace berth {

inline constexpr Millis kFirstRetry{5000};
inline constexpr Millis kDefaultRetryMax{120000};

// The upper bound of the delay before retry number `attempt` (0-based): min(cap, first * 2^n).
Millis backoff_bound(int attempt, Millis first, Millis cap);

// Full jitter: `unit` in [0, 1) (from the caller's random source) times the bound.
Millis backoff_delay(int attempt, Millis first, Millis cap, double unit);

class RetrySchedule {
 public:
  using Clock = std::chrono::steady_clock;
  // `uniform` returns a number in [0, 1); tests inject a fixed sequence.
  RetrySchedule(Millis first, Millis cap, std::function<double()> uniform)
      : first_(first), cap_(cap), uniform_(std::move(uniform)) {}

  void set_cap(Millis cap) { cap_ = cap; }
  // A converge failed at `now`: when to try again. Each call backs off further.
  Clock::time_point failed(Clock::time_point now);
  // A converge succeeded: the next failure starts from the first delay again.
  void succeeded() { attempt_ = 0; }
  // Retries scheduled since the last success.
  int attempts() const { return attempt_; }

 private:
  Millis first_;
  Millis cap_;
  std::function<double()> uniform_;
  int attempt_ = 0;
};

// One thing that is failing: a service's step (service "" for the whole stack).
struct FailureCause {
  std::string service;
  FailedStep step = FailedStep::none;
  std::string text;      // the cause, as the error says it
  bool serving = false;  // the service runs anyway (an older image): a warning, not an error
  bool operator==(const FailureCause&) const = default;
};

struct FailureChanges {
  std::vector<FailureCause> appeared;  // new, or the same service failing at another step now
  std::vector<FailureCause> cleared;   // failing before, fine now
};

class FailureLog {
 public:
  // The causes seen by a converge that covered `scope` (the services it converged; "" is the
  // stack itself and is always in scope). Causes of services outside the scope are kept.
  FailureChanges update(const std::vector<FailureCause>& now, const std::set<std::string>& scope);
  const std::map<std::string, FailureCause>& current() const { return current_; }
  bool empty() const { return current_.empty(); }
  // The services failing now (without the stack-wide "").
  std::vector<std::string> services() const;

 private:
  std::map<std::string, FailureCause> current_;  // by service
};

}  // namespace berth
