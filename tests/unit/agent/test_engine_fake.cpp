// DockerEngine against a scripted fake daemon on a unix socket: the cases a real dockerd
// will not produce on demand (old API, stalls, a stream that dies, errors inside a 200).
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "engine/container_events.hpp"
#include "engine/docker_engine.hpp"
#include "engine/images.hpp"

using berth::ErrorKind;
using berth::engine::DockerEngine;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// What the fake daemon does with one request: write these pieces (pausing before each by its
// delay), then close the connection, or hang until the test ends.
struct Piece {
  std::string bytes;
  std::chrono::milliseconds delay{0};
};
struct Script {
  std::vector<Piece> pieces;
  bool hang = false;
};
using Handler = std::function<Script(const std::string& method, const std::string& target)>;

std::string reply(int status, const std::string& body,
                  const std::string& extra_headers = "Api-Version: 1.41\r\n") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\n" + extra_headers +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

std::string stream_head() {
  return "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
         "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
}

std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

class FakeDaemon {
 public:
  explicit FakeDaemon(Handler h) : handler_(std::move(h)) {
    path_ =
        (std::filesystem::temp_directory_path() / ("t-engine-fake-" + std::to_string(::getpid()) +
                                                   "-" + std::to_string(++counter_) + ".sock"))
            .string();
    std::filesystem::remove(path_);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeDaemon() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (auto& t : conns_) t.join();
    std::filesystem::remove(path_);
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> requests() {
    std::lock_guard lk(mu_);
    return requests_;
  }
  // Requests answered at the same time, at most (so far).
  int most_in_flight() {
    std::lock_guard lk(mu_);
    return most_in_flight_;
  }
  // Every request waits (at most 10 s) until `n` requests have been in flight at once: a client
  // that sends in parallel gets its answers at once, one that serialises its calls shows up as
  // most_in_flight() < n instead of depending on how fast the machine is.
  void gather(int n) { gather_ = n; }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      conns_.emplace_back([this, c] { handle(c); });
    }
  }
  void handle(int c) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) {
        ::close(c);
        return;
      }
      req.append(buf, static_cast<std::size_t>(n));
    }
    auto sp1 = req.find(' ');
    auto sp2 = req.find(' ', sp1 + 1);
    std::string method = req.substr(0, sp1);
    std::string target = req.substr(sp1 + 1, sp2 - sp1 - 1);
    {
      std::lock_guard lk(mu_);
      requests_.push_back(method + " " + target);
      most_in_flight_ = std::max(most_in_flight_, ++in_flight_);
    }
    auto gathered = [&] {
      std::lock_guard lk(mu_);
      return most_in_flight_ >= gather_;
    };
    for (auto until = Clock::now() + 10s; !stop_ && !gathered() && Clock::now() < until;)
      std::this_thread::sleep_for(5ms);
    Script s = handler_(method, target);
    for (const auto& p : s.pieces) {
      auto until = Clock::now() + p.delay;
      while (!stop_ && Clock::now() < until) std::this_thread::sleep_for(10ms);
      if (stop_) break;
      if (::write(c, p.bytes.data(), p.bytes.size()) < 0) break;
    }
    while (s.hang && !stop_) std::this_thread::sleep_for(10ms);
    {
      std::lock_guard lk(mu_);
      --in_flight_;
    }
    ::close(c);
  }

  static inline std::atomic<int> counter_{0};
  Handler handler_;
  std::string path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
  std::mutex mu_;
  std::vector<std::string> requests_;
  int in_flight_ = 0, most_in_flight_ = 0;
  std::atomic<int> gather_{0};
};

Script ping_or(const std::string& target, const std::string& api, const Script& other) {
  if (target == "/_ping") return {{{reply(200, "OK", "Api-Version: " + api + "\r\n")}}};
  if (target.ends_with("/version"))
    return {{{reply(200, R"({"Components":[{"Name":"Engine","Version":"x"}]})")}}};
  return other;
}

// Voluntary context switches of thread `tid` of this process so far: how often it went to sleep
// and was woken (Linux).
long voluntary_switches(long tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("voluntary_ctxt_switches:")) return std::stol(line.substr(24));
  return -1;
}

}  // namespace

TEST_CASE("fake engine: an API older than 1.41 is refused", "[engine][fake]") {
  FakeDaemon d([](const std::string&, const std::string& t) { return ping_or(t, "1.40", {}); });
  DockerEngine e(d.path());
  auto v = e.ping();
  REQUIRE_FALSE(v);
  CHECK(v.error().message ==
        "docker API 1.40 is too old: berth needs 1.41 (Docker 20.10) or newer");
  auto l = e.list_containers({});
  REQUIRE_FALSE(l);
  CHECK(l.error().message.find("too old") != std::string::npos);
}

TEST_CASE("fake engine: version capped at ours, stop sends signal= from 1.42", "[engine][fake]") {
  FakeDaemon d([](const std::string&, const std::string& t) {
    return ping_or(t, "1.47", {{{reply(204, "")}}});
  });
  DockerEngine e(d.path());
  REQUIRE(e.ping().value() == "1.45");
  REQUIRE(e.stop_container("abc", 3, "SIGUSR1"));
  auto reqs = d.requests();
  CHECK(reqs.back() == "POST /v1.45/containers/abc/stop?t=3&signal=SIGUSR1");
  // No kill before the stop with 1.42+.
  for (const auto& r : reqs) CHECK(r.find("/kill") == std::string::npos);
}

TEST_CASE("fake engine: with API 1.41 a stop signal is sent by kill first", "[engine][fake]") {
  FakeDaemon d([](const std::string&, const std::string& t) {
    if (t.find("/kill") != std::string::npos)
      return Script{{{reply(409, R"({"message":"Container abc is not running"})")}}};
    return ping_or(t, "1.41", {{{reply(304, "")}}});
  });
  DockerEngine e(d.path());
  REQUIRE(e.stop_container("abc", -1, "SIGINT"));  // 409 on kill = already stopped; 304 ok
  auto reqs = d.requests();
  REQUIRE(reqs.size() >= 2);
  CHECK(reqs[reqs.size() - 2] == "POST /v1.41/containers/abc/kill?signal=SIGINT");
  CHECK(reqs.back() == "POST /v1.41/containers/abc/stop");
}

TEST_CASE("fake engine: errors carry the daemon message, status and operation", "[engine][fake]") {
  FakeDaemon d([](const std::string&, const std::string& t) {
    if (t.find("/start") != std::string::npos)
      return Script{
          {{reply(500, R"({"message":"driver failed programming external connectivity"})")}}};
    if (t.find("/containers/create") != std::string::npos)
      return Script{{{reply(404, R"({"message":"No such image: app:1"})")}}};
    if (t.find("/networks/create") != std::string::npos)
      return Script{{{reply(403, "forbidden by policy\n")}}};
    return ping_or(t, "1.41", {{{reply(200, "not json")}}});
  });
  DockerEngine e(d.path());
  auto s = e.start_container("web");
  REQUIRE_FALSE(s);
  CHECK(s.error().kind == ErrorKind::unavailable);
  CHECK(s.error().http_status == 500);
  CHECK(s.error().retryable());
  CHECK(s.error().message ==
        "docker: start container web: driver failed programming external connectivity (HTTP 500)");
  auto c = e.create_container("p-web-1", nlohmann::json::object());
  REQUIRE_FALSE(c);
  CHECK(c.error().kind == ErrorKind::not_found);
  CHECK(c.error().message == "docker: create container p-web-1: No such image: app:1 (HTTP 404)");
  auto n = e.create_network("p_default", {});
  REQUIRE_FALSE(n);
  CHECK(n.error().kind == ErrorKind::auth);
  CHECK(n.error().message == "docker: create network p_default: forbidden by policy (HTTP 403)");
  auto bad = e.inspect_container("x");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind == ErrorKind::invalid_input);
}

TEST_CASE("fake engine: errorDetail inside a 200 pull stream fails the pull", "[engine][fake]") {
  FakeDaemon d([](const std::string&, const std::string& t) {
    return ping_or(
        t, "1.41",
        {{{stream_head()},
          {chunk("{\"status\":\"Pulling from app\",\"id\":\"1\"}\r\n{\"status\":\"Pulling fs")},
          {chunk(" layer\",\"progressDetail\":{},\"id\":\"aaa\"}\r\n")},
          {chunk("{\"errorDetail\":{\"message\":\"unauthorized: authentication required\"},"
                 "\"error\":\"unauthorized: authentication required\"}\r\n")},
          {"0\r\n\r\n"}}});
  });
  DockerEngine e(d.path());
  berth::engine::PullOptions opts;
  opts.registry_auth = "eyJ1c2VybmFtZSI6IkFXUyJ9";
  auto r = e.pull_image("r.example/app", "", opts, nullptr);
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::auth);
  CHECK(r.error().message ==
        "docker: pull r.example/app:latest: unauthorized: authentication required");
  CHECK(d.requests().back() == "POST /v1.41/images/create?fromImage=r.example%2Fapp&tag=latest");
}

TEST_CASE("fake engine: pull timeouts (first byte, stall)", "[engine][fake]") {
  SECTION("no answer at all") {
    FakeDaemon d([](const std::string&, const std::string& t) {
      return ping_or(t, "1.41", Script{{}, true});
    });
    DockerEngine e(d.path());
    berth::engine::PullOptions opts;
    opts.first_byte_timeout_s = 1;
    auto r = e.pull_image("app", "sha256:abc", opts, nullptr);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::timeout);
    CHECK(r.error().message == "docker: pull app@sha256:abc: no answer within 1s");
  }
  SECTION("stalls after the first layer") {
    FakeDaemon d([](const std::string&, const std::string& t) {
      return ping_or(t, "1.41",
                     Script{{{stream_head()},
                             {chunk("{\"status\":\"Downloading\",\"progressDetail\":{\"current\":"
                                    "5,\"total\":10},\"id\":\"aaa\"}\r\n")}},
                            true});
    });
    DockerEngine e(d.path());
    berth::engine::PullOptions opts;
    opts.inactivity_timeout_s = 1;
    std::vector<int> percents;
    auto r = e.pull_image("app", "1", opts, [&](const berth::engine::PullProgress& p) {
      percents.push_back(p.percent);
    });
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::timeout);
    CHECK(r.error().message == "docker: pull app:1: stalled: no progress for 1s (at 50%)");
    CHECK(percents == std::vector<int>{50});
  }
}

TEST_CASE("fake engine: the events stream reports a daemon that goes away", "[engine][fake]") {
  FakeDaemon d([](const std::string&, const std::string& t) {
    return ping_or(
        t, "1.41",
        {{{stream_head()},
          {chunk(
              R"({"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"p-web-1"}},"timeNano":1})"
              "\n")},
          {"garbage-that-is-not-a-chunk", 100ms}}});
  });
  DockerEngine e(d.path());
  std::vector<berth::EngineEvent> events;
  std::stop_source stop;
  auto r = e.stream_events(
      {"com.docker.compose.project=p"}, [&](const berth::EngineEvent& ev) { events.push_back(ev); },
      stop.get_token());
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::unavailable);
  CHECK(r.error().message.starts_with("docker: events stream: "));
  REQUIRE(events.size() == 1);
  CHECK(events[0].attributes.at("name") == "p-web-1");
  auto reqs = d.requests();
  // Container state events only: not the exec_create/exec_start/exec_die that every health
  // check run produces (they would wake the daemon several times a second per service).
  CHECK(
      reqs.back() ==
      "GET /v1.41/events?filters=%7B%22event%22%3A%5B%22create%22%2C%22start%22%2C%22restart%22%2C"
      "%22stop%22%2C%22kill%22%2C%22die%22%2C%22oom%22%2C%22pause%22%2C%22unpause%22%2C"
      "%22destroy%22%2C%22rename%22%2C%22update%22%2C%22health_status%22%5D%2C"
      "%22label%22%3A%5B%22com.docker.compose.project%3Dp%22%5D%2C"
      "%22type%22%3A%5B%22container%22%5D%7D");
  CHECK(reqs.back().find("exec_") == std::string::npos);
}

TEST_CASE("fake engine: an idle events stream sleeps until a stop request wakes it",
          "[engine][fake]") {
  // The daemon's events thread spends its life in this call: while no event comes it must not
  // wake (berth's idle target is no polling), and a stop request must still end it at once.
  FakeDaemon d([](const std::string&, const std::string& t) {
    return ping_or(t, "1.41", Script{{{stream_head()}}, /*hang=*/true});
  });
  DockerEngine e(d.path());
  REQUIRE(e.ping());
  std::stop_source stop;
  std::atomic<long> tid{0};
  berth::Result<void> r = berth::fail("not run");
  std::thread t([&] {
    tid = static_cast<long>(::syscall(SYS_gettid));
    r = e.stream_events({}, nullptr, stop.get_token());
  });
  auto subscribed = [&] {
    for (const auto& q : d.requests())
      if (q.starts_with("GET /v1.41/events")) return true;
    return false;
  };
  while (!subscribed()) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(200ms);  // the response head is read
  long before = voluntary_switches(tid);
  std::this_thread::sleep_for(1000ms);
  long after = voluntary_switches(tid);
  stop.request_stop();
  t.join();
  CHECK(r);  // a requested stop is not an error
  REQUIRE(before >= 0);
  // Polling every 100 ms would be ~10 wakeups in that second; a sleeping thread has none.
  CHECK(after - before <= 2);
}

TEST_CASE("fake engine: a cleanly closed events stream is an error too", "[engine][fake]") {
  FakeDaemon d([](const std::string&, const std::string& t) {
    return ping_or(t, "1.41", {{{stream_head()}, {"0\r\n\r\n", 50ms}}});
  });
  DockerEngine e(d.path());
  std::stop_source stop;
  auto r = e.stream_events({}, nullptr, stop.get_token());
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "docker: events stream: the daemon closed the stream (restarting?)");
}

TEST_CASE("fake engine: one engine shared by threads", "[engine][fake]") {
  FakeDaemon d([](const std::string&, const std::string& t) {
    return ping_or(t, "1.41",
                   {{{reply(200, R"({"Id":"sha256:abc","RepoTags":["a:1"],"Size":3})"), 50ms}}});
  });
  DockerEngine e(d.path());
  (void)e.ping();  // the API version is negotiated before the threads start
  d.gather(2);
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 6; ++i)
    ts.emplace_back([&] {
      for (int k = 0; k < 3; ++k) {
        auto r = e.inspect_image("a:1");
        if (r && r->has_value() && (*r)->id == "sha256:abc") ++ok;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(ok == 18);
  CHECK(d.most_in_flight() >= 2);  // calls ran in parallel, not one after the other
}

TEST_CASE("PullSlots: never more holders than slots", "[engine][pull]") {
  berth::engine::PullSlots slots(2);
  std::atomic<int> inside{0}, most{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      berth::engine::PullSlots::Held slot(slots);
      int now = ++inside;
      for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      --inside;
    });
  for (auto& t : threads) t.join();
  CHECK(most.load() >= 1);
  CHECK(most.load() <= 2);
  CHECK(inside.load() == 0);
}

TEST_CASE("event waits: a container's event wakes its waiter, the stream's start wakes all",
          "[engine][events]") {
  using berth::engine::EventWaits;
  EventWaits w;
  auto a = w.seen("a");
  auto b = w.seen("b");
  CHECK_FALSE(a.live);
  // Nothing new: the wait ends by its fallback time (0 here) and says so.
  CHECK_FALSE(w.wait("a", a, 0ms, 0ms));
  // The stream's first event (of another container) wakes every waiter once: a state change
  // from before the stream was connected must be looked at again.
  w.on_event("b");
  CHECK(w.wait("a", a, 0ms, 0ms));
  CHECK(w.wait("b", b, 0ms, 0ms));
  a = w.seen("a");
  b = w.seen("b");
  CHECK(a.live);
  // From then on, only a container's own events wake its waiter.
  w.on_event("b");
  CHECK_FALSE(w.wait("a", a, 0ms, 0ms));
  CHECK(w.wait("b", b, 0ms, 0ms));
  // An event between the snapshot and the wait is not lost.
  a = w.seen("a");
  w.on_event("a");
  CHECK(w.wait("a", a, 0ms, 0ms));
  // The stream ends: waiters are woken (to go back to polling quickly).
  a = w.seen("a");
  w.on_end();
  CHECK(w.wait("a", a, 0ms, 0ms));
  CHECK_FALSE(w.seen("a").live);
}

TEST_CASE("container events: the project's events stream wakes a wait", "[engine][events][fake]") {
  // The first wait opens GET /events filtered by the project label; the container's
  // health_status event ends the wait (the fallback here is far longer than the test).
  FakeDaemon d([](const std::string&, const std::string& t) {
    return ping_or(
        t, "1.41",
        Script{
            {{stream_head()},
             {chunk(
                  R"({"Type":"container","Action":"health_status: healthy","Actor":{"ID":"c1","Attributes":{"name":"p-web-1"}},"timeNano":1})"
                  "\n"),
              300ms}},
            /*hang=*/true});
  });
  DockerEngine e(d.path());
  berth::engine::ContainerEvents events(e, "p");
  auto seen = events.seen("c1");
  CHECK(events.wait("c1", seen, 60s, 60s));
  CHECK(events.seen("c1").count == 1);
  bool subscribed = false;
  for (const auto& q : d.requests())
    if (q.starts_with("GET /v1.41/events?") &&
        q.find("com.docker.compose.project%3Dp") != std::string::npos)
      subscribed = true;
  CHECK(subscribed);
  // Leaving the scope stops the hanging stream and joins its thread.
}
