#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "daemon/credentials.hpp"

using berth::daemon::read_credential;
using berth::daemon::read_credential_from;

namespace {
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/berth-creds-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  void write(const std::string& name, const std::string& data) const {
    std::ofstream(path + "/" + name, std::ios::binary) << data;
  }
  std::string path;
};
}  // namespace

TEST_CASE("read_credential: present, trimmed", "[credentials]") {
  TempDir d;
  d.write("dashboard-token", "s3cr3t-token\n");
  auto r = read_credential_from(d.path, "dashboard-token");
  REQUIRE(r);
  CHECK(*r == std::optional<std::string>("s3cr3t-token"));

  ::setenv("CREDENTIALS_DIRECTORY", d.path.c_str(), 1);
  auto e = read_credential("dashboard-token");
  ::unsetenv("CREDENTIALS_DIRECTORY");
  REQUIRE(e);
  CHECK(*e == std::optional<std::string>("s3cr3t-token"));
}

TEST_CASE("read_credential: absent or empty means not configured", "[credentials]") {
  TempDir d;
  d.write("fallback", "\n");  // SetCredential=dashboard-token:\n in berth.service
  d.write("nul", std::string("\0\n", 2));
  CHECK(*read_credential_from(d.path, "fallback") == std::nullopt);
  CHECK(*read_credential_from(d.path, "nul") == std::nullopt);
  CHECK(*read_credential_from(d.path, "missing") == std::nullopt);
  CHECK(*read_credential_from("", "dashboard-token") == std::nullopt);
  ::unsetenv("CREDENTIALS_DIRECTORY");
  CHECK(*read_credential("dashboard-token") == std::nullopt);
}

TEST_CASE("read_credential: oversized or unreadable is an error without the content",
          "[credentials]") {
  TempDir d;
  d.write("big", std::string(70 * 1024, 'x'));
  auto big = read_credential_from(d.path, "big");
  REQUIRE_FALSE(big);
  CHECK(big.error().message == "credential " + d.path + "/big is larger than 64 KiB");
  std::filesystem::create_directory(d.path + "/dir");
  auto dir = read_credential_from(d.path, "dir");
  // A directory opens but cannot be read.
  REQUIRE_FALSE(dir);
  CHECK(dir.error().message.rfind("cannot read credential " + d.path + "/dir", 0) == 0);
}
