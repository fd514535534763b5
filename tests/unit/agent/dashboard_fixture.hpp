// Test helpers for the reporter tests: a scratch directory, an in-memory log capture and the
// fake dashboard (tests/fakes/dashboard.py) run as a subprocess with /usr/bin/python3.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/status.hpp"
#include "net/http.hpp"

extern char** environ;

namespace berth::test {

using nlohmann::json;
using namespace std::chrono_literals;

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "berth-report-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

inline void write_text(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream f(path, std::ios::trunc);
    f << text;
  }
  ::chmod(path.c_str(), mode);
}

// Captures everything spdlog logs (default logger) while alive.
class MemorySink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard lk(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    text_.append(buf.data(), buf.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

class LogCapture {
 public:
  LogCapture() {
    sink_ = std::make_shared<MemorySink>();
    sink_->set_pattern("[%l] %v");
    previous_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string text() { return sink_->text(); }

 private:
  std::shared_ptr<MemorySink> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

inline std::string fakes_dir() {
  return (std::filesystem::path(BERTH_SOURCE_DIR) / "tests" / "fakes").string();
}

// Runs a python script from tests/fakes (or any path) and waits for its --port-file.
class PyServer {
 public:
  PyServer(const std::string& script, std::vector<std::string> args, int port = 0) {
    port_file_ = dir_ / "port";
    std::vector<std::string> argv = {"/usr/bin/python3",   script,        "--port",
                                     std::to_string(port), "--port-file", port_file_};
    for (auto& a : args) argv.push_back(std::move(a));
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("cannot start " + script);
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream f(port_file_);
      int p = 0;
      if (f >> p && p > 0) {
        port_ = p;
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error(script + " exited before listening");
      }
      std::this_thread::sleep_for(10ms);
    }
    stop();
    throw std::runtime_error(script + " did not start listening");
  }
  ~PyServer() { stop(); }
  PyServer(const PyServer&) = delete;
  PyServer& operator=(const PyServer&) = delete;

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  TempDir dir_;
  std::string port_file_;
  pid_t pid_ = -1;
  int port_ = 0;
};

class FakeDashboard {
 public:
  explicit FakeDashboard(const std::string& token = "", int port = 0,
                         const json& initial_mode = json())
      : server_(fakes_dir() + "/dashboard.py", args(token, initial_mode), port) {}
  int port() const { return server_.port(); }
  std::string base() const { return server_.base(); }
  void stop() { server_.stop(); }

  json received() {
    auto r = call("GET", "/_received", "");
    return json::parse(r.body);
  }
  void mode(const json& m) { call("POST", "/_mode", m.dump()); }
  void put_desired(const std::string& body) { call("PUT", "/_desired", body); }
  void delete_desired() { call("DELETE", "/_desired", ""); }
  // Sends a raw document as a report (for schema checks).
  net::Response post(const std::string& path, const std::string& body,
                     const std::string& token = "") {
    net::Request req;
    req.method = "POST";
    req.url = base() + path;
    req.body = body;
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    auto r = client_.perform(req);
    if (!r) throw std::runtime_error("fake dashboard: " + r.error().message);
    return *r;
  }

  // Polls received() until `pred` holds (or the timeout passes); returns the last snapshot.
  json wait_for(const std::function<bool(const json&)>& pred,
                std::chrono::milliseconds timeout = 60s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    json r = received();
    while (!pred(r) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
      r = received();
    }
    return r;
  }

 private:
  static std::vector<std::string> args(const std::string& token, const json& mode) {
    std::vector<std::string> a;
    if (!token.empty()) a.insert(a.end(), {"--token", token});
    if (!mode.is_null()) a.insert(a.end(), {"--mode", mode.dump()});
    return a;
  }
  net::Response call(const std::string& method, const std::string& path, const std::string& body) {
    net::Request req;
    req.method = method;
    req.url = base() + path;
    req.body = body;
    req.timeout_ms = 5000;
    auto r = client_.perform(req);
    if (!r) throw std::runtime_error("fake dashboard: " + r.error().message);
    return *r;
  }
  PyServer server_;
  net::Client client_;
};

inline StackStatus sample_stack(const std::string& config_version = "2026.11.1") {
  StackStatus st;
  st.project = "t-report";
  st.config_version = config_version;
  st.agent_version = "0.1.0";
  st.agent_started_at = "2026-11-01T11:59:00.000Z";
  st.host.instance_id = "i-0123456789abcdef0";
  st.host.region = "us-east-2";
  st.host.availability_zone = "us-east-2a";
  st.host.instance_type = "t3.small";
  st.host.hostname = "ip-10-0-0-1";
  st.host.boot_id = "0f3a1c2e-1111-4000-8000-000000000000";
  for (std::string name : {"web", "db"}) {
    ServiceStatus s;
    s.name = name;
    s.image = "127.0.0.1:5000/" + name;
    s.requested_tag = "latest";
    s.digest = "sha256:" + std::string(64, name == "web" ? 'a' : 'b');
    s.container_id = std::string(64, 'c');
    s.state = "running";
    s.health = name == "db" ? "healthy" : "";
    s.started_at = "2026-11-01T12:00:00.000Z";
    st.services.push_back(s);
  }
  st.overall = compute_overall(st.services, false);
  return st;
}

inline StatusEvent sample_event(const std::string& service, EventKind kind,
                                const std::string& detail = "") {
  StatusEvent e;
  e.time = "2026-11-01T12:00:01.000Z";
  e.service = service;
  e.kind = kind;
  e.detail = detail;
  if (kind == EventKind::died) e.exit_code = 137;
  return e;
}

// Event ids of all accepted documents, in arrival order.
inline std::vector<std::uint64_t> event_ids(const json& received) {
  std::vector<std::uint64_t> ids;
  for (const auto& e : received["events"]) ids.push_back(e["id"].get<std::uint64_t>());
  return ids;
}

inline std::vector<std::uint64_t> iota_ids(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> v;
  for (auto i = from; i <= to; ++i) v.push_back(i);
  return v;
}

}  // namespace berth::test
