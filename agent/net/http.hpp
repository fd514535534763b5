// A small HTTP client over libcurl, shared by every adapter (Docker over its unix socket,
// registries, AWS, IMDS, the dashboard). One Client keeps one connection alive; it is not
// thread-safe: use one per thread.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace berth::net {

// The largest answer berth reads from each kind of peer. Every buffered answer has a limit (a
// Request without one gets kDefaultBodyLimit): a longer body aborts the transfer as it arrives,
// with an error naming the URL and the limit, so a hostile or broken peer costs at most this much
// memory. Streams (Request::on_data) bound themselves (engine: 4 MiB per JSON object).
struct BodyLimit {
  std::size_t bytes;
  const char* what;  // "a manifest": for the message
};
inline constexpr std::size_t kKiB = 1024;
inline constexpr std::size_t kMiB = 1024 * kKiB;
inline constexpr BodyLimit kDefaultBodyLimit{1 * kMiB, "an answer"};
inline constexpr BodyLimit kManifestLimit{4 * kMiB, "a registry manifest"};
inline constexpr BodyLimit kTokenLimit{64 * kKiB, "a token service answer"};
inline constexpr BodyLimit kEcrLimit{64 * kKiB, "an ECR answer"};
inline constexpr BodyLimit kImdsLimit{64 * kKiB, "an instance metadata answer"};
inline constexpr BodyLimit kDesiredLimit{1 * kMiB, "a desired-state document"};
inline constexpr BodyLimit kDashboardAnswerLimit{64 * kKiB, "a dashboard answer"};
inline constexpr BodyLimit kDockerObjectLimit{4 * kMiB, "a Docker JSON object"};
inline constexpr BodyLimit kDockerListLimit{64 * kMiB, "a Docker list"};
// Response headers, all together, whatever the peer.
inline constexpr std::size_t kMaxHeaderBytes = 256 * kKiB;

// "4 MiB", "64 KiB", "100 bytes": for messages.
std::string size_text(std::size_t bytes);

struct Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string unix_socket;  // set = connect to this socket instead of the URL's host
  long connect_timeout_ms = 5000;
  long timeout_ms = 30000;  // whole transfer; 0 = none (streams)
  // Abort when fewer than 1 byte/s arrives for this long (0 = off): catches stalled streams.
  long low_speed_time_s = 0;
  std::string aws_sigv4;    // e.g. "aws:amz:us-east-2:ecr": sign with CURLOPT_AWS_SIGV4
  std::string aws_userpwd;  // "ACCESS_KEY:SECRET" for SigV4 (never logged)
  std::string ca_file;      // extra CA bundle for TLS verification
  // A longer body aborts the transfer: Error{invalid_input} "answer from URL larger than 4 MiB
  // (the limit for a registry manifest); transfer aborted". Ignored for streams (on_data).
  BodyLimit body_limit = kDefaultBodyLimit;
  // Streaming: called for each chunk as it arrives; return false to abort the transfer.
  // When set, Response::body stays empty.
  std::function<bool(std::string_view)> on_data;
  // Polled at least every 100 ms while the transfer runs, also when no data flows (idle
  // streams); return false to abort (Error{cancelled}). Unset = plain blocking transfer.
  std::function<bool()> keep_going;
  // A stop requested on this token ends the transfer at once (Error{cancelled}). Unlike
  // keep_going it needs no timer: an idle stream sleeps until data, curl's own timeouts or the
  // stop request wake it (curl_multi_wakeup).
  std::stop_token stop;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  long new_connections = 0;  // CURLINFO_NUM_CONNECTS: 0 when a kept-alive connection was reused
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class Client {
 public:
  Client();
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Transport failures become Error{unavailable|timeout|cancelled}, an answer over its limit
  // Error{invalid_input}; any HTTP status is a Response (the caller decides what a 404 means).
  // Messages name the URL (url::for_log: no user-info, no query), never credentials.
  Result<Response> perform(const Request& req);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-encode for a query value or path segment (RFC 3986 unreserved kept).
std::string url_encode(std::string_view s);
// Standard base64 and base64url (with padding).
std::string base64_encode(std::string_view data, bool url = false);
Result<std::string> base64_decode(std::string_view data);

// Call once at start-up (curl_global_init); safe to call more than once.
void global_init();

}  // namespace berth::net
