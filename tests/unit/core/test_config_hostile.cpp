// Hostile configuration (issue 9): what test_config.cpp does not already pin. Enormous and
// deeply nested files, invalid UTF-8 and path traversal in env_file get one clear error, with
// bounded memory and time. (test_config.cpp covers: > 1 MiB files, nested table headers, dotted
// keys, arrays and inline tables, invalid UTF-8 in values and keys, NUL bytes, 50 000 bad ports,
// a 5 000-service dependency chain, "../secret.env", env file contents never in messages.)
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>

#include "../../fuzz/fuzz_common.hpp"
#include "config/config.hpp"

using namespace berth;
using namespace berth::config;

namespace {

// Serves env files from memory and records what was asked for.
struct Reader {
  std::map<std::string, std::string> files;
  std::set<std::string> asked;
  FileReader fn() {
    return [this](const std::string& path, std::string* why) -> std::optional<std::string> {
      asked.insert(path);
      auto it = files.find(path);
      if (it != files.end()) return it->second;
      *why = "No such file or directory";
      return std::nullopt;
    };
  }
};

std::vector<std::string> messages(const ParseOutcome& o) {
  std::vector<std::string> out;
  for (const auto& d : o.diagnostics) out.push_back(to_string(d));
  return out;
}

std::string web(const std::string& body) {
  return "[services.web]\nimage = \"nginx\"\n" + body + "\n";
}

}  // namespace

TEST_CASE("hostile config: env_file paths that climb out of the config directory", "[config]") {
  for (const char* p :
       {"..", "../x.env", "sub/../../x.env", "./../x.env", "a/b/../../../etc/shadow",
        "sub/./../.././x.env", "a/../../../../../../../../etc/passwd"}) {
    Reader r;
    auto o = parse_config(web("env_file = \"" + std::string(p) + "\""), "berth.toml", r.fn(),
                          "/etc/berth");
    auto m = messages(o);
    INFO(p);
    REQUIRE(m.size() == 1);
    CHECK(m[0] == "berth.toml:3:12: services.web.env_file: \"" + std::string(p) +
                      "\" is outside the configuration directory (expected a path inside it, or "
                      "an absolute path)");
    CHECK(r.asked.empty());  // refused before anything is read
  }
  SECTION("a path that dips out and back in is normalised, then read") {
    Reader r;
    r.files["inside.env"] = "A=1\n";
    auto o = parse_config(web("env_file = \"sub/../inside.env\""), "berth.toml", r.fn());
    REQUIRE(o.ok());
    CHECK(r.asked == std::set<std::string>{"inside.env"});
    CHECK(o.config->services.at("web").environment.at("A") == "1");
  }
  SECTION("absolute paths are the operator's choice, normalised") {
    Reader r;
    r.files["/etc/berth/web.env"] = "A=1\n";
    auto o = parse_config(web("env_file = \"/etc/./x/../berth/web.env\""), "berth.toml", r.fn());
    REQUIRE(o.ok());
    CHECK(r.asked == std::set<std::string>{"/etc/berth/web.env"});
  }
}

TEST_CASE("hostile config: enormous env files", "[config]") {
  SECTION("one file larger than 1 MiB, whatever the reader allows") {
    Reader r;
    r.files["big.env"] = "A=" + std::string(kMaxConfigBytes, 'x') + "\n";
    auto m = messages(parse_config(web("env_file = \"big.env\""), "berth.toml", r.fn()));
    REQUIRE(m.size() == 1);
    CHECK(m[0] ==
          "berth.toml:3:12: services.web.env_file: \"big.env\" is larger than 1 MiB (1048579 "
          "bytes; expected a small env file)");
  }
  SECTION("one large file named by many services: the total is bounded") {
    // 900 KiB each time: the 5th service would bring the total over 4 MiB (every service gets
    // its own copy of the variables; without the bound 200 services took 2.5 GB and 40 s).
    Reader r;
    r.files["shared.env"] = "A=" + std::string(900 * 1024, 'x') + "\n";
    std::string text;
    for (int i = 0; i < 200; ++i)
      text += "[services.s" + std::to_string(i) + "]\nimage = \"b\"\nenv_file = \"shared.env\"\n";
    auto o = parse_config(text, "berth.toml", r.fn());
    auto m = messages(o);
    REQUIRE_FALSE(o.config);
    REQUIRE(m.size() == 101);  // kMaxDiagnostics + the summary line
    CHECK(
        m[0].ends_with(": \"shared.env\": the env files of all services add up to more than 4 "
                       "MiB (expected small env files)"));
    CHECK(m.back() == "berth.toml: 96 more errors not shown");
  }
  SECTION("small env files shared by many services are fine") {
    Reader r;
    r.files["shared.env"] = "A=1\nB=2\n";
    std::string text;
    for (int i = 0; i < 500; ++i)
      text += "[services.s" + std::to_string(i) + "]\nimage = \"b\"\nenv_file = \"shared.env\"\n";
    auto o = parse_config(text, "berth.toml", r.fn());
    REQUIRE(o.ok());
    CHECK(o.config->services.size() == 500);
  }
}

TEST_CASE("hostile config: a megabyte-long key makes a short message", "[config]") {
  Reader r;
  auto m = messages(parse_config("[services." + std::string(1000000, 'a') + "]\nimage = \"b\"\n",
                                 "berth.toml", r.fn()));
  REQUIRE(m.size() == 1);
  CHECK(m[0].size() < 400);
  CHECK(m[0].starts_with("berth.toml:1:11: services.\"aaaa"));
  CHECK(m[0].find("\" is not a valid service name") != std::string::npos);
}

TEST_CASE("hostile config: control characters and invalid UTF-8 never reach a message",
          "[config]") {
  const std::vector<std::string> inputs = {
      "[services.\"a\\u001b[31mb\"]\nimage = \"b\"\n",  // ESC in a key
      "[services.\"a\\u009bb\"]\nimage = \"b\"\n",      // C1 control in a key
      "# \xff comment\n[agent]\n",                      // invalid UTF-8 in a comment
      "[agent]\nproject = \"\xc0\x80\"\n",              // overlong NUL
      "[agent]\nproject = \"\xed\xa0\x80\"\n",          // UTF-16 surrogate
      "[agent]\nproject = \"\xf4\x90\x80\x80\"\n",      // beyond U+10FFFF
      web("restart = \"\\u202e\\u0007\"\nuser = \"\\u0000\""),
      web("env_file = \"\\u001b]0;title\\u0007.env\""),
  };
  for (const auto& text : inputs) {
    Reader r;
    auto o = parse_config(text, "berth.toml", r.fn());
    auto m = messages(o);
    INFO(text);
    CHECK_FALSE(o.ok());
    CHECK_FALSE(m.empty());
    for (const auto& line : m) {
      INFO(line);
      CHECK(fuzz::printable(line));
    }
  }
}

TEST_CASE("hostile config: 30 000 services in under 1 MiB", "[config]") {
  std::string text;
  for (int i = 0; i < 30000; ++i) text += "[services.s" + std::to_string(i) + "]\nimage = \"b\"\n";
  REQUIRE(text.size() < kMaxConfigBytes);
  Reader r;
  auto o = parse_config(text, "berth.toml", r.fn());
  REQUIRE(o.ok());
  CHECK(o.config->services.size() == 30000);
}
