// Dependency graph helpers for services (pure).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth {

// edges[a] = services a depends on. Every cycle, each once, in the order an iterative depth-first
// search finds them (roots by name, edges in their given order; a chain may be thousands long).
// A cycle is given as its members starting at the smallest name (a, b, c for a -> b -> c -> a).
// Edges to names that are not keys are ignored.
std::vector<std::vector<std::string>> find_cycles(
    const std::map<std::string, std::vector<std::string>>& edges);

// The first of find_cycles as a path that starts and ends with the same name (a -> b -> a), or
// nullopt.
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
