#include "aws/common.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>

extern char** environ;  // NOLINT

namespace berth::aws {

TimePoint now(const Clock& clock) {
  return clock ? clock() : std::chrono::system_clock::now();
}

Env Env::from_process() {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    vars.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return Env(std::move(vars));
}

std::string Env::get(const std::string& name) const {
  auto it = vars_.find(name);
  return it == vars_.end() ? std::string() : it->second;
}

bool Env::is_true(const std::string& name) const {
  std::string v = get(name);
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "true";
}

std::string redact(std::string text, std::initializer_list<std::string_view> secrets) {
  for (std::string_view s : secrets) {
    if (s.size() < 4) continue;  // too short to be a secret worth hiding; avoids mangling text
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  }
  return text;
}

std::optional<TimePoint> parse_iso8601(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  std::string buf(text);
  int consumed = 0;
  if (std::sscanf(buf.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) !=
      6)
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  // The clock counts nanoseconds in 64 bits: only years 1678..2261 fit. AWS times are near now.
  if (y < 1970 || y > 2200) return std::nullopt;
  std::string_view rest = text.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front())))
      rest.remove_prefix(1);
  }
  if (rest != "Z" && rest != "+00:00" && rest != "") return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  std::time_t t = timegm(&tm);
  return std::chrono::system_clock::from_time_t(t);
}

}  // namespace berth::aws
