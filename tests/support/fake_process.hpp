// Test support: run the python fakes (tests/fakes/*.py) and other helper commands as child
// processes. Header-only; used by tests/unit/agent and tests/integration.
//
// A FakeProcess starts `/usr/bin/python3 tests/fakes/<script> ... --exit-on-eof`, reads the
// port from the first stdout line, and stops the fake when destroyed (stdin EOF, then SIGTERM,
// then SIGKILL). PR_SET_PDEATHSIG makes a fake die with a crashed test as well.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "net/http.hpp"

namespace berth::test {

inline std::string source_dir() {
#ifdef BERTH_SOURCE_DIR
  return BERTH_SOURCE_DIR;
#else
  return std::filesystem::weakly_canonical(std::filesystem::path(__FILE__).parent_path() / "../..")
      .string();
#endif
}
inline std::string fakes_dir() {
  return source_dir() + "/tests/fakes";
}

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

namespace detail {
inline pid_t spawn(const std::vector<std::string>& argv, int* stdin_fd, int* stdout_fd,
                   const std::vector<std::string>& extra_env = {}) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    for (const auto& e : extra_env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  *stdin_fd = in[1];
  *stdout_fd = out[0];
  return pid;
}

// waitpid with a deadline; true when reaped.
inline bool wait_for(pid_t pid, int* status, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid || r < 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

inline void stop(pid_t pid) {
  int status = 0;
  if (wait_for(pid, &status, std::chrono::milliseconds(3000))) return;
  ::kill(pid, SIGTERM);
  if (wait_for(pid, &status, std::chrono::milliseconds(3000))) return;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
}
}  // namespace detail

// Runs a command to completion (bounded), capturing stdout; stderr is inherited.
inline CommandResult run_command(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(120),
                                 const std::vector<std::string>& extra_env = {}) {
  int in = -1, out = -1;
  pid_t pid = detail::spawn(argv, &in, &out, extra_env);
  ::close(in);
  CommandResult r;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{out, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::read(out, buf, sizeof buf);
    if (n <= 0) break;
    r.out.append(buf, static_cast<size_t>(n));
  }
  ::close(out);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class FakeProcess {
 public:
  // script: file name in tests/fakes ("fake_ecr.py"); args: its options.
  FakeProcess(const std::string& script, std::vector<std::string> args,
              std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::vector<std::string> argv{"/usr/bin/python3", fakes_dir() + "/" + script};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--exit-on-eof");
    pid_ = detail::spawn(argv, &stdin_fd_, &stdout_fd_, {"PYTHONDONTWRITEBYTECODE=1"});
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (line.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{stdout_fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char c;
      if (::read(stdout_fd_, &c, 1) != 1) break;
      line.push_back(c);
    }
    try {
      port_ = std::stoi(line);
    } catch (...) {
      port_ = 0;
    }
    if (port_ <= 0) {
      shutdown();
      throw std::runtime_error(script + " did not report a port (got \"" + line + "\")");
    }
  }
  ~FakeProcess() { shutdown(); }
  FakeProcess(const FakeProcess&) = delete;
  FakeProcess& operator=(const FakeProcess&) = delete;

  int port() const { return port_; }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + addr(); }

  // GET (body null) or POST JSON to /_control/<verb>; returns the JSON answer.
  nlohmann::json control(const std::string& verb, const nlohmann::json& body = nullptr) {
    net::Client client;
    net::Request req;
    req.url = url() + "/_control/" + verb;
    if (!body.is_null()) {
      req.method = "POST";
      req.body = body.dump();
    }
    auto resp = client.perform(req);
    if (!resp || resp->status != 200) throw std::runtime_error("control " + verb + " failed");
    return nlohmann::json::parse(resp->body);
  }

 private:
  void shutdown() {
    if (pid_ <= 0) return;
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    detail::stop(pid_);
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    pid_ = -1;
    stdin_fd_ = stdout_fd_ = -1;
  }
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
};

}  // namespace berth::test
