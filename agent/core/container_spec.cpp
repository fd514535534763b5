#include "core/container_spec.hpp"

#include <cstdint>
#include <optional>

#include "core/label_trust.hpp"
#include "core/naming.hpp"
#include "core/sha256.hpp"

namespace berth {

namespace {

std::int64_t ns(Millis m) {
  return static_cast<std::int64_t>(m.count()) * 1'000'000;
}

// Without `logging`, the engine's default driver (no LogConfig); journald gets the tag.
std::optional<nlohmann::json> log_config(const ServiceSpec& svc, const SpecContext& ctx) {
  bool tag = svc.logging.driver.empty() && ctx.default_log_driver == "journald";
  std::string driver = tag ? ctx.default_log_driver : svc.logging.driver;
  if (driver.empty()) return std::nullopt;
  nlohmann::json cfg = nlohmann::json::object();
  for (const auto& [k, v] : svc.logging.options) cfg[k] = v;
  if (tag) cfg["tag"] = svc.name;
  return nlohmann::json{{"Type", driver}, {"Config", cfg}};
}

}  // namespace

nlohmann::json restart_policy(const std::string& restart) {
  nlohmann::json p{{"Name", "no"}, {"MaximumRetryCount", 0}};
  if (restart.empty() || restart == "no") return p;
  if (restart.starts_with("on-failure")) {
    p["Name"] = "on-failure";
    auto colon = restart.find(':');
    if (colon != std::string::npos) p["MaximumRetryCount"] = std::stoi(restart.substr(colon + 1));
    return p;
  }
  p["Name"] = restart;  // always | unless-stopped
  return p;
}

nlohmann::json container_body(const ServiceSpec& svc, const SpecContext& ctx) {
  using nlohmann::json;
  json body = json::object();
  if (svc.command) body["Cmd"] = *svc.command;
  if (svc.entrypoint) body["Entrypoint"] = *svc.entrypoint;
  json env = json::array();
  for (const auto& [k, v] : svc.environment) env.push_back(k + "=" + v);
  body["Env"] = env;
  if (!svc.user.empty()) body["User"] = svc.user;
  if (!svc.working_dir.empty()) body["WorkingDir"] = svc.working_dir;
  if (!svc.stop_signal.empty()) body["StopSignal"] = svc.stop_signal;
  if (svc.stop_grace_period)
    body["StopTimeout"] = static_cast<std::int64_t>((svc.stop_grace_period->count() + 999) / 1000);

  json labels = json::object();
  for (const auto& [k, v] : svc.labels) labels[k] = v;
  labels[labels::kProject] = ctx.project;
  labels[labels::kService] = svc.name;
  labels[labels::kNumber] = "1";
  labels[labels::kOneoff] = "False";
  labels[labels::kManaged] = "true";
  if (!ctx.config_path.empty()) {
    labels[labels::kConfigFiles] = ctx.config_path;
    auto slash = ctx.config_path.rfind('/');
    labels[labels::kWorkingDir] =
        slash == std::string::npos ? "." : ctx.config_path.substr(0, slash);
  }
  std::string deps;
  for (const auto& d : svc.depends_on) {
    if (!deps.empty()) deps += ",";
    const char* cond = d.condition == DependsCondition::healthy ? "service_healthy"
                       : d.condition == DependsCondition::completed_successfully
                           ? "service_completed_successfully"
                           : "service_started";
    deps += d.service + ":" + cond + ":" + (d.restart ? "true" : "false");
  }
  if (!deps.empty()) labels[labels::kDependsOn] = deps;
  body["Labels"] = labels;

  if (svc.healthcheck) {
    const auto& h = *svc.healthcheck;
    json hc = json::object();
    if (h.disable) {
      hc["Test"] = json::array({"NONE"});
    } else {
      hc["Test"] = h.test;
      if (h.interval.count()) hc["Interval"] = ns(h.interval);
      if (h.timeout.count()) hc["Timeout"] = ns(h.timeout);
      if (h.start_period.count()) hc["StartPeriod"] = ns(h.start_period);
      if (h.retries) hc["Retries"] = h.retries;
    }
    body["Healthcheck"] = hc;
  }

  json host = json::object();
  json exposed = json::object();
  json bindings = json::object();
  for (const auto& p : svc.ports) {
    std::string key = std::to_string(p.container_port) + "/" + p.protocol;
    exposed[key] = json::object();
    json b{{"HostIp", p.host_ip},
           {"HostPort", p.host_port ? std::to_string(p.host_port) : std::string()}};
    bindings[key].push_back(b);
  }
  if (!exposed.empty()) body["ExposedPorts"] = exposed;
  if (!bindings.empty()) host["PortBindings"] = bindings;

  json mounts = json::array();
  for (const auto& v : svc.volumes) {
    json m{{"Target", v.target}, {"ReadOnly", v.read_only}};
    switch (v.type) {
      case VolumeMount::Type::named:
        m["Type"] = "volume";
        m["Source"] = naming::volume_name(ctx.project, v.source);
        break;
      case VolumeMount::Type::bind:
        m["Type"] = "bind";
        m["Source"] = v.source;
        break;
      case VolumeMount::Type::anonymous:
        m["Type"] = "volume";
        break;
    }
    mounts.push_back(m);
  }
  if (!mounts.empty()) host["Mounts"] = mounts;
  for (const auto& t : svc.tmpfs) {  // "/path" or "/path:size=64m,mode=1777"
    auto colon = t.find(':');
    host["Tmpfs"][t.substr(0, colon)] = colon == std::string::npos ? "" : t.substr(colon + 1);
  }

  host["RestartPolicy"] = restart_policy(svc.restart);
  if (auto lc = log_config(svc, ctx)) host["LogConfig"] = *lc;
  if (!svc.cap_add.empty()) host["CapAdd"] = svc.cap_add;
  if (!svc.cap_drop.empty()) host["CapDrop"] = svc.cap_drop;
  if (!svc.extra_hosts.empty()) host["ExtraHosts"] = svc.extra_hosts;
  if (svc.mem_limit) host["Memory"] = *svc.mem_limit;
  if (svc.cpus) host["NanoCpus"] = static_cast<std::int64_t>(*svc.cpus * 1e9);
  if (!svc.ulimits.empty()) {
    json ul = json::array();
    for (const auto& [name, u] : svc.ulimits)
      ul.push_back({{"Name", name}, {"Soft", u.soft}, {"Hard", u.hard}});
    host["Ulimits"] = ul;
  }

  if (svc.network_mode.empty()) {
    std::string net = naming::network_name(ctx.project);
    host["NetworkMode"] = net;
    body["NetworkingConfig"]["EndpointsConfig"][net]["Aliases"] =
        json::array({svc.name, naming::container_name(ctx.project, svc.name)});
  } else {
    host["NetworkMode"] = svc.network_mode;
  }
  body["HostConfig"] = host;
  return body;
}

std::string log_driver_problem(const ServiceSpec& svc, const EngineInfo& engine) {
  const std::string& want = svc.logging.driver;
  if (want.empty() || engine.log_drivers.empty()) return "";
  for (const auto& d : engine.log_drivers)
    if (d == want) return "";
  std::string have;
  for (const auto& d : engine.log_drivers) have += (have.empty() ? "" : ", ") + d;
  return "services." + svc.name + ".logging.driver: \"" + want +
         "\" is not a log driver of the container engine" +
         (engine.server_version.empty() ? "" : " (version " + engine.server_version + ")") +
         " (it has: " + have + "); nothing was changed for " + svc.name;
}

std::string config_hash(const nlohmann::json& body) {
  nlohmann::json b = body;
  b.erase("Image");
  if (b.contains("Labels")) {
    auto& l = b["Labels"];
    l.erase(labels::kConfigHash);
    l.erase(labels::kImage);
    l.erase(labels::kRequested);
    l.erase(labels::kDigest);
    l.erase(labels::kAgentVersion);
    l.erase(labels::kConfigFiles);
    l.erase(labels::kWorkingDir);
  }
  return sha256_hex(b.dump());
}

nlohmann::json finalize_body(nlohmann::json body, const std::string& hash, const ResolvedImage& img,
                             const std::string& requested) {
  body["Image"] = img.run_ref;
  auto& l = body["Labels"];
  l[labels::kConfigHash] = hash;
  l[labels::kImage] = img.image_id;
  l[labels::kRequested] = requested;
  l[labels::kDigest] = img.digest;
  l[labels::kAgentVersion] = BERTH_VERSION;
  sign_labels(l);  // last: every owned label set, then hashed
  return body;
}

}  // namespace berth
