#include "report/reporter.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <list>
#include <nlohmann/json.hpp>
#include <random>

#include "core/url.hpp"
#include "net/http.hpp"
#include "util/atomic_file.hpp"

namespace berth::report {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Reporter::Entry {
  std::uint64_t seq = 0;
  std::uint64_t publish_mark = 0;  // publish_count_ covered by this document
  std::size_t bytes = 0;
  std::optional<json> doc;  // in memory when not on disk
  bool on_disk = false;
  bool attempted = false;  // sent at least once: the receiver may have it, never merge it away
};

struct Reporter::Pending {
  std::optional<StackStatus> status;
  std::vector<StatusEvent> events;
  std::uint64_t events_dropped = 0;
  bool dirty = false;
  Clock::time_point dirty_since;
  std::optional<Clock::time_point> urgent_since;  // first failure among the pending changes
  std::uint64_t mark = 0;

  // When the pending changes are due to be built.
  Clock::time_point due(const ReporterOptions& o) const {
    auto t = dirty_since + o.coalesce;
    if (urgent_since) t = std::min(t, *urgent_since + o.urgent_coalesce);
    return t;
  }
};

namespace {

constexpr std::size_t kMaxDashboardMessage = 300;
constexpr auto kFailureLogInterval = std::chrono::seconds(60);
constexpr std::size_t kMaxSpoolFile = 64 * 1024 * 1024;
constexpr std::uint64_t kIdBlock = 1000;  // ids reserved per state.json write
constexpr auto kStateSaveInterval = std::chrono::seconds(1);
constexpr const char* kCorruptSuffix = ".corrupt";
constexpr std::size_t kCorruptKept = 16;  // set-aside spool files kept for the operator

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string spool_name(std::uint64_t seq) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "r%020llu.json", static_cast<unsigned long long>(seq));
  return buf;
}

std::optional<std::uint64_t> parse_spool_name(const std::string& name) {
  if (name.size() != 26 || name[0] != 'r' || !name.ends_with(".json")) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(name.data() + 1, name.data() + 21, v);
  if (ec != std::errc() || p != name.data() + 21) return std::nullopt;
  return v;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  std::size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got < bytes) {  // practically unreachable; still unique enough for a stream id
    std::random_device rd;
    for (auto& c : raw) c = static_cast<char>(rd());
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

void redact(std::string& text, const std::string& secret) {
  if (secret.size() < 4) return;
  std::size_t pos = 0;
  while ((pos = text.find(secret, pos)) != std::string::npos) {
    text.replace(pos, secret.size(), "[redacted]");
    pos += 10;
  }
}

std::string one_line(std::string_view body, const std::string& secret) {
  std::string s = clean_text(body, kMaxDashboardMessage);
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  redact(s, secret);
  return s.empty() ? std::string("(empty body)") : s;
}

// Persisted JSON (the spool's documents, state.json) can be truncated, hand-edited or plain
// garbage after a crash, a full disk or an operator's edit. nlohmann's value() and get<>() throw
// type_error on a wrong type, and an exception on the worker thread (or in the constructor)
// would take berth down and, with Restart=, keep it crash-looping. So every read of a field
// below goes through these helpers: they check the type and never throw.

std::string json_str(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

// A non-negative integer field; nullopt when absent, null, negative, fractional or not a number.
std::optional<std::uint64_t> u64_field(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) {
    auto v = it->get<std::int64_t>();
    if (v >= 0) return static_cast<std::uint64_t>(v);
  }
  return std::nullopt;
}

std::uint64_t u64_or(const json& j, const char* key, std::uint64_t fallback = 0) {
  return u64_field(j, key).value_or(fallback);
}

bool is_stream_id(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Why a document read back from the spool as `seq` cannot be sent, or "" when it can. Checks
// what berth itself relies on (the dashboard validates the rest against the schema).
std::string spool_problem(const json& doc, std::uint64_t seq) {
  if (!doc.is_object()) return "not a JSON object";
  if (!json_str(doc, "schema").starts_with("berth.status/")) return "no \"schema\"";
  auto sequence = u64_field(doc, "sequence");
  if (!sequence || *sequence != seq) return "\"sequence\" does not match the file name";
  if (doc.contains("stream") && !is_stream_id(json_str(doc, "stream")))
    return "\"stream\" is not a stream id";
  if (doc.contains("events_dropped") && !u64_field(doc, "events_dropped"))
    return "\"events_dropped\" is not a count";
  if (doc.contains("host") && !doc["host"].is_object()) return "\"host\" is not an object";
  auto events = doc.find("events");
  if (events == doc.end() || !events->is_array()) return "\"events\" is not a list";
  std::uint64_t last = 0;
  for (const auto& e : *events) {
    auto id = u64_field(e, "id");
    if (!id || *id <= last) return "an event without an increasing \"id\"";
    last = *id;
  }
  return {};
}

HostInfo host_from_doc(const json& doc) {
  HostInfo h;
  auto it = doc.find("host");
  if (it == doc.end() || !it->is_object()) return h;
  h.instance_id = json_str(*it, "instance_id");
  h.hostname = json_str(*it, "hostname");
  h.machine_id = json_str(*it, "machine_id");
  return h;
}

std::uint64_t max_event_id(const json& doc) {
  std::uint64_t m = 0;
  auto it = doc.find("events");
  if (it == doc.end() || !it->is_array()) return 0;
  for (const auto& e : *it) m = std::max(m, u64_or(e, "id"));
  return m;
}

// Drops events already delivered (a collapse interrupted by a crash can leave a copy).
void drop_delivered_events(json& doc, std::uint64_t delivered_id) {
  if (!doc.is_object()) return;
  auto it = doc.find("events");
  if (it == doc.end() || !it->is_array()) {
    doc["events"] = json::array();
    return;
  }
  json kept = json::array();
  for (auto& e : *it)
    if (u64_or(e, "id") > delivered_id) kept.push_back(std::move(e));
  *it = std::move(kept);
}

std::string fmt_ms(Millis d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pure helpers

bool is_urgent_change(const StackStatus* before, const StackStatus& after,
                      const std::vector<StatusEvent>& events) {
  for (const auto& e : events) {
    switch (e.kind) {
      case EventKind::died:
      case EventKind::unhealthy:
      case EventKind::update_failed:
      case EventKind::rolled_back:
        return true;
      case EventKind::update_started:
      case EventKind::update_finished:
      case EventKind::recovered:
        break;
    }
  }
  if (!before) return false;
  for (const auto& s : after.services) {
    if (s.update_status == UpdateStatus::pulling || s.update_status == UpdateStatus::updating)
      continue;
    auto was = std::find_if(before->services.begin(), before->services.end(),
                            [&](const ServiceStatus& b) { return b.name == s.name; });
    if (was == before->services.end()) continue;
    if (was->state == "running" && s.state != "running") return true;
    if (s.health == "unhealthy" && was->health != "unhealthy") return true;
  }
  return false;
}

std::string expand_url(std::string_view tmpl, const HostInfo& host, std::string_view project) {
  std::string out;
  std::size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] == '{') {
      auto close = tmpl.find('}', i);
      if (close != std::string_view::npos) {
        std::string_view key = tmpl.substr(i + 1, close - i - 1);
        std::optional<std::string> value;
        if (key == "instance_id") value = host.id();
        if (key == "hostname") value = host.hostname;
        if (key == "project") value = std::string(project);
        if (value) {
          out += net::url_encode(*value);
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(tmpl[i++]);
  }
  return out;
}

Millis backoff_delay(int attempt, Millis initial, Millis max, double random01) {
  if (attempt < 1) attempt = 1;
  double cap = static_cast<double>(initial.count()) * std::pow(2.0, std::min(attempt - 1, 40));
  cap = std::min(cap, static_cast<double>(max.count()));
  random01 = std::clamp(random01, 0.0, 1.0);
  return Millis(static_cast<std::int64_t>(cap / 2 + cap / 2 * random01));
}

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int frac = static_cast<int>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Reporter

Reporter::Reporter(DashboardSettings settings, std::string project, std::string state_dir,
                   TokenProvider token, ReporterOptions options)
    : settings_(std::move(settings)),
      project_(std::move(project)),
      spool_dir_(std::move(state_dir) + "/spool"),
      token_(std::move(token)),
      options_(std::move(options)),
      pending_(std::make_unique<Pending>()) {
  if (!options_.wall_clock) options_.wall_clock = [] { return std::chrono::system_clock::now(); };
  if (!token_) token_ = [] { return Result<std::string>(std::string()); };
  if (settings_.url.empty())
    spdlog::error("dashboard: [dashboard].url is empty; reports are spooled but cannot be sent");
  else if (url::classify(settings_.url) == url::Transport::plain_http)
    spdlog::warn("dashboard url {} is plain http: reports are not encrypted; use https",
                 url::for_log(settings_.url));
  next_attempt_ = Clock::now();
  last_sent_ = Clock::now();
  load_state();
  worker_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "berth-report");
    run();
  });
}

Reporter::~Reporter() {
  stop();
}

std::string Reporter::url_for(const HostInfo& host) const {
  return expand_url(settings_.url, host, project_);
}

std::string Reporter::now_rfc3339() const {
  return format_rfc3339(options_.wall_clock());
}

void Reporter::publish(StackStatus status, std::vector<StatusEvent> new_events) {
  std::lock_guard lk(mu_);
  if (stop_) {
    spdlog::debug("dashboard: report after stop ignored");
    return;
  }
  ++counters_.published;
  auto& p = *pending_;
  const bool urgent = is_urgent_change(p.status ? &*p.status : nullptr, status, new_events);
  p.status = std::move(status);
  for (auto& e : new_events) {
    e.id = 0;  // numbered by the worker when the document is built
    p.events.push_back(std::move(e));
  }
  if (p.events.size() > options_.max_events_per_document) {
    std::size_t drop = p.events.size() - options_.max_events_per_document;
    p.events.erase(p.events.begin(), p.events.begin() + static_cast<std::ptrdiff_t>(drop));
    p.events_dropped += drop;
    counters_.events_dropped += drop;
  }
  p.mark = ++publish_count_;
  bool wake = false;
  if (!p.dirty) {
    p.dirty = true;
    p.dirty_since = Clock::now();
    wake = true;
  }
  if (urgent && !p.urgent_since) {
    p.urgent_since = Clock::now();
    wake = true;
  }
  if (wake) {
    wake_ = true;
    cv_.notify_all();
  }
}

bool Reporter::flush(Millis timeout) {
  std::unique_lock lk(mu_);
  std::uint64_t target = publish_count_;
  flush_now_ = true;
  wake_ = true;
  cv_.notify_all();
  return idle_cv_.wait_for(lk, timeout, [&] { return acked_publish_ >= target || stop_; }) &&
         acked_publish_ >= target;
}

void Reporter::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    wake_ = true;
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  std::call_once(join_once_, [this] {
    if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
  });
}

ReporterCounters Reporter::counters() const {
  std::lock_guard lk(mu_);
  return counters_;
}

void Reporter::set_waiting_counters() {
  std::size_t files = 0, bytes = 0;
  for (const auto& e : outbox_) {
    if (e.on_disk) ++files;
    bytes += e.bytes;
  }
  std::lock_guard lk(mu_);
  counters_.waiting = outbox_.size();
  counters_.spool_files = files;
  counters_.spool_bytes = bytes;
  counters_.last_delivered_sequence = delivered_sequence_;
  counters_.last_delivered_event_id = delivered_event_id_;
}

// --- persistence -----------------------------------------------------------------------------

void Reporter::load_state() {
  last_state_save_ = Clock::now();
  // The report directory (spool, cached desired state) is private like the state directory,
  // also when an older berth created it 0755.
  auto r = ensure_dir(spool_dir_.substr(0, spool_dir_.rfind('/')), 0700);
  if (r) r = ensure_dir(spool_dir_, 0700);
  if (!r) {
    spool_ok_ = false;
    spdlog::error("dashboard spool: {}; reports are kept in memory only", r.error().message);
    stream_ = random_hex(16);
    return;
  }
  auto state = read_file(spool_dir_ + "/state.json", 64 * 1024);
  if (state && *state) {
    auto j = json::parse(**state, nullptr, false);
    // All or nothing: numbers from a half-garbage file could repeat sequence numbers the
    // dashboard already has (it would drop those reports as retries). An absent number is 0.
    bool ok = j.is_object();
    auto number = [&](const char* key) -> std::uint64_t {
      if (!ok || !j.contains(key)) return 0;
      auto v = u64_field(j, key);
      if (!v) ok = false;
      return v.value_or(0);
    };
    auto seq_reserved = number("sequence_reserved");
    auto ev_reserved = number("event_reserved");
    auto del_seq = number("delivered_sequence");
    auto del_ev = number("delivered_event_id");
    if (ok && is_stream_id(json_str(j, "stream"))) {
      stream_ = json_str(j, "stream");
      sequence_reserved_ = seq_reserved;
      event_reserved_ = ev_reserved;
      delivered_sequence_ = del_seq;
      delivered_event_id_ = del_ev;
    } else {
      spdlog::warn(
          "dashboard spool: {}/state.json is corrupt; continuing the spooled reports' stream "
          "or starting a new one",
          spool_dir_);
    }
  } else if (!state) {
    spdlog::warn("dashboard spool: {}", state.error().message);
  }

  auto names = list_dir(spool_dir_);
  if (!names) {
    spdlog::error("dashboard spool: {}", names.error().message);
    names = std::vector<std::string>();
  }
  std::uint64_t max_seq = std::max(delivered_sequence_, sequence_reserved_);
  std::uint64_t max_event = std::max(delivered_event_id_, event_reserved_);
  std::uint64_t last_spooled_event = 0;  // events are strictly increasing across the spool
  std::vector<std::string> set_aside_files;
  for (const auto& name : *names) {
    std::string path = spool_dir_ + "/" + name;
    if (name.ends_with(kCorruptSuffix)) {
      set_aside_files.push_back(path);
      continue;
    }
    if (name.find(".tmp.") != std::string::npos) {  // a write interrupted by a crash
      (void)remove_file_durable(path);
      continue;
    }
    auto seq = parse_spool_name(name);
    if (!seq) continue;
    if (*seq <= delivered_sequence_) {  // delivered, but the crash came before the unlink
      (void)remove_file_durable(path);
      continue;
    }
    auto data = read_file(path, kMaxSpoolFile);
    json doc = (data && *data) ? json::parse(**data, nullptr, false) : json();
    if (std::string why = data ? spool_problem(doc, *seq) : data.error().message; !why.empty()) {
      set_aside(*seq, why);
      continue;
    }
    Entry e;
    e.seq = *seq;
    e.bytes = (*data)->size();
    e.on_disk = true;
    // A merge interrupted by a crash leaves the merged events in two files: keep the first.
    std::size_t before = doc.contains("events") ? doc["events"].size() : 0;
    drop_delivered_events(doc, last_spooled_event);
    if (doc["events"].size() != before) {
      std::string fixed = dump(doc);
      if (write_file_atomic(path, fixed, 0600)) {
        e.bytes = fixed.size();
      } else {
        e.on_disk = false;
        e.doc = doc;
      }
    }
    if (stream_.empty() && is_stream_id(json_str(doc, "stream"))) stream_ = json_str(doc, "stream");
    max_seq = std::max(max_seq, *seq);
    last_spooled_event = std::max(last_spooled_event, max_event_id(doc));
    outbox_.push_back(std::move(e));
  }
  // Documents set aside by earlier runs: the newest few stay for the operator, so that a spool
  // corrupted again and again cannot fill the disk.
  std::sort(set_aside_files.begin(), set_aside_files.end());
  for (std::size_t i = 0; i + kCorruptKept < set_aside_files.size(); ++i)
    (void)remove_file_durable(set_aside_files[i]);
  max_event = std::max(max_event, last_spooled_event);
  if (stream_.empty()) stream_ = random_hex(16);
  // Continue above everything handed out before (gaps are fine, reuse is not).
  next_sequence_ = max_seq + 1;
  next_event_id_ = max_event + 1;
  reserve(next_sequence_, next_event_id_);
  if (!outbox_.empty())
    spdlog::info("dashboard: {} spooled report(s) from a previous run will be delivered first",
                 outbox_.size());
  set_waiting_counters();
}

bool Reporter::save_state() {
  if (!spool_ok_) return false;
  json j = {{"stream", stream_},
            {"sequence_reserved", sequence_reserved_},
            {"event_reserved", event_reserved_},
            {"delivered_sequence", delivered_sequence_},
            {"delivered_event_id", delivered_event_id_}};
  last_state_save_ = Clock::now();
  delivered_unsaved_ = false;
  if (auto r = write_file_atomic(spool_dir_ + "/state.json", dump(j), 0600); !r) {
    spdlog::error("dashboard spool: {}; sequence numbers may repeat after a restart",
                  r.error().message);
    return false;
  }
  return true;
}

bool Reporter::reserve(std::uint64_t next_seq, std::uint64_t next_event) {
  bool change = false;
  if (next_seq > sequence_reserved_) {
    sequence_reserved_ = next_seq + kIdBlock - 1;
    change = true;
  }
  if (next_event > event_reserved_) {
    event_reserved_ = next_event + kIdBlock - 1;
    change = true;
  }
  return !change || save_state();
}

void Reporter::spool_entry(Entry& e) {
  if (e.on_disk || !e.doc) return;
  if (!spool_ok_) return;
  std::string data = dump(*e.doc);
  auto r = write_file_atomic(spool_dir_ + "/" + spool_name(e.seq), data, 0600);
  if (!r) {
    spdlog::error("dashboard spool: {}; report {} kept in memory", r.error().message, e.seq);
    return;
  }
  e.on_disk = true;
  e.bytes = data.size();
  e.doc.reset();
  std::lock_guard lk(mu_);
  ++counters_.spooled;
}

// A spooled document that cannot be sent is logged and renamed to rNNN.json.corrupt (kept for
// the operator, never read again; the newest few are kept, see load_state()); reporting goes on
// with the next one. A document that was only in memory is just dropped.
void Reporter::set_aside(std::uint64_t seq, const std::string& why) {
  std::string path = spool_dir_ + "/" + spool_name(seq);
  std::string aside = path + kCorruptSuffix;
  if (::rename(path.c_str(), aside.c_str()) == 0) {
    (void)fsync_dir(spool_dir_);
    spdlog::error("dashboard spool: report {} ({}) cannot be sent: {}; moved aside to {}", seq,
                  path, why, aside);
    return;
  }
  if (errno != ENOENT) (void)remove_file_durable(path);
  spdlog::error("dashboard spool: report {} cannot be sent: {}; dropped", seq, why);
}

namespace {

Result<json> load(const std::string& dir, const std::optional<json>& mem, std::uint64_t seq) {
  if (mem) return *mem;
  std::string path = dir + "/" + spool_name(seq);
  auto data = read_file(path, kMaxSpoolFile);
  if (!data) return fail(data.error());
  if (!*data) return fail("missing", ErrorKind::not_found);
  auto j = json::parse(**data, nullptr, false);
  if (std::string why = spool_problem(j, seq); !why.empty())
    return fail(why, ErrorKind::invalid_input);
  return j;
}

}  // namespace

void Reporter::enforce_bounds() {
  auto total_bytes = [&] {
    std::size_t b = 0;
    for (const auto& e : outbox_) b += e.bytes;
    return b;
  };
  std::size_t bytes = total_bytes();
  while (outbox_.size() > options_.spool_max_files || bytes > options_.spool_max_bytes) {
    auto a = outbox_.begin();
    if (a != outbox_.end() && a->attempted) ++a;  // the receiver may have it: keep it whole
    if (a == outbox_.end()) break;
    auto b = std::next(a);
    if (b == outbox_.end()) break;
    auto ja = load(spool_dir_, a->doc, a->seq);
    if (!ja) {
      set_aside(a->seq, ja.error().message);
      outbox_.erase(a);
      bytes = total_bytes();
      continue;
    }
    auto jb = load(spool_dir_, b->doc, b->seq);
    if (!jb) {
      set_aside(b->seq, jb.error().message);
      outbox_.erase(b);
      bytes = total_bytes();
      continue;
    }
    drop_delivered_events(*ja, delivered_event_id_);
    drop_delivered_events(*jb, delivered_event_id_);
    json events = std::move((*ja)["events"]);
    for (auto& ev : (*jb)["events"]) events.push_back(std::move(ev));
    std::uint64_t dropped = u64_or(*ja, "events_dropped") + u64_or(*jb, "events_dropped");
    if (events.size() > options_.max_events_per_document) {
      std::size_t n = events.size() - options_.max_events_per_document;
      events.erase(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(n));
      dropped += n;
      std::lock_guard lk(mu_);
      counters_.events_dropped += n;
    }
    (*jb)["events"] = std::move(events);
    if (dropped) (*jb)["events_dropped"] = dropped;
    std::string data = dump(*jb);
    if (b->on_disk) {
      auto w = write_file_atomic(spool_dir_ + "/" + spool_name(b->seq), data, 0600);
      if (!w) {
        spdlog::error("dashboard spool: {}; kept in memory", w.error().message);
        (void)remove_file_durable(spool_dir_ + "/" + spool_name(b->seq));
        b->on_disk = false;
        b->doc = std::move(*jb);
      }
    } else {
      b->doc = std::move(*jb);
    }
    b->bytes = data.size();
    // Only now remove the older one: a crash in between leaves its events twice on disk, and
    // delivery drops events at or below the last delivered id.
    if (a->on_disk) (void)remove_file_durable(spool_dir_ + "/" + spool_name(a->seq));
    outbox_.erase(a);
    {
      std::lock_guard lk(mu_);
      ++counters_.collapsed;
    }
    bytes = total_bytes();
  }
}

// --- building and sending --------------------------------------------------------------------

bool Reporter::build_document(bool heartbeat) {
  StackStatus status;
  std::vector<StatusEvent> events;
  std::uint64_t dropped = 0;
  std::uint64_t mark = 0;
  {
    std::lock_guard lk(mu_);
    auto& p = *pending_;
    p.dirty = false;
    p.urgent_since.reset();
    flush_now_ = false;
    if (!p.status) return false;
    status = *p.status;
    events = std::move(p.events);
    p.events.clear();
    dropped = std::exchange(p.events_dropped, 0);
    mark = p.mark;
  }
  sort_services(status.services);
  std::string status_json = dump(to_status_json(status));
  if (!heartbeat && events.empty() && dropped == 0 && status_json == last_status_json_) {
    // Nothing new: acknowledge this publish once everything before it is acknowledged.
    if (!outbox_.empty()) {
      outbox_.back().publish_mark = std::max(outbox_.back().publish_mark, mark);
    } else {
      std::lock_guard lk(mu_);
      acked_publish_ = std::max(acked_publish_, mark);
      idle_cv_.notify_all();
    }
    return false;
  }
  last_status_json_ = std::move(status_json);
  std::uint64_t unnumbered = 0;
  for (const auto& ev : events)
    if (ev.id == 0) ++unnumbered;
  reserve(next_sequence_, next_event_id_ + unnumbered);
  for (auto& ev : events)
    if (ev.id == 0) ev.id = next_event_id_++;
  Entry e;
  e.seq = next_sequence_++;
  e.publish_mark = mark;
  json doc = to_report_json(status, events, e.seq, now_rfc3339(), stream_);
  if (dropped) doc["events_dropped"] = dropped;
  e.bytes = dump(doc).size();
  e.doc = std::move(doc);
  {
    std::lock_guard lk(mu_);
    ++counters_.documents;
    if (heartbeat) ++counters_.heartbeats;
  }
  add_entry(std::move(e));
  return true;
}

void Reporter::add_entry(Entry e) {
  outbox_.push_back(std::move(e));
  if (failing_) spool_entry(outbox_.back());
  enforce_bounds();
  set_waiting_counters();
}

// Returns false when the head stays (retry later), true when it left the outbox.
bool Reporter::send_head(Clock::time_point deadline) {
  Entry& e = outbox_.front();
  auto loaded = load(spool_dir_, e.doc, e.seq);
  if (!loaded) {
    set_aside(e.seq, loaded.error().message);
    outbox_.pop_front();
    return true;
  }
  json doc = std::move(*loaded);
  drop_delivered_events(doc, delivered_event_id_);

  auto now = Clock::now();
  auto fail_retry = [&](const std::string& cause, std::optional<Millis> retry_after) {
    ++attempt_;
    failing_ = true;
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    Millis delay = backoff_delay(attempt_, options_.backoff_initial, options_.backoff_max,
                                 std::uniform_real_distribution<double>(0.0, 1.0)(rng));
    if (retry_after) delay = std::min(*retry_after, options_.retry_after_max);
    next_attempt_ = Clock::now() + delay;
    for (auto& x : outbox_) spool_entry(x);
    enforce_bounds();
    {
      std::lock_guard lk(mu_);
      ++counters_.failures;
    }
    auto t = Clock::now();
    if (cause != last_failure_logged_ || t - last_failure_log_time_ >= kFailureLogInterval) {
      spdlog::warn("dashboard: {}; {} report(s) waiting, retry in {}", cause, outbox_.size(),
                   fmt_ms(delay));
      last_failure_logged_ = cause;
      last_failure_log_time_ = t;
    }
    return false;
  };

  auto token = token_();
  if (!token) return fail_retry("cannot read the bearer token: " + token.error().message, {});
  std::string url = expand_url(settings_.url, host_from_doc(doc), project_);
  std::string body = dump(doc);
  redact(body, *token);

  net::Request req;
  req.method = "POST";
  req.url = url;
  req.body = std::move(body);
  req.ca_file = settings_.ca_file;
  req.connect_timeout_ms = options_.connect_timeout_ms;
  auto remaining = std::chrono::duration_cast<Millis>(deadline - now).count();
  req.timeout_ms =
      std::max<long>(1, std::min<long>(options_.timeout_ms, static_cast<long>(remaining)));
  req.connect_timeout_ms = std::min(req.connect_timeout_ms, req.timeout_ms);
  req.headers = {{"Content-Type", "application/json"},
                 {"User-Agent", std::string("berth/") + BERTH_VERSION}};
  req.body_limit = net::kDashboardAnswerLimit;
  if (!token->empty()) req.headers.emplace_back("Authorization", "Bearer " + *token);
  e.attempted = true;
  {
    std::lock_guard lk(mu_);
    ++counters_.attempts;
  }
  static thread_local net::Client client;
  auto resp = client.perform(req);
  // Scrub the token copies we made.
  for (auto& h : req.headers) std::fill(h.second.begin(), h.second.end(), '\0');

  if (!resp) return fail_retry(resp.error().message, {});
  long st = resp->status;
  std::string where = url::for_log(url);
  if (st >= 200 && st < 300) {
    bool recovered = failing_;
    delivered_sequence_ = std::max(delivered_sequence_, e.seq);
    delivered_event_id_ = std::max(delivered_event_id_, max_event_id(doc));
    if (e.on_disk) {
      // Not durable on purpose (no fsync per report): should the file survive a crash, it is
      // sent again with its sequence number, which the receiver recognises as a retry.
      ::unlink((spool_dir_ + "/" + spool_name(e.seq)).c_str());
      delivered_unsaved_ = true;
    }
    std::uint64_t mark = e.publish_mark;
    std::uint64_t seq = e.seq;
    outbox_.pop_front();
    if (delivered_unsaved_ &&
        (outbox_.empty() || Clock::now() - last_state_save_ >= kStateSaveInterval))
      save_state();  // so a restart does not resend what was delivered from the spool
    attempt_ = 0;
    failing_ = false;
    next_attempt_ = Clock::now();
    last_sent_ = Clock::now();
    carried_events_.erase(carried_events_.begin(),
                          carried_events_.upper_bound(delivered_event_id_));
    if (recovered)
      spdlog::info("dashboard {} reachable again; delivering {} waiting report(s)", where,
                   outbox_.size());
    last_failure_logged_.clear();
    spdlog::debug("dashboard: report {} delivered ({} events)", seq, doc["events"].size());
    std::lock_guard lk(mu_);
    ++counters_.delivered;
    acked_publish_ = std::max(acked_publish_, mark);
    idle_cv_.notify_all();
    return true;
  }
  std::string message = one_line(resp->body, *token);
  if (st == 408 || st == 425 || st == 429 || st >= 500 || st < 200) {
    std::optional<Millis> ra;
    if (st == 429 || st == 503)
      ra = parse_retry_after(resp->header("retry-after"), options_.wall_clock());
    return fail_retry(where + ": HTTP " + std::to_string(st) + ": " + message, ra);
  }

  // A refusal retrying cannot fix (400, 401, 403, 404, 422, other 4xx, redirects): drop the
  // document. Its events are carried into the next document once; if that is refused too they
  // are dropped, so one poisonous event cannot block reporting forever.
  json carried = json::array();
  std::uint64_t lost = 0;
  for (auto& ev : doc["events"]) {
    std::uint64_t id = u64_or(ev, "id");
    if (carried_events_.contains(id)) {
      ++lost;
    } else {
      carried_events_.insert(id);
      carried.push_back(std::move(ev));
    }
  }
  std::string hint;
  if (st == 401 || st == 403) hint = " (check [dashboard].token_file / credential dashboard-token)";
  if (st == 404) hint = " (check [dashboard].url)";
  if (st >= 300 && st < 400) hint = " (redirects are not followed; fix [dashboard].url)";
  spdlog::error(
      "dashboard {} refused report {}: HTTP {}: {}{}; report dropped, {} event(s) "
      "carried to the next report, {} dropped",
      where, e.seq, st, message, hint, carried.size(), lost);
  // The carried events are written into the next document before this one's file goes: a
  // crash in between leaves them twice, and load_state() keeps the first copy.
  const bool head_on_disk = e.on_disk;
  const std::string head_path = spool_dir_ + "/" + spool_name(e.seq);
  std::uint64_t mark = e.publish_mark;
  std::uint64_t dropped_before = u64_or(doc, "events_dropped");
  outbox_.pop_front();
  struct RemoveHead {
    bool on;
    const std::string& path;
    ~RemoveHead() {
      if (on) (void)remove_file_durable(path);
    }
  } remove_head{head_on_disk, head_path};
  ++attempt_;
  failing_ = true;
  next_attempt_ =
      Clock::now() + backoff_delay(attempt_, options_.backoff_initial, options_.backoff_max, 0.5);
  last_sent_ = Clock::now();
  {
    std::lock_guard lk(mu_);
    ++counters_.rejected;
    counters_.events_dropped += lost;
    acked_publish_ = std::max(acked_publish_, mark);
    idle_cv_.notify_all();
  }
  std::uint64_t dropped_total = dropped_before + lost;
  if (carried.empty() && dropped_total == 0) return true;
  if (!outbox_.empty()) {
    Entry& next = outbox_.front();
    auto jn = load(spool_dir_, next.doc, next.seq);
    if (jn) {
      for (auto& ev : (*jn)["events"]) carried.push_back(std::move(ev));
      (*jn)["events"] = std::move(carried);
      dropped_total += u64_or(*jn, "events_dropped");
      if (dropped_total) (*jn)["events_dropped"] = dropped_total;
      std::string data = dump(*jn);
      next.bytes = data.size();
      if (next.on_disk) {
        if (!write_file_atomic(spool_dir_ + "/" + spool_name(next.seq), data, 0600)) {
          next.on_disk = false;
          next.doc = std::move(*jn);
        }
      } else {
        next.doc = std::move(*jn);
      }
      return true;
    }
  }
  // No document waiting: the carried events go back to the pending ones (first).
  std::vector<StatusEvent> back;
  for (const auto& ev : carried) {
    StatusEvent se;
    se.id = u64_or(ev, "id");
    se.time = json_str(ev, "time");
    se.service = json_str(ev, "service");
    se.kind = parse_event_kind(json_str(ev, "kind")).value_or(EventKind::died);
    se.detail = json_str(ev, "detail");
    if (ev.contains("exit_code") && ev["exit_code"].is_number_integer())
      se.exit_code = ev["exit_code"].get<int>();
    back.push_back(std::move(se));
  }
  std::lock_guard lk(mu_);
  auto& p = *pending_;
  p.events.insert(p.events.begin(), std::make_move_iterator(back.begin()),
                  std::make_move_iterator(back.end()));
  p.events_dropped += dropped_total;
  if (!p.dirty) {
    p.dirty = true;
    p.dirty_since = Clock::now();
  }
  return true;
}

void Reporter::run() {
  const Millis heartbeat = settings_.heartbeat;
  for (;;) {
    bool build = false;
    bool beat = false;
    bool send = false;
    {
      std::unique_lock lk(mu_);
      for (;;) {
        if (stop_) break;
        auto now = Clock::now();
        const auto& p = *pending_;
        if (!p.dirty) flush_now_ = false;  // nothing pending: flush() only waits for delivery
        if (p.dirty && (flush_now_ || now >= p.due(options_))) {
          build = true;
          break;
        }
        if (!outbox_.empty() && now >= next_attempt_) {
          send = true;
          break;
        }
        if (outbox_.empty() && !p.dirty && p.status && heartbeat.count() > 0 &&
            now >= last_sent_ + heartbeat) {
          beat = true;
          break;
        }
        auto wake = Clock::time_point::max();
        if (p.dirty) wake = std::min(wake, p.due(options_));
        if (!outbox_.empty())
          wake = std::min(wake, next_attempt_);
        else if (p.status && heartbeat.count() > 0)
          wake = std::min(wake, last_sent_ + heartbeat);
        wake_ = false;
        if (wake == Clock::time_point::max())
          cv_.wait(lk, [&] { return wake_ || stop_; });
        else
          cv_.wait_until(lk, wake, [&] { return wake_ || stop_; });
      }
      if (stop_) break;
    }
    if (build || beat) build_document(beat);
    if (send || (!outbox_.empty() && Clock::now() >= next_attempt_)) {
      try {
        send_head(Clock::now() + Millis(options_.timeout_ms));
      } catch (const std::exception& ex) {
        // Last line of defence: every read of a spooled document is type-checked, but should
        // one still throw, it must not take berth down (and crash-loop it on the same file):
        // the document at the head is set aside and reporting goes on.
        if (!outbox_.empty()) {
          set_aside(outbox_.front().seq, std::string("internal error: ") + ex.what());
          outbox_.pop_front();
        }
      }
    }
    set_waiting_counters();
  }

  // Stopping: deliver what we can within the bound, spool the rest.
  auto deadline = Clock::now() + options_.stop_timeout;
  bool dirty = false;
  {
    std::lock_guard lk(mu_);
    dirty = pending_->dirty;
  }
  if (dirty) build_document(false);
  while (!outbox_.empty() && Clock::now() < deadline && Clock::now() >= next_attempt_) {
    if (!send_head(deadline) && failing_) break;
  }
  for (auto& e : outbox_) spool_entry(e);
  enforce_bounds();
  if (delivered_unsaved_) save_state();
  set_waiting_counters();
  if (!outbox_.empty())
    spdlog::info("dashboard: {} report(s) spooled in {} for the next start", outbox_.size(),
                 spool_dir_);
  idle_cv_.notify_all();
}

}  // namespace berth::report
