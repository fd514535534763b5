// What berth observes on the engine: plain data filled by engine/ and read by the planner.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace berth {

struct ContainerInfo {
  std::string id;
  std::string name;  // without the leading "/"
  std::map<std::string, std::string> labels;
  std::string image;          // Config.Image (what it was created from)
  std::string image_id;       // "sha256:..." of the image it runs
  std::string state;          // created | running | paused | restarting | removing | exited | dead
  std::string health;         // "" (no check) | starting | healthy | unhealthy
  std::string health_output;  // last failing probe output, truncated
  int exit_code = 0;
  bool oom_killed = false;
  std::string started_at;
  std::string finished_at;
  int restart_count = 0;
  std::vector<std::string> networks;             // network names
  std::map<std::string, std::string> addresses;  // network name -> IP address (inspect only)
};

struct NetworkInfo {
  std::string id;
  std::string name;
  std::map<std::string, std::string> labels;
};

struct VolumeInfo {
  std::string name;
  std::map<std::string, std::string> labels;
};

struct ImageInfo {
  std::string id;  // "sha256:..."
  std::vector<std::string> repo_tags;
  std::vector<std::string> repo_digests;  // "repo@sha256:..."
  std::int64_t size = 0;
  std::map<std::string, std::string> labels;
  bool has_healthcheck = false;
};

struct EngineEvent {
  std::string type;    // container | network | image | volume
  std::string action;  // die | start | health_status: healthy | oom | destroy ...
  std::string id;
  std::map<std::string, std::string> attributes;  // labels, name, image, exitCode
  std::int64_t time_nano = 0;
};

// What the engine says about itself (GET /info, GET /version): where every default that
// depends on the engine comes from, never from the host berth runs on.
struct EngineInfo {
  std::string server_version;                 // "20.10.24+dfsg1"
  std::string operating_system;               // of the engine's host
  std::string default_log_driver;             // LoggingDriver: "json-file", "journald", ...
  std::vector<std::string> log_drivers;       // Plugins.Log; empty = not said (no check)
  std::string cgroup_driver;                  // "systemd" | "cgroupfs"
  std::vector<std::string> security_options;  // "name=seccomp,profile=default", ...
  std::string default_runtime;                // "runc"
  std::vector<std::string> runtimes;          // names
};

struct Observed {
  std::vector<ContainerInfo> containers;  // of this project (label filter)
  std::vector<NetworkInfo> networks;
  std::vector<VolumeInfo> volumes;
};

}  // namespace berth
