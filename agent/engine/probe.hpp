// Agent-side health probes for images without a shell (config `probe = { http | tcp }`).
#pragma once

#include <string>

#include "core/model.hpp"
#include "util/result.hpp"

namespace berth::engine {

// One attempt: HTTP GET answering 2xx/3xx, or a TCP connect, within probe.timeout.
// The error says what failed ("GET http://127.0.0.1:8080/health: HTTP 503").
Result<void> run_probe(const Probe& probe);

}  // namespace berth::engine
