// The dashboard reporter against the strict fake dashboard (tests/fakes/dashboard.py, run as a
// subprocess). Every document the fake accepts is validated against the JSON Schema; the fake
// flags any sequence going backwards and any event delivered twice or out of order.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "dashboard_fixture.hpp"
#include "report/reporter.hpp"
#include "report/token.hpp"
#include "util/atomic_file.hpp"

using namespace berth;
using namespace berth::report;
using namespace berth::test;

namespace {

const std::string kToken = "tok-3f9a1c77e2b04d5a";

ReporterOptions fast_options() {
  ReporterOptions o;
  o.coalesce = 30ms;
  o.urgent_coalesce = 30ms;  // the tests below count documents; failures coalesce like the rest
  o.backoff_initial = 50ms;
  o.backoff_max = 250ms;
  o.connect_timeout_ms = 1000;
  o.timeout_ms = 3000;
  o.stop_timeout = 2000ms;
  return o;
}

DashboardSettings settings_for(int port, const std::string& token_file) {
  DashboardSettings s;
  s.url = "http://127.0.0.1:" + std::to_string(port) +
          "/api/servers/{instance_id}/containers?project={project}";
  s.token_file = token_file;
  s.heartbeat = Millis(0);  // off unless a test wants it
  return s;
}

// A port where nothing listens (a fake was there a moment ago).
int free_port() {
  FakeDashboard d;
  int p = d.port();
  d.stop();
  return p;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 60s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::vector<std::string> spool_files(const std::string& state_dir) {
  std::vector<std::string> out;
  auto names = list_dir(state_dir + "/spool");
  if (!names) return out;
  for (const auto& n : *names)
    if (n.starts_with("r") && n.ends_with(".json")) out.push_back(state_dir + "/spool/" + n);
  return out;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("Reporter: the first report arrives with the right fields, changes coalesced",
          "[reporter]") {
  TempDir tmp;
  write_text(tmp / "token", kToken + "\n", 0600);
  FakeDashboard dash(kToken);
  auto options = fast_options();
  options.coalesce = 300ms;
  options.urgent_coalesce = 300ms;
  Reporter rep(settings_for(dash.port(), tmp / "token"), "t-report", tmp.path,
               make_token_provider(settings_for(dash.port(), tmp / "token")), options);

  auto st = sample_stack();
  rep.publish(st, {sample_event("web", EventKind::update_started, "sha256:aa -> sha256:bb")});
  for (int i = 0; i < 4; ++i) {
    st.services[0].restart_count = i + 1;
    rep.publish(st, {sample_event("web", EventKind::died, "exited 137")});
  }
  REQUIRE(rep.flush(60s));

  auto r = dash.received();
  INFO(r.dump(2));
  REQUIRE(r["violations"].empty());
  REQUIRE(r["unauthorized"] == 0);
  REQUIRE(r["documents"].size() == 1);  // five changes within the window: one document
  REQUIRE(r["paths"][0] == "/api/servers/i-0123456789abcdef0/containers?project=t-report");
  const auto& doc = r["documents"][0];
  CHECK(doc["schema"] == "berth.status/v1");
  CHECK(doc["sequence"] == 1);
  CHECK(doc["stream"].get<std::string>().size() == 32);
  CHECK(doc["project"] == "t-report");
  CHECK(doc["config_version"] == "2026.11.1");
  CHECK(doc["overall"] == "healthy");
  CHECK(doc["host"]["instance_id"] == "i-0123456789abcdef0");
  CHECK(doc["host"]["availability_zone"] == "us-east-2a");
  CHECK(doc["agent"]["version"] == "0.1.0");
  REQUIRE(doc["services"].size() == 2);
  CHECK(doc["services"][0]["name"] == "db");
  CHECK(doc["services"][1]["name"] == "web");
  CHECK(doc["services"][1]["restart_count"] == 4);  // the last snapshot
  CHECK(doc["services"][1]["digest"] == "sha256:" + std::string(64, 'a'));
  CHECK(event_ids(r) == iota_ids(1, 5));
  CHECK(doc["events"][0]["kind"] == "update_started");
  CHECK(doc["events"][1]["exit_code"] == 137);

  // The same snapshot again, no events: nothing to send.
  rep.publish(st, {});
  REQUIRE(rep.flush(60s));
  auto c = rep.counters();
  CHECK(c.delivered == 1);
  CHECK(c.documents == 1);
  CHECK(c.published == 6);
  CHECK(dash.received()["documents"].size() == 1);
  CHECK(spool_files(tmp.path).empty());
}

TEST_CASE("Reporter: refused, then 503 with Retry-After, then ok: every event exactly once",
          "[reporter]") {
  TempDir tmp;
  LogCapture logs;
  write_text(tmp / "token", kToken, 0600);
  int port = free_port();
  auto settings = settings_for(port, tmp / "token");
  Reporter rep(settings, "t-report", tmp.path, make_token_provider(settings), fast_options());

  for (int i = 1; i <= 3; ++i) {
    rep.publish(sample_stack("v" + std::to_string(i)),
                {sample_event("web", EventKind::died, "round " + std::to_string(i))});
    REQUIRE(eventually([&] { return rep.counters().documents >= static_cast<unsigned>(i); }));
  }
  // spooled counts as each file is written, waiting once the outbox is updated: wait for both.
  REQUIRE(eventually([&] { return rep.counters().spooled >= 3 && rep.counters().waiting == 3; }));
  auto c = rep.counters();
  CHECK(c.failures >= 1);
  CHECK(c.delivered == 0);
  CHECK(c.waiting == 3);
  auto files = spool_files(tmp.path);
  REQUIRE(files.size() == 3);
  CHECK(mode_of(tmp / "spool") == 0700);
  for (const auto& f : files) CHECK(mode_of(f) == 0600);

  // The dashboard comes back, busy for the first request.
  FakeDashboard dash(kToken, port,
                     {{"mode", "status"}, {"status", 503}, {"retry_after", "1"}, {"count", 1}});
  for (int i = 4; i <= 5; ++i)
    rep.publish(sample_stack("v" + std::to_string(i)),
                {sample_event("db", EventKind::unhealthy, "round " + std::to_string(i))});
  auto r = dash.wait_for([](const json& x) { return x["events"].size() >= 5; }, 60s);
  INFO(r.dump(2));
  REQUIRE(r["violations"].empty());
  CHECK(event_ids(r) == iota_ids(1, 5));
  CHECK(r["documents"].back()["config_version"] == "v5");
  CHECK(r["documents"].front()["config_version"] == "v1");  // in order
  // Retry-After: 1 was honoured: the next try was scheduled by it (not by the 50 ms backoff).
  const auto& log = r["log"];
  REQUIRE(log.size() >= 2);
  REQUIRE(log[0]["status"] == 503);
  bool scheduled = false;  // "...: HTTP 503: ...; N report(s) waiting, retry in 1s"
  std::istringstream lines(logs.text());
  for (std::string line; std::getline(lines, line);)
    if (line.find("HTTP 503") != std::string::npos && line.ends_with("waiting, retry in 1s"))
      scheduled = true;
  CHECK(scheduled);
  REQUIRE(rep.flush(60s));
  CHECK(spool_files(tmp.path).empty());
  // flush() returns once the last document is acknowledged; the counters follow right after
  // (the worker updates them after each send: a CHECK at once failed 1 in 3 loop runs).
  CHECK(eventually([&] { return rep.counters().waiting == 0; }));
}

TEST_CASE("Reporter: a spool left by a stopped reporter is delivered by the next one",
          "[reporter]") {
  TempDir tmp;
  write_text(tmp / "token", kToken, 0600);
  int port = free_port();
  auto settings = settings_for(port, tmp / "token");
  std::string stream;
  {
    Reporter rep(settings, "t-report", tmp.path, make_token_provider(settings), fast_options());
    rep.publish(sample_stack("v1"), {sample_event("web", EventKind::update_started)});
    REQUIRE(eventually([&] { return rep.counters().spooled >= 1; }));
    rep.publish(sample_stack("v2"), {sample_event("web", EventKind::update_finished)});
    rep.stop();  // the dashboard is still down: the second document is spooled too
    CHECK(rep.counters().waiting == 2);
  }
  REQUIRE(spool_files(tmp.path).size() == 2);
  auto state = read_file(tmp / "spool/state.json", 4096);
  REQUIRE(state);
  REQUIRE(*state);
  stream = json::parse(**state)["stream"];

  FakeDashboard dash(kToken, port);
  Reporter rep(settings, "t-report", tmp.path, make_token_provider(settings), fast_options());
  auto r = dash.wait_for([](const json& x) { return x["documents"].size() >= 2; });
  REQUIRE(r["documents"].size() == 2);
  rep.publish(sample_stack("v3"), {sample_event("web", EventKind::rolled_back)});
  REQUIRE(rep.flush(60s));
  r = dash.received();
  INFO(r.dump(2));
  REQUIRE(r["violations"].empty());
  REQUIRE(r["documents"].size() == 3);
  // Ids continue above the previous run's reservation (gaps are fine, reuse is not).
  auto ids = event_ids(r);
  REQUIRE(ids.size() == 3);
  CHECK(ids[0] == 1);
  CHECK(ids[1] == 2);
  CHECK(ids[2] > 2);
  std::vector<std::string> versions;
  for (const auto& d : r["documents"]) {
    versions.push_back(d["config_version"]);
    CHECK(d["stream"] == stream);
  }
  CHECK(versions == std::vector<std::string>{"v1", "v2", "v3"});
  CHECK(spool_files(tmp.path).empty());
}

TEST_CASE(
    "Reporter: a spool left by a crash is repaired: torn writes, delivered files, "
    "events of an interrupted merge",
    "[reporter]") {
  TempDir tmp;
  const std::string stream = "00112233445566778899aabbccddeeff";
  REQUIRE(ensure_dir(tmp / "spool", 0700));
  auto st = sample_stack();
  auto ev = [](std::uint64_t id) {
    auto e = sample_event("web", EventKind::died, std::to_string(id));
    e.id = id;
    return e;
  };
  auto put = [&](std::uint64_t seq, std::vector<StatusEvent> events) {
    char name[64];
    std::snprintf(name, sizeof name, "spool/r%020llu.json", static_cast<unsigned long long>(seq));
    auto doc = to_report_json(st, events, seq, "2026-11-01T12:00:00Z", stream);
    REQUIRE(write_file_atomic(tmp / name, doc.dump(), 0600));
  };
  REQUIRE(write_file_atomic(tmp / "spool/state.json",
                            json{{"stream", stream},
                                 {"sequence_reserved", 7},
                                 {"event_reserved", 3},
                                 {"delivered_sequence", 5},
                                 {"delivered_event_id", 0}}
                                .dump(),
                            0600));
  put(5, {});                     // delivered; the crash came before its unlink
  put(6, {ev(1), ev(2)});         // merged into 7, but not yet removed
  put(7, {ev(1), ev(2), ev(3)});  // the merged document
  write_text(tmp / "spool/r00000000000000000008.json.tmp.99.0", "{\"sch", 0600);  // torn

  FakeDashboard dash;
  auto settings = settings_for(dash.port(), "");
  Reporter rep(settings, "t-report", tmp.path, nullptr, fast_options());
  auto r = dash.wait_for([](const json& x) { return x["documents"].size() >= 2; });
  rep.publish(sample_stack("after"), {sample_event("web", EventKind::recovered)});
  REQUIRE(rep.flush(60s));
  r = dash.received();
  INFO(r.dump(2));
  REQUIRE(r["violations"].empty());
  REQUIRE(r["documents"].size() == 3);
  CHECK(r["documents"][0]["sequence"] == 6);
  CHECK(r["documents"][1]["sequence"] == 7);
  CHECK(r["documents"][2]["sequence"].get<std::uint64_t>() > 7);
  auto ids = event_ids(r);
  REQUIRE(ids.size() == 4);
  CHECK(std::vector<std::uint64_t>(ids.begin(), ids.begin() + 3) == iota_ids(1, 3));
  CHECK(ids[3] > 3);
  auto names = list_dir(tmp / "spool");
  REQUIRE(names);
  CHECK(*names == std::vector<std::string>{"state.json"});
}

TEST_CASE(
    "Reporter: truncated, wrong-typed and garbage spool files are set aside, never a crash, "
    "the good ones are delivered in order",
    "[reporter][spool]") {
  TempDir tmp;
  LogCapture logs;
  const std::string stream = "00112233445566778899aabbccddeeff";
  REQUIRE(ensure_dir(tmp / "spool", 0700));
  auto st = sample_stack();
  auto ev = [](std::uint64_t id) {
    auto e = sample_event("web", EventKind::died, std::to_string(id));
    e.id = id;
    return e;
  };
  auto name = [](std::uint64_t seq) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "spool/r%020llu.json", static_cast<unsigned long long>(seq));
    return std::string(buf);
  };
  auto doc = [&](std::uint64_t seq, std::vector<StatusEvent> events) {
    return to_report_json(st, events, seq, "2026-11-01T12:00:00Z", stream);
  };
  REQUIRE(write_file_atomic(tmp / "spool/state.json",
                            json{{"stream", stream},
                                 {"sequence_reserved", 20},
                                 {"event_reserved", 20},
                                 {"delivered_sequence", 0},
                                 {"delivered_event_id", 0}}
                                .dump(),
                            0600));
  REQUIRE(write_file_atomic(tmp / name(1), doc(1, {ev(1), ev(2)}).dump(), 0600));
  std::string whole = doc(2, {ev(3)}).dump();
  REQUIRE(write_file_atomic(tmp / name(2), whole.substr(0, whole.size() / 2), 0600));  // torn
  auto wrong_id = doc(3, {ev(4)});
  wrong_id["events"][0]["id"] = "4";  // nlohmann's value() threw type_error on this
  REQUIRE(write_file_atomic(tmp / name(3), wrong_id.dump(), 0600));
  auto not_objects = doc(4, {});
  not_objects["events"] = json::array({5, "six", nullptr});
  REQUIRE(write_file_atomic(tmp / name(4), not_objects.dump(), 0600));
  auto dropped_text = doc(5, {ev(7)});
  dropped_text["events_dropped"] = "many";
  REQUIRE(write_file_atomic(tmp / name(5), dropped_text.dump(), 0600));
  auto wrong_seq = doc(6, {ev(8)});
  wrong_seq["sequence"] = -6;
  REQUIRE(write_file_atomic(tmp / name(6), wrong_seq.dump(), 0600));
  REQUIRE(write_file_atomic(tmp / name(7), std::string("\x00\xff\xfe garbage {[", 14), 0600));
  REQUIRE(write_file_atomic(tmp / name(8), "[1, 2, 3]", 0600));
  REQUIRE(write_file_atomic(tmp / name(9), "", 0600));
  REQUIRE(write_file_atomic(tmp / name(10), doc(10, {ev(9)}).dump(), 0600));

  FakeDashboard dash;
  auto settings = settings_for(dash.port(), "");
  Reporter rep(settings, "t-report", tmp.path, nullptr, fast_options());
  rep.publish(sample_stack("after"), {sample_event("web", EventKind::recovered)});
  REQUIRE(rep.flush(60s));
  auto r = dash.received();
  INFO(r.dump(2));
  INFO(logs.text());
  REQUIRE(r["violations"].empty());
  REQUIRE(r["invalid"] == 0);
  REQUIRE(r["documents"].size() == 3);
  CHECK(r["documents"][0]["sequence"] == 1);
  CHECK(r["documents"][1]["sequence"] == 10);
  CHECK(r["documents"][2]["sequence"].get<std::uint64_t>() > 20);
  CHECK(r["documents"][2]["stream"] == stream);
  auto ids = event_ids(r);
  REQUIRE(ids.size() == 4);
  CHECK(std::vector<std::uint64_t>(ids.begin(), ids.begin() + 3) ==
        std::vector<std::uint64_t>{1, 2, 9});
  CHECK(ids[3] > 20);

  // Each bad file was logged and moved aside for the operator; nothing else is left.
  auto names = list_dir(tmp / "spool");
  REQUIRE(names);
  std::vector<std::string> expected;
  for (std::uint64_t seq = 2; seq <= 9; ++seq) expected.push_back(name(seq).substr(6) + ".corrupt");
  expected.push_back("state.json");
  CHECK(*names == expected);
  auto text = logs.text();
  CHECK(text.find("moved aside") != std::string::npos);
  CHECK(text.find("\"sequence\" does not match the file name") != std::string::npos);
  CHECK(text.find("an event without an increasing \"id\"") != std::string::npos);
  CHECK(text.find("\"events_dropped\" is not a count") != std::string::npos);
  CHECK(eventually([&] { return rep.counters().waiting == 0; }));
}

TEST_CASE("Reporter: a corrupt state.json never crashes, the spooled stream goes on",
          "[reporter][spool]") {
  const std::string stream = "ffeeddccbbaa99887766554433221100";
  const std::vector<std::string> bad_states = {
      R"({"stream": "ffeeddccbbaa99887766554433221100", "sequence_reserved": "7"})",
      R"({"stream": 5, "sequence_reserved": 7, "event_reserved": 7})",
      R"({"stream": "ffeeddccbbaa99887766554433221100", "delivered_sequence": -3})",
      R"({"stream": "ffeeddccbbaa99887766554433221100", "delivered_event_id": 1.5})",
      R"({"stream": "not hex", "sequence_reserved": 7})",
      R"([1, 2, 3])",
      R"({"stream": "ffeeddccbbaa99887766554433221100", "sequ)",
      std::string("\x01\x02\xff", 3),
  };
  FakeDashboard dash;
  auto settings = settings_for(dash.port(), "");
  for (const auto& bad : bad_states) {
    INFO(bad);
    TempDir tmp;
    LogCapture logs;
    REQUIRE(ensure_dir(tmp / "spool", 0700));
    REQUIRE(write_file_atomic(tmp / "spool/state.json", bad, 0600));
    auto e = sample_event("web", EventKind::died, "spooled");
    e.id = 41;
    auto doc = to_report_json(sample_stack(), {e}, 40, "2026-11-01T12:00:00Z", stream);
    REQUIRE(write_file_atomic(tmp / "spool/r00000000000000000040.json", doc.dump(), 0600));
    {
      Reporter rep(settings, "t-report", tmp.path, nullptr, fast_options());
      rep.publish(sample_stack("next"), {sample_event("web", EventKind::recovered)});
      REQUIRE(rep.flush(60s));
    }
    CHECK(logs.text().find("state.json is corrupt") != std::string::npos);
    auto r = dash.received();
    INFO(r.dump(2));
    REQUIRE(r["violations"].empty());
    REQUIRE(r["documents"].size() == 2);
    const auto& spooled = r["documents"][0];
    const auto& next = r["documents"][1];
    CHECK(spooled["sequence"] == 40);
    // The stream of the spooled reports goes on, above their numbers.
    CHECK(next["stream"] == stream);
    CHECK(next["sequence"].get<std::uint64_t>() > 40);
    CHECK(next["events"][0]["id"].get<std::uint64_t>() > 41);
    dash.post("/_reset", "");  // every iteration uses the same stream and numbers
  }
}

TEST_CASE("Reporter: a spool file corrupted while the dashboard is down is set aside at send",
          "[reporter][spool]") {
  TempDir tmp;
  LogCapture logs;
  int port = free_port();
  auto settings = settings_for(port, "");
  Reporter rep(settings, "t-report", tmp.path, nullptr, fast_options());
  for (int i = 1; i <= 3; ++i) {
    rep.publish(sample_stack("v" + std::to_string(i)),
                {sample_event("web", EventKind::died, std::to_string(i))});
    REQUIRE(eventually([&] { return rep.counters().spooled >= static_cast<unsigned>(i); }));
  }
  auto files = spool_files(tmp.path);
  REQUIRE(files.size() == 3);
  // The middle one's events turn into the wrong type behind the reporter's back.
  auto middle = json::parse(**read_file(files[1], 1 << 20));
  middle["events"][0]["id"] = json::object({{"nested", true}});
  REQUIRE(write_file_atomic(files[1], middle.dump(), 0600));

  FakeDashboard dash("", port);
  auto r = dash.wait_for([](const json& x) { return x["documents"].size() >= 2; }, 60s);
  INFO(r.dump(2));
  INFO(logs.text());
  REQUIRE(r["violations"].empty());
  REQUIRE(r["documents"].size() == 2);
  CHECK(r["documents"][0]["config_version"] == "v1");
  CHECK(r["documents"][1]["config_version"] == "v3");
  REQUIRE(eventually([&] { return rep.counters().waiting == 0; }));
  CHECK(logs.text().find("moved aside") != std::string::npos);
  std::ifstream aside(files[1] + ".corrupt");
  CHECK(aside.good());
}

TEST_CASE("Reporter: only the newest set-aside spool files are kept", "[reporter][spool]") {
  TempDir tmp;
  REQUIRE(ensure_dir(tmp / "spool", 0700));
  for (int i = 1; i <= 20; ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "spool/r%020d.json.corrupt", i);
    write_text(tmp / buf, "garbage", 0600);
  }
  FakeDashboard dash;
  auto settings = settings_for(dash.port(), "");
  Reporter rep(settings, "t-report", tmp.path, nullptr, fast_options());
  auto names = list_dir(tmp / "spool");
  REQUIRE(names);
  std::vector<std::string> aside;
  for (const auto& n : *names)
    if (n.ends_with(".corrupt")) aside.push_back(n);
  REQUIRE(aside.size() == 16);
  CHECK(aside.front() == "r00000000000000000005.json.corrupt");
  CHECK(aside.back() == "r00000000000000000020.json.corrupt");
}

TEST_CASE("Reporter: over the spool bounds, snapshots collapse but events are kept", "[reporter]") {
  TempDir tmp;
  int port = free_port();
  auto settings = settings_for(port, "");
  auto options = fast_options();
  options.coalesce = 5ms;
  options.spool_max_files = 4;
  Reporter rep(settings, "t-report", tmp.path, nullptr, options);
  for (int i = 1; i <= 12; ++i) {
    rep.publish(sample_stack("v" + std::to_string(i)),
                {sample_event("web", EventKind::died, std::to_string(i))});
    REQUIRE(eventually([&] { return rep.counters().documents >= static_cast<unsigned>(i); }));
  }
  // (the 12th document may still be on its way into the spool)
  REQUIRE(eventually([&] {
    auto k = rep.counters();
    return k.collapsed >= 8 && k.waiting <= 4;
  }));
  auto c = rep.counters();
  CHECK(c.waiting <= 4);
  CHECK(spool_files(tmp.path).size() <= 4);

  FakeDashboard dash("", port);
  auto r = dash.wait_for([](const json& x) { return x["events"].size() >= 12; }, 60s);
  INFO(r.dump(2));
  REQUIRE(r["violations"].empty());
  CHECK(event_ids(r) == iota_ids(1, 12));
  CHECK(r["documents"].back()["config_version"] == "v12");
  CHECK(r["documents"].size() <= 4);
}

TEST_CASE("Reporter: a response cut after the dashboard recorded the report is deduped",
          "[reporter]") {
  TempDir tmp;
  FakeDashboard dash("", 0, {{"mode", "cut"}, {"count", 1}});
  auto settings = settings_for(dash.port(), "");
  Reporter rep(settings, "t-report", tmp.path, nullptr, fast_options());
  rep.publish(sample_stack(), {sample_event("web", EventKind::died)});
  REQUIRE(rep.flush(60s));
  auto r = dash.received();
  INFO(r.dump(2));
  REQUIRE(r["violations"].empty());
  CHECK(r["documents"].size() == 1);
  CHECK(r["duplicates"] == 1);
  CHECK(event_ids(r) == std::vector<std::uint64_t>{1});
  CHECK(rep.counters().failures >= 1);
}

TEST_CASE("Reporter: a 4xx drops the document, its events are carried into the next one once",
          "[reporter]") {
  TempDir tmp;
  LogCapture logs;
  FakeDashboard dash("", 0,
                     {{"mode", "status"},
                      {"status", 422},
                      {"count", 1},
                      {"body", "{\"error\": \"field foo is not allowed\"}"}});
  auto settings = settings_for(dash.port(), "");
  Reporter rep(settings, "t-report", tmp.path, nullptr, fast_options());

  rep.publish(sample_stack("v1"), {sample_event("web", EventKind::died, "1")});
  REQUIRE(eventually([&] { return rep.counters().rejected == 1; }));
  rep.publish(sample_stack("v2"), {sample_event("web", EventKind::died, "2")});
  REQUIRE(rep.flush(60s));
  auto r = dash.received();
  REQUIRE(r["documents"].size() == 1);
  CHECK(r["documents"][0]["config_version"] == "v2");
  CHECK(event_ids(r) == iota_ids(1, 2));
  CHECK(logs.text().find("HTTP 422: {\"error\": \"field foo is not allowed\"}") !=
        std::string::npos);
  CHECK(logs.text().find("report dropped") != std::string::npos);

  // Refused twice in a row: the carried event is dropped the second time (and counted).
  dash.mode({{"mode", "status"}, {"status", 400}, {"count", 2}});
  rep.publish(sample_stack("v3"), {sample_event("web", EventKind::died, "3")});
  REQUIRE(eventually([&] { return rep.counters().rejected == 2; }));
  rep.publish(sample_stack("v4"), {sample_event("web", EventKind::died, "4")});
  REQUIRE(eventually([&] { return rep.counters().rejected == 3; }));
  rep.publish(sample_stack("v5"), {sample_event("web", EventKind::died, "5")});
  REQUIRE(rep.flush(60s));
  r = dash.received();
  INFO(r.dump(2));
  REQUIRE(r["violations"].empty());
  REQUIRE(r["documents"].size() == 2);
  const auto& last = r["documents"][1];
  CHECK(last["config_version"] == "v5");
  CHECK(event_ids(r) == std::vector<std::uint64_t>{1, 2, 4, 5});
  CHECK(last["events_dropped"] == 1);
  CHECK(rep.counters().events_dropped == 1);
}

TEST_CASE("Reporter: a token file readable by others is refused, no token in any log",
          "[reporter][token]") {
  TempDir tmp;
  LogCapture logs;
  write_text(tmp / "token", kToken, 0644);
  DashboardSettings s;
  s.token_file = tmp / "token";
  auto t = read_dashboard_token(s);
  REQUIRE_FALSE(t);
  CHECK(t.error().message == "dashboard token file " + s.token_file +
                                 " has mode 0644: readable by group/others (chmod 600 " +
                                 s.token_file + ")");

  FakeDashboard dash(kToken);
  auto settings = settings_for(dash.port(), tmp / "token");
  {
    Reporter rep(settings, "t-report", tmp.path, make_token_provider(settings), fast_options());
    rep.publish(sample_stack(), {});
    REQUIRE(eventually([&] { return rep.counters().failures >= 1; }));
    CHECK(dash.received()["requests"] == 0);  // nothing sent without a usable token
    CHECK(logs.text().find(tmp / "token") != std::string::npos);
    CHECK(logs.text().find("0644") != std::string::npos);

    // Fixed: chmod 600; the next retry picks it up.
    ::chmod((tmp / "token").c_str(), 0600);
    auto r = dash.wait_for([](const json& x) { return x["documents"].size() == 1; });
    REQUIRE(r["documents"].size() == 1);
  }

  // A wrong token (401), a dashboard echoing the token back, a token inside a status field.
  write_text(tmp / "wrong", "wrong-" + kToken, 0600);
  auto wrong = settings_for(dash.port(), tmp / "wrong");
  {
    Reporter rep(wrong, "t-report", tmp.path + "/b", make_token_provider(wrong), fast_options());
    rep.publish(sample_stack("w1"), {});
    REQUIRE(eventually([&] { return rep.counters().rejected >= 1; }));
  }
  auto right = settings_for(dash.port(), tmp / "token");
  {
    dash.mode({{"mode", "status"},
               {"status", 500},
               {"count", 1},
               {"body", "bad header: Authorization: Bearer " + kToken}});
    Reporter rep(right, "t-report", tmp.path + "/c", make_token_provider(right), fast_options());
    auto st = sample_stack("c1");
    st.services[0].last_error = "login failed with " + kToken;
    rep.publish(st, {sample_event("web", EventKind::died, "token " + kToken)});
    REQUIRE(rep.flush(60s));
    auto r = dash.received();
    CHECK(r.dump().find(kToken) == std::string::npos);  // redacted from the document
    CHECK(r["documents"].back()["services"][1]["last_error"] == "login failed with [redacted]");
  }
  auto text = logs.text();
  INFO(text);
  CHECK(text.find("HTTP 401") != std::string::npos);
  CHECK(text.find("HTTP 500") != std::string::npos);
  CHECK(text.find(kToken) == std::string::npos);
}

TEST_CASE("token: systemd credential, trimming, bad content", "[token]") {
  TempDir tmp;
  DashboardSettings s;
  ::unsetenv("CREDENTIALS_DIRECTORY");
  REQUIRE(read_dashboard_token(s) == std::string());  // nothing configured: no token

  ::mkdir((tmp / "creds").c_str(), 0700);
  write_text(tmp / "creds/dashboard-token", "  cred-token-1\n\n", 0400);
  ::setenv("CREDENTIALS_DIRECTORY", (tmp / "creds").c_str(), 1);
  auto t = read_dashboard_token(s);
  REQUIRE(t);
  CHECK(*t == "cred-token-1");

  // The credential wins over token_file (systemd read the root-only file for the service)...
  write_text(tmp / "file", "file-token\n", 0600);
  s.token_file = tmp / "file";
  CHECK(read_dashboard_token(s) == std::string("cred-token-1"));
  // ...unless it is berth.service's blank default (SetCredential=dashboard-token:\n).
  ::unlink((tmp / "creds/dashboard-token").c_str());
  write_text(tmp / "creds/dashboard-token", "\n", 0400);
  CHECK(read_dashboard_token(s) == std::string("file-token"));
  ::unsetenv("CREDENTIALS_DIRECTORY");

  write_text(tmp / "empty", " \n", 0600);
  s.token_file = tmp / "empty";
  auto e = read_dashboard_token(s);
  REQUIRE_FALSE(e);
  CHECK(e.error().message == "dashboard token file " + s.token_file + ": empty");

  write_text(tmp / "two", "a b\n", 0600);
  s.token_file = tmp / "two";
  REQUIRE_FALSE(read_dashboard_token(s));

  s.token_file = tmp / "missing";
  auto m = read_dashboard_token(s);
  REQUIRE_FALSE(m);
  CHECK(m.error().message ==
        "dashboard token file " + s.token_file + ": No such file or directory");

  write_text(tmp / "g", "x", 0640);
  s.token_file = tmp / "g";
  auto g = read_dashboard_token(s);
  REQUIRE_FALSE(g);
  CHECK(g.error().message.find("has mode 0640") != std::string::npos);
}

TEST_CASE("token: the start-up check refuses a file group/others can read", "[token]") {
  TempDir tmp;
  ::unsetenv("CREDENTIALS_DIRECTORY");
  DashboardSettings s;
  CHECK(check_dashboard_token_file(s));  // no token file configured
  s.token_file = tmp / "missing";
  CHECK(check_dashboard_token_file(s));  // not there (yet): reports wait, not a start-up error
  write_text(tmp / "ok", "tok\n", 0600);
  s.token_file = tmp / "ok";
  CHECK(check_dashboard_token_file(s));
  write_text(tmp / "open", "tok\n", 0644);
  s.token_file = tmp / "open";
  auto r = check_dashboard_token_file(s);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == berth::ErrorKind::config);
  CHECK(r.error().message == "dashboard token file " + s.token_file +
                                 " has mode 0644: readable by group/others (chmod 600 " +
                                 s.token_file + ")");
  // A systemd credential is what berth reads then: the unused file is not checked.
  ::mkdir((tmp / "creds").c_str(), 0700);
  write_text(tmp / "creds/dashboard-token", "cred-token\n", 0400);
  ::setenv("CREDENTIALS_DIRECTORY", (tmp / "creds").c_str(), 1);
  CHECK(check_dashboard_token_file(s));
  ::unsetenv("CREDENTIALS_DIRECTORY");
}

TEST_CASE("Reporter: heartbeat resends the snapshot when nothing changes", "[reporter]") {
  TempDir tmp;
  FakeDashboard dash;
  auto settings = settings_for(dash.port(), "");
  settings.heartbeat = 250ms;
  Reporter rep(settings, "t-report", tmp.path, nullptr, fast_options());
  rep.publish(sample_stack(), {});
  auto r = dash.wait_for([](const json& x) { return x["documents"].size() >= 3; }, 60s);
  REQUIRE(r["documents"].size() >= 3);
  REQUIRE(r["violations"].empty());
  CHECK(rep.counters().heartbeats >= 2);
  CHECK(r["documents"][2]["services"] == r["documents"][0]["services"]);
  CHECK(r["documents"][2]["generated_at"] != r["documents"][0]["generated_at"]);
}

TEST_CASE("Reporter: a failure is sent at once, routine changes wait for the window",
          "[reporter]") {
  TempDir tmp;
  FakeDashboard dash;
  auto settings = settings_for(dash.port(), "");
  auto options = fast_options();
  options.coalesce = 60s;  // longer than the test: only urgency can send before stop()
  options.urgent_coalesce = 0ms;
  Reporter rep(settings, "t-report", tmp.path, nullptr, options);
  auto st = sample_stack();
  rep.publish(st, {});  // routine: waits
  auto dead = st;
  dead.services[0].state = "exited";  // web
  dead.services[0].exit_code = 137;
  rep.publish(dead, {sample_event("web", EventKind::died, "exited with code 137")});
  auto r = dash.wait_for([](const json& x) { return x["documents"].size() >= 1; }, 60s);
  INFO(r.dump(2));
  REQUIRE(r["documents"].size() == 1);
  const auto& doc = r["documents"][0];  // both publishes in one document
  CHECK(doc["services"][1]["name"] == "web");
  CHECK(doc["services"][1]["state"] == "exited");
  REQUIRE(doc["events"].size() == 1);
  CHECK(doc["events"][0]["kind"] == "died");

  // Back up: routine again, so it waits for the window (stop() sends it).
  rep.publish(st, {sample_event("web", EventKind::recovered)});
  std::this_thread::sleep_for(300ms);
  CHECK(rep.counters().documents == 1);
  rep.stop();
  r = dash.received();
  REQUIRE(r["violations"].empty());
  REQUIRE(r["documents"].size() == 2);
  CHECK(r["documents"][1]["services"][1]["state"] == "running");
}

TEST_CASE("Reporter: a burst of failures is delivered completely and in order", "[reporter]") {
  TempDir tmp;
  FakeDashboard dash;
  auto settings = settings_for(dash.port(), "");
  auto options = fast_options();
  options.coalesce = 60s;
  options.urgent_coalesce = 0ms;
  Reporter rep(settings, "t-report", tmp.path, nullptr, options);
  for (int i = 1; i <= 50; ++i)
    rep.publish(sample_stack("v" + std::to_string(i)),
                {sample_event("web", EventKind::died, std::to_string(i))});
  REQUIRE(rep.flush(60s));
  auto r = dash.received();
  INFO(r.dump(2));
  REQUIRE(r["violations"].empty());
  CHECK(event_ids(r) == iota_ids(1, 50));
  CHECK(r["documents"].back()["config_version"] == "v50");
  CHECK(r["documents"].size() <= 50);
  WARN(r["documents"].size() << " document(s) for a burst of 50 failures");
}

TEST_CASE("Reporter: stop() sends what is pending without waiting for the coalescing window",
          "[reporter]") {
  TempDir tmp;
  FakeDashboard dash;
  auto settings = settings_for(dash.port(), "");
  auto options = fast_options();
  options.coalesce = 10s;
  Reporter rep(settings, "t-report", tmp.path, nullptr, options);
  rep.publish(sample_stack(), {sample_event("web", EventKind::died)});
  rep.stop();
  auto r = dash.received();
  CHECK(r["documents"].size() == 1);
  CHECK(spool_files(tmp.path).empty());
  rep.publish(sample_stack("later"), {});  // ignored after stop
  CHECK(rep.counters().published == 1);
}

TEST_CASE("Reporter: stop() is bounded when the dashboard hangs, and spools the rest",
          "[reporter]") {
  TempDir tmp;
  // Every request hangs (longer than the request timeout), not only the first: stop() may send
  // once more when the retry's backoff (50 ms here) has passed by the time it runs, and a
  // dashboard that answered that one at once made the document delivered instead of spooled
  // (0 spool files under TSan in CI).
  FakeDashboard dash("", 0, {{"mode", "slow"}, {"delay", 4}, {"count", 1000}});
  auto settings = settings_for(dash.port(), "");
  auto options = fast_options();
  options.timeout_ms = 800;
  options.stop_timeout = 300ms;
  Reporter rep(settings, "t-report", tmp.path, nullptr, options);
  rep.publish(sample_stack(), {sample_event("web", EventKind::died)});
  REQUIRE(eventually([&] { return rep.counters().attempts >= 1; }));
  rep.stop();  // returns although the dashboard never answers (a hang is ctest's timeout)
  CHECK(spool_files(tmp.path).size() == 1);
  CHECK(rep.counters().delivered == 0);
}

TEST_CASE("Report documents of every shape conform to the JSON Schema", "[reporter][schema]") {
  FakeDashboard dash;
  auto post = [&](const json& doc) { return dash.post("/r", doc.dump()).status; };

  StackStatus empty;
  empty.project = "p";
  empty.agent_version = "0.1.0";
  CHECK(post(to_report_json(empty, {}, 1, "2026-11-01T12:00:00Z")) == 200);

  auto st = sample_stack();
  st.services[0].update_status = UpdateStatus::pulling;
  st.services[0].pull_percent = 42;
  st.services[1].health = "unhealthy";
  st.services[1].health_output = std::string(5000, 'x') + "\xff\xfe";
  st.services[1].last_error = std::string(9000, 'e');
  st.services[1].state = "exited";
  st.services[1].exit_code = -1;
  st.services[1].previous_digest = "sha256:" + std::string(64, 'f');
  st.overall = compute_overall(st.services, false);
  std::vector<StatusEvent> events;
  std::uint64_t id = 1;
  for (auto k :
       {EventKind::update_started, EventKind::update_finished, EventKind::update_failed,
        EventKind::rolled_back, EventKind::died, EventKind::unhealthy, EventKind::recovered}) {
    auto e = sample_event(k == EventKind::recovered ? "" : "web", k, std::string(3000, 'd'));
    e.id = id++;
    events.push_back(e);
  }
  auto doc = to_report_json(st, events, 2, "2026-11-01T12:00:00.123+02:00",
                            "0123456789abcdef0123456789abcdef");
  doc["events_dropped"] = 3;
  CHECK(post(doc) == 200);

  auto r = dash.received();
  INFO(r.dump(2));
  CHECK(r["violations"].empty());
  CHECK(r["documents"].size() == 2);

  // The validator is really strict.
  auto bad = doc;
  bad["sequence"] = 3;
  bad["overall"] = "fine";
  CHECK(post(bad) == 422);
  bad = doc;
  bad["sequence"] = 4;
  bad["services"][0]["environment"] = {{"SECRET", "x"}};
  CHECK(post(bad) == 422);
}

// Not run by default: `berth_agent_tests "[.bench]"`.
TEST_CASE("Reporter: latency and spool drain rate", "[.bench]") {
  TempDir tmp;
  int port = free_port();
  auto settings = settings_for(port, "");
  auto options = fast_options();
  options.coalesce = 1ms;
  Reporter rep(settings, "t-report", tmp.path, nullptr, options);
  const int n = 1000;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 1; i <= n; ++i) {
    rep.publish(sample_stack("v" + std::to_string(i)), {sample_event("web", EventKind::died)});
    REQUIRE(eventually([&] { return rep.counters().documents >= static_cast<unsigned>(i); }));
  }
  auto spool_time = std::chrono::steady_clock::now() - t0;
  FakeDashboard dash("", port);
  t0 = std::chrono::steady_clock::now();
  auto r = dash.wait_for([&](const json& x) { return x["events"].size() >= n; }, 120s);
  auto drain_time = std::chrono::steady_clock::now() - t0;
  REQUIRE(r["violations"].empty());
  REQUIRE(event_ids(r) == iota_ids(1, n));
  WARN("spooled " << n << " documents in " << std::chrono::duration_cast<Millis>(spool_time).count()
                  << " ms, drained in " << std::chrono::duration_cast<Millis>(drain_time).count()
                  << " ms (" << r["documents"].size() << " documents after collapsing)");

  // Publish-to-delivered latency with the default 200 ms coalescing window.
  TempDir tmp2;
  Reporter rep2(settings_for(port, ""), "t-report", tmp2.path, nullptr, ReporterOptions{});
  std::vector<double> lat;
  for (int i = 0; i < 20; ++i) {
    auto s0 = std::chrono::steady_clock::now();
    rep2.publish(sample_stack("l" + std::to_string(i)), {});
    REQUIRE(rep2.flush(60s));
    lat.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s0).count());
  }
  std::sort(lat.begin(), lat.end());
  WARN("publish->delivered (coalesce 200 ms, flush() skips the window): median "
       << lat[lat.size() / 2] << " ms, max " << lat.back() << " ms");
}
