// berth.toml -> the typed model (core/model.hpp), with every error reported at once as
// "FILE:LINE:COL: key.path: what is wrong (what was expected)".
//
// Pure: the text is passed in, files the configuration names (env_file) are read through an
// injected FileReader, nothing else touches the file system. Never throws.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.hpp"
#include "util/result.hpp"

namespace berth::config {

// The largest configuration (and env_file) berth reads: 1 MiB.
inline constexpr std::size_t kMaxConfigBytes = 1024 * 1024;
// The env files of all services together (a file counts once for every service naming it).
inline constexpr std::size_t kMaxEnvFileBytesTotal = 4 * 1024 * 1024;
// At most this many diagnostics are reported; one more line says the rest were left out.
inline constexpr std::size_t kMaxDiagnostics = 100;

struct Diagnostic {
  std::string file;
  int line = 0;  // 1-based; 0 = about the whole file (too large, unreadable)
  int column = 0;
  std::string message;  // "key.path: what is wrong (what was expected)"
};

// "FILE:LINE:COL: message", or "FILE: message" when there is no position.
std::string to_string(const Diagnostic&);

// Reads a file referenced by the config (env_file only; password and token files are NOT read
// here). `path` is as written in the config (lexically normalised); a relative path is relative
// to the configuration's directory and the reader resolves it. Returns nullopt when the file is
// missing or unreadable, with a short reason ("No such file or directory") in *why.
using FileReader =
    std::function<std::optional<std::string>(const std::string& path, std::string* why)>;

struct ParseOutcome {
  std::optional<Config> config;         // set exactly when there are no diagnostics
  std::vector<Diagnostic> diagnostics;  // sorted by position
  bool ok() const { return config.has_value() && diagnostics.empty(); }
};

// Parses and validates a whole configuration. `path` is used in messages (and Config::path).
// `base_dir` is the directory relative bind mounts and token/password/ca files are resolved
// against; empty = the directory part of `path`. The daemon passes an absolute directory.
// A configuration without services is valid (an empty stack: berth removes the project's
// containers). Never throws.
ParseOutcome parse_config(std::string_view text, const std::string& path, const FileReader& read,
                          std::string_view base_dir = {});

// The canonical JSON of everything in a service that affects its container: what the config hash
// is computed from. Keys are sorted (nlohmann's default object), durations are milliseconds,
// unset/empty values are omitted, order-insensitive lists (ports, volumes, extra_hosts, cap_add,
// cap_drop, tmpfs) are sorted. Excludes name, pull_policy, depends_on, health_timeout,
// update_strategy, probe (agent-side) and env_file (its contents are in environment).
// Contains environment values: hash it, never log it.
nlohmann::json effective_spec_json(const ServiceSpec& spec);

// --- Building blocks, exposed for tests and for other parsers ---

// Splits a command line the way compose does (POSIX-ish shell words): whitespace separates,
// '...' is literal, "..." honours \" \\ \$ \` and \<newline>, a backslash outside quotes escapes
// the next character. No variable, glob or tilde expansion. Error on an unterminated quote.
Result<std::vector<std::string>> split_command(std::string_view text);

// Parses an env file: KEY=VALUE lines, blank lines and '#' comments ignored, optional "export ",
// optional '...' (literal) or "..." (\n \t \\ \" escapes) quotes around the value, " #" starts a
// comment after an unquoted value. Error messages carry the line number, never the line's text
// (values may be secrets).
Result<std::vector<std::pair<std::string, std::string>>> parse_env_file(std::string_view text);

// Compose project name normalisation: lower case, only [a-z0-9_-], no leading '_' or '-'.
std::string normalize_project_name(std::string_view name);

// "SIGTERM", "TERM", "sigterm", "15", "SIGRTMIN+3" -> "SIGTERM" / "SIGRTMIN+3"; nullopt if unknown.
std::optional<std::string> normalize_signal(std::string_view text);

// "512m", "1g", "1.5GiB", "100000" -> bytes (binary multiples); nullopt if malformed.
std::optional<std::int64_t> parse_byte_size(std::string_view text);

// Lexical path normalisation: "a/./b/../c" -> "a/c", "/x/../../y" -> "/y", "" -> ".".
std::string normalize_path(std::string_view path);

bool is_ipv4(std::string_view s);
bool is_ipv6(std::string_view s);

}  // namespace berth::config
