#include "daemon/dbus_client.hpp"

#include <cstdlib>

#include "daemon/dbus_bus.hpp"
#include "daemon/dbus_service.hpp"

namespace berth::daemon {
namespace {

Error map_error(const sdbus::Error& e, const std::string& bus, const std::string& method) {
  const std::string& name = e.getName();
  const std::string cause = e.getMessage().empty() ? name : e.getMessage();
  const std::string full = std::string(kDbusInterface) + "." + method;
  if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
      name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
    return Error{ErrorKind::unavailable, "berth daemon is not running (no owner of " +
                                             std::string(kDbusName) + " on " +
                                             describe_bus(bus).substr(4) + ")"};
  }
  if (name == "org.freedesktop.DBus.Error.AccessDenied") {
    return Error{ErrorKind::auth, "permission denied calling " + full + " on " + describe_bus(bus) +
                                      " (allowed for root only): " + cause};
  }
  if (name == "org.freedesktop.DBus.Error.NoReply" ||
      name == "org.freedesktop.DBus.Error.Timeout" || name == "System.Error.ETIMEDOUT") {
    return Error{ErrorKind::timeout, "berth daemon did not answer " + full + " within " +
                                         std::to_string(kDbusCallTimeout.count()) + "s"};
  }
  if (name == kDbusErrorUnknownService) return Error{ErrorKind::not_found, cause};
  return Error{ErrorKind::generic, full + " failed: " + cause};
}

template <typename F>
auto with_proxy(const std::string& bus, const std::string& method, F&& f)
    -> Result<decltype(f(std::declval<sdbus::IProxy&>()))> {
  std::unique_ptr<sdbus::IConnection> conn;
  try {
    conn = open_bus(bus);
  } catch (const sdbus::Error& e) {
    return fail("cannot connect to " + describe_bus(bus) + ": " + e.getMessage(),
                ErrorKind::unavailable);
  }
  try {
    // A proxy on a connection we own and do not run a loop on: synchronous calls only.
    auto proxy = sdbus::createProxy(*conn, kDbusName, kDbusPath);
    if constexpr (std::is_void_v<decltype(f(*proxy))>) {
      f(*proxy);
      return {};
    } else {
      return f(*proxy);
    }
  } catch (const sdbus::Error& e) {
    return fail(map_error(e, bus, method));
  }
}

}  // namespace

std::string dbus_default_bus() {
  const char* addr = std::getenv("BERTH_DBUS_ADDRESS");
  if (addr != nullptr && addr[0] != '\0') return addr;
  return "system";
}

Result<std::string> dbus_call_status(const std::string& bus) {
  return with_proxy(bus, "Status", [](sdbus::IProxy& p) {
    std::string json;
    p.callMethod("Status")
        .onInterface(kDbusInterface)
        .withTimeout(kDbusCallTimeout)
        .storeResultsTo(json);
    return json;
  });
}

Result<void> dbus_call_update(const std::string& bus) {
  return with_proxy(bus, "Update", [](sdbus::IProxy& p) {
    p.callMethod("Update")
        .onInterface(kDbusInterface)
        .withTimeout(kDbusCallTimeout)
        .storeResultsTo();
  });
}

Result<void> dbus_call_reload(const std::string& bus) {
  return with_proxy(bus, "Reload", [](sdbus::IProxy& p) {
    p.callMethod("Reload")
        .onInterface(kDbusInterface)
        .withTimeout(kDbusCallTimeout)
        .storeResultsTo();
  });
}

Result<void> dbus_call_restart(const std::string& bus, const std::string& service) {
  return with_proxy(bus, "RestartService", [&](sdbus::IProxy& p) {
    p.callMethod("RestartService")
        .onInterface(kDbusInterface)
        .withTimeout(kDbusCallTimeout)
        .withArguments(service)
        .storeResultsTo();
  });
}

}  // namespace berth::daemon
