#include "aws/ini.hpp"

#include <cctype>

#include "util/strings.hpp"

namespace berth::aws {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<IniFile> parse_ini(std::string_view text, const std::string& path) {
  IniFile file;
  IniSection* section = nullptr;
  std::string* last_value = nullptr;
  int line_no = 0;
  size_t pos = 0;
  auto error = [&](const std::string& what) {
    return fail(path + ":" + std::to_string(line_no) + ": " + what, ErrorKind::config);
  };
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    std::string_view raw =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    bool indented = std::isspace(static_cast<unsigned char>(raw.front())) != 0;
    if (indented && last_value != nullptr) {  // continuation / nested sub-section
      *last_value += "\n";
      *last_value += line;
      continue;
    }
    if (line.front() == '[') {
      if (line.back() != ']') return error("unterminated section header (expected ']')");
      std::string name(trim(line.substr(1, line.size() - 2)));
      if (name.empty()) return error("empty section name");
      section = &file[name];
      last_value = nullptr;
      continue;
    }
    auto sep = line.find_first_of("=:");
    if (sep == std::string_view::npos || sep == 0)
      return error("expected 'key = value' or '[section]'");
    if (section == nullptr) return error("'key = value' before any [section]");
    std::string key = to_lower(trim(line.substr(0, sep)));
    last_value = &((*section)[key] = std::string(trim(line.substr(sep + 1))));
  }
  return file;
}

}  // namespace berth::aws
