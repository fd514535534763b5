// Opening a D-Bus connection from berth's bus selector (shared by the service and the client).
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <memory>
#include <string>

namespace berth::daemon {

// "system" | "session" | an address such as "unix:path=/tmp/x/bus". Throws sdbus::Error.
std::unique_ptr<sdbus::IConnection> open_bus(const std::string& bus);

// "the system bus", "the session bus", "the D-Bus bus at unix:path=..." for messages.
std::string describe_bus(const std::string& bus);

}  // namespace berth::daemon
