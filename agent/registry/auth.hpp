// Registry credentials: one AuthProvider per registry host, built from [registries."HOST"]
// (auth = none | basic | ecr | docker_config) or, for hosts without a section, from the host
// name itself (a recognised ECR host gets ECR auth; anything else is anonymous).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "aws/common.hpp"
#include "aws/ecr.hpp"
#include "core/model.hpp"
#include "util/result.hpp"

namespace berth::registry {

// A registry login. Not printable (no operator<<); only username and server_address may be
// shown.
struct RegistryCredential {
  std::string username;
  std::string password;
  std::string server_address;  // the registry host, without scheme ("127.0.0.1:5000")
  bool anonymous() const { return username.empty() && password.empty(); }
};

// The Docker Engine's X-Registry-Auth header value: base64url WITH '=' padding of
// {"username":"...","password":"...","serveraddress":"..."} (an anonymous credential gives
// empty strings, which the daemon treats as no login).
std::string x_registry_auth(const RegistryCredential& credential);

// The credential for `host` in a Docker config.json (auths[...].auth or username/password;
// Docker Hub under any of its names). Pure; `what` starts every error message ("registry HOST:
// docker config PATH"). Used by auth = "docker_config"; unit-tested and fuzzed.
Result<RegistryCredential> parse_docker_config(std::string_view json, const std::string& host,
                                               const std::string& what);

class AuthProvider {
 public:
  virtual ~AuthProvider() = default;
  // The current credential. force_refresh: the registry just refused the last one (401), so
  // fetch/re-read it instead of using a cache. Thread-safe.
  virtual Result<RegistryCredential> get(bool force_refresh = false) = 0;
  // For messages: "ECR (account 123456789012, us-east-2)", "basic (user bob)", "anonymous".
  virtual std::string describe() const = 0;
  virtual bool is_ecr() const { return false; }

  const std::string& host() const { return host_; }
  // Plain http to this registry (config `insecure`, or a loopback host: see registry_base_url).
  bool insecure() const { return insecure_; }

 protected:
  AuthProvider(std::string host, bool insecure) : host_(std::move(host)), insecure_(insecure) {}

 private:
  std::string host_;
  bool insecure_;
};

// Everything the providers may need from the rest of berth.
struct AuthContext {
  std::shared_ptr<aws::EcrClient> ecr;  // null: ECR hosts fail with a clear error
  // Region for ECR registries whose host/config does not say ([aws] region, env, IMDS).
  std::function<Result<std::string>()> default_region;
  aws::Env env;      // HOME, DOCKER_CONFIG
  aws::Clock clock;  // empty = system clock
  // Jitter for ECR token renewal, as a fraction of the token lifetime in [0, 1); empty = random
  // in [0, 0.1).
  std::function<double()> jitter;
};

// The standard wiring for the process: one IMDS client (from env), the credential chain, one
// ECR client; default_region = `configured_region` ([aws] region), else AWS_REGION /
// AWS_DEFAULT_REGION, else the instance identity document.
AuthContext make_auth_context(const std::string& configured_region, aws::Env env);

// Built from a [registries."HOST"] section. Errors are config errors naming the host.
Result<std::unique_ptr<AuthProvider>> make_auth_provider(const RegistrySettings& settings,
                                                         const AuthContext& ctx);
std::unique_ptr<AuthProvider> make_anonymous_provider(const std::string& host, bool insecure);

// The ECR provider's renewal rule (pure, unit-tested): renew once less than half of the
// token's lifetime remains, `jitter` (fraction of the lifetime) earlier.
aws::TimePoint ecr_renew_at(aws::TimePoint fetched, aws::TimePoint expires, double jitter);

// The per-host set berth uses. Thread-safe; providers live as long as this object.
class AuthProviders {
 public:
  AuthProviders(std::map<std::string, RegistrySettings> registries, AuthContext ctx);
  // The provider for `host` (ImageRef::registry, e.g. "docker.io", "127.0.0.1:5000"): the
  // configured one, else ECR for a recognised ECR host, else anonymous. An error only for a
  // misconfigured section (also reported by validate()).
  Result<AuthProvider*> for_host(const std::string& host);
  // Builds every configured provider now and reads local secrets (password_file, docker
  // config), so configuration errors surface at start-up. ECR is checked on first use.
  Result<void> validate();

 private:
  std::map<std::string, RegistrySettings> registries_;
  AuthContext ctx_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<AuthProvider>> providers_;
};

}  // namespace berth::registry
