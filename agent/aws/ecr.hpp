// Amazon ECR: registry hostname recognition and GetAuthorizationToken (AWS JSON 1.1, SigV4 via
// libcurl's CURLOPT_AWS_SIGV4; verified against botocore by tests/fakes/fake_ecr.py).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "aws/common.hpp"
#include "aws/credentials.hpp"
#include "net/http.hpp"
#include "util/result.hpp"

namespace berth::aws {

// What an ECR registry hostname says: <acct>.dkr.ecr[-fips].<region>.amazonaws.com[.cn],
// <acct>.dkr-ecr[-fips].<region>.on.aws (dual-stack), ...on.amazonwebservices.com.cn.
struct EcrHost {
  std::string account;  // 12 digits
  std::string region;
  bool fips = false;
  bool dual_stack = false;
  bool china = false;
};
// nullopt for anything that is not an ECR registry host (a ":port" suffix is not ECR either).
std::optional<EcrHost> parse_ecr_host(std::string_view host);

// The API endpoint: AWS_ENDPOINT_URL_ECR, else AWS_ENDPOINT_URL, else
// https://api.ecr[-fips].<region>.amazonaws.com[.cn]. No trailing slash.
std::string ecr_endpoint(const Env& env, const std::string& region, bool fips = false,
                         bool china = false);

// One authorization: the registry login. Not printable (no operator<<).
struct EcrAuthorization {
  std::string username;  // "AWS"
  std::string password;
  TimePoint expires_at{};
  std::string proxy_endpoint;  // "https://123456789012.dkr.ecr.us-east-2.amazonaws.com"
};

// Pure parsers (unit-tested): the GetAuthorizationToken response body, and the token itself
// (standard base64 of "USER:PASSWORD", split at the first ':').
Result<EcrAuthorization> parse_authorization_response(std::string_view body);
Result<std::pair<std::string, std::string>> decode_authorization_token(std::string_view token);

// An AWS JSON error ({"__type": "com.amazonaws...#AccessDeniedException", "message": ...}, or
// the x-amzn-ErrorType header) -> (type without namespace, message).
std::pair<std::string, std::string> parse_aws_error(std::string_view body,
                                                    std::string_view error_type_header);

// Thread-safe.
class EcrClient {
 public:
  explicit EcrClient(std::shared_ptr<CredentialChain> credentials);

  // POST / GetAuthorizationToken in `region`; with `account` set, registryIds=[account]
  // (what amazon-ecr-credential-helper sends), else {}. `fips`/`china` pick the endpoint.
  // Expired/unrecognised instance-role credentials are refreshed once; throttling, 5xx and
  // transport errors are retried twice with backoff. Errors name the endpoint, the credential
  // source and the cause, e.g. "ECR GetAuthorizationToken at https://api.ecr.us-east-2.
  // amazonaws.com denied for instance role msd-role: User: arn:... is not authorized ...
  // (the instance role needs ecr:GetAuthorizationToken)". Never a secret.
  Result<EcrAuthorization> get_authorization_token(const std::string& region,
                                                   const std::string& account = "",
                                                   bool fips = false, bool china = false);

  int calls() const;
  const std::shared_ptr<CredentialChain>& credentials() const { return credentials_; }

 private:
  std::shared_ptr<CredentialChain> credentials_;
  mutable std::mutex mu_;
  net::Client http_;
  int calls_ = 0;
};

}  // namespace berth::aws
