#include "core/graph.hpp"

#include <algorithm>
#include <set>

namespace berth {

namespace {

// The cycle closed by the edge top-of-stack -> v, rotated to start at its smallest name.
std::vector<std::string> cycle_on_stack(const std::vector<std::pair<std::string, size_t>>& stack,
                                        const std::string& v) {
  std::vector<std::string> cyc;
  size_t from = 0;
  while (stack[from].first != v) ++from;
  for (size_t i = from; i < stack.size(); ++i) cyc.push_back(stack[i].first);
  std::rotate(cyc.begin(), std::min_element(cyc.begin(), cyc.end()), cyc.end());
  return cyc;
}

}  // namespace

std::vector<std::vector<std::string>> find_cycles(
    const std::map<std::string, std::vector<std::string>>& edges) {
  enum class Mark { none, active, done };
  std::map<std::string, Mark> mark;
  std::set<std::vector<std::string>> seen;
  std::vector<std::vector<std::string>> cycles;
  for (const auto& [root, _] : edges) {
    if (mark[root] != Mark::none) continue;
    std::vector<std::pair<std::string, size_t>> stack{{root, 0}};
    mark[root] = Mark::active;
    while (!stack.empty()) {
      auto& [u, next] = stack.back();
      const auto& deps = edges.at(u);
      if (next >= deps.size()) {
        mark[u] = Mark::done;
        stack.pop_back();
        continue;
      }
      const std::string& v = deps[next++];
      if (!edges.count(v)) continue;
      if (mark[v] == Mark::none) {
        mark[v] = Mark::active;
        stack.emplace_back(v, 0);
      } else if (mark[v] == Mark::active) {
        auto cyc = cycle_on_stack(stack, v);
        if (seen.insert(cyc).second) cycles.push_back(std::move(cyc));
      }
    }
  }
  return cycles;
}

std::optional<std::vector<std::string>> find_cycle(
    const std::map<std::string, std::vector<std::string>>& edges) {
  auto cycles = find_cycles(edges);
  if (cycles.empty()) return std::nullopt;
  auto path = cycles.front();
  path.push_back(path.front());
  return path;
}

std::vector<std::string> topological_order(
    const std::map<std::string, std::vector<std::string>>& edges) {
  std::vector<std::string> order;
  std::set<std::string> placed;
  while (order.size() < edges.size()) {
    bool progress = false;
    for (const auto& [n, deps] : edges) {
      if (placed.count(n)) continue;
      bool ready = std::all_of(deps.begin(), deps.end(), [&](const std::string& d) {
        return placed.count(d) || !edges.count(d);
      });
      if (ready) {
        order.push_back(n);
        placed.insert(n);
        progress = true;
      }
    }
    if (!progress) {  // a cycle: append the rest by name so callers still terminate
      for (const auto& [n, _] : edges)
        if (!placed.count(n)) order.push_back(n);
      break;
    }
  }
  return order;
}

std::vector<std::vector<std::string>> stop_waves(
    const std::map<std::string, std::vector<std::string>>& edges) {
  std::map<std::string, std::set<std::string>> dependants;  // who must stop first
  for (const auto& [n, deps] : edges) {
    dependants[n];
    for (const auto& d : deps)
      if (edges.count(d) && d != n) dependants[d].insert(n);
  }
  std::vector<std::vector<std::string>> waves;
  std::set<std::string> stopped;
  while (stopped.size() < dependants.size()) {
    std::vector<std::string> wave;
    for (const auto& [n, before] : dependants)
      if (!stopped.count(n) && std::all_of(before.begin(), before.end(),
                                           [&](const auto& d) { return stopped.count(d) > 0; }))
        wave.push_back(n);
    if (wave.empty())  // a cycle: the rest together
      for (const auto& [n, _] : dependants)
        if (!stopped.count(n)) wave.push_back(n);
    stopped.insert(wave.begin(), wave.end());
    waves.push_back(std::move(wave));
  }
  return waves;
}

}  // namespace berth
