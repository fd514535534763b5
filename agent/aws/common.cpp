#include "aws/common.hpp"

#include <cctype>
#include <ctime>

#include "util/strings.hpp"

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
  return to_lower(get(name)) == "true";
}

std::string redact(std::string text, std::initializer_list<std::string_view> secrets) {
  for (std::string_view s : secrets) {
    if (s.size() < 4) continue;  // too short to be a secret worth hiding; avoids mangling text
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  }
  return text;
}

namespace {
// A fixed-width run of decimal digits at text[pos, pos + n). (sscanf's %2d would also take one
// digit, a sign or blanks, and does not report overflow.)
std::optional<int> fixed_digits(std::string_view text, size_t pos, size_t n) {
  if (pos + n > text.size()) return std::nullopt;
  int v = 0;
  for (char c : text.substr(pos, n)) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}
}  // namespace

// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00), as AWS writes it (IMDS, ECR, STS).
std::optional<TimePoint> parse_iso8601(std::string_view text) {
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':')
    return std::nullopt;
  auto y = fixed_digits(text, 0, 4), mo = fixed_digits(text, 5, 2), d = fixed_digits(text, 8, 2),
       h = fixed_digits(text, 11, 2), mi = fixed_digits(text, 14, 2), s = fixed_digits(text, 17, 2);
  if (!y || !mo || !d || !h || !mi || !s) return std::nullopt;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *s > 60)
    return std::nullopt;
  // The clock counts nanoseconds in 64 bits: only years 1678..2261 fit. AWS times are near now.
  if (*y < 1970 || *y > 2200) return std::nullopt;
  std::string_view rest = text.substr(19);
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front())))
      rest.remove_prefix(1);
  }
  if (!rest.empty() && rest != "Z" && rest != "+00:00") return std::nullopt;
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_hour = *h;
  tm.tm_min = *mi;
  tm.tm_sec = *s;
  std::time_t t = timegm(&tm);
  return std::chrono::system_clock::from_time_t(t);
}

}  // namespace berth::aws
