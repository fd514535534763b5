// The compose-style lifecycle: executes the planner's actions on a real engine, in dependency
// order, waiting on health, with a health-gated swap for every recreate.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/container_spec.hpp"
#include "core/model.hpp"
#include "core/observed.hpp"
#include "core/planner.hpp"
#include "core/status.hpp"
#include "engine/engine.hpp"
#include "engine/images.hpp"

namespace berth::engine {

struct ServiceReport {
  std::string name;
  bool ok = false;
  bool changed = false;       // a container was created, recreated or started
  bool rolled_back = false;   // the new container failed its check; the old one runs again
  bool image_failed = false;  // the image could not be resolved/pulled (old container kept)
  // The desired image (`image`) is quarantined: it was not deployed, the container of the
  // previous image keeps running (`ok` says whether that one is ready).
  bool quarantined = false;
  bool completed = false;  // a job that exited 0
  std::string error;
  FailedStep step = FailedStep::none;  // where `error` comes from
  std::optional<int> exit_code;        // of a container that exited or was restarted
  std::string log_tail;                // its last log lines, when it failed
  std::string container_id;
  std::string state;   // running | exited | ...
  std::string health;  // healthy | unhealthy | starting | "" (no check)
  std::string health_output;
  ImageStatus image;
  std::string previous_digest;  // digest of the container it replaced, when recreated
  std::string previous_image_id;
};

struct ConvergeReport {
  bool ok = false;
  std::vector<std::string> errors;
  std::map<std::string, ServiceReport> services;
  int container_operations = 0;  // create/start/stop/remove/rename calls made
  // Stack-wide notices for the status and the report (a container with the project label that
  // berth did not create).
  std::vector<std::string> notes;
};

// Callbacks the daemon uses for state records, reports and crash-injection hooks.
struct LifecycleHooks {
  // A line for people: "container msd-web-1 created", printed by `up`, logged by `run`.
  std::function<void(const std::string& service, const std::string& line)> on_line;
  std::function<void(const std::string& service, int percent)> on_pull_progress;
  // Called when a service's update starts (before the first destructive step).
  std::function<void(const std::string& service)> on_update_start;
  // A digest must not be deployed (quarantined after a failed health check).
  std::function<bool(const std::string& service, const std::string& image_id)> is_quarantined;
  // Before each numbered destructive step of an update; crash-injection tests kill here.
  std::function<void(const std::string& service, int step, const char* what)> on_step;
};

struct LifecycleOptions {
  SpecContext spec;
  int pull_concurrency = 3;         // pulls at once
  int image_check_concurrency = 8;  // digest lookups and inspects at once (no pull)
  Millis poll_interval{250};
  // What the engine said about itself (GET /info): its log drivers are checked against the
  // configuration before anything is touched. Empty = not known (no check).
  EngineInfo engine;
  const std::atomic<bool>* stop = nullptr;  // abort waits when set
  // `down` also removes containers with the project label that berth did not create
  // ([agent] remove_foreign; `up` takes it from the configuration).
  bool remove_foreign = false;
};

class Lifecycle {
 public:
  Lifecycle(Engine& engine, ImageSource& images, LifecycleOptions opts, LifecycleHooks hooks = {});

  // Converge the project to `cfg`. Only the services in `only` when it is non-empty.
  ConvergeReport up(const Config& cfg, const std::vector<std::string>& only = {});

  // Stop (reverse dependency order) and remove the project's containers and network; named
  // volumes only when `volumes`. The dependency order comes from the containers' labels, so
  // this works without the configuration that created them; only labels that verify
  // (core/label_trust.hpp) are read, and a cycle in them cannot hang it. Containers berth did not
  // create are left alone (and with them the network and volumes) unless remove_foreign.
  Result<int> down(const std::string& project, bool volumes);

  // Stop and start one service's container again (D-Bus RestartService).
  Result<void> restart_service(const std::string& project, const std::string& service);

  Result<Observed> observe(const std::string& project);

  // The desired state of every service (used by `up` and by tests).
  Result<TargetState> desired(const Config& cfg, const std::map<std::string, ImageStatus>& images);

 private:
  Engine& engine_;
  ImageSource& images_;
  LifecycleOptions opts_;
  LifecycleHooks hooks_;

  void line(const std::string& service, const std::string& text);
  void check_engine_support(const Config& cfg, const std::vector<std::string>& names,
                            ConvergeReport& rep);
  Result<void> stop_and_remove(const ContainerInfo& c, const std::string& service);
  Result<void> remove_project_objects(const Observed& observed, bool volumes);
  bool stopping() const { return opts_.stop && opts_.stop->load(); }
};

// How long to wait for a new container to become healthy, from its check's timings.
Millis health_timeout(const ServiceSpec& svc);

}  // namespace berth::engine
