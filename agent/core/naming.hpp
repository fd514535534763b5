// Names and labels berth gives to Docker objects. Compose-compatible, so `docker compose -p
// <project> ps` lists berth's containers (DESIGN.md).
#pragma once

#include <string>

namespace berth::labels {

inline constexpr const char* kProject = "com.docker.compose.project";
inline constexpr const char* kService = "com.docker.compose.service";
inline constexpr const char* kNumber = "com.docker.compose.container-number";
inline constexpr const char* kOneoff = "com.docker.compose.oneoff";
inline constexpr const char* kConfigHash = "com.docker.compose.config-hash";
inline constexpr const char* kImage = "com.docker.compose.image";  // local image ID
inline constexpr const char* kDependsOn = "com.docker.compose.depends_on";
inline constexpr const char* kVersion = "com.docker.compose.version";
inline constexpr const char* kConfigFiles = "com.docker.compose.project.config_files";
inline constexpr const char* kWorkingDir = "com.docker.compose.project.working_dir";
inline constexpr const char* kNetwork = "com.docker.compose.network";
inline constexpr const char* kVolume = "com.docker.compose.volume";

inline constexpr const char* kManaged = "org.berth.managed";            // "true"
inline constexpr const char* kRequested = "org.berth.image.requested";  // image as configured
inline constexpr const char* kDigest = "org.berth.image.digest";        // sha256:... or ""
inline constexpr const char* kAgentVersion = "org.berth.version";
// sha256 over the labels berth owns (core/label_trust.hpp): what berth reads back from a
// container is trusted only when it verifies.
inline constexpr const char* kLabelsHash = "org.berth.labels-hash";

}  // namespace berth::labels

namespace berth::naming {

// The container of a service: <project>-<service>-1.
inline std::string container_name(const std::string& project, const std::string& service) {
  return project + "-" + service + "-1";
}
// During an update the new container is created as <name>-next and the old one is kept as
// <name>-prev until the new one is healthy.
inline std::string next_name(const std::string& project, const std::string& service) {
  return container_name(project, service) + "-next";
}
inline std::string prev_name(const std::string& project, const std::string& service) {
  return container_name(project, service) + "-prev";
}
inline std::string network_name(const std::string& project) {
  return project + "_default";
}
inline std::string volume_name(const std::string& project, const std::string& key) {
  return project + "_" + key;
}

}  // namespace berth::naming
