// DbusService and the CLI's D-Bus client against a private dbus-daemon started by the test
// (never the system bus). Skipped with a warning when dbus-daemon is not installed.
#include <sdbus-c++/sdbus-c++.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../../support/skip.hpp"
#include "daemon/dbus_client.hpp"
#include "daemon/dbus_service.hpp"
#include "private_bus.hpp"
#include "util/logging.hpp"

using namespace berth::daemon;
using namespace std::chrono_literals;
using berth_test::have_dbus_daemon;
using berth_test::PrivateBus;
using berth_test::wait_until;

namespace {

class FakeHandler : public DbusHandler {
 public:
  void request_update() override {
    ++updates;
    // A daemon that does not answer: blocks until the test releases it, after the CLI gave up
    // (bounded, so a broken test cannot hang the suite).
    if (slow_update) wait_until([&] { return release_update.load(); }, 60s);
  }
  void request_reload() override {
    ++reloads;
    if (throw_on_reload) throw std::runtime_error("queue closed");
  }
  berth::Result<void> request_restart(const std::string& service) override {
    std::lock_guard<std::mutex> lock(mu);
    restarts.push_back(service);
    if (service == "broken") return berth::fail("container is being removed");
    return {};
  }
  std::vector<std::string> restart_calls() {
    std::lock_guard<std::mutex> lock(mu);
    return restarts;
  }
  std::atomic<int> updates{0}, reloads{0};
  std::atomic<bool> throw_on_reload{false};
  std::atomic<bool> slow_update{false};
  std::atomic<bool> release_update{false};
  std::mutex mu;
  std::vector<std::string> restarts;
};

DbusSnapshot sample_snapshot() {
  DbusSnapshot s;
  s.state = "healthy";
  s.config_version = "2026.11.1";
  s.last_converge_usec = 1700000000123456ull;
  s.services = {
      {"web", "r/web:latest", "latest", "sha256:aa", "running", "healthy", "up_to_date", ""},
      {"broken", "r/b:1", "1", "sha256:bb", "running", "none", "up_to_date", ""},
  };
  s.status_json = R"({"state":"healthy"})";
  return s;
}

const DbusOptions kFastRetry{50ms, 200ms};

using Row = sdbus::Struct<std::string, std::string, std::string, std::string, std::string,
                          std::string, std::string, std::string>;

}  // namespace

TEST_CASE("DbusService exports properties and methods on a private bus", "[dbus]") {
  if (!have_dbus_daemon()) BERTH_SKIP("dbus-daemon is not installed");
  berth::log::LogCapture logs;
  PrivateBus bus;
  bus.start();
  FakeHandler handler;
  DbusService service(handler, bus.address(), kFastRetry);
  service.publish(sample_snapshot());
  service.start();
  REQUIRE(wait_until([&] { return service.connected(); }));

  auto conn = sdbus::createSessionBusConnectionWithAddress(bus.address());
  auto proxy = sdbus::createProxy(*conn, kDbusName, kDbusPath);

  SECTION("properties") {
    std::string state = proxy->getProperty("State").onInterface(kDbusInterface);
    CHECK(state == "healthy");
    std::string version = proxy->getProperty("ConfigVersion").onInterface(kDbusInterface);
    CHECK(version == "2026.11.1");
    uint64_t when = proxy->getProperty("LastConvergeTime").onInterface(kDbusInterface);
    CHECK(when == 1700000000123456ull);
    std::vector<Row> rows = proxy->getProperty("Services").onInterface(kDbusInterface);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0] == Row{"web", "r/web:latest", "latest", "sha256:aa", "running", "healthy",
                         "up_to_date", ""});
  }

  SECTION("methods reach the handler") {
    std::string json;
    proxy->callMethod("Status").onInterface(kDbusInterface).storeResultsTo(json);
    CHECK(json == R"({"state":"healthy"})");
    proxy->callMethod("Update").onInterface(kDbusInterface).storeResultsTo();
    proxy->callMethod("Reload").onInterface(kDbusInterface).storeResultsTo();
    proxy->callMethod("RestartService")
        .onInterface(kDbusInterface)
        .withArguments(std::string("web"))
        .storeResultsTo();
    CHECK(handler.updates == 1);
    CHECK(handler.reloads == 1);
    CHECK(handler.restart_calls() == std::vector<std::string>{"web"});
  }

  SECTION("RestartService with an unknown name is an UnknownService error") {
    try {
      proxy->callMethod("RestartService")
          .onInterface(kDbusInterface)
          .withArguments(std::string("nope"))
          .storeResultsTo();
      FAIL("no error");
    } catch (const sdbus::Error& e) {
      CHECK(e.getName() == "org.berth.Agent1.Error.UnknownService");
      CHECK(e.getMessage() == "no service named 'nope' in berth's configuration");
    }
    CHECK(handler.restart_calls().empty());
  }

  SECTION("handler failures become org.berth.Agent1.Error.Failed") {
    try {
      proxy->callMethod("RestartService")
          .onInterface(kDbusInterface)
          .withArguments(std::string("broken"))
          .storeResultsTo();
      FAIL("no error");
    } catch (const sdbus::Error& e) {
      CHECK(e.getName() == "org.berth.Agent1.Error.Failed");
      CHECK(e.getMessage() == "restart broken: container is being removed");
    }
    handler.throw_on_reload = true;
    try {
      proxy->callMethod("Reload").onInterface(kDbusInterface).storeResultsTo();
      FAIL("no error");
    } catch (const sdbus::Error& e) {
      CHECK(e.getName() == "org.berth.Agent1.Error.Failed");
      CHECK(e.getMessage() == "Reload: queue closed");
    }
  }

  service.stop();
  CHECK_FALSE(service.connected());
}

TEST_CASE("DbusService emits PropertiesChanged and ServiceChanged for what changed", "[dbus]") {
  if (!have_dbus_daemon()) BERTH_SKIP("dbus-daemon is not installed");
  berth::log::LogCapture logs;
  PrivateBus bus;
  bus.start();
  FakeHandler handler;
  DbusService service(handler, bus.address(), kFastRetry);
  service.publish(sample_snapshot());
  service.start();
  REQUIRE(wait_until([&] { return service.connected(); }));

  std::mutex mu;
  std::vector<std::string> service_signals;                // "name state health"
  std::vector<std::vector<std::string>> property_signals;  // changed names per signal
  std::string state_in_signal;

  auto conn = sdbus::createSessionBusConnectionWithAddress(bus.address());
  auto proxy = sdbus::createProxy(*conn, kDbusName, kDbusPath);
  proxy->uponSignal("ServiceChanged")
      .onInterface(kDbusInterface)
      .call([&](const std::string& n, const std::string& s, const std::string& h) {
        std::lock_guard<std::mutex> lock(mu);
        service_signals.push_back(n + " " + s + " " + h);
      });
  proxy->uponSignal("PropertiesChanged")
      .onInterface("org.freedesktop.DBus.Properties")
      .call([&](const std::string& iface, const std::map<std::string, sdbus::Variant>& changed,
                const std::vector<std::string>&) {
        if (iface != kDbusInterface) return;
        std::lock_guard<std::mutex> lock(mu);
        std::vector<std::string> names;
        for (const auto& [k, v] : changed) names.push_back(k);
        property_signals.push_back(names);
        if (changed.count("State")) state_in_signal = changed.at("State").get<std::string>();
      });
  proxy->finishRegistration();
  conn->enterEventLoopAsync();

  auto next = sample_snapshot();
  next.state = "degraded";
  next.services[0].health = "unhealthy";
  next.services[0].last_error = "health check failed";
  next.services[1].update_status = "stale";  // changes Services but not state/health
  next.services.push_back({"db", "r/db:1", "1", "", "missing", "none", "pulling", ""});
  service.publish(next);
  service.publish(next);  // unchanged: no signals

  REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mu);
    return service_signals.size() >= 2 && !property_signals.empty();
  }));
  next.services.erase(next.services.begin() + 1);  // "broken" leaves
  service.publish(next);
  REQUIRE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mu);
    return service_signals.size() >= 3 && property_signals.size() >= 2;
  }));
  std::this_thread::sleep_for(100ms);  // nothing else may arrive
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(service_signals ==
          std::vector<std::string>{"web running unhealthy", "db missing none", "broken removed "});
    REQUIRE(property_signals.size() == 2);
    CHECK(property_signals[0] == std::vector<std::string>{"Services", "State"});
    CHECK(property_signals[1] == std::vector<std::string>{"Services"});
    CHECK(state_in_signal == "degraded");
  }
  conn->leaveEventLoop();
  service.stop();
}

TEST_CASE("DbusService connects when the bus appears late and after the bus restarts", "[dbus]") {
  if (!have_dbus_daemon()) BERTH_SKIP("dbus-daemon is not installed");
  berth::log::LogCapture logs;
  PrivateBus bus;
  FakeHandler handler;
  DbusService service(handler, bus.address(), kFastRetry);
  service.publish(sample_snapshot());
  service.start();
  std::this_thread::sleep_for(400ms);  // several failed attempts
  CHECK_FALSE(service.connected());
  CHECK(logs.sink().count(spdlog::level::warn) == 1);  // one warning, not one per retry
  auto warnings = logs.sink().records();
  bool found = false;
  for (const auto& r : warnings) {
    if (r.level == spdlog::level::warn) {
      found =
          r.message.rfind("D-Bus: cannot connect to the D-Bus bus at " + bus.address(), 0) == 0 &&
          r.message.find("retrying every 50ms to 200ms in the background") != std::string::npos;
    }
  }
  CHECK(found);

  bus.start();
  REQUIRE(wait_until([&] { return service.connected(); }, 60s));
  auto status = dbus_call_status(bus.address());
  REQUIRE(status);
  CHECK(*status == R"({"state":"healthy"})");

  bus.stop();  // the bus goes away under a connected service: berth must survive
  REQUIRE(wait_until([&] { return !service.connected(); }, 60s));
  bus.start();
  REQUIRE(wait_until([&] { return service.connected(); }, 60s));
  CHECK(dbus_call_update(bus.address()));
  CHECK(handler.updates == 1);
  service.stop();
}

TEST_CASE("DbusService waits while another process owns the name", "[dbus]") {
  if (!have_dbus_daemon()) BERTH_SKIP("dbus-daemon is not installed");
  berth::log::LogCapture logs;
  PrivateBus bus;
  bus.start();
  FakeHandler first_handler, second_handler;
  DbusService first(first_handler, bus.address(), kFastRetry);
  first.start();
  REQUIRE(wait_until([&] { return first.connected(); }));
  DbusService second(second_handler, bus.address(), kFastRetry);
  second.start();
  std::this_thread::sleep_for(400ms);
  CHECK_FALSE(second.connected());
  CHECK(logs.sink().count(spdlog::level::warn) == 1);
  first.stop();
  REQUIRE(wait_until([&] { return second.connected(); }, 60s));
  CHECK(dbus_call_reload(bus.address()));
  CHECK(second_handler.reloads == 1);
  CHECK(first_handler.reloads == 0);
  second.stop();
}

TEST_CASE("D-Bus client helpers", "[dbus]") {
  if (!have_dbus_daemon()) BERTH_SKIP("dbus-daemon is not installed");
  berth::log::LogCapture logs;
  PrivateBus bus;
  bus.start();

  SECTION("no daemon on the bus") {
    auto r = dbus_call_status(bus.address());
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == berth::ErrorKind::unavailable);
    CHECK(r.error().message ==
          "berth daemon is not running (no owner of org.berth.Agent1 on "
          "D-Bus bus at " +
              bus.address() + ")");
    auto u = dbus_call_update(bus.address());
    REQUIRE_FALSE(u);
    CHECK(u.error().kind == berth::ErrorKind::unavailable);
  }

  SECTION("no bus at all") {
    auto r = dbus_call_reload("unix:path=/nonexistent/berth-test-bus");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == berth::ErrorKind::unavailable);
    CHECK(r.error().message.rfind(
              "cannot connect to the D-Bus bus at unix:path=/nonexistent/berth-test-bus: ", 0) ==
          0);
  }

  SECTION("with a daemon") {
    FakeHandler handler;
    DbusService service(handler, bus.address(), kFastRetry);
    service.publish(sample_snapshot());
    service.start();
    REQUIRE(wait_until([&] { return service.connected(); }));
    auto s = dbus_call_status(bus.address());
    REQUIRE(s);
    CHECK(*s == R"({"state":"healthy"})");
    CHECK(dbus_call_update(bus.address()));
    CHECK(dbus_call_reload(bus.address()));
    CHECK(dbus_call_restart(bus.address(), "web"));
    auto unknown = dbus_call_restart(bus.address(), "nope");
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().kind == berth::ErrorKind::not_found);
    CHECK(unknown.error().message == "no service named 'nope' in berth's configuration");
    auto broken = dbus_call_restart(bus.address(), "broken");
    REQUIRE_FALSE(broken);
    CHECK(broken.error().message ==
          "org.berth.Agent1.RestartService failed: restart broken: container is being removed");
    CHECK(handler.updates == 1);
    CHECK(handler.reloads == 1);
    CHECK(handler.restart_calls() == std::vector<std::string>{"web", "broken"});
    service.stop();
  }

  SECTION("a daemon that does not answer in time") {
    FakeHandler handler;
    handler.slow_update = true;
    DbusService service(handler, bus.address(), kFastRetry);
    service.start();
    REQUIRE(wait_until([&] { return service.connected(); }));
    // The daemon got the call and never answers until released: the CLI gives up on its own.
    auto r = dbus_call_update(bus.address());
    handler.release_update = true;
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == berth::ErrorKind::timeout);
    CHECK(r.error().message == "berth daemon did not answer org.berth.Agent1.Update within 2s");
    CHECK(wait_until([&] { return handler.updates == 1; }));
    service.stop();
  }

  SECTION("BERTH_DBUS_ADDRESS selects the bus") {
    ::setenv("BERTH_DBUS_ADDRESS", bus.address().c_str(), 1);
    CHECK(dbus_default_bus() == bus.address());
    ::unsetenv("BERTH_DBUS_ADDRESS");
    CHECK(dbus_default_bus() == "system");
  }
}
