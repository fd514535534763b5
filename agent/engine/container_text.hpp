// Small text helpers shared by the lifecycle and the swap: labels, short IDs, durations.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "core/observed.hpp"

namespace berth::engine {

inline std::string label_of(const ContainerInfo& c, const char* key) {
  auto it = c.labels.find(key);
  return it == c.labels.end() ? std::string() : it->second;
}

// "sha256:0123456789abcdef..." -> "0123456789ab".
inline std::string short_id(const std::string& id) {
  std::string s = id;
  if (s.starts_with("sha256:")) s = s.substr(7);
  return s.substr(0, 12);
}

// "2.3s".
inline std::string seconds_text(std::chrono::steady_clock::duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

}  // namespace berth::engine
