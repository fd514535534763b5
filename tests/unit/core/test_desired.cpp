#include <catch2/catch.hpp>

#include "core/desired.hpp"

using namespace berth;

namespace {
const std::set<std::string> kKnown = {"msd-logs", "msd-metrics"};
const std::string kDigest = "sha256:" + std::string(64, 'a');
}  // namespace

TEST_CASE("parse_desired accepts tags, digests and explicit unpins", "[desired]") {
  auto r = parse_desired(R"({"schema":"berth.desired/v1","services":{
      "msd-metrics":{"tag":"3f2c9e1"},
      "msd-logs":{"digest":")" +
                             kDigest + R"("}}})",
                         kKnown);
  REQUIRE(r);
  REQUIRE(r->services.size() == 2);
  REQUIRE(r->services.at("msd-metrics").tag == "3f2c9e1");
  REQUIRE(r->services.at("msd-metrics").digest.empty());
  REQUIRE(r->services.at("msd-logs").digest == kDigest);

  auto unpinned =
      parse_desired(R"({"schema":"berth.desired/v1","services":{"msd-logs":null}})", kKnown);
  REQUIRE(unpinned);
  REQUIRE(unpinned->services.empty());

  // Round trip through to_json.
  auto again = parse_desired(to_json(*r).dump(), kKnown);
  REQUIRE(again);
  REQUIRE(*again == *r);
}

TEST_CASE("parse_desired rejects with a clear message and applies nothing", "[desired]") {
  auto msg = [](std::string_view json) {
    auto r = parse_desired(json, kKnown);
    REQUIRE_FALSE(r);
    REQUIRE(r.error().kind == ErrorKind::invalid_input);
    return r.error().message;
  };
  CHECK(msg("not json") == "desired state: not valid JSON");
  CHECK(msg("[]") == "desired state: expected a JSON object");
  CHECK(msg(R"({"schema":"berth.desired/v2","services":{}})") ==
        "desired state: schema: unsupported \"berth.desired/v2\" (expected \"berth.desired/v1\")");
  CHECK(msg(R"({"services":{}})") ==
        "desired state: schema: missing (expected \"berth.desired/v1\")");
  CHECK(msg(R"({"schema":"berth.desired/v1","services":{"web":{"tag":"1"}}})") ==
        "desired state: services.web: unknown service (known: msd-logs, msd-metrics)");
  CHECK(msg(R"({"schema":"berth.desired/v1","services":{"msd-logs":{"tag":"-bad"}}})") ==
        "desired state: services.msd-logs.tag: invalid tag \"-bad\" (expected "
        "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
  CHECK(msg(R"({"schema":"berth.desired/v1","services":{"msd-logs":{"digest":"sha256:abc"}}})") ==
        "desired state: services.msd-logs.digest: invalid digest \"sha256:abc\" (expected "
        "sha256:<64 lower-case hex>)");
  CHECK(msg(R"({"schema":"berth.desired/v1","services":{"msd-logs":{"tag":"a","digest":")" +
            kDigest + R"("}}})") ==
        "desired state: services.msd-logs: expected exactly one of tag or digest");
  CHECK(msg(R"({"schema":"berth.desired/v1","services":{"msd-logs":{}}})") ==
        "desired state: services.msd-logs: expected exactly one of tag or digest");
  CHECK(msg(R"({"schema":"berth.desired/v1","services":{"msd-logs":{"tags":"a"}}})") ==
        "desired state: services.msd-logs.tags: unknown key (expected tag or digest)");
  CHECK(msg(R"({"schema":"berth.desired/v1","services":{"msd-logs":"a"}})") ==
        "desired state: services.msd-logs: expected {\"tag\": ...} or {\"digest\": ...} or null");
  CHECK(msg(R"({"schema":"berth.desired/v1","services":{},"extra":1})") ==
        "desired state: \"extra\": unknown key (expected schema, services)");
  CHECK(msg(R"({"schema":"berth.desired/v1"})") ==
        "desired state: services: missing or not an object");
  // Several problems are all listed.
  auto m =
      msg(R"({"schema":"berth.desired/v1","services":{"x":{"tag":"1"},"msd-logs":{"tag":"a b"}}})");
  CHECK(m.find("services.x: unknown service") != std::string::npos);
  CHECK(m.find("services.msd-logs.tag: invalid tag \"a b\"") != std::string::npos);
  // Upper-case hex and a too-long tag are invalid.
  msg(R"({"schema":"berth.desired/v1","services":{"msd-logs":{"digest":"sha256:)" +
      std::string(64, 'A') + R"("}}})");
  msg(R"({"schema":"berth.desired/v1","services":{"msd-logs":{"tag":")" + std::string(129, 'a') +
      R"("}}})");
}

TEST_CASE("apply_pins: a digest pinned in berth.toml is re-pinned only with allow_remote_pin",
          "[desired]") {
  const std::string cfg_digest = "sha256:" + std::string(64, 'c');
  const std::string dash_digest = "sha256:" + std::string(64, 'd');
  Config cfg;
  ServiceSpec web, db;
  web.name = "web";
  web.image = "127.0.0.1:5000/web:latest";
  db.name = "db";
  db.image = "127.0.0.1:5000/db@" + cfg_digest;
  cfg.services = {{"web", web}, {"db", db}};
  DesiredState pins;
  pins.services["web"] = DesiredPin{"3f2c9e1", ""};
  pins.services["db"] = DesiredPin{"", dash_digest};

  Config a = cfg;
  auto out = apply_pins(a, pins);
  REQUIRE(out.size() == 2);
  CHECK(out[0].service == "db");
  CHECK_FALSE(out[0].applied);
  CHECK(out[0].message == "pin of db to digest " + dash_digest +
                              " refused: berth.toml pins db to " + "digest " + cfg_digest +
                              " (set allow_remote_pin = true in [services.db] to let the "
                              "dashboard re-pin it)");
  CHECK(a.services["db"].image == cfg.services["db"].image);
  CHECK(out[1].applied);
  CHECK(out[1].message == "web pinned to tag 3f2c9e1 (127.0.0.1:5000/web:3f2c9e1)");
  CHECK(a.services["web"].image == "127.0.0.1:5000/web:3f2c9e1");

  Config b = cfg;
  b.services["db"].allow_remote_pin = true;
  auto allowed = apply_pins(b, pins);
  CHECK(allowed[0].applied);
  CHECK(b.services["db"].image == "127.0.0.1:5000/db@" + dash_digest);
}
