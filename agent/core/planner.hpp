// The planner: desired state + observed state -> actions (pure, unit-tested without Docker).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/model.hpp"
#include "core/observed.hpp"

namespace berth {

struct TargetService {
  std::string name;
  std::string config_hash;
  std::string image_id;  // local image ID the container must run
  nlohmann::json body;   // final create body (Image, labels incl. hash)
  bool uses_project_network = true;
  std::vector<std::string> named_volumes;  // full names (<project>_<key>)
  bool oneshot = false;                    // restart "no": an exit 0 means done, not "start again"
};

struct TargetState {
  std::string project;
  std::map<std::string, TargetService> services;
  bool remove_foreign = false;  // [agent] remove_foreign
};

enum class ActionType {
  create_network,
  create_volume,
  remove_orphan,     // container of a service that is no longer configured
  remove_duplicate,  // extra container of a configured service (number > 1, stray names)
  recover,           // leftover <name>-next / <name>-prev from an interrupted update
  create,            // no container yet
  recreate,          // spec or image changed
  start,             // up to date but not running
  keep_foreign,      // has the project label, not created by berth: reported, left alone
  remove_foreign,    // the same, with [agent] remove_foreign = true
};

struct Action {
  ActionType type;
  std::string target;  // service, network or volume name
  std::string container_id;
  std::string container_name;
  std::string reason;  // "config changed", "image changed", "not running (exited 1)"
};

struct ServicePlan {
  std::optional<Action> action;            // create | recreate | start, or nothing when up to date
  const ContainerInfo* current = nullptr;  // the container named <project>-<service>-1
};

struct Plan {
  std::vector<Action> infra;    // networks, volumes (before any container)
  std::vector<Action> cleanup;  // orphans, duplicates, interrupted-update leftovers, foreign
  // Containers with the project label whose labels do not verify (core/label_trust.hpp) and
  // that stay (keep_foreign): reported, never touched. Not "work": empty() ignores them.
  std::vector<Action> foreign;
  std::map<std::string, ServicePlan> services;
  bool empty() const;
  std::vector<std::string> describe() const;  // one line per action, for `up --dry-run`
};

Plan make_plan(const TargetState& desired, const Observed& observed);

const char* to_string(ActionType t);

}  // namespace berth
