#include "report/retry_after.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <string>

namespace berth::report {

std::optional<Millis> parse_retry_after(std::string_view value,
                                        std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  const auto cap = static_cast<std::uint64_t>(kRetryAfterCap.count());
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::uint64_t secs = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
    if (ec != std::errc() || p != value.data() + value.size()) return std::nullopt;
    secs = std::min(secs, cap);
    return Millis(static_cast<std::int64_t>(secs) * 1000);
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::string s(value);
  std::tm tm{};
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  // Compared in seconds: a date past the year 2262 does not fit the system clock's nanoseconds
  // (from_time_t would overflow).
  const std::time_t now_s = std::chrono::system_clock::to_time_t(now);
  if (t <= now_s) return Millis(0);
  if (static_cast<std::uint64_t>(t - now_s) >= cap)
    return Millis(static_cast<std::int64_t>(cap) * 1000);
  auto when = std::chrono::system_clock::from_time_t(t);
  if (when <= now) return Millis(0);
  return std::chrono::duration_cast<Millis>(when - now);
}

}  // namespace berth::report
