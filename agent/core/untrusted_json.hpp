// JSON from peers (registries, ECR, IMDS, the dashboard, dockerd): parsed only when its nesting
// is bounded, then walked by reference. nlohmann's parser and destructor do not recurse, but
// copying a value, comparing and dumping it do, once per level: a registry's 2 MB index nested a
// million levels deep took berth down with SIGSEGV (a stack overflow in the copy of one member).
// So: parse with this, never copy a peer's sub-value (json::value(key, default) copies), and
// read members through find() / get_ref().
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "util/result.hpp"

namespace berth {

inline constexpr int kMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in `text` (brackets inside strings do not count);
// stops scanning once it passes `limit` and returns limit + 1. Valid JSON or not.
int json_depth(std::string_view text, int limit = kMaxJsonDepth);

// Error{invalid_input} "not valid JSON" or "nested deeper than 64 levels" (the caller adds who
// sent it); never throws.
Result<nlohmann::json> parse_json(std::string_view text, int max_depth = kMaxJsonDepth);

// parse_json, or a discarded value (is_discarded()) on any error: for callers that only need
// "usable or not".
nlohmann::json parse_json_or_discarded(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace berth
