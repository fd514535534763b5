// Checks across services: unknown and cyclic dependencies, preflight, host ports (config_walk.hpp).
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>

#include "config/config_walk.hpp"
#include "core/duration.hpp"
#include "core/graph.hpp"
#include "core/image_ref.hpp"
#include "core/url.hpp"
#include "util/strings.hpp"

namespace berth::config::detail {

// ---------------------------------------------------------------- cross-service checks

void check_dependencies(Ctx& c, const std::map<std::string, ServiceSpec>& services,
                        const std::map<std::string, ServiceExtra>& extra) {
  std::string defined;
  size_t k = 0;
  for (const auto& [name, s] : services) {
    (void)s;
    if (k == 10) {
      defined += ", ...";
      break;
    }
    defined += (k++ ? ", " : "") + quote(name);
  }
  for (const auto& [name, x] : extra)
    for (const auto& d : x.deps)
      if (!services.count(d.name))
        c.err(d.pos, d.path,
              "unknown service " + quote(d.name) +
                  " (expected one of the services defined here: " + defined + ")");

  std::map<std::string, std::vector<std::string>> edges;
  for (const auto& [name, s] : services)
    for (const auto& d : s.depends_on) edges[name].push_back(d.service);
  for (const auto& [name, s] : services) edges[name];
  for (const auto& cyc : find_cycles(edges)) {
    std::string text;
    if (cyc.size() > 10) {  // keep the message readable
      for (size_t i = 0; i < 8; ++i) text += cyc[i] + " -> ";
      text += "... -> " + cyc.back() + " -> " + cyc.front() + " (" + std::to_string(cyc.size()) +
              " services)";
    } else {
      for (const auto& n : cyc) text += n + " -> ";
      text += cyc.front();
    }
    const auto& x = extra.at(cyc.front());
    c.err(x.depends_pos, x.depends_path, "dependency cycle " + text);
  }
}

// preflight runs the new container beside the old one and swaps only when it is healthy: a
// service that has nothing to check cannot use it. The image's own HEALTHCHECK is not known
// when the configuration is read, so the check must be in the configuration.
void check_preflight(Ctx& c, const std::map<std::string, ServiceSpec>& services,
                     const std::map<std::string, ServiceExtra>& extra) {
  for (const auto& [name, s] : services) {
    const auto& x = extra.at(name);
    if (s.update_strategy != UpdateStrategy::preflight || !x.strategy_pos) continue;
    bool has_check = s.probe || (s.healthcheck && !s.healthcheck->disable);
    if (!has_check)
      c.err(*x.strategy_pos, join(join("services", name), "update_strategy"),
            "\"preflight\" needs a health check to judge the new container, and this service "
            "has none (expected a healthcheck or a probe in [services." +
                name + "], or \"stop-first\")");
    else if (is_job(s))
      c.err(*x.strategy_pos, join(join("services", name), "update_strategy"),
            "\"preflight\" is for services that keep running; this one is a job (restart \"" +
                s.restart + "\") (expected \"stop-first\")");
    else if (s.network_mode == "host")
      c.err(*x.strategy_pos, join(join("services", name), "update_strategy"),
            "\"preflight\" runs the new container beside the old one, and with network_mode = "
            "\"host\" both would need the same ports (expected \"stop-first\", or a network of "
            "its own)");
  }
}

void check_ports(Ctx& c, const std::map<std::string, ServiceSpec>& services,
                 const std::map<std::string, ServiceExtra>& extra) {
  struct Published {
    const PortMapping* m;
    const PortRef* ref;
  };
  std::vector<Published> all;
  for (const auto& [name, s] : services) {
    const auto& x = extra.at(name);
    if (!s.ports.empty() && (s.network_mode == "host" || s.network_mode == "none")) {
      c.err(x.ports_pos, join(join("services", name), "ports"),
            "cannot publish ports with network_mode = \"" + s.network_mode +
                "\" (expected no ports, or leave network_mode out)");
      continue;
    }
    for (size_t i = 0; i < s.ports.size() && i < x.ports.size(); ++i) {
      if (s.ports[i].host_port != 0) all.push_back(Published{&s.ports[i], &x.ports[i]});
    }
    if (s.update_strategy == UpdateStrategy::start_first && x.strategy_pos) {
      for (size_t i = 0; i < s.ports.size() && i < x.ports.size(); ++i)
        if (s.ports[i].host_port != 0) {
          c.err(*x.strategy_pos, join(join("services", name), "update_strategy"),
                "\"start-first\" cannot be used with the fixed host port " +
                    std::to_string(s.ports[i].host_port) + " (" + x.ports[i].path +
                    "): the old and the new container would both need it (expected "
                    "\"stop-first\", or a container port only, e.g. \"80\")");
          break;
        }
    }
  }
  // In file order, so the second mention of a host port is the one reported.
  std::stable_sort(all.begin(), all.end(), [](const Published& a, const Published& b) {
    return std::tie(a.ref->pos.line, a.ref->pos.column) <
           std::tie(b.ref->pos.line, b.ref->pos.column);
  });
  // (protocol, host port) -> (host ip, where)
  std::map<std::pair<std::string, int>, std::vector<std::pair<std::string, std::string>>> used;
  auto wildcard = [](const std::string& ip) { return ip.empty() || ip == "0.0.0.0" || ip == "::"; };
  for (const auto& p : all) {
    const PortMapping& m = *p.m;
    auto& list = used[{m.protocol, m.host_port}];
    bool clash = false;
    for (const auto& [ip, where] : list)
      if (ip == m.host_ip || wildcard(ip) || wildcard(m.host_ip)) {
        c.err(p.ref->pos, p.ref->path,
              "host port " + std::to_string(m.host_port) + "/" + m.protocol +
                  " is already published by " + where + " (expected each host port once)");
        clash = true;
        break;
      }
    if (!clash) list.emplace_back(m.host_ip, p.ref->path);
  }
}

}  // namespace berth::config::detail
