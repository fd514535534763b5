// update_strategy = "preflight": the trial container and how it is checked (pure).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace berth {

// The create body of the trial container: the new container's body without published ports
// (the old container holds them) and without network aliases (it must not receive the
// service's traffic); same image, labels, environment, volumes and networks.
nlohmann::json preflight_body(const nlohmann::json& body);

// berth's own probe aimed at the trial container: the host of `probe` becomes `address` (the
// container's IP on its network), and a port the service publishes on the host becomes the
// container port it maps to ("http://127.0.0.1:8080/health" with ports ["8080:80"] ->
// "http://172.18.0.5:80/health"). Other ports are kept.
Probe probe_for_container(const Probe& probe, const std::vector<PortMapping>& ports,
                          const std::string& address);

}  // namespace berth
