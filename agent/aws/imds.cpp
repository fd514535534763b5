#include "aws/imds.hpp"

#include <nlohmann/json.hpp>
#include <thread>

#include "core/untrusted_json.hpp"
#include "core/url.hpp"

namespace berth::aws {

namespace {

constexpr const char* kTokenPath = "/latest/api/token";
constexpr const char* kCredsPath = "/latest/meta-data/iam/security-credentials/";
constexpr const char* kIdentityPath = "/latest/dynamic/instance-identity/document";

std::string json_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

ImdsOptions ImdsOptions::from_env(const Env& env) {
  ImdsOptions o;
  if (env.nonempty("AWS_EC2_METADATA_SERVICE_ENDPOINT")) {
    o.endpoint = env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  } else if (env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") == "IPv6" ||
             env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") == "ipv6") {
    o.endpoint = "http://[fd00:ec2::254]";
  }
  o.disabled = env.is_true("AWS_EC2_METADATA_DISABLED");
  return o;
}

ImdsClient::ImdsClient(ImdsOptions options, Clock clock)
    : options_(std::move(options)), clock_(std::move(clock)) {}

int ImdsClient::token_fetches() const {
  std::lock_guard lock(mu_);
  return token_fetches_;
}

// One request with the retry policy: transport errors, 429 and 5xx are retried with backoff.
Result<net::Response> ImdsClient::send_locked(const net::Request& req, std::string_view what) {
  Error last;
  for (int attempt = 0; attempt < std::max(1, options_.max_attempts); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(options_.backoff * (1 << (attempt - 1)));
    auto resp = http_.perform(req);
    if (!resp) {
      last = resp.error();
      last.message = "instance metadata " + std::string(what) + ": " + last.message;
      if (last.kind == ErrorKind::invalid_input) break;  // over its limit: asking again won't help
      continue;
    }
    if (resp->status == 429) {
      last = Error{ErrorKind::throttled,
                   "instance metadata " + std::string(what) + ": throttled (HTTP 429) at " +
                       url::for_log(options_.endpoint),
                   429};
      continue;
    }
    if (resp->status >= 500) {
      last = Error{ErrorKind::unavailable,
                   "instance metadata " + std::string(what) + ": HTTP " +
                       std::to_string(resp->status) + " from " + url::for_log(options_.endpoint),
                   static_cast<int>(resp->status)};
      continue;
    }
    return resp;
  }
  return fail(last);
}

Result<std::string> ImdsClient::token_locked(bool force) {
  if (options_.disabled)
    return fail("instance metadata is disabled by AWS_EC2_METADATA_DISABLED", ErrorKind::config);
  auto t = now(clock_);
  if (!force && !token_.empty() && t < token_refresh_at_) return token_;
  net::Request req;
  req.method = "PUT";
  req.url = options_.endpoint + kTokenPath;
  req.headers = {
      {"X-aws-ec2-metadata-token-ttl-seconds", std::to_string(options_.token_ttl_seconds)}};
  req.connect_timeout_ms = options_.connect_timeout_ms;
  req.timeout_ms = options_.timeout_ms;
  req.body_limit = net::kImdsLimit;
  auto resp = send_locked(req, "session token");
  if (!resp) return fail(resp.error());
  if (resp->status != 200 || resp->body.empty()) {
    return fail("instance metadata session token: HTTP " + std::to_string(resp->status) + " from " +
                    url::for_log(options_.endpoint + kTokenPath),
                resp->status == 403 ? ErrorKind::auth : ErrorKind::invalid_input,
                static_cast<int>(resp->status));
  }
  int ttl = options_.token_ttl_seconds;
  if (auto h = resp->header("x-aws-ec2-metadata-token-ttl-seconds"); !h.empty()) {
    try {
      ttl = std::stoi(h);
    } catch (...) {
    }
  }
  // Renew 30 s before the end (half-way for very short TTLs).
  auto margin = ttl > 60 ? std::chrono::seconds(30) : std::chrono::seconds(ttl / 2);
  token_ = resp->body;
  token_refresh_at_ = t + std::chrono::seconds(ttl) - margin;
  ++token_fetches_;
  return token_;
}

Result<std::string> ImdsClient::get(std::string_view path) {
  std::lock_guard lock(mu_);
  bool renewed = false;
  for (;;) {
    auto token = token_locked(false);
    if (!token) return fail(token.error());
    net::Request req;
    req.url = options_.endpoint + std::string(path);
    req.headers = {{"X-aws-ec2-metadata-token", *token}};
    req.connect_timeout_ms = options_.connect_timeout_ms;
    req.timeout_ms = options_.timeout_ms;
    req.body_limit = net::kImdsLimit;
    auto resp = send_locked(req, std::string(path));
    if (!resp) return fail(resp.error());
    if (resp->status == 401) {
      token_.clear();  // expired or revoked: PUT a new one and retry once
      if (!renewed) {
        renewed = true;
        continue;
      }
      return fail("instance metadata " + std::string(path) +
                      ": session token rejected (HTTP 401) twice by " +
                      url::for_log(options_.endpoint),
                  ErrorKind::auth, 401);
    }
    if (resp->status == 404)
      return fail("instance metadata " + std::string(path) + ": not found (HTTP 404)",
                  ErrorKind::not_found, 404);
    if (resp->status != 200)
      return fail("instance metadata " + std::string(path) + ": HTTP " +
                      std::to_string(resp->status) + " from " + url::for_log(options_.endpoint),
                  ErrorKind::invalid_input, static_cast<int>(resp->status));
    return std::move(resp->body);
  }
}

Result<std::string> ImdsClient::role_name() {
  auto body = get(kCredsPath);
  if (!body) {
    if (body.error().kind == ErrorKind::not_found)
      return fail("no IAM role is attached to the instance (no instance profile)",
                  ErrorKind::not_found, 404);
    return fail(body.error());
  }
  std::string name = *body;
  auto nl = name.find('\n');
  if (nl != std::string::npos) name.resize(nl);
  while (!name.empty() && (name.back() == '\r' || name.back() == ' ')) name.pop_back();
  if (name.empty())
    return fail("no IAM role is attached to the instance (empty role list)", ErrorKind::not_found);
  return name;
}

Result<AwsCredentials> parse_role_credentials(std::string_view body, const std::string& role) {
  auto j = parse_json_or_discarded(body);
  std::string what = "instance role " + role;
  if (j.is_discarded() || !j.is_object())
    return fail(what + ": instance metadata returned malformed credentials (not JSON)",
                ErrorKind::invalid_input);
  std::string code = json_string(j, "Code");
  if (!code.empty() && code != "Success")
    return fail(what + ": instance metadata credentials Code=" + code, ErrorKind::unavailable);
  AwsCredentials c;
  c.access_key_id = json_string(j, "AccessKeyId");
  c.secret_access_key = json_string(j, "SecretAccessKey");
  c.session_token = json_string(j, "Token");
  c.source = what;
  if (c.access_key_id.empty() || c.secret_access_key.empty())
    return fail(what + ": instance metadata credentials lack AccessKeyId/SecretAccessKey",
                ErrorKind::invalid_input);
  std::string exp = json_string(j, "Expiration");
  if (!exp.empty()) {
    c.expiration = parse_iso8601(exp);
    if (!c.expiration)
      return fail(what + ": unparsable Expiration \"" + exp + "\"", ErrorKind::invalid_input);
  }
  return c;
}

Result<InstanceIdentity> parse_identity_document(std::string_view body) {
  auto j = parse_json_or_discarded(body);
  if (j.is_discarded() || !j.is_object())
    return fail("instance identity document is not JSON", ErrorKind::invalid_input);
  InstanceIdentity id;
  id.region = json_string(j, "region");
  id.instance_id = json_string(j, "instanceId");
  id.availability_zone = json_string(j, "availabilityZone");
  id.instance_type = json_string(j, "instanceType");
  id.account_id = json_string(j, "accountId");
  id.image_id = json_string(j, "imageId");
  id.private_ip = json_string(j, "privateIp");
  id.architecture = json_string(j, "architecture");
  if (id.region.empty() || id.instance_id.empty())
    return fail("instance identity document lacks region/instanceId", ErrorKind::invalid_input);
  return id;
}

Result<AwsCredentials> ImdsClient::role_credentials() {
  auto role = role_name();
  if (!role) return fail(role.error());
  auto body = get(std::string(kCredsPath) + *role);
  if (!body) return fail(body.error());
  return parse_role_credentials(*body, *role);
}

Result<InstanceIdentity> ImdsClient::identity() {
  {
    std::lock_guard lock(mu_);
    if (identity_) return *identity_;
  }
  auto body = get(kIdentityPath);
  if (!body) return fail(body.error());
  auto id = parse_identity_document(*body);
  if (!id) return fail(id.error());
  std::lock_guard lock(mu_);
  identity_ = std::make_unique<InstanceIdentity>(*id);
  return *id;
}

Result<std::string> resolve_region(const std::string& configured, const Env& env,
                                   ImdsClient* imds) {
  if (!configured.empty()) return configured;
  if (env.nonempty("AWS_REGION")) return env.get("AWS_REGION");
  if (env.nonempty("AWS_DEFAULT_REGION")) return env.get("AWS_DEFAULT_REGION");
  std::string tried =
      "no AWS region: [aws] region (not set), AWS_REGION (not set), "
      "AWS_DEFAULT_REGION (not set), instance metadata (";
  if (imds == nullptr) return fail(tried + "not consulted)", ErrorKind::config);
  if (imds->disabled())
    return fail(tried + "disabled by AWS_EC2_METADATA_DISABLED)", ErrorKind::config);
  auto id = imds->identity();
  if (!id) return fail(tried + id.error().message + ")", ErrorKind::config);
  return id->region;
}

}  // namespace berth::aws
