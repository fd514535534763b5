// Replays the fuzz seed corpus and every regression input (tests/fuzz/{corpus,regressions}/)
// through the same entry points the libFuzzer targets use (tests/fuzz/entry_*.hpp), so every
// CI run exercises them without clang. The registry target is replayed by
// tests/unit/agent/test_fuzz_regressions_agent.cpp (it needs berth_agent).
#include <catch2/catch.hpp>

#include "../../fuzz/entry_config.hpp"
#include "../../fuzz/entry_desired.hpp"
#include "../../fuzz/entry_env_file.hpp"
#include "../../fuzz/entry_image_ref.hpp"
#include "../../fuzz/entry_jsonstream.hpp"
#include "../../fuzz/entry_local_state.hpp"
#include "../../fuzz/replay.hpp"

using berth::fuzz::replay;

TEST_CASE("fuzz replay: config", "[fuzz]") {
  CHECK(replay("config", berth::fuzz::config) >= 10);
}

TEST_CASE("fuzz replay: image_ref", "[fuzz]") {
  CHECK(replay("image_ref", berth::fuzz::image_ref) >= 10);
}

TEST_CASE("fuzz replay: jsonstream", "[fuzz]") {
  CHECK(replay("jsonstream", berth::fuzz::jsonstream_input) >= 10);
}

TEST_CASE("fuzz replay: desired", "[fuzz]") {
  CHECK(replay("desired", berth::fuzz::desired) >= 5);
}

TEST_CASE("fuzz replay: local_state", "[fuzz]") {
  CHECK(replay("local_state", berth::fuzz::local_state) >= 3);
}

TEST_CASE("fuzz replay: env_file", "[fuzz]") {
  CHECK(replay("env_file", berth::fuzz::env_file_input) >= 10);
}

// The findings, pinned with their messages.

TEST_CASE("fuzz findings: image references round-trip through str()", "[fuzz][image_ref]") {
  auto str = [](std::string_view text) {
    auto r = berth::parse_image_ref(text);
    REQUIRE(r);
    return std::make_tuple(r->registry, r->repository, r->str());
  };
  // docker.io/x is Docker Hub's library/x, like x and index.docker.io/x.
  CHECK(str("docker.io/kp:1") == std::make_tuple("docker.io", "library/kp", "kp:1"));
  // Only library/<one component> is shortened.
  CHECK(str("library/a/b:1") == std::make_tuple("docker.io", "library/a/b", "library/a/b:1"));
  // A Docker Hub repository whose first component reads as a host keeps docker.io/ (else the
  // short name would be pulled from that host).
  CHECK(str("docker.io/my.org/app:1") ==
        std::make_tuple("docker.io", "my.org/app", "docker.io/my.org/app:1"));
}

TEST_CASE("fuzz findings: desired-state errors are printable and bounded", "[fuzz][desired]") {
  const std::set<std::string> known = {"web"};
  auto r = berth::parse_desired(
      "{\"schema\":\"berth.desired/v1\",\"services\":{\"we\\u0000b\\u001b[31m\":null}}", known);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "desired state: services.\"we?b?[31m\": unknown service (known: web)");
  std::string many = R"({"schema":"berth.desired/v1","services":{)";
  for (int i = 0; i < 1000; ++i)
    many += (i ? "," : "") + std::string("\"s") + std::to_string(i) + "\":null";
  many += "}}";
  auto m = berth::parse_desired(many, known);
  REQUIRE_FALSE(m);
  CHECK(m.error().message.ends_with("; and 980 more"));
  // A sha512 pin would make an image reference nothing else in berth accepts.
  auto sha512 =
      berth::parse_desired(R"({"schema":"berth.desired/v1","services":{"web":{"digest":"sha512:)" +
                               std::string(128, 'a') + R"("}}})",
                           known);
  REQUIRE_FALSE(sha512);
  CHECK(sha512.error().message.find("services.web.digest: invalid digest") != std::string::npos);
}

TEST_CASE("fuzz findings: local state refuses an out-of-range intent step", "[fuzz][state]") {
  auto r = berth::parse_local_state(R"({"intents":[{"service":"web","step":1e300}]})");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "state.json: \"step\" is not a small integer");
  auto ok = berth::parse_local_state(R"({"intents":[{"service":"web","step":2.0}]})");
  REQUIRE(ok);
  CHECK(ok->intents.at(0).step == 2);
}
