#include "core/status.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace berth {

namespace {

template <typename E, std::size_t N>
std::optional<E> parse_enum(std::string_view s,
                            const std::array<std::pair<E, std::string_view>, N>& table) {
  for (const auto& [value, name] : table)
    if (name == s) return value;
  return std::nullopt;
}

template <typename E, std::size_t N>
std::string_view enum_name(E e, const std::array<std::pair<E, std::string_view>, N>& table) {
  for (const auto& [value, name] : table)
    if (value == e) return name;
  return "unknown";
}

constexpr std::array<std::pair<UpdateStatus, std::string_view>, 6> kUpdateStatusNames{{
    {UpdateStatus::up_to_date, "up_to_date"},
    {UpdateStatus::pulling, "pulling"},
    {UpdateStatus::updating, "updating"},
    {UpdateStatus::rolled_back, "rolled_back"},
    {UpdateStatus::failed, "failed"},
    {UpdateStatus::stale, "stale"},
}};

constexpr std::array<std::pair<OverallState, std::string_view>, 4> kOverallNames{{
    {OverallState::converging, "converging"},
    {OverallState::healthy, "healthy"},
    {OverallState::degraded, "degraded"},
    {OverallState::failed, "failed"},
}};

constexpr std::array<std::pair<EventKind, std::string_view>, 7> kEventKindNames{{
    {EventKind::update_started, "update_started"},
    {EventKind::update_finished, "update_finished"},
    {EventKind::update_failed, "update_failed"},
    {EventKind::rolled_back, "rolled_back"},
    {EventKind::died, "died"},
    {EventKind::unhealthy, "unhealthy"},
    {EventKind::recovered, "recovered"},
}};

constexpr std::array<std::pair<FailedStep, std::string_view>, 9> kFailedStepNames{{
    {FailedStep::none, "none"},
    {FailedStep::image, "image"},
    {FailedStep::engine, "engine"},
    {FailedStep::config, "config"},
    {FailedStep::create, "create"},
    {FailedStep::start, "start"},
    {FailedStep::health, "health"},
    {FailedStep::swap, "swap"},
    {FailedStep::dependency, "dependency"},
}};

// Length of the valid UTF-8 sequence starting at s[i], 0 when invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned cp = 0;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1Fu;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0Fu;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07u;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3Fu);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
    return 0;  // overlong
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

nlohmann::json str_or_null(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

nlohmann::json text_or_null(const std::string& s, std::size_t max) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(clean_text(s, max));
}

bool service_ok(const ServiceStatus& s) {
  if (s.update_status == UpdateStatus::failed || s.update_status == UpdateStatus::rolled_back)
    return false;
  if (s.state == "running") return s.health != "unhealthy";
  if (s.state == "completed") return true;
  return s.state == "exited" && s.exit_code.value_or(-1) == 0;  // one-shot that finished
}

}  // namespace

std::string_view to_string(UpdateStatus s) {
  return enum_name(s, kUpdateStatusNames);
}
std::string_view to_string(OverallState s) {
  return enum_name(s, kOverallNames);
}
std::string_view to_string(EventKind k) {
  return enum_name(k, kEventKindNames);
}
std::optional<UpdateStatus> parse_update_status(std::string_view s) {
  return parse_enum(s, kUpdateStatusNames);
}
std::optional<OverallState> parse_overall_state(std::string_view s) {
  return parse_enum(s, kOverallNames);
}
std::optional<EventKind> parse_event_kind(std::string_view s) {
  return parse_enum(s, kEventKindNames);
}
std::string_view to_string(FailedStep s) {
  return enum_name(s, kFailedStepNames);
}
std::optional<FailedStep> parse_failed_step(std::string_view s) {
  return parse_enum(s, kFailedStepNames);
}

std::string HostInfo::id() const {
  if (!instance_id.empty()) return instance_id;
  if (!machine_id.empty()) return machine_id;
  return hostname;
}

OverallState compute_overall(const std::vector<ServiceStatus>& services, bool converging) {
  if (converging) return OverallState::converging;
  if (services.empty()) return OverallState::healthy;
  bool in_progress = false;
  bool starting = false;
  std::size_t bad = 0;
  std::size_t running = 0;
  for (const auto& s : services) {
    if (s.update_status == UpdateStatus::pulling || s.update_status == UpdateStatus::updating)
      in_progress = true;
    if (s.state == "running" || s.state == "restarting" || s.state == "paused") ++running;
    if (s.state == "running" && s.health == "starting") starting = true;
    if (!service_ok(s)) ++bad;
  }
  if (in_progress) return OverallState::converging;
  if (bad == 0) return starting ? OverallState::converging : OverallState::healthy;
  if (running == 0) return OverallState::failed;
  return OverallState::degraded;
}

void sort_services(std::vector<ServiceStatus>& services) {
  std::stable_sort(services.begin(), services.end(),
                   [](const ServiceStatus& a, const ServiceStatus& b) { return a.name < b.name; });
}

std::string clean_text(std::string_view s, std::size_t max_bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  static constexpr std::string_view kEllipsis = "...";
  std::string out;
  out.reserve(std::min(s.size(), max_bytes) + 8);
  // Byte offsets in `out` after each complete code point, to cut on a boundary.
  std::vector<std::size_t> boundaries;
  std::size_t i = 0;
  bool cut = false;
  while (i < s.size()) {
    std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) {
      out += kReplacement;
      i += 1;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
    boundaries.push_back(out.size());
    if (out.size() > max_bytes) {
      cut = true;
      break;
    }
  }
  if (!cut) return out;
  std::size_t budget = max_bytes >= kEllipsis.size() ? max_bytes - kEllipsis.size() : 0;
  std::size_t keep = 0;
  for (std::size_t b : boundaries)
    if (b <= budget) keep = b;
  out.resize(keep);
  if (max_bytes >= kEllipsis.size()) out += kEllipsis;
  return out;
}

nlohmann::json to_json(const HostInfo& h) {
  return {
      {"instance_id", str_or_null(h.instance_id)},
      {"region", str_or_null(h.region)},
      {"availability_zone", str_or_null(h.availability_zone)},
      {"instance_type", str_or_null(h.instance_type)},
      {"hostname", str_or_null(h.hostname)},
      {"machine_id", str_or_null(h.machine_id)},
      {"boot_id", str_or_null(h.boot_id)},
  };
}

nlohmann::json to_json(const ServiceStatus& s) {
  nlohmann::json j = {
      {"name", s.name},
      {"image", s.image},
      {"requested_tag", str_or_null(s.requested_tag)},
      {"digest", str_or_null(s.digest)},
      {"previous_digest", str_or_null(s.previous_digest)},
      {"container_id", str_or_null(s.container_id)},
      {"state", s.state.empty() ? std::string("missing") : s.state},
      {"health", s.health.empty() ? std::string("none") : s.health},
      {"health_output", text_or_null(s.health_output, kMaxHealthOutput)},
      {"started_at", str_or_null(s.started_at)},
      {"finished_at", str_or_null(s.finished_at)},
      {"job", s.job},
      {"restart_count", s.restart_count},
      {"exit_code", s.exit_code ? nlohmann::json(*s.exit_code) : nlohmann::json(nullptr)},
      {"update_status", to_string(s.update_status)},
      {"last_error", text_or_null(s.last_error, kMaxErrorText)},
      {"failed_step", s.failed_step == FailedStep::none ? nlohmann::json(nullptr)
                                                        : nlohmann::json(to_string(s.failed_step))},
      {"log_tail", text_or_null(s.log_tail, kMaxLogTail)},
      {"pull_percent",
       s.pull_percent ? nlohmann::json(std::clamp(*s.pull_percent, 0, 100)) : nlohmann::json()},
  };
  if (!s.pin_source.empty()) j["pin_source"] = s.pin_source;
  return j;
}

nlohmann::json to_json(const StatusEvent& e) {
  return {
      {"id", e.id},
      {"time", e.time},
      {"service", str_or_null(e.service)},
      {"kind", to_string(e.kind)},
      {"detail", clean_text(e.detail, kMaxEventDetail)},
      {"exit_code", e.exit_code ? nlohmann::json(*e.exit_code) : nlohmann::json(nullptr)},
  };
}

nlohmann::json to_status_json(const StackStatus& stack) {
  std::vector<const ServiceStatus*> ordered;
  ordered.reserve(stack.services.size());
  for (const auto& s : stack.services) ordered.push_back(&s);
  std::stable_sort(
      ordered.begin(), ordered.end(),
      [](const ServiceStatus* a, const ServiceStatus* b) { return a->name < b->name; });
  nlohmann::json services = nlohmann::json::array();
  for (const auto* s : ordered) services.push_back(to_json(*s));
  nlohmann::json doc = {
      {"project", stack.project},
      {"config_version", str_or_null(stack.config_version)},
      {"overall", to_string(stack.overall)},
      {"agent",
       {{"version", stack.agent_version}, {"started_at", str_or_null(stack.agent_started_at)}}},
      {"host", to_json(stack.host)},
      {"services", std::move(services)},
      {"retry", stack.next_retry_at.empty() ? nlohmann::json(nullptr)
                                            : nlohmann::json{{"next_at", stack.next_retry_at},
                                                             {"attempt", stack.retry_attempt}}},
  };
  if (!stack.notes.empty()) {
    nlohmann::json notes = nlohmann::json::array();
    for (std::size_t i = 0; i < stack.notes.size() && i < kMaxNotes; ++i)
      notes.push_back(clean_text(stack.notes[i], kMaxNoteText));
    doc["notes"] = std::move(notes);
  }
  return doc;
}

nlohmann::json to_report_json(const StackStatus& stack, const std::vector<StatusEvent>& events,
                              std::uint64_t sequence, const std::string& now,
                              std::string_view stream) {
  nlohmann::json doc = to_status_json(stack);
  doc["schema"] = kStatusSchema;
  if (!stream.empty()) doc["stream"] = stream;
  doc["sequence"] = sequence;
  doc["generated_at"] = now;
  nlohmann::json evs = nlohmann::json::array();
  for (const auto& e : events) evs.push_back(to_json(e));
  doc["events"] = std::move(evs);
  return doc;
}

}  // namespace berth
