#include "engine/lifecycle.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "core/duration.hpp"
#include "core/graph.hpp"
#include "core/image_ref.hpp"
#include "core/label_trust.hpp"
#include "core/naming.hpp"
#include "engine/container_events.hpp"
#include "engine/container_text.hpp"
#include "engine/health_wait.hpp"
#include "engine/swap.hpp"

namespace berth::engine {

using Clock = std::chrono::steady_clock;

namespace {

// Run fn for every item on its own thread, at most `limit` at once.
template <typename Fn>
void run_bounded(const std::vector<std::string>& items, int limit, Fn fn) {
  std::mutex m;
  size_t next = 0;
  auto worker = [&] {
    while (true) {
      std::string item;
      {
        std::lock_guard lock(m);
        if (next >= items.size()) return;
        item = items[next++];
      }
      fn(item);
    }
  };
  std::vector<std::thread> threads;
  int n = std::max(1, std::min<int>(limit, static_cast<int>(items.size())));
  for (int i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
}

}  // namespace

Millis health_timeout(const ServiceSpec& svc) {
  if (svc.health_timeout) return *svc.health_timeout;
  Millis slack{10000};
  if (svc.probe) {
    const auto& p = *svc.probe;
    return p.start_period + (p.interval + p.timeout) * (p.retries + 1) + slack;
  }
  if (svc.healthcheck && !svc.healthcheck->disable) {
    const auto& h = *svc.healthcheck;
    Millis interval = h.interval.count() ? h.interval : Millis{30000};
    Millis timeout = h.timeout.count() ? h.timeout : Millis{30000};
    int retries = h.retries ? h.retries : 3;
    return h.start_period + (interval + timeout) * (retries + 1) + slack;
  }
  // Unknown check (maybe from the image): Docker's defaults.
  return Millis{30000 + 30000} * 4 + slack;
}

Lifecycle::Lifecycle(Engine& engine, ImageSource& images, LifecycleOptions opts,
                     LifecycleHooks hooks)
    : engine_(engine), images_(images), opts_(std::move(opts)), hooks_(std::move(hooks)) {}

void Lifecycle::line(const std::string& service, const std::string& text) {
  if (hooks_.on_line) hooks_.on_line(service, text);
}

Result<Observed> Lifecycle::observe(const std::string& project) {
  Observed o;
  std::vector<std::string> filter{std::string(labels::kProject) + "=" + project};
  auto cs = engine_.list_containers(filter);
  if (!cs) return fail(cs.error());
  o.containers = std::move(*cs);
  auto ns = engine_.list_networks(filter);
  if (!ns) return fail(ns.error());
  o.networks = std::move(*ns);
  // Also find an unlabelled network of the same name (created by hand): reuse it.
  auto vs = engine_.list_volumes(filter);
  if (!vs) return fail(vs.error());
  o.volumes = std::move(*vs);
  return o;
}

Result<TargetState> Lifecycle::desired(const Config& cfg,
                                       const std::map<std::string, ImageStatus>& images) {
  TargetState d;
  d.project = cfg.agent.project;
  d.remove_foreign = cfg.agent.remove_foreign;
  for (const auto& [name, svc] : cfg.services) {
    TargetService ds;
    ds.name = name;
    nlohmann::json body = container_body(svc, opts_.spec);
    ds.config_hash = config_hash(body);
    ds.uses_project_network = svc.network_mode.empty();
    for (const auto& v : svc.volumes)
      if (v.type == VolumeMount::Type::named)
        ds.named_volumes.push_back(naming::volume_name(d.project, v.source));
    ds.oneshot = runs_to_completion(cfg, name);
    auto it = images.find(name);
    if (it != images.end()) {
      ds.image_id = it->second.image.image_id;
      ds.body =
          finalize_body(std::move(body), ds.config_hash, it->second.image, it->second.requested);
    }
    d.services[name] = std::move(ds);
  }
  return d;
}

namespace {

// Shared progress of the service tasks of one converge.
struct TaskState {
  bool acted = false;  // its container exists and was started (or already ran)
  bool done = false;   // readiness decided
  bool ok = false;
  bool completed = false;  // exited 0
  bool checked = false;    // has a health check and passed it
  bool replaced = false;   // a new container replaced the old one in this converge
  std::string error;
};

// What a wait found out about a container, into its service's report.
void record_ready(ServiceReport& s, const Ready& r) {
  s.state = r.info.state;
  s.health = r.info.health;
  s.health_output = r.info.health_output;
  s.completed = r.completed;
  s.exit_code = r.exit_code;
  s.log_tail = r.log_tail;
}

void record_swap(ServiceReport& s, const SwapOutcome& out) {
  record_ready(s, out.ready);
  s.ok = out.ok;
  s.changed = true;
  s.rolled_back = out.rolled_back;
  s.container_id = out.container_id;
  s.previous_digest = out.previous_digest;
  s.previous_image_id = out.previous_image_id;
  if (!out.ok) {
    s.error = out.error;
    s.step = out.step;
  }
}

}  // namespace

// A configured log driver the engine does not have would fail at create or start, after the
// old container was stopped: refused here, before anything is touched, for that service only.
void Lifecycle::check_engine_support(const Config& cfg, const std::vector<std::string>& names,
                                     ConvergeReport& rep) {
  for (const auto& name : names) {
    std::string problem = log_driver_problem(cfg.services.at(name), opts_.engine);
    if (problem.empty()) continue;
    auto& s = rep.services[name];
    s.error = problem;
    s.step = FailedStep::config;
  }
}

ConvergeReport Lifecycle::up(const Config& cfg, const std::vector<std::string>& only) {
  ConvergeReport rep;
  std::mutex rep_mutex;
  std::atomic<int> ops{0};
  const std::string& project = cfg.agent.project;

  std::vector<std::string> names;
  for (const auto& [name, _] : cfg.services)
    if (only.empty() || std::find(only.begin(), only.end(), name) != only.end())
      names.push_back(name);
  for (const auto& n : names) rep.services[n].name = n;

  // 1. Images first: every changed image is present before any container is touched. The
  // checks (digest lookup, inspect) run up to image_check_concurrency at once, the pulls only
  // pull_concurrency: a no-op converge of a large stack is bound by the checks' round trips.
  std::map<std::string, ImageStatus> images;
  PullSlots pulls(opts_.pull_concurrency);
  run_bounded(names, std::max(opts_.pull_concurrency, opts_.image_check_concurrency),
              [&](const std::string& name) {
                const ServiceSpec& svc = cfg.services.at(name);
                auto st = images_.ensure(
                    svc,
                    [&](const std::string& s, int pct) {
                      if (hooks_.on_pull_progress) hooks_.on_pull_progress(s, pct);
                    },
                    pulls);
                std::lock_guard lock(rep_mutex);
                if (st) {
                  if (st->pulled)
                    line(name,
                         "image " + svc.image + " pulled (" + short_id(st->image.image_id) + ")");
                  // st->note (a registry that cannot be reached) is in the report: `up` prints
                  // it, the daemon logs it once while it lasts (not at every retry).
                  rep.services[name].image = *st;
                  images[name] = *st;
                } else {
                  rep.services[name].image_failed = true;
                  rep.services[name].error = st.error().message;
                  rep.services[name].step = FailedStep::image;
                }
              });
  check_engine_support(cfg, names, rep);

  // 2. Observe and finish (or undo) any update a crash interrupted.
  auto observed = observe(project);
  if (!observed) {
    rep.errors.push_back(observed.error().message);
    return rep;
  }
  {
    auto d = desired(cfg, images);
    if (!d) {
      rep.errors.push_back(d.error().message);
      return rep;
    }
    Plan first = make_plan(*d, *observed);
    // Per service: the leftovers of an interrupted swap (-next, -prev) and what holds its name.
    struct Leftovers {
      const Action* next = nullptr;
      const Action* prev = nullptr;
    };
    std::map<std::string, Leftovers> leftovers;
    for (const auto& a : first.cleanup) {
      if (a.type != ActionType::recover) continue;
      if (a.container_name == naming::prev_name(project, a.target))
        leftovers[a.target].prev = &a;
      else
        leftovers[a.target].next = &a;
    }
    auto drop = [&](const std::string& id) {
      (void)engine_.stop_container(id, 10, "");
      auto r = engine_.remove_container(id, true, false);
      ops += 2;
      if (!r && r.error().kind != ErrorKind::not_found) rep.errors.push_back(r.error().message);
    };
    bool recovered = !leftovers.empty();
    for (const auto& [svc, lo] : leftovers) {
      std::string final_name = naming::container_name(project, svc);
      if (lo.next) {
        // Created but never swapped in: not needed.
        line(svc, "undoing interrupted update: removing " + lo.next->container_name);
        drop(lo.next->container_id);
      }
      if (!lo.prev) continue;
      const ContainerInfo* cur =
          first.services.count(svc) ? first.services.at(svc).current : nullptr;
      std::optional<ContainerInfo> now;
      if (cur) {
        auto i = engine_.inspect_container(cur->id);
        if (i) now = *i;
      }
      // The new container holds the name. Only when it runs and passed its check was the swap
      // complete (the crash came before the old one was removed); otherwise (not started yet,
      // still starting, unhealthy: a rollback was under way) the old one goes back.
      bool verified =
          now && now->state == "running" && (now->health == "healthy" || now->health.empty());
      if (verified) {
        line(svc, "finishing interrupted update: removing " + lo.prev->container_name);
        drop(lo.prev->container_id);
        continue;
      }
      if (cur) {
        line(svc,
             "undoing interrupted update: removing the unverified new container " + final_name);
        drop(cur->id);
      }
      line(svc, "undoing interrupted update: restoring " + lo.prev->container_name + " as " +
                    final_name);
      auto r = engine_.rename_container(lo.prev->container_id, final_name);
      ++ops;
      if (!r) {
        rep.errors.push_back(r.error().message);
        continue;
      }
      // It ran before the update stopped it (services run): start it again right away.
      auto st = engine_.start_container(lo.prev->container_id);
      ++ops;
      if (!st) rep.errors.push_back("start " + final_name + ": " + st.error().message);
    }
    if (recovered) {
      observed = observe(project);
      if (!observed) {
        rep.errors.push_back(observed.error().message);
        return rep;
      }
    }
  }

  auto desired_state = desired(cfg, images);
  if (!desired_state) {
    rep.errors.push_back(desired_state.error().message);
    return rep;
  }
  Plan plan = make_plan(*desired_state, *observed);

  // 3. Network and volumes.
  for (const auto& a : plan.infra) {
    std::map<std::string, std::string> lbl{{labels::kProject, project}};
    if (a.type == ActionType::create_network) {
      lbl[labels::kNetwork] = "default";
      auto r = engine_.create_network(a.target, lbl);
      if (!r && r.error().kind != ErrorKind::conflict) {
        rep.errors.push_back("network " + a.target + ": " + r.error().message);
        return rep;
      }
      line("", "network " + a.target + " created");
    } else if (a.type == ActionType::create_volume) {
      std::string key = a.target.substr(project.size() + 1);
      lbl[labels::kVolume] = key;
      auto r = engine_.create_volume(a.target, lbl);
      if (!r) {
        rep.errors.push_back("volume " + a.target + ": " + r.error().message);
        return rep;
      }
      line("", "volume " + a.target + " created");
    }
  }

  // 4. Orphans and strays (only on a full converge, never when a subset was asked for).
  if (only.empty()) {
    for (const auto& a : plan.cleanup) {
      if (a.type == ActionType::recover) continue;
      auto s = engine_.stop_container(a.container_id, -1, "");
      auto r = engine_.remove_container(a.container_id, true, false);
      ops += 2;
      if (!r && r.error().kind != ErrorKind::not_found) {
        rep.errors.push_back("remove " + a.container_name + ": " + r.error().message);
      } else {
        line(a.target, "container " + a.container_name + " removed (" + a.reason + ")");
      }
      (void)s;
    }
  }
  for (const auto& a : plan.foreign) {
    std::string note = "container " + a.container_name + " " + a.reason;
    line("", note);
    rep.notes.push_back(std::move(note));
  }

  // 5. Services, in dependency order, independent ones in parallel.
  std::map<std::string, TaskState> tasks;
  for (const auto& n : names) tasks[n] = TaskState{};
  std::mutex tm;
  std::condition_variable cv;

  auto finish = [&](const std::string& name, bool ok, const std::string& error, bool completed,
                    bool checked) {
    std::lock_guard lock(tm);
    auto& t = tasks[name];
    t.acted = true;
    t.done = true;
    t.ok = ok;
    t.error = error;
    t.completed = completed;
    t.checked = checked;
    cv.notify_all();
  };
  auto mark_replaced = [&](const std::string& name) {
    std::lock_guard lock(tm);
    tasks[name].replaced = true;
  };
  auto mark_acted = [&](const std::string& name) {
    std::lock_guard lock(tm);
    tasks[name].acted = true;
    cv.notify_all();
  };

  // Waits wake on the project's container events; polling is only the fallback (the stream is
  // opened by the first wait that has to block, so a converge with nothing to wait for does not
  // open it).
  ContainerEvents events(engine_, project);
  HealthWaiter waiter(engine_, events, opts_.poll_interval, opts_.stop);
  auto wait_ready = [&](const ServiceSpec& svc, const std::string& cid, bool want_completed,
                        Millis timeout, bool fresh) {
    WaitFor w;
    w.svc = &svc;
    w.container = cid;
    w.want_completed = want_completed;
    w.timeout = timeout;
    w.fresh = fresh;
    w.probe = svc.probe ? &*svc.probe : nullptr;
    return waiter.wait(w);
  };

  auto step = [&](const std::string& service, int n, const char* what) {
    if (hooks_.on_step) hooks_.on_step(service, n, what);
  };

  auto record = [&](const std::string& name, const std::function<void(ServiceReport&)>& fn) {
    std::lock_guard lock(rep_mutex);
    fn(rep.services[name]);
  };

  auto run_service = [&](const std::string& name) {
    const ServiceSpec& svc = cfg.services.at(name);
    const TargetService& want = desired_state->services.at(name);
    ServicePlan& sp = plan.services.at(name);

    // Wait for dependencies.
    for (const auto& dep : svc.depends_on) {
      if (!tasks.count(dep.service)) continue;  // not part of this run: assume it is there
      std::unique_lock lock(tm);
      bool need_done = dep.condition != DependsCondition::started;
      cv.wait(lock, [&] {
        const auto& t = tasks[dep.service];
        return need_done ? t.done : (t.acted || t.done);
      });
      const auto& t = tasks[dep.service];
      std::string problem;
      if (t.done && !t.ok) {
        problem = "dependency " + dep.service + " failed: " + t.error;
      } else if (dep.condition == DependsCondition::healthy && !t.checked) {
        problem = "dependency " + dep.service +
                  " has no health check (depends_on condition service_healthy)";
      } else if (dep.condition == DependsCondition::completed_successfully && !t.completed) {
        problem = "dependency " + dep.service + " did not complete successfully";
      }
      if (!problem.empty()) {
        lock.unlock();
        if (dep.required) {
          record(name, [&](ServiceReport& s) {
            s.error = problem;
            s.step = FailedStep::dependency;
          });
          finish(name, false, problem, false, false);
          return;
        }
        line(name, "warning: " + problem + " (not required, starting anyway)");
      }
    }

    bool blocked = false;  // no image, or the engine cannot run what is configured
    std::string image_error;
    {
      std::lock_guard lock(rep_mutex);
      const auto& s = rep.services[name];
      blocked = s.image_failed || s.step == FailedStep::config;
      image_error = s.error;
    }
    if (blocked) {
      // Keep whatever runs; a service with no container and no image cannot start.
      if (sp.current) {
        record(name, [&](ServiceReport& s) {
          s.container_id = sp.current->id;
          s.state = sp.current->state;
          s.health = sp.current->health;
        });
      }
      finish(name, false, image_error, false, false);
      return;
    }

    std::string cname = naming::container_name(project, name);
    std::string cid = sp.current ? sp.current->id : "";
    bool want_completed = want.oneshot;
    Millis timeout = health_timeout(svc);

    // The desired image failed its check before (quarantined): never deploy it again. The
    // container of the previous image keeps running; it is still started when it stopped, and a
    // configuration change is applied on its image.
    nlohmann::json body = want.body;
    if (sp.action && sp.current && sp.action->type == ActionType::recreate &&
        hooks_.is_quarantined && hooks_.is_quarantined(name, want.image_id)) {
      const ContainerInfo& c = *sp.current;
      std::string running_image = label_of(c, labels::kImage);
      std::string msg = "image " + short_id(want.image_id) +
                        " is quarantined after a failed health check; keeping image " +
                        short_id(running_image);
      if (sp.action->reason == "image changed") {
        sp.action.reset();
        bool up = c.state == "running" || c.state == "restarting";
        bool done = want.oneshot && c.state == "exited" && c.exit_code == 0;
        if (!up && !done) sp.action = Action{ActionType::start, name, c.id, cname, "not running"};
      } else if (!running_image.empty() && running_image != want.image_id) {
        std::string requested;
        {
          std::lock_guard lock(rep_mutex);
          requested = rep.services[name].image.requested;
        }
        ResolvedImage keep{running_image, running_image, label_of(c, labels::kDigest)};
        body = finalize_body(container_body(svc, opts_.spec), want.config_hash, keep, requested);
        msg += " (" + sp.action->reason + ": applied on that image)";
      }
      line(name, msg);
      record(name, [&](ServiceReport& s) {
        s.error = msg;
        s.quarantined = true;
      });
    }

    // depends_on.restart: a dependant of a service that was just replaced restarts after it,
    // as compose does.
    bool restart_first = false;
    if (!sp.action && sp.current) {
      for (const auto& dep : svc.depends_on) {
        if (!dep.restart || !tasks.count(dep.service)) continue;
        std::lock_guard lock(tm);
        if (tasks[dep.service].replaced) {
          sp.action = Action{ActionType::start, name, sp.current->id, cname,
                             "dependency " + dep.service + " was updated"};
          restart_first = true;
          break;
        }
      }
    }

    if (!sp.action) {
      // Up to date: just confirm readiness. The container list read a moment ago (step 2)
      // already says "running (healthy)", or running with no check at all, for most of a stack
      // in a no-op converge: one inspect per service less (50 inspects at N = 50).
      mark_acted(name);
      const ContainerInfo* listed = sp.current;
      Ready r;
      if (listed && !want_completed && listed->state == "running" &&
          (listed->health == "healthy" ||
           (listed->health.empty() && !svc.probe && !svc.healthcheck))) {
        r.ok = true;
        r.checked = listed->health == "healthy";
        r.info = *listed;
      } else {
        r = wait_ready(svc, cid, want_completed, timeout, false);
      }
      record(name, [&](ServiceReport& s) {
        s.container_id = cid;
        record_ready(s, r);
        s.ok = r.ok;
        if (!r.ok) {
          s.error = "container " + cname + " " + r.error;
          s.step = FailedStep::health;
        }
      });
      finish(name, r.ok, r.error, r.completed, r.checked);
      return;
    }

    const Action& a = *sp.action;
    if (a.type == ActionType::start || a.type == ActionType::create) {
      if (a.type == ActionType::create) {
        if (!a.container_id.empty()) (void)engine_.remove_container(a.container_id, true, false);
        auto created = engine_.create_container(cname, body);
        ++ops;
        if (!created) {
          std::string err = "create " + cname + ": " + created.error().message;
          record(name, [&](ServiceReport& s) {
            s.error = err;
            s.step = FailedStep::create;
          });
          finish(name, false, err, false, false);
          return;
        }
        cid = *created;
        line(name, "container " + cname + " created");
      }
      if (restart_first) {
        (void)engine_.stop_container(cid, -1, "");
        ++ops;
      }
      events.open();  // an exit right after the start must not be missed
      auto started = engine_.start_container(cid);
      ++ops;
      if (!started) {
        std::string err = "start " + cname + ": " + started.error().message;
        record(name, [&](ServiceReport& s) {
          s.error = err;
          s.step = FailedStep::start;
          s.container_id = cid;
          s.changed = true;
        });
        finish(name, false, err, false, false);
        return;
      }
      line(name,
           "container " + cname + " started" + (a.reason.empty() ? "" : " (" + a.reason + ")"));
      mark_acted(name);
      auto t0 = Clock::now();
      Ready r = wait_ready(svc, cid, want_completed, timeout, a.type == ActionType::create);
      if (r.ok && (r.checked || r.completed))
        line(name, "container " + cname + (r.completed ? " completed" : " healthy") + " after " +
                       seconds_text(Clock::now() - t0));
      record(name, [&](ServiceReport& s) {
        s.changed = true;
        s.container_id = cid;
        record_ready(s, r);
        s.ok = r.ok;
        if (!r.ok) {
          s.error = "container " + cname + " " + r.error;
          s.step = FailedStep::health;
        }
      });
      finish(name, r.ok, r.error, r.completed, r.checked);
      return;
    }

    // Recreate: a health-gated swap (engine/swap.hpp), by the service's update_strategy.
    if (hooks_.on_update_start) hooks_.on_update_start(name);
    SwapContext ctx{engine_,
                    waiter,
                    events,
                    ops,
                    [&](int n, const char* what) { step(name, n, what); },
                    [&](const std::string& text) { line(name, text); },
                    [&] { mark_acted(name); }};
    SwapRequest req{&svc, project, name, &*sp.current, body, want_completed, timeout, a.reason};
    SwapOutcome out = swap_container(ctx, req);
    if (out.replaced) mark_replaced(name);
    record(name, [&](ServiceReport& s) { record_swap(s, out); });
    finish(name, out.ok, out.error, out.ready.completed, out.ready.checked);
  };

  {
    std::vector<std::thread> threads;
    threads.reserve(names.size());
    for (const auto& n : names) threads.emplace_back(run_service, n);
    for (auto& t : threads) t.join();
  }

  rep.container_operations = ops.load();
  rep.ok = rep.errors.empty();
  for (const auto& [n, s] : rep.services) {
    if (!s.ok) {
      rep.ok = false;
      if (!s.error.empty()) rep.errors.push_back(n + ": " + s.error);
    }
  }
  return rep;
}

namespace {

// "db:service_healthy:false,cache:service_started:true" -> {"db", "cache"}
std::vector<std::string> depends_on_label(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto comma = text.find(',', pos);
    std::string item =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (auto dep = item.substr(0, item.find(':')); !dep.empty()) out.push_back(dep);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// The project's containers as `down` sees them: berth's (verified or legacy labels) by service
// with the dependencies their labels name, and the others, whose labels are not read at all.
struct DownSet {
  std::map<std::string, std::vector<const ContainerInfo*>> by_service;
  std::map<std::string, std::vector<std::string>> deps;
  std::vector<const ContainerInfo*> foreign;
};

DownSet sort_for_down(const Observed& o) {
  DownSet d;
  for (const auto& c : o.containers) {
    if (ownership(c.labels) == Ownership::foreign) {
      d.foreign.push_back(&c);
      continue;
    }
    std::string svc = label_of(c, labels::kService);
    d.by_service[svc].push_back(&c);
    auto& deps = d.deps[svc];
    for (auto& dep : depends_on_label(label_of(c, labels::kDependsOn))) deps.push_back(dep);
  }
  return d;
}

}  // namespace

Result<void> Lifecycle::stop_and_remove(const ContainerInfo& c, const std::string& service) {
  auto s = engine_.stop_container(c.id, -1, "");
  if (!s && s.error().kind != ErrorKind::not_found)
    return fail("stop " + c.name + ": " + s.error().message);
  auto r = engine_.remove_container(c.id, true, false);
  if (!r && r.error().kind != ErrorKind::not_found)
    return fail("remove " + c.name + ": " + r.error().message);
  line(service, "container " + c.name + " removed");
  return {};
}

Result<int> Lifecycle::down(const std::string& project, bool volumes) {
  auto observed = observe(project);
  if (!observed) return fail(observed.error());
  DownSet set = sort_for_down(*observed);
  std::mutex m;
  std::vector<std::string> errors;
  int removed = 0;
  auto remove_one = [&](const ContainerInfo& c, const std::string& service) {
    auto r = stop_and_remove(c, service);
    std::lock_guard lock(m);
    if (r)
      ++removed;
    else
      errors.push_back(r.error().message);
  };
  for (const ContainerInfo* c : set.foreign) {
    if (opts_.remove_foreign) {
      remove_one(*c, "");
      continue;
    }
    line("", "container " + c->name +
                 " has the project label but was not created by berth (its labels do not "
                 "verify): left alone (set [agent] remove_foreign = true to remove it)");
  }
  // Dependants stop before what they depend on; the services of one wave in parallel.
  for (const auto& wave : stop_waves(set.deps)) {
    std::vector<std::thread> threads;
    for (const auto& svc : wave)
      threads.emplace_back([&, svc] {
        for (const ContainerInfo* c : set.by_service[svc]) remove_one(*c, svc);
      });
    for (auto& t : threads) t.join();
  }
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
    return fail(all);
  }
  if (!set.foreign.empty() && !opts_.remove_foreign) {
    line("",
         "network and volumes kept: containers berth did not create still carry the "
         "project label");
    return removed;
  }
  if (auto r = remove_project_objects(*observed, volumes); !r) return fail(r.error());
  return removed;
}

Result<void> Lifecycle::remove_project_objects(const Observed& observed, bool volumes) {
  for (const auto& n : observed.networks) {
    auto r = engine_.remove_network(n.id.empty() ? n.name : n.id);
    if (!r && r.error().kind != ErrorKind::not_found)
      return fail("remove network " + n.name + ": " + r.error().message);
    line("", "network " + n.name + " removed");
  }
  if (!volumes) return {};
  for (const auto& v : observed.volumes) {
    auto r = engine_.remove_volume(v.name, false);
    if (!r && r.error().kind != ErrorKind::not_found)
      return fail("remove volume " + v.name + ": " + r.error().message);
    line("", "volume " + v.name + " removed");
  }
  return {};
}

Result<void> Lifecycle::restart_service(const std::string& project, const std::string& service) {
  std::string cname = naming::container_name(project, service);
  auto info = engine_.inspect_container(cname);
  if (!info) return fail(context(info.error(), "restart " + service));
  auto s = engine_.stop_container(info->id, -1, "");
  if (!s) return fail(context(s.error(), "restart " + service));
  auto r = engine_.start_container(info->id);
  if (!r) return fail(context(r.error(), "restart " + service));
  line(service, "container " + cname + " restarted");
  return {};
}

}  // namespace berth::engine
