// Fetches the desired state ([dashboard].desired_url) with If-None-Match and keeps the last
// accepted document in <state_dir>/desired.json (atomic, 0600), so a reboot without network
// keeps the pins. Not thread-safe: call from one thread (the reconciler's).
#pragma once

#include <optional>
#include <set>
#include <string>

#include "core/desired.hpp"
#include "core/model.hpp"
#include "core/status.hpp"
#include "report/token.hpp"
#include "util/result.hpp"

namespace berth::report {

struct DesiredFetch {
  DesiredState state;
  bool changed = false;  // false: 304 Not Modified (state is the cached one)
  std::string etag;
};

struct DesiredFetchOptions {
  long connect_timeout_ms = 5000;
  long timeout_ms = 15000;
  std::size_t max_bytes = 1024 * 1024;
};

class DesiredFetcher {
 public:
  DesiredFetcher(DashboardSettings settings, std::string project, std::string state_dir,
                 TokenProvider token, DesiredFetchOptions options = {});

  // The cached document, validated against today's services (nullopt when there is none).
  // A cache that no longer validates (a service was removed from berth.toml) is an error; the
  // caller decides (typically: log it and run without pins until the next fetch).
  Result<std::optional<DesiredState>> load_cached(const std::set<std::string>& known_services);

  // GET desired_url ({instance_id}, {hostname}, {project} expanded) with the cached ETag in
  // If-None-Match. 200: validate (any problem: error, cache untouched, nothing changes), write
  // the cache, changed = true. 304: the cached state, changed = false. 204: no pins (an empty
  // state). Anything else (404 too: a wrong URL must not unpin a fleet): an error naming the
  // URL and the dashboard's message; the caller keeps its current pins.
  Result<DesiredFetch> fetch(const HostInfo& host, const std::set<std::string>& known_services);

  std::string cache_path() const { return cache_path_; }

 private:
  Result<void> write_cache(const std::string& etag, const std::string& body);

  DashboardSettings settings_;
  std::string project_;
  std::string cache_path_;
  TokenProvider token_;
  DesiredFetchOptions options_;
  std::optional<std::string> cached_etag_;
  std::optional<std::string> cached_body_;
};

}  // namespace berth::report
