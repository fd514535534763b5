#include "core/untrusted_json.hpp"

#include <string>

namespace berth {

int json_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return limit + 1;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Result<nlohmann::json> parse_json(std::string_view text, int max_depth) {
  if (json_depth(text, max_depth) > max_depth)
    return fail("nested deeper than " + std::to_string(max_depth) + " levels",
                ErrorKind::invalid_input);
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail("not valid JSON", ErrorKind::invalid_input);
  return j;
}

nlohmann::json parse_json_or_discarded(std::string_view text, int max_depth) {
  auto j = parse_json(text, max_depth);
  if (!j) return nlohmann::json(nlohmann::json::value_t::discarded);
  return std::move(*j);
}

}  // namespace berth
