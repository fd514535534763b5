#include "aws/ecr.hpp"

#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "core/untrusted_json.hpp"
#include "core/url.hpp"
#include "util/strings.hpp"

namespace berth::aws {

namespace {

constexpr const char* kTarget = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

// amazon-ecr-credential-helper's ecrPattern (ecr-login/api/client.go), anchored.
const std::regex& ecr_regex() {
  static const std::regex re(
      R"(^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9\-_]*)\.)"
      R"((amazonaws\.com(\.cn)?|on\.(aws|amazonwebservices\.com\.cn)|sc2s\.sgov\.gov|)"
      R"(c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$)",
      std::regex::ECMAScript | std::regex::icase);
  return re;
}

bool is_instance_role(const std::string& source) {
  return source.rfind("instance role", 0) == 0;
}

}  // namespace

std::optional<EcrHost> parse_ecr_host(std::string_view host) {
  std::smatch m;
  std::string h(host);
  if (!std::regex_match(h, m, ecr_regex())) return std::nullopt;
  EcrHost e;
  e.account = m[1].str();
  e.fips = m[2].matched;
  e.region = to_lower(m[3].str());
  std::string suffix = m[4].str();
  e.dual_stack = h.find(".dkr-ecr") != std::string::npos || suffix.rfind("on.", 0) == 0;
  e.china = suffix.size() >= 3 && suffix.compare(suffix.size() - 3, 3, ".cn") == 0;
  return e;
}

std::string ecr_endpoint(const Env& env, const std::string& region, bool fips, bool china) {
  std::string url = env.nonempty("AWS_ENDPOINT_URL_ECR") ? env.get("AWS_ENDPOINT_URL_ECR")
                    : env.nonempty("AWS_ENDPOINT_URL")
                        ? env.get("AWS_ENDPOINT_URL")
                        : std::string("https://api.ecr") + (fips ? "-fips" : "") + "." + region +
                              ".amazonaws.com" + (china ? ".cn" : "");
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

Result<std::pair<std::string, std::string>> decode_authorization_token(std::string_view token) {
  auto raw = net::base64_decode(token);
  if (!raw) return fail("ECR authorization token is not base64", ErrorKind::invalid_input);
  auto colon = raw->find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == raw->size())
    return fail("ECR authorization token is not USER:PASSWORD", ErrorKind::invalid_input);
  return std::make_pair(raw->substr(0, colon), raw->substr(colon + 1));
}

Result<EcrAuthorization> parse_authorization_response(std::string_view body) {
  auto j = parse_json_or_discarded(body);
  if (j.is_discarded() || !j.is_object())
    return fail("ECR GetAuthorizationToken response is not JSON", ErrorKind::invalid_input);
  auto data = j.find("authorizationData");
  if (data == j.end() || !data->is_array() || data->empty() || !(*data)[0].is_object())
    return fail("ECR GetAuthorizationToken response has no authorizationData",
                ErrorKind::invalid_input);
  const auto& d = (*data)[0];
  auto tok = d.find("authorizationToken");
  if (tok == d.end() || !tok->is_string())
    return fail("ECR GetAuthorizationToken response has no authorizationToken",
                ErrorKind::invalid_input);
  auto up = decode_authorization_token(tok->get<std::string>());
  if (!up) return fail(up.error());
  EcrAuthorization a;
  a.username = std::move(up->first);
  a.password = std::move(up->second);
  auto exp = d.find("expiresAt");
  double secs = 0;
  if (exp != d.end() && exp->is_number()) {
    secs = exp->get<double>();
  } else if (exp != d.end() && exp->is_string()) {
    auto s = exp->get<std::string>();
    if (auto tp = parse_iso8601(s)) {
      secs = static_cast<double>(
                 std::chrono::duration_cast<std::chrono::milliseconds>(tp->time_since_epoch())
                     .count()) /
             1000.0;
    } else {
      try {
        std::size_t used = 0;
        secs = std::stod(s, &used);
        if (used != s.size()) secs = 0;  // "9999-12-31T..." is not 9999 seconds
      } catch (...) {
        secs = 0;
      }
    }
  }
  // Before 2100: later times do not fit the clock's nanoseconds (and no token lives that long).
  constexpr double kLatest = 4102444800.0;  // 2100-01-01T00:00:00Z
  if (!(secs > 0) || !std::isfinite(secs) || secs >= kLatest)
    return fail("ECR GetAuthorizationToken response has no valid expiresAt",
                ErrorKind::invalid_input);
  a.expires_at = TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(secs)));
  auto pe = d.find("proxyEndpoint");
  if (pe != d.end() && pe->is_string()) a.proxy_endpoint = pe->get<std::string>();
  return a;
}

std::pair<std::string, std::string> parse_aws_error(std::string_view body,
                                                    std::string_view error_type_header) {
  std::string type, message;
  auto j = parse_json_or_discarded(body);
  if (!j.is_discarded() && j.is_object()) {
    for (const char* k : {"__type", "code", "Code"}) {
      auto it = j.find(k);
      if (it != j.end() && it->is_string()) {
        type = it->get<std::string>();
        break;
      }
    }
    for (const char* k : {"message", "Message", "errorMessage"}) {
      auto it = j.find(k);
      if (it != j.end() && it->is_string()) {
        message = it->get<std::string>();
        break;
      }
    }
  }
  if (type.empty()) type = std::string(error_type_header);
  if (auto colon = type.find(':'); colon != std::string::npos) type.resize(colon);
  if (auto hash = type.rfind('#'); hash != std::string::npos) type.erase(0, hash + 1);
  return {type, message};
}

EcrClient::EcrClient(std::shared_ptr<CredentialChain> credentials)
    : credentials_(std::move(credentials)) {}

int EcrClient::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

Result<EcrAuthorization> EcrClient::get_authorization_token(const std::string& region,
                                                            const std::string& account, bool fips,
                                                            bool china) {
  if (region.empty())
    return fail("ECR GetAuthorizationToken: no region (set [aws] region or the registry's region)",
                ErrorKind::config);
  std::string endpoint = ecr_endpoint(credentials_->env(), region, fips, china);
  std::string where = "ECR GetAuthorizationToken at " + url::for_log(endpoint);
  std::string body = "{}";
  if (!account.empty()) body = nlohmann::json{{"registryIds", {account}}}.dump();

  bool refreshed = false, force_next = false;
  Error last;
  constexpr int kAttempts = 3;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 << (attempt - 1)));
    auto creds = credentials_->get(force_next);
    force_next = false;
    if (!creds) return fail(context(creds.error(), where));

    net::Request req;
    req.method = "POST";
    req.url = endpoint + "/";
    req.body = body;
    req.headers = {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", kTarget}};
    // Added as a header so that libcurl signs it (it signs every header it is given).
    if (!creds->session_token.empty())
      req.headers.emplace_back("X-Amz-Security-Token", creds->session_token);
    req.aws_sigv4 = "aws:amz:" + region + ":ecr";
    req.aws_userpwd = creds->access_key_id + ":" + creds->secret_access_key;
    req.connect_timeout_ms = 5000;
    req.timeout_ms = 20000;
    req.body_limit = net::kEcrLimit;

    Result<net::Response> resp = [&] {
      std::lock_guard lock(mu_);
      ++calls_;
      return http_.perform(req);
    }();
    if (!resp) {
      last = resp.error();
      last.message = where + ": " + last.message;
      continue;
    }
    auto scrub = [&](std::string s) {
      return redact(std::move(s),
                    {creds->secret_access_key, creds->session_token, req.aws_userpwd});
    };
    if (resp->status == 200) {
      auto a = parse_authorization_response(resp->body);
      if (!a) return fail(context(a.error(), where));
      return a;
    }
    auto [type, message] = parse_aws_error(resp->body, resp->header("x-amzn-errortype"));
    message = scrub(message);
    int status = static_cast<int>(resp->status);
    std::string detail = type.empty() ? "HTTP " + std::to_string(status) : type;
    if (!message.empty()) detail += ": " + message;
    const std::string& source = creds->source;

    if (type == "ExpiredTokenException" || type == "ExpiredToken" ||
        (type == "UnrecognizedClientException" && is_instance_role(source))) {
      if (!refreshed && credentials_->imds() && is_instance_role(source)) {
        refreshed = true;  // rotated role credentials: fetch new ones and try again
        force_next = true;
        --attempt;
        continue;
      }
    }
    if (type == "AccessDeniedException" || type == "AccessDenied") {
      std::string who = is_instance_role(source) ? "the instance role" : "the IAM principal";
      return fail(where + " denied for " + source + ": " + detail + " (" + who +
                      " needs ecr:GetAuthorizationToken)",
                  ErrorKind::auth, status);
    }
    if (type == "UnrecognizedClientException" || type == "InvalidClientTokenId" ||
        type == "ExpiredTokenException" || type == "ExpiredToken")
      return fail(where + " rejected the credentials from " + source + " (" + detail +
                      "): check the access key id and session token",
                  ErrorKind::auth, status);
    if (type == "InvalidSignatureException" || type == "SignatureDoesNotMatch")
      return fail(where + " rejected the request signature made with the credentials from " +
                      source + " (" + detail +
                      "): the secret access key is wrong, or the clock is off",
                  ErrorKind::auth, status);
    if (type == "ThrottlingException" || status == 429) {
      last = Error{ErrorKind::throttled, where + " throttled: " + detail, status};
      continue;
    }
    if (status >= 500) {
      last = Error{ErrorKind::unavailable, where + " failed: " + detail, status};
      continue;
    }
    if (status == 401 || status == 403)
      return fail(where + " refused the credentials from " + source + ": " + detail,
                  ErrorKind::auth, status);
    return fail(where + " failed: " + detail, ErrorKind::invalid_input, status);
  }
  return fail(last);
}

}  // namespace berth::aws
