// DockerEngine: the Engine interface over the Docker Engine API (libcurl, unix socket).
// Serves dockerd (API 1.41 = Docker 20.10 and newer) and Podman's Docker-compatible service.
//
// Threads: one DockerEngine may be shared by several threads (the reconciler and a pull
// worker pool): every call borrows a net::Client (one keep-alive connection) from a small
// mutex-guarded pool and gives it back afterwards, so concurrent calls use separate
// connections and sequential calls reuse them.
//
// Errors: "docker: <operation> <object>: <daemon message> (HTTP <status>)" with the kind from
// the status (404 not_found, 409 conflict, 401/403 auth, 429 throttled, 5xx unavailable);
// "docker: cannot connect to unix://<socket>: <cause> (<operation>)" (unavailable) when the
// daemon is not there. The prefix is "podman" once /version said so.
//
// Timeouts: 30 s per call by default; stop: t + 30 s (t < 0, the container's own timeout, is
// capped at 300 s + 30 s); wait: timeout_s (<= 0 = none); pulls: PullOptions (first byte,
// inactivity, overall); the events stream: none, it ends when `stop` is set (polled every
// 100 ms) or the daemon goes away.
//
// The API version is negotiated by ping() (called lazily by the first request): min(daemon,
// kMaxApiVersion), refused below kMinApiVersion. api_version() is "" before that.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "net/http.hpp"

namespace berth::engine {

// Free bytes (for unprivileged users) of the file system holding `path` (statvfs);
// nullopt when it cannot be read (remote daemon, path not visible from here).
std::optional<std::int64_t> local_free_bytes(const std::string& path);

class DockerEngine final : public Engine {
 public:
  static constexpr const char* kMinApiVersion = "1.41";  // Docker 20.10
  static constexpr const char* kMaxApiVersion = "1.45";  // the newest berth speaks

  // socket_path: the daemon's unix socket, e.g. /var/run/docker.sock.
  explicit DockerEngine(std::string socket_path);
  // An engine that cannot be used (bad DOCKER_HOST): every call fails with `error`.
  explicit DockerEngine(Error error);
  ~DockerEngine() override;
  DockerEngine(const DockerEngine&) = delete;
  DockerEngine& operator=(const DockerEngine&) = delete;

  const std::string& socket_path() const { return socket_path_; }

  Result<std::string> ping() override;
  std::string api_version() const override;
  std::string flavour() const override;

  Result<std::optional<ImageInfo>> inspect_image(const std::string& ref) override;
  Result<void> pull_image(const std::string& from_image, const std::string& tag_or_digest,
                          const PullOptions& opts, const PullProgressFn& progress) override;
  Result<void> tag_image(const std::string& source, const std::string& repo,
                         const std::string& tag) override;
  Result<void> remove_image(const std::string& ref, bool force) override;
  Result<std::vector<ImageInfo>> list_images(
      const std::vector<std::string>& label_filters) override;

  Result<std::vector<ContainerInfo>> list_containers(
      const std::vector<std::string>& label_filters) override;
  Result<ContainerInfo> inspect_container(const std::string& id_or_name) override;
  Result<std::string> create_container(const std::string& name,
                                       const nlohmann::json& body) override;
  Result<void> start_container(const std::string& id) override;
  Result<void> stop_container(const std::string& id, int timeout_s,
                              const std::string& signal) override;
  Result<void> kill_container(const std::string& id, const std::string& signal) override;
  Result<void> remove_container(const std::string& id, bool force, bool volumes) override;
  Result<void> rename_container(const std::string& id, const std::string& new_name) override;
  Result<int> wait_container(const std::string& id, const std::string& condition,
                             int timeout_s) override;

  Result<std::vector<NetworkInfo>> list_networks(
      const std::vector<std::string>& label_filters) override;
  Result<std::string> create_network(const std::string& name,
                                     const std::map<std::string, std::string>& labels) override;
  Result<void> remove_network(const std::string& id_or_name) override;

  Result<std::vector<VolumeInfo>> list_volumes(
      const std::vector<std::string>& label_filters) override;
  Result<void> create_volume(const std::string& name,
                             const std::map<std::string, std::string>& labels) override;
  Result<void> remove_volume(const std::string& name, bool force) override;

  Result<EngineInfo> engine_info() override;
  Result<std::string> container_logs(const std::string& id, int lines) override;

  // GET /info -> DockerRootDir -> statvfs (only meaningful when the daemon is local).
  Result<std::optional<std::int64_t>> data_root_free_bytes() override;

  Result<void> stream_events(const std::vector<std::string>& label_filters, const EventFn& on_event,
                             std::stop_token stop) override;

  // GET /info's DockerRootDir ("/var/lib/docker"; Podman: its graph root).
  Result<std::string> docker_root_dir();

  // One API call below the negotiated version prefix; for tests and rare calls.
  // `path` includes the query ("/info", "/containers/x/json?size=1").
  struct Call {
    std::string method = "GET";
    std::string path;
    std::string body;  // JSON
    long timeout_ms = 30000;
    std::vector<std::pair<std::string, std::string>> headers;
    bool versioned = true;  // false: no /vX.Y prefix (/_ping)
    long low_speed_time_s = 0;
    std::function<bool(std::string_view)> on_data;
    std::function<bool()> keep_going;
    std::stop_token stop;  // see net::Request::stop
    // One JSON object (inspect, create, version ...): the engine's per-object limit; the list
    // calls raise it to kDockerListLimit.
    net::BodyLimit body_limit = net::kDockerObjectLimit;
  };
  // Transport failures become "docker: <op>: ..." errors; any HTTP status is returned.
  Result<net::Response> send(const Call& call, const std::string& op);

 private:
  Result<std::string> ensure_version();
  std::unique_ptr<net::Client> take_client();
  void give_back(std::unique_ptr<net::Client> c);
  Error api_error(const std::string& op, long status, std::string_view body) const;
  Result<void> expect(const net::Response& r, std::initializer_list<long> ok,
                      const std::string& op) const;
  std::string prefix() const;  // "docker" or "podman"

  std::string socket_path_;
  std::optional<Error> broken_;

  mutable std::mutex mu_;  // guards the fields below
  std::string api_version_;
  std::string flavour_ = "docker";
  std::vector<std::unique_ptr<net::Client>> pool_;
};

}  // namespace berth::engine
