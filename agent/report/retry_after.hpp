// The Retry-After header of a dashboard's 429/503 answer (RFC 9110 10.2.3). Pure (the clock is an
// argument), apart from the reporter so that it can be fuzzed on its own (tests/fuzz).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "core/model.hpp"

namespace berth::report {

// The most a Retry-After can ask for: a year (a larger delay-seconds or a later date is capped).
inline constexpr std::chrono::seconds kRetryAfterCap{365LL * 24 * 3600};

// Retry-After: delay-seconds or an HTTP-date (IMF-fixdate); a date in the past is 0, a delay
// longer than kRetryAfterCap is kRetryAfterCap; delay-seconds beyond 2^64 are not a delay.
std::optional<Millis> parse_retry_after(std::string_view value,
                                        std::chrono::system_clock::time_point now);

}  // namespace berth::report
