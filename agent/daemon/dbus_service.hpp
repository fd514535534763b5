// berth's D-Bus object org.berth.Agent1 at /org/berth/Agent1 (systemd/org.berth.Agent1.xml).
//
// The handlers never touch Docker or the network: method calls go to a DbusHandler (which posts
// to the reconciler's queue) and property reads come from the last published DbusSnapshot.
// The bus is optional for berth: DbusService connects in the background and keeps retrying
// (backoff 5 s .. 60 s) while the bus is absent, the name cannot be owned or the bus went away.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace berth::daemon {

inline constexpr const char* kDbusName = "org.berth.Agent1";
inline constexpr const char* kDbusPath = "/org/berth/Agent1";
inline constexpr const char* kDbusInterface = "org.berth.Agent1";
inline constexpr const char* kDbusErrorUnknownService = "org.berth.Agent1.Error.UnknownService";
inline constexpr const char* kDbusErrorFailed = "org.berth.Agent1.Error.Failed";

// One element of the Services property, a(ssssssss).
struct DbusServiceRow {
  std::string name;
  std::string image;          // as configured (repository:tag or @digest)
  std::string requested_tag;  // "latest", a SHA tag, or "" when pinned by digest
  std::string digest;         // running digest, "" when none
  std::string state;          // running | exited | missing | ...
  std::string health;         // healthy | unhealthy | starting | none
  std::string update_status;  // up_to_date | pulling | updating | rolled_back | failed | stale
  std::string last_error;     // "" when none; never contains a secret
  bool operator==(const DbusServiceRow&) const = default;
};

struct DbusSnapshot {
  std::string state = "starting";  // starting | converging | healthy | degraded | failed
  std::string config_version;
  std::uint64_t last_converge_usec = 0;  // microseconds since the epoch, 0 = never
  std::vector<DbusServiceRow> services;
  std::string status_json = "{}";  // returned verbatim by Status()
};

class DbusHandler {
 public:
  virtual ~DbusHandler() = default;
  // Called on the D-Bus thread: must only post work and return quickly.
  virtual void request_update() = 0;
  virtual void request_reload() = 0;
  // `service` is known to be in the published snapshot; an error becomes the D-Bus error
  // org.berth.Agent1.Error.Failed with the error's message.
  virtual Result<void> request_restart(const std::string& service) = 0;
};

struct DbusOptions {
  std::chrono::milliseconds retry_initial{5000};  // first retry after this
  std::chrono::milliseconds retry_max{60000};     // doubling up to this
};

class DbusService {
 public:
  // bus: "system" | "session" | a D-Bus address ("unix:path=/run/x/bus", for tests).
  DbusService(DbusHandler& handler, std::string bus, DbusOptions options = {});
  ~DbusService();  // stop()
  DbusService(const DbusService&) = delete;
  DbusService& operator=(const DbusService&) = delete;

  // Starts the background thread that connects, owns org.berth.Agent1, exports the object and
  // runs the D-Bus event loop; reconnects with backoff. One warning per outage, not per retry.
  void start();
  // Releases the name and joins the thread. Idempotent.
  void stop();
  // Thread-safe. Replaces the snapshot; when connected, emits PropertiesChanged for the
  // properties that changed and ServiceChanged(name, state, health) for every service that is
  // new or whose state or health changed (state "removed", health "" for services that left).
  void publish(const DbusSnapshot& snapshot);
  // True while the name is owned and the object exported.
  bool connected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::daemon
