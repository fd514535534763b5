// Where a service's image comes from. The lifecycle asks an ImageSource to make the image of
// every service present locally (pulling when needed) BEFORE any container is touched.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "core/container_spec.hpp"
#include "core/model.hpp"
#include "engine/engine.hpp"
#include "util/result.hpp"

namespace berth::engine {

struct ImageStatus {
  ResolvedImage image;
  bool pulled = false;    // a pull happened in this converge
  bool stale = false;     // registry unreachable: running the last image we have
  std::string requested;  // as configured (or as pinned by desired state)
  std::string note;       // e.g. "registry unreachable, using local image"
};

using ImageProgressFn = std::function<void(const std::string& service, int percent)>;

// The lifecycle checks the images of many services at once (a digest lookup and an inspect
// each: cheap) but lets only `[agent] pull_concurrency` of them pull at a time. An ImageSource
// holds a slot for the duration of each pull.
class PullSlots {
 public:
  explicit PullSlots(int slots) : free_(slots < 1 ? 1 : slots) {}
  PullSlots(const PullSlots&) = delete;
  PullSlots& operator=(const PullSlots&) = delete;

  class Held {
   public:
    explicit Held(PullSlots& s) : s_(s) {
      std::unique_lock lock(s_.mu_);
      s_.cv_.wait(lock, [&] { return s_.free_ > 0; });
      --s_.free_;
    }
    ~Held() {
      {
        std::lock_guard lock(s_.mu_);
        ++s_.free_;
      }
      s_.cv_.notify_one();
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;

   private:
    PullSlots& s_;
  };

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int free_;
};

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual Result<ImageStatus> ensure(const ServiceSpec& svc, const ImageProgressFn& progress,
                                     PullSlots& pulls) = 0;
};

// Images already on the engine (or pullable anonymously): inspect, and pull only when absent
// and the pull policy allows it.
class LocalImageSource final : public ImageSource {
 public:
  explicit LocalImageSource(Engine& engine) : engine_(engine) {}
  Result<ImageStatus> ensure(const ServiceSpec& svc, const ImageProgressFn& progress,
                             PullSlots& pulls) override;

 private:
  Engine& engine_;
};

}  // namespace berth::engine
