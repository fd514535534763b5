#include "registry/manifest.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/sha256.hpp"
#include "core/status.hpp"
#include "core/untrusted_json.hpp"
#include "net/http.hpp"
#include "util/strings.hpp"

namespace berth::registry {

Platform Platform::host() {
  Platform p;
#if defined(__x86_64__)
  p.architecture = "amd64";
#elif defined(__aarch64__)
  p.architecture = "arm64";
#elif defined(__arm__)
  p.architecture = "arm";
#elif defined(__i386__)
  p.architecture = "386";
#elif defined(__powerpc64__)
  p.architecture = "ppc64le";
#elif defined(__s390x__)
  p.architecture = "s390x";
#elif defined(__riscv)
  p.architecture = "riscv64";
#else
  p.architecture = "unknown";
#endif
  return p;
}

namespace {

bool is_index_type(const std::string& mt) {
  return mt == "application/vnd.oci.image.index.v1+json" ||
         mt == "application/vnd.docker.distribution.manifest.list.v2+json";
}

// The media type without parameters ("...; charset=utf-8").
std::string bare_type(std::string ct) {
  auto semi = ct.find(';');
  if (semi != std::string::npos) ct.resize(semi);
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  return ct;
}

// A string member, by reference ("" when missing or not a string): a peer's document is never
// copied (see core/untrusted_json.hpp).
const std::string& text_member(const nlohmann::json& j, const char* key) {
  static const std::string empty;
  if (!j.is_object()) return empty;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get_ref<const std::string&>() : empty;
}

// {"errors":[{"code":"MANIFEST_UNKNOWN","message":"..."}]} -> "MANIFEST_UNKNOWN: ..."
std::string registry_error_detail(const std::string& body) {
  auto j = parse_json_or_discarded(body);
  if (j.is_discarded() || !j.is_object()) return "";
  auto errs = j.find("errors");
  if (errs == j.end() || !errs->is_array() || errs->empty() || !(*errs)[0].is_object()) return "";
  const auto& e = (*errs)[0];
  const std::string& code = text_member(e, "code");
  const std::string& message = text_member(e, "message");
  return clean_text(code + (code.empty() || message.empty() ? "" : ": ") + message, 300);
}

}  // namespace

int retry_after_seconds(std::string_view h) {
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  if (h.empty() || h.size() > 9) return 0;
  int v = 0;
  for (char c : h) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (c - '0');
  }
  return std::min(v, 300);
}

std::optional<Challenge> parse_www_authenticate(std::string_view h) {
  size_t i = 0;
  while (i < h.size() && h[i] == ' ') ++i;
  size_t start = i;
  while (i < h.size() && h[i] != ' ') ++i;
  if (i == start) return std::nullopt;
  Challenge c;
  c.scheme = to_lower(std::string(h.substr(start, i - start)));
  // auth-params: key=value or key="quoted, value", comma separated
  while (i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == ',')) ++i;
    size_t ks = i;
    while (i < h.size() && h[i] != '=' && h[i] != ',' && h[i] != ' ') ++i;
    std::string key = to_lower(std::string(h.substr(ks, i - ks)));
    if (i >= h.size() || h[i] != '=') {
      // a second challenge ("Basic realm=..., Bearer ...") or a token68: stop here
      if (!key.empty() && !c.params.empty()) break;
      continue;
    }
    ++i;  // '='
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      while (i < h.size() && h[i] != '"') {
        if (h[i] == '\\' && i + 1 < h.size()) ++i;
        value.push_back(h[i++]);
      }
      ++i;  // closing quote
    } else {
      size_t vs = i;
      while (i < h.size() && h[i] != ',') ++i;
      value = std::string(h.substr(vs, i - vs));
      while (!value.empty() && value.back() == ' ') value.pop_back();
    }
    if (!key.empty()) c.params[key] = value;
  }
  return c;
}

std::string registry_base_url(const std::string& host, bool insecure) {
  return (insecure || is_loopback_host(host) ? "http://" : "https://") + host;
}

Result<std::int64_t> manifest_download_size(std::string_view manifest_json) {
  auto parsed = parse_json(manifest_json);
  if (!parsed || !parsed->is_object())
    return fail(parsed ? "image manifest is not a JSON object"
                       : "image manifest: " + parsed.error().message,
                ErrorKind::invalid_input);
  const nlohmann::json& j = *parsed;
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array())
    return fail("not an image manifest (no layers)", ErrorKind::invalid_input);
  std::int64_t total = 0;
  auto add = [&](const nlohmann::json& d) -> bool {
    if (!d.is_object()) return false;
    auto size = d.find("size");
    if (size == d.end() || !size->is_number_integer()) return false;
    auto s = size->get<std::int64_t>();
    if (s < 0 || s > std::numeric_limits<std::int64_t>::max() - total) return false;
    total += s;
    return true;
  };
  for (const auto& l : *layers)
    if (!add(l)) return fail("image manifest has a layer without a size", ErrorKind::invalid_input);
  if (auto config = j.find("config"); config != j.end() && !add(*config))
    return fail("image manifest config has no size", ErrorKind::invalid_input);
  return total;
}

Result<std::string> select_platform_manifest(std::string_view index_json,
                                             const Platform& platform) {
  auto parsed = parse_json(index_json);
  if (!parsed) return fail("image index: " + parsed.error().message, ErrorKind::invalid_input);
  const nlohmann::json& j = *parsed;
  auto manifests = j.is_object() ? j.find("manifests") : j.end();
  if (!j.is_object() || manifests == j.end() || !manifests->is_array())
    return fail("image index is not JSON with manifests", ErrorKind::invalid_input);
  std::string fallback, offered;
  for (const auto& m : *manifests) {
    const std::string& digest = text_member(m, "digest");
    if (digest.empty()) continue;
    auto p = m.find("platform");
    if (p == m.end() || !p->is_object()) continue;
    const std::string& os = text_member(*p, "os");
    const std::string& arch = text_member(*p, "architecture");
    const std::string& variant = text_member(*p, "variant");
    if (os == "unknown") continue;  // attestation manifests
    if (offered.size() < 1024)
      offered +=
          (offered.empty() ? "" : ", ") + os + "/" + arch + (variant.empty() ? "" : "/") + variant;
    if (os != platform.os || arch != platform.architecture) continue;
    if (platform.variant.empty() || variant == platform.variant) return digest;
    if (fallback.empty()) fallback = digest;
  }
  if (!fallback.empty()) return fallback;
  std::string want = platform.os + "/" + platform.architecture +
                     (platform.variant.empty() ? "" : "/" + platform.variant);
  return fail("no " + want +
                  " image in the index (it has: " + (offered.empty() ? "nothing" : offered) + ")",
              ErrorKind::not_found);
}

// ----------------------------------------------------------------------------------------

struct RegistryClient::Impl {
  RegistryClientOptions options;
  std::atomic<int> requests{0};
  std::atomic<int> connections{0};

  std::mutex mu;                                                          // guards everything below
  std::map<std::string, std::vector<std::unique_ptr<net::Client>>> idle;  // by base URL
  struct BearerInfo {
    std::string realm, service;
  };
  std::map<std::string, BearerInfo> bearer_hosts;  // hosts that answered with a Bearer challenge
  struct Token {
    std::string value;
    aws::TimePoint expires;
  };
  std::map<std::string, Token> tokens;  // host + " " + scope + " " + user

  // A pooled connection, returned on destruction.
  struct Lease {
    Impl* impl;
    std::string key;
    std::unique_ptr<net::Client> client;
    ~Lease() {
      std::lock_guard lock(impl->mu);
      auto& v = impl->idle[key];
      if (v.size() < 4) v.push_back(std::move(client));
    }
  };
  Lease lease(const std::string& key) {
    std::lock_guard lock(mu);
    auto& v = idle[key];
    if (!v.empty()) {
      auto c = std::move(v.back());
      v.pop_back();
      return Lease{this, key, std::move(c)};
    }
    return Lease{this, key, std::make_unique<net::Client>()};
  }

  Result<net::Response> perform(const std::string& base, net::Request& req) {
    req.connect_timeout_ms = options.connect_timeout_ms;
    req.timeout_ms = options.timeout_ms;
    req.ca_file = options.ca_file;
    ++requests;
    auto l = lease(base);
    auto resp = l.client->perform(req);
    if (resp) connections += static_cast<int>(resp->new_connections);
    return resp;
  }

  Result<std::string> bearer_token(const std::string& host, const BearerInfo& info,
                                   const std::string& scope, const RegistryCredential& cred,
                                   AuthProvider* auth, bool force);
  static Error token_error(const std::string& where, const Error& transport, long status,
                           const RegistryCredential& cred, AuthProvider* auth);

  struct Fetched {
    net::Response resp;
    RegistryCredential cred;
  };
  Result<Fetched> fetch(const ImageRef& ref, AuthProvider* auth, const std::string& method,
                        const std::string& reference);
  // After a 401: true = ask again (credentials or token renewed, challenge learned), false =
  // the 401 is the answer.
  struct Rounds;
  Result<bool> after_unauthorized(const ImageRef& ref, const std::string& base,
                                  const std::string& challenge,
                                  const std::optional<BearerInfo>& bearer, Rounds& rounds,
                                  RegistryCredential& cred, AuthProvider* auth);
  // GET a manifest (200 only). By digest: its sha256 must be that digest. Nested deeper than
  // kMaxJsonDepth: refused before anyone parses it.
  Result<net::Response> get_manifest(const ImageRef& ref, AuthProvider* auth,
                                     const std::string& reference);
  Error status_error(const ImageRef& ref, AuthProvider* auth, const Fetched& f);
};

namespace {

// The token from a token service's JSON answer, and how long it is good for (seconds, 60 s to
// 24 h whatever the service says: a huge expires_in must not overflow the clock).
struct TokenAnswer {
  std::string token;
  long expires_in = 60;
};
TokenAnswer parse_token_answer(std::string_view body) {
  TokenAnswer a;
  auto j = parse_json_or_discarded(body);
  if (j.is_discarded() || !j.is_object()) return a;
  a.token = text_member(j, "token");
  if (a.token.empty()) a.token = text_member(j, "access_token");
  auto e = j.find("expires_in");
  if (e != j.end() && e->is_number_integer())
    a.expires_in = std::clamp(e->get<long>(), 60L, 24L * 3600);
  return a;
}

// The realm's origin ("https://auth.example.com"): its pooled connections.
std::string origin_of(const std::string& realm) {
  auto scheme = realm.find("://");
  auto p = realm.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return p == std::string::npos ? realm : realm.substr(0, p);
}

}  // namespace

Result<void> check_bearer_realm(std::string_view realm, std::string_view registry_base) {
  const std::string shown = url::for_log(realm);
  switch (url::classify(realm)) {
    case url::Transport::https:
      return {};
    case url::Transport::loopback_http:
      // A registry that is itself plain http on loopback may send its own host as realm (a
      // local test registry with a token service): nothing leaves the machine.
      if (url::classify(registry_base) == url::Transport::loopback_http &&
          url::split(realm).host == url::split(registry_base).host)
        return {};
      break;
    case url::Transport::plain_http:
    case url::Transport::unsupported:
      break;
  }
  return fail("Bearer realm " + shown +
                  " refused: a token service gets the registry credentials, so it must be "
                  "https (or the registry's own host when the registry itself is plain http on "
                  "loopback); no credentials were sent",
              ErrorKind::invalid_input);
}

Result<std::string> RegistryClient::Impl::bearer_token(const std::string& host,
                                                       const BearerInfo& info,
                                                       const std::string& scope,
                                                       const RegistryCredential& cred,
                                                       AuthProvider* auth, bool force) {
  std::string key = host + " " + scope + " " + cred.username;
  auto t = aws::now(options.clock);
  {
    std::lock_guard lock(mu);
    auto it = tokens.find(key);
    if (it != tokens.end() && !force && t < it->second.expires) return it->second.value;
  }
  if (info.realm.empty())
    return fail("registry " + host + " sent a Bearer challenge without a realm",
                ErrorKind::invalid_input);
  std::string url = info.realm;
  url += (url.find('?') == std::string::npos ? "?" : "&");
  if (!info.service.empty()) url += "service=" + net::url_encode(info.service) + "&";
  url += "scope=" + net::url_encode(scope);
  net::Request req;
  req.url = url;
  req.body_limit = net::kTokenLimit;
  if (!cred.anonymous())
    req.headers.emplace_back("Authorization",
                             "Basic " + net::base64_encode(cred.username + ":" + cred.password));
  // The realm is usually another host: pool its connection under its own origin.
  auto resp = perform(origin_of(info.realm), req);
  const std::string where = "registry " + host + ": token service " + url::for_log(info.realm);
  if (!resp) return fail(token_error(where, resp.error(), 0, cred, auth));
  if (resp->status != 200) return fail(token_error(where, {}, resp->status, cred, auth));
  auto answer = parse_token_answer(resp->body);
  if (answer.token.empty()) return fail(where + " returned no token", ErrorKind::invalid_input);
  std::lock_guard lock(mu);
  tokens[key] = Token{answer.token, t + std::chrono::seconds(answer.expires_in - 10)};
  return answer.token;
}

Error RegistryClient::Impl::token_error(const std::string& where, const Error& transport,
                                        long status, const RegistryCredential& cred,
                                        AuthProvider* auth) {
  if (status == 0)
    return Error{transport.kind, where + (transport.kind == ErrorKind::invalid_input
                                              ? ": " + transport.message
                                              : " unreachable: " + transport.message)};
  const int st = static_cast<int>(status);
  if (status == 401 || status == 403)
    return Error{ErrorKind::auth,
                 where + " rejected the " +
                     (cred.anonymous() ? std::string("anonymous request")
                                       : "credentials from " +
                                             (auth ? auth->describe() : std::string("config"))) +
                     " (HTTP " + std::to_string(status) + ")",
                 st};
  return Error{status == 429   ? ErrorKind::throttled
               : status >= 500 ? ErrorKind::unavailable
                               : ErrorKind::invalid_input,
               where + " answered HTTP " + std::to_string(status), st};
}

// The state of one fetch's authentication rounds.
struct RegistryClient::Impl::Rounds {
  bool renewed = false, bearer_retried = false, learned_bearer = false, left_bearer = false;
};

Result<RegistryClient::Impl::Fetched> RegistryClient::Impl::fetch(const ImageRef& ref,
                                                                  AuthProvider* auth,
                                                                  const std::string& method,
                                                                  const std::string& reference) {
  const std::string host = ref.api_host();
  const std::string base = registry_base_url(host, auth ? auth->insecure() : false);
  const std::string url = base + "/v2/" + ref.repository + "/manifests/" + reference;
  const std::string scope = "repository:" + ref.repository + ":pull";

  RegistryCredential cred{"", "", ref.registry};
  if (auth) {
    auto c = auth->get(false);
    if (!c) return fail(c.error());
    cred = std::move(*c);
  }
  Rounds rounds;
  for (int round = 0; round < 5; ++round) {
    net::Request req;
    req.method = method;
    req.url = url;
    req.body_limit = net::kManifestLimit;
    req.headers.emplace_back("Accept", kManifestAccept);
    std::optional<BearerInfo> bearer;
    {
      std::lock_guard lock(mu);
      auto it = bearer_hosts.find(host);
      if (it != bearer_hosts.end()) bearer = it->second;
    }
    if (bearer) {
      auto tok = bearer_token(host, *bearer, scope, cred, auth, rounds.bearer_retried);
      if (!tok) return fail(tok.error());
      req.headers.emplace_back("Authorization", "Bearer " + *tok);
    } else if (!cred.anonymous()) {
      req.headers.emplace_back("Authorization",
                               "Basic " + net::base64_encode(cred.username + ":" + cred.password));
    }
    auto resp = perform(base, req);
    if (!resp && resp.error().kind == ErrorKind::invalid_input)  // over its limit
      return fail("registry " + ref.registry + ": " + resp.error().message,
                  ErrorKind::invalid_input);
    if (!resp)
      return fail(
          "registry " + ref.registry + " unreachable at " + base + ": " + resp.error().message,
          resp.error().kind);
    if (resp->status != 401) return Fetched{std::move(*resp), cred};
    auto again =
        after_unauthorized(ref, base, resp->header("www-authenticate"), bearer, rounds, cred, auth);
    if (!again) return fail(again.error());
    if (!*again) return Fetched{std::move(*resp), cred};
  }
  return fail("registry " + ref.registry + ": too many authentication rounds for " + ref.str(),
              ErrorKind::auth, 401);
}

Result<bool> RegistryClient::Impl::after_unauthorized(const ImageRef& ref, const std::string& base,
                                                      const std::string& challenge,
                                                      const std::optional<BearerInfo>& bearer,
                                                      Rounds& rounds, RegistryCredential& cred,
                                                      AuthProvider* auth) {
  const std::string host = ref.api_host();
  auto ch = parse_www_authenticate(challenge);
  if (ch && ch->scheme == "bearer") {
    BearerInfo info{ch->params["realm"], ch->params["service"]};
    if (!bearer || bearer->realm != info.realm) {
      if (rounds.learned_bearer) return false;
      rounds.learned_bearer = true;
      // Checked before the realm is remembered: a refused realm never gets a request.
      if (auto ok = check_bearer_realm(info.realm, base); !ok)
        return fail(context(ok.error(), "registry " + ref.registry));
      std::lock_guard lock(mu);
      bearer_hosts[host] = info;
      return true;
    }
    if (rounds.bearer_retried) return false;
    rounds.bearer_retried = true;  // the cached token was refused: renew credential and token
    if (auth && !cred.anonymous()) {
      auto c = auth->get(true);
      if (!c) return fail(c.error());
      cred = std::move(*c);
    }
    return true;
  }
  // Basic (or no) challenge.
  if (bearer && !rounds.left_bearer) {  // the host switched from Bearer to Basic
    rounds.left_bearer = true;
    std::lock_guard lock(mu);
    bearer_hosts.erase(host);
    return true;
  }
  if (cred.anonymous() || !auth || rounds.renewed) return false;
  rounds.renewed = true;  // e.g. an expired ECR token: fetch a new one and retry once
  auto c = auth->get(true);
  if (!c) return fail(c.error());
  cred = std::move(*c);
  return true;
}

Result<net::Response> RegistryClient::Impl::get_manifest(const ImageRef& ref, AuthProvider* auth,
                                                         const std::string& reference) {
  auto got = fetch(ref, auth, "GET", reference);
  if (!got) return fail(got.error());
  if (got->resp.status != 200) return fail(status_error(ref, auth, *got));
  const std::string& body = got->resp.body;
  const std::string image =
      ref.familiar_name() + (is_valid_digest(reference) ? "@" : ":") + reference;
  if (is_valid_digest(reference)) {
    std::string actual = "sha256:" + sha256_hex(body);
    if (actual != reference)
      return fail("registry " + ref.registry + " served a manifest for " + image +
                      " whose sha256 is " + actual + ": the content does not match its digest",
                  ErrorKind::invalid_input);
  }
  if (json_depth(body) > kMaxJsonDepth)
    return fail("registry " + ref.registry + " served a manifest for " + image +
                    " nested deeper than " + std::to_string(kMaxJsonDepth) + " levels",
                ErrorKind::invalid_input);
  return std::move(got->resp);
}

Error RegistryClient::Impl::status_error(const ImageRef& ref, AuthProvider* auth,
                                         const Fetched& f) {
  const auto& resp = f.resp;
  int status = static_cast<int>(resp.status);
  std::string image = ref.str();
  std::string registry = ref.registry;
  std::string detail = registry_error_detail(resp.body);
  std::string suffix = detail.empty() ? "" : " (" + detail + ")";
  bool ecr = auth && auth->is_ecr();
  switch (status) {
    case 404:
      return Error{ErrorKind::not_found,
                   "manifest unknown: " + image + " not found in " + registry + suffix, status};
    case 401:
      if (f.cred.anonymous())
        return Error{ErrorKind::auth,
                     "registry " + registry + " requires authentication for " + image +
                         " (configure [registries.\"" + registry + "\"] in berth.toml)" + suffix,
                     status};
      return Error{ErrorKind::auth,
                   "registry " + registry + " rejected the credentials from " +
                       (auth ? auth->describe() : std::string("config")) + " for " + image +
                       " (HTTP 401, after renewing them once)" + suffix,
                   status};
    case 403:
      return Error{ErrorKind::auth,
                   "access to " + image + " denied by " + registry + " (HTTP 403)" + suffix +
                       (ecr ? " (the instance role needs ecr:BatchGetImage)" : ""),
                   status};
    case 429: {
      int retry = retry_after_seconds(resp.header("retry-after"));
      return Error{ErrorKind::throttled,
                   "registry " + registry + " throttled the manifest request for " + image +
                       " (HTTP 429" +
                       (retry > 0 ? ", retry after " + std::to_string(retry) + " s" : "") + ")",
                   status, retry};
    }
    default:
      break;
  }
  if (status >= 500)
    return Error{ErrorKind::unavailable,
                 "registry " + registry + " failed the manifest request for " + image + " (HTTP " +
                     std::to_string(status) + ")" + suffix,
                 status, retry_after_seconds(resp.header("retry-after"))};
  return Error{ErrorKind::invalid_input,
               "registry " + registry + " answered HTTP " + std::to_string(status) + " for " +
                   image + suffix,
               status};
}

RegistryClient::RegistryClient(RegistryClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
RegistryClient::~RegistryClient() = default;

int RegistryClient::requests() const {
  return impl_->requests.load();
}
int RegistryClient::connections() const {
  return impl_->connections.load();
}

Result<ResolvedDigest> RegistryClient::resolve_digest(const ImageRef& ref, AuthProvider* auth) {
  if (!ref.digest.empty()) return ResolvedDigest{ref.digest, "", -1, false};
  const std::string tag = ref.tag.empty() ? "latest" : ref.tag;

  auto head = impl_->fetch(ref, auth, "HEAD", tag);
  if (!head) return fail(head.error());
  const auto& hr = head->resp;
  if (hr.status == 200) {
    std::string digest = hr.header("docker-content-digest");
    if (is_valid_digest(digest)) {
      ResolvedDigest r{digest, bare_type(hr.header("content-type")), -1, false};
      try {
        if (!hr.header("content-length").empty()) r.size = std::stoll(hr.header("content-length"));
      } catch (...) {
      }
      return r;
    }
  } else if (hr.status != 405 && hr.status != 400 && hr.status != 406 && hr.status != 501) {
    return fail(impl_->status_error(ref, auth, *head));
  }
  // No usable digest from HEAD: GET the manifest and hash the exact bytes.
  auto get = impl_->fetch(ref, auth, "GET", tag);
  if (!get) return fail(get.error());
  if (get->resp.status != 200) return fail(impl_->status_error(ref, auth, *get));
  const std::string& body = get->resp.body;
  ResolvedDigest r{"sha256:" + sha256_hex(body), bare_type(get->resp.header("content-type")),
                   static_cast<std::int64_t>(body.size()), true};
  std::string claimed = get->resp.header("docker-content-digest");
  if (claimed.starts_with("sha256:") && claimed != r.digest)
    return fail("registry " + ref.registry + " served a manifest for " + ref.str() +
                    " whose sha256 does not match its Docker-Content-Digest " + claimed,
                ErrorKind::invalid_input);
  return r;
}

Result<std::int64_t> RegistryClient::image_size(const ImageRef& ref, AuthProvider* auth) {
  std::string reference = !ref.digest.empty() ? ref.digest : ref.tag.empty() ? "latest" : ref.tag;
  auto top = impl_->get_manifest(ref, auth, reference);
  if (!top) return fail(top.error());
  std::string body = std::move(top->body);
  std::string mt = bare_type(top->header("content-type"));
  auto j = parse_json_or_discarded(body);
  if (const std::string& declared = text_member(j, "mediaType"); !declared.empty()) mt = declared;
  bool index =
      is_index_type(mt) || (j.is_object() && j.contains("manifests") && !j.contains("layers"));
  if (index) {
    auto digest = select_platform_manifest(body, impl_->options.platform);
    if (!digest) return fail(context(digest.error(), ref.str()));
    auto m = impl_->get_manifest(ref, auth, *digest);
    if (!m) return fail(m.error());
    body = std::move(m->body);
  }
  // A manifest without sizes (schema 1, an artifact) says nothing about the download: unknown.
  auto size = manifest_download_size(body);
  return size ? *size : std::int64_t{-1};
}

namespace {
RegistryClient& default_client() {
  static RegistryClient client;
  return client;
}
}  // namespace

Result<ResolvedDigest> resolve_digest(const ImageRef& ref, AuthProvider* auth) {
  return default_client().resolve_digest(ref, auth);
}

Result<std::int64_t> image_size(const ImageRef& ref, AuthProvider* auth) {
  return default_client().image_size(ref, auth);
}

}  // namespace berth::registry
