// Replays the registry/ECR and Retry-After fuzz corpus and regressions
// (tests/fuzz/{corpus,regressions}/{registry,retry_after}) through the libFuzzer targets' entry
// points (tests/fuzz/entry_registry.hpp, entry_retry_after.hpp), in the normal build. The core
// targets are replayed by tests/unit/core/test_fuzz_regressions.cpp.
#include <catch2/catch.hpp>

#include "../../fuzz/entry_registry.hpp"
#include "../../fuzz/entry_retry_after.hpp"
#include "../../fuzz/replay.hpp"

TEST_CASE("fuzz replay: registry", "[fuzz]") {
  CHECK(berth::fuzz::replay("registry", berth::fuzz::registry_input) >= 15);
}

TEST_CASE("fuzz replay: retry_after", "[fuzz]") {
  CHECK(berth::fuzz::replay("retry_after", berth::fuzz::retry_after_input) >= 10);
}

// The findings, pinned.

TEST_CASE("fuzz findings: hostile registry and AWS documents", "[fuzz][registry][aws]") {
  using namespace berth;
  // An index whose platform fields are not strings was an uncaught exception.
  auto idx = registry::select_platform_manifest(
      R"({"manifests":[{"digest":"sha256:x","platform":{"os":1,"architecture":["amd64"]}}]})",
      registry::Platform{"linux", "amd64", ""});
  REQUIRE_FALSE(idx);
  CHECK(idx.error().message == "no linux/amd64 image in the index (it has: /)");
  // Layer sizes that add up beyond int64 were a signed overflow.
  auto size = registry::manifest_download_size(
      R"({"layers":[{"size":9223372036854775807},{"size":9223372036854775807}]})");
  REQUIRE_FALSE(size);
  CHECK(size.error().message == "image manifest has a layer without a size");
  // expiresAt far in the future overflowed the clock (1e300 seconds; year 9999).
  for (const char* exp : {"1e300", "\"9999-12-31T23:59:59Z\"", "4102444800"}) {
    auto a = aws::parse_authorization_response(
        std::string(R"({"authorizationData":[{"authorizationToken":"QVdTOnNlY3JldC1wdw==",)") +
        R"("expiresAt":)" + exp + "}]}");
    INFO(exp);
    REQUIRE_FALSE(a);
    CHECK(a.error().message == "ECR GetAuthorizationToken response has no valid expiresAt");
  }
  CHECK_FALSE(aws::parse_iso8601("9999-12-31T23:59:59Z"));
  CHECK(aws::parse_iso8601("2199-12-31T23:59:59Z"));
  auto creds = aws::parse_role_credentials(
      R"({"AccessKeyId":"A","SecretAccessKey":"B","Expiration":"9999-01-01T00:00:00Z"})", "r");
  REQUIRE_FALSE(creds);
  CHECK(creds.error().message == "instance role r: unparsable Expiration \"9999-01-01T00:00:00Z\"");
}
