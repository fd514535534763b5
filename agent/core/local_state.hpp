// berth's durable memory per service (kept in $STATE_DIRECTORY/state.json): the last image that
// ran healthy, the image before it, images that failed their health check (quarantined), the
// images berth pulled (so it prunes only those), and the intent of an update in progress.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace berth {

struct ImageRecord {
  std::string image_id;  // local "sha256:..."
  std::string digest;    // registry digest or ""
  std::string ref;       // reference the container was created from
  std::string at;        // RFC 3339
  bool operator==(const ImageRecord&) const = default;
};

struct Quarantine {
  std::string image_id;
  std::string digest;
  std::string at;
  std::string reason;  // the failed check's output (truncated)
};

struct ServiceRecord {
  ImageRecord last_good;  // empty image_id = unknown
  ImageRecord previous;   // the last_good before the current one (kept for rollback)
  std::vector<Quarantine> quarantined;
  std::vector<std::string> pulled;  // image IDs berth pulled for this service, oldest first
};

struct Intent {
  std::string service;
  int step = 0;
  std::string what;
  std::string old_container;
  std::string at;
};

struct LocalState {
  std::map<std::string, ServiceRecord> services;
  std::vector<Intent> intents;  // updates in progress (normally empty)

  bool is_quarantined(const std::string& service, const std::string& image_id) const;
  // Record a healthy run; the former last_good becomes previous when it differs.
  void record_good(const std::string& service, const ImageRecord& img);
  void quarantine(const std::string& service, const Quarantine& q);
  void record_pulled(const std::string& service, const std::string& image_id);
  // Image IDs berth pulled for `service` that are neither last_good nor previous nor
  // `keep`: the ones it may prune.
  std::vector<std::string> prunable(const std::string& service) const;
  void forget_pulled(const std::string& service, const std::string& image_id);
};

nlohmann::json to_json(const LocalState& s);
// Tolerant of missing fields; a malformed document is an error (the caller keeps a backup).
Result<LocalState> parse_local_state(std::string_view text);

}  // namespace berth
