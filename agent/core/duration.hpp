#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/model.hpp"

namespace berth {

// "500ms", "10s", "1m30s", "2h", "1h2m3s4ms", "0". Units: ms, s, m, h, d. Bare "0" only.
std::optional<Millis> parse_duration(std::string_view text);
// Inverse, shortest form: 90000ms -> "1m30s".
std::string format_duration(Millis d);

}  // namespace berth
