#include "registry/auth.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "aws/credentials.hpp"
#include "core/untrusted_json.hpp"
#include "net/http.hpp"
#include "util/result.hpp"

namespace berth::registry {

std::string x_registry_auth(const RegistryCredential& c) {
  nlohmann::json j = {
      {"username", c.username}, {"password", c.password}, {"serveraddress", c.server_address}};
  return net::base64_encode(j.dump(), /*url=*/true);
}

aws::TimePoint ecr_renew_at(aws::TimePoint fetched, aws::TimePoint expires, double jitter) {
  if (expires <= fetched) return fetched;
  auto lifetime = expires - fetched;
  auto early = std::chrono::duration_cast<aws::TimePoint::duration>(lifetime * jitter);
  return fetched + lifetime / 2 - early;
}

namespace {

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Reads a secret file; refuses one that group or others may read or write.
Result<std::string> read_secret_file(const std::string& path, const std::string& what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(what + ": cannot open password_file " + path + ": " + berth::errno_text(errno),
                ErrorKind::config);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(what + ": password_file " + path + " is not a regular file", ErrorKind::config);
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return fail(what + ": password_file " + path + " is accessible by group or others (mode " +
                    octal_mode(st.st_mode) + "); run: chmod 600 " + path,
                ErrorKind::config);
  }
  std::string data;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > 65536) break;
  }
  ::close(fd);
  while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) data.pop_back();
  if (data.empty()) return fail(what + ": password_file " + path + " is empty", ErrorKind::config);
  return data;
}

class AnonymousProvider final : public AuthProvider {
 public:
  AnonymousProvider(std::string host, bool insecure) : AuthProvider(std::move(host), insecure) {}
  Result<RegistryCredential> get(bool) override { return RegistryCredential{"", "", host()}; }
  std::string describe() const override { return "anonymous"; }
};

class BasicProvider final : public AuthProvider {
 public:
  BasicProvider(const RegistrySettings& s)
      : AuthProvider(s.host, s.insecure), username_(s.username), password_file_(s.password_file) {}
  Result<RegistryCredential> get(bool force_refresh) override {
    std::lock_guard lock(mu_);
    if (!force_refresh && cached_) return *cached_;
    auto pw = read_secret_file(password_file_, "registry " + host());
    if (!pw) return fail(pw.error());
    cached_ = RegistryCredential{username_, std::move(*pw), host()};
    return *cached_;
  }
  std::string describe() const override {
    return "basic (user " + username_ + ", password_file " + password_file_ + ")";
  }

 private:
  std::string username_, password_file_;
  std::mutex mu_;
  std::optional<RegistryCredential> cached_;
};

// "https://index.docker.io/v1/" -> "index.docker.io"
std::string normalize_auth_key(std::string key) {
  auto scheme = key.find("://");
  if (scheme != std::string::npos) key.erase(0, scheme + 3);
  auto slash = key.find('/');
  if (slash != std::string::npos) key.resize(slash);
  return key;
}

bool is_docker_hub(const std::string& host) {
  return host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" ||
         host == "registry.hub.docker.com";
}

}  // namespace

Result<RegistryCredential> parse_docker_config(std::string_view json, const std::string& host,
                                               const std::string& what) {
  auto j = parse_json_or_discarded(json);
  if (j.is_discarded() || !j.is_object()) return fail(what + ": not valid JSON", ErrorKind::config);
  auto auths = j.find("auths");
  if (auths != j.end() && auths->is_object()) {
    for (auto it = auths->begin(); it != auths->end(); ++it) {
      std::string key = normalize_auth_key(it.key());
      bool match = key == host || (is_docker_hub(host) && is_docker_hub(key));
      if (!match || !it->is_object()) continue;
      const auto& e = *it;
      auto str = [&](const char* k) {
        auto v = e.find(k);
        return v != e.end() && v->is_string() ? v->get<std::string>() : std::string();
      };
      if (!str("auth").empty()) {
        auto raw = net::base64_decode(str("auth"));
        auto colon = raw ? raw->find(':') : std::string::npos;
        if (!raw || colon == std::string::npos)
          return fail(what + ": auths[\"" + it.key() + "\"].auth is not base64 of user:password",
                      ErrorKind::config);
        return RegistryCredential{raw->substr(0, colon), raw->substr(colon + 1), host};
      }
      if (!str("username").empty())
        return RegistryCredential{str("username"), str("password"), host};
      if (!str("identitytoken").empty())
        return fail(what + ": auths[\"" + it.key() +
                        "\"] holds an identitytoken, which berth does not support "
                        "(use auth or username/password)",
                    ErrorKind::config);
    }
  }
  for (const char* k : {"credHelpers", "credsStore"}) {
    auto h = j.find(k);
    if (h != j.end() && ((h->is_object() && h->contains(host)) ||
                         (h->is_string() && std::string(k) == "credsStore")))
      return fail(what + ": credentials live in a credential helper (" + k +
                      "), which berth does not run (no subprocesses); use auth = \"ecr\" or "
                      "\"basic\" instead",
                  ErrorKind::config);
  }
  return fail(what + ": no auths entry for " + host, ErrorKind::config);
}

namespace {

class DockerConfigProvider final : public AuthProvider {
 public:
  DockerConfigProvider(const RegistrySettings& s, const aws::Env& env)
      : AuthProvider(s.host, s.insecure), path_(s.config_file) {
    if (path_.empty()) {
      path_ = env.nonempty("DOCKER_CONFIG") ? env.get("DOCKER_CONFIG") + "/config.json"
                                            : aws::home_dir(env) + "/.docker/config.json";
    }
  }
  Result<RegistryCredential> get(bool force_refresh) override {
    std::lock_guard lock(mu_);
    if (!force_refresh && cached_) return *cached_;
    auto c = load();
    if (!c) return fail(c.error());
    cached_ = std::move(*c);
    return *cached_;
  }
  std::string describe() const override { return "docker config " + path_; }

 private:
  Result<RegistryCredential> load() {
    std::string what = "registry " + host() + ": docker config " + path_;
    std::FILE* f = std::fopen(path_.c_str(), "rb");
    if (!f) return fail(what + ": " + berth::errno_text(errno), ErrorKind::config);
    std::string data;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && data.size() < (4u << 20))
      data.append(buf, n);
    std::fclose(f);
    return parse_docker_config(data, host(), what);
  }

  std::string path_;
  std::mutex mu_;
  std::optional<RegistryCredential> cached_;
};

class EcrProvider final : public AuthProvider {
 public:
  EcrProvider(const RegistrySettings& s, std::optional<aws::EcrHost> parsed, AuthContext ctx)
      : AuthProvider(s.host, s.insecure), ctx_(std::move(ctx)) {
    account_ = s.account.empty() && parsed ? parsed->account : s.account;
    region_ = s.region.empty() && parsed ? parsed->region : s.region;
    if (parsed) {
      fips_ = parsed->fips;
      china_ = parsed->china;
    }
  }
  bool is_ecr() const override { return true; }
  std::string describe() const override {
    std::string d = "ECR (";
    d += account_.empty() ? "caller's account" : "account " + account_;
    if (!region_.empty()) d += ", " + region_;
    return d + ")";
  }

  Result<RegistryCredential> get(bool force_refresh) override {
    std::lock_guard lock(mu_);
    auto t = aws::now(ctx_.clock);
    if (!force_refresh && cached_ && t < renew_at_) return to_credential(*cached_);
    auto fetched = fetch();
    if (fetched) {
      cached_ = std::move(*fetched);
      renew_at_ = ecr_renew_at(t, cached_->expires_at, jitter());
      return to_credential(*cached_);
    }
    // The credential helper's rule: a failed renewal falls back to a token still valid (with a
    // minute to spare), unless the registry has just refused that token.
    if (!force_refresh && cached_ && t + std::chrono::minutes(1) < cached_->expires_at) {
      spdlog::warn("registry {}: renewing the ECR token failed ({}); using the cached token",
                   host(), fetched.error().message);
      return to_credential(*cached_);
    }
    return fail(context(fetched.error(), "registry " + host()));
  }

 private:
  RegistryCredential to_credential(const aws::EcrAuthorization& a) const {
    return RegistryCredential{a.username, a.password, host()};
  }
  double jitter() const {
    if (ctx_.jitter) return ctx_.jitter();
    static thread_local std::mt19937 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 0.1)(rng);
  }
  Result<aws::EcrAuthorization> fetch() {
    if (!ctx_.ecr) return fail("ECR support is not available", ErrorKind::config);
    std::string region = region_;
    if (region.empty()) {
      if (!ctx_.default_region)
        return fail("no region for the ECR registry (set region in its [registries] section)",
                    ErrorKind::config);
      auto r = ctx_.default_region();
      if (!r) return fail(r.error());
      region = *r;
    }
    return ctx_.ecr->get_authorization_token(region, account_, fips_, china_);
  }

  AuthContext ctx_;
  std::string account_, region_;
  bool fips_ = false, china_ = false;
  std::mutex mu_;
  std::optional<aws::EcrAuthorization> cached_;
  aws::TimePoint renew_at_{};
};

}  // namespace

AuthContext make_auth_context(const std::string& configured_region, aws::Env env) {
  auto imds = std::make_shared<aws::ImdsClient>(aws::ImdsOptions::from_env(env));
  auto chain = std::make_shared<aws::CredentialChain>(env, imds);
  AuthContext ctx;
  ctx.ecr = std::make_shared<aws::EcrClient>(chain);
  ctx.default_region = [configured_region, env, imds]() {
    return aws::resolve_region(configured_region, env, imds.get());
  };
  ctx.env = std::move(env);
  return ctx;
}

std::unique_ptr<AuthProvider> make_anonymous_provider(const std::string& host, bool insecure) {
  return std::make_unique<AnonymousProvider>(host, insecure);
}

Result<std::unique_ptr<AuthProvider>> make_auth_provider(const RegistrySettings& s,
                                                         const AuthContext& ctx) {
  std::string what = "registry " + s.host;
  switch (s.auth) {
    case RegistryAuth::none:
      return std::unique_ptr<AuthProvider>(make_anonymous_provider(s.host, s.insecure));
    case RegistryAuth::basic:
      if (s.username.empty())
        return fail(what + ": auth = \"basic\" needs username", ErrorKind::config);
      if (s.password_file.empty())
        return fail(what + ": auth = \"basic\" needs password_file", ErrorKind::config);
      return std::unique_ptr<AuthProvider>(std::make_unique<BasicProvider>(s));
    case RegistryAuth::docker_config:
      return std::unique_ptr<AuthProvider>(std::make_unique<DockerConfigProvider>(s, ctx.env));
    case RegistryAuth::ecr: {
      auto parsed = aws::parse_ecr_host(s.host);
      if (!parsed && s.account.empty() && s.region.empty() && !ctx.default_region)
        return fail(what + ": not an ECR host name; set account and region", ErrorKind::config);
      return std::unique_ptr<AuthProvider>(std::make_unique<EcrProvider>(s, parsed, ctx));
    }
  }
  return fail(what + ": unknown auth kind", ErrorKind::config);
}

AuthProviders::AuthProviders(std::map<std::string, RegistrySettings> registries, AuthContext ctx)
    : registries_(std::move(registries)), ctx_(std::move(ctx)) {}

Result<AuthProvider*> AuthProviders::for_host(const std::string& host) {
  std::lock_guard lock(mu_);
  auto it = providers_.find(host);
  if (it != providers_.end()) return it->second.get();
  std::unique_ptr<AuthProvider> p;
  auto cfg = registries_.find(host);
  if (cfg != registries_.end()) {
    RegistrySettings s = cfg->second;
    if (s.host.empty()) s.host = host;
    auto made = make_auth_provider(s, ctx_);
    if (!made) return fail(made.error());
    p = std::move(*made);
  } else if (aws::parse_ecr_host(host)) {
    RegistrySettings s;
    s.host = host;
    s.auth = RegistryAuth::ecr;
    auto made = make_auth_provider(s, ctx_);
    if (!made) return fail(made.error());
    p = std::move(*made);
  } else {
    p = make_anonymous_provider(host, false);
  }
  auto* raw = p.get();
  providers_.emplace(host, std::move(p));
  return raw;
}

Result<void> AuthProviders::validate() {
  for (const auto& [host, s] : registries_) {
    auto p = for_host(host);
    if (!p) return fail(p.error());
    // Local secrets (password_file mode, docker config entry) are checked now; ECR needs the
    // network and is checked on first use.
    if (s.auth == RegistryAuth::basic || s.auth == RegistryAuth::docker_config) {
      auto c = (*p)->get(false);
      if (!c) return fail(c.error());
    }
  }
  return {};
}

}  // namespace berth::registry
