// The Docker Engine API as berth uses it. One implementation (DockerEngine, libcurl over the
// unix socket) serves Docker and Podman's Docker-compatible service. Tests use a real dockerd.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/observed.hpp"
#include "util/result.hpp"

namespace berth::engine {

struct PullProgress {
  std::string image;
  int percent = 0;  // aggregated over layers, 0..100
  std::string status;
};

using PullProgressFn = std::function<void(const PullProgress&)>;
using EventFn = std::function<void(const EngineEvent&)>;

struct PullOptions {
  std::string registry_auth;  // X-Registry-Auth value (base64url with padding), "" = none
  int first_byte_timeout_s = 60;
  int inactivity_timeout_s = 120;  // no progress for this long = stalled
  int overall_timeout_s = 1800;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Negotiated API version ("1.41"); fails with a clear message below 1.41.
  virtual Result<std::string> ping() = 0;
  virtual std::string api_version() const = 0;
  // "docker" or "podman" (from /version Components), for messages.
  virtual std::string flavour() const = 0;

  virtual Result<std::optional<ImageInfo>> inspect_image(const std::string& ref) = 0;
  virtual Result<void> pull_image(const std::string& from_image, const std::string& tag_or_digest,
                                  const PullOptions& opts, const PullProgressFn& progress) = 0;
  virtual Result<void> tag_image(const std::string& source, const std::string& repo,
                                 const std::string& tag) = 0;
  virtual Result<void> remove_image(const std::string& ref, bool force) = 0;
  virtual Result<std::vector<ImageInfo>> list_images(
      const std::vector<std::string>& label_filters) = 0;

  // label_filters: "key=value" or bare "key" (ANDed).
  virtual Result<std::vector<ContainerInfo>> list_containers(
      const std::vector<std::string>& label_filters) = 0;
  virtual Result<ContainerInfo> inspect_container(const std::string& id_or_name) = 0;
  // body: the Engine API create body (Config fields + HostConfig + NetworkingConfig). Returns id.
  virtual Result<std::string> create_container(const std::string& name,
                                               const nlohmann::json& body) = 0;
  virtual Result<void> start_container(const std::string& id) = 0;  // 304 = ok
  // signal "" = container's StopSignal. timeout_s < 0 = container's StopTimeout.
  virtual Result<void> stop_container(const std::string& id, int timeout_s,
                                      const std::string& signal) = 0;  // 304 = ok
  virtual Result<void> kill_container(const std::string& id, const std::string& signal) = 0;
  virtual Result<void> remove_container(const std::string& id, bool force, bool volumes) = 0;
  virtual Result<void> rename_container(const std::string& id, const std::string& new_name) = 0;
  // condition: not-running | next-exit | removed. Returns the exit code.
  virtual Result<int> wait_container(const std::string& id, const std::string& condition,
                                     int timeout_s) = 0;

  virtual Result<std::vector<NetworkInfo>> list_networks(
      const std::vector<std::string>& label_filters) = 0;
  virtual Result<std::string> create_network(const std::string& name,
                                             const std::map<std::string, std::string>& labels) = 0;
  virtual Result<void> remove_network(const std::string& id_or_name) = 0;

  virtual Result<std::vector<VolumeInfo>> list_volumes(
      const std::vector<std::string>& label_filters) = 0;
  virtual Result<void> create_volume(const std::string& name,
                                     const std::map<std::string, std::string>& labels) = 0;
  virtual Result<void> remove_volume(const std::string& name, bool force) = 0;

  // GET /info and GET /version: the engine's log drivers and defaults (see EngineInfo).
  virtual Result<EngineInfo> engine_info() = 0;
  // The last `lines` lines of a container's stdout and stderr as text (demultiplexed, raw bytes;
  // the caller bounds them with tail_lines()).
  virtual Result<std::string> container_logs(const std::string& id, int lines) = 0;

  // Free bytes of the Docker data root as far as the API reveals it (used before pulls);
  // nullopt when unknown.
  virtual Result<std::optional<std::int64_t>> data_root_free_bytes() = 0;

  // Blocking events stream (type=container, label filters). Returns as soon as a stop is
  // requested on `stop` (the idle stream is not polled: no wakeups while nothing happens), or
  // with an error when the daemon goes away.
  virtual Result<void> stream_events(const std::vector<std::string>& label_filters,
                                     const EventFn& on_event, std::stop_token stop) = 0;
};

// DOCKER_HOST=unix:///path honoured, else /var/run/docker.sock.
std::unique_ptr<Engine> make_docker_engine(const std::string& docker_host = "");

}  // namespace berth::engine
