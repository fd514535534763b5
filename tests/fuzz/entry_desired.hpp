// Fuzz entry point: the desired-state document from the dashboard (parse_desired) and its round
// trip through to_json. The dashboard is a remote peer: its errors end up in logs, D-Bus replies
// and status reports, so they must be printable UTF-8.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "core/desired.hpp"
#include "core/image_ref.hpp"
#include "fuzz_common.hpp"

namespace berth::fuzz {

inline const std::set<std::string>& desired_known_services() {
  static const std::set<std::string> known = {"msd-logs", "msd-metrics", "web"};
  return known;
}

inline void desired(std::string_view text) {
  const auto& known = desired_known_services();
  auto state = parse_desired(text, known);
  if (!state) {
    const auto& e = state.error();
    BERTH_FUZZ_CHECK(e.kind == ErrorKind::invalid_input, "errors are invalid_input");
    BERTH_FUZZ_CHECK(e.message.starts_with("desired state: "), "errors say what they are about");
    BERTH_FUZZ_CHECK(printable(e.message), "errors are printable UTF-8: " + e.message);
    BERTH_FUZZ_CHECK(e.message.size() <= 8192, "errors are bounded (a log line)");
    return;
  }
  for (const auto& [name, pin] : state->services) {
    BERTH_FUZZ_CHECK(known.count(name) == 1, "only known services are pinned");
    BERTH_FUZZ_CHECK(pin.tag.empty() != pin.digest.empty(), "exactly one of tag and digest");
    // A pin replaces the tag of the configured image: the result must be a valid reference.
    if (!pin.tag.empty())
      BERTH_FUZZ_CHECK(
          parse_image_ref("123456789012.dkr.ecr.us-east-2.amazonaws.com/app:" + pin.tag)
              .has_value(),
          "a pinned tag makes a valid image reference: " + pin.tag);
    if (!pin.digest.empty())
      BERTH_FUZZ_CHECK(parse_image_ref("127.0.0.1:5000/app@" + pin.digest).has_value(),
                       "a pinned digest makes a valid image reference: " + pin.digest);
  }
  const std::string canonical = to_json(*state).dump();
  auto again = parse_desired(canonical, known);
  BERTH_FUZZ_CHECK(again.has_value(), "to_json parses again: " + canonical);
  BERTH_FUZZ_CHECK(*again == *state, "to_json round-trips: " + canonical);
  BERTH_FUZZ_CHECK(to_json(*again).dump() == canonical, "to_json is canonical");
}

}  // namespace berth::fuzz
