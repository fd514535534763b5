// Building blocks of the configuration parser that do not need toml++: word splitting, env
// files, signal names, byte sizes, paths, IP addresses.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/strings.hpp"

namespace berth::config {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

Result<std::vector<std::string>> split_command(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (is_space(c)) {
      if (in_word) {
        words.push_back(std::move(cur));
        cur.clear();
        in_word = false;
      }
      ++i;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      auto end = text.find('\'', i + 1);
      if (end == std::string_view::npos)
        return fail("unterminated single quote (expected a closing ')", ErrorKind::config);
      cur.append(text.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (c == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char d = text[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < text.size()) {
          char e = text[i + 1];
          if (e == '"' || e == '\\' || e == '$' || e == '`') {
            cur += e;
            i += 2;
            continue;
          }
          if (e == '\n') {
            i += 2;
            continue;
          }
        }
        cur += d;
        ++i;
      }
      if (!closed)
        return fail("unterminated double quote (expected a closing \")", ErrorKind::config);
    } else if (c == '\\') {
      if (i + 1 >= text.size())
        return fail("ends with a backslash (expected a character after it)", ErrorKind::config);
      if (text[i + 1] != '\n')
        cur += text[i + 1];
      else if (cur.empty())
        in_word = false;  // line continuation between words
      i += 2;
    } else {
      cur += c;
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_env_file(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  if (!valid_utf8(text)) {
    // Find the line for the message.
    int line = 1;
    size_t start = 0;
    while (start <= text.size()) {
      auto nl = text.find('\n', start);
      auto l =
          text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
      if (!valid_utf8(l)) break;
      if (nl == std::string_view::npos) break;
      start = nl + 1;
      ++line;
    }
    return fail("line " + std::to_string(line) + ": invalid UTF-8 (expected UTF-8 text)",
                ErrorKind::config);
  }
  int lineno = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++lineno;
    auto fail_line = [&](const std::string& what) {
      return fail("line " + std::to_string(lineno) + ": " + what, ErrorKind::config);
    };
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\0') != std::string_view::npos)
      return fail_line("contains a NUL byte (expected text)");
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    if (line.starts_with("export ") || line.starts_with("export\t")) {
      line.remove_prefix(7);
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      if (!line.empty() && line.front() == '#') continue;  // "export # ..." exports nothing (sh)
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos) return fail_line("expected KEY=VALUE (no \"=\" found)");
    std::string_view key = line.substr(0, eq);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    if (key.empty()) return fail_line("empty variable name (expected KEY=VALUE)");
    for (char c : key)
      if (c == ' ' || c == '\t')
        return fail_line("variable name contains whitespace (expected KEY=VALUE)");
    std::string_view raw = line.substr(eq + 1);
    while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
    std::string value;
    auto rest_ok = [](std::string_view rest) {
      while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
      return rest.empty() || rest.front() == '#';
    };
    if (!raw.empty() && raw.front() == '\'') {
      auto end = raw.find('\'', 1);
      if (end == std::string_view::npos)
        return fail_line("unterminated single quote (expected a closing ')");
      value = std::string(raw.substr(1, end - 1));
      if (!rest_ok(raw.substr(end + 1)))
        return fail_line("text after the closing quote (expected KEY='VALUE')");
    } else if (!raw.empty() && raw.front() == '"') {
      size_t i = 1;
      bool closed = false;
      while (i < raw.size()) {
        char c = raw[i];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i + 1 < raw.size()) {
          char e = raw[i + 1];
          if (e == 'n')
            value += '\n';
          else if (e == 't')
            value += '\t';
          else if (e == 'r')
            value += '\r';
          else if (e == '\\' || e == '"' || e == '$')
            value += e;
          else {
            value += c;
            value += e;
          }
          i += 2;
          continue;
        }
        value += c;
        ++i;
      }
      if (!closed) return fail_line("unterminated double quote (expected a closing \")");
      if (!rest_ok(raw.substr(i + 1)))
        return fail_line("text after the closing quote (expected KEY=\"VALUE\")");
    } else {
      // Unquoted: an inline comment starts at whitespace followed by '#'.
      size_t cut = raw.size();
      for (size_t i = 1; i < raw.size(); ++i)
        if (raw[i] == '#' && (raw[i - 1] == ' ' || raw[i - 1] == '\t')) {
          cut = i;
          break;
        }
      std::string_view v = raw.substr(0, cut);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      value = std::string(v);
    }
    out.emplace_back(std::string(key), std::move(value));
  }
  return out;
}

std::string normalize_project_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '_' || l == '-') out += l;
  }
  size_t first = out.find_first_not_of("_-");
  return first == std::string::npos ? std::string() : out.substr(first);
}

namespace {

struct SignalName {
  const char* name;
  int number;
};
// Linux (x86-64, arm64) numbering, as Docker's signal map has it.
constexpr SignalName kSignals[] = {
    {"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"ILL", 4},     {"TRAP", 5},    {"ABRT", 6},
    {"IOT", 6},   {"BUS", 7},   {"FPE", 8},   {"KILL", 9},    {"USR1", 10},   {"SEGV", 11},
    {"USR2", 12}, {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15},   {"STKFLT", 16}, {"CHLD", 17},
    {"CLD", 17},  {"CONT", 18}, {"STOP", 19}, {"TSTP", 20},   {"TTIN", 21},   {"TTOU", 22},
    {"URG", 23},  {"XCPU", 24}, {"XFSZ", 25}, {"VTALRM", 26}, {"PROF", 27},   {"WINCH", 28},
    {"IO", 29},   {"POLL", 29}, {"PWR", 30},  {"SYS", 31},
};

std::optional<int> small_uint(std::string_view s, int max) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > max) return std::nullopt;
  return n;
}

std::string signal_name(int n) {
  if (n >= 34) return n == 34 ? "SIGRTMIN" : "SIGRTMIN+" + std::to_string(n - 34);
  for (const auto& s : kSignals)
    if (s.number == n) return std::string("SIG") + s.name;
  return {};
}

}  // namespace

std::optional<std::string> normalize_signal(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  if (auto n = small_uint(text, 64)) {
    if (*n == 0 || *n == 32 || *n == 33) return std::nullopt;
    return signal_name(*n);
  }
  std::string up;
  for (char c : text) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view u = up;
  if (u.starts_with("SIG")) u.remove_prefix(3);
  for (const auto& s : kSignals)
    if (u == s.name) return signal_name(s.number);
  if (u == "RTMIN") return signal_name(34);
  if (u == "RTMAX") return signal_name(64);
  if (u.starts_with("RTMIN+"))
    if (auto n = small_uint(u.substr(6), 30)) return signal_name(34 + *n);
  if (u.starts_with("RTMAX-"))
    if (auto n = small_uint(u.substr(6), 30)) return signal_name(64 - *n);
  return std::nullopt;
}

std::optional<std::int64_t> parse_byte_size(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 18) return std::nullopt;
  size_t int_end = i;
  size_t frac_begin = i, frac_end = i;
  if (i < text.size() && text[i] == '.') {
    frac_begin = ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    frac_end = i;
    if (frac_end == frac_begin || frac_end - frac_begin > 9) return std::nullopt;
  }
  if (i < text.size() && text[i] == ' ') ++i;
  std::string_view unit = text.substr(i);
  std::string u = to_lower(unit);
  int shift = -1;
  if (u.empty() || u == "b")
    shift = 0;
  else {
    const std::string letters = "kmgtp";
    auto p = letters.find(u[0]);
    if (p != std::string::npos) {
      std::string_view tail = std::string_view(u).substr(1);
      if (tail.empty() || tail == "b" || tail == "i" || tail == "ib")
        shift = 10 * static_cast<int>(p + 1);
    }
  }
  if (shift < 0) return std::nullopt;
  std::int64_t whole = 0;
  for (size_t k = 0; k < int_end; ++k) whole = whole * 10 + (text[k] - '0');
  if (shift > 0 && whole > (std::int64_t{1} << 62) >> shift) return std::nullopt;
  std::int64_t bytes = whole << shift;
  if (frac_end > frac_begin) {
    // fraction * 2^shift, truncated (at most 9 digits, so a double is exact enough).
    std::int64_t num = 0, den = 1;
    for (size_t k = frac_begin; k < frac_end; ++k) {
      num = num * 10 + (text[k] - '0');
      den *= 10;
    }
    bytes += static_cast<std::int64_t>(
        std::ldexp(static_cast<double>(num) / static_cast<double>(den), shift));
  }
  return bytes;
}

std::string normalize_path(std::string_view path) {
  bool abs = !path.empty() && path.front() == '/';
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= path.size()) {
    auto sl = path.find('/', i);
    std::string_view comp =
        path.substr(i, sl == std::string_view::npos ? std::string_view::npos : sl - i);
    i = sl == std::string_view::npos ? path.size() + 1 : sl + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      if (!parts.empty() && parts.back() != "..")
        parts.pop_back();
      else if (!abs)
        parts.push_back(comp);
      continue;
    }
    parts.push_back(comp);
  }
  std::string out = abs ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k) out += '/';
    out += parts[k];
  }
  if (out.empty()) out = ".";
  return out;
}

bool is_ipv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (true) {
    size_t start = i;
    int v = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      v = v * 10 + (s[i] - '0');
      if (v > 255) return false;
      ++i;
    }
    size_t len = i - start;
    if (len == 0 || len > 3 || (len > 1 && s[start] == '0')) return false;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
  return parts == 4;
}

bool is_ipv6(std::string_view s) {
  if (s.size() < 2 || s.size() > 45) return false;
  auto dbl = s.find("::");
  if (dbl != std::string_view::npos && s.find("::", dbl + 1) != std::string_view::npos)
    return false;
  auto groups = [](std::string_view part, bool allow_v4_last, int* count) {
    *count = 0;
    if (part.empty()) return true;
    size_t i = 0;
    while (i <= part.size()) {
      auto c = part.find(':', i);
      std::string_view g =
          part.substr(i, c == std::string_view::npos ? std::string_view::npos : c - i);
      bool last = c == std::string_view::npos;
      if (last && allow_v4_last && g.find('.') != std::string_view::npos) {
        if (!is_ipv4(g)) return false;
        *count += 2;
        return true;
      }
      if (g.empty() || g.size() > 4) return false;
      for (char ch : g)
        if (!std::isxdigit(static_cast<unsigned char>(ch))) return false;
      ++*count;
      if (last) break;
      i = c + 1;
    }
    return true;
  };
  int a = 0, b = 0;
  if (dbl == std::string_view::npos) return groups(s, true, &a) && a == 8;
  if (!groups(s.substr(0, dbl), false, &a)) return false;
  if (!groups(s.substr(dbl + 2), true, &b)) return false;
  return a + b <= 7;
}

}  // namespace berth::config
