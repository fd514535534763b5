#include "daemon/dbus_service.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "berth-adaptor.h"
#include "daemon/dbus_bus.hpp"

namespace berth::daemon {
namespace {

using ServiceStruct = sdbus::Struct<std::string, std::string, std::string, std::string, std::string,
                                    std::string, std::string, std::string>;

// What the D-Bus thread reads: the handler and the last published snapshot.
struct Shared {
  explicit Shared(DbusHandler& h) : handler(h) {}
  DbusHandler& handler;
  mutable std::mutex mu;
  DbusSnapshot snapshot;
};

std::string format_duration_ms(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

class AgentObject final : public sdbus::AdaptorInterfaces<org::berth::Agent1_adaptor> {
 public:
  AgentObject(sdbus::IConnection& connection, Shared& shared)
      : AdaptorInterfaces(connection, kDbusPath), shared_(shared) {
    registerAdaptor();
  }
  ~AgentObject() { unregisterAdaptor(); }
  AgentObject(const AgentObject&) = delete;
  AgentObject& operator=(const AgentObject&) = delete;

  void emit_properties_changed(const std::vector<std::string>& names) {
    getObject().emitPropertiesChangedSignal(kDbusInterface, names);
  }

 private:
  std::string sender() const {
    const auto* msg = getObject().getCurrentlyProcessedMessage();
    return msg != nullptr ? msg->getSender() : std::string("?");
  }

  // Handlers run on the D-Bus thread; anything but sdbus::Error escaping them would cross the
  // sd-bus C callback, so every other exception becomes org.berth.Agent1.Error.Failed.
  template <typename F>
  static auto guarded(const char* what, F&& f) {
    try {
      return f();
    } catch (const sdbus::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw sdbus::Error(kDbusErrorFailed, std::string(what) + ": " + e.what());
    }
  }

  std::string Status() override {
    std::lock_guard<std::mutex> lock(shared_.mu);
    return shared_.snapshot.status_json;
  }

  void Update() override {
    spdlog::info("update requested over D-Bus by {}", sender());
    guarded("Update", [&] { shared_.handler.request_update(); });
  }

  void Reload() override {
    spdlog::info("reload requested over D-Bus by {}", sender());
    guarded("Reload", [&] { shared_.handler.request_reload(); });
  }

  void RestartService(const std::string& name) override {
    {
      std::lock_guard<std::mutex> lock(shared_.mu);
      const auto& rows = shared_.snapshot.services;
      const bool known = std::any_of(rows.begin(), rows.end(),
                                     [&](const DbusServiceRow& r) { return r.name == name; });
      if (!known) {
        throw sdbus::Error(kDbusErrorUnknownService,
                           "no service named '" + name + "' in berth's configuration");
      }
    }
    spdlog::info("restart of service {} requested over D-Bus by {}", name, sender());
    guarded("RestartService", [&] {
      auto r = shared_.handler.request_restart(name);
      if (!r) throw sdbus::Error(kDbusErrorFailed, "restart " + name + ": " + r.error().message);
    });
  }

  std::string State() override {
    std::lock_guard<std::mutex> lock(shared_.mu);
    return shared_.snapshot.state;
  }

  std::string ConfigVersion() override {
    std::lock_guard<std::mutex> lock(shared_.mu);
    return shared_.snapshot.config_version;
  }

  uint64_t LastConvergeTime() override {
    std::lock_guard<std::mutex> lock(shared_.mu);
    return shared_.snapshot.last_converge_usec;
  }

  std::vector<ServiceStruct> Services() override {
    std::lock_guard<std::mutex> lock(shared_.mu);
    std::vector<ServiceStruct> out;
    out.reserve(shared_.snapshot.services.size());
    for (const auto& r : shared_.snapshot.services) {
      out.emplace_back(r.name, r.image, r.requested_tag, r.digest, r.state, r.health,
                       r.update_status, r.last_error);
    }
    return out;
  }

  Shared& shared_;
};

struct ServiceSignal {
  std::string name, state, health;
};

std::vector<ServiceSignal> changed_services(const std::vector<DbusServiceRow>& before,
                                            const std::vector<DbusServiceRow>& after) {
  std::vector<ServiceSignal> out;
  for (const auto& row : after) {
    auto it = std::find_if(before.begin(), before.end(),
                           [&](const DbusServiceRow& b) { return b.name == row.name; });
    if (it == before.end() || it->state != row.state || it->health != row.health) {
      out.push_back({row.name, row.state, row.health});
    }
  }
  for (const auto& row : before) {
    const bool still = std::any_of(after.begin(), after.end(),
                                   [&](const DbusServiceRow& a) { return a.name == row.name; });
    if (!still) out.push_back({row.name, "removed", ""});
  }
  return out;
}

}  // namespace

struct DbusService::Impl {
  Impl(DbusHandler& handler, std::string bus_, DbusOptions options_)
      : shared(handler), bus(std::move(bus_)), options(options_) {}

  void run();
  void emit(const std::vector<std::string>& properties, const std::vector<ServiceSignal>& signals);

  Shared shared;
  const std::string bus;
  const DbusOptions options;

  std::mutex publish_mu;  // serialises publishers so signals go out in publish order

  // conn/object are created and destroyed only by the worker thread, under conn_mu; other
  // threads use them (emit, leaveEventLoop) only under conn_mu.
  std::mutex conn_mu;
  std::unique_ptr<sdbus::IConnection> conn;
  std::unique_ptr<AgentObject> object;

  std::atomic<bool> connected{false};
  std::atomic<bool> stopping{false};
  std::mutex wait_mu;
  std::condition_variable wait_cv;
  std::thread worker;
};

void DbusService::Impl::run() {
  auto delay = options.retry_initial;
  bool warned = false;  // one warning per outage
  const std::string where = describe_bus(bus);
  const std::string retry_text = "retrying every " + format_duration_ms(options.retry_initial) +
                                 " to " + format_duration_ms(options.retry_max) +
                                 " in the background; berth keeps running";
  while (!stopping) {
    std::string stage = "connect to " + where;
    std::string failure;
    bool was_connected = false;
    try {
      auto c = open_bus(bus);
      stage = "own " + std::string(kDbusName) + " on " + where;
      c->requestName(kDbusName);
      stage = "export " + std::string(kDbusPath) + " on " + where;
      auto o = std::make_unique<AgentObject>(*c, shared);
      {
        std::lock_guard<std::mutex> lock(conn_mu);
        if (stopping) break;  // c and o are destroyed on the way out
        conn = std::move(c);
        object = std::move(o);
      }
      connected = true;
      was_connected = true;
      if (warned) {
        spdlog::info("D-Bus: now owning {} on {}", kDbusName, where);
      } else {
        spdlog::debug("D-Bus: owning {} on {}", kDbusName, where);
      }
      warned = false;
      delay = options.retry_initial;
      // Blocks until stop() calls leaveEventLoop(); throws when the bus goes away (the reason
      // this runs in our own thread rather than enterEventLoopAsync(): an exception in that
      // internal thread would terminate berth).
      conn->enterEventLoop();
    } catch (const sdbus::Error& e) {
      failure = e.getMessage().empty() ? e.getName() : e.getMessage();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    connected = false;
    {
      std::lock_guard<std::mutex> lock(conn_mu);
      try {
        object.reset();
        conn.reset();
      } catch (const std::exception& e) {
        spdlog::debug("D-Bus: teardown: {}", e.what());
      }
    }
    if (stopping) break;
    if (was_connected) {
      spdlog::warn("D-Bus: lost {} on {}: {}; {}", kDbusName, where, failure, retry_text);
      warned = true;
    } else if (!warned) {
      spdlog::warn("D-Bus: cannot {}: {}; {}", stage, failure, retry_text);
      warned = true;
    } else {
      spdlog::debug("D-Bus: cannot {}: {}; next try in {}", stage, failure,
                    format_duration_ms(delay));
    }
    std::unique_lock<std::mutex> lock(wait_mu);
    wait_cv.wait_for(lock, delay, [&] { return stopping.load(); });
    delay = std::min(delay * 2, options.retry_max);
  }
  connected = false;
}

void DbusService::Impl::emit(const std::vector<std::string>& properties,
                             const std::vector<ServiceSignal>& signals) {
  std::lock_guard<std::mutex> lock(conn_mu);
  if (!object || !connected) return;
  try {
    if (!properties.empty()) {
      object->emit_properties_changed(properties);
    }
    for (const auto& s : signals) object->emitServiceChanged(s.name, s.state, s.health);
  } catch (const sdbus::Error& e) {
    // The worker notices a dead connection itself and reconnects.
    spdlog::debug("D-Bus: emitting signals failed: {}", e.getMessage());
  }
}

DbusService::DbusService(DbusHandler& handler, std::string bus, DbusOptions options)
    : impl_(std::make_unique<Impl>(handler, std::move(bus), options)) {}

DbusService::~DbusService() {
  stop();
}

void DbusService::start() {
  if (impl_->worker.joinable()) return;
  impl_->stopping = false;
  impl_->worker = std::thread([this] {
    pthread_setname_np(pthread_self(), "berth-dbus");
    impl_->run();
  });
}

void DbusService::stop() {
  if (!impl_->worker.joinable()) return;
  impl_->stopping = true;
  {
    std::lock_guard<std::mutex> lock(impl_->conn_mu);
    if (impl_->conn) {
      try {
        impl_->conn->leaveEventLoop();
      } catch (const std::exception& e) {
        spdlog::debug("D-Bus: leaving the event loop: {}", e.what());
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(impl_->wait_mu);
    impl_->wait_cv.notify_all();
  }
  impl_->worker.join();
}

void DbusService::publish(const DbusSnapshot& snapshot) {
  std::lock_guard<std::mutex> publishing(impl_->publish_mu);
  std::vector<std::string> properties;
  std::vector<ServiceSignal> signals;
  {
    std::lock_guard<std::mutex> lock(impl_->shared.mu);
    const DbusSnapshot& old = impl_->shared.snapshot;
    if (old.state != snapshot.state) properties.emplace_back("State");
    if (old.config_version != snapshot.config_version) properties.emplace_back("ConfigVersion");
    if (old.last_converge_usec != snapshot.last_converge_usec) {
      properties.emplace_back("LastConvergeTime");
    }
    if (old.services != snapshot.services) properties.emplace_back("Services");
    signals = changed_services(old.services, snapshot.services);
    impl_->shared.snapshot = snapshot;
  }
  if (!properties.empty() || !signals.empty()) impl_->emit(properties, signals);
}

bool DbusService::connected() const {
  return impl_->connected;
}

}  // namespace berth::daemon
