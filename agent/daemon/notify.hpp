// sd_notify(3) for berth run: readiness, reload/stop, status line, watchdog pings.
// Every call is a no-op when NOTIFY_SOCKET is unset (berth run from a terminal, berth up).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace berth::daemon {

class Notifier {
 public:
  // Reads NOTIFY_SOCKET once; the environment is left as it is.
  Notifier();

  bool enabled() const { return enabled_; }

  void ready();      // READY=1
  void reloading();  // RELOADING=1 + MONOTONIC_USEC=<CLOCK_MONOTONIC now>; call ready()
                     // when the reload is done
  void stopping();   // STOPPING=1
  void status(const std::string& text);                 // STATUS=<text>; not resent when unchanged
  void watchdog();                                      // WATCHDOG=1
  void extend_timeout(std::chrono::microseconds usec);  // EXTEND_TIMEOUT_USEC=<usec>

  // How often to call watchdog(): half of WatchdogSec= (sd_watchdog_enabled()), or nullopt when
  // systemd does not expect pings (no WATCHDOG_USEC, or WATCHDOG_PID names another process).
  std::optional<std::chrono::microseconds> watchdog_interval() const;

  // The exact datagram sent for reloading() at `monotonic_usec` (exposed for tests).
  static std::string reloading_message(std::uint64_t monotonic_usec);

 private:
  bool send(const std::string& message);

  bool enabled_ = false;
  std::mutex mu_;
  std::optional<std::string> last_status_;
};

}  // namespace berth::daemon
