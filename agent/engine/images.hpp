// Where a service's image comes from. The lifecycle asks an ImageSource to make the image of
// every service present locally (pulling when needed) BEFORE any container is touched.
#pragma once

#include <functional>
#include <string>

#include "core/container_spec.hpp"
#include "core/model.hpp"
#include "core/result.hpp"
#include "engine/engine.hpp"

namespace berth::engine {

struct ImageStatus {
  ResolvedImage image;
  bool pulled = false;    // a pull happened in this converge
  bool stale = false;     // registry unreachable: running the last image we have
  std::string requested;  // as configured (or as pinned by desired state)
  std::string note;       // e.g. "registry unreachable, using local image"
};

using ImageProgressFn = std::function<void(const std::string& service, int percent)>;

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual Result<ImageStatus> ensure(const ServiceSpec& svc, const ImageProgressFn& progress) = 0;
};

// Images already on the engine (or pullable anonymously): inspect, and pull only when absent
// and the pull policy allows it.
class LocalImageSource final : public ImageSource {
 public:
  explicit LocalImageSource(Engine& engine) : engine_(engine) {}
  Result<ImageStatus> ensure(const ServiceSpec& svc, const ImageProgressFn& progress) override;

 private:
  Engine& engine_;
};

}  // namespace berth::engine
