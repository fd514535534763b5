#include "daemon/reconciler.hpp"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <random>
#include <set>
#include <stop_token>

#include "config/config.hpp"
#include "config/config_loader.hpp"
#include "core/image_ref.hpp"
#include "core/naming.hpp"
#include "core/url.hpp"
#include "daemon/converge_failures.hpp"
#include "report/host_info.hpp"
#include "report/token.hpp"
#include "util/logging.hpp"

namespace berth::daemon {

namespace {

std::string short_digest(const std::string& d) {
  if (d.starts_with("sha256:")) return d.substr(0, 7 + 12);
  return d;
}

std::uint64_t now_usec() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::string now_text() {
  return report::format_rfc3339(std::chrono::system_clock::now());
}

}  // namespace

Reconciler::Reconciler(Config cfg, RunOptions opts)
    : cfg_(std::move(cfg)),
      opts_(std::move(opts)),
      retry_(kFirstRetry, cfg_.agent.retry_max,
             [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }) {
  started_at_ = now_text();
}

Reconciler::~Reconciler() {
  stop_threads();
}

void Reconciler::stop() {
  stopping_ = true;
  queue_.push({Message::Kind::stop, "stop requested", "", {}, nullptr});
}

void Reconciler::request_update() {
  queue_.push({Message::Kind::converge, "update requested over D-Bus", "", {}, nullptr});
}

void Reconciler::request_reload() {
  queue_.push({Message::Kind::reload, "reload requested over D-Bus", "", {}, nullptr});
}

Result<void> Reconciler::request_restart(const std::string& service) {
  // Validate here (the configured services are only replaced by the reconciler thread on a
  // reload; a stale answer at that moment is harmless) and return at once: the D-Bus thread
  // never waits for Docker.
  {
    std::lock_guard lock(status_mutex_);
    if (!services_.count(service))
      return fail("unknown service \"" + service + "\"", ErrorKind::not_found);
  }
  queue_.push(
      {Message::Kind::restart_service, "restart requested over D-Bus", service, {}, nullptr});
  return {};
}

void Reconciler::start_signal_thread() {
  // The signals are blocked in every thread (run() blocks them before creating any thread);
  // this one thread takes them with sigwait and posts messages.
  signal_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "berth-signals");
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);  // used to wake this thread at shutdown
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP) {
        queue_.push({Message::Kind::reload, "SIGHUP", "", {}, nullptr});
      } else if (sig == SIGUSR2) {
        return;
      } else {
        spdlog::info("received {}, stopping (containers keep running)",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
        stopping_ = true;
        queue_.push({Message::Kind::stop, "signal", "", {}, nullptr});
        return;
      }
    }
  });
}

void Reconciler::start_events_thread() {
  // The filter is built here, on the reconciler thread: cfg_ is replaced by reloads.
  std::vector<std::string> filters{std::string(labels::kProject) + "=" + cfg_.agent.project};
  events_thread_ = std::thread([this, filters, stop = events_stop_.get_token()] {
    pthread_setname_np(pthread_self(), "berth-events");
    int backoff_ms = 500;
    bool was_lost = false;
    std::mutex backoff_mu;
    std::condition_variable_any backoff_cv;
    while (!stop.stop_requested()) {
      auto ping = stack_->engine().ping();
      if (!ping) {
        if (!was_lost) {
          queue_.push({Message::Kind::engine_lost, ping.error().message, "", {}, nullptr});
          was_lost = true;
        }
      } else {
        if (was_lost) {
          queue_.push({Message::Kind::engine_back, "docker is back", "", {}, nullptr});
          was_lost = false;
        }
        backoff_ms = 500;
        auto r = stack_->engine().stream_events(
            filters,
            [this](const EngineEvent& ev) {
              queue_.push({Message::Kind::engine_event, "", "", ev, nullptr});
            },
            stop);
        if (stop.stop_requested()) return;
        if (!r) {
          queue_.push({Message::Kind::engine_lost, r.error().message, "", {}, nullptr});
          was_lost = true;
        }
      }
      // Sleep out the backoff; a stop request ends it at once.
      std::unique_lock lock(backoff_mu);
      backoff_cv.wait_for(lock, stop, std::chrono::milliseconds(backoff_ms), [] { return false; });
      backoff_ms = std::min(backoff_ms * 2, 10000);
    }
  });
}

void Reconciler::stop_threads() {
  events_stop_.request_stop();
  if (events_thread_.joinable()) events_thread_.join();
  if (signal_thread_.joinable()) {
    pthread_kill(signal_thread_.native_handle(), SIGUSR2);
    signal_thread_.join();
  }
  if (dbus_) dbus_->stop();
  if (reporter_) reporter_->stop();
}

void Reconciler::touch_progress() {
  last_progress_ns_ = Clock::now().time_since_epoch().count();
}

void Reconciler::make_reporter() {
  reporter_.reset();
  desired_.reset();
  if (!cfg_.dashboard || cfg_.dashboard->url.empty()) return;
  auto token = report::make_token_provider(*cfg_.dashboard);
  reporter_ = std::make_unique<report::Reporter>(*cfg_.dashboard, cfg_.agent.project,
                                                 opts_.state_dir + "/report", token);
  if (!cfg_.dashboard->desired_url.empty()) {
    desired_ = std::make_unique<report::DesiredFetcher>(*cfg_.dashboard, cfg_.agent.project,
                                                        opts_.state_dir + "/report", token);
    std::set<std::string> known;
    for (const auto& [n, _] : cfg_.services) known.insert(n);
    auto cached = desired_->load_cached(known);
    if (cached && *cached) pins_ = **cached;
    if (!cached) spdlog::warn("cached desired state ignored: {}", cached.error().message);
  }
}

Config Reconciler::effective_config() {
  Config c = cfg_;
  bool changed = false;
  if (desired_) {
    std::set<std::string> known;
    for (const auto& [n, _] : cfg_.services) known.insert(n);
    auto fetched = desired_->fetch(host_, known);
    if (fetched) {
      changed = fetched->changed;
      if (changed)
        spdlog::info("desired state from the dashboard {}: {} pin(s)",
                     url::for_log(cfg_.dashboard->desired_url), fetched->state.services.size());
      pins_ = fetched->state;
    } else {
      spdlog::warn("desired state not refreshed: {}", fetched.error().message);
    }
  }
  std::vector<PinOutcome> outcomes;
  if (pins_) outcomes = apply_pins(c, *pins_);
  note_pins(c, outcomes, changed || !pins_logged_);  // also once per start (cached pins)
  pins_logged_ = true;
  return c;
}

void Reconciler::note_pins(const Config& effective, const std::vector<PinOutcome>& outcomes,
                           bool log) {
  std::map<std::string, std::string> sources;
  std::vector<std::string> notes;
  for (const auto& [name, svc] : effective.services) {
    auto ref = parse_image_ref(svc.image);
    if (ref && !ref->digest.empty()) sources[name] = "config";
  }
  for (const auto& o : outcomes) {
    // Every pin received is logged with its source (when the document changed) and reported.
    if (o.applied) {
      sources[o.service] = "dashboard";
      if (log) spdlog::info("desired state (dashboard): {}", o.message);
    } else {
      notes.push_back("desired state (dashboard): " + o.message);
      if (log) spdlog::warn("desired state (dashboard): {}", o.message);
    }
  }
  std::lock_guard lock(status_mutex_);
  pin_sources_ = std::move(sources);
  pin_notes_ = std::move(notes);
}

bool Reconciler::connect_engine() {
  int backoff_ms = 500;
  while (!stopping_) {
    StackOptions so;
    so.state_dir = opts_.state_dir;
    so.stop = &stopping_;
    so.log_attempts = false;  // failures are logged once while they last (converge_failures)
    so.on_line = [this](const std::string& service, const std::string& line) {
      touch_progress();
      if (service.empty()) {
        spdlog::info("{}", line);
      } else {
        log::LogFields f{{log::kFieldService, service}, {log::kFieldOperation, "converge"}};
        spdlog::info("{}: {}", service, line);
      }
    };
    so.on_pull_progress = [this](const std::string& service, int pct) {
      touch_progress();
      std::lock_guard lock(status_mutex_);
      pull_percent_[service] = pct;
    };
    so.on_update_start = [this](const std::string& service) {
      std::lock_guard lock(status_mutex_);
      auto& s = services_[service];
      s.update_status = UpdateStatus::updating;
      pending_events_.push_back(
          {0, now_text(), service, EventKind::update_started, "", std::nullopt});
    };
    auto stack = Stack::create(cfg_, so);
    if (stack) {
      stack_ = std::move(*stack);
      if (!stack_->state_warning().empty()) spdlog::warn("{}", stack_->state_warning());
      engine_up_ = true;
      engine_error_.clear();
      return true;
    }
    engine_error_ = stack.error().message;
    notifier_.status("waiting for docker: " + engine_error_);
    spdlog::warn("waiting for docker: {} (retrying in {} ms)", engine_error_, backoff_ms);
    auto deadline = Clock::now() + std::chrono::milliseconds(backoff_ms);
    while (Clock::now() < deadline && !stopping_) {
      if (auto wd = notifier_.watchdog_interval()) notifier_.watchdog();
      auto m = queue_.pop_until(std::min(deadline, Clock::now() + std::chrono::seconds(1)));
      if (m && m->kind == Message::Kind::stop) stopping_ = true;
    }
    backoff_ms = std::min(backoff_ms * 2, 30000);
  }
  return false;
}

void Reconciler::add_event(const std::string& service, EventKind kind, const std::string& detail,
                           std::optional<int> exit_code) {
  std::lock_guard lock(status_mutex_);
  pending_events_.push_back({0, now_text(), service, kind, detail, exit_code});
}

void Reconciler::refresh_service(const std::string& service) {
  auto info =
      stack_->engine().inspect_container(naming::container_name(cfg_.agent.project, service));
  std::lock_guard lock(status_mutex_);
  auto& s = services_[service];
  s.name = service;
  if (!info) {
    if (info.error().kind == ErrorKind::not_found) {
      s.state = "missing";
      s.container_id.clear();
      s.health.clear();
    }
    return;
  }
  s.container_id = info->id;
  s.state = info->state;
  s.health = info->health;
  if (!info->health_output.empty()) s.health_output = info->health_output;
  s.started_at = info->started_at;
  s.restart_count = info->restart_count;
  s.job = runs_to_completion(cfg_, service);
  if (info->state == "exited" || info->state == "dead") {
    s.exit_code = info->exit_code;
    s.finished_at = info->finished_at;
    // A job that finished its work: done, not down.
    if (s.job && info->state == "exited" && info->exit_code == 0) s.state = "completed";
  } else {
    s.exit_code.reset();
    s.finished_at.clear();
  }
  auto d = info->labels.find(labels::kDigest);
  if (d != info->labels.end() && !d->second.empty()) s.digest = d->second;
}

void Reconciler::apply_report(const engine::ConvergeReport& report) {
  {
    std::lock_guard lock(status_mutex_);
    converge_notes_ = report.notes;
    for (auto& [name, st] : services_) {
      auto src = pin_sources_.find(name);
      st.pin_source = src == pin_sources_.end() ? std::string() : src->second;
    }
    // Services no longer configured leave the status.
    for (auto it = services_.begin(); it != services_.end();) {
      if (!cfg_.services.count(it->first))
        it = services_.erase(it);
      else
        ++it;
    }
    for (const auto& [name, r] : report.services) {
      auto& s = services_[name];
      s.name = name;
      std::string requested =
          r.image.requested.empty() ? cfg_.services.at(name).image : r.image.requested;
      if (auto ref = parse_image_ref(requested)) {
        s.image = ref->familiar_name();
        s.requested_tag = ref->tag;
      }
      if (!r.image.image.digest.empty() && r.ok && !r.quarantined) s.digest = r.image.image.digest;
      if (!r.previous_digest.empty() && r.changed && r.ok) s.previous_digest = r.previous_digest;
      s.last_error = r.error;
      s.failed_step = r.ok ? FailedStep::none : r.step;
      if (r.ok && r.image.stale) {  // runs, on an older image: the registry is retried
        s.last_error = r.image.note;
        s.failed_step = FailedStep::image;
      }
      s.log_tail = r.log_tail;
      if (!r.health_output.empty()) s.health_output = r.health_output;
      if (r.quarantined) {
        // The desired image failed before and is not retried: still rolled back.
        s.update_status = UpdateStatus::rolled_back;
      } else if (r.rolled_back) {
        s.update_status = UpdateStatus::rolled_back;
        pending_events_.push_back(
            {0, now_text(), name, EventKind::rolled_back,
             "rolled back to " + short_digest(r.previous_digest) + ": " + r.error, std::nullopt});
      } else if (r.image_failed) {
        // The registry could not be asked or the pull failed: what runs is stale.
        s.update_status = UpdateStatus::stale;
      } else if (!r.ok) {
        if (s.update_status == UpdateStatus::updating)
          pending_events_.push_back(
              {0, now_text(), name, EventKind::update_failed, r.error, std::nullopt});
        s.update_status = UpdateStatus::failed;
      } else {
        if (s.update_status == UpdateStatus::updating)
          pending_events_.push_back(
              {0, now_text(), name, EventKind::update_finished,
               short_digest(r.previous_digest) + " -> " + short_digest(r.image.image.digest),
               std::nullopt});
        s.update_status = r.image.stale ? UpdateStatus::stale : UpdateStatus::up_to_date;
      }
      s.pull_percent.reset();
    }
    pull_percent_.clear();
  }
  for (const auto& [name, _] : report.services) refresh_service(name);
}

void Reconciler::converge(const std::string& reason, bool first,
                          const std::vector<std::string>& only) {
  // A retry is said at debug level: it repeats while the cause lasts, the cause is logged once.
  spdlog::log(
      only.empty() && !reason.starts_with("retry") ? spdlog::level::info : spdlog::level::debug,
      "converging: {}", reason);
  {
    std::lock_guard lock(status_mutex_);
    converging_ = true;
  }
  publish();
  Config effective = effective_config();
  stack_->set_config(effective);
  touch_progress();
  auto fut = std::async(std::launch::async, [this, only] { return stack_->converge(only); });
  auto last_status = Clock::now();
  while (fut.wait_for(std::chrono::milliseconds(500)) != std::future_status::ready) {
    // The loop is alive while the converge runs: keep the watchdog fed, tell systemd what
    // berth is doing, and before READY=1 extend the start timeout while there is progress.
    auto since = Clock::now().time_since_epoch().count() - last_progress_ns_.load();
    bool progressing =
        since <
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::minutes(5)).count();
    if (progressing) notifier_.watchdog();
    if (first && progressing) notifier_.extend_timeout(std::chrono::seconds(120));
    if (Clock::now() - last_status > std::chrono::seconds(1)) {
      notifier_.status(status_line());
      last_status = Clock::now();
    }
  }
  auto report = fut.get();
  {
    std::lock_guard lock(status_mutex_);
    converging_ = false;
  }
  apply_report(report);
  last_converge_usec_ = now_usec();
  schedule_retry(report, only);  // logs what started or stopped failing
  if (report.ok) spdlog::info("converged: {}", status_line(false));
  notifier_.status(status_line());
  publish();
  // A converge parses manifests, pull streams and inspect answers; give the freed heap pages
  // back before going idle (malloc keeps them otherwise).
  malloc_trim(0);
}

void Reconciler::schedule_retry(const engine::ConvergeReport& report,
                                const std::vector<std::string>& only) {
  std::set<std::string> scope(only.begin(), only.end());
  if (only.empty())
    for (const auto& [n, _] : cfg_.services) scope.insert(n);
  for (const auto& n : failures_.services())
    if (!cfg_.services.count(n)) scope.insert(n);  // no longer configured: nothing to retry
  auto changes = failures_.update(failure_causes(report), scope);
  log_failure_changes(changes, retry_.attempts());
  if (failures_.empty()) {
    retry_.succeeded();
    next_retry_ = Clock::time_point::max();
    next_retry_at_.clear();
    retry_only_.clear();
    return;
  }
  retry_.set_cap(cfg_.agent.retry_max);
  auto now = Clock::now();
  next_retry_ = retry_.failed(now);
  next_retry_at_ = report::format_rfc3339(
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(next_retry_ - now));
  // Only the failed part: the services that failed, or everything when the stack itself did.
  retry_only_ = failures_.current().count("") ? std::vector<std::string>{} : failures_.services();
}

void Reconciler::retry_now() {
  std::string what = retry_only_.empty() ? "the stack" : "";
  for (const auto& n : retry_only_) what += (what.empty() ? "" : ", ") + n;
  converge("retry " + std::to_string(retry_.attempts()) + " of " + what, false, retry_only_);
}

void Reconciler::reload() {
  notifier_.reloading();
  spdlog::info("reloading {}", opts_.config_path);
  auto outcome = config::load_config_file(opts_.config_path);
  if (!outcome.ok()) {
    for (const auto& d : outcome.diagnostics) spdlog::error("{}", config::to_string(d));
    config_problem_ = "configuration rejected (" + std::to_string(outcome.diagnostics.size()) +
                      " error(s)); still running the previous one";
    spdlog::error("{}", config_problem_);
    notifier_.status(status_line());
    notifier_.ready();
    publish();
    return;
  }
  config_problem_.clear();
  bool project_changed = outcome.config->agent.project != cfg_.agent.project;
  cfg_ = std::move(*outcome.config);
  if (project_changed)
    spdlog::warn("project renamed to {}: the old project's containers are left as they are",
                 cfg_.agent.project);
  make_reporter();
  converge("configuration reloaded");
  notifier_.ready();
}

void Reconciler::restart(const std::string& service,
                         const std::shared_ptr<std::promise<Result<void>>>& reply) {
  Result<void> r;
  if (!cfg_.services.count(service)) {
    r = fail("unknown service \"" + service + "\"", ErrorKind::not_found);
  } else {
    log::LogFields f{{log::kFieldService, service}, {log::kFieldOperation, "restart"}};
    r = stack_->restart_service(service);
    if (!r) spdlog::error("restart {}: {}", service, r.error().message);
    refresh_service(service);
    notifier_.status(status_line());
    publish();
  }
  if (reply) reply->set_value(r);
}

void Reconciler::handle_event(const EngineEvent& ev) {
  auto svc_it = ev.attributes.find(labels::kService);
  if (svc_it == ev.attributes.end()) return;
  const std::string& service = svc_it->second;
  if (!cfg_.services.count(service)) return;
  auto name_it = ev.attributes.find("name");
  // Only the service's own container (not -next/-prev during an update).
  if (name_it != ev.attributes.end() &&
      name_it->second != naming::container_name(cfg_.agent.project, service))
    return;
  std::string previous_health;
  {
    std::lock_guard lock(status_mutex_);
    previous_health = services_[service].health;
  }
  log::LogFields f{{log::kFieldService, service}, {log::kFieldContainer, ev.id.substr(0, 12)}};
  refresh_service(service);
  std::string current_id;
  {
    std::lock_guard lock(status_mutex_);
    current_id = services_[service].container_id;
  }
  // A container berth replaced during an update dies under the service's name before it is
  // renamed: only the container that now holds the name counts.
  bool current = current_id.empty() || ev.id.empty() || current_id == ev.id;
  if (ev.action == "die" && current) {
    on_exit(service, ev);
  } else if (ev.action == "oom" && current) {
    spdlog::warn("container of {} ran out of memory", service);
  }
  std::string health;
  std::string output;
  std::string restart_policy = cfg_.services.at(service).restart;
  {
    std::lock_guard lock(status_mutex_);
    health = services_[service].health;
    output = services_[service].health_output;
  }
  if (ev.action.starts_with("health_status")) {
    if (health == "unhealthy" && previous_health != "unhealthy") {
      spdlog::warn("{} is unhealthy: {}", service, output);
      add_event(service, EventKind::unhealthy, output);
      // Docker's restart policy reacts to exits only; berth applies it to failed health checks
      // too, at most once a minute per service.
      if (restart_policy != "no") {
        auto& last = last_auto_restart_[service];
        if (Clock::now() - last > std::chrono::minutes(1)) {
          last = Clock::now();
          spdlog::warn("restarting {} (unhealthy, restart policy {})", service, restart_policy);
          // The restart blocks this thread for up to the stop timeout: report the unhealthy
          // service first, not only once it has been restarted.
          notifier_.status(status_line());
          publish();
          (void)stack_->restart_service(service);
          refresh_service(service);
        }
      }
    } else if (health == "healthy" && previous_health == "unhealthy") {
      spdlog::info("{} is healthy again", service);
      add_event(service, EventKind::recovered, "");
    }
  }
  // STATUS= says what the stack is like now (a container died, was removed, turned unhealthy),
  // not only what it was at the last converge.
  notifier_.status(status_line());
  publish();
}

// The service's own container exited: a `died` event, unless a job ended its work (exit 0).
void Reconciler::on_exit(const std::string& service, const EngineEvent& ev) {
  std::optional<int> code;
  if (auto c = ev.attributes.find("exitCode"); c != ev.attributes.end()) {
    try {
      code = std::stoi(c->second);
    } catch (...) {
    }
  }
  if (code == 0 && runs_to_completion(cfg_, service)) {
    spdlog::info("{} completed (exit code 0)", service);
    return;
  }
  spdlog::warn("container of {} exited with code {}", service, code ? *code : -1);
  add_event(service, EventKind::died, "exited with code " + std::to_string(code ? *code : -1),
            code);
}

std::string Reconciler::status_line(bool retry_cause) {
  std::lock_guard lock(status_mutex_);
  if (!engine_up_)
    return "waiting for docker" + (engine_error_.empty() ? "" : ": " + engine_error_);
  if (!pull_percent_.empty()) {
    std::string s = "pulling";
    for (const auto& [n, p] : pull_percent_)
      if (p < 100) s += " " + n + " " + std::to_string(p) + "%";
    if (s != "pulling") return s;
  }
  size_t total = cfg_.services.size();
  size_t good = 0;
  std::vector<std::string> bad;
  for (const auto& [n, s] : services_) {
    bool ok = s.state == "running" && (s.health.empty() || s.health == "healthy");
    if (s.state == "completed" || (s.state == "exited" && s.exit_code && *s.exit_code == 0))
      ok = true;
    if (ok)
      ++good;
    else
      bad.push_back(n + ": " + (s.health == "unhealthy" ? "unhealthy" : s.state));
  }
  std::string line = (converging_ ? "converging: " : "") + std::to_string(good) + "/" +
                     std::to_string(total) + " services healthy";
  for (const auto& b : bad) line += "; " + b;
  if (!failures_.empty() && !next_retry_at_.empty()) {
    // "retry 3 at 08:31:12 UTC (web: image: registry unreachable ...)"
    line += "; retry " + std::to_string(retry_.attempts()) + " at " + next_retry_at_.substr(11, 8) +
            " UTC";
    // Not in berth's own log lines: the cause is logged once, when it appears.
    if (retry_cause) line += " (" + cause_summary(failures_.current().begin()->second, 160) + ")";
  }
  if (!config_problem_.empty()) line += "; " + config_problem_;
  return line;
}

void Reconciler::publish() {
  StackStatus st;
  std::vector<StatusEvent> events;
  {
    std::lock_guard lock(status_mutex_);
    st.project = cfg_.agent.project;
    st.config_version = cfg_.agent.config_version;
    st.agent_version = BERTH_VERSION;
    st.agent_started_at = started_at_;
    st.host = host_;
    st.next_retry_at = next_retry_at_;
    st.retry_attempt = next_retry_at_.empty() ? 0 : retry_.attempts();
    st.notes = converge_notes_;
    st.notes.insert(st.notes.end(), pin_notes_.begin(), pin_notes_.end());
    for (const auto& [n, s] : services_) {
      ServiceStatus copy = s;
      if (auto p = pull_percent_.find(n); p != pull_percent_.end()) {
        copy.pull_percent = p->second;
        copy.update_status = UpdateStatus::pulling;
      }
      st.services.push_back(copy);
    }
    st.overall = engine_up_ ? compute_overall(st.services, converging_) : OverallState::failed;
    events.swap(pending_events_);
  }
  sort_services(st.services);
  if (reporter_) reporter_->publish(st, events);
  if (dbus_) {
    DbusSnapshot snap;
    snap.state = std::string(to_string(st.overall));
    snap.config_version = st.config_version;
    snap.last_converge_usec = last_converge_usec_;
    for (const auto& s : st.services)
      snap.services.push_back(
          {s.name, s.image + (s.requested_tag.empty() ? "" : ":" + s.requested_tag),
           s.requested_tag, s.digest, s.state, s.health.empty() ? "none" : s.health,
           std::string(to_string(s.update_status)), s.last_error});
    nlohmann::json j = to_status_json(st);
    j["status"] = status_line();
    snap.status_json = j.dump();
    dbus_->publish(snap);
  }
}

// One message of the queue. True when the configuration was reloaded (the timer restarts).
bool Reconciler::handle_message(const Message& msg) {
  switch (msg.kind) {
    case Message::Kind::stop:
      stopping_ = true;
      break;
    case Message::Kind::converge:
      if (engine_up_) converge(msg.reason);
      break;
    case Message::Kind::reload:
      reload();
      return true;
    case Message::Kind::restart_service:
      restart(msg.service, msg.reply);
      break;
    case Message::Kind::engine_event:
      if (engine_up_) handle_event(msg.event);
      break;
    case Message::Kind::engine_lost:
      if (engine_up_) {
        engine_up_ = false;
        engine_error_ = msg.reason;
        spdlog::warn("lost docker: {} (containers keep running; reconnecting)", msg.reason);
        notifier_.status(status_line());
        publish();
      }
      break;
    case Message::Kind::engine_back:
      engine_up_ = true;
      engine_error_.clear();
      spdlog::info("docker is back: converging again");
      stack_->forget_engine_info();  // it may have restarted with other defaults
      converge("docker reconnected");
      break;
  }
  return false;
}

int Reconciler::run() {
  // Block the signals before any thread exists so that only the signal thread takes them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  start_signal_thread();

  notifier_.status("starting");
  host_ = report::gather_host_info();
  make_reporter();

  std::string bus = opts_.dbus_bus;
  if (bus.empty()) {
    const char* env = std::getenv("BERTH_DBUS_ADDRESS");
    bus = env && *env ? env : "system";
  }
  if (bus != "none") {
    dbus_ = std::make_unique<DbusService>(*this, bus);
    dbus_->start();
  }
  for (const auto& [n, _] : cfg_.services) services_[n].name = n;
  publish();

  if (!connect_engine()) {
    notifier_.stopping();
    stop_threads();
    return 0;
  }
  converge("start", true);
  notifier_.ready();
  spdlog::info("ready: {}", status_line(false));
  start_events_thread();

  auto wd = notifier_.watchdog_interval();
  auto next_watchdog = Clock::now();
  std::mt19937_64 rng(std::random_device{}());
  auto jittered = [&](Millis interval) {
    std::uniform_real_distribution<double> d(0.9, 1.1);
    return Clock::now() + std::chrono::milliseconds(static_cast<long long>(
                              static_cast<double>(interval.count()) * d(rng)));
  };
  // Periodic update checks; Clock::time_point::max() = none.
  auto schedule_update = [&] {
    return cfg_.agent.update_interval.count() > 0 ? jittered(cfg_.agent.update_interval)
                                                  : Clock::time_point::max();
  };
  Clock::time_point next_update = schedule_update();

  while (!stopping_) {
    auto deadline = Clock::now() + std::chrono::hours(1);
    if (wd) deadline = std::min(deadline, next_watchdog);
    deadline = std::min(deadline, next_update);
    deadline = std::min(deadline, next_retry_);
    auto msg = queue_.pop_until(deadline);
    if (wd && Clock::now() >= next_watchdog) {
      notifier_.watchdog();  // from the loop itself: a stuck loop gets berth restarted
      next_watchdog = Clock::now() + std::chrono::duration_cast<Clock::duration>(*wd);
    }
    if (Clock::now() >= next_update) {
      queue_.push({Message::Kind::converge, "periodic update check", "", {}, nullptr});
      next_update = schedule_update();
    }
    // While Docker is away the reconnect converges; the retry waits for it.
    if (Clock::now() >= next_retry_ && engine_up_) retry_now();
    if (msg && handle_message(*msg)) next_update = schedule_update();
  }
  notifier_.stopping();
  notifier_.status("stopping");
  spdlog::info("stopping: containers keep running under docker's restart policy");
  stop_threads();
  return 0;
}

}  // namespace berth::daemon
