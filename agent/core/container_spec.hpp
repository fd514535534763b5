// ServiceSpec -> Docker Engine API container create body (pure).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/model.hpp"
#include "core/observed.hpp"

namespace berth {

struct SpecContext {
  std::string project;
  std::string config_path;  // for com.docker.compose.project.config_files
  // The engine's own default log driver (GET /info LoggingDriver), "" = unknown. A service
  // without `logging` gets no LogConfig (the engine's default applies); when that default is
  // journald, berth adds tag = <service> so `journalctl -t <service>` finds its lines.
  std::string default_log_driver;
  std::string api_version = "1.41";
};

struct ResolvedImage {
  std::string run_ref;   // what Config.Image gets: "repo@sha256:..." or the configured reference
  std::string image_id;  // local "sha256:..." image ID
  std::string digest;    // registry digest or ""
};

// The create body without the image-dependent labels and without the config hash.
nlohmann::json container_body(const ServiceSpec& svc, const SpecContext& ctx);

// sha256 of the canonical JSON of the body (keys sorted; image fields excluded): berth's config
// hash. Changes exactly when something that affects the container changes.
std::string config_hash(const nlohmann::json& body);

// Final body: adds Image, the config hash and the image labels.
nlohmann::json finalize_body(nlohmann::json body, const std::string& hash, const ResolvedImage& img,
                             const std::string& requested);

// A configured logging.driver the engine does not have: "services.web.logging.driver: ..." naming
// the service, the driver and the drivers the engine has; "" when it has it (or the engine did
// not list its drivers).
std::string log_driver_problem(const ServiceSpec& svc, const EngineInfo& engine);

// Docker's restart policy for the compose value ("on-failure:3" -> {on-failure, 3}).
nlohmann::json restart_policy(const std::string& restart);

}  // namespace berth
