// Issue 22: what a hostile registry can send to the pure parts of the registry client.
#include <catch2/catch.hpp>
#include <string>

#include "registry/manifest.hpp"

using namespace berth;
using namespace berth::registry;

namespace {

// An index whose platform object is nested `levels` deep (the SIGSEGV of issue 22 was a million).
std::string deep_index(int levels) {
  std::string p;
  for (int i = 0; i < levels; ++i) p += R"({"x":)";
  p += "1";
  for (int i = 0; i < levels; ++i) p += "}";
  return R"({"schemaVersion":2,"manifests":[{"digest":"sha256:)" + std::string(64, 'a') +
         R"(","platform":)" + p + "}]}";
}

}  // namespace

TEST_CASE("a deeply nested index is refused, not copied", "[registry][hardening]") {
  Platform amd64{"linux", "amd64", ""};
  auto r = select_platform_manifest(deep_index(1000000), amd64);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "image index: nested deeper than 64 levels");
  CHECK(r.error().kind == ErrorKind::invalid_input);
  auto size = manifest_download_size(deep_index(100));
  REQUIRE_FALSE(size);
  CHECK(size.error().message == "image manifest: nested deeper than 64 levels");
  // Within the limit: parsed and walked; the odd platform is skipped.
  auto shallow = select_platform_manifest(deep_index(40), amd64);
  REQUIRE_FALSE(shallow);
  CHECK(shallow.error().kind == ErrorKind::not_found);
}

TEST_CASE("Bearer realms: https, or the registry's own loopback host over http",
          "[registry][hardening]") {
  CHECK(check_bearer_realm("https://auth.docker.io/token", "https://registry-1.docker.io"));
  CHECK(check_bearer_realm("https://auth.example.com/token", "http://127.0.0.1:5000"));
  CHECK(check_bearer_realm("http://127.0.0.1:5001/token", "http://127.0.0.1:5000"));
  CHECK(check_bearer_realm("http://localhost/token", "http://localhost:5000"));

  auto other_host =
      check_bearer_realm("http://127.0.0.2:5001/token?x=secret", "http://127.0.0.1:5000");
  REQUIRE_FALSE(other_host);
  CHECK(other_host.error().message ==
        "Bearer realm http://127.0.0.2:5001/token refused: a token service gets the registry "
        "credentials, so it must be https (or the registry's own host when the registry itself "
        "is plain http on loopback); no credentials were sent");
  CHECK(other_host.error().kind == ErrorKind::invalid_input);
  // http to any host from an https registry, and non-URLs.
  CHECK_FALSE(check_bearer_realm("http://auth.example.com/token", "https://reg.example.com"));
  CHECK_FALSE(check_bearer_realm("http://127.0.0.1/token", "https://reg.example.com"));
  CHECK_FALSE(check_bearer_realm("http://localhost.evil.com/token", "http://localhost:5000"));
  CHECK_FALSE(check_bearer_realm("ftp://127.0.0.1/token", "http://127.0.0.1:5000"));
  CHECK_FALSE(check_bearer_realm("/token", "http://127.0.0.1:5000"));
  CHECK_FALSE(check_bearer_realm("", "http://127.0.0.1:5000"));
}
