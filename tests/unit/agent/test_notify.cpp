#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "daemon/notify.hpp"

using berth::daemon::Notifier;

namespace {

// An AF_UNIX datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  NotifySocket() {
    char tmpl[] = "/tmp/berth-notify-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    timeval tv{0, 200 * 1000};  // every receive is bounded
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  std::optional<std::string> receive() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  std::string dir_, path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("Notifier sends the exact sd_notify messages", "[notify]") {
  NotifySocket sock;
  Notifier n;
  REQUIRE(n.enabled());

  n.ready();
  CHECK(sock.receive() == "READY=1");
  n.stopping();
  CHECK(sock.receive() == "STOPPING=1");
  n.watchdog();
  CHECK(sock.receive() == "WATCHDOG=1");
  n.extend_timeout(std::chrono::seconds(90));
  CHECK(sock.receive() == "EXTEND_TIMEOUT_USEC=90000000");

  n.reloading();
  auto msg = sock.receive();
  REQUIRE(msg);
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  REQUIRE(msg->rfind(prefix, 0) == 0);
  const std::string usec = msg->substr(prefix.size());
  REQUIRE(!usec.empty());
  CHECK(usec.find_first_not_of("0123456789") == std::string::npos);
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  CHECK(std::stoull(usec) <= static_cast<unsigned long long>(ts.tv_sec) * 1000000ull +
                                 static_cast<unsigned long long>(ts.tv_nsec) / 1000ull);
  CHECK(Notifier::reloading_message(42) == "RELOADING=1\nMONOTONIC_USEC=42");
}

TEST_CASE("Notifier does not resend an unchanged status", "[notify]") {
  NotifySocket sock;
  Notifier n;
  n.status("converging: 0/2 services");
  CHECK(sock.receive() == "STATUS=converging: 0/2 services");
  n.status("converging: 0/2 services");
  n.status("healthy: 2/2 services");
  CHECK(sock.receive() == "STATUS=healthy: 2/2 services");  // the duplicate was not sent
  n.status("converging: 0/2 services");
  CHECK(sock.receive() == "STATUS=converging: 0/2 services");
  CHECK_FALSE(sock.receive());
}

TEST_CASE("Notifier is a no-op without NOTIFY_SOCKET", "[notify]") {
  ::unsetenv("NOTIFY_SOCKET");
  Notifier n;
  CHECK_FALSE(n.enabled());
  n.ready();
  n.status("x");
  n.watchdog();  // nothing to assert but that nothing breaks
}

TEST_CASE("Notifier::watchdog_interval is half of WATCHDOG_USEC", "[notify]") {
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
  Notifier n;
  CHECK_FALSE(n.watchdog_interval());
  ::setenv("WATCHDOG_USEC", "60000000", 1);
  CHECK(n.watchdog_interval() == std::chrono::microseconds(30000000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  CHECK(n.watchdog_interval() == std::chrono::microseconds(30000000));
  ::setenv("WATCHDOG_PID", "1", 1);  // meant for another process
  CHECK_FALSE(n.watchdog_interval());
  ::unsetenv("WATCHDOG_PID");
  ::unsetenv("WATCHDOG_USEC");
}
