#include "engine/docker_engine.hpp"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>

#include "core/jsonstream.hpp"
#include "core/log_tail.hpp"
#include "core/untrusted_json.hpp"
#include "util/strings.hpp"

namespace berth::engine {

using nlohmann::json;
namespace js = berth::jsonstream;
using Clock = std::chrono::steady_clock;

namespace {

constexpr long kDefaultTimeoutMs = 30000;
constexpr std::size_t kMaxIdleClients = 4;

// A path segment: keep what Docker's router takes literally (image refs carry '/', ':', '@').
std::string path_escape(std::string_view s) {
  return percent_encode(s, "/:@");
}

std::string q(std::string_view s) {
  return net::url_encode(s);
}

std::string label_filters_query(const std::vector<std::string>& labels,
                                const std::vector<std::string>& types = {},
                                const std::vector<std::string>& events = {}) {
  std::map<std::string, std::vector<std::string>> f;
  if (!labels.empty()) f["label"] = labels;
  if (!types.empty()) f["type"] = types;
  if (!events.empty()) f["event"] = events;
  return "filters=" + q(js::encode_filters(f));
}

// The container events that change what berth reports. Left out on purpose: exec_create,
// exec_start and exec_die, which Docker emits for every run of a health check (three events per
// service per interval: with 1 s checks that woke the agent dozens of times a second at idle),
// and attach/detach/resize/top/copy/export/commit. "health_status" matches every
// "health_status: <state>" (the daemon matches that name by prefix); Docker emits it on changes
// only.
const std::vector<std::string> kStateEvents = {
    "create", "start",   "restart", "stop",   "kill",   "die",          "oom",
    "pause",  "unpause", "destroy", "rename", "update", "health_status"};

Result<json> parse_body(const net::Response& r, const std::string& what) {
  auto j = parse_json(r.body);
  if (!j)
    return fail(what + ": the daemon sent " +
                    (json_depth(r.body) > kMaxJsonDepth ? "JSON " + j.error().message
                                                        : std::string("invalid JSON")),
                ErrorKind::invalid_input, 200);
  return j;
}

ErrorKind kind_for_status(long status) {
  if (status == 404) return ErrorKind::not_found;
  if (status == 409) return ErrorKind::conflict;
  if (status == 401 || status == 403) return ErrorKind::auth;
  if (status == 429) return ErrorKind::throttled;
  if (status == 400) return ErrorKind::invalid_input;
  if (status >= 500) return ErrorKind::unavailable;
  return ErrorKind::generic;
}

long ms_since(Clock::time_point t) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

}  // namespace

std::optional<std::int64_t> local_free_bytes(const std::string& path) {
  if (path.empty()) return std::nullopt;
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return std::nullopt;
  auto bytes =
      static_cast<unsigned long long>(st.f_bavail) * static_cast<unsigned long long>(st.f_frsize);
  if (bytes > static_cast<unsigned long long>(INT64_MAX)) return INT64_MAX;
  return static_cast<std::int64_t>(bytes);
}

DockerEngine::DockerEngine(std::string socket_path) : socket_path_(std::move(socket_path)) {}
DockerEngine::DockerEngine(Error error) : broken_(std::move(error)) {}
DockerEngine::~DockerEngine() = default;

std::string DockerEngine::api_version() const {
  std::lock_guard lk(mu_);
  return api_version_;
}

std::string DockerEngine::flavour() const {
  std::lock_guard lk(mu_);
  return flavour_;
}

std::string DockerEngine::prefix() const {
  return flavour();
}

std::unique_ptr<net::Client> DockerEngine::take_client() {
  std::lock_guard lk(mu_);
  if (pool_.empty()) return std::make_unique<net::Client>();
  auto c = std::move(pool_.back());
  pool_.pop_back();
  return c;
}

void DockerEngine::give_back(std::unique_ptr<net::Client> c) {
  std::lock_guard lk(mu_);
  if (pool_.size() < kMaxIdleClients) pool_.push_back(std::move(c));
}

Error DockerEngine::api_error(const std::string& op, long status, std::string_view body) const {
  std::string msg = js::error_message_from_body(body);
  if (msg.empty()) msg = "no error message";
  Error e{kind_for_status(status),
          prefix() + ": " + op + ": " + msg + " (HTTP " + std::to_string(status) + ")",
          static_cast<int>(status)};
  return e;
}

Result<void> DockerEngine::expect(const net::Response& r, std::initializer_list<long> ok,
                                  const std::string& op) const {
  for (long s : ok)
    if (r.status == s) return {};
  return fail(api_error(op, r.status, r.body));
}

Result<net::Response> DockerEngine::send(const Call& call, const std::string& op) {
  if (broken_) return fail(*broken_);
  std::string url = "http://localhost";
  if (call.versioned) {
    auto v = ensure_version();
    if (!v) return fail(v.error());
    url += "/v" + *v;
  }
  url += call.path;

  net::Request req;
  req.method = call.method;
  req.url = std::move(url);
  req.unix_socket = socket_path_;
  req.headers = call.headers;
  req.body = call.body;
  if (!call.body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.timeout_ms = call.timeout_ms;
  req.low_speed_time_s = call.low_speed_time_s;
  req.on_data = call.on_data;
  req.keep_going = call.keep_going;
  req.stop = call.stop;
  req.body_limit = call.body_limit;

  auto client = take_client();
  auto r = client->perform(req);
  give_back(std::move(client));
  if (r) return r;

  const Error& e = r.error();
  const std::string where = "unix://" + socket_path_;
  if (e.kind == ErrorKind::cancelled)
    return fail(prefix() + ": " + op + ": cancelled", ErrorKind::cancelled);
  if (e.kind == ErrorKind::timeout)
    return fail(prefix() + ": " + op + ": no answer from " + where + " within " +
                    std::to_string(call.timeout_ms / 1000) + "s",
                ErrorKind::timeout);
  if (e.message.find("Couldn't connect") != std::string::npos) {
    std::string cause = e.message.substr(e.message.rfind(": ") + 2);
    return fail(prefix() + ": cannot connect to " + where + ": " + cause + " (" + op + ")",
                ErrorKind::unavailable);
  }
  return fail(prefix() + ": " + op + ": " + e.message,
              e.kind == ErrorKind::invalid_input ? e.kind : ErrorKind::unavailable);
}

Result<std::string> DockerEngine::ensure_version() {
  {
    std::lock_guard lk(mu_);
    if (!api_version_.empty()) return api_version_;
  }
  return ping();
}

Result<std::string> DockerEngine::ping() {
  Call c;
  c.path = "/_ping";
  c.versioned = false;
  c.timeout_ms = 10000;
  auto r = send(c, "ping");
  if (!r) return fail(r.error());
  if (r->status != 200) return fail(api_error("ping", r->status, r->body));

  const std::string server = r->header("api-version");
  const std::string version = js::negotiate_api_version(server, kMaxApiVersion);
  auto parsed = js::parse_api_version(version);
  if (!parsed || *parsed < *js::parse_api_version(kMinApiVersion))
    return fail("docker API " + version + " is too old: berth needs 1.41 (Docker 20.10) or newer",
                ErrorKind::generic);
  {
    std::lock_guard lk(mu_);
    api_version_ = version;
  }

  // The flavour, for messages: Podman names itself in /version's Components.
  Call vc;
  vc.path = "/version";
  vc.timeout_ms = 10000;
  auto vr = send(vc, "version");
  if (vr && vr->status == 200) {
    json j = parse_json_or_discarded(vr->body);
    std::string flavour = "docker";
    if (j.is_object()) {
      auto it = j.find("Components");
      if (it != j.end() && it->is_array()) {
        for (const auto& comp : *it) {
          if (!comp.is_object()) continue;
          auto name = comp.find("Name");
          if (name != comp.end() && name->is_string() &&
              name->get_ref<const std::string&>().find("Podman") != std::string::npos)
            flavour = "podman";
        }
      }
    }
    std::lock_guard lk(mu_);
    flavour_ = flavour;
  } else {
    spdlog::debug("engine: GET /version failed; assuming docker");
  }
  return version;
}

// --- images -------------------------------------------------------------------------------

Result<std::optional<ImageInfo>> DockerEngine::inspect_image(const std::string& ref) {
  const std::string op = "inspect image " + ref;
  Call c;
  c.path = "/images/" + path_escape(ref) + "/json";
  auto r = send(c, op);
  if (!r) return fail(r.error());
  if (r->status == 404) return std::optional<ImageInfo>();
  if (auto ok = expect(*r, {200}, op); !ok) return fail(ok.error());
  auto j = parse_body(*r, prefix() + ": " + op);
  if (!j) return fail(j.error());
  auto img = js::decode_image_inspect(*j);
  if (!img) return fail(context(img.error(), prefix() + ": " + op));
  return std::optional<ImageInfo>(std::move(*img));
}

Result<void> DockerEngine::pull_image(const std::string& from_image,
                                      const std::string& tag_or_digest, const PullOptions& opts,
                                      const PullProgressFn& progress) {
  // Always send a tag: an empty one pulls every tag of the repository.
  std::string tag = tag_or_digest;
  if (!tag.empty() && (tag.front() == '@' || tag.front() == ':')) tag.erase(0, 1);
  if (tag.empty()) tag = "latest";
  const bool by_digest = tag.starts_with("sha256:");
  const std::string ref = from_image + (by_digest ? "@" : ":") + tag;
  const std::string op = "pull " + ref;

  js::JsonSplitter splitter;
  js::PullProgressAggregator agg;
  std::string raw;  // the start of the body, for a non-200 answer
  std::string abort_reason;
  ErrorKind abort_kind = ErrorKind::timeout;
  const auto start = Clock::now();
  auto last_data = start;
  auto last_report = start - std::chrono::seconds(1);
  bool got_data = false;
  int reported_percent = -1;
  std::string reported_status;

  auto report = [&](bool force) {
    if (!progress) return;
    const bool percent_changed = agg.percent() != reported_percent;
    const bool due = Clock::now() - last_report >= std::chrono::milliseconds(250);
    if (!force && !percent_changed && !(due && agg.status() != reported_status)) return;
    reported_percent = agg.percent();
    reported_status = agg.status();
    last_report = Clock::now();
    progress(PullProgress{ref, agg.percent(), agg.status()});
  };

  Call c;
  c.method = "POST";
  c.path = "/images/create?fromImage=" + q(from_image) + "&tag=" + q(tag);
  if (!opts.registry_auth.empty()) c.headers.emplace_back("X-Registry-Auth", opts.registry_auth);
  c.timeout_ms = opts.overall_timeout_s > 0 ? static_cast<long>(opts.overall_timeout_s) * 1000 : 0;
  if (opts.inactivity_timeout_s > 0) c.low_speed_time_s = opts.inactivity_timeout_s + 5;
  c.on_data = [&](std::string_view chunk) {
    got_data = true;
    last_data = Clock::now();
    if (raw.size() < 64 * 1024) raw.append(chunk.substr(0, 64 * 1024 - raw.size()));
    splitter.feed(chunk);
    while (auto v = splitter.next()) {
      if (!*v) {
        spdlog::debug("engine: {}: {}", op, v->error().message);
        continue;
      }
      agg.feed(**v);
    }
    try {
      report(false);
    } catch (const std::exception& ex) {
      abort_reason = std::string("progress callback failed: ") + ex.what();
      abort_kind = ErrorKind::generic;
      return false;
    }
    return true;
  };
  c.keep_going = [&]() {
    if (!got_data && opts.first_byte_timeout_s > 0 &&
        ms_since(start) > static_cast<long>(opts.first_byte_timeout_s) * 1000) {
      abort_reason = "no answer within " + std::to_string(opts.first_byte_timeout_s) + "s";
      return false;
    }
    if (got_data && opts.inactivity_timeout_s > 0 &&
        ms_since(last_data) > static_cast<long>(opts.inactivity_timeout_s) * 1000) {
      abort_reason = "stalled: no progress for " + std::to_string(opts.inactivity_timeout_s) +
                     "s (at " + std::to_string(agg.percent()) + "%)";
      return false;
    }
    return true;
  };

  auto r = send(c, op);
  if (!r) {
    if (!abort_reason.empty()) return fail(prefix() + ": " + op + ": " + abort_reason, abort_kind);
    if (r.error().kind == ErrorKind::timeout)
      return fail(prefix() + ": " + op + ": not finished within " +
                      std::to_string(opts.overall_timeout_s) + "s (at " +
                      std::to_string(agg.percent()) + "%)",
                  ErrorKind::timeout);
    return fail(r.error());
  }
  if (r->status != 200) {
    Error e = api_error(op, r->status, raw);
    if (r->status >= 500) {
      ErrorKind k = js::classify_pull_error(e.message);
      if (k != ErrorKind::generic) e.kind = k;
    }
    return fail(e);
  }
  splitter.finish();
  while (auto v = splitter.next())
    if (*v) agg.feed(**v);
  if (agg.error()) {
    return fail(prefix() + ": " + op + ": " + *agg.error(), js::classify_pull_error(*agg.error()),
                200);
  }
  if (progress) {
    reported_percent = -1;
    try {
      progress(PullProgress{ref, 100, agg.finished() ? agg.status() : std::string("done")});
    } catch (const std::exception& ex) {
      spdlog::debug("engine: {}: progress callback failed: {}", op, ex.what());
    }
  }
  return {};
}

Result<void> DockerEngine::tag_image(const std::string& source, const std::string& repo,
                                     const std::string& tag) {
  const std::string op = "tag image " + source + " as " + repo + ":" + tag;
  Call c;
  c.method = "POST";
  c.path = "/images/" + path_escape(source) + "/tag?repo=" + q(repo) + "&tag=" + q(tag);
  auto r = send(c, op);
  if (!r) return fail(r.error());
  return expect(*r, {200, 201}, op);
}

Result<void> DockerEngine::remove_image(const std::string& ref, bool force) {
  const std::string op = "remove image " + ref;
  Call c;
  c.method = "DELETE";
  c.path = "/images/" + path_escape(ref) + "?force=" + (force ? "1" : "0");
  c.timeout_ms = 120000;
  auto r = send(c, op);
  if (!r) return fail(r.error());
  return expect(*r, {200}, op);
}

Result<std::vector<ImageInfo>> DockerEngine::list_images(
    const std::vector<std::string>& label_filters) {
  const std::string op = "list images";
  Call c;
  c.path = "/images/json?" + label_filters_query(label_filters);
  c.body_limit = net::kDockerListLimit;
  auto r = send(c, op);
  if (!r) return fail(r.error());
  if (auto ok = expect(*r, {200}, op); !ok) return fail(ok.error());
  auto j = parse_body(*r, prefix() + ": " + op);
  if (!j) return fail(j.error());
  std::vector<ImageInfo> out;
  if (!j->is_array()) return out;
  for (const auto& item : *j)
    if (auto img = js::decode_image_inspect(item)) out.push_back(std::move(*img));
  return out;
}

// --- containers ---------------------------------------------------------------------------

Result<std::vector<ContainerInfo>> DockerEngine::list_containers(
    const std::vector<std::string>& label_filters) {
  const std::string op = "list containers";
  Call c;
  c.path = "/containers/json?all=1&" + label_filters_query(label_filters);
  c.body_limit = net::kDockerListLimit;
  auto r = send(c, op);
  if (!r) return fail(r.error());
  if (auto ok = expect(*r, {200}, op); !ok) return fail(ok.error());
  auto j = parse_body(*r, prefix() + ": " + op);
  if (!j) return fail(j.error());
  std::vector<ContainerInfo> out;
  if (!j->is_array()) return out;
  for (const auto& item : *j) {
    auto ci = js::decode_container_list_item(item);
    if (ci)
      out.push_back(std::move(*ci));
    else
      spdlog::debug("engine: {}: {}", op, ci.error().message);
  }
  return out;
}

Result<ContainerInfo> DockerEngine::inspect_container(const std::string& id_or_name) {
  const std::string op = "inspect container " + id_or_name;
  Call c;
  c.path = "/containers/" + path_escape(id_or_name) + "/json";
  auto r = send(c, op);
  if (!r) return fail(r.error());
  if (auto ok = expect(*r, {200}, op); !ok) return fail(ok.error());
  auto j = parse_body(*r, prefix() + ": " + op);
  if (!j) return fail(j.error());
  auto ci = js::decode_container_inspect(*j);
  if (!ci) return fail(context(ci.error(), prefix() + ": " + op));
  return ci;
}

Result<std::string> DockerEngine::create_container(const std::string& name, const json& body) {
  const std::string op = "create container " + name;
  Call c;
  c.method = "POST";
  c.path = "/containers/create?name=" + q(name);
  c.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  c.timeout_ms = 60000;
  auto r = send(c, op);
  if (!r) return fail(r.error());
  if (auto ok = expect(*r, {201, 200}, op); !ok) return fail(ok.error());
  auto j = parse_body(*r, prefix() + ": " + op);
  if (!j) return fail(j.error());
  std::string id;
  if (j->is_object()) {
    auto it = j->find("Id");
    if (it != j->end() && it->is_string()) id = it->get<std::string>();
    auto w = j->find("Warnings");
    if (w != j->end() && w->is_array())
      for (const auto& warning : *w)
        if (warning.is_string())
          spdlog::debug("engine: {}: warning: {}", op, warning.get_ref<const std::string&>());
  }
  if (id.empty())
    return fail(prefix() + ": " + op + ": no Id in the answer", ErrorKind::invalid_input);
  return id;
}

Result<void> DockerEngine::start_container(const std::string& id) {
  const std::string op = "start container " + id;
  Call c;
  c.method = "POST";
  c.path = "/containers/" + path_escape(id) + "/start";
  c.timeout_ms = 60000;
  auto r = send(c, op);
  if (!r) return fail(r.error());
  return expect(*r, {204, 304}, op);
}

Result<void> DockerEngine::stop_container(const std::string& id, int timeout_s,
                                          const std::string& signal) {
  const std::string op = "stop container " + id;
  std::string query;
  if (timeout_s >= 0) query = "t=" + std::to_string(timeout_s);
  if (!signal.empty()) {
    auto v = ensure_version();
    if (!v) return fail(v.error());
    auto parsed = js::parse_api_version(*v);
    if (parsed && *parsed >= std::make_pair(1, 42)) {
      query += (query.empty() ? "" : "&") + std::string("signal=") + q(signal);
    } else {
      // API 1.41 has no signal on stop: send it ourselves, then stop (which waits t and
      // SIGKILLs). A container that is not running (409) is already stopped.
      auto k = kill_container(id, signal);
      if (!k && k.error().kind != ErrorKind::conflict) return fail(k.error());
    }
  }
  Call c;
  c.method = "POST";
  c.path = "/containers/" + path_escape(id) + "/stop" + (query.empty() ? "" : "?" + query);
  // The call blocks until the container stopped: t, plus slack for the kill and clean-up.
  c.timeout_ms = (timeout_s >= 0 ? static_cast<long>(timeout_s) : 300L) * 1000 + 30000;
  auto r = send(c, op);
  if (!r) return fail(r.error());
  return expect(*r, {204, 304}, op);
}

Result<void> DockerEngine::kill_container(const std::string& id, const std::string& signal) {
  const std::string op = "kill container " + id + (signal.empty() ? "" : " with " + signal);
  Call c;
  c.method = "POST";
  c.path =
      "/containers/" + path_escape(id) + "/kill" + (signal.empty() ? "" : "?signal=" + q(signal));
  auto r = send(c, op);
  if (!r) return fail(r.error());
  return expect(*r, {204}, op);
}

Result<void> DockerEngine::remove_container(const std::string& id, bool force, bool volumes) {
  const std::string op = "remove container " + id;
  Call c;
  c.method = "DELETE";
  c.path = "/containers/" + path_escape(id) + "?force=" + (force ? "1" : "0") +
           "&v=" + (volumes ? "1" : "0");
  c.timeout_ms = 60000;
  auto r = send(c, op);
  if (!r) return fail(r.error());
  return expect(*r, {204, 200}, op);
}

Result<void> DockerEngine::rename_container(const std::string& id, const std::string& new_name) {
  const std::string op = "rename container " + id + " to " + new_name;
  Call c;
  c.method = "POST";
  c.path = "/containers/" + path_escape(id) + "/rename?name=" + q(new_name);
  auto r = send(c, op);
  if (!r) return fail(r.error());
  return expect(*r, {204, 200}, op);
}

Result<int> DockerEngine::wait_container(const std::string& id, const std::string& condition,
                                         int timeout_s) {
  const std::string op = "wait for container " + id;
  Call c;
  c.method = "POST";
  c.path = "/containers/" + path_escape(id) + "/wait" +
           (condition.empty() ? "" : "?condition=" + q(condition));
  c.timeout_ms = timeout_s > 0 ? static_cast<long>(timeout_s) * 1000 : 0;
  auto r = send(c, op);
  if (!r) {
    if (r.error().kind == ErrorKind::timeout)
      return fail(prefix() + ": " + op + ": not " +
                      (condition.empty() ? std::string("stopped") : condition) + " within " +
                      std::to_string(timeout_s) + "s",
                  ErrorKind::timeout);
    return fail(r.error());
  }
  if (auto ok = expect(*r, {200}, op); !ok) return fail(ok.error());
  auto j = parse_body(*r, prefix() + ": " + op);
  if (!j) return fail(j.error());
  if (!j->is_object())
    return fail(prefix() + ": " + op + ": unexpected answer", ErrorKind::invalid_input);
  auto err = j->find("Error");
  if (err != j->end() && err->is_object()) {
    auto m = err->find("Message");
    if (m != err->end() && m->is_string() && !m->get_ref<const std::string&>().empty())
      return fail(prefix() + ": " + op + ": " + m->get<std::string>(), ErrorKind::generic);
  }
  auto sc = j->find("StatusCode");
  if (sc == j->end() || !sc->is_number_integer())
    return fail(prefix() + ": " + op + ": no StatusCode in the answer", ErrorKind::invalid_input);
  std::int64_t code = sc->get<std::int64_t>();
  if (code < INT32_MIN || code > INT32_MAX) code = -1;
  return static_cast<int>(code);
}

// --- networks and volumes -----------------------------------------------------------------

Result<std::vector<NetworkInfo>> DockerEngine::list_networks(
    const std::vector<std::string>& label_filters) {
  const std::string op = "list networks";
  Call c;
  c.path = "/networks?" + label_filters_query(label_filters);
  c.body_limit = net::kDockerListLimit;
  auto r = send(c, op);
  if (!r) return fail(r.error());
  if (auto ok = expect(*r, {200}, op); !ok) return fail(ok.error());
  auto j = parse_body(*r, prefix() + ": " + op);
  if (!j) return fail(j.error());
  std::vector<NetworkInfo> out;
  if (!j->is_array()) return out;
  for (const auto& item : *j)
    if (auto n = js::decode_network(item)) out.push_back(std::move(*n));
  return out;
}

Result<std::string> DockerEngine::create_network(const std::string& name,
                                                 const std::map<std::string, std::string>& labels) {
  const std::string op = "create network " + name;
  json body = {{"Name", name}, {"Driver", "bridge"}, {"CheckDuplicate", true}, {"Labels", labels}};
  Call c;
  c.method = "POST";
  c.path = "/networks/create";
  c.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  auto r = send(c, op);
  if (!r) return fail(r.error());
  if (auto ok = expect(*r, {201, 200}, op); !ok) return fail(ok.error());
  auto j = parse_body(*r, prefix() + ": " + op);
  if (!j) return fail(j.error());
  if (j->is_object()) {
    auto it = j->find("Id");
    if (it != j->end() && it->is_string()) return it->get<std::string>();
  }
  return fail(prefix() + ": " + op + ": no Id in the answer", ErrorKind::invalid_input);
}

Result<void> DockerEngine::remove_network(const std::string& id_or_name) {
  const std::string op = "remove network " + id_or_name;
  Call c;
  c.method = "DELETE";
  c.path = "/networks/" + path_escape(id_or_name);
  auto r = send(c, op);
  if (!r) return fail(r.error());
  return expect(*r, {204, 200}, op);
}

Result<std::vector<VolumeInfo>> DockerEngine::list_volumes(
    const std::vector<std::string>& label_filters) {
  const std::string op = "list volumes";
  Call c;
  c.path = "/volumes?" + label_filters_query(label_filters);
  c.body_limit = net::kDockerListLimit;
  auto r = send(c, op);
  if (!r) return fail(r.error());
  if (auto ok = expect(*r, {200}, op); !ok) return fail(ok.error());
  auto j = parse_body(*r, prefix() + ": " + op);
  if (!j) return fail(j.error());
  std::vector<VolumeInfo> out;
  if (!j->is_object()) return out;
  auto vols = j->find("Volumes");
  if (vols == j->end() || !vols->is_array()) return out;
  for (const auto& item : *vols)
    if (auto v = js::decode_volume(item)) out.push_back(std::move(*v));
  return out;
}

Result<void> DockerEngine::create_volume(const std::string& name,
                                         const std::map<std::string, std::string>& labels) {
  const std::string op = "create volume " + name;
  json body = {{"Name", name}, {"Driver", "local"}, {"Labels", labels}};
  Call c;
  c.method = "POST";
  c.path = "/volumes/create";
  c.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  auto r = send(c, op);
  if (!r) return fail(r.error());
  return expect(*r, {201, 200}, op);
}

Result<void> DockerEngine::remove_volume(const std::string& name, bool force) {
  const std::string op = "remove volume " + name;
  Call c;
  c.method = "DELETE";
  c.path = "/volumes/" + path_escape(name) + "?force=" + (force ? "1" : "0");
  auto r = send(c, op);
  if (!r) return fail(r.error());
  return expect(*r, {204, 200}, op);
}

// --- host ---------------------------------------------------------------------------------

Result<std::string> DockerEngine::docker_root_dir() {
  const std::string op = "info";
  Call c;
  c.path = "/info";
  auto r = send(c, op);
  if (!r) return fail(r.error());
  if (auto ok = expect(*r, {200}, op); !ok) return fail(ok.error());
  auto j = parse_body(*r, prefix() + ": " + op);
  if (!j) return fail(j.error());
  if (j->is_object()) {
    auto it = j->find("DockerRootDir");
    if (it != j->end() && it->is_string()) return it->get<std::string>();
  }
  return std::string();
}

Result<EngineInfo> DockerEngine::engine_info() {
  auto get = [&](const char* path, const std::string& op) -> Result<json> {
    Call c;
    c.path = path;
    auto r = send(c, op);
    if (!r) return fail(r.error());
    if (auto ok = expect(*r, {200}, op); !ok) return fail(ok.error());
    return parse_body(*r, prefix() + ": " + op);
  };
  auto info = get("/info", "info");
  if (!info) return fail(info.error());
  auto version = get("/version", "version");  // optional: /info has what matters
  auto e = js::decode_engine_info(*info, version ? *version : json());
  if (!e) return fail(context(e.error(), prefix()));
  return e;
}

Result<std::string> DockerEngine::container_logs(const std::string& id, int lines) {
  const std::string op = "logs of container " + id;
  Call c;
  c.path = "/containers/" + path_escape(id) +
           "/logs?stdout=1&stderr=1&tail=" + std::to_string(std::max(1, lines));
  c.timeout_ms = 10000;
  // Twenty lines can be megabytes: read at most 64 KiB of them.
  constexpr std::size_t kMaxRead = 65536;
  std::string raw;
  c.on_data = [&](std::string_view chunk) {
    raw.append(chunk.substr(0, kMaxRead - raw.size()));
    return raw.size() < kMaxRead;
  };
  auto r = send(c, op);
  if (!r && raw.size() < kMaxRead) return fail(r.error());
  if (r && r->status != 200) return fail(api_error(op, r->status, raw));
  return demux_docker_log(raw);
}

Result<std::optional<std::int64_t>> DockerEngine::data_root_free_bytes() {
  auto root = docker_root_dir();
  if (!root) return fail(root.error());
  return local_free_bytes(*root);
}

// --- events -------------------------------------------------------------------------------

Result<void> DockerEngine::stream_events(const std::vector<std::string>& label_filters,
                                         const EventFn& on_event, std::stop_token stop) {
  const std::string op = "events stream";
  js::JsonSplitter splitter;
  std::string raw;
  std::string callback_error;
  Call c;
  c.path = "/events?" + label_filters_query(label_filters, {"container"}, kStateEvents);
  c.timeout_ms = 0;
  c.on_data = [&](std::string_view chunk) {
    if (raw.size() < 4096) raw.append(chunk.substr(0, 4096 - raw.size()));
    splitter.feed(chunk);
    while (auto v = splitter.next()) {
      if (!*v) {
        spdlog::debug("engine: {}: {}", op, v->error().message);
        continue;
      }
      auto ev = js::parse_event(**v);
      if (!ev) continue;
      try {
        if (on_event) on_event(*ev);
      } catch (const std::exception& ex) {
        callback_error = ex.what();
        return false;
      }
    }
    return !stop.stop_requested();
  };
  c.stop = stop;
  auto r = send(c, op);
  if (!callback_error.empty())
    return fail(prefix() + ": " + op + ": event handler failed: " + callback_error);
  if (!r) {
    if (stop.stop_requested()) return {};
    return fail(r.error());
  }
  if (r->status != 200) return fail(api_error(op, r->status, raw));
  if (stop.stop_requested()) return {};
  return fail(prefix() + ": " + op + ": the daemon closed the stream (restarting?)",
              ErrorKind::unavailable);
}

std::unique_ptr<Engine> make_docker_engine(const std::string& docker_host) {
  std::string host = docker_host;
  if (host.empty()) {
    const char* env = std::getenv("DOCKER_HOST");
    if (env) host = env;
  }
  auto path = js::socket_path_from_docker_host(host);
  if (!path) return std::make_unique<DockerEngine>(path.error());
  return std::make_unique<DockerEngine>(*path);
}

}  // namespace berth::engine
