// The canonical JSON of a service's container-affecting settings (the config hash input).
#include <algorithm>
#include <cmath>

#include "config/config.hpp"

namespace berth::config {

nlohmann::json effective_spec_json(const ServiceSpec& s) {
  using nlohmann::json;
  json j = json::object();
  auto put_str = [&](const char* k, const std::string& v) {
    if (!v.empty()) j[k] = v;
  };
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  put_str("image", s.image);
  if (s.command) j["command"] = *s.command;
  if (s.entrypoint) j["entrypoint"] = *s.entrypoint;
  if (!s.environment.empty()) j["environment"] = s.environment;
  if (!s.ports.empty()) {
    std::vector<json> ports;
    for (const auto& p : s.ports)
      ports.push_back(json{{"host_ip", p.host_ip},
                           {"host_port", p.host_port},
                           {"container_port", p.container_port},
                           {"protocol", p.protocol}});
    std::sort(ports.begin(), ports.end(),
              [](const json& a, const json& b) { return a.dump() < b.dump(); });
    j["ports"] = ports;
  }
  if (!s.volumes.empty()) {
    std::vector<json> vols;
    for (const auto& v : s.volumes) {
      const char* type = v.type == VolumeMount::Type::named  ? "volume"
                         : v.type == VolumeMount::Type::bind ? "bind"
                                                             : "anonymous";
      vols.push_back(json{
          {"type", type}, {"source", v.source}, {"target", v.target}, {"read_only", v.read_only}});
    }
    std::sort(vols.begin(), vols.end(),
              [](const json& a, const json& b) { return a.dump() < b.dump(); });
    j["volumes"] = vols;
  }
  if (s.healthcheck) {
    const auto& h = *s.healthcheck;
    json hj = json::object();
    if (!h.test.empty()) hj["test"] = h.test;
    if (h.interval.count()) hj["interval_ms"] = h.interval.count();
    if (h.timeout.count()) hj["timeout_ms"] = h.timeout.count();
    if (h.start_period.count()) hj["start_period_ms"] = h.start_period.count();
    if (h.retries) hj["retries"] = h.retries;
    if (h.disable) hj["disable"] = true;
    j["healthcheck"] = hj;
  }
  put_str("restart", s.restart);
  put_str("stop_signal", s.stop_signal);
  if (s.stop_grace_period) j["stop_grace_period_ms"] = s.stop_grace_period->count();
  put_str("user", s.user);
  put_str("working_dir", s.working_dir);
  if (!s.labels.empty()) j["labels"] = s.labels;
  if (!s.logging.driver.empty() || !s.logging.options.empty()) {
    json lj = json::object();
    if (!s.logging.driver.empty()) lj["driver"] = s.logging.driver;
    if (!s.logging.options.empty()) lj["options"] = s.logging.options;
    j["logging"] = lj;
  }
  put_str("network_mode", s.network_mode);
  if (!s.extra_hosts.empty()) j["extra_hosts"] = sorted(s.extra_hosts);
  if (!s.cap_add.empty()) j["cap_add"] = sorted(s.cap_add);
  if (!s.cap_drop.empty()) j["cap_drop"] = sorted(s.cap_drop);
  if (s.mem_limit) j["mem_limit"] = *s.mem_limit;
  if (s.cpus) j["nano_cpus"] = std::llround(*s.cpus * 1e9);
  if (!s.ulimits.empty()) {
    json uj = json::object();
    for (const auto& [name, u] : s.ulimits) uj[name] = json{{"soft", u.soft}, {"hard", u.hard}};
    j["ulimits"] = uj;
  }
  if (!s.tmpfs.empty()) j["tmpfs"] = sorted(s.tmpfs);
  return j;
}

}  // namespace berth::config
