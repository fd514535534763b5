#include "daemon/stack.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <stdexcept>

#include "registry/image_source.hpp"
#include "report/reporter.hpp"
#include "util/atomic_file.hpp"

namespace berth::daemon {

Result<std::unique_ptr<Stack>> Stack::create(const Config& cfg, StackOptions opts) {
  auto eng = engine::make_docker_engine(opts.docker_host);
  auto v = eng->ping();
  if (!v) return fail(v.error());
  return std::unique_ptr<Stack>(new Stack(cfg, std::move(opts), std::move(eng)));
}

Stack::Stack(Config cfg, StackOptions opts, std::unique_ptr<engine::Engine> engine)
    : cfg_(std::move(cfg)), opts_(std::move(opts)), engine_(std::move(engine)) {
  load_state();
  make_image_source();
}

namespace {
std::string now_rfc3339() {
  return report::format_rfc3339(std::chrono::system_clock::now());
}
}  // namespace

void Stack::load_state() {
  if (opts_.state_dir.empty()) return;
  std::string path = opts_.state_dir + "/state.json";
  auto text = read_file(path, 4 * 1024 * 1024);
  if (!text) {
    state_warning_ = "state directory: " + text.error().message;
    return;
  }
  if (!*text) return;  // first run, or the state was lost: rebuilt from the containers' labels
  auto parsed = parse_local_state(**text);
  if (!parsed) {
    state_warning_ =
        path + ": " + parsed.error().message + " (starting from the containers' labels)";
    return;
  }
  state_ = std::move(*parsed);
}

void Stack::save_state() {
  if (opts_.state_dir.empty()) return;
  std::string data;
  {
    std::lock_guard lock(state_mutex_);
    data = to_json(state_).dump(1);
  }
  auto dir = ensure_dir(opts_.state_dir, 0700);
  auto w = dir ? write_file_atomic(opts_.state_dir + "/state.json", data, 0600) : dir;
  // Said once when the state directory stops being writable (every step of an update saves
  // the state: a read-only or full disk would otherwise repeat the same warning for each), and
  // once when it works again.
  if (!w) {
    bool first = !state_unwritable_;
    state_unwritable_ = true;
    state_warning_ = "cannot write state to " + opts_.state_dir + ": " + w.error().message;
    if (first)
      spdlog::warn("{} (the stack keeps running; rollback memory is not saved)", state_warning_);
  } else {
    if (state_unwritable_) spdlog::info("state directory {} is writable again", opts_.state_dir);
    state_unwritable_ = false;
    state_warning_.clear();
  }
}

void Stack::record_outcome(const engine::ConvergeReport& report) {
  {
    std::lock_guard lock(state_mutex_);
    std::string at = now_rfc3339();
    for (const auto& [name, s] : report.services) {
      if (s.rolled_back && !s.image.image.image_id.empty()) {
        state_.quarantine(name, {s.image.image.image_id, s.image.image.digest, at,
                                 s.health_output.empty() ? s.error : s.health_output});
      } else if (s.ok && !s.quarantined && !s.image.image.image_id.empty() && !s.image.stale) {
        // (A quarantined image was not deployed: what runs is the previous one, already known.)
        state_.record_good(name,
                           {s.image.image.image_id, s.image.image.digest, s.image.requested, at});
      }
      if (s.image.pulled) state_.record_pulled(name, s.image.image.image_id);
    }
    state_.intents.clear();
  }
  prune_images(report);
  save_state();
}

void Stack::prune_images(const engine::ConvergeReport& report) {
  // Keep the current and the previous image of every service (rollback); remove older images
  // that berth itself pulled. Images berth did not pull are never touched. An image still in
  // use (or tagged elsewhere) is refused by Docker and kept for a later converge.
  std::vector<std::pair<std::string, std::string>> candidates;
  {
    std::lock_guard lock(state_mutex_);
    for (const auto& [name, s] : report.services) {
      if (!s.ok) continue;
      for (const auto& id : state_.prunable(name)) candidates.emplace_back(name, id);
    }
  }
  for (const auto& [service, id] : candidates) {
    auto r = engine_->remove_image(id, false);
    if (r || r.error().kind == ErrorKind::not_found) {
      if (r && opts_.on_line) opts_.on_line(service, "pruned old image " + id.substr(0, 19));
      std::lock_guard lock(state_mutex_);
      state_.forget_pulled(service, id);
    }
  }
}

Stack::~Stack() = default;

void Stack::make_image_source() {
  registry::ImageSourceOptions io;
  io.last_good = [this](const std::string& service) {
    std::lock_guard lock(state_mutex_);
    auto it = state_.services.find(service);
    return it == state_.services.end() ? std::string() : it->second.last_good.image_id;
  };
  // A pull whose progress stream stays silent this long is aborted (and retried): a stalled
  // registry must not hang `berth up` or the daemon's converge for ever.
  auto inactivity = static_cast<int>((cfg_.agent.pull_inactivity_timeout.count() + 999) / 1000);
  io.pull.inactivity_timeout_s = inactivity;
  io.pull.first_byte_timeout_s = std::min(io.pull.first_byte_timeout_s, inactivity);
  io.log_attempts = opts_.log_attempts;
  images_ = std::make_unique<registry::RegistryImageSource>(*engine_, cfg_, io);
}

void Stack::set_config(Config cfg) {
  // Registry credentials, the AWS region and the pull timeout live in the image source, made
  // once: a reload that changes them needs a new one (cached tokens go with the old settings).
  bool rebuild = cfg.registries != cfg_.registries || cfg.aws.region != cfg_.aws.region ||
                 cfg.agent.pull_inactivity_timeout != cfg_.agent.pull_inactivity_timeout;
  cfg_ = std::move(cfg);
  if (rebuild) make_image_source();
}

Result<EngineInfo> Stack::engine_info() {
  if (engine_info_) return *engine_info_;
  auto info = engine_->engine_info();
  if (!info) return fail(info.error());
  spdlog::debug(
      "engine: {} {}, default log driver {}, cgroup driver {}, runtime {} (defaults come from "
      "the engine)",
      engine_->flavour(), info->server_version.empty() ? "?" : info->server_version,
      info->default_log_driver.empty() ? "?" : info->default_log_driver,
      info->cgroup_driver.empty() ? "?" : info->cgroup_driver,
      info->default_runtime.empty() ? "?" : info->default_runtime);
  engine_info_ = *info;
  return info;
}

void Stack::forget_engine_info() {
  engine_info_.reset();
}

engine::LifecycleOptions Stack::lifecycle_options(const EngineInfo& info) const {
  engine::LifecycleOptions lo;
  lo.spec.project = cfg_.agent.project;
  lo.spec.config_path = cfg_.path;
  lo.spec.default_log_driver = info.default_log_driver;
  lo.engine = info;
  lo.spec.api_version = engine_->api_version();
  lo.pull_concurrency = cfg_.agent.pull_concurrency;
  lo.stop = opts_.stop;
  lo.remove_foreign = cfg_.agent.remove_foreign;
  return lo;
}

engine::LifecycleHooks Stack::hooks() {
  engine::LifecycleHooks h;
  h.on_line = opts_.on_line;
  h.on_pull_progress = opts_.on_pull_progress;
  h.on_update_start = opts_.on_update_start;
  h.is_quarantined = [this](const std::string& service, const std::string& image_id) {
    std::lock_guard lock(state_mutex_);
    return state_.is_quarantined(service, image_id);
  };
  h.on_step = [this](const std::string& service, int step, const char* what) {
    {
      std::lock_guard lock(state_mutex_);
      std::erase_if(state_.intents, [&](const Intent& i) { return i.service == service; });
      state_.intents.push_back({service, step, what, "", now_rfc3339()});
    }
    save_state();
#ifdef BERTH_TEST_HOOKS
    // Crash injection for the tests: BERTH_TEST_CRASH_AT="SERVICE:STEP" kills berth right
    // before that step (after its intent record is written). Compiled only into test builds.
    // BERTH_TEST_CRASH_HOW: "exit" (default, _Exit(137)), "abort" (SIGABRT), "terminate" (an
    // exception nobody catches: std::terminate with the runtime's own crash output).
    if (const char* at = std::getenv("BERTH_TEST_CRASH_AT")) {
      if (std::string(at) == service + ":" + std::to_string(step)) {
        const char* how = std::getenv("BERTH_TEST_CRASH_HOW");
        std::string mode = how ? how : "exit";
        if (mode == "abort") std::abort();
        if (mode == "terminate") {
          try {
            throw std::runtime_error("test hook: crash at " + std::string(at));
          } catch (...) {
            std::terminate();  // as an exception escaping a thread would
          }
        }
        std::_Exit(137);
      }
    }
#endif
  };
  return h;
}

Result<Plan> Stack::plan() {
  auto engine = engine_info();
  if (!engine) return fail(engine.error());
  engine::Lifecycle lc(*engine_, *images_, lifecycle_options(*engine), hooks());
  std::map<std::string, engine::ImageStatus> images;
  for (const auto& [name, svc] : cfg_.services) {
    auto info = engine_->inspect_image(svc.image);
    if (info && *info) {
      engine::ImageStatus st;
      st.image.image_id = (*info)->id;
      st.image.run_ref = svc.image;
      st.requested = svc.image;
      images[name] = st;
    }
  }
  auto d = lc.desired(cfg_, images);
  if (!d) return fail(d.error());
  auto o = lc.observe(cfg_.agent.project);
  if (!o) return fail(o.error());
  return make_plan(*d, *o);
}

engine::ConvergeReport Stack::converge(const std::vector<std::string>& only) {
  // Without the engine's defaults the create bodies (and config hashes) could differ from the
  // running containers' and recreate them: no converge then.
  auto info = engine_info();
  if (!info) {
    engine::ConvergeReport failed;
    failed.errors.push_back("cannot read the engine's defaults: " + info.error().message);
    return failed;
  }
  engine::Lifecycle lc(*engine_, *images_, lifecycle_options(*info), hooks());
  auto report = lc.up(cfg_, only);
  record_outcome(report);
  return report;
}

Result<int> Stack::down(bool volumes) {
  engine::Lifecycle lc(*engine_, *images_, lifecycle_options(EngineInfo{}), hooks());
  return lc.down(cfg_.agent.project, volumes);
}

Result<void> Stack::restart_service(const std::string& service) {
  engine::Lifecycle lc(*engine_, *images_, lifecycle_options(EngineInfo{}), hooks());
  return lc.restart_service(cfg_.agent.project, service);
}

}  // namespace berth::daemon
