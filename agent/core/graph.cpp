#include "core/graph.hpp"

#include <algorithm>
#include <functional>
#include <set>

namespace berth {

std::optional<std::vector<std::string>> find_cycle(
    const std::map<std::string, std::vector<std::string>>& edges) {
  enum class Mark { none, active, done };
  std::map<std::string, Mark> mark;
  std::vector<std::string> stack;
  std::optional<std::vector<std::string>> found;

  std::function<bool(const std::string&)> visit = [&](const std::string& n) -> bool {
    mark[n] = Mark::active;
    stack.push_back(n);
    auto it = edges.find(n);
    if (it != edges.end()) {
      std::vector<std::string> deps = it->second;
      std::sort(deps.begin(), deps.end());
      for (const auto& d : deps) {
        if (!edges.count(d)) continue;
        if (mark[d] == Mark::active) {
          auto pos = std::find(stack.begin(), stack.end(), d);
          std::vector<std::string> cycle(pos, stack.end());
          cycle.push_back(d);
          found = cycle;
          return true;
        }
        if (mark[d] == Mark::none && visit(d)) return true;
      }
    }
    stack.pop_back();
    mark[n] = Mark::done;
    return false;
  };
  for (const auto& [n, _] : edges)
    if (mark[n] == Mark::none && visit(n)) return found;
  return std::nullopt;
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
