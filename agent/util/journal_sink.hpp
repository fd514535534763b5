// A journald sink for spdlog with structured fields.
//
// Hand-written rather than spdlog's systemd_sink: spdlog 1.10's systemd_sink sends a fixed field
// list (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, CODE_*) and spdlog has no MDC before 1.14, so it
// cannot attach BERTH_SERVICE=, CONTAINER_ID=, ... which operators filter on
// (journalctl -u berth BERTH_SERVICE=web). This sink sends the same base fields with the same
// PRIORITY table, plus the fields of the calling thread's LogFields scopes.
#pragma once

#include <spdlog/sinks/base_sink.h>
#include <sys/uio.h>

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "util/logging.hpp"

namespace berth::log {

// spdlog level -> syslog priority, as spdlog's systemd_sink maps it:
// trace,debug->7 info->6 warn->4 err->3 critical->2 off->6.
int journal_priority(spdlog::level::level_enum level);

// The "NAME=value" strings of one journal entry, in order: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER,
// CODE_FILE/CODE_LINE/CODE_FUNC (only when `where` has a file), then the valid `fields`.
std::vector<std::string> build_journal_fields(spdlog::level::level_enum level,
                                              std::string_view message, std::string_view identifier,
                                              const std::vector<LogField>& fields,
                                              const spdlog::source_loc& where = {});

// iovecs pointing into `fields` (which must outlive them), for sd_journal_sendv().
std::vector<iovec> to_iovecs(const std::vector<std::string>& fields);

class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JournalSink(std::string identifier = kSyslogIdentifier);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  std::string identifier_;
};

}  // namespace berth::log
