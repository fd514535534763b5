// The retry of a failed converge: the backoff schedule (clock and random numbers injected) and
// which causes are logged when.
#include <catch2/catch.hpp>
#include <vector>

#include "core/retry.hpp"

using namespace berth;
using namespace std::chrono_literals;

TEST_CASE("backoff: first retry within 5 s, doubling, capped", "[retry]") {
  Millis first = kFirstRetry, cap = 120s;
  CHECK(backoff_bound(0, first, cap) == 5s);
  CHECK(backoff_bound(1, first, cap) == 10s);
  CHECK(backoff_bound(2, first, cap) == 20s);
  CHECK(backoff_bound(4, first, cap) == 80s);
  CHECK(backoff_bound(5, first, cap) == 120s);     // 160 s capped
  CHECK(backoff_bound(1000, first, cap) == 120s);  // no overflow
  CHECK(backoff_bound(3, first, 30s) == 30s);      // [agent] retry_max
}

TEST_CASE("backoff: full jitter spans [0, bound]", "[retry]") {
  CHECK(backoff_delay(0, 5s, 120s, 0.0) == 0ms);
  CHECK(backoff_delay(0, 5s, 120s, 0.5) == 2500ms);
  CHECK(backoff_delay(3, 5s, 120s, 0.25) == 10s);
  CHECK(backoff_delay(9, 5s, 120s, 0.999) < 120s);
  CHECK(backoff_delay(2, 5s, 120s, 7.0) == 20s);  // out-of-range input is clamped
}

TEST_CASE("RetrySchedule: backs off per failure, starts over after a success", "[retry]") {
  std::vector<double> rolls{1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.1};
  size_t next = 0;
  RetrySchedule r(5s, 120s, [&] { return rolls[next++ % rolls.size()]; });
  RetrySchedule::Clock::time_point t0{};
  CHECK(r.attempts() == 0);
  CHECK(r.failed(t0) - t0 == 5s);
  CHECK(r.failed(t0) - t0 == 10s);
  CHECK(r.failed(t0) - t0 == 10s);  // half of 20 s
  CHECK(r.attempts() == 3);
  CHECK(r.failed(t0) - t0 == 40s);
  CHECK(r.failed(t0) - t0 == 80s);
  CHECK(r.failed(t0) - t0 == 120s);  // capped from here on
  CHECK(r.failed(t0) - t0 == 120s);
  r.succeeded();
  CHECK(r.attempts() == 0);
  CHECK(r.failed(t0) - t0 == 500ms);  // 0.1 of the first bound again
  r.set_cap(Millis{7000});
  CHECK(r.failed(t0) - t0 <= 7s);
}

TEST_CASE("FailureLog: a cause is reported when it appears and when it clears, once", "[retry]") {
  FailureLog log;
  FailureCause reg{"web", FailedStep::image, "registry unreachable (connection refused)", true};
  std::set<std::string> all{"web", "db"};

  auto c1 = log.update({reg}, all);
  REQUIRE(c1.appeared.size() == 1);
  CHECK(c1.appeared[0] == reg);
  CHECK(c1.cleared.empty());

  // The same step failing again, even with other words: nothing new.
  auto moved = reg;
  moved.text = "registry unreachable (timeout)";
  auto c2 = log.update({moved}, all);
  CHECK(c2.appeared.empty());
  CHECK(c2.cleared.empty());
  CHECK(log.current().at("web").text == "registry unreachable (timeout)");

  // Another step of the same service is a new cause.
  FailureCause health{"web", FailedStep::health, "exited with code 3", false};
  auto c3 = log.update({health}, all);
  REQUIRE(c3.appeared.size() == 1);
  CHECK(c3.appeared[0].step == FailedStep::health);

  // A retry of db only says nothing about web.
  auto c4 = log.update({}, {"db"});
  CHECK(c4.cleared.empty());
  CHECK(log.services() == std::vector<std::string>{"web"});

  auto c5 = log.update({}, all);
  REQUIRE(c5.cleared.size() == 1);
  CHECK(c5.cleared[0].service == "web");
  CHECK(log.empty());
  CHECK(log.update({}, all).cleared.empty());
}

TEST_CASE("FailureLog: the stack's own cause is always in scope", "[retry]") {
  FailureLog log;
  log.update({{"", FailedStep::engine, "docker: info: cannot connect", false}}, {});
  CHECK(log.services().empty());
  CHECK_FALSE(log.empty());
  auto ch = log.update({}, {"web"});
  REQUIRE(ch.cleared.size() == 1);
  CHECK(ch.cleared[0].service.empty());
}
