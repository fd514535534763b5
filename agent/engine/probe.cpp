#include "engine/probe.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/url.hpp"
#include "net/http.hpp"

namespace berth::engine {

namespace {

Result<void> tcp_probe(const std::string& target, Millis timeout) {
  auto colon = target.rfind(':');
  if (colon == std::string::npos) return fail("tcp probe " + target + ": expected HOST:PORT");
  std::string host = target.substr(0, colon);
  std::string port = target.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return fail("tcp probe " + target + ": " + gai_strerror(rc));
  std::string last = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0) {
      close(fd);
      freeaddrinfo(res);
      return {};
    }
    if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, static_cast<int>(timeout.count()));
      if (rc == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) {
          close(fd);
          freeaddrinfo(res);
          return {};
        }
        last = errno_text(err);
      } else {
        last = "timed out after " + std::to_string(timeout.count()) + "ms";
      }
    } else {
      last = errno_text(errno);
    }
    close(fd);
  }
  freeaddrinfo(res);
  return fail("tcp probe " + target + ": " + last, ErrorKind::unavailable);
}

}  // namespace

Result<void> run_probe(const Probe& probe) {
  if (!probe.tcp.empty()) return tcp_probe(probe.tcp, probe.timeout);
  thread_local net::Client client;
  net::Request req;
  req.url = probe.http;
  req.connect_timeout_ms = static_cast<long>(probe.timeout.count());
  req.timeout_ms = static_cast<long>(probe.timeout.count());
  req.on_data = [](std::string_view) { return true; };  // only the status counts: not kept
  auto resp = client.perform(req);
  const std::string where = url::for_log(probe.http);
  if (!resp) return fail("GET " + where + ": " + resp.error().message, resp.error().kind);
  if (resp->status < 200 || resp->status >= 400)
    return fail("GET " + where + ": HTTP " + std::to_string(resp->status), ErrorKind::unavailable,
                static_cast<int>(resp->status));
  return {};
}

}  // namespace berth::engine
