// Pure helpers of report/, the atomic file helpers, host info (against a tiny IMDSv2 fake) and
// the desired-state fetcher (against the fake dashboard).
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "dashboard_fixture.hpp"
#include "report/desired_fetch.hpp"
#include "report/host_info.hpp"
#include "report/reporter.hpp"
#include "util/atomic_file.hpp"

using namespace berth;
using namespace berth::report;
using namespace berth::test;

TEST_CASE("parse_retry_after: seconds and HTTP dates", "[report]") {
  auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  CHECK(parse_retry_after("120", now) == Millis(120000));
  CHECK(parse_retry_after(" 0 ", now) == Millis(0));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now) == Millis(10000));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now) == Millis(0));  // past
  CHECK_FALSE(parse_retry_after("", now));
  CHECK_FALSE(parse_retry_after("soon", now));
  CHECK_FALSE(parse_retry_after("-5", now));
  CHECK_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT trailing", now));
  // A date past 2262 overflowed the clock's nanoseconds in from_time_t (seen while writing
  // fuzz_retry_after; its seed corpus has the date):
  // capped at a year like delay-seconds.
  CHECK(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now) ==
        std::chrono::duration_cast<Millis>(berth::report::kRetryAfterCap));
  CHECK(parse_retry_after("99999999999", now) ==
        std::chrono::duration_cast<Millis>(berth::report::kRetryAfterCap));
}

TEST_CASE("backoff_delay doubles up to the cap, with jitter in [cap/2, cap]", "[report]") {
  Millis initial(1000), max(300000);
  CHECK(backoff_delay(1, initial, max, 0.0) == Millis(500));
  CHECK(backoff_delay(1, initial, max, 1.0) == Millis(1000));
  CHECK(backoff_delay(2, initial, max, 1.0) == Millis(2000));
  CHECK(backoff_delay(4, initial, max, 0.5) == Millis(6000));
  CHECK(backoff_delay(30, initial, max, 1.0) == max);
  CHECK(backoff_delay(1000, initial, max, 0.0) == Millis(150000));
  CHECK(backoff_delay(0, initial, max, 1.0) == Millis(1000));
}

TEST_CASE("is_urgent_change: failures skip the coalescing window", "[report]") {
  auto before = sample_stack();  // web running without a check, db running and healthy
  auto after = before;
  // Nothing happened, or something routine (first snapshot, restart count, a recovery).
  CHECK_FALSE(is_urgent_change(nullptr, after, {}));
  CHECK_FALSE(is_urgent_change(&before, after, {}));
  after.services[0].restart_count = 3;
  CHECK_FALSE(is_urgent_change(&before, after, {}));
  CHECK_FALSE(is_urgent_change(&before, after, {sample_event("db", EventKind::recovered)}));
  CHECK_FALSE(
      is_urgent_change(&before, after, {sample_event("web", EventKind::update_started, "a -> b")}));
  CHECK_FALSE(is_urgent_change(&before, after,
                               {sample_event("web", EventKind::update_finished, "a -> b")}));
  // Failure events, whatever the snapshot says.
  for (auto k :
       {EventKind::died, EventKind::unhealthy, EventKind::update_failed, EventKind::rolled_back}) {
    CHECK(is_urgent_change(nullptr, before, {sample_event("web", k)}));
    CHECK(is_urgent_change(&before, before,
                           {sample_event("web", EventKind::recovered), sample_event("web", k)}));
  }
  // A running container stopped, exited or went missing (no event needed).
  for (std::string state : {"exited", "dead", "restarting", "missing", "paused"}) {
    after = before;
    after.services[0].state = state;
    CHECK(is_urgent_change(&before, after, {}));
  }
  // ...unless berth is replacing it itself.
  after = before;
  after.services[0].state = "exited";
  after.services[0].update_status = UpdateStatus::updating;
  CHECK_FALSE(is_urgent_change(&before, after, {}));
  after.services[0].update_status = UpdateStatus::pulling;
  CHECK_FALSE(is_urgent_change(&before, after, {}));
  // A health check started failing; staying unhealthy is no news.
  after = before;
  after.services[1].health = "unhealthy";
  CHECK(is_urgent_change(&before, after, {}));
  CHECK_FALSE(is_urgent_change(&after, after, {}));
  // A container that comes up, or a service that is new, is routine.
  after = before;
  after.services[0].state = "exited";
  CHECK_FALSE(is_urgent_change(&after, before, {}));
  after = before;
  after.services.push_back(before.services[0]);
  after.services.back().name = "cache";
  after.services.back().state = "created";
  CHECK_FALSE(is_urgent_change(&before, after, {}));
}

TEST_CASE("expand_url fills and encodes the template", "[report]") {
  HostInfo h;
  h.hostname = "web 1";
  h.machine_id = "0123456789abcdef0123456789abcdef";
  CHECK(expand_url("https://d/api/{instance_id}/{hostname}?p={project}&x={other}", h, "m/sd") ==
        "https://d/api/0123456789abcdef0123456789abcdef/web%201?p=m%2Fsd&x={other}");
  h.instance_id = "i-0abc";
  CHECK(expand_url("https://d/{instance_id}", h, "p") == "https://d/i-0abc");
}

TEST_CASE("format_rfc3339", "[report]") {
  auto t = std::chrono::system_clock::from_time_t(784111777) + std::chrono::milliseconds(42);
  CHECK(format_rfc3339(t) == "1994-11-06T08:49:37.042Z");
}

TEST_CASE("write_file_atomic: exact mode, replaces, leaves no temp file", "[atomic]") {
  TempDir tmp;
  auto old_umask = ::umask(022);
  std::string path = tmp / "state.json";
  REQUIRE(write_file_atomic(path, "one", 0600));
  REQUIRE(write_file_atomic(path, "two", 0600));
  ::umask(old_umask);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  auto r = read_file(path, 100);
  REQUIRE(r);
  REQUIRE(*r);
  CHECK(**r == "two");
  auto names = list_dir(tmp.path);
  REQUIRE(names);
  CHECK(*names == std::vector<std::string>{"state.json"});

  auto missing = read_file(tmp / "nope", 100);
  REQUIRE(missing);
  CHECK_FALSE(*missing);
  auto big = read_file(path, 2);
  REQUIRE_FALSE(big);
  CHECK(big.error().message == path + ": larger than 2 bytes");

  auto bad = write_file_atomic(tmp / "no/such/dir/file", "x", 0600);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("no/such/dir/file.tmp.") != std::string::npos);

  REQUIRE(ensure_dir(tmp / "a/b/c", 0700));
  for (const char* d : {"a", "a/b", "a/b/c"}) {  // created on the way: as private
    INFO(d);
    REQUIRE(::stat((tmp / d).c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
  }
  REQUIRE(remove_file_durable(path));
  REQUIRE(remove_file_durable(path));  // already gone: fine
}

namespace {

// A minimal IMDSv2: PUT /latest/api/token, then the identity document with that token.
const char* kImdsScript = R"PY(
import argparse, json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
ap = argparse.ArgumentParser(); ap.add_argument("--port", type=int); ap.add_argument("--port-file")
a = ap.parse_args()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *x): pass
    def reply(self, code, body):
        b = body.encode(); self.send_response(code)
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(200, "imds-session-token")
        self.reply(400, "bad")
    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != "imds-session-token":
            return self.reply(401, "")
        if self.path == "/latest/dynamic/instance-identity/document":
            return self.reply(200, json.dumps({"instanceId": "i-0fake0000000000001",
                "region": "eu-west-1", "availabilityZone": "eu-west-1b",
                "instanceType": "m6i.large", "accountId": "123456789012"}))
        self.reply(404, "")
s = ThreadingHTTPServer(("127.0.0.1", a.port), H)
open(a.port_file + ".tmp", "w").write(str(s.server_address[1])); os.rename(a.port_file + ".tmp", a.port_file)
s.serve_forever()
)PY";

}  // namespace

TEST_CASE("host info: IMDSv2 identity, and hostname/boot id off EC2", "[report][host]") {
  TempDir tmp;
  write_text(tmp / "imds.py", kImdsScript, 0600);
  PyServer imds(tmp / "imds.py", {});

  auto id = fetch_ec2_identity(imds.base(), 1000);
  REQUIRE(id);
  CHECK(id->instance_id == "i-0fake0000000000001");
  CHECK(id->region == "eu-west-1");
  CHECK(id->availability_zone == "eu-west-1b");
  CHECK(id->instance_type == "m6i.large");

  HostInfoOptions o;
  o.imds_endpoint = imds.base();
  o.imds_disabled = false;
  auto h = gather_host_info(o);
  CHECK(h.instance_id == "i-0fake0000000000001");
  CHECK(h.region == "eu-west-1");
  CHECK_FALSE(h.hostname.empty());
  CHECK(h.boot_id.size() == 36);
  CHECK(h.id() == "i-0fake0000000000001");

  o.imds_disabled = true;
  auto off = gather_host_info(o);
  CHECK(off.instance_id.empty());
  CHECK(off.hostname == h.hostname);
  CHECK(off.boot_id == h.boot_id);
  if (!off.machine_id.empty()) {  // /etc/machine-id may be missing in a container
    CHECK(off.machine_id.size() == 32);
    CHECK(off.id() == off.machine_id);
  }

  // Nothing listening: falls back to the host's own facts.
  imds.stop();
  o.imds_disabled = false;
  o.imds_timeout_ms = 500;
  auto down = gather_host_info(o);
  CHECK(down.instance_id.empty());
  CHECK(down.hostname == h.hostname);
}

TEST_CASE("desired state: fetch, If-None-Match/304, validation, cache across restarts",
          "[report][desired]") {
  TempDir tmp;
  const std::string token = "desired-token-9f8e7d";
  write_text(tmp / "token", token, 0600);
  FakeDashboard dash(token);
  DashboardSettings s;
  s.desired_url = dash.base() + "/desired/{instance_id}";
  s.token_file = tmp / "token";
  std::set<std::string> known = {"web", "db"};
  HostInfo host;
  host.instance_id = "i-1";
  const std::string digest = "sha256:" + std::string(64, 'd');

  DesiredFetcher f(s, "t-report", tmp.path, make_token_provider(s));
  auto none = f.fetch(host, known);  // nothing configured on the dashboard yet
  REQUIRE_FALSE(none);
  CHECK(none.error().kind == ErrorKind::not_found);
  CHECK(none.error().message.find("HTTP 404") != std::string::npos);

  dash.put_desired(
      R"({"schema":"berth.desired/v1","services":{"web":{"tag":"3f2c9e1"},"db":{"digest":")" +
      digest + R"("}}})");
  auto r = f.fetch(host, known);
  REQUIRE(r);
  CHECK(r->changed);
  CHECK(r->state.services.at("web").tag == "3f2c9e1");
  CHECK(r->state.services.at("db").digest == digest);
  struct stat st {};
  REQUIRE(::stat(f.cache_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);

  auto again = f.fetch(host, known);
  REQUIRE(again);
  CHECK_FALSE(again->changed);
  CHECK(again->state == r->state);
  auto rec = dash.received();
  REQUIRE(rec["if_none_match"].size() == 3);
  CHECK(rec["if_none_match"][2] == r->etag);

  // Invalid document: rejected, nothing changes (cache untouched).
  dash.put_desired(R"({"schema":"berth.desired/v1","services":{"cache":{"tag":"1"}}})");
  auto bad = f.fetch(host, known);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("services.cache: unknown service (known: db, web)") !=
        std::string::npos);

  // A new fetcher (reboot, no network) still has the pins from the cache.
  dash.stop();
  DesiredFetcher after_reboot(s, "t-report", tmp.path, make_token_provider(s));
  auto cached = after_reboot.load_cached(known);
  REQUIRE(cached);
  REQUIRE(*cached);
  CHECK(**cached == r->state);
  auto offline = after_reboot.fetch(host, known);
  REQUIRE_FALSE(offline);
  CHECK(offline.error().kind == ErrorKind::unavailable);

  // A cache that no longer validates (service removed from berth.toml) is reported.
  auto stale = after_reboot.load_cached({"web"});
  REQUIRE_FALSE(stale);
  CHECK(stale.error().message.find("services.db: unknown service") != std::string::npos);
}
