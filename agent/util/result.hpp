// Errors are values inside berth: every fallible function returns Result<T>.
#pragma once

#include <cstring>
#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace berth {

enum class ErrorKind {
  generic,
  config,        // invalid configuration (exit 78)
  not_found,     // 404 from Docker/registry
  conflict,      // 409 from Docker
  auth,          // 401/403, bad credentials
  unavailable,   // connection refused, daemon down, 5xx
  timeout,       // no answer in time
  throttled,     // 429
  cancelled,     // shutdown requested
  invalid_input  // malformed response or request
};

struct Error {
  ErrorKind kind = ErrorKind::generic;
  std::string message;    // names the thing and the cause; never contains a secret
  int http_status = 0;    // when the error came from an HTTP peer
  int retry_after_s = 0;  // a peer's Retry-After (seconds) on 429/503; 0 = none given
  bool retryable() const {
    return kind == ErrorKind::unavailable || kind == ErrorKind::timeout ||
           kind == ErrorKind::throttled || http_status >= 500;
  }
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(std::string message, ErrorKind kind = ErrorKind::generic,
                                  int http_status = 0) {
  return tl::unexpected<Error>(Error{kind, std::move(message), http_status});
}
inline tl::unexpected<Error> fail(Error e) {
  return tl::unexpected<Error>(std::move(e));
}

// strerror() is not thread-safe; berth calls this from several threads.
inline std::string errno_text(int err) {
  char buf[256];
  return strerror_r(err, buf, sizeof buf);  // the GNU variant returns the message
}

// Prefix an error with context: "pull msd-logs: <cause>".
inline Error context(Error e, const std::string& what) {
  e.message = what + ": " + e.message;
  return e;
}

}  // namespace berth
