#include "core/jsonstream.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "core/untrusted_json.hpp"
#include "util/strings.hpp"

namespace berth::jsonstream {

using nlohmann::json;

namespace {

constexpr int kMaxDepth = 256;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// A short printable excerpt of hostile bytes, for messages.
std::string excerpt(std::string_view s, std::size_t max = 80) {
  std::string out;
  for (char c : s.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  if (s.size() > max) out += "...";
  return out;
}

// --- total accessors: never throw, whatever the shape of the input --------------------------

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

const json& null_json() {
  static const json n;
  return n;
}

const json& obj(const json& j, const char* key) {
  const json* m = member(j, key);
  return m && m->is_object() ? *m : null_json();
}

std::string str(const json& j, const char* key) {
  const json* m = member(j, key);
  return m && m->is_string() ? m->get_ref<const std::string&>() : std::string();
}

std::int64_t to_i64(const json& v, std::int64_t def) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<std::int64_t>();
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    return u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
               ? std::numeric_limits<std::int64_t>::max()
               : static_cast<std::int64_t>(u);
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d)) return def;
    if (d >= 9.2e18) return std::numeric_limits<std::int64_t>::max();
    if (d <= -9.2e18) return std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(d);
  }
  return def;
}

std::int64_t i64(const json& j, const char* key, std::int64_t def = 0) {
  const json* m = member(j, key);
  return m ? to_i64(*m, def) : def;
}

int i32(const json& j, const char* key, int def = 0) {
  std::int64_t v = i64(j, key, def);
  v = std::clamp<std::int64_t>(v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max());
  return static_cast<int>(v);
}

bool boolean(const json& j, const char* key) {
  const json* m = member(j, key);
  return m && m->is_boolean() && m->get<bool>();
}

std::map<std::string, std::string> string_map(const json& j) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.value().is_string()) out.emplace(it.key(), it.value().get_ref<const std::string&>());
  return out;
}

std::vector<std::string> string_list(const json& j, const char* key) {
  std::vector<std::string> out;
  const json* m = member(j, key);
  if (!m || !m->is_array()) return out;
  for (const auto& v : *m)
    if (v.is_string()) out.push_back(v.get_ref<const std::string&>());
  return out;
}

std::vector<std::string> keys(const json& j) {
  std::vector<std::string> out;
  if (!j.is_object()) return out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

// Docker's state vocabulary (created, running, paused, restarting, removing, exited, dead).
// Podman's compat API also answers libpod's own "stopped" for a container whose process has
// ended while its cleanup (run by conmon, asynchronously) has not finished yet: for berth that
// container has exited. libpod's "stopping" is a container still running.
std::string docker_state(std::string s) {
  if (s == "stopped") return "exited";
  if (s == "stopping") return "running";
  if (s == "configured" || s == "initialized") return "created";
  return s;
}

std::string strip_slash(std::string s) {
  if (!s.empty() && s.front() == '/') s.erase(0, 1);
  return s;
}

// Docker's zero time for "never".
std::string time_or_empty(std::string s) {
  if (s.starts_with("0001-01-01T00:00:00")) return std::string();
  return s;
}

// At most `max` bytes, not cutting a UTF-8 sequence, trailing whitespace removed.
std::string truncate_utf8(std::string s, std::size_t max) {
  if (s.size() > max) {
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    s.resize(cut);
  }
  while (!s.empty() && is_space(s.back())) s.pop_back();
  return s;
}

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

}  // namespace

// --- JsonSplitter ---------------------------------------------------------------------------

void JsonSplitter::feed(std::string_view chunk) {
  buf_.append(chunk.data(), chunk.size());
  scan();
  // Drop what has been consumed.
  if (start_ > 0 && (start_ == buf_.size() || start_ > 64 * 1024)) {
    buf_.erase(0, start_);
    pos_ -= start_;
    start_ = 0;
  }
}

void JsonSplitter::emit_garbage(std::string_view what) {
  ready_.push_back(fail("invalid JSON in stream: " + excerpt(what), ErrorKind::invalid_input));
}

void JsonSplitter::scan() {
  while (pos_ < buf_.size()) {
    char c = buf_[pos_];
    if (mode_ == Mode::discard) {  // error already reported: drop bytes up to a line break
      ++pos_;
      start_ = pos_;
      if (c == '\n') mode_ = Mode::normal;
      continue;
    }
    if (mode_ == Mode::garbage) {
      if (c == '\n' || c == '{') {
        emit_garbage(garbage_);
        garbage_.clear();
        mode_ = Mode::normal;
        start_ = pos_;
        continue;  // reprocess c at depth 0
      }
      if (garbage_.size() < 100) garbage_.push_back(c);
      ++pos_;
      start_ = pos_;
      continue;
    }
    if (depth_ == 0) {
      if (is_space(c)) {
        ++pos_;
        start_ = pos_;
        continue;
      }
      if (c == '{' || c == '[') {
        depth_ = 1;
        in_string_ = false;
        escape_ = false;
        start_ = pos_;
        ++pos_;
        continue;
      }
      mode_ = Mode::garbage;
      garbage_.assign(1, c);
      ++pos_;
      start_ = pos_;
      continue;
    }
    // Inside a value.
    ++pos_;
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
    } else if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      if (++depth_ > kMaxDepth) {
        abandon("nested deeper than " + std::to_string(kMaxDepth) + " levels");
        continue;
      }
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        std::string_view text(buf_.data() + start_, pos_ - start_);
        json v = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
        if (v.is_discarded() || !v.is_object())
          emit_garbage(text);
        else
          ready_.push_back(std::move(v));
        start_ = pos_;
        continue;
      }
    }
    if (pos_ - start_ > max_object_bytes_)
      abandon("object larger than " + std::to_string(max_object_bytes_) + " bytes");
  }
}

void JsonSplitter::abandon(const std::string& why) {
  ready_.push_back(fail("invalid JSON in stream: " + why, ErrorKind::invalid_input));
  depth_ = 0;
  in_string_ = escape_ = false;
  mode_ = Mode::discard;
  start_ = pos_;
}

std::optional<Result<json>> JsonSplitter::next() {
  if (ready_.empty()) return std::nullopt;
  auto v = std::move(ready_.front());
  ready_.pop_front();
  return v;
}

void JsonSplitter::finish() {
  if (mode_ == Mode::garbage) {
    emit_garbage(garbage_);
    garbage_.clear();
  } else if (mode_ == Mode::normal && depth_ > 0) {
    ready_.push_back(fail("invalid JSON in stream: truncated object at end of stream (" +
                              std::to_string(pos_ - start_) + " bytes)",
                          ErrorKind::invalid_input));
  }
  mode_ = Mode::normal;
  depth_ = 0;
  in_string_ = escape_ = false;
  buf_.clear();
  pos_ = start_ = 0;
}

// --- PullProgressAggregator ----------------------------------------------------------------

namespace {

bool is_layer_status(std::string_view s) {
  return s == "Pulling fs layer" || s == "Waiting" || s == "Downloading" ||
         s == "Verifying Checksum" || s == "Download complete" || s == "Extracting" ||
         s == "Pull complete" || s == "Already exists" || s.starts_with("Retrying in");
}

bool layer_downloaded(std::string_view s) {
  return s == "Verifying Checksum" || s == "Download complete" || s == "Extracting" ||
         s == "Pull complete" || s == "Already exists";
}

}  // namespace

int PullProgressAggregator::compute() const {
  if (layers_.empty()) return 0;
  std::int64_t known_sum = 0;
  std::int64_t known_n = 0;
  for (const auto& [id, l] : layers_) {
    if (l.total > 0) {
      known_sum = known_sum > std::numeric_limits<std::int64_t>::max() - l.total
                      ? std::numeric_limits<std::int64_t>::max()
                      : known_sum + l.total;
      ++known_n;
    }
  }
  double avg = known_n > 0 ? static_cast<double>(known_sum) / static_cast<double>(known_n) : 1.0;
  double num = 0;
  double den = 0;
  for (const auto& [id, l] : layers_) {
    double w = l.total > 0 ? static_cast<double>(l.total) : avg;
    double f = 0;
    if (l.done) {
      f = 1;
    } else if (l.total > 0 && l.current > 0) {
      f = std::min(1.0, static_cast<double>(l.current) / static_cast<double>(l.total));
    }
    num += w * f;
    den += w;
  }
  if (!(den > 0)) return 0;
  double p = std::floor(100.0 * num / den);
  if (!(p >= 0)) p = 0;
  if (p > 100) p = 100;
  return static_cast<int>(p);
}

bool PullProgressAggregator::feed(const json& msg) {
  if (!msg.is_object()) return false;
  const int old_percent = percent_;
  const std::string old_status = status_;

  const json& detail = obj(msg, "errorDetail");
  std::string err = str(detail, "message");
  if (err.empty()) err = str(msg, "error");
  if (!err.empty()) {
    if (!error_) error_ = err;
    status_ = "error";
    return true;
  }

  const std::string status = str(msg, "status");
  const std::string id = str(msg, "id");
  if (status.starts_with("Digest: ")) {
    digest_ = status.substr(8);
  } else if (status.starts_with("Status: ")) {
    finished_ = true;
    status_ = status.substr(8);
    percent_ = 100;
  } else if (status.starts_with("Pulling from ")) {
    if (status_.empty()) status_ = "pulling";
  } else if (!id.empty() && is_layer_status(status)) {
    auto [it, inserted] = layers_.try_emplace(id);
    Layer& l = it->second;
    if (status == "Downloading") {
      const json& pd = obj(msg, "progressDetail");
      std::int64_t total = i64(pd, "total");
      std::int64_t current = i64(pd, "current");
      if (total > 0) l.total = total;
      if (current >= 0) l.current = current;
    } else if (layer_downloaded(status)) {
      l.done = true;
    } else if (status.starts_with("Retrying in")) {
      l.current = 0;
    }
    bool all_done =
        std::all_of(layers_.begin(), layers_.end(), [](const auto& kv) { return kv.second.done; });
    status_ = all_done ? "extracting" : "downloading";
    if (!finished_) {
      int p = compute();
      if (p > 99) p = 99;  // 100 only once the daemon says the image is there
      percent_ = std::max(percent_, p);
    }
  }
  return percent_ != old_percent || status_ != old_status;
}

ErrorKind classify_pull_error(std::string_view message) {
  const std::string m = to_lower(message);
  if (contains(m, "toomanyrequests") || contains(m, "too many requests") ||
      contains(m, "rate limit"))
    return ErrorKind::throttled;
  if (contains(m, "connection refused") || contains(m, "no such host") ||
      contains(m, "connection reset") || contains(m, "network is unreachable") ||
      contains(m, "server misbehaving") || contains(m, "503 service unavailable") ||
      contains(m, "502 bad gateway") || contains(m, "unexpected eof"))
    return ErrorKind::unavailable;
  if (contains(m, "timeout") || contains(m, "timed out") || contains(m, "deadline exceeded"))
    return ErrorKind::timeout;
  if (contains(m, "unauthorized") || contains(m, "denied") ||
      contains(m, "authentication required") || contains(m, "no basic auth credentials") ||
      contains(m, "forbidden"))
    return ErrorKind::auth;
  if (contains(m, "manifest unknown") || contains(m, "not found") || contains(m, "no such") ||
      contains(m, "does not exist") || contains(m, "name unknown"))
    return ErrorKind::not_found;
  return ErrorKind::generic;
}

// --- events ---------------------------------------------------------------------------------

std::optional<EngineEvent> parse_event(const json& j) {
  if (!j.is_object()) return std::nullopt;
  EngineEvent ev;
  ev.type = str(j, "Type");
  ev.action = str(j, "Action");
  if (ev.action.empty()) ev.action = str(j, "status");  // pre-1.22 shape
  if (ev.type.empty() && !ev.action.empty() && member(j, "status")) ev.type = "container";
  if (ev.type.empty() || ev.action.empty()) return std::nullopt;
  const json& actor = obj(j, "Actor");
  ev.id = str(actor, "ID");
  if (ev.id.empty()) ev.id = str(j, "id");
  const json& attrs = obj(actor, "Attributes");
  for (auto it = attrs.begin(); it != attrs.end(); ++it) {
    const json& v = it.value();
    if (v.is_string())
      ev.attributes.emplace(it.key(), v.get_ref<const std::string&>());
    else if (v.is_number_integer())
      ev.attributes.emplace(it.key(), std::to_string(to_i64(v, 0)));
    else if (v.is_boolean())
      ev.attributes.emplace(it.key(), v.get<bool>() ? "true" : "false");
  }
  ev.time_nano = i64(j, "timeNano");
  if (ev.time_nano == 0) {
    std::int64_t t = i64(j, "time");
    if (t > 0 && t < std::numeric_limits<std::int64_t>::max() / 1000000000)
      ev.time_nano = t * 1000000000;
  }
  return ev;
}

// --- decoders -------------------------------------------------------------------------------

Result<ContainerInfo> decode_container_inspect(const json& j) {
  if (!j.is_object()) return fail("container inspect: not a JSON object", ErrorKind::invalid_input);
  ContainerInfo c;
  c.id = str(j, "Id");
  if (c.id.empty()) return fail("container inspect: no Id", ErrorKind::invalid_input);
  c.name = strip_slash(str(j, "Name"));
  const json& config = obj(j, "Config");
  c.labels = string_map(obj(config, "Labels"));
  c.image = str(config, "Image");
  c.image_id = str(j, "Image");
  const json& state = obj(j, "State");
  c.state = docker_state(str(state, "Status"));
  if (c.state.empty()) {  // very old daemons: derive from the booleans
    if (boolean(state, "Running"))
      c.state = "running";
    else if (boolean(state, "Dead"))
      c.state = "dead";
    else if (member(state, "ExitCode"))
      c.state = "exited";
  }
  c.exit_code = i32(state, "ExitCode");
  c.oom_killed = boolean(state, "OOMKilled");
  c.started_at = time_or_empty(str(state, "StartedAt"));
  c.finished_at = time_or_empty(str(state, "FinishedAt"));
  const json& health = obj(state, "Health");
  c.health = str(health, "Status");
  if (c.health == "none") c.health.clear();
  if (const json* log = member(health, "Log"); log && log->is_array() && !log->empty()) {
    const json& last = log->back();
    if (i64(last, "ExitCode") != 0) c.health_output = truncate_utf8(str(last, "Output"), 1000);
  }
  c.restart_count = i32(j, "RestartCount");
  const json& nets = obj(obj(j, "NetworkSettings"), "Networks");
  c.networks = keys(nets);
  for (const auto& n : c.networks)
    if (std::string ip = str(obj(nets, n.c_str()), "IPAddress"); !ip.empty()) c.addresses[n] = ip;
  return c;
}

Result<ContainerInfo> decode_container_list_item(const json& j) {
  if (!j.is_object())
    return fail("container list: item is not a JSON object", ErrorKind::invalid_input);
  ContainerInfo c;
  c.id = str(j, "Id");
  if (c.id.empty()) return fail("container list: item without Id", ErrorKind::invalid_input);
  auto names = string_list(j, "Names");
  if (!names.empty()) c.name = strip_slash(names.front());
  c.labels = string_map(obj(j, "Labels"));
  c.image = str(j, "Image");
  c.image_id = str(j, "ImageID");
  c.state = docker_state(str(j, "State"));
  c.health = health_from_status_text(str(j, "Status"));
  // The list carries the exit code only in its Status text: "Exited (137) 2 seconds ago".
  if (std::string st = str(j, "Status"); st.starts_with("Exited (")) {
    auto close = st.find(')');
    if (close != std::string::npos) {
      int code = 0;
      bool ok = close > 8;
      for (size_t i = 8; i < close && ok; ++i) {
        if (st[i] < '0' || st[i] > '9' || code > 100000)
          ok = false;
        else
          code = code * 10 + (st[i] - '0');
      }
      if (ok) c.exit_code = code;
    }
  }
  c.networks = keys(obj(obj(j, "NetworkSettings"), "Networks"));
  return c;
}

Result<ImageInfo> decode_image_inspect(const json& j) {
  if (!j.is_object()) return fail("image inspect: not a JSON object", ErrorKind::invalid_input);
  ImageInfo img;
  img.id = str(j, "Id");
  if (img.id.empty()) return fail("image inspect: no Id", ErrorKind::invalid_input);
  img.repo_tags = string_list(j, "RepoTags");
  img.repo_digests = string_list(j, "RepoDigests");
  img.size = i64(j, "Size");
  const json& config = obj(j, "Config");
  img.labels = string_map(member(config, "Labels") ? obj(config, "Labels") : obj(j, "Labels"));
  auto test = string_list(obj(config, "Healthcheck"), "Test");
  img.has_healthcheck = !test.empty() && test.front() != "NONE";
  return img;
}

Result<NetworkInfo> decode_network(const json& j) {
  if (!j.is_object()) return fail("network: not a JSON object", ErrorKind::invalid_input);
  NetworkInfo n;
  n.id = str(j, "Id");
  n.name = str(j, "Name");
  if (n.name.empty()) return fail("network: no Name", ErrorKind::invalid_input);
  n.labels = string_map(obj(j, "Labels"));
  return n;
}

Result<VolumeInfo> decode_volume(const json& j) {
  if (!j.is_object()) return fail("volume: not a JSON object", ErrorKind::invalid_input);
  VolumeInfo v;
  v.name = str(j, "Name");
  if (v.name.empty()) return fail("volume: no Name", ErrorKind::invalid_input);
  v.labels = string_map(obj(j, "Labels"));
  return v;
}

Result<EngineInfo> decode_engine_info(const json& info, const json& version) {
  if (!info.is_object()) return fail("info: not a JSON object", ErrorKind::invalid_input);
  EngineInfo e;
  e.server_version = str(info, "ServerVersion");
  if (e.server_version.empty()) e.server_version = str(version, "Version");
  e.operating_system = str(info, "OperatingSystem");
  e.default_log_driver = str(info, "LoggingDriver");
  e.log_drivers = string_list(obj(info, "Plugins"), "Log");
  e.cgroup_driver = str(info, "CgroupDriver");
  e.security_options = string_list(info, "SecurityOptions");
  e.default_runtime = str(info, "DefaultRuntime");
  e.runtimes = keys(obj(info, "Runtimes"));
  return e;
}

std::string health_from_status_text(std::string_view status) {
  if (contains(status, "(unhealthy)")) return "unhealthy";
  if (contains(status, "(healthy)")) return "healthy";
  if (contains(status, "(health: starting)")) return "starting";
  return std::string();
}

std::string error_message_from_body(std::string_view body) {
  json j = parse_json_or_discarded(body);
  std::string msg = str(j, "message");
  if (msg.empty()) msg = str(j, "cause");  // podman's compat errors also carry "cause"
  if (msg.empty()) {
    msg = std::string(body);
    while (!msg.empty() && is_space(msg.back())) msg.pop_back();
    msg = truncate_utf8(msg, 500);
  }
  while (!msg.empty() && is_space(msg.back())) msg.pop_back();
  return msg;
}

std::string encode_filters(const std::map<std::string, std::vector<std::string>>& filters) {
  json j = json::object();
  for (const auto& [k, vs] : filters) j[k] = vs;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<std::pair<int, int>> parse_api_version(std::string_view v) {
  auto dot = v.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= v.size()) return std::nullopt;
  auto number = [](std::string_view s) -> std::optional<int> {
    if (s.empty() || s.size() > 6) return std::nullopt;
    int n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  };
  auto major = number(v.substr(0, dot));
  auto minor = number(v.substr(dot + 1));
  if (!major || !minor) return std::nullopt;
  return std::make_pair(*major, *minor);
}

std::string negotiate_api_version(std::string_view server, std::string_view ours) {
  auto s = parse_api_version(server);
  auto o = parse_api_version(ours);
  if (!s || !o) return std::string(ours);
  return *s < *o ? std::string(server) : std::string(ours);
}

Result<std::string> socket_path_from_docker_host(std::string_view docker_host) {
  if (docker_host.empty()) return std::string("/var/run/docker.sock");
  if (docker_host.starts_with("unix://")) {
    std::string path(docker_host.substr(7));
    if (path.empty()) return fail("DOCKER_HOST=unix:// names no socket path", ErrorKind::config);
    return path;
  }
  auto scheme_end = docker_host.find("://");
  std::string scheme = scheme_end == std::string_view::npos
                           ? std::string("a plain host")
                           : std::string(docker_host.substr(0, scheme_end + 3));
  return fail("DOCKER_HOST uses " + scheme +
                  ": only unix sockets are supported (DOCKER_HOST=unix:///path/to/docker.sock)",
              ErrorKind::config);
}

}  // namespace berth::jsonstream
