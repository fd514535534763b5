// The typed configuration model: what berth.toml says, after validation.
// Pure data; parsed by config/config.cpp, consumed by the planner and the adapters.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth {

using Millis = std::chrono::milliseconds;

struct Position {
  int line = 0;
  int column = 0;
};

struct PortMapping {
  std::string host_ip;          // "" = all interfaces
  std::uint16_t host_port = 0;  // 0 = ephemeral (only "CONTAINER" given)
  std::uint16_t container_port = 0;
  std::string protocol = "tcp";  // tcp | udp
};

struct VolumeMount {
  enum class Type { named, bind, anonymous };
  Type type = Type::named;
  std::string source;  // volume key (named, without project prefix) or absolute host path (bind)
  std::string target;  // absolute path in the container
  bool read_only = false;
};

struct Healthcheck {
  std::vector<std::string> test;  // ["CMD", ...] | ["CMD-SHELL", "..."] | ["NONE"]
  Millis interval{0};             // 0 = Docker default
  Millis timeout{0};
  Millis start_period{0};
  int retries = 0;  // 0 = Docker default (3)
  bool disable = false;
};

// Agent-side probe for images without a shell: exactly one of http / tcp is set.
struct Probe {
  std::string http;  // "http://127.0.0.1:8080/health"
  std::string tcp;   // "127.0.0.1:5432"
  Millis interval{5000};
  Millis timeout{2000};
  Millis start_period{0};
  int retries = 3;
};

enum class DependsCondition { started, healthy, completed_successfully };

struct Dependency {
  std::string service;
  DependsCondition condition = DependsCondition::started;
  bool restart = false;  // restart the dependant when this dependency is recreated
  bool required = true;
};

struct Logging {
  std::string driver;  // "" = berth default (journald when the host has it, else daemon default)
  std::map<std::string, std::string> options;
};

struct Ulimit {
  std::int64_t soft = 0;
  std::int64_t hard = 0;
};

enum class PullPolicy { always, missing, never };
// stop_first: stop the old container, start the new one, roll back when it fails its check.
// start_first: the new one beside the old one, then stop the old one (no fixed host ports).
// preflight: a trial of the new one beside the old one (no published ports, no aliases); only
// when it is healthy is it removed and the stop_first swap done; else the old one never stops.
enum class UpdateStrategy { stop_first, start_first, preflight };

struct ServiceSpec {
  std::string name;
  Position position;  // of the [services.NAME] table, for messages
  std::string image;  // as written: "host/repo:tag" or "repo@sha256:..."
  std::optional<std::vector<std::string>> command;
  std::optional<std::vector<std::string>> entrypoint;
  std::map<std::string, std::string> environment;  // env_file merged in, environment wins
  std::vector<std::string> env_file;
  std::vector<PortMapping> ports;
  std::vector<VolumeMount> volumes;
  std::vector<Dependency> depends_on;
  std::optional<Healthcheck> healthcheck;
  std::optional<Probe> probe;
  std::string restart = "unless-stopped";   // no | always | on-failure[:N] | unless-stopped
  std::string stop_signal;                  // "" = image default; else normalised "SIGTERM"
  std::optional<Millis> stop_grace_period;  // default 10s
  std::string user;
  std::string working_dir;
  std::map<std::string, std::string> labels;
  Logging logging;
  std::string network_mode;              // "" = project network; host | none | bridge
  std::vector<std::string> extra_hosts;  // "host:ip" (ip may be "host-gateway")
  std::vector<std::string> cap_add;      // normalised: upper case, no "CAP_" prefix ("NET_ADMIN")
  std::vector<std::string> cap_drop;
  std::optional<std::int64_t> mem_limit;  // bytes
  std::optional<double> cpus;
  std::map<std::string, Ulimit> ulimits;  // soft/hard -1 = unlimited
  std::vector<std::string> tmpfs;         // "/path" or "/path:size=64m,mode=1777"
  PullPolicy pull_policy = PullPolicy::always;
  std::optional<Millis> health_timeout;  // default derived from the check
  UpdateStrategy update_strategy = UpdateStrategy::stop_first;
  // An image pinned by digest here may be re-pinned by the dashboard's desired state only when
  // this is true (a tag may always be: the dashboard chooses versions).
  bool allow_remote_pin = false;
};

struct AgentSettings {
  std::string project = "berth";
  std::string config_version;
  Millis update_interval{0};  // 0 = only at start, on SIGHUP and on Update()
  int pull_concurrency = 3;
  Millis pull_inactivity_timeout{120 * 1000};  // a pull with no progress this long is aborted
  Millis retry_max{120 * 1000};                // the longest wait before retrying a failed converge
  // Containers with the project's label that berth did not create (no verified
  // org.berth.labels-hash): reported and left alone, unless this is true.
  bool remove_foreign = false;
};

struct AwsSettings {
  std::string region;  // "" = AWS_REGION, else IMDS
};

struct DashboardSettings {
  std::string url;          // template with {instance_id}, {hostname}, {project}
  std::string token_file;   // absolute (relative ones are resolved against Config::dir)
  std::string ca_file;      // absolute, "" = system CAs
  std::string desired_url;  // same placeholders; "" = none
  Millis heartbeat{60000};
};

enum class RegistryAuth { none, basic, ecr, docker_config };

struct RegistrySettings {
  std::string host;  // "127.0.0.1:5000", "123456789012.dkr.ecr.us-east-2.amazonaws.com"
  RegistryAuth auth = RegistryAuth::none;  // default: ecr for *.dkr.ecr.*.amazonaws.com hosts
  std::string username;                    // basic
  std::string password_file;               // basic; absolute
  std::string account;                     // ecr; 12 digits, default from the host name
  std::string region;                      // ecr; default from the host name, else ""
  std::string config_file;                 // docker-config; absolute, "" = ~/.docker/config.json
  bool insecure = false;                   // plain http (tests, local registries)
  bool operator==(const RegistrySettings&) const = default;
};

// A job: a service whose command ends by itself (restart "no" or "on-failure[:N]"). Exit 0 means
// done (reported "completed", never started again by berth); a non-zero exit is a failure.
inline bool is_job(const ServiceSpec& s) {
  return s.restart == "no" || s.restart.starts_with("on-failure");
}

struct Config {
  std::string path;  // file it was loaded from
  std::string dir;   // directory relative paths were resolved against (absolute from the loader)
  AgentSettings agent;
  AwsSettings aws;
  std::optional<DashboardSettings> dashboard;
  // By host. Also holds an implicit auth = ecr entry for every ECR host an image uses
  // without a [registries] table; other hosts without a table are anonymous.
  std::map<std::string, RegistrySettings> registries;
  std::map<std::string, ServiceSpec> services;  // by name
};

// A service berth waits on to finish rather than to run: a job, or one that a dependant needs
// to complete (depends_on condition service_completed_successfully).
inline bool runs_to_completion(const Config& cfg, const std::string& service) {
  auto it = cfg.services.find(service);
  if (it == cfg.services.end()) return false;
  if (is_job(it->second)) return true;
  for (const auto& [_, s] : cfg.services)
    for (const auto& d : s.depends_on)
      if (d.service == service && d.condition == DependsCondition::completed_successfully)
        return true;
  return false;
}

}  // namespace berth
