#include <catch2/catch.hpp>
#include <string>

#include "core/untrusted_json.hpp"

using namespace berth;

TEST_CASE("json_depth counts brackets outside strings, stops past the limit", "[json]") {
  CHECK(json_depth("") == 0);
  CHECK(json_depth("42") == 0);
  CHECK(json_depth("{}") == 1);
  CHECK(json_depth(R"({"a":[1,{"b":[]}]})") == 4);
  CHECK(json_depth(R"({"a":"[[[[{{{{"})") == 1);
  CHECK(json_depth(R"({"a":"\"[[[[", "b":[]})") == 2);
  CHECK(json_depth("[]]]]]]][") == 1);  // stray closers do not go negative
  std::string deep(100000, '[');
  CHECK(json_depth(deep, 64) == 65);
  CHECK(json_depth(deep, 10) == 11);
}

TEST_CASE("parse_json refuses deep nesting before parsing, never throws", "[json]") {
  auto nested = [](int levels) {
    std::string s;
    for (int i = 0; i < levels; ++i) s += R"({"p":)";
    s += "1";
    for (int i = 0; i < levels; ++i) s += "}";
    return s;
  };
  auto ok = parse_json(nested(64));
  REQUIRE(ok);
  CHECK(ok->is_object());
  auto deep = parse_json(nested(65));
  REQUIRE_FALSE(deep);
  CHECK(deep.error().kind == ErrorKind::invalid_input);
  CHECK(deep.error().message == "nested deeper than 64 levels");
  // The regression: a million levels (as in the 2 MB index that crashed berth).
  auto huge = parse_json(nested(1000000));
  REQUIRE_FALSE(huge);
  CHECK(huge.error().message == "nested deeper than 64 levels");
  auto bad = parse_json("{\"a\":");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "not valid JSON");
  CHECK(parse_json_or_discarded("[[[").is_discarded());
  CHECK(parse_json_or_discarded(nested(100)).is_discarded());
  CHECK(parse_json(nested(100), 200));
}
