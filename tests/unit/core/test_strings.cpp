// util/strings: the one lower-caser and the one percent-encoder every layer uses.
#include <catch2/catch.hpp>

#include "util/strings.hpp"

using namespace berth;

TEST_CASE("to_lower: ASCII only, other bytes unchanged", "[strings]") {
  CHECK(to_lower("Content-Type") == "content-type");
  CHECK(to_lower("US-EAST-1") == "us-east-1");
  CHECK(to_lower("") == "");
  CHECK(to_lower("\xC3\x84X") == "\xC3\x84x");  // UTF-8 bytes are left alone
}

TEST_CASE("percent_encode: unreserved kept, the rest %XX, `keep` kept", "[strings]") {
  CHECK(percent_encode("a-b_c.d~e") == "a-b_c.d~e");
  CHECK(percent_encode("a b/c:d@e") == "a%20b%2Fc%3Ad%40e");
  CHECK(percent_encode("reg:5000/app@sha256:ab", "/:@") == "reg:5000/app@sha256:ab");
  CHECK(percent_encode("{\"label\":[\"x=y\"]}") == "%7B%22label%22%3A%5B%22x%3Dy%22%5D%7D");
  CHECK(percent_encode(std::string("\0\xff", 2)) == "%00%FF");
}
