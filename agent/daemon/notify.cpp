#include "daemon/notify.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <ctime>

#include "util/result.hpp"

namespace berth::daemon {
namespace {

std::uint64_t monotonic_now_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

Notifier::Notifier() {
  const char* sock = std::getenv("NOTIFY_SOCKET");
  enabled_ = sock != nullptr && sock[0] != '\0';
}

bool Notifier::send(const std::string& message) {
  if (!enabled_) return false;
  const int r = sd_notify(0, message.c_str());
  if (r < 0) {
    spdlog::debug("sd_notify failed: {}", berth::errno_text(-r));
    return false;
  }
  return r > 0;
}

void Notifier::ready() {
  send("READY=1");
}

std::string Notifier::reloading_message(std::uint64_t monotonic_usec) {
  // systemd >= 253 (Type=notify-reload) wants MONOTONIC_USEC= with RELOADING=1 to tell one
  // reload from the next; systemd 252 ignores the unknown field.
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec);
}

void Notifier::reloading() {
  send(reloading_message(monotonic_now_usec()));
}

void Notifier::stopping() {
  send("STOPPING=1");
}

void Notifier::status(const std::string& text) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!enabled_ || (last_status_ && *last_status_ == text)) return;
  if (send("STATUS=" + text)) last_status_ = text;
}

void Notifier::watchdog() {
  send("WATCHDOG=1");
}

void Notifier::extend_timeout(std::chrono::microseconds usec) {
  send("EXTEND_TIMEOUT_USEC=" + std::to_string(usec.count()));
}

std::optional<std::chrono::microseconds> Notifier::watchdog_interval() const {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(static_cast<std::int64_t>(usec / 2));
}

}  // namespace berth::daemon
