// Images from registries: tag -> digest through the registry API, pull by digest only when the
// digest is not local, with the registry's credentials (ECR from the instance role, basic,
// docker config, anonymous). When the registry cannot be reached, the last-known-good image
// (or the local image of the tag) is used and marked stale: a working container is never
// stopped because the registry is down.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/model.hpp"
#include "engine/engine.hpp"
#include "engine/images.hpp"
#include "registry/auth.hpp"
#include "registry/manifest.hpp"

namespace berth::registry {

struct ImageSourceOptions {
  int attempts = 3;                         // for retryable failures (5xx, 429, resets, stalls)
  std::chrono::milliseconds backoff{1000};  // doubled each attempt, with jitter
  engine::PullOptions pull;
  // The image ID berth last ran healthy for a service ("" = none): the offline fallback.
  std::function<std::string(const std::string& service)> last_good;
  // Free bytes needed per compressed byte of an image before a pull (layers are stored
  // compressed while downloading and again unpacked).
  double space_factor = 3.0;
  // A warning per failed attempt (`berth up` shows them); debug level when false (the daemon).
  bool log_attempts = true;
};

class RegistryImageSource final : public engine::ImageSource {
 public:
  RegistryImageSource(engine::Engine& engine, const Config& cfg, ImageSourceOptions opts);
  ~RegistryImageSource() override;

  Result<engine::ImageStatus> ensure(const ServiceSpec& svc,
                                     const engine::ImageProgressFn& progress,
                                     engine::PullSlots& pulls) override;

  // Configuration problems of the registries (password files, docker config), for start-up.
  Result<void> validate();

 private:
  // Free space for the image in Docker's data root, from its manifest's sizes; the manifest
  // must verify (RegistryClient::image_size).
  Result<void> check_room(const ImageRef& pinned, AuthProvider* provider, const std::string& image);

  engine::Engine& engine_;
  ImageSourceOptions opts_;
  AuthProviders providers_;
  RegistryClient client_;
};

}  // namespace berth::registry
