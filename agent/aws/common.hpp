// Shared AWS adapter types: the environment snapshot the SDK variables are read from, an
// injectable clock, and the credentials value.
#pragma once

#include <chrono>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace berth::aws {

using TimePoint = std::chrono::system_clock::time_point;
// Returns "now". Empty = std::chrono::system_clock::now (tests inject their own).
using Clock = std::function<TimePoint()>;
TimePoint now(const Clock& clock);

// The environment variables the AWS SDKs honour (AWS_*, HOME, DOCKER_CONFIG, ...), read once.
// Tests build one from a map instead of touching the process environment.
class Env {
 public:
  Env() = default;
  explicit Env(std::map<std::string, std::string> vars) : vars_(std::move(vars)) {}
  static Env from_process();

  // "" when unset.
  std::string get(const std::string& name) const;
  bool has(const std::string& name) const { return vars_.count(name) != 0; }
  // Set and not empty.
  bool nonempty(const std::string& name) const { return !get(name).empty(); }
  // "true" (any case), as the SDKs read AWS_EC2_METADATA_DISABLED.
  bool is_true(const std::string& name) const;
  void set(const std::string& name, std::string value) { vars_[name] = std::move(value); }

 private:
  std::map<std::string, std::string> vars_;
};

// AWS credentials. Deliberately not printable (no operator<<, no to_string): only `source`
// ("environment", "shared file /root/.aws/credentials (profile default)",
// "instance role msd-role") may appear in messages.
struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // "" for long-term keys
  std::optional<TimePoint> expiration;
  std::string source;
};

// Replace every occurrence of each non-empty secret in `text` with "***" (defence in depth for
// messages built from peer responses).
std::string redact(std::string text, std::initializer_list<std::string_view> secrets);

// "2026-11-23T16:43:53Z" (also with fractional seconds or a +00:00 offset) -> time point.
std::optional<TimePoint> parse_iso8601(std::string_view text);

}  // namespace berth::aws
