// Desired state from the dashboard: per-service pins (a tag or a digest) that override the
// tag written in berth.toml. Pure parser; the fetcher (GET with If-None-Match, cache) lives in
// report/desired_fetch.hpp.
//
//   {"schema": "berth.desired/v1",
//    "services": {"msd-metrics": {"tag": "3f2c9e1"},
//                 "msd-logs": {"digest": "sha256:<64 hex>"},
//                 "other": null}}          // null = no pin (use berth.toml)
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "core/model.hpp"
#include "util/result.hpp"

namespace berth {

inline constexpr std::string_view kDesiredSchema = "berth.desired/v1";

struct DesiredPin {
  std::string tag;     // exactly one of tag / digest is set; [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
  std::string digest;  // "sha256:<64 lower-case hex>" (what image references accept)
  bool operator==(const DesiredPin&) const = default;
};

struct DesiredState {
  std::map<std::string, DesiredPin> services;  // only pinned services
  bool operator==(const DesiredState&) const = default;
};

// Validates the whole document; on any problem returns one Error (kind invalid_input) that
// lists every problem ("desired state: services.web: unknown service (known: a, b); ...") and
// nothing is applied. Unknown keys are errors.
Result<DesiredState> parse_desired(std::string_view json,
                                   const std::set<std::string>& known_services);

// The canonical document for a state (what parse_desired accepts).
nlohmann::json to_json(const DesiredState& state);

// "tag 3f2c9e1" / "digest sha256:..." (for logs).
std::string describe(const DesiredPin& pin);

// What became of one pin.
struct PinOutcome {
  std::string service;
  DesiredPin pin;
  bool applied = false;
  std::string message;  // for the log and the report: what was pinned, or why it was refused
};

// Applies the pins to the configured images (the pin's tag or digest replaces the configured
// one). A service whose image berth.toml pins by digest keeps it unless its allow_remote_pin is
// true: a compromised dashboard must not be able to move it. One outcome per pin, by service.
std::vector<PinOutcome> apply_pins(Config& cfg, const DesiredState& pins);

}  // namespace berth
