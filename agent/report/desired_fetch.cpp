#include "report/desired_fetch.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/url.hpp"
#include "net/http.hpp"
#include "report/reporter.hpp"
#include "util/atomic_file.hpp"

namespace berth::report {

namespace {

std::string short_message(const std::string& body, const std::string& token) {
  std::string s = clean_text(body, 300);
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (token.size() >= 4) {
    std::size_t pos = 0;
    while ((pos = s.find(token, pos)) != std::string::npos)
      s.replace(pos, token.size(), "[redacted]");
  }
  return s.empty() ? std::string("(empty body)") : s;
}

}  // namespace

DesiredFetcher::DesiredFetcher(DashboardSettings settings, std::string project,
                               std::string state_dir, TokenProvider token,
                               DesiredFetchOptions options)
    : settings_(std::move(settings)),
      project_(std::move(project)),
      cache_path_(std::move(state_dir) + "/desired.json"),
      token_(std::move(token)),
      options_(options) {
  if (!token_) token_ = [] { return Result<std::string>(std::string()); };
}

Result<std::optional<DesiredState>> DesiredFetcher::load_cached(
    const std::set<std::string>& known_services) {
  auto data = read_file(cache_path_, options_.max_bytes * 2);
  if (!data) return fail(context(data.error(), "desired state cache"));
  if (!*data) return std::optional<DesiredState>();
  auto j = nlohmann::json::parse(**data, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("body") || !j["body"].is_string())
    return fail("desired state cache " + cache_path_ + ": corrupt", ErrorKind::invalid_input);
  std::string body = j["body"].get<std::string>();
  auto state = parse_desired(body, known_services);
  if (!state) return fail(context(state.error(), "desired state cache " + cache_path_));
  cached_body_ = body;
  if (j.contains("etag") && j["etag"].is_string()) cached_etag_ = j["etag"].get<std::string>();
  return std::optional<DesiredState>(std::move(*state));
}

Result<void> DesiredFetcher::write_cache(const std::string& etag, const std::string& body) {
  nlohmann::json j = {{"etag", etag}, {"body", body}};
  return write_file_atomic(cache_path_,
                           j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace), 0600);
}

Result<DesiredFetch> DesiredFetcher::fetch(const HostInfo& host,
                                           const std::set<std::string>& known_services) {
  if (settings_.desired_url.empty())
    return fail("desired state: [dashboard].desired_url is not set", ErrorKind::config);
  if (!cached_body_) {
    auto cached = load_cached(known_services);  // learn the ETag (a bad cache is not fatal)
    if (!cached) spdlog::warn("{}", cached.error().message);
  }
  std::string url = expand_url(settings_.desired_url, host, project_);
  std::string where = url::for_log(url);
  auto token = token_();
  if (!token) return fail(context(token.error(), "desired state " + where));

  net::Request req;
  req.url = url;
  req.ca_file = settings_.ca_file;
  req.connect_timeout_ms = options_.connect_timeout_ms;
  req.timeout_ms = options_.timeout_ms;
  req.body_limit = {options_.max_bytes, net::kDesiredLimit.what};
  req.headers = {{"Accept", "application/json"},
                 {"User-Agent", std::string("berth/") + BERTH_VERSION}};
  if (!token->empty()) req.headers.emplace_back("Authorization", "Bearer " + *token);
  if (cached_etag_ && cached_body_ && !cached_etag_->empty())
    req.headers.emplace_back("If-None-Match", *cached_etag_);
  net::Client client;
  auto resp = client.perform(req);
  for (auto& h : req.headers) std::fill(h.second.begin(), h.second.end(), '\0');
  if (!resp) return fail(context(resp.error(), "desired state"));

  if (resp->status == 304) {
    if (!cached_body_)
      return fail("desired state " + where + ": 304 Not Modified but nothing is cached",
                  ErrorKind::invalid_input, 304);
    auto state = parse_desired(*cached_body_, known_services);
    if (!state) return fail(context(state.error(), "desired state cache " + cache_path_));
    return DesiredFetch{std::move(*state), false, cached_etag_.value_or("")};
  }
  if (resp->status == 204) {
    std::string body =
        nlohmann::json{{"schema", kDesiredSchema}, {"services", nlohmann::json::object()}}.dump();
    std::string etag = resp->header("etag");
    bool changed = !cached_body_ || parse_desired(*cached_body_, known_services) != DesiredState{};
    if (auto w = write_cache(etag, body); !w) spdlog::warn("desired state: {}", w.error().message);
    cached_body_ = body;
    cached_etag_ = etag;
    return DesiredFetch{DesiredState{}, changed, etag};
  }
  if (resp->status != 200) {
    ErrorKind kind = resp->status == 401 || resp->status == 403 ? ErrorKind::auth
                     : resp->status == 404                      ? ErrorKind::not_found
                     : resp->status >= 500                      ? ErrorKind::unavailable
                                                                : ErrorKind::invalid_input;
    return fail("desired state " + where + ": HTTP " + std::to_string(resp->status) + ": " +
                    short_message(resp->body, *token),
                kind, static_cast<int>(resp->status));
  }
  auto state = parse_desired(resp->body, known_services);
  if (!state) return fail(context(state.error(), where));
  std::string etag = resp->header("etag");
  bool changed = true;
  if (cached_body_) {
    auto old = parse_desired(*cached_body_, known_services);
    changed = !old || *old != *state;
  }
  if (auto w = write_cache(etag, resp->body); !w)
    spdlog::warn("desired state: {}", w.error().message);
  cached_body_ = resp->body;
  cached_etag_ = etag;
  return DesiredFetch{std::move(*state), changed, etag};
}

}  // namespace berth::report
