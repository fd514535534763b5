#include "util/journal_sink.hpp"

// We send CODE_FILE/CODE_LINE/CODE_FUNC ourselves from the spdlog record (when it has one);
// without this define sd-journal.h would stamp this file's location on every entry.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <spdlog/common.h>
#include <syslog.h>
#include <systemd/sd-journal.h>

#include <cerrno>

namespace berth::log {

int journal_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LOG_DEBUG;
    case spdlog::level::info:
      return LOG_INFO;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::critical:
      return LOG_CRIT;
    default:
      return LOG_INFO;
  }
}

std::vector<std::string> build_journal_fields(spdlog::level::level_enum level,
                                              std::string_view message, std::string_view identifier,
                                              const std::vector<LogField>& fields,
                                              const spdlog::source_loc& where) {
  std::vector<std::string> out;
  out.reserve(3 + 3 + fields.size());
  out.push_back("MESSAGE=" + std::string(message));
  out.push_back("PRIORITY=" + std::to_string(journal_priority(level)));
  out.push_back("SYSLOG_IDENTIFIER=" + std::string(identifier));
  if (where.filename != nullptr && where.filename[0] != '\0') {
    out.push_back(std::string("CODE_FILE=") + where.filename);
    out.push_back("CODE_LINE=" + std::to_string(where.line));
    if (where.funcname != nullptr && where.funcname[0] != '\0') {
      out.push_back(std::string("CODE_FUNC=") + where.funcname);
    }
  }
  for (const auto& [name, value] : fields) {
    if (valid_field_name(name)) out.push_back(name + "=" + value);
  }
  return out;
}

std::vector<iovec> to_iovecs(const std::vector<std::string>& fields) {
  std::vector<iovec> iov;
  iov.reserve(fields.size());
  for (const auto& f : fields) {
    // sd_journal_sendv() takes non-const iovecs but does not write through them.
    iov.push_back(iovec{const_cast<char*>(f.data()), f.size()});
  }
  return iov;
}

JournalSink::JournalSink(std::string identifier) : identifier_(std::move(identifier)) {}

void JournalSink::sink_it_(const spdlog::details::log_msg& msg) {
  const auto fields =
      build_journal_fields(msg.level, std::string_view(msg.payload.data(), msg.payload.size()),
                           identifier_, current_log_fields(), msg.source);
  auto iov = to_iovecs(fields);
  // Without journald (no /run/systemd/journal/socket) this returns 0 and drops the entry: the
  // target is chosen at startup (setup_logging) so that does not happen in practice.
  const int r = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  if (r < 0) spdlog::throw_spdlog_ex("failed to write to the journal", -r);
}

}  // namespace berth::log
