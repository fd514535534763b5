#include <catch2/catch.hpp>

#include "util/result.hpp"

TEST_CASE("Result carries an error message", "[core]") {
  berth::Result<int> r = berth::fail("boom", berth::ErrorKind::timeout);
  REQUIRE_FALSE(r);
  REQUIRE(r.error().message == "boom");
  REQUIRE(r.error().retryable());
}
