#include "core/preflight.hpp"

#include <cstdint>
#include <optional>

namespace berth {

nlohmann::json preflight_body(const nlohmann::json& body) {
  nlohmann::json b = body;
  if (b.contains("HostConfig") && b["HostConfig"].is_object()) {
    b["HostConfig"].erase("PortBindings");
    b["HostConfig"]["PublishAllPorts"] = false;
  }
  if (b.contains("NetworkingConfig") && b["NetworkingConfig"].contains("EndpointsConfig")) {
    for (auto& [_, ep] : b["NetworkingConfig"]["EndpointsConfig"].items())
      if (ep.is_object()) ep.erase("Aliases");
  }
  return b;
}

namespace {

struct HostPort {
  std::string host;
  std::optional<std::uint16_t> port;
  std::string rest;  // what follows host[:port] ("/health")
};

// "host:port/rest", "[v6]:port/rest", "host/rest"; nullopt when the port is not a number.
std::optional<HostPort> split_authority(const std::string& s) {
  HostPort hp;
  auto slash = s.find('/');
  std::string auth = s.substr(0, slash);
  hp.rest = slash == std::string::npos ? "" : s.substr(slash);
  std::string port;
  if (auth.starts_with("[")) {
    auto close = auth.find(']');
    if (close == std::string::npos) return std::nullopt;
    hp.host = auth.substr(0, close + 1);
    if (close + 1 < auth.size() && auth[close + 1] == ':') port = auth.substr(close + 2);
  } else {
    auto colon = auth.rfind(':');
    hp.host = auth.substr(0, colon);
    if (colon != std::string::npos) port = auth.substr(colon + 1);
  }
  if (!port.empty()) {
    unsigned long v = 0;
    for (char ch : port) {
      if (ch < '0' || ch > '9' || v > 65535) return std::nullopt;
      v = v * 10 + static_cast<unsigned long>(ch - '0');
    }
    if (v > 65535) return std::nullopt;
    hp.port = static_cast<std::uint16_t>(v);
  }
  return hp;
}

std::uint16_t container_port_for(std::uint16_t port, const std::vector<PortMapping>& ports) {
  for (const auto& p : ports)
    if (p.protocol == "tcp" && p.host_port == port && p.container_port) return p.container_port;
  return port;
}

std::string bracketed(const std::string& address) {
  return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

}  // namespace

Probe probe_for_container(const Probe& probe, const std::vector<PortMapping>& ports,
                          const std::string& address) {
  Probe p = probe;
  if (!p.http.empty()) {
    auto scheme_end = p.http.find("://");
    if (scheme_end == std::string::npos) return p;
    std::string scheme = p.http.substr(0, scheme_end);
    auto hp = split_authority(p.http.substr(scheme_end + 3));
    if (!hp) return p;
    std::uint16_t port = hp->port.value_or(scheme == "https" ? 443 : 80);
    p.http = scheme + "://" + bracketed(address) + ":" +
             std::to_string(container_port_for(port, ports)) + hp->rest;
  } else if (!p.tcp.empty()) {
    auto hp = split_authority(p.tcp);
    if (!hp || !hp->port) return p;
    p.tcp = bracketed(address) + ":" + std::to_string(container_port_for(*hp->port, ports));
  }
  return p;
}

}  // namespace berth
