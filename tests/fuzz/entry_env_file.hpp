// Fuzz entry point: env files ([services.*] env_file: KEY=VALUE lines an operator or a deploy
// tool writes next to the configuration; the values are often secrets). parse_env_file gets the
// bytes as a whole file:
//   - an error is "line N: <one of the parser's fixed texts>", N within the file: never a quote
//     of the file (a value may be a secret);
//   - a parsed file has names without whitespace, "=" or NUL, values without NUL, at most one
//     variable per line, and writes back (KEY="VALUE" with escapes) to the same variables.
// Links berth_core only.
#pragma once

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "fuzz_common.hpp"

namespace berth::fuzz {

// Every error text parse_env_file has (after "line N: ").
inline constexpr std::array<std::string_view, 9> kEnvFileErrors = {
    "invalid UTF-8 (expected UTF-8 text)",
    "contains a NUL byte (expected text)",
    "expected KEY=VALUE (no \"=\" found)",
    "empty variable name (expected KEY=VALUE)",
    "variable name contains whitespace (expected KEY=VALUE)",
    "unterminated single quote (expected a closing ')",
    "text after the closing quote (expected KEY='VALUE')",
    "unterminated double quote (expected a closing \")",
    "text after the closing quote (expected KEY=\"VALUE\")",
};

// KEY="VALUE" with the escapes parse_env_file reads back.
inline std::string env_line(const std::string& key, const std::string& value) {
  std::string out = key + "=\"";
  for (char c : value) {
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '$':
        out += "\\$";
        break;
      default:
        out += c;
    }
  }
  return out + "\"\n";
}

inline void env_file_input(std::string_view text) {
  const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  auto vars = config::parse_env_file(text);
  if (!vars) {
    const std::string& m = vars.error().message;
    BERTH_FUZZ_CHECK(m.starts_with("line "), "env file errors start with the line");
    auto colon = m.find(": ");
    BERTH_FUZZ_CHECK(colon != std::string::npos, "env file errors: \"line N: ...\"");
    std::size_t n = std::stoul(m.substr(5, colon - 5));
    BERTH_FUZZ_CHECK(n >= 1 && n <= lines, "the line number is a line of the file");
    std::string_view what = std::string_view(m).substr(colon + 2);
    BERTH_FUZZ_CHECK(
        std::find(kEnvFileErrors.begin(), kEnvFileErrors.end(), what) != kEnvFileErrors.end(),
        "env file errors are fixed texts (never a quote of the file)");
    return;
  }
  BERTH_FUZZ_CHECK(vars->size() <= lines, "at most one variable per line");
  std::string written = "# written back\n";  // a name may start with a BOM's bytes
  for (const auto& [k, v] : *vars) {
    BERTH_FUZZ_CHECK(!k.empty(), "names are not empty");
    BERTH_FUZZ_CHECK(k.find_first_of(std::string_view(" \t=\n\0", 5)) == std::string::npos,
                     "names have no whitespace, '=', newline or NUL");
    BERTH_FUZZ_CHECK(v.find('\0') == std::string::npos, "values have no NUL");
    written += env_line(k, v);
  }
  auto again = config::parse_env_file(written);
  BERTH_FUZZ_CHECK(again.has_value(), "the variables written back parse");
  BERTH_FUZZ_CHECK(*again == *vars, "the variables written back are the same");
}

}  // namespace berth::fuzz
