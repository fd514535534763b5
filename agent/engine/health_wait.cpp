#include "engine/health_wait.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/duration.hpp"
#include "core/log_tail.hpp"
#include "engine/probe.hpp"

namespace berth::engine {

using Clock = std::chrono::steady_clock;

namespace {

// How often a wait looks again by itself once the events stream delivers (see ContainerEvents).
constexpr Millis kEventFallbackPoll{1000};

std::string indented(const std::string& text) {
  std::string out = "  ";
  for (char ch : text) {
    out.push_back(ch);
    if (ch == '\n') out += "  ";
  }
  return out;
}

}  // namespace

struct HealthWaiter::Progress {
  Clock::time_point start;
  Clock::time_point deadline;
  Clock::time_point next_probe;
  int probe_failures = 0;
  std::string last_probe_error;
  std::string events_key;        // the full ID, as events carry it, once inspected
  std::optional<int> restarts0;  // restart count at the first look
  EventWaits::Seen seen;
};

bool HealthWaiter::engine_unreachable(const Error& e) {
  return (e.kind == ErrorKind::unavailable || e.kind == ErrorKind::timeout) && !engine_.ping();
}

Ready HealthWaiter::wait(const WaitFor& w) {
  Progress p;
  p.start = Clock::now();
  p.deadline = p.start + w.timeout;
  p.next_probe = p.start + (w.probe ? w.probe->start_period : Millis{0});
  p.events_key = w.container;
  while (true) {
    // Taken before the inspect: an event between the two wakes the wait below at once.
    p.seen = events_.seen(p.events_key);
    auto info = engine_.inspect_container(w.container);
    if (!info) {
      Ready r;
      r.error = info.error().message;
      r.no_verdict = engine_unreachable(info.error());
      return r;
    }
    if (!p.restarts0) p.restarts0 = w.fresh ? 0 : info->restart_count;
    if (auto r = judge(w, p, *info)) {
      if (!r->ok && !r->no_verdict) add_log_tail(*r, info->id);
      return *r;
    }
    if (Clock::now() >= p.deadline) {
      Ready r = timed_out(w, p, *info);
      add_log_tail(r, info->id);
      return r;
    }
    if (stopping()) {  // berth is stopping: no verdict on the container
      Ready r;
      r.info = *info;
      r.error = "interrupted (berth is stopping)";
      r.no_verdict = true;
      return r;
    }
    pause(w, p, *info);
  }
}

std::optional<Ready> HealthWaiter::judge(const WaitFor& w, Progress& p, const ContainerInfo& info) {
  if (w.want_completed) return job_done(info);
  if (auto r = crashed(w, p, info)) return r;
  if (info.state != "running") return std::nullopt;  // created, paused: not yet
  Ready r;
  r.info = info;
  if (!info.health.empty()) {
    if (info.health == "healthy") {
      r.ok = r.checked = true;
      return r;
    }
    if (info.health != "unhealthy") return std::nullopt;  // starting
    r.error = "unhealthy";
    if (!info.health_output.empty()) r.error += ": " + info.health_output;
    return r;
  }
  if (w.probe) {
    auto pr = probed(w, p);
    if (!pr) return std::nullopt;
    pr->info = info;
    pr->info.health = pr->ok ? "healthy" : "unhealthy";
    if (!pr->ok) pr->info.health_output = p.last_probe_error;
    return pr;
  }
  r.ok = true;  // no check: running is ready
  return r;
}

// For a service that is meant to keep running, any of these is a failure at once: it exited,
// Docker is restarting it or restarted it, or the kernel killed something in it for memory.
std::optional<Ready> HealthWaiter::crashed(const WaitFor& w, const Progress& p,
                                           const ContainerInfo& info) {
  auto ev = events_.exits(info.id);
  bool exited = info.state == "exited" || info.state == "dead";
  bool restarted = info.state == "restarting" || info.restart_count > p.restarts0.value_or(0) ||
                   (w.fresh && ev.dies > 0);
  bool oom = info.oom_killed || ev.oom;
  if (!exited && !restarted && !oom) return std::nullopt;
  Ready r;
  r.info = info;
  if (exited)
    r.exit_code = info.exit_code;
  else if (ev.last_exit_code)
    r.exit_code = ev.last_exit_code;
  std::string code = r.exit_code ? " with code " + std::to_string(*r.exit_code) : "";
  // Read after "container NAME " or "new container ".
  if (exited)
    r.error = "exited" + code;
  else if (restarted)
    r.error = "exited" + code + " and was restarted by Docker (restart count " +
              std::to_string(info.restart_count) + ")";
  else
    r.error = "had a process killed for lack of memory";
  if (oom && (exited || restarted)) r.error += " (killed: out of memory)";
  if (!info.health_output.empty()) r.error += "; last check: " + info.health_output;
  return r;
}

std::optional<Ready> HealthWaiter::job_done(const ContainerInfo& info) {
  if (info.state != "exited" && info.state != "dead") return std::nullopt;  // running, restarting
  Ready r;
  r.info = info;
  r.exit_code = info.exit_code;
  if (info.exit_code == 0) {
    r.ok = r.completed = true;
    return r;
  }
  r.error = "did not complete successfully: exit " + std::to_string(info.exit_code) +
            (info.oom_killed ? " (killed: out of memory)" : "");
  return r;
}

// berth's own probe (no Docker check): one attempt when it is due; a verdict after `retries`
// failures past the start period.
std::optional<Ready> HealthWaiter::probed(const WaitFor& w, Progress& p) {
  if (Clock::now() < p.next_probe) return std::nullopt;
  Ready r;
  auto pr = run_probe(*w.probe);
  if (pr) {
    r.ok = r.checked = true;
    return r;
  }
  p.last_probe_error = pr.error().message;
  if (Clock::now() >= p.start + w.probe->start_period) ++p.probe_failures;
  if (p.probe_failures >= std::max(1, w.probe->retries)) {
    r.error = "unhealthy: probe failed " + std::to_string(p.probe_failures) +
              " times: " + p.last_probe_error;
    return r;
  }
  p.next_probe = Clock::now() + w.probe->interval;
  return std::nullopt;
}

Ready HealthWaiter::timed_out(const WaitFor& w, const Progress& p, const ContainerInfo& info) {
  Ready r;
  r.info = info;
  r.error = std::string(w.want_completed ? "not finished after " : "not healthy after ") +
            format_duration(w.timeout) + " (state " + info.state +
            (info.health.empty() ? "" : ", health " + info.health) + ")";
  if (!p.last_probe_error.empty()) r.error += ": " + p.last_probe_error;
  if (!info.health_output.empty()) r.error += ": " + info.health_output;
  return r;
}

void HealthWaiter::add_log_tail(Ready& r, const std::string& container) {
  auto logs = engine_.container_logs(container, static_cast<int>(kLogTailLines));
  if (!logs) return;
  r.log_tail = tail_lines(*logs);
  if (!r.log_tail.empty()) r.error += "; last log lines:\n" + indented(r.log_tail);
}

void HealthWaiter::pause(const WaitFor& w, Progress& p, const ContainerInfo& info) {
  if (w.probe && info.health.empty()) {
    std::this_thread::sleep_for(poll_);  // berth's own probe: its own clock
    return;
  }
  // Docker's check or the container's exit: both arrive as events. The slow fallback is also
  // how often a stop request (the daemon's) is noticed during a health wait.
  if (!info.id.empty() && info.id != p.events_key) {
    p.events_key = info.id;  // a snapshot under the right key first
    return;
  }
  (void)events_.wait(p.events_key, p.seen, poll_, kEventFallbackPoll);
}

}  // namespace berth::engine
