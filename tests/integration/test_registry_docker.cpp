// The registry adapter against the real dockerd: an image pushed with `docker push` resolves to
// the digest Docker records in RepoDigests, and X-Registry-Auth built from the ECR provider's
// credential lets the Engine pull it (and a wrong password does not).
// Names carry the prefix t-registry-; everything created is removed.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "../support/fake_process.hpp"
#include "../support/skip.hpp"
#include "aws/credentials.hpp"
#include "aws/ecr.hpp"
#include "core/image_ref.hpp"
#include "net/http.hpp"
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
constexpr const char* kPassword = "ecr-token-password-docker-0123456789";

bool docker_available() {
  return run_command({"docker", "version", "--format", "{{.Server.Version}}"}, 20s).exit_code == 0;
}

struct Scratch {
  std::filesystem::path dir;
  std::vector<std::string> images;
  Scratch() {
    char tmpl[] = "/tmp/t-registry-docker-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~Scratch() {
    for (const auto& i : images) run_command({"docker", "rmi", "-f", i}, 60s);
    std::filesystem::remove_all(dir);
  }
};

// Engine API pull with an X-Registry-Auth header; returns the whole progress stream.
Result<std::string> engine_pull(const std::string& image, const std::string& tag,
                                const std::string& x_registry_auth) {
  net::Client docker;
  net::Request req;
  req.method = "POST";
  req.unix_socket = "/var/run/docker.sock";
  req.url = "http://localhost/v1.41/images/create?fromImage=" + net::url_encode(image) +
            "&tag=" + net::url_encode(tag);
  req.headers = {{"X-Registry-Auth", x_registry_auth}};
  req.timeout_ms = 120000;
  auto resp = docker.perform(req);
  if (!resp) return fail(resp.error());
  return std::to_string(resp->status) + "\n" + resp->body;
}

}  // namespace

TEST_CASE("registry: docker push digest == resolve_digest, X-Registry-Auth pulls",
          "[registry][docker]") {
  if (!docker_available()) BERTH_SKIP("dockerd is not available");
  FakeProcess ecr("fake_ecr.py",
                  {"--key", std::string(kKey) + ":" + kSecret, "--password", kPassword});
  FakeProcess reg("registry.py", {"--password", kPassword});
  Scratch scratch;

  // A tiny image: one file, imported; pushed with a private DOCKER_CONFIG (never ~/.docker).
  std::filesystem::create_directories(scratch.dir / "rootfs");
  std::ofstream(scratch.dir / "rootfs" / "hello.txt")
      << "berth registry test " << ::getpid() << "\n";
  REQUIRE(run_command({"tar", "-C", (scratch.dir / "rootfs").string(), "-cf",
                       (scratch.dir / "img.tar").string(), "."})
              .exit_code == 0);
  std::string repo = "t-registry-docker-" + std::to_string(::getpid());
  std::string image = reg.addr() + "/" + repo;
  scratch.images.push_back(image + ":v1");
  REQUIRE(run_command({"docker", "import", (scratch.dir / "img.tar").string(), image + ":v1"}, 60s)
              .exit_code == 0);
  std::filesystem::create_directories(scratch.dir / "docker");
  std::ofstream(scratch.dir / "docker" / "config.json")
      << R"({"auths":{")" << reg.addr() << R"(":{"auth":")"
      << net::base64_encode(std::string("AWS:") + kPassword) << R"("}}})";
  auto pushed = run_command(
      {"docker", "--config", (scratch.dir / "docker").string(), "push", image + ":v1"}, 120s);
  REQUIRE(pushed.exit_code == 0);
  auto inspect = run_command(
      {"docker", "image", "inspect", "--format", "{{index .RepoDigests 0}}", image + ":v1"}, 30s);
  REQUIRE(inspect.exit_code == 0);
  std::string repo_digest = inspect.out.substr(0, inspect.out.find('\n'));
  auto at = repo_digest.find('@');
  REQUIRE(at != std::string::npos);
  std::string docker_digest = repo_digest.substr(at + 1);

  // The ECR provider for the registry (127.0.0.1: plain http).
  auto chain =
      std::make_shared<aws::CredentialChain>(aws::Env({{"AWS_ACCESS_KEY_ID", kKey},
                                                       {"AWS_SECRET_ACCESS_KEY", kSecret},
                                                       {"AWS_ENDPOINT_URL_ECR", ecr.url()},
                                                       {"AWS_EC2_METADATA_DISABLED", "true"}}));
  AuthContext ctx;
  ctx.ecr = std::make_shared<aws::EcrClient>(chain);
  RegistrySettings s;
  s.host = reg.addr();
  s.auth = RegistryAuth::ecr;
  s.account = "123456789012";
  s.region = "us-east-1";
  auto auth = make_auth_provider(s, ctx);
  REQUIRE(auth);

  auto ref = parse_image_ref(image + ":v1");
  REQUIRE(ref);
  RegistryClient client;
  auto resolved = client.resolve_digest(*ref, auth->get());
  REQUIRE(resolved);
  CHECK(resolved->digest == docker_digest);
  auto size = client.image_size(*ref, auth->get());
  REQUIRE(size);
  CHECK(*size > 0);

  // Pull through the Engine API with X-Registry-Auth from the provider's credential.
  REQUIRE(run_command({"docker", "rmi", "-f", image + ":v1"}, 60s).exit_code == 0);
  auto cred = (*auth)->get();
  REQUIRE(cred);
  auto pulled = engine_pull(image, "v1", x_registry_auth(*cred));
  REQUIRE(pulled);
  {
    INFO(*pulled);
    CHECK(pulled->rfind("200\n", 0) == 0);
    CHECK(pulled->find("Digest: " + docker_digest) != std::string::npos);
    CHECK(pulled->find("errorDetail") == std::string::npos);
  }

  // A wrong password is refused by the registry, through the daemon.
  REQUIRE(run_command({"docker", "rmi", "-f", image + ":v1"}, 60s).exit_code == 0);
  auto bad = engine_pull(image, "v1", x_registry_auth({"AWS", "wrong-password", reg.addr()}));
  REQUIRE(bad);
  INFO(*bad);
  // dockerd 20.10 answers 500 {"message":"unauthorized: authentication required"}.
  CHECK((bad->rfind("200\n", 0) != 0 || bad->find("errorDetail") != std::string::npos));
  CHECK(bad->find("unauthorized") != std::string::npos);
  CHECK(bad->find("Digest: ") == std::string::npos);
}
