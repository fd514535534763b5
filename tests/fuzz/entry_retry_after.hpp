// Fuzz entry point: the Retry-After header of the dashboard's 429/503 answers
// (report::parse_retry_after): delay-seconds or an IMF-fixdate, against a fixed clock so that a
// reproducer replays identically.
//   - a delay is between 0 and report::kRetryAfterCap;
//   - delay-seconds (digits only, spaces around) give exactly min(N, cap) seconds;
//   - a date gives the same delay whatever spaces surround it.
// Links report/retry_after.cpp (pure) and berth_core.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "report/retry_after.hpp"

namespace berth::fuzz {

inline void retry_after_input(std::string_view text) {
  // 2027-01-15T08:00:00Z: a "now" inside the dates the seeds use.
  const auto now = std::chrono::system_clock::from_time_t(1800000000);
  auto d = report::parse_retry_after(text, now);
  if (!d) return;
  BERTH_FUZZ_CHECK(d->count() >= 0, "a Retry-After delay is not negative");
  BERTH_FUZZ_CHECK(*d <= report::kRetryAfterCap, "a Retry-After delay is capped");
  std::string_view core = text;
  while (!core.empty() && core.front() == ' ') core.remove_prefix(1);
  while (!core.empty() && core.back() == ' ') core.remove_suffix(1);
  if (!core.empty() && core.size() <= 18 &&
      std::all_of(core.begin(), core.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    auto secs = std::stoull(std::string(core));
    auto want = std::min<unsigned long long>(
        secs, static_cast<unsigned long long>(report::kRetryAfterCap.count()));
    BERTH_FUZZ_CHECK(d->count() == static_cast<long long>(want) * 1000,
                     "delay-seconds are the delay");
  }
  auto padded = report::parse_retry_after("  " + std::string(text) + " ", now);
  BERTH_FUZZ_CHECK(padded && *padded == *d, "spaces around the value change nothing");
}

}  // namespace berth::fuzz
