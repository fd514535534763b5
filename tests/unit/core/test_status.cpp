#include <catch2/catch.hpp>

#include "core/status.hpp"

using namespace berth;

namespace {

ServiceStatus running(std::string name, std::string health = "") {
  ServiceStatus s;
  s.name = std::move(name);
  s.image = "123456789012.dkr.ecr.us-east-2.amazonaws.com/" + s.name;
  s.requested_tag = "latest";
  s.digest = "sha256:" + std::string(64, 'a');
  s.container_id = std::string(64, 'c');
  s.state = "running";
  s.health = std::move(health);
  s.started_at = "2026-11-01T12:00:00.5Z";
  return s;
}

StackStatus stack() {
  StackStatus st;
  st.project = "msd";
  st.config_version = "2026.11.1";
  st.agent_version = "0.1.0";
  st.agent_started_at = "2026-11-01T11:59:00Z";
  st.host.instance_id = "i-0123456789abcdef0";
  st.host.region = "us-east-2";
  st.host.availability_zone = "us-east-2a";
  st.host.instance_type = "t3.small";
  st.host.hostname = "ip-10-0-0-1";
  st.host.boot_id = "0f3a1c2e-0000-4000-8000-000000000000";
  st.services = {running("msd-metrics"), running("msd-logs", "healthy")};
  st.overall = compute_overall(st.services, false);
  return st;
}

}  // namespace

TEST_CASE("status enums round-trip through strings", "[status]") {
  for (auto s : {UpdateStatus::up_to_date, UpdateStatus::pulling, UpdateStatus::updating,
                 UpdateStatus::rolled_back, UpdateStatus::failed, UpdateStatus::stale})
    REQUIRE(parse_update_status(to_string(s)) == s);
  for (auto s : {OverallState::converging, OverallState::healthy, OverallState::degraded,
                 OverallState::failed})
    REQUIRE(parse_overall_state(to_string(s)) == s);
  for (auto k :
       {EventKind::update_started, EventKind::update_finished, EventKind::update_failed,
        EventKind::rolled_back, EventKind::died, EventKind::unhealthy, EventKind::recovered})
    REQUIRE(parse_event_kind(to_string(k)) == k);
  REQUIRE(to_string(UpdateStatus::rolled_back) == "rolled_back");
  REQUIRE_FALSE(parse_update_status("Up_To_Date"));
  REQUIRE_FALSE(parse_overall_state(""));
}

TEST_CASE("compute_overall", "[status]") {
  std::vector<ServiceStatus> ok = {running("a"), running("b", "healthy")};
  REQUIRE(compute_overall({}, false) == OverallState::healthy);
  REQUIRE(compute_overall(ok, false) == OverallState::healthy);
  REQUIRE(compute_overall(ok, true) == OverallState::converging);

  SECTION("a pull in progress is converging") {
    ok[0].update_status = UpdateStatus::pulling;
    REQUIRE(compute_overall(ok, false) == OverallState::converging);
  }
  SECTION("a health check still starting is converging") {
    ok[1].health = "starting";
    REQUIRE(compute_overall(ok, false) == OverallState::converging);
  }
  SECTION("stale (registry unreachable) alone stays healthy") {
    ok[0].update_status = UpdateStatus::stale;
    REQUIRE(compute_overall(ok, false) == OverallState::healthy);
  }
  SECTION("unhealthy, rolled back, or one service down is degraded") {
    auto a = ok;
    a[1].health = "unhealthy";
    REQUIRE(compute_overall(a, false) == OverallState::degraded);
    auto b = ok;
    b[0].update_status = UpdateStatus::rolled_back;
    REQUIRE(compute_overall(b, false) == OverallState::degraded);
    auto c = ok;
    c[0].state = "exited";
    c[0].exit_code = 1;
    REQUIRE(compute_overall(c, false) == OverallState::degraded);
  }
  SECTION("a one-shot that exited 0 is fine") {
    ok[0].state = "exited";
    ok[0].exit_code = 0;
    REQUIRE(compute_overall(ok, false) == OverallState::healthy);
  }
  SECTION("nothing running is failed") {
    for (auto& s : ok) {
      s.state = "exited";
      s.exit_code = 137;
    }
    REQUIRE(compute_overall(ok, false) == OverallState::failed);
    ok[0].state = "missing";
    ok[0].exit_code.reset();
    REQUIRE(compute_overall(ok, false) == OverallState::failed);
  }
}

TEST_CASE("to_report_json carries every field, services sorted, nulls for unknowns", "[status]") {
  auto st = stack();
  st.services[0].previous_digest = "sha256:" + std::string(64, 'b');
  st.services[0].update_status = UpdateStatus::rolled_back;
  st.services[0].last_error = "health check failed after update";
  StatusEvent ev;
  ev.id = 7;
  ev.time = "2026-11-01T12:01:00Z";
  ev.service = "msd-metrics";
  ev.kind = EventKind::died;
  ev.detail = "exited with code 137 (OOM killed)";
  ev.exit_code = 137;
  auto doc =
      to_report_json(st, {ev}, 42, "2026-11-01T12:01:00.200Z", "0123456789abcdef0123456789abcdef");
  REQUIRE(doc["schema"] == "berth.status/v1");
  REQUIRE(doc["stream"] == "0123456789abcdef0123456789abcdef");
  REQUIRE(doc["sequence"] == 42);
  REQUIRE(doc["generated_at"] == "2026-11-01T12:01:00.200Z");
  REQUIRE(doc["project"] == "msd");
  REQUIRE(doc["config_version"] == "2026.11.1");
  REQUIRE(doc["overall"] == "healthy");
  REQUIRE(doc["agent"]["version"] == "0.1.0");
  REQUIRE(doc["host"]["instance_id"] == "i-0123456789abcdef0");
  REQUIRE(doc["host"]["machine_id"].is_null());
  REQUIRE(doc["services"].size() == 2);
  REQUIRE(doc["services"][0]["name"] == "msd-logs");  // sorted
  const auto& m = doc["services"][1];
  REQUIRE(m["name"] == "msd-metrics");
  REQUIRE(m["requested_tag"] == "latest");
  REQUIRE(m["previous_digest"] == "sha256:" + std::string(64, 'b'));
  REQUIRE(m["update_status"] == "rolled_back");
  REQUIRE(m["health"] == "none");
  REQUIRE(m["health_output"].is_null());
  REQUIRE(m["exit_code"].is_null());
  REQUIRE(m["pull_percent"].is_null());
  REQUIRE(m["last_error"] == "health check failed after update");
  REQUIRE(doc["events"].size() == 1);
  REQUIRE(doc["events"][0]["id"] == 7);
  REQUIRE(doc["events"][0]["kind"] == "died");
  REQUIRE(doc["events"][0]["exit_code"] == 137);
  REQUIRE_FALSE(doc.contains("events_dropped"));

  auto no_stream = to_report_json(st, {}, 1, "2026-11-01T12:01:00Z");
  REQUIRE_FALSE(no_stream.contains("stream"));
  REQUIRE(no_stream["events"].is_array());
  REQUIRE(no_stream["events"].empty());
}

TEST_CASE("notes and pin_source appear only when there are some", "[status]") {
  auto st = stack();
  auto plain = to_report_json(st, {}, 1, "2026-11-05T10:00:00.000Z");
  CHECK_FALSE(plain.contains("notes"));
  for (const auto& s : plain["services"]) CHECK_FALSE(s.contains("pin_source"));
  st.services[0].pin_source = "dashboard";
  for (int i = 0; i < 30; ++i)
    st.notes.push_back("container x-" + std::to_string(i) + " left alone");
  st.notes[0] = std::string(5000, 'n');
  auto j = to_report_json(st, {}, 2, "2026-11-05T10:00:00.000Z");
  REQUIRE(j["notes"].size() == kMaxNotes);
  CHECK(j["notes"][0].get<std::string>().size() <= kMaxNoteText);
  CHECK(j["notes"][1] == "container x-1 left alone");
  int pinned = 0;
  for (const auto& s : j["services"]) pinned += s.value("pin_source", "") == "dashboard";
  CHECK(pinned == 1);
}

TEST_CASE("to_status_json is the report without schema, sequence and events", "[status]") {
  auto st = stack();
  st.services[0].pull_percent = 150;
  auto j = to_status_json(st);
  REQUIRE_FALSE(j.contains("schema"));
  REQUIRE_FALSE(j.contains("sequence"));
  REQUIRE_FALSE(j.contains("events"));
  REQUIRE(j["services"][1]["pull_percent"] == 100);  // clamped
  REQUIRE(j["overall"] == "healthy");
}

TEST_CASE("clean_text truncates on a code point boundary and repairs UTF-8", "[status]") {
  REQUIRE(clean_text("hello", 10) == "hello");
  REQUIRE(clean_text("hello world", 8) == "hello...");
  REQUIRE(clean_text("a\xff"
                     "b",
                     10) ==
          "a\xEF\xBF\xBD"
          "b");
  // "é" is two bytes: never cut in the middle.
  std::string s = "ab\xC3\xA9\xC3\xA9\xC3\xA9";
  auto c = clean_text(s, 6);
  REQUIRE(c == "ab...");
  REQUIRE(clean_text(std::string(5000, 'x'), kMaxHealthOutput).size() <= kMaxHealthOutput);
  // Overlong encodings and surrogates are invalid.
  REQUIRE(clean_text("\xC0\xAF", 10) == "\xEF\xBF\xBD\xEF\xBF\xBD");
  REQUIRE(clean_text("\xED\xA0\x80", 20).find("\xED") == std::string::npos);
}

TEST_CASE("long health output and errors are truncated in documents", "[status]") {
  auto st = stack();
  st.services[1].health = "unhealthy";
  st.services[1].health_output = std::string(10000, 'o');
  st.services[1].last_error = std::string(10000, 'e') + "\xff";
  auto doc = to_report_json(st, {}, 1, "2026-11-01T12:01:00Z");
  auto out = doc["services"][0]["health_output"].get<std::string>();
  REQUIRE(out.size() <= kMaxHealthOutput);
  REQUIRE(out.ends_with("..."));
  REQUIRE(doc["services"][0]["last_error"].get<std::string>().size() <= kMaxErrorText);
  REQUIRE_NOTHROW(doc.dump());  // always valid UTF-8
}

TEST_CASE("HostInfo::id falls back from instance id to machine id to hostname", "[status]") {
  HostInfo h;
  h.hostname = "web-1";
  REQUIRE(h.id() == "web-1");
  h.machine_id = "0123456789abcdef0123456789abcdef";
  REQUIRE(h.id() == h.machine_id);
  h.instance_id = "i-1";
  REQUIRE(h.id() == "i-1");
}
