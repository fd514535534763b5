#include "core/planner.hpp"

#include <algorithm>

#include "core/label_trust.hpp"
#include "core/naming.hpp"

namespace berth {

const char* to_string(ActionType t) {
  switch (t) {
    case ActionType::create_network:
      return "create network";
    case ActionType::create_volume:
      return "create volume";
    case ActionType::remove_orphan:
      return "remove orphan";
    case ActionType::remove_duplicate:
      return "remove duplicate";
    case ActionType::recover:
      return "recover";
    case ActionType::create:
      return "create";
    case ActionType::recreate:
      return "recreate";
    case ActionType::start:
      return "start";
    case ActionType::keep_foreign:
      return "keep foreign container";
    case ActionType::remove_foreign:
      return "remove foreign container";
  }
  return "?";
}

bool Plan::empty() const {
  if (!infra.empty() || !cleanup.empty()) return false;
  return std::none_of(services.begin(), services.end(),
                      [](const auto& kv) { return kv.second.action.has_value(); });
}

std::vector<std::string> Plan::describe() const {
  std::vector<std::string> out;
  auto line = [&](const Action& a) {
    std::string s = std::string(to_string(a.type)) + " " + a.target;
    if (!a.container_name.empty() && a.container_name != a.target)
      s += " (" + a.container_name + ")";
    if (!a.reason.empty()) s += ": " + a.reason;
    out.push_back(s);
  };
  for (const auto& a : infra) line(a);
  for (const auto& a : cleanup) line(a);
  for (const auto& a : foreign) line(a);
  for (const auto& [_, sp] : services)
    if (sp.action) line(*sp.action);
  return out;
}

namespace {

std::string label(const ContainerInfo& c, const char* key) {
  auto it = c.labels.find(key);
  return it == c.labels.end() ? std::string() : it->second;
}

}  // namespace

Plan make_plan(const TargetState& desired, const Observed& observed) {
  Plan plan;
  const std::string& project = desired.project;

  // Infrastructure.
  bool need_network = std::any_of(desired.services.begin(), desired.services.end(),
                                  [](const auto& kv) { return kv.second.uses_project_network; });
  if (need_network) {
    std::string net = naming::network_name(project);
    bool have = std::any_of(observed.networks.begin(), observed.networks.end(),
                            [&](const NetworkInfo& n) { return n.name == net; });
    if (!have) plan.infra.push_back({ActionType::create_network, net, "", "", ""});
  }
  std::set<std::string> volumes;
  for (const auto& [_, s] : desired.services)
    for (const auto& v : s.named_volumes) volumes.insert(v);
  for (const auto& v : volumes) {
    bool have = std::any_of(observed.volumes.begin(), observed.volumes.end(),
                            [&](const VolumeInfo& i) { return i.name == v; });
    if (!have) plan.infra.push_back({ActionType::create_volume, v, "", "", ""});
  }

  // Containers: sort each into its service, or into cleanup.
  for (const auto& c : observed.containers) {
    if (label(c, labels::kOneoff) == "True") continue;  // one-off runs are not ours to manage
    if (ownership(c.labels) == Ownership::foreign) {
      // None of its labels is believed: it is named by its container name only.
      if (desired.remove_foreign)
        plan.cleanup.push_back({ActionType::remove_foreign, c.name, c.id, c.name,
                                "not created by berth ([agent] remove_foreign = true)"});
      else
        plan.foreign.push_back(
            {ActionType::keep_foreign, c.name, c.id, c.name,
             "has the project label but was not created by berth (its labels do not verify); "
             "left alone (set [agent] remove_foreign = true to remove such containers)"});
      continue;
    }
    std::string svc = label(c, labels::kService);
    auto it = desired.services.find(svc);
    if (it == desired.services.end()) {
      plan.cleanup.push_back({ActionType::remove_orphan, svc, c.id, c.name,
                              "service \"" + svc + "\" is no longer configured"});
      continue;
    }
    if (c.name == naming::container_name(project, svc)) {
      plan.services[svc].current = &c;
    } else if (c.name == naming::next_name(project, svc) ||
               c.name == naming::prev_name(project, svc)) {
      plan.cleanup.push_back(
          {ActionType::recover, svc, c.id, c.name, "left over from an interrupted update"});
    } else {
      plan.cleanup.push_back({ActionType::remove_duplicate, svc, c.id, c.name,
                              "not the container berth runs for " + svc});
    }
  }

  for (const auto& [name, want] : desired.services) {
    ServicePlan& sp = plan.services[name];
    const ContainerInfo* c = sp.current;
    std::string cname = naming::container_name(project, name);
    if (!c) {
      sp.action = Action{ActionType::create, name, "", cname, ""};
      continue;
    }
    std::string reason;
    if (label(*c, labels::kConfigHash) != want.config_hash) {
      reason = "configuration changed";
    } else if (!want.image_id.empty() && label(*c, labels::kImage) != want.image_id) {
      reason = "image changed";
    } else if (want.uses_project_network && c->state == "running" &&
               std::find(c->networks.begin(), c->networks.end(), naming::network_name(project)) ==
                   c->networks.end()) {
      reason = "not attached to " + naming::network_name(project);
    }
    if (!reason.empty()) {
      sp.action = Action{ActionType::recreate, name, c->id, cname, reason};
      continue;
    }
    if (c->state == "running" || c->state == "restarting") continue;
    if (want.oneshot && c->state == "exited" && c->exit_code == 0) continue;  // done
    if (c->state == "removing") {
      sp.action =
          Action{ActionType::create, name, c->id, cname, "previous container is being removed"};
      continue;
    }
    std::string why = "not running (" + c->state;
    if (c->state == "exited") why += " " + std::to_string(c->exit_code);
    why += ")";
    sp.action = Action{ActionType::start, name, c->id, cname, why};
  }
  return plan;
}

}  // namespace berth
