// BERTH_SKIP(reason): a Catch2 test that cannot run here (a tool or a privilege missing) skips
// under the same rule as pytest's skips (tests/README.md):
//   - listed in tests/allowed-skips.txt as `c++:<test case name> | <start of the reason>`: the
//     test prints "berth-skip: c++:<name> | <reason>" (scripts/test counts these lines as allowed
//     skips), records one passing assertion (so -w NoAssertions does not fail it) and returns;
//   - not listed: the test fails, naming the line to add.
// Use it at the top of the TEST_CASE body, instead of WARN(...) + return:
//   if (!have_dbus_daemon()) BERTH_SKIP("dbus-daemon is not installed");
// The reason is a stream expression like INFO's.
#pragma once

#include <catch2/catch.hpp>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace berth_test {

inline bool glob_match(const char* pattern, const char* text) {
  if (*pattern == '\0') return *text == '\0';
  if (*pattern == '*')
    return glob_match(pattern + 1, text) || (*text != '\0' && glob_match(pattern, text + 1));
  if (*text == '\0') return false;
  return (*pattern == '?' || *pattern == *text) && glob_match(pattern + 1, text + 1);
}

inline std::string trimmed(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// Whether tests/allowed-skips.txt lists (id, reason): same format and matching as
// tests/support/allowed_skips.py.
inline bool skip_allowed(const std::string& id, const std::string& reason) {
  std::ifstream in(std::string(BERTH_SOURCE_DIR) + "/tests/allowed-skips.txt");
  std::string line;
  while (std::getline(in, line)) {
    line = trimmed(line);
    auto bar = line.find(" | ");
    if (line.empty() || line[0] == '#' || bar == std::string::npos) continue;
    std::string pattern = trimmed(line.substr(0, bar));
    std::string prefix = trimmed(line.substr(bar + 3));
    if (glob_match(pattern.c_str(), id.c_str()) && reason.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

}  // namespace berth_test

#define BERTH_SKIP(reason_expr)                                                                 \
  do {                                                                                          \
    std::ostringstream berth_skip_reason_;                                                      \
    berth_skip_reason_ << reason_expr;                                                          \
    const std::string berth_skip_id_ = "c++:" + Catch::getResultCapture().getCurrentTestName(); \
    if (!::berth_test::skip_allowed(berth_skip_id_, berth_skip_reason_.str()))                  \
      FAIL("skip not allowed: " << berth_skip_id_ << " | " << berth_skip_reason_.str()          \
                                << " (a skip must be listed in tests/allowed-skips.txt with "   \
                                   "its reason; see tests/README.md)");                         \
    std::cout << "berth-skip: " << berth_skip_id_ << " | " << berth_skip_reason_.str()          \
              << std::endl;                                                                     \
    SUCCEED("skipped (allowed by tests/allowed-skips.txt): " << berth_skip_reason_.str());      \
    return;                                                                                     \
  } while (0)
