// URLs as berth's peers are addressed (pure): the one sanitizer every log line and error message
// uses, and the host classification behind the https-only rules (dashboard URLs, registry Bearer
// realms, plain-http registries).
#pragma once

#include <string>
#include <string_view>

namespace berth::url {

// The parts of "scheme://userinfo@host:port/path?query#fragment". `host` keeps the brackets of
// an IPv6 literal ("[::1]"); missing parts are empty. A text without "://" has no scheme and is
// all authority + rest.
struct Parts {
  std::string scheme;    // lower-cased: "https", "http"
  std::string userinfo;  // "user:password" (a secret: never log it)
  std::string host;      // lower-cased
  std::string port;
  std::string path;  // from the first '/' up to '?' or '#'
};
Parts split(std::string_view url);

// The URL for logs and messages: user-info, query and fragment removed, control characters
// replaced by '?', at most 512 bytes ("..." appended when cut). Every URL berth logs or puts in an
// error goes through this (credentials travel in user-info and query strings).
std::string for_log(std::string_view url);

// Exactly a loopback host: "localhost" (any case, nothing appended), a dotted-quad in
// 127.0.0.0/8, or the IPv6 literal ::1 (bracketed or not). A ":port" suffix is allowed.
// "localhost.evil.com", "127.0.0.1.example.com" and "127.1" are not loopback.
bool is_loopback_host(std::string_view host_and_port);

// How a request to this URL travels.
enum class Transport {
  https,          // TLS, verified
  loopback_http,  // plain http to a loopback host: stays on this machine
  plain_http,     // plain http to any other host: readable and forgeable on the way
  unsupported,    // any other scheme, or no host
};
Transport classify(std::string_view url);

}  // namespace berth::url
