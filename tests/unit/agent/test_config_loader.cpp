#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/config_loader.hpp"

using namespace berth;
using namespace berth::config;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "berth-config-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    fs::path p = path / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
};

std::vector<std::string> messages(const ParseOutcome& o) {
  std::vector<std::string> out;
  for (const auto& d : o.diagnostics) out.push_back(to_string(d));
  return out;
}

}  // namespace

TEST_CASE("config loader: reads the file, env files and resolves relative paths", "[config]") {
  TempDir t;
  t.write("etc/app.env", "FROM_FILE=1\n");
  std::string cfg = t.write("etc/berth.toml", R"(
[dashboard]
url = "https://d.example.com/{instance_id}"
token_file = "dash.token"
[services.web]
image = "nginx"
env_file = "app.env"
volumes = ["./data:/data", "../shared:/shared"]
)");
  auto o = load_config_file(cfg);
  CAPTURE(messages(o));
  REQUIRE(o.ok());
  const std::string dir = (t.path / "etc").string();
  CHECK(o.config->path == cfg);
  CHECK(o.config->dir == dir);
  const auto& s = o.config->services.at("web");
  CHECK(s.environment.at("FROM_FILE") == "1");
  CHECK(s.volumes.at(0).source == dir + "/data");
  CHECK(s.volumes.at(1).source == (t.path / "shared").string());
  CHECK(o.config->dashboard->token_file == dir + "/dash.token");
}

TEST_CASE("config loader: refuses what it cannot or must not read", "[config]") {
  TempDir t;
  SECTION("missing") {
    std::string p = (t.path / "nope.toml").string();
    auto m = messages(load_config_file(p));
    REQUIRE(m.size() == 1);
    CHECK(m[0] == p + ": cannot read the configuration: No such file or directory");
  }
  SECTION("a directory") {
    auto m = messages(load_config_file(t.path.string()));
    REQUIRE(m.size() == 1);
    CHECK(m[0] ==
          t.path.string() + ": cannot read the configuration: is a directory, not a regular file");
  }
  SECTION("a FIFO does not block") {
    std::string p = (t.path / "fifo.toml").string();
    REQUIRE(::mkfifo(p.c_str(), 0600) == 0);
    auto m = messages(load_config_file(p));
    REQUIRE(m.size() == 1);
    CHECK(m[0] == p + ": cannot read the configuration: not a regular file");
  }
  SECTION("larger than 1 MiB") {
    std::string p = t.write("big.toml", std::string(kMaxConfigBytes + 10, '#'));
    auto m = messages(load_config_file(p));
    REQUIRE(m.size() == 1);
    CHECK(m[0] == p + ": cannot read the configuration: larger than 1 MiB (1048586 bytes)");
  }
  SECTION("exactly 1 MiB is fine") {
    std::string p = t.write("edge.toml", std::string(kMaxConfigBytes, '#'));
    auto o = load_config_file(p);
    CHECK(o.ok());
  }
  SECTION("a missing env file names the resolved path") {
    std::string p =
        t.write("berth.toml", "[services.web]\nimage = \"nginx\"\nenv_file = \"x.env\"\n");
    auto m = messages(load_config_file(p));
    REQUIRE(m.size() == 1);
    CHECK(m[0] == p +
                      ":3:12: services.web.env_file: cannot read \"x.env\": No such file or "
                      "directory (" +
                      (t.path / "x.env").string() + ")");
  }
  SECTION("an env file larger than 1 MiB") {
    t.write("big.env", std::string(kMaxConfigBytes + 1, 'A'));
    std::string p =
        t.write("berth.toml", "[services.web]\nimage = \"nginx\"\nenv_file = \"big.env\"\n");
    auto m = messages(load_config_file(p));
    REQUIRE(m.size() == 1);
    CHECK(m[0].find("cannot read \"big.env\": larger than 1 MiB (1048577 bytes)") !=
          std::string::npos);
  }
  SECTION("a syntax error keeps the path as given") {
    std::string p = t.write("berth.toml", "[agent\n");
    auto m = messages(load_config_file(p));
    REQUIRE(m.size() == 1);
    CHECK(m[0].starts_with(p + ":1:"));
  }
}

TEST_CASE("config loader: read_small_file", "[config]") {
  TempDir t;
  std::string why;
  std::string p = t.write("a.txt", "hello");
  CHECK(read_small_file(p, &why) == "hello");
  CHECK_FALSE(read_small_file("/dev/null", &why));
  CHECK(why == "not a regular file");
  CHECK_FALSE(read_small_file(std::string("a\0b", 3), &why));
  CHECK(why == "the path contains a NUL character");
  auto reader = make_file_reader(t.path.string());
  CHECK(reader("a.txt", &why) == "hello");
  CHECK(reader(p, &why) == "hello");
}
