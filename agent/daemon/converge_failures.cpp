#include "daemon/converge_failures.hpp"

#include <spdlog/spdlog.h>

#include "util/logging.hpp"

namespace berth::daemon {

namespace {

std::string step_name(const FailureCause& c) {
  return c.step == FailedStep::none ? "converge" : std::string(to_string(c.step));
}

std::string who(const FailureCause& c) {
  return c.service.empty() ? std::string("stack") : c.service;
}

}  // namespace

std::vector<FailureCause> failure_causes(const engine::ConvergeReport& report) {
  std::vector<FailureCause> out;
  std::vector<std::string> service_errors;
  for (const auto& [name, s] : report.services) {
    if (!s.ok && !s.error.empty()) {
      service_errors.push_back(name + ": " + s.error);
      if (s.rolled_back) continue;
      out.push_back(
          {name, s.step == FailedStep::none ? FailedStep::health : s.step, s.error, false});
    } else if (s.ok && s.image.stale) {
      out.push_back({name, FailedStep::image, s.image.note, true});
    }
  }
  for (const auto& e : report.errors) {
    bool of_service = false;
    for (const auto& se : service_errors) of_service = of_service || se == e;
    if (!of_service) {
      out.push_back({"", FailedStep::engine, e, false});
      break;  // one cause for the stack: the first error
    }
  }
  return out;
}

void log_failure_changes(const FailureChanges& changes, int retries) {
  for (const auto& c : changes.appeared) {
    log::LogFields f{{log::kFieldService, c.service}, {log::kFieldOperation, "converge"}};
    spdlog::log(c.serving ? spdlog::level::warn : spdlog::level::err,
                "{}: {} failed: {} (retrying with backoff until it works)", who(c), step_name(c),
                c.text);
  }
  for (const auto& c : changes.cleared) {
    log::LogFields f{{log::kFieldService, c.service}, {log::kFieldOperation, "converge"}};
    spdlog::info("{}: {} works again (after {} retr{})", who(c), step_name(c), retries,
                 retries == 1 ? "y" : "ies");
  }
}

std::string cause_summary(const FailureCause& c, std::size_t max) {
  std::string text = c.text.substr(0, c.text.find('\n'));
  std::string s = (c.service.empty() ? "" : c.service + ": ") + step_name(c) + ": " + text;
  if (s.size() > max) s = clean_text(s, max);
  return s;
}

}  // namespace berth::daemon
