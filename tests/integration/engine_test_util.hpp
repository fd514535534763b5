// Helpers for the engine integration tests (real dockerd / podman). Test-only: shelling out to
// the docker and podman CLIs for fixtures is fine here, never in the agent.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>

namespace tengine {

inline int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

inline std::string sh_out(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// A unique suffix per process so parallel or leftover runs never collide.
inline const std::string& uniq() {
  static const std::string u = [] {
    std::random_device rd;
    return std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000);
  }();
  return u;
}

inline std::filesystem::path temp_dir(const std::string& what) {
  auto p = std::filesystem::temp_directory_path() / ("t-engine-" + what + "-" + uniq());
  std::filesystem::create_directories(p);
  return p;
}

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
}

inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// Poll `cond` every 50 ms until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& cond,
                       std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

// A context directory with /bin/busybox (busybox-static) and the given Dockerfile lines after
// FROM scratch + COPY.
inline std::filesystem::path busybox_context(const std::string& what, const std::string& extra) {
  auto dir = temp_dir(what);
  std::filesystem::copy_file("/bin/busybox", dir / "busybox",
                             std::filesystem::copy_options::overwrite_existing);
  write_file(dir / "Dockerfile",
             "FROM scratch\nCOPY busybox /bin/busybox\n"
             "CMD [\"/bin/busybox\", \"sleep\", \"3600\"]\n" +
                 extra);
  return dir;
}

}  // namespace tengine
