// Calls to a running berth daemon over D-Bus, for `berth status|update|reload`.
#pragma once

#include <chrono>
#include <string>

#include "util/result.hpp"

namespace berth::daemon {

// How long a CLI call waits for the daemon's answer.
inline constexpr std::chrono::seconds kDbusCallTimeout{2};

// The bus the CLI talks to: $BERTH_DBUS_ADDRESS (an address, for tests) if set, else "system".
std::string dbus_default_bus();

// Errors (Error::message, kind):
//   no daemon         "berth daemon is not running (no owner of org.berth.Agent1 on the system
//                      bus)"                                                       unavailable
//   no bus            "cannot connect to the system bus: <cause>"                  unavailable
//   denied by policy  "permission denied calling org.berth.Agent1.Update on the system bus
//                      (allowed for root only): <cause>"                           auth
//   no answer in 2 s  "berth daemon did not answer org.berth.Agent1.Update within 2s"  timeout
//   unknown service   the daemon's message                                         not_found
//   anything else     "org.berth.Agent1.X failed: <cause>"                         generic
Result<std::string> dbus_call_status(const std::string& bus = dbus_default_bus());
Result<void> dbus_call_update(const std::string& bus = dbus_default_bus());
Result<void> dbus_call_reload(const std::string& bus = dbus_default_bus());
Result<void> dbus_call_restart(const std::string& bus, const std::string& service);

}  // namespace berth::daemon
