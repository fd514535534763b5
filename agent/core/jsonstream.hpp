// Pure parsing of what the Docker Engine API sends back: the concatenated / newline-delimited
// JSON streams of /images/create and /events, pull progress aggregation, and the decoders from
// Docker's JSON to the observed model. No I/O. Nothing here throws on hostile input: every
// decoder returns a value or an Error, missing or mistyped fields become defaults.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/observed.hpp"
#include "util/result.hpp"

namespace berth::jsonstream {

// Splits a byte stream of JSON objects ("{...}{...}", "{...}\r\n{...}\n") into complete
// objects, whatever the chunk boundaries. Garbage between objects (or an object that does not
// parse) yields one Error value and the splitter resynchronises at the next line break or '{'.
class JsonSplitter {
 public:
  explicit JsonSplitter(std::size_t max_object_bytes = 4 * 1024 * 1024)
      : max_object_bytes_(max_object_bytes) {}

  void feed(std::string_view chunk);
  // The next complete value (object, or Error for garbage), nullopt when none is ready.
  std::optional<Result<nlohmann::json>> next();
  // End of stream: a half-received object becomes an Error value (then next() returns it).
  void finish();
  // Bytes of an incomplete object waiting for more input.
  std::size_t pending_bytes() const { return buf_.size() - start_; }

 private:
  enum class Mode { normal, garbage, discard };
  void scan();
  void emit_garbage(std::string_view what);
  void abandon(const std::string& why);

  std::size_t max_object_bytes_;
  std::string buf_;
  std::size_t start_ = 0;  // start of the current (incomplete) value in buf_
  std::size_t pos_ = 0;    // scan position
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  Mode mode_ = Mode::normal;
  std::string garbage_;
  std::deque<Result<nlohmann::json>> ready_;
};

// Turns the /images/create message stream into one percent (weighted by layer size over all
// layers), a short status and the error carried in the stream (HTTP status stays 200).
class PullProgressAggregator {
 public:
  // Returns true when the integer percent or the status changed.
  bool feed(const nlohmann::json& msg);

  int percent() const { return percent_; }  // 0..100, never decreases
  const std::string& status() const { return status_; }
  const std::optional<std::string>& error() const { return error_; }
  const std::string& digest() const { return digest_; }  // "sha256:..." once announced
  bool finished() const { return finished_; }            // saw "Status: ..." (the last message)
  std::size_t layer_count() const { return layers_.size(); }

 private:
  struct Layer {
    std::int64_t current = 0;
    std::int64_t total = 0;  // 0 = unknown yet
    bool done = false;
  };
  int compute() const;

  std::map<std::string, Layer> layers_;
  int percent_ = 0;
  std::string status_;
  std::optional<std::string> error_;
  std::string digest_;
  bool finished_ = false;
};

// ErrorKind for an error message from a pull stream or the daemon ("manifest unknown" ->
// not_found, "unauthorized"/"denied" -> auth, "toomanyrequests" -> throttled ...).
ErrorKind classify_pull_error(std::string_view message);

// One /events message -> EngineEvent; nullopt when it is not an event (no Type/Action).
std::optional<EngineEvent> parse_event(const nlohmann::json& j);

// GET /containers/{id}/json
Result<ContainerInfo> decode_container_inspect(const nlohmann::json& j);
// One item of GET /containers/json
Result<ContainerInfo> decode_container_list_item(const nlohmann::json& j);
// GET /images/{name}/json (also one item of GET /images/json: Id, RepoTags, Labels, Size)
Result<ImageInfo> decode_image_inspect(const nlohmann::json& j);
Result<NetworkInfo> decode_network(const nlohmann::json& j);
Result<VolumeInfo> decode_volume(const nlohmann::json& j);
// GET /info and GET /version (`version` may be null when it could not be read).
Result<EngineInfo> decode_engine_info(const nlohmann::json& info, const nlohmann::json& version);

// "Up 3 minutes (healthy)" -> "healthy"; "(health: starting)" -> "starting"; else "".
std::string health_from_status_text(std::string_view status);

// The daemon's {"message": "..."} error body; falls back to the trimmed raw body.
std::string error_message_from_body(std::string_view body);

// filters={"label":["a=b","c"]} as the API wants it (not yet url-encoded). Empty map -> "{}".
std::string encode_filters(const std::map<std::string, std::vector<std::string>>& filters);

// API versions "1.41" -> {1, 41}; nullopt when malformed.
std::optional<std::pair<int, int>> parse_api_version(std::string_view v);
// min(ours, server) as text; server "" = ours.
std::string negotiate_api_version(std::string_view server, std::string_view ours);

// DOCKER_HOST value -> unix socket path. "" -> /var/run/docker.sock; "unix:///p" -> "/p";
// tcp://, ssh://, npipe:// -> Error{config} "only unix sockets are supported".
Result<std::string> socket_path_from_docker_host(std::string_view docker_host);

}  // namespace berth::jsonstream
