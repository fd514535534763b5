// Fuzz entry point: berth's durable state document ($STATE_DIRECTORY/state.json), read back
// after a crash or an operator's edit (parse_local_state), and its round trip through to_json.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

#include "core/local_state.hpp"
#include "fuzz_common.hpp"

namespace berth::fuzz {

inline void local_state(std::string_view text) {
  auto state = parse_local_state(text);
  if (!state) {
    BERTH_FUZZ_CHECK(state.error().kind == ErrorKind::invalid_input, "errors are invalid_input");
    BERTH_FUZZ_CHECK(!state.error().message.empty(), "errors say something");
    return;
  }
  // What berth writes must read back to the same document (the state survives restarts).
  const std::string written = to_json(*state).dump();
  auto again = parse_local_state(written);
  BERTH_FUZZ_CHECK(again.has_value(), "to_json parses again");
  BERTH_FUZZ_CHECK(to_json(*again).dump() == written, "to_json round-trips");

  // The operations the reconciler applies keep the document valid and bounded.
  for (const auto& [name, rec] : again->services) {
    (void)again->prunable(name);
    (void)again->is_quarantined(name, rec.last_good.image_id);
  }
  LocalState s = *again;
  const std::size_t before = s.services["fuzz"].quarantined.size();
  s.record_pulled("fuzz", "sha256:1");
  s.record_good("fuzz", {"sha256:1", "sha256:d1", "r", "t"});
  for (int i = 0; i < 12; ++i) s.quarantine("fuzz", {"sha256:q" + std::to_string(i), "", "t", "x"});
  // At most 10 once berth has added some (a hand-edited file may hold more; it never grows).
  BERTH_FUZZ_CHECK(s.services["fuzz"].quarantined.size() <= std::max<std::size_t>(10, before),
                   "quarantine is bounded");
  auto third = parse_local_state(to_json(s).dump());
  BERTH_FUZZ_CHECK(third.has_value(), "an updated state parses again");
}

}  // namespace berth::fuzz
