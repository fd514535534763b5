// Pure parts of the registry adapter: X-Registry-Auth, challenges, schemes, manifests, the ECR
// renewal rule, local credential providers. No network.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "net/http.hpp"
#include "registry/auth.hpp"
#include "registry/manifest.hpp"

using namespace berth;
using namespace berth::registry;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/t-registry-unit-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& content, mode_t mode = 0600) {
    auto p = path / name;
    std::ofstream(p) << content;
    ::chmod(p.c_str(), mode);
    return p.string();
  }
};

}  // namespace

TEST_CASE("x_registry_auth is base64url with padding of the auth JSON", "[registry][auth]") {
  RegistryCredential c{"AWS", "pw?>~", "123456789012.dkr.ecr.us-east-2.amazonaws.com"};
  // Same bytes as Python: base64.urlsafe_b64encode(json.dumps(sorted, separators=(',',':')))
  std::string expected =
      "eyJwYXNzd29yZCI6InB3Pz5-Iiwic2VydmVyYWRkcmVzcyI6IjEyMzQ1Njc4OTAxMi5ka3IuZWNyLnVzLWVhc3Qt"
      "Mi5hbWF6b25hd3MuY29tIiwidXNlcm5hbWUiOiJBV1MifQ==";
  CHECK(x_registry_auth(c) == expected);
  CHECK(x_registry_auth(c).find_first_of("+/") == std::string::npos);
  CHECK(x_registry_auth({"AWS", "a", "h"}) ==
        "eyJwYXNzd29yZCI6ImEiLCJzZXJ2ZXJhZGRyZXNzIjoiaCIsInVzZXJuYW1lIjoiQVdTIn0=");
  auto decoded = net::base64_decode(x_registry_auth(c));
  REQUIRE(decoded);
  CHECK(*decoded ==
        R"({"password":"pw?>~","serveraddress":"123456789012.dkr.ecr.us-east-2.amazonaws.com",)"
        R"("username":"AWS"})");
}

TEST_CASE("parse_www_authenticate", "[registry]") {
  auto b = parse_www_authenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull")");
  REQUIRE(b);
  CHECK(b->scheme == "bearer");
  CHECK(b->params["realm"] == "https://auth.docker.io/token");
  CHECK(b->params["service"] == "registry.docker.io");
  CHECK(b->params["scope"] == "repository:library/busybox:pull");
  auto basic = parse_www_authenticate(
      R"(Basic realm="https://123456789012.dkr.ecr.us-east-2.amazonaws.com/",service="ecr.amazonaws.com")");
  REQUIRE(basic);
  CHECK(basic->scheme == "basic");
  CHECK(basic->params["service"] == "ecr.amazonaws.com");
  auto unquoted = parse_www_authenticate("Bearer realm=http://127.0.0.1:1/t, service=reg");
  REQUIRE(unquoted);
  CHECK(unquoted->params["realm"] == "http://127.0.0.1:1/t");
  CHECK(unquoted->params["service"] == "reg");
  CHECK_FALSE(parse_www_authenticate(""));
}

TEST_CASE("retry_after_seconds: delta-seconds only, capped", "[registry]") {
  CHECK(retry_after_seconds("3") == 3);
  CHECK(retry_after_seconds(" 12 ") == 12);
  CHECK(retry_after_seconds("0") == 0);
  CHECK(retry_after_seconds("86400") == 300);
  CHECK(retry_after_seconds("9999999999999") == 0);
  CHECK(retry_after_seconds("") == 0);
  CHECK(retry_after_seconds("-5") == 0);
  CHECK(retry_after_seconds("1.5") == 0);
  CHECK(retry_after_seconds("Wed, 21 Oct 2026 07:28:00 GMT") == 0);
}

TEST_CASE("scheme: https unless insecure or loopback", "[registry]") {
  CHECK(registry_base_url("123456789012.dkr.ecr.us-east-2.amazonaws.com", false) ==
        "https://123456789012.dkr.ecr.us-east-2.amazonaws.com");
  CHECK(registry_base_url("127.0.0.1:5000", false) == "http://127.0.0.1:5000");
  CHECK(registry_base_url("localhost:5000", false) == "http://localhost:5000");
  CHECK(registry_base_url("[::1]:5000", false) == "http://[::1]:5000");
  CHECK(registry_base_url("registry.lan:5000", true) == "http://registry.lan:5000");
  CHECK(registry_base_url("registry.lan:5000", false) == "https://registry.lan:5000");
  CHECK_FALSE(is_loopback_host("127.example.com"));
  CHECK_FALSE(is_loopback_host("1270.0.0.1"));
  CHECK(is_loopback_host("127.1.2.3"));
}

TEST_CASE("manifest sizes and platform selection", "[registry]") {
  auto size =
      manifest_download_size(R"({"schemaVersion":2,"config":{"size":100,"digest":"sha256:a"},)"
                             R"("layers":[{"size":1000},{"size":24}]})");
  REQUIRE(size);
  CHECK(*size == 1124);
  CHECK_FALSE(manifest_download_size(R"({"manifests":[]})"));

  std::string index =
      R"({"manifests":[)"
      R"({"digest":"sha256:arm","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},)"
      R"({"digest":"sha256:att","platform":{"os":"unknown","architecture":"unknown"}},)"
      R"({"digest":"sha256:amd","platform":{"os":"linux","architecture":"amd64"}}]})";
  CHECK(*select_platform_manifest(index, Platform{"linux", "amd64", ""}) == "sha256:amd");
  CHECK(*select_platform_manifest(index, Platform{"linux", "arm64", "v8"}) == "sha256:arm");
  CHECK(*select_platform_manifest(index, Platform{"linux", "arm64", "v9"}) == "sha256:arm");
  auto none = select_platform_manifest(index, Platform{"linux", "s390x", ""});
  REQUIRE_FALSE(none);
  CHECK(none.error().message ==
        "no linux/s390x image in the index (it has: linux/arm64/v8, linux/amd64)");
  CHECK(Platform::host().architecture == "amd64");
}

TEST_CASE("ECR tokens renew at half their lifetime, jitter earlier", "[registry][ecr]") {
  aws::TimePoint t0{std::chrono::seconds(1000)};
  auto exp = t0 + std::chrono::hours(12);
  CHECK(ecr_renew_at(t0, exp, 0.0) == t0 + std::chrono::hours(6));
  CHECK(ecr_renew_at(t0, exp, 0.1) == t0 + std::chrono::hours(6) - std::chrono::minutes(72));
  CHECK(ecr_renew_at(t0, t0 - std::chrono::seconds(1), 0.0) == t0);
}

TEST_CASE("basic auth refuses a password_file others can read", "[registry][auth]") {
  TempDir d;
  RegistrySettings s;
  s.host = "registry.lan:5000";
  s.auth = RegistryAuth::basic;
  s.username = "bob";
  s.password_file = d.write("pw", "s3cret-pass\n", 0644);
  auto p = make_auth_provider(s, AuthContext{});
  REQUIRE(p);
  auto c = (*p)->get();
  REQUIRE_FALSE(c);
  CHECK(c.error().kind == ErrorKind::config);
  CHECK(c.error().message == "registry registry.lan:5000: password_file " + s.password_file +
                                 " is accessible by group or others (mode 0644); run: chmod 600 " +
                                 s.password_file);
  ::chmod(s.password_file.c_str(), 0600);
  auto ok = (*p)->get();
  REQUIRE(ok);
  CHECK(ok->username == "bob");
  CHECK(ok->password == "s3cret-pass");
  CHECK(ok->server_address == "registry.lan:5000");
  CHECK((*p)->describe().find("s3cret") == std::string::npos);

  AuthProviders providers({{s.host, s}}, AuthContext{});
  CHECK(providers.validate());
  s.username.clear();
  AuthProviders bad({{s.host, s}}, AuthContext{});
  auto v = bad.validate();
  REQUIRE_FALSE(v);
  CHECK(v.error().message == "registry registry.lan:5000: auth = \"basic\" needs username");
}

TEST_CASE("docker config auth: auths[host].auth and username/password", "[registry][auth]") {
  TempDir d;
  std::string cfg = d.write("config.json", R"({"auths":{
      "https://registry.lan:5000/v1/":{"auth":")" +
                                               net::base64_encode("alice:pa:ss") + R"("},
      "other.example":{"username":"carol","password":"pw2"},
      "https://index.docker.io/v1/":{"auth":")" +
                                               net::base64_encode("hub:hubpw") + R"("}},
      "credHelpers":{"helper.example":"ecr-login"}})");
  auto make = [&](const std::string& host) {
    RegistrySettings s;
    s.host = host;
    s.auth = RegistryAuth::docker_config;
    s.config_file = cfg;
    return std::move(*make_auth_provider(s, AuthContext{}));
  };
  auto a = make("registry.lan:5000")->get();
  REQUIRE(a);
  CHECK(a->username == "alice");
  CHECK(a->password == "pa:ss");
  auto b = make("other.example")->get();
  REQUIRE(b);
  CHECK(b->username == "carol");
  CHECK(b->password == "pw2");
  auto hub = make("docker.io")->get();
  REQUIRE(hub);
  CHECK(hub->username == "hub");
  auto helper = make("helper.example")->get();
  REQUIRE_FALSE(helper);
  CHECK(helper.error().message.find("credential helper (credHelpers)") != std::string::npos);
  auto missing = make("nowhere.example")->get();
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message ==
        "registry nowhere.example: docker config " + cfg + ": no auths entry for nowhere.example");
}

TEST_CASE("AuthProviders: configured, recognised ECR, anonymous", "[registry][auth]") {
  RegistrySettings local;
  local.host = "127.0.0.1:5000";
  local.auth = RegistryAuth::none;
  AuthProviders providers({{local.host, local}}, AuthContext{});
  auto l = providers.for_host("127.0.0.1:5000");
  REQUIRE(l);
  CHECK((*l)->describe() == "anonymous");
  auto e = providers.for_host("123456789012.dkr.ecr.us-east-2.amazonaws.com");
  REQUIRE(e);
  CHECK((*e)->is_ecr());
  CHECK((*e)->describe() == "ECR (account 123456789012, us-east-2)");
  // No EcrClient in this context: a clear error, not a crash.
  auto c = (*e)->get();
  REQUIRE_FALSE(c);
  CHECK(c.error().message ==
        "registry 123456789012.dkr.ecr.us-east-2.amazonaws.com: ECR support is not available");
  auto hub = providers.for_host("docker.io");
  REQUIRE(hub);
  CHECK_FALSE((*hub)->is_ecr());
  auto again = providers.for_host("docker.io");
  CHECK(*again == *hub);
}
