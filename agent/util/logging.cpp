#include "util/logging.hpp"

#include <spdlog/cfg/env.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "util/journal_sink.hpp"

namespace berth::log {
namespace {

thread_local std::vector<LogField> t_field_stack;

void push_fields(const LogField* begin, const LogField* end) {
  for (const auto* f = begin; f != end; ++f) {
    if (valid_field_name(f->first)) t_field_stack.push_back(*f);
  }
}

std::string short_name(const std::string& name) {
  if (name == kFieldService) return "service";
  if (name == kFieldImage) return "image";
  if (name == kFieldDigest) return "digest";
  if (name == kFieldContainer) return "container";
  if (name == kFieldOperation) return "op";
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return s;
}

bool needs_quotes(const std::string& v) {
  if (v.empty()) return true;
  return std::any_of(v.begin(), v.end(), [](unsigned char c) {
    return c == ' ' || c == '"' || c == '=' || c == '\t' || c == '\n' || c < 0x20;
  });
}

// %& in a pattern: " service=web op=pull" (with the leading space), nothing without fields.
class FieldsFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const auto fields = current_log_fields();
    if (fields.empty()) return;
    const std::string text = " " + format_fields_compact(fields);
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<FieldsFlag>();
  }
};

// %# in a pattern: "<6>", the syslog priority prefix journald understands on a stream
// (SyslogLevelPrefix=yes), so `berth run --log-target=stderr` under systemd keeps priorities.
class PriorityPrefixFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string text = "<" + std::to_string(journal_priority(msg.level)) + ">";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PriorityPrefixFlag>();
  }
};

std::unique_ptr<spdlog::formatter> console_formatter(bool stream_is_journal) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<FieldsFlag>('&');
  f->add_flag<PriorityPrefixFlag>('#');
  // journald timestamps the lines itself; a terminal gets local time with milliseconds.
  f->set_pattern(stream_is_journal ? "%#%v%&" : "%Y-%m-%d %H:%M:%S.%e %^%l%$ %v%&");
  return f;
}

}  // namespace

bool valid_field_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] == '_') return false;
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  if (name[0] >= '0' && name[0] <= '9') return false;
  if (name == "MESSAGE" || name == "PRIORITY" || name == "SYSLOG_IDENTIFIER") return false;
  if (name.rfind("CODE_", 0) == 0) return false;
  return true;
}

LogFields::LogFields(std::initializer_list<LogField> fields) : restore_size_(t_field_stack.size()) {
  push_fields(fields.begin(), fields.end());
}

LogFields::LogFields(const std::vector<LogField>& fields) : restore_size_(t_field_stack.size()) {
  push_fields(fields.data(), fields.data() + fields.size());
}

LogFields::~LogFields() {
  if (t_field_stack.size() > restore_size_) t_field_stack.resize(restore_size_);
}

std::vector<LogField> current_log_fields() {
  std::vector<LogField> out;
  for (const auto& f : t_field_stack) {
    auto it =
        std::find_if(out.begin(), out.end(), [&](const LogField& o) { return o.first == f.first; });
    if (it == out.end()) {
      out.push_back(f);
    } else {
      it->second = f.second;
    }
  }
  return out;
}

std::string format_fields_compact(const std::vector<LogField>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += ' ';
    out += short_name(name);
    out += '=';
    if (needs_quotes(value)) {
      out += '"';
      for (char c : value) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') {
          out += "\\n";
          continue;
        }
        out += c;
      }
      out += '"';
    } else {
      out += value;
    }
  }
  return out;
}

std::optional<LogTarget> parse_log_target(std::string_view text) {
  if (text == "auto") return LogTarget::automatic;
  if (text == "journal") return LogTarget::journal;
  if (text == "stderr" || text == "console") return LogTarget::console;
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  using L = spdlog::level::level_enum;
  if (text == "trace") return L::trace;
  if (text == "debug") return L::debug;
  if (text == "info") return L::info;
  if (text == "warn" || text == "warning") return L::warn;
  if (text == "error" || text == "err") return L::err;
  if (text == "critical") return L::critical;
  if (text == "off") return L::off;
  return std::nullopt;
}

bool started_by_systemd() {
  const char* js = std::getenv("JOURNAL_STREAM");
  const char* inv = std::getenv("INVOCATION_ID");
  return (js != nullptr && js[0] != '\0') || (inv != nullptr && inv[0] != '\0');
}

LogTarget resolve_log_target(LogTarget requested, bool under_systemd) {
  if (requested != LogTarget::automatic) return requested;
  return under_systemd ? LogTarget::journal : LogTarget::console;
}

void setup_logging(LogTarget target, const std::string& level) {
  // Without journald's socket sd_journal_sendv() drops entries silently: stay on stderr then.
  const bool systemd = started_by_systemd() && ::access("/run/systemd/journal/socket", W_OK) == 0;
  const LogTarget resolved = resolve_log_target(target, systemd);
  spdlog::sink_ptr sink;
  if (resolved == LogTarget::journal) {
    sink = std::make_shared<JournalSink>(kSyslogIdentifier);
  } else {
    auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    const char* js = std::getenv("JOURNAL_STREAM");
    console->set_formatter(console_formatter(js != nullptr && js[0] != '\0'));
    sink = console;
  }
  auto logger = std::make_shared<spdlog::logger>("berth", sink);
  const auto parsed = parse_log_level(level);
  logger->set_level(parsed.value_or(spdlog::level::info));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  spdlog::set_level(parsed.value_or(spdlog::level::info));
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL wins over `level`
  if (!parsed) spdlog::warn("unknown log level '{}', using info", level);
}

// ---- MemorySink / LogCapture ----------------------------------------------------------------

std::string MemorySink::Record::field(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return {};
}

void MemorySink::sink_it_(const spdlog::details::log_msg& msg) {
  records_.push_back(
      Record{msg.level, std::string(msg.payload.data(), msg.payload.size()), current_log_fields()});
}

std::vector<MemorySink::Record> MemorySink::records() {
  std::lock_guard<std::mutex> lock(mutex_);
  return records_;
}

std::size_t MemorySink::count(spdlog::level::level_enum level) {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<std::size_t>(std::count_if(records_.begin(), records_.end(),
                                                [&](const Record& r) { return r.level == level; }));
}

void MemorySink::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  records_.clear();
}

LogCapture::LogCapture()
    : sink_(std::make_shared<MemorySink>()), previous_(spdlog::default_logger()) {
  auto logger = std::make_shared<spdlog::logger>("berth-test", sink_);
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

LogCapture::~LogCapture() {
  if (previous_) spdlog::set_default_logger(previous_);
}

}  // namespace berth::log
