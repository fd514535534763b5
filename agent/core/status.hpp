// The status model: what berth knows about its stack, filled by the reconciler and read by
// D-Bus, `berth status` and the dashboard reporter. Pure data plus pure (de)serialisers: no
// clocks (times are RFC 3339 strings given by the caller), no I/O.
//
// The report document is versioned ("schema": "berth.status/v1"); its JSON Schema lives in
// agent/report/berth.status.v1.schema.json and agent/report/README.md describes the protocol.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

inline constexpr std::string_view kStatusSchema = "berth.status/v1";

enum class UpdateStatus { up_to_date, pulling, updating, rolled_back, failed, stale };
enum class OverallState { converging, healthy, degraded, failed };

// The step of a converge that failed for a service (retried with backoff by the daemon).
enum class FailedStep {
  none,
  image,       // tag -> digest, or the pull (registry, ECR, IMDS, disk space)
  engine,      // Docker could not be asked (listing, network, volume)
  config,      // the engine cannot run what is configured (e.g. an unknown log driver)
  create,      // container create
  start,       // container start
  health,      // the container exited, was restarted, or did not become healthy
  swap,        // stop/rename during an update
  dependency,  // a dependency failed
};

// Transitions worth an alert on the dashboard.
enum class EventKind {
  update_started,   // a new digest is being rolled out (detail: "sha256:old -> sha256:new")
  update_finished,  // the new digest runs (and is healthy where it has a check)
  update_failed,    // the update could not be done; the old container was kept or none runs
  rolled_back,      // the new digest failed its health check; the previous digest runs again
  died,             // the container exited unexpectedly (exit_code set)
  unhealthy,        // the health check started failing (detail: the check's output)
  recovered,        // healthy again after unhealthy
};

std::string_view to_string(UpdateStatus s);
std::string_view to_string(OverallState s);
std::string_view to_string(EventKind k);
std::optional<UpdateStatus> parse_update_status(std::string_view s);
std::optional<OverallState> parse_overall_state(std::string_view s);
std::optional<EventKind> parse_event_kind(std::string_view s);
std::string_view to_string(FailedStep s);
std::optional<FailedStep> parse_failed_step(std::string_view s);

// Where berth runs. On EC2 from the IMDSv2 identity document; elsewhere the instance fields
// stay empty and hostname + machine id identify the host.
struct HostInfo {
  std::string instance_id;  // "i-0123456789abcdef0"
  std::string region;       // "us-east-2"
  std::string availability_zone;
  std::string instance_type;
  std::string hostname;
  std::string machine_id;  // /etc/machine-id
  std::string boot_id;     // /proc/sys/kernel/random/boot_id

  // The id used for the URL template's {instance_id}: instance id, else machine id, else
  // hostname.
  std::string id() const;
};

struct ServiceStatus {
  std::string name;
  std::string image;            // repository without tag or digest ("host/repo")
  std::string requested_tag;    // tag in effect (config or desired-state pin); "" when by digest
  std::string digest;           // manifest digest the container runs ("sha256:..."), "" unknown
  std::string previous_digest;  // what ran before the last update, "" none
  std::string container_id;     // "" when there is no container
  // Docker's container state: created | running | paused | restarting | removing | exited |
  // dead; "missing" when there is no container; "completed" for a job (restart "no" or
  // "on-failure") that exited 0.
  std::string state = "missing";
  std::string health;         // "" (no check) | starting | healthy | unhealthy
  std::string health_output;  // output of the last failing check (truncated in documents)
  std::string started_at;     // RFC 3339, "" unknown
  std::string finished_at;    // RFC 3339 of the last exit, "" while running or unknown
  bool job = false;           // a one-shot service (its command ends by itself)
  int restart_count = 0;
  std::optional<int> exit_code;  // set once the container has exited
  UpdateStatus update_status = UpdateStatus::up_to_date;
  std::string last_error;                     // "" none; never contains a secret
  FailedStep failed_step = FailedStep::none;  // the step last_error comes from
  std::string log_tail;                       // last log lines of a container that failed (bounded)
  std::optional<int> pull_percent;            // 0..100 while pulling
  // Who pinned the image that runs: "config" (berth.toml names a digest), "dashboard" (a
  // desired-state pin is in effect), "" (the configured tag). Omitted from documents when "".
  std::string pin_source;
};

struct StatusEvent {
  std::uint64_t id = 0;  // assigned by the Reporter on publish (monotonic across restarts)
  std::string time;      // RFC 3339, given by the caller
  std::string service;   // "" for stack-wide events
  EventKind kind = EventKind::died;
  std::string detail;            // human-readable, truncated in documents
  std::optional<int> exit_code;  // for died
};

struct StackStatus {
  std::string project;
  std::string config_version;
  std::string agent_version;
  std::string agent_started_at;  // RFC 3339
  OverallState overall = OverallState::converging;
  std::vector<ServiceStatus> services;  // sorted by name (sort_services does it)
  HostInfo host;
  // A failed converge is retried: the next try (RFC 3339) and how many were made since the last
  // success. next_retry_at "" = no retry pending.
  std::string next_retry_at;
  int retry_attempt = 0;
  // Stack-wide notices an operator should see (a container with the project label that berth
  // did not create, a refused desired-state pin). Omitted from documents when empty; at most
  // kMaxNotes, each cut to kMaxNoteText.
  std::vector<std::string> notes;
};

// Byte limits applied when documents are built.
inline constexpr std::size_t kMaxHealthOutput = 1024;
inline constexpr std::size_t kMaxErrorText = 2048;
inline constexpr std::size_t kMaxEventDetail = 1024;
inline constexpr std::size_t kMaxLogTail = 4096;
inline constexpr std::size_t kMaxNotes = 20;
inline constexpr std::size_t kMaxNoteText = 1024;

// Overall state of a stack:
//   converging: `converging` is true, or a service is pulling/updating, or a health check is
//               still starting while everything else is fine;
//   healthy:    every service runs (healthy where it has a check) or exited 0 (one-shot),
//               and no update failed or was rolled back (stale alone stays healthy);
//   failed:     there are services and none of them runs;
//   degraded:   anything else (some down/unhealthy/failed/rolled back).
// An empty stack is healthy.
OverallState compute_overall(const std::vector<ServiceStatus>& services, bool converging);

// Sort by name (documents and D-Bus replies are ordered).
void sort_services(std::vector<ServiceStatus>& services);

// The dashboard document (schema berth.status/v1). `events` must be ordered by id;
// `now` is the RFC 3339 generation time; `stream` (optional) identifies the sequence space
// (the reporter persists it in the state directory so receivers can dedupe by (stream, seq)).
nlohmann::json to_report_json(const StackStatus& stack, const std::vector<StatusEvent>& events,
                              std::uint64_t sequence, const std::string& now,
                              std::string_view stream = {});

// `berth status --json` and D-Bus Status(): the same fields as a report, without schema,
// sequence and events.
nlohmann::json to_status_json(const StackStatus& stack);

// Pieces, for tests and the reporter.
nlohmann::json to_json(const HostInfo& host);
nlohmann::json to_json(const ServiceStatus& service);
nlohmann::json to_json(const StatusEvent& event);

// Valid UTF-8 (invalid bytes become U+FFFD), at most `max_bytes` bytes, cut on a code point
// boundary and ending in "..." when cut.
std::string clean_text(std::string_view s, std::size_t max_bytes);

}  // namespace berth
