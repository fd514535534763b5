#include "daemon/dbus_bus.hpp"

namespace berth::daemon {

std::unique_ptr<sdbus::IConnection> open_bus(const std::string& bus) {
  if (bus == "system") return sdbus::createSystemBusConnection();
  if (bus == "session") return sdbus::createSessionBusConnection();
  return sdbus::createSessionBusConnectionWithAddress(bus);
}

std::string describe_bus(const std::string& bus) {
  if (bus == "system") return "the system bus";
  if (bus == "session") return "the session bus";
  return "the D-Bus bus at " + bus;
}

}  // namespace berth::daemon
