#include "core/url.hpp"

#include <algorithm>
#include <cctype>

#include "util/strings.hpp"

namespace berth::url {

namespace {

constexpr std::size_t kMaxLogBytes = 512;

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

// Where the authority starts and ends ([begin, end)) in `url`.
struct Authority {
  std::size_t begin = 0;
  std::size_t end = 0;
};
Authority authority_of(std::string_view url) {
  auto sep = url.find("://");
  std::size_t begin = sep == std::string_view::npos ? 0 : sep + 3;
  std::size_t end = url.find_first_of("/?#", begin);
  return {begin, end == std::string_view::npos ? url.size() : end};
}

bool is_loopback_ipv4(std::string_view h) {
  int octets = 0;
  std::size_t i = 0;
  while (i <= h.size()) {
    std::size_t dot = h.find('.', i);
    std::string_view part = h.substr(i, dot == std::string_view::npos ? h.npos : dot - i);
    if (part.empty() || part.size() > 3 || !all_digits(part)) return false;
    int v = std::stoi(std::string(part));
    if (v > 255 || (octets == 0 && v != 127)) return false;
    ++octets;
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  return octets == 4;
}

}  // namespace

Parts split(std::string_view url) {
  Parts p;
  auto sep = url.find("://");
  if (sep != std::string_view::npos) p.scheme = to_lower(url.substr(0, sep));
  Authority a = authority_of(url);
  std::string_view auth = url.substr(a.begin, a.end - a.begin);
  std::string_view rest = url.substr(a.end);
  p.path = std::string(rest.substr(0, rest.find_first_of("?#")));
  if (auto at = auth.rfind('@'); at != std::string_view::npos) {
    p.userinfo = std::string(auth.substr(0, at));
    auth.remove_prefix(at + 1);
  }
  if (!auth.empty() && auth.front() == '[') {
    auto close = auth.find(']');
    std::size_t host_end = close == std::string_view::npos ? auth.size() : close + 1;
    p.host = to_lower(auth.substr(0, host_end));
    if (host_end < auth.size() && auth[host_end] == ':') p.port = auth.substr(host_end + 1);
  } else if (std::count(auth.begin(), auth.end(), ':') == 1) {
    auto colon = auth.find(':');
    p.host = to_lower(auth.substr(0, colon));
    p.port = auth.substr(colon + 1);
  } else {
    p.host = to_lower(auth);
  }
  return p;
}

std::string for_log(std::string_view url) {
  Authority a = authority_of(url);
  std::string out(url.substr(0, a.begin));
  std::string_view auth = url.substr(a.begin, a.end - a.begin);
  if (auto at = auth.rfind('@'); at != std::string_view::npos) auth.remove_prefix(at + 1);
  out += auth;
  std::string_view rest = url.substr(a.end);
  out += rest.substr(0, rest.find_first_of("?#"));
  bool cut = out.size() > kMaxLogBytes;
  if (cut) out.resize(kMaxLogBytes);
  for (auto& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return cut ? out + "..." : out;
}

bool is_loopback_host(std::string_view hp) {
  std::string_view host = hp, port;
  if (!hp.empty() && hp.front() == '[') {
    auto close = hp.find(']');
    if (close == std::string_view::npos) return false;
    host = hp.substr(1, close - 1);
    std::string_view after = hp.substr(close + 1);
    if (!after.empty() && after.front() != ':') return false;
    if (!after.empty()) port = after.substr(1);
    if (!all_digits(port)) return false;
    return host == "::1";
  }
  if (std::count(hp.begin(), hp.end(), ':') > 1) return hp == "::1";
  if (auto colon = hp.find(':'); colon != std::string_view::npos) {
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
    if (port.empty() || !all_digits(port)) return false;
  }
  return to_lower(host) == "localhost" || is_loopback_ipv4(host);
}

Transport classify(std::string_view u) {
  Parts p = split(u);
  if (p.host.empty() || u.find("://") == std::string_view::npos) return Transport::unsupported;
  if (p.scheme == "https") return Transport::https;
  if (p.scheme != "http") return Transport::unsupported;
  std::string hp = p.host + (p.port.empty() ? "" : ":" + p.port);
  return is_loopback_host(hp) ? Transport::loopback_http : Transport::plain_http;
}

}  // namespace berth::url
