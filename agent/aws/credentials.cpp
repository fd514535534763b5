#include "aws/credentials.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "aws/ini.hpp"
#include "util/result.hpp"

namespace berth::aws {

namespace {

// Reads a small file. nullopt + note when absent/unreadable.
std::optional<std::string> read_small_file(const std::string& path, std::string& note) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    note = errno == ENOENT ? "absent" : std::string("unreadable: ") + berth::errno_text(errno);
    return std::nullopt;
  }
  std::string data;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      note = std::string("unreadable: ") + berth::errno_text(errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > (1u << 20)) {
      note = "larger than 1 MiB";
      ::close(fd);
      return std::nullopt;
    }
  }
  ::close(fd);
  return data;
}

std::optional<AwsCredentials> from_section(const IniSection& s, const std::string& source,
                                           std::string& note) {
  auto get = [&](const char* k) {
    auto it = s.find(k);
    return it == s.end() ? std::string() : it->second;
  };
  AwsCredentials c;
  c.access_key_id = get("aws_access_key_id");
  c.secret_access_key = get("aws_secret_access_key");
  c.session_token = get("aws_session_token");
  if (c.session_token.empty()) c.session_token = get("aws_security_token");
  if (!c.access_key_id.empty() && !c.secret_access_key.empty()) {
    c.source = source;
    return c;
  }
  if (!c.access_key_id.empty() || !c.secret_access_key.empty())
    note = "profile has only one of aws_access_key_id/aws_secret_access_key";
  else if (!get("role_arn").empty())
    note = "profile uses role_arn, which berth does not support";
  else if (!get("credential_process").empty())
    note = "profile uses credential_process, which berth does not support";
  else if (!get("sso_start_url").empty() || !get("sso_session").empty())
    note = "profile uses SSO, which berth does not support";
  else
    note = "profile has no aws_access_key_id";
  return std::nullopt;
}

}  // namespace

std::string home_dir(const Env& env) {
  if (env.nonempty("HOME")) return env.get("HOME");
  struct passwd pw {};
  struct passwd* result = nullptr;
  char buf[4096];
  if (getpwuid_r(::getuid(), &pw, buf, sizeof buf, &result) == 0 && result && result->pw_dir)
    return result->pw_dir;
  return "/";
}

std::optional<AwsCredentials> credentials_from_env(const Env& env, std::string& note) {
  bool has_id = env.nonempty("AWS_ACCESS_KEY_ID");
  bool has_secret = env.nonempty("AWS_SECRET_ACCESS_KEY");
  if (has_id && has_secret) {
    AwsCredentials c;
    c.access_key_id = env.get("AWS_ACCESS_KEY_ID");
    c.secret_access_key = env.get("AWS_SECRET_ACCESS_KEY");
    c.session_token = env.get("AWS_SESSION_TOKEN");
    c.source = "environment";
    return c;
  }
  if (has_id)
    note = "AWS_ACCESS_KEY_ID set but AWS_SECRET_ACCESS_KEY missing";
  else if (has_secret)
    note = "AWS_SECRET_ACCESS_KEY set but AWS_ACCESS_KEY_ID missing";
  else
    note = "not set";
  return std::nullopt;
}

Result<std::optional<AwsCredentials>> credentials_from_shared_files(const Env& env,
                                                                    std::string& note) {
  std::string profile = env.nonempty("AWS_PROFILE") ? env.get("AWS_PROFILE") : "default";
  std::string home = home_dir(env);
  std::string cred_path = env.nonempty("AWS_SHARED_CREDENTIALS_FILE")
                              ? env.get("AWS_SHARED_CREDENTIALS_FILE")
                              : home + "/.aws/credentials";
  std::string config_path =
      env.nonempty("AWS_CONFIG_FILE") ? env.get("AWS_CONFIG_FILE") : home + "/.aws/config";

  std::string cred_note, config_note;
  if (auto text = read_small_file(cred_path, cred_note)) {
    auto ini = parse_ini(*text, cred_path);
    if (!ini) return fail(ini.error());
    auto it = ini->find(profile);
    if (it == ini->end()) {
      cred_note = "no profile " + profile;
    } else if (auto c = from_section(it->second,
                                     "shared file " + cred_path + " (profile " + profile + ")",
                                     cred_note)) {
      return std::optional<AwsCredentials>(std::move(*c));
    }
  }
  if (auto text = read_small_file(config_path, config_note)) {
    auto ini = parse_ini(*text, config_path);
    if (!ini) return fail(ini.error());
    auto it = ini->find(profile == "default" ? "default" : "profile " + profile);
    if (it == ini->end() && profile == "default") it = ini->find("profile default");
    if (it == ini->end()) {
      config_note = "no profile " + profile;
    } else if (auto c = from_section(it->second,
                                     "shared file " + config_path + " (profile " + profile + ")",
                                     config_note)) {
      return std::optional<AwsCredentials>(std::move(*c));
    }
  }
  note = cred_path + " (" + cred_note + "), " + config_path + " (" + config_note + ")";
  return std::optional<AwsCredentials>();
}

CredentialChain::CredentialChain(Env env, Clock clock)
    : CredentialChain(env, std::make_shared<ImdsClient>(ImdsOptions::from_env(env), clock), clock) {
}

CredentialChain::CredentialChain(Env env, std::shared_ptr<ImdsClient> imds, Clock clock)
    : env_(std::move(env)), imds_(std::move(imds)), clock_(std::move(clock)) {}

Result<AwsCredentials> CredentialChain::get(bool force_refresh) {
  std::string env_note;
  if (auto c = credentials_from_env(env_, env_note)) return std::move(*c);

  std::string file_note;
  auto shared = credentials_from_shared_files(env_, file_note);
  if (!shared) return fail(shared.error());
  if (*shared) return std::move(**shared);

  std::string imds_note;
  ErrorKind kind = ErrorKind::auth;
  if (!imds_ || imds_->disabled()) {
    imds_note = "disabled by AWS_EC2_METADATA_DISABLED";
  } else {
    std::lock_guard lock(mu_);
    auto t = now(clock_);
    auto fresh = [&](const AwsCredentials& c) {
      // No Expiration: refresh every 15 minutes.
      return c.expiration ? t + kRefreshBefore < *c.expiration : false;
    };
    if (!force_refresh && cached_imds_ && fresh(*cached_imds_)) return *cached_imds_;
    auto creds = imds_->role_credentials();
    if (creds) {
      if (!creds->expiration) creds->expiration = t + std::chrono::minutes(15) + kRefreshBefore;
      cached_imds_ = *creds;
      return std::move(*creds);
    }
    if (cached_imds_ && cached_imds_->expiration && t < *cached_imds_->expiration) {
      spdlog::warn("refreshing {} credentials failed ({}); using the cached ones until they expire",
                   cached_imds_->source, creds.error().message);
      return *cached_imds_;
    }
    imds_note = creds.error().message;
    // IMDS down or throttled: worth retrying later, unlike "nothing configured".
    if (creds.error().retryable()) kind = ErrorKind::unavailable;
  }
  return fail("no AWS credentials: environment (" + env_note + "), shared files " + file_note +
                  ", instance metadata (" + imds_note + ")",
              kind);
}

}  // namespace berth::aws
