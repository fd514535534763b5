// The dashboard reporter: turns status snapshots and events into berth.status/v1 documents and
// delivers them to [dashboard].url, promptly, completely, in order, and never losing one while
// the dashboard is down. Protocol and decisions: agent/report/README.md.
//
// Threading: publish(), flush(), counters() and stop() may be called from any thread; the
// Reporter does all network and disk I/O on its own worker thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/model.hpp"
#include "core/status.hpp"
#include "report/retry_after.hpp"  // parse_retry_after
#include "report/token.hpp"

namespace berth::report {

struct ReporterOptions {
  Millis coalesce{200};  // changes within this window make one document
  // A change that shows a failure (is_urgent_change) goes out after this instead; what else
  // changes meanwhile, or while a report is on its way, still travels in one document.
  Millis urgent_coalesce{0};
  Millis backoff_initial{1000};     // first retry delay (then doubled, with jitter)
  Millis backoff_max{300000};       // cap of the exponential backoff
  Millis retry_after_max{3600000};  // cap of a server's Retry-After
  long connect_timeout_ms = 5000;
  long timeout_ms = 15000;  // whole request
  std::size_t spool_max_files = 1000;
  std::size_t spool_max_bytes = 8 * 1024 * 1024;
  std::size_t max_events_per_document = 5000;  // oldest dropped beyond (counted)
  Millis stop_timeout{3000};  // stop(): time to deliver what is waiting before spooling it
  // Wall clock for generated_at and Retry-After dates (tests inject one).
  std::function<std::chrono::system_clock::time_point()> wall_clock;
};

struct ReporterCounters {
  std::uint64_t published = 0;       // publish() calls
  std::uint64_t documents = 0;       // documents built
  std::uint64_t heartbeats = 0;      // of which heartbeats
  std::uint64_t attempts = 0;        // POSTs tried
  std::uint64_t delivered = 0;       // 2xx
  std::uint64_t failures = 0;        // transport errors, 408/425/429/5xx, token errors
  std::uint64_t rejected = 0;        // other 4xx/3xx: document dropped
  std::uint64_t spooled = 0;         // documents written to the spool
  std::uint64_t collapsed = 0;       // spooled snapshots merged into the next one
  std::uint64_t events_dropped = 0;  // events lost to bounds or repeated rejection
  std::uint64_t last_delivered_sequence = 0;
  std::uint64_t last_delivered_event_id = 0;
  std::size_t waiting = 0;      // documents not yet delivered (memory + spool)
  std::size_t spool_files = 0;  // of which on disk
  std::size_t spool_bytes = 0;  // bytes of all waiting documents
};

class Reporter {
 public:
  // `state_dir`/spool (0700) holds waiting documents (0600) and state.json (stream id,
  // reserved sequence/event id blocks, last delivered ones). A spool left by a previous run is
  // delivered first. No network I/O here; the worker thread starts at once.
  // `project` fills {project} in the URL templates.
  Reporter(DashboardSettings settings, std::string project, std::string state_dir,
           TokenProvider token, ReporterOptions options = {});
  ~Reporter();  // stop()
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  // Non-blocking. `status` replaces the previous snapshot; `new_events` are appended (their
  // `id` is ignored: the Reporter numbers events in order, monotonic across restarts; their
  // `time` is the caller's). A document is built `coalesce` after the first change; an
  // identical snapshot without events makes no document; a failure (is_urgent_change) is built
  // after `urgent_coalesce` instead. Ignored after stop().
  void publish(StackStatus status, std::vector<StatusEvent> new_events = {});

  // Build what is pending now (no coalescing delay) and wait until everything published so
  // far has been delivered (or rejected by the dashboard). False on timeout.
  bool flush(Millis timeout);

  // Deliver what is waiting within options.stop_timeout (plus at most one in-flight request),
  // spool the rest, and join the worker. Idempotent.
  void stop();

  ReporterCounters counters() const;

  // The URL a document for `host` is POSTed to.
  std::string url_for(const HostInfo& host) const;

 private:
  struct Entry;
  struct Pending;
  void run();
  bool build_document(bool heartbeat);
  void add_entry(Entry e);
  bool send_head(std::chrono::steady_clock::time_point deadline);
  void spool_entry(Entry& e);
  void set_aside(std::uint64_t seq, const std::string& why);
  void enforce_bounds();
  void load_state();
  bool save_state();
  bool reserve(std::uint64_t next_seq, std::uint64_t next_event);
  std::string now_rfc3339() const;
  void set_waiting_counters();

  DashboardSettings settings_;
  std::string project_;
  std::string spool_dir_;
  TokenProvider token_;
  ReporterOptions options_;
  std::unique_ptr<Pending> pending_;  // guarded by mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;       // wakes the worker
  std::condition_variable idle_cv_;  // wakes flush()
  bool stop_ = false;
  bool wake_ = false;
  bool flush_now_ = false;
  std::uint64_t publish_count_ = 0;  // publish() calls that changed something
  std::uint64_t acked_publish_ = 0;  // publish count covered by delivered/rejected documents
  ReporterCounters counters_;

  // Worker-only state.
  std::list<Entry> outbox_;  // oldest first
  std::string stream_;
  std::uint64_t next_sequence_ = 1;
  std::uint64_t next_event_id_ = 1;
  // Durable upper bounds of the numbers handed out: state.json is rewritten only when a block
  // of ids is used up, never per report, and a restart continues above them.
  std::uint64_t sequence_reserved_ = 0;
  std::uint64_t event_reserved_ = 0;
  std::uint64_t delivered_sequence_ = 0;
  std::uint64_t delivered_event_id_ = 0;
  bool delivered_unsaved_ = false;  // spooled documents delivered since the last save
  std::chrono::steady_clock::time_point last_state_save_;
  std::set<std::uint64_t> carried_events_;  // carried once after a rejection
  bool failing_ = false;
  int attempt_ = 0;
  std::chrono::steady_clock::time_point next_attempt_;
  std::chrono::steady_clock::time_point last_sent_;
  std::string last_failure_logged_;
  std::chrono::steady_clock::time_point last_failure_log_time_;
  std::string last_status_json_;  // of the last built document, to skip identical snapshots
  bool spool_ok_ = true;
  std::once_flag join_once_;
  std::thread worker_;
};

// Pure helpers (tested directly).

// Whether a publish must not wait for the coalescing window: one of `events` is a failure
// (died, unhealthy, update_failed, rolled_back), or a service that was running in `before` (the
// previous publish; null for the first) no longer is, or has just turned unhealthy. A service
// berth is pulling or updating itself does not count.
bool is_urgent_change(const StackStatus* before, const StackStatus& after,
                      const std::vector<StatusEvent>& events);

// {instance_id} (HostInfo::id()), {hostname}, {project}, each percent-encoded.
std::string expand_url(std::string_view tmpl, const HostInfo& host, std::string_view project);

// Exponential backoff with "equal jitter": cap = min(max, initial * 2^(attempt-1)), delay in
// [cap/2, cap], `random01` in [0, 1).
Millis backoff_delay(int attempt, Millis initial, Millis max, double random01);

// "2026-11-01T12:34:56.789Z".
std::string format_rfc3339(std::chrono::system_clock::time_point t);

}  // namespace berth::report
