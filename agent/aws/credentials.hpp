// The AWS credential chain berth uses, in the SDKs' order (first source with credentials wins):
//   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
//   2. shared files: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, then AWS_CONFIG_FILE or
//      ~/.aws/config ([profile NAME]); profile AWS_PROFILE, else "default"
//   3. IMDSv2 instance role (unless AWS_EC2_METADATA_DISABLED=true)
// Not supported (berth runs no subprocesses and needs none of them on EC2): credential_process,
// SSO, web identity, the ECS container endpoint.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "aws/common.hpp"
#include "aws/imds.hpp"
#include "util/result.hpp"

namespace berth::aws {

class CredentialChain {
 public:
  // Instance-role credentials are refreshed this long before their Expiration.
  static constexpr std::chrono::minutes kRefreshBefore{5};

  explicit CredentialChain(Env env, Clock clock = {});
  // With a caller-owned IMDS client (shared with region resolution / identity lookups).
  CredentialChain(Env env, std::shared_ptr<ImdsClient> imds, Clock clock = {});

  // Thread-safe. Environment and shared files are re-read on every call (cheap, and an
  // operator's fix takes effect without a restart); instance-role credentials are cached and
  // refreshed kRefreshBefore their Expiration (force_refresh: now). If a refresh fails while
  // the cached credentials are still valid, the cached ones are returned.
  // Error (auth): "no AWS credentials: environment (not set), shared file
  // /root/.aws/credentials (absent), instance metadata (disabled by AWS_EC2_METADATA_DISABLED)".
  Result<AwsCredentials> get(bool force_refresh = false);

  const std::shared_ptr<ImdsClient>& imds() const { return imds_; }
  const Env& env() const { return env_; }

 private:
  Env env_;
  std::shared_ptr<ImdsClient> imds_;
  Clock clock_;
  std::mutex mu_;
  std::optional<AwsCredentials> cached_imds_;
};

// Pieces of the chain, exposed for tests. Each returns nullopt (with `note` saying why, e.g.
// "not set", "absent", "no profile default") when the source has no credentials, an error when
// the source exists but is broken (unparsable file).
std::optional<AwsCredentials> credentials_from_env(const Env& env, std::string& note);
Result<std::optional<AwsCredentials>> credentials_from_shared_files(const Env& env,
                                                                    std::string& note);
// $HOME, else the passwd entry of the current user.
std::string home_dir(const Env& env);

}  // namespace berth::aws
