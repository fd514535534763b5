// EC2 instance metadata service, IMDSv2 only (a session token on every request; no v1
// fallback: an instance that enforces IMDSv2, as it should, refuses v1 anyway).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "aws/common.hpp"
#include "net/http.hpp"
#include "util/result.hpp"

namespace berth::aws {

struct ImdsOptions {
  std::string endpoint = "http://169.254.169.254";  // AWS_EC2_METADATA_SERVICE_ENDPOINT
  bool disabled = false;                            // AWS_EC2_METADATA_DISABLED=true
  long connect_timeout_ms = 1000;
  long timeout_ms = 2000;
  int max_attempts = 3;                    // per request, for transport errors, 429 and 5xx
  std::chrono::milliseconds backoff{200};  // doubled per retry
  int token_ttl_seconds = 21600;           // X-aws-ec2-metadata-token-ttl-seconds

  static ImdsOptions from_env(const Env& env);
};

// /latest/dynamic/instance-identity/document
struct InstanceIdentity {
  std::string region;
  std::string instance_id;
  std::string availability_zone;
  std::string instance_type;
  std::string account_id;
  std::string image_id;
  std::string private_ip;
  std::string architecture;
};

// The pure parsers behind role_credentials() and identity() (unit-tested and fuzzed): the
// role's credentials document (source "instance role <role>") and the identity document.
Result<AwsCredentials> parse_role_credentials(std::string_view body, const std::string& role);
Result<InstanceIdentity> parse_identity_document(std::string_view body);

// Thread-safe (one request at a time). The session token is cached until shortly before its
// TTL ends; a 401 drops it, fetches a new one and retries once.
class ImdsClient {
 public:
  explicit ImdsClient(ImdsOptions options, Clock clock = {});

  const ImdsOptions& options() const { return options_; }
  bool disabled() const { return options_.disabled; }

  // GET path ("/latest/meta-data/instance-id") with the session token. Errors:
  // not_found (404), auth (401 twice), throttled (429 after retries), unavailable, timeout.
  Result<std::string> get(std::string_view path);

  // The instance profile's role name; not_found "no IAM role is attached to the instance".
  Result<std::string> role_name();
  // The role's temporary credentials, source "instance role <name>", with their Expiration.
  Result<AwsCredentials> role_credentials();
  // The identity document; cached after the first success (it does not change).
  Result<InstanceIdentity> identity();

  // Counters for tests and `berth status`.
  int token_fetches() const;

 private:
  Result<std::string> token_locked(bool force);
  Result<net::Response> send_locked(const net::Request& req, std::string_view what);

  ImdsOptions options_;
  Clock clock_;
  mutable std::mutex mu_;
  net::Client http_;
  std::string token_;
  TimePoint token_refresh_at_{};
  int token_fetches_ = 0;
  std::unique_ptr<InstanceIdentity> identity_;
};

// The region to use: `configured` ([aws] region) if set, else AWS_REGION, else
// AWS_DEFAULT_REGION, else the instance identity document (imds may be null or disabled).
// The error says what was tried.
Result<std::string> resolve_region(const std::string& configured, const Env& env, ImdsClient* imds);

}  // namespace berth::aws
