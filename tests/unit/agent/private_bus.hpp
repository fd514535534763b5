// A private dbus-daemon for tests (never the real system or session bus).
#pragma once

#include <fcntl.h>
#include <sdbus-c++/sdbus-c++.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

extern char** environ;

namespace berth_test {

using namespace std::chrono_literals;

inline bool have_dbus_daemon() {
  return ::access("/usr/bin/dbus-daemon", X_OK) == 0;
}

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// A permissive session-type bus.
inline const char* kSessionBusConfig =
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig><type>session</type><listen>@ADDRESS@</listen><auth>EXTERNAL</auth>"
    "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
    "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n";

// A dbus-daemon on a unix socket in a temporary directory; the address is known before the
// daemon runs, so a service can be pointed at a bus that appears later. `config` is the bus
// configuration with @ADDRESS@ where the <listen> address goes.
class PrivateBus {
 public:
  explicit PrivateBus(std::string config = kSessionBusConfig) {
    char tmpl[] = "/tmp/berth-dbus-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0755);  // reachable by the unprivileged clients of policy tests
    socket_ = dir_ + "/bus";
    address_ = "unix:path=" + socket_;
    const std::string marker = "@ADDRESS@";
    config.replace(config.find(marker), marker.size(), address_);
    std::ofstream(dir_ + "/bus.conf") << config;
  }
  ~PrivateBus() {
    stop();
    std::filesystem::remove_all(dir_);
  }
  PrivateBus(const PrivateBus&) = delete;
  PrivateBus& operator=(const PrivateBus&) = delete;

  const std::string& address() const { return address_; }
  const std::string& dir() const { return dir_; }

  void start() {
    REQUIRE(pid_ <= 0);
    std::filesystem::remove(socket_);
    const std::string conf = "--config-file=" + dir_ + "/bus.conf";
    const char* argv[] = {"dbus-daemon", conf.c_str(), "--nofork", "--nopidfile", nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    const int rc = ::posix_spawn(&pid_, "/usr/bin/dbus-daemon", &actions, nullptr,
                                 const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
    REQUIRE(wait_until([&] {
      try {
        auto c = sdbus::createSessionBusConnectionWithAddress(address_);
        return true;
      } catch (const sdbus::Error&) {
        return false;
      }
    }));
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  std::string dir_, socket_, address_;
  pid_t pid_ = -1;
};

}  // namespace berth_test
