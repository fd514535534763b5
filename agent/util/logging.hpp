// Logging setup for berth: spdlog's default logger, writing to the journal under systemd and to
// stderr otherwise, with structured fields (BERTH_SERVICE=, BERTH_OPERATION=, ...) taken from a
// per-thread stack of RAII scopes:
//
//   LogFields f{{kFieldService, spec.name}, {kFieldOperation, "pull"}};
//   spdlog::info("pulling {}", image);   // journal: BERTH_SERVICE=web BERTH_OPERATION=pull
//                                        // stderr:  "... pulling x service=web op=pull"
//
// Fields belong to the thread that logs; the logger is synchronous, so the sink sees them.
#pragma once

#include <spdlog/common.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::log {

// The structured fields berth attaches to journal entries (journalctl BERTH_SERVICE=web).
inline constexpr const char* kFieldService = "BERTH_SERVICE";
inline constexpr const char* kFieldImage = "BERTH_IMAGE";
inline constexpr const char* kFieldDigest = "BERTH_DIGEST";
inline constexpr const char* kFieldContainer = "CONTAINER_ID";
inline constexpr const char* kFieldOperation = "BERTH_OPERATION";

// SYSLOG_IDENTIFIER= of every journal entry (journalctl -t berth).
inline constexpr const char* kSyslogIdentifier = "berth";

using LogField = std::pair<std::string, std::string>;

// A journal field name: [A-Z0-9_]+, not starting with '_' (sd_journal_send(3) ignores anything
// else), and not one of the fields the sink writes itself (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER,
// CODE_*).
bool valid_field_name(std::string_view name);

// Pushes fields onto this thread's field stack for its lifetime. Invalid names are dropped.
// Inner scopes override outer ones with the same name.
class LogFields {
 public:
  LogFields(std::initializer_list<LogField> fields);
  explicit LogFields(const std::vector<LogField>& fields);
  ~LogFields();
  LogFields(const LogFields&) = delete;
  LogFields& operator=(const LogFields&) = delete;

 private:
  std::size_t restore_size_;
};

// The effective fields of the calling thread: each name once (first-pushed order), innermost
// value wins.
std::vector<LogField> current_log_fields();

// "service=web op=pull": short names for berth's own fields (service, image, digest, container,
// op), lower-cased names for others; values with spaces, quotes or '=' are double-quoted.
std::string format_fields_compact(const std::vector<LogField>& fields);

enum class LogTarget { automatic, journal, console };

// "auto" | "journal" | "stderr"
std::optional<LogTarget> parse_log_target(std::string_view text);
// "trace" | "debug" | "info" | "warn"/"warning" | "error"/"err" | "critical" | "off"
// (spdlog's own from_str() silently maps unknown words to "off").
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text);

// automatic -> journal when systemd connected our stderr to the journal (JOURNAL_STREAM) or
// started us as a unit (INVOCATION_ID) and journald's socket is there; otherwise console.
LogTarget resolve_log_target(LogTarget requested, bool under_systemd);
bool started_by_systemd();  // JOURNAL_STREAM or INVOCATION_ID set

// Installs logger "berth" as spdlog's default logger with one sink chosen by `target`, at
// `level` (an unknown level falls back to info with a warning), then applies SPDLOG_LEVEL
// (spdlog::cfg::load_env_levels(), e.g. SPDLOG_LEVEL=debug), which wins over `level`.
// The console sink colours only on a TTY and appends the fields in compact form.
void setup_logging(LogTarget target, const std::string& level);

// ---- tests --------------------------------------------------------------------------------

// A sink that records what was logged, with the fields in effect at the call.
class MemorySink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  struct Record {
    spdlog::level::level_enum level;
    std::string message;
    std::vector<LogField> fields;
    std::string field(std::string_view name) const;  // "" when absent
  };
  std::vector<Record> records();
  std::size_t count(spdlog::level::level_enum level);
  void clear();

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  std::vector<Record> records_;
};

// Replaces spdlog's default logger by one writing into a MemorySink (level trace) for its
// lifetime, then restores the previous default logger.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  MemorySink& sink() { return *sink_; }

 private:
  std::shared_ptr<MemorySink> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace berth::log
