#include <catch2/catch.hpp>

#include "core/duration.hpp"

using berth::Millis;
using berth::parse_duration;

TEST_CASE("parse_duration accepts compose-style durations", "[duration]") {
  REQUIRE(parse_duration("500ms") == Millis{500});
  REQUIRE(parse_duration("10s") == Millis{10000});
  REQUIRE(parse_duration("1m30s") == Millis{90000});
  REQUIRE(parse_duration("2h") == Millis{7200000});
  REQUIRE(parse_duration("0") == Millis{0});
}

TEST_CASE("parse_duration rejects malformed text", "[duration]") {
  REQUIRE_FALSE(parse_duration(""));
  REQUIRE_FALSE(parse_duration("10"));
  REQUIRE_FALSE(parse_duration("ten seconds"));
  REQUIRE_FALSE(parse_duration("5x"));
  REQUIRE_FALSE(parse_duration("-5s"));
}

TEST_CASE("format_duration is the inverse", "[duration]") {
  REQUIRE(berth::format_duration(Millis{90000}) == "1m30s");
  REQUIRE(berth::format_duration(Millis{500}) == "500ms");
}
