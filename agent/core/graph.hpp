// Dependency graph helpers for services (pure).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth {

// edges[a] = services a depends on. Returns the first cycle found as a path that starts and ends
// with the same name (a -> b -> a), or nullopt. Deterministic (visits names in order).
std::optional<std::vector<std::string>> find_cycle(
    const std::map<std::string, std::vector<std::string>>& edges);

// Services in start order (dependencies first), ties broken by name. Requires no cycle;
// edges to unknown names are ignored.
std::vector<std::string> topological_order(
    const std::map<std::string, std::vector<std::string>>& edges);

// Stop order (`down`): waves of services that stop in parallel, each service after every service
// that depends on it. Edges to unknown names are ignored. When what is left forms a cycle (labels
// from outside berth can), the rest is one last wave: every service is stopped exactly once and
// nothing waits forever.
std::vector<std::vector<std::string>> stop_waves(
    const std::map<std::string, std::vector<std::string>>& edges);

}  // namespace berth
