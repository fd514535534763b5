// Registry digest resolution against a real registry (Debian's docker-registry, htpasswd basic
// auth) whose password is what the fake ECR's token reveals - exactly how ECR's AWS:<token>
// login works. Content is pushed through the registry API (tests/fakes/registry.py), no dockerd.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <sstream>

#include "../../support/fake_process.hpp"
#include "aws/credentials.hpp"
#include "aws/ecr.hpp"
#include "core/image_ref.hpp"
#include "registry/auth.hpp"
#include "registry/manifest.hpp"

using namespace berth;
using namespace berth::registry;
using berth::test::FakeProcess;
using berth::test::run_command;
using namespace std::chrono_literals;

namespace {

constexpr const char* kKey = "AKIDEXAMPLE";
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kPassword = "ecr-token-password-3f2c9e1-0123456789";

struct Pushed {
  std::string digest;
  std::int64_t size = 0;                       // config + layers (single image)
  std::map<std::string, std::string> digests;  // per arch (index)
  std::map<std::string, std::int64_t> sizes;
};

// registry.py push ADDR REPO TAG --password PW [--arch a,b] [--oci]
Pushed push(const std::string& addr, const std::string& repo, const std::string& tag,
            const std::string& arch = "amd64", bool oci = false) {
  std::vector<std::string> argv{"/usr/bin/python3",
                                test::fakes_dir() + "/registry.py",
                                "push",
                                addr,
                                repo,
                                tag,
                                "--password",
                                kPassword,
                                "--arch",
                                arch};
  if (oci) argv.push_back("--oci");
  auto r = run_command(argv, 60s);
  REQUIRE(r.exit_code == 0);
  std::istringstream in(r.out);
  Pushed p;
  in >> p.digest;
  if (arch.find(',') == std::string::npos) {
    in >> p.size;
  } else {
    std::string a, d;
    std::int64_t s;
    while (in >> a >> d >> s) {
      p.digests[a] = d;
      p.sizes[a] = s;
    }
  }
  return p;
}

ImageRef image_ref(const std::string& text) {
  auto r = parse_image_ref(text);
  REQUIRE(r);
  return *r;
}

// The fake ECR + the registry + an ECR auth provider for the registry's host.
struct EcrRegistry {
  FakeProcess ecr{"fake_ecr.py",
                  {"--key", std::string(kKey) + ":" + kSecret, "--password", kPassword}};
  FakeProcess reg{"registry.py", {"--password", kPassword}};
  std::shared_ptr<aws::EcrClient> ecr_client;
  std::unique_ptr<AuthProvider> auth;

  EcrRegistry() {
    auto chain =
        std::make_shared<aws::CredentialChain>(aws::Env({{"AWS_ACCESS_KEY_ID", kKey},
                                                         {"AWS_SECRET_ACCESS_KEY", kSecret},
                                                         {"AWS_ENDPOINT_URL_ECR", ecr.url()},
                                                         {"AWS_EC2_METADATA_DISABLED", "true"}}));
    ecr_client = std::make_shared<aws::EcrClient>(chain);
    AuthContext ctx;
    ctx.ecr = ecr_client;
    RegistrySettings s;
    s.host = reg.addr();
    s.auth = RegistryAuth::ecr;
    s.account = "123456789012";
    s.region = "us-east-1";
    auto p = make_auth_provider(s, ctx);
    REQUIRE(p);
    auth = std::move(*p);
  }
};

void check_no_secret(const std::string& msg) {
  INFO(msg);
  CHECK(msg.find(kPassword) == std::string::npos);
  CHECK(msg.find(kSecret) == std::string::npos);
  CHECK(msg.find("wrong-password") == std::string::npos);
}

}  // namespace

TEST_CASE("resolve_digest: tag -> digest with the ECR token as basic auth", "[registry][fakes]") {
  EcrRegistry f;
  auto single = push(f.reg.addr(), "t-registry-app", "v1");
  auto index = push(f.reg.addr(), "t-registry-app", "multi", "amd64,arm64");
  auto oci = push(f.reg.addr(), "t-registry-app", "oci", "amd64,arm64", true);
  RegistryClient client;

  auto d = client.resolve_digest(image_ref(f.reg.addr() + "/t-registry-app:v1"), f.auth.get());
  REQUIRE(d);
  CHECK(d->digest == single.digest);
  CHECK(d->media_type == "application/vnd.docker.distribution.manifest.v2+json");
  CHECK_FALSE(d->from_body);
  CHECK(d->size > 0);

  auto m = client.resolve_digest(image_ref(f.reg.addr() + "/t-registry-app:multi"), f.auth.get());
  REQUIRE(m);
  CHECK(m->digest == index.digest);  // the index digest, as docker pull records it
  CHECK(m->media_type == "application/vnd.docker.distribution.manifest.list.v2+json");

  auto o = client.resolve_digest(image_ref(f.reg.addr() + "/t-registry-app:oci"), f.auth.get());
  REQUIRE(o);
  CHECK(o->digest == oci.digest);
  CHECK(o->media_type == "application/vnd.oci.image.index.v1+json");

  // A digest reference needs no request.
  int before = client.requests();
  auto pinned = client.resolve_digest(image_ref(f.reg.addr() + "/t-registry-app@" + single.digest),
                                      f.auth.get());
  REQUIRE(pinned);
  CHECK(pinned->digest == single.digest);
  CHECK(client.requests() == before);

  CHECK(f.ecr_client->calls() == 1);  // one token for all of it
  // The process-wide convenience wrapper works the same.
  auto w = registry::resolve_digest(image_ref(f.reg.addr() + "/t-registry-app:v1"), f.auth.get());
  REQUIRE(w);
  CHECK(w->digest == single.digest);
}

TEST_CASE("image_size: config + layers of the host platform's manifest", "[registry][fakes]") {
  EcrRegistry f;
  auto single = push(f.reg.addr(), "t-registry-size", "v1");
  auto index = push(f.reg.addr(), "t-registry-size", "multi", "arm64,amd64");
  RegistryClient client;
  auto s = client.image_size(image_ref(f.reg.addr() + "/t-registry-size:v1"), f.auth.get());
  REQUIRE(s);
  CHECK(*s == single.size);
  auto m = client.image_size(image_ref(f.reg.addr() + "/t-registry-size:multi"), f.auth.get());
  REQUIRE(m);
  CHECK(*m == index.sizes.at("amd64"));
  auto by_digest = client.image_size(
      image_ref(f.reg.addr() + "/t-registry-size@" + index.digests.at("arm64")), f.auth.get());
  REQUIRE(by_digest);
  CHECK(*by_digest == index.sizes.at("arm64"));

  RegistryClientOptions o;
  o.platform = Platform{"linux", "s390x", ""};
  RegistryClient s390(o);
  auto none = s390.image_size(image_ref(f.reg.addr() + "/t-registry-size:multi"), f.auth.get());
  REQUIRE_FALSE(none);
  CHECK(none.error().kind == ErrorKind::not_found);
  CHECK(none.error().message == f.reg.addr() +
                                    "/t-registry-size:multi: no linux/s390x image in the index "
                                    "(it has: linux/arm64/v8, linux/amd64)");
}

TEST_CASE("resolve_digest: unknown tag, unknown repository", "[registry][fakes]") {
  EcrRegistry f;
  push(f.reg.addr(), "t-registry-nf", "v1");
  RegistryClient client;
  auto tag = client.resolve_digest(image_ref(f.reg.addr() + "/t-registry-nf:nope"), f.auth.get());
  REQUIRE_FALSE(tag);
  CHECK(tag.error().kind == ErrorKind::not_found);
  CHECK(tag.error().http_status == 404);
  CHECK(tag.error().message ==
        "manifest unknown: " + f.reg.addr() + "/t-registry-nf:nope not found in " + f.reg.addr());
  auto repo = client.resolve_digest(image_ref(f.reg.addr() + "/t-registry-none:v1"), f.auth.get());
  REQUIRE_FALSE(repo);
  CHECK(repo.error().kind == ErrorKind::not_found);
  // image_size GETs, so the registry's error code is included.
  auto size = client.image_size(image_ref(f.reg.addr() + "/t-registry-nf:nope"), f.auth.get());
  REQUIRE_FALSE(size);
  CHECK(size.error().message == "manifest unknown: " + f.reg.addr() +
                                    "/t-registry-nf:nope not found in " + f.reg.addr() +
                                    " (MANIFEST_UNKNOWN: manifest unknown)");
}

TEST_CASE("resolve_digest: a wrong password is renewed once, then a clear 401",
          "[registry][fakes]") {
  EcrRegistry f;
  push(f.reg.addr(), "t-registry-pw", "v1");
  f.ecr.control("config", {{"password", "wrong-password"}});
  RegistryClient client;
  auto r = client.resolve_digest(image_ref(f.reg.addr() + "/t-registry-pw:v1"), f.auth.get());
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::auth);
  CHECK(r.error().http_status == 401);
  CHECK(r.error().message == "registry " + f.reg.addr() +
                                 " rejected the credentials from ECR (account 123456789012, "
                                 "us-east-1) for " +
                                 f.reg.addr() +
                                 "/t-registry-pw:v1 (HTTP 401, after renewing them once)");
  check_no_secret(r.error().message);
  CHECK(f.ecr_client->calls() == 2);  // the token was renewed once

  // ECR hands out the right password again: the next 401 renews and succeeds.
  f.ecr.control("config", {{"password", kPassword}});
  auto ok = client.resolve_digest(image_ref(f.reg.addr() + "/t-registry-pw:v1"), f.auth.get());
  REQUIRE(ok);
  CHECK(f.ecr_client->calls() == 3);
}

TEST_CASE("resolve_digest: anonymous against an auth registry, and a registry that is down",
          "[registry][fakes]") {
  FakeProcess reg("registry.py", {"--password", kPassword});
  RegistryClient client;
  auto anon = client.resolve_digest(image_ref(reg.addr() + "/t-registry-anon:v1"), nullptr);
  REQUIRE_FALSE(anon);
  CHECK(anon.error().kind == ErrorKind::auth);
  CHECK(anon.error().message == "registry " + reg.addr() + " requires authentication for " +
                                    reg.addr() + "/t-registry-anon:v1 (configure [registries.\"" +
                                    reg.addr() + "\"] in berth.toml)");

  auto down = client.resolve_digest(image_ref("127.0.0.1:9/t-registry-down:v1"), nullptr);
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == ErrorKind::unavailable);
  CHECK(down.error().message.find("registry 127.0.0.1:9 unreachable at http://127.0.0.1:9: "
                                  "http://127.0.0.1:9/v2/t-registry-down/manifests/v1: ") == 0);
}

TEST_CASE("resolve_digest: Docker-Hub-style bearer token registries", "[registry][fakes]") {
  FakeProcess front("registry.py", {"--bearer", "--password", kPassword});
  auto pushed = push(front.addr(), "t-registry-bearer", "v1");
  auto other = push(front.addr(), "t-registry-bearer2", "v1");
  RegistrySettings s;
  s.host = front.addr();
  s.auth = RegistryAuth::basic;
  s.username = "AWS";
  char tmpl[] = "/tmp/t-registry-pw-XXXXXX";
  int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, kPassword, std::strlen(kPassword)) > 0);
  ::close(fd);
  s.password_file = tmpl;
  auto auth = make_auth_provider(s, AuthContext{});
  REQUIRE(auth);

  RegistryClient client;
  for (int i = 0; i < 3; ++i) {
    auto d = client.resolve_digest(image_ref(front.addr() + "/t-registry-bearer:v1"), auth->get());
    REQUIRE(d);
    CHECK(d->digest == pushed.digest);
  }
  auto stats = front.control("stats");
  CHECK(stats["token_requests"] == 1);  // token cached per host + scope
  CHECK(stats["unauthorized"] == 1);    // only the first request learned the challenge
  CHECK(stats["manifest_requests"] == 4);

  // Another repository = another scope = another token, no extra 401.
  auto d2 = client.resolve_digest(image_ref(front.addr() + "/t-registry-bearer2:v1"), auth->get());
  REQUIRE(d2);
  CHECK(d2->digest == other.digest);
  CHECK(front.control("stats")["token_requests"] == 2);
  CHECK(front.control("stats")["unauthorized"] == 1);

  // Revoked tokens: one 401, a new token, success.
  front.control("revoke", nlohmann::json::object());
  REQUIRE(client.resolve_digest(image_ref(front.addr() + "/t-registry-bearer:v1"), auth->get()));
  CHECK(front.control("stats")["token_requests"] == 3);

  // Wrong password: the token service refuses, clearly.
  ::unlink(tmpl);
  fd = ::open(tmpl, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(::write(fd, "wrong-password", 14) == 14);
  ::close(fd);
  auto bad_auth = make_auth_provider(s, AuthContext{});
  RegistryClient fresh;
  auto bad =
      fresh.resolve_digest(image_ref(front.addr() + "/t-registry-bearer:v1"), bad_auth->get());
  ::unlink(tmpl);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::auth);
  CHECK(bad.error().message == "registry " + front.addr() + ": token service http://" +
                                   front.addr() +
                                   "/token rejected the credentials from basic (user AWS, "
                                   "password_file " +
                                   s.password_file + ") (HTTP 401)");
  check_no_secret(bad.error().message);
}

TEST_CASE("resolve_digest: keep-alive makes repeated checks cheap", "[registry][fakes]") {
  EcrRegistry f;
  push(f.reg.addr(), "t-registry-ka", "v1");
  RegistryClient client;
  auto image = image_ref(f.reg.addr() + "/t-registry-ka:v1");
  REQUIRE(client.resolve_digest(image, f.auth.get()));  // token + first connection
  int before = client.requests();
  int connections_before = client.connections();
  constexpr int kN = 50;
  for (int i = 0; i < kN; ++i) REQUIRE(client.resolve_digest(image, f.auth.get()));
  CHECK(client.requests() - before == kN);            // exactly one HEAD per check
  CHECK(client.connections() == connections_before);  // all on the kept-alive connection
}
