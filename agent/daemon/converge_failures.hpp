// What failed in a converge, as causes for the daemon's retry (core/retry.hpp), and the log lines
// when a cause appears and when it clears.
#pragma once

#include <string>
#include <vector>

#include "core/retry.hpp"
#include "engine/lifecycle.hpp"

namespace berth::daemon {

// One cause per failing service (its step and error), one per service running a stale image
// (registry unreachable), and one for the stack ("") when the converge failed before the
// services (Docker, network, the engine's defaults). A rollback is no cause: the previous
// image runs and the new one is quarantined, a retry would change nothing.
std::vector<FailureCause> failure_causes(const engine::ConvergeReport& report);

// Logged once when a cause appears (with the whole error, the log tail included) and once when
// it clears.
void log_failure_changes(const FailureChanges& changes, int retries);

// "web: image: registry unreachable (...)" cut to `max` bytes, first line only (STATUS=).
std::string cause_summary(const FailureCause& cause, std::size_t max);

}  // namespace berth::daemon
