#include "engine/swap.hpp"

#include <chrono>
#include <cstdio>
#include <optional>

#include "core/naming.hpp"
#include "core/preflight.hpp"
#include "engine/container_text.hpp"

namespace berth::engine {

namespace {

using Clock = std::chrono::steady_clock;

// One update of one service. The methods are the strategies and their steps.
class Swap {
 public:
  Swap(const SwapContext& ctx, const SwapRequest& req)
      : c_(ctx),
        r_(req),
        old_(*req.old),
        cname_(naming::container_name(req.project, req.name)),
        next_(naming::next_name(req.project, req.name)),
        prev_(naming::prev_name(req.project, req.name)),
        old_running_(old_.state == "running" || old_.state == "restarting") {
    out_.previous_digest = label_of(old_, labels::kDigest);
    out_.previous_image_id = label_of(old_, labels::kImage);
  }

  SwapOutcome run();

 private:
  bool create_next(const nlohmann::json& body, int step, const char* what);
  void start_first();
  void stop_first();
  bool preflight();
  Ready wait_new(const Probe* probe);
  std::optional<Ready> start_new(int step, const char* what);
  void rollback(const std::string& why, const ContainerInfo& bad, bool verdict);
  void failed(FailedStep step, const std::string& why, bool rolled_back, const ContainerInfo& info);
  void succeeded(const Ready& r);
  void remove_new(int step, const char* what);
  const Probe* trial_probe();

  const SwapContext& c_;
  const SwapRequest& r_;
  const ContainerInfo& old_;
  std::string cname_, next_, prev_;
  bool old_running_;
  std::string nid_;  // the new (or trial) container
  Probe trial_probe_;
  SwapOutcome out_;
};

SwapOutcome Swap::run() {
  c_.line("updating " + cname_ + ": " + r_.reason);
  if (r_.svc->update_strategy == UpdateStrategy::preflight && !preflight()) return out_;
  if (!create_next(r_.body, 1, "create new container")) return out_;
  if (r_.svc->update_strategy == UpdateStrategy::start_first)
    start_first();
  else
    stop_first();
  return out_;
}

bool Swap::create_next(const nlohmann::json& body, int step, const char* what) {
  c_.step(step, what);
  (void)c_.engine.remove_container(next_, true, false);  // a stale leftover, if any
  auto created = c_.engine.create_container(next_, body);
  ++c_.ops;
  if (!created) {
    failed(FailedStep::create, "create " + next_ + ": " + created.error().message, false, old_);
    return false;
  }
  nid_ = *created;
  return true;
}

Ready Swap::wait_new(const Probe* probe) {
  WaitFor w;
  w.svc = r_.svc;
  w.container = nid_;
  w.want_completed = r_.want_completed;
  w.timeout = r_.timeout;
  w.fresh = true;
  w.probe = probe;
  return c_.waiter.wait(w);
}

// Starts the new container and waits for it; rolled back (nullopt) when it is not ready.
std::optional<Ready> Swap::start_new(int step, const char* what) {
  c_.step(step, what);
  c_.events.open();  // its exit must not be missed
  auto started = c_.engine.start_container(nid_);
  ++c_.ops;
  if (!started) {
    out_.step = FailedStep::start;
    rollback("did not start: " + started.error().message, ContainerInfo{},
             !c_.waiter.engine_unreachable(started.error()));
    return std::nullopt;
  }
  c_.acted();
  Ready r = wait_new(r_.svc->probe ? &*r_.svc->probe : nullptr);
  if (!r.ok) {
    rollback(r.error, r.info, !r.no_verdict);
    out_.ready = r;
    return std::nullopt;
  }
  return r;
}

void Swap::start_first() {
  auto r = start_new(2, "start new container beside the old one");
  if (!r) return;
  c_.step(3, "stop old container");
  (void)c_.engine.stop_container(old_.id, -1, "");
  c_.step(4, "rename old container");
  (void)c_.engine.rename_container(old_.id, prev_);
  c_.step(5, "rename new container");
  auto rn = c_.engine.rename_container(nid_, cname_);
  c_.ops += 3;
  if (!rn) c_.line("warning: rename " + next_ + " -> " + cname_ + ": " + rn.error().message);
  c_.step(6, "remove old container");
  (void)c_.engine.remove_container(old_.id, true, false);
  ++c_.ops;
  c_.line("container " + cname_ + " updated (start-first)");
  succeeded(*r);
}

void Swap::stop_first() {
  c_.step(2, "stop old container");
  auto stopped = c_.engine.stop_container(old_.id, -1, "");
  ++c_.ops;
  if (!stopped && stopped.error().kind != ErrorKind::not_found) {
    (void)c_.engine.remove_container(nid_, true, false);
    failed(FailedStep::swap, "stop " + cname_ + ": " + stopped.error().message, false, old_);
    return;
  }
  c_.step(3, "rename old container");
  auto r1 = c_.engine.rename_container(old_.id, prev_);
  ++c_.ops;
  if (!r1) {
    (void)c_.engine.remove_container(nid_, true, false);
    if (old_running_) (void)c_.engine.start_container(old_.id);
    failed(FailedStep::swap, "rename " + cname_ + " -> " + prev_ + ": " + r1.error().message, false,
           old_);
    return;
  }
  c_.step(4, "rename new container");
  auto r2 = c_.engine.rename_container(nid_, cname_);
  ++c_.ops;
  if (!r2) {
    out_.step = FailedStep::swap;
    rollback("could not take the name " + cname_ + ": " + r2.error().message, ContainerInfo{},
             !c_.waiter.engine_unreachable(r2.error()));
    return;
  }
  auto t0 = Clock::now();
  auto r = start_new(5, "start new container");
  if (!r) return;
  c_.step(6, "remove old container");
  (void)c_.engine.remove_container(old_.id, true, false);
  ++c_.ops;
  c_.line("container " + cname_ + " updated, " + (r->checked ? "healthy" : "running") + " after " +
          seconds_text(Clock::now() - t0));
  succeeded(*r);
}

// The trial: true when the new container was healthy beside the old one (and is gone again).
bool Swap::preflight() {
  if (!create_next(preflight_body(r_.body), 10, "create preflight container")) return false;
  c_.step(11, "start preflight container");
  c_.events.open();
  auto started = c_.engine.start_container(nid_);
  ++c_.ops;
  Ready r;
  if (!started) {
    r.error = "did not start: " + started.error().message;
    r.no_verdict = c_.waiter.engine_unreachable(started.error());
  } else {
    c_.line("preflight: " + next_ + " started beside " + cname_ + " (no published ports)");
    auto t0 = Clock::now();
    r = wait_new(trial_probe());
    if (r.ok)
      c_.line("preflight: " + next_ + " " + (r.checked ? "healthy" : "running") + " after " +
              seconds_text(Clock::now() - t0) + "; swapping");
  }
  remove_new(12, "remove preflight container");
  if (r.ok) return true;
  out_.ready = r;
  if (r.no_verdict) {
    c_.line("preflight of " + cname_ + " interrupted (the old one keeps running): " + r.error);
    failed(FailedStep::health, "update interrupted, docker unreachable: " + r.error, false, old_);
  } else {
    c_.line("preflight of " + cname_ + " failed (" + cname_ + " was not stopped): " + r.error);
    failed(FailedStep::health, "update rolled back: preflight container " + r.error, true, r.info);
  }
  return false;
}

// The probe for the trial container: berth's probe aimed at the container's own address (it
// publishes no ports); none when Docker's check judges it.
const Probe* Swap::trial_probe() {
  if (!r_.svc->probe) return nullptr;
  if (r_.svc->healthcheck && !r_.svc->healthcheck->disable) return nullptr;
  auto info = c_.engine.inspect_container(nid_);
  std::string address;
  if (info) {
    auto it = info->addresses.find(naming::network_name(r_.project));
    address = it != info->addresses.end() ? it->second
              : info->addresses.empty()   ? ""
                                          : info->addresses.begin()->second;
  }
  if (address.empty()) return &*r_.svc->probe;  // no address of its own (host network)
  trial_probe_ = probe_for_container(*r_.svc->probe, r_.svc->ports, address);
  return &trial_probe_;
}

void Swap::remove_new(int step, const char* what) {
  c_.step(step, what);
  (void)c_.engine.stop_container(nid_, 5, "");
  (void)c_.engine.remove_container(nid_, true, false);
  c_.ops += 2;
}

// verdict: the new container was judged (did not start, exited, unhealthy) and is rolled back
// for it; without one (Docker unreachable mid-update) the old container is put back as far as
// Docker lets, the service is "failed", and the next converge finishes the job.
void Swap::rollback(const std::string& why, const ContainerInfo& bad, bool verdict) {
  // The cause last: it may end in the container's log lines.
  if (!verdict) {
    c_.line("update of " + cname_ + " interrupted, putting the old one back: " + why);
  } else {
    c_.line("update of " + cname_ + " failed, rolling back: " + why);
  }
  // The service is down until the old container runs again: the new one is killed (it was
  // judged, or Docker is gone: no graceful stop), the old one started before it takes its name
  // back (a running container can be renamed).
  c_.step(90, "rollback: remove new container");
  (void)c_.engine.remove_container(nid_, true, false);
  c_.step(91, "rollback: restore old container");
  if (old_running_) (void)c_.engine.start_container(old_.id);
  auto cur = c_.engine.inspect_container(old_.id);
  if (cur && cur->name != cname_) (void)c_.engine.rename_container(old_.id, cname_);
  c_.ops += 3;
  FailedStep step = out_.step == FailedStep::none ? FailedStep::health : out_.step;
  if (!verdict) {
    failed(step, "update interrupted, docker unreachable: " + why, false, bad);
    return;
  }
  c_.line("rolled back " + cname_ + " to " + short_id(out_.previous_image_id));
  failed(step, "update rolled back: new container " + why, true, bad);
}

void Swap::failed(FailedStep step, const std::string& why, bool rolled_back,
                  const ContainerInfo& info) {
  out_.ok = false;
  out_.step = step;
  out_.rolled_back = rolled_back;
  out_.error = why;
  out_.container_id = old_.id;
  out_.ready.info = info;
}

void Swap::succeeded(const Ready& r) {
  out_.ok = true;
  out_.replaced = true;
  out_.container_id = nid_;
  out_.ready = r;
}

}  // namespace

SwapOutcome swap_container(const SwapContext& ctx, const SwapRequest& req) {
  return Swap(ctx, req).run();
}

}  // namespace berth::engine
