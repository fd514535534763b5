#include "registry/image_source.hpp"

#include <spdlog/spdlog.h>

#include <random>
#include <thread>

#include "core/image_ref.hpp"
#include "util/logging.hpp"

namespace berth::registry {

namespace {

std::string short_id(const std::string& id) {
  std::string s = id.starts_with("sha256:") ? id.substr(7) : id;
  return s.substr(0, 12);
}

std::string human_bytes(std::int64_t b) {
  char buf[32];
  if (b >= (1LL << 30))
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(b) / (1 << 30));
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1 << 20));
  return buf;
}

// Registry down, throttled or timing out: the offline path applies. Auth failures, unknown
// manifests and denials are real errors the operator must see.
bool registry_unreachable(const Error& e) {
  return e.kind == ErrorKind::unavailable || e.kind == ErrorKind::timeout ||
         e.kind == ErrorKind::throttled || e.http_status >= 500;
}

}  // namespace

RegistryImageSource::RegistryImageSource(engine::Engine& engine, const Config& cfg,
                                         ImageSourceOptions opts)
    : engine_(engine),
      opts_(std::move(opts)),
      providers_(cfg.registries, make_auth_context(cfg.aws.region, aws::Env::from_process())) {}

RegistryImageSource::~RegistryImageSource() = default;

Result<void> RegistryImageSource::validate() {
  return providers_.validate();
}

Result<engine::ImageStatus> RegistryImageSource::ensure(const ServiceSpec& svc,
                                                        const engine::ImageProgressFn& progress,
                                                        engine::PullSlots& pulls) {
  log::LogFields fields{{log::kFieldService, svc.name}, {log::kFieldImage, svc.image}};
  auto ref = parse_image_ref(svc.image);
  if (!ref) return fail(ref.error());
  engine::ImageStatus st;
  st.requested = svc.image;
  std::string name = ref->familiar_name();

  auto local = [&](const std::string& r) -> Result<std::optional<ImageInfo>> {
    return engine_.inspect_image(r);
  };
  auto use_local = [&](const ImageInfo& info, const std::string& run_ref,
                       const std::string& digest) -> engine::ImageStatus {
    st.image.image_id = info.id;
    st.image.run_ref = run_ref;
    st.image.digest = digest;
    if (st.image.digest.empty()) {
      for (const auto& rd : info.repo_digests)
        if (rd.starts_with(name + "@")) st.image.digest = rd.substr(name.size() + 1);
    }
    return st;
  };

  // pull_policy never / missing: the local image when there is one.
  if (svc.pull_policy != PullPolicy::always) {
    auto info = local(svc.image);
    if (!info) return fail(context(info.error(), "image " + svc.image));
    if (*info) return use_local(**info, svc.image, ref->digest);
    if (svc.pull_policy == PullPolicy::never)
      return fail("image " + svc.image + " is not present locally and pull_policy is \"never\"",
                  ErrorKind::not_found);
  }

  auto provider = providers_.for_host(ref->registry);
  if (!provider) return fail(provider.error());

  std::mt19937 rng{std::random_device{}()};
  auto with_retries = [&](auto fn) {
    auto delay = opts_.backoff;
    for (int attempt = 1;; ++attempt) {
      auto r = fn();
      if (r || attempt >= opts_.attempts || !r.error().retryable()) return r;
      std::uniform_int_distribution<long long> jitter(0, delay.count() / 2);
      auto wait = delay + std::chrono::milliseconds(jitter(rng));
      // A registry that says when to come back (429/503 Retry-After) is believed, up to 5 min.
      if (auto ra = std::chrono::milliseconds(1000LL * r.error().retry_after_s); ra > wait)
        wait = ra;
      // The daemon logs the converge's own failure once while it lasts: a line per attempt
      // would repeat at every retry of the converge (log_attempts = false there).
      spdlog::log(opts_.log_attempts ? spdlog::level::warn : spdlog::level::debug,
                  "{}: {} (attempt {}/{}, retrying in {} ms)", svc.name, r.error().message, attempt,
                  opts_.attempts, wait.count());
      std::this_thread::sleep_for(wait);
      delay *= 2;
    }
  };

  // 1. Tag -> digest.
  std::string digest = ref->digest;
  if (digest.empty()) {
    auto resolved = with_retries([&] { return client_.resolve_digest(*ref, *provider); });
    if (!resolved) {
      if (!registry_unreachable(resolved.error())) return fail(resolved.error());
      // Offline: the last-known-good image, else the local image of the tag.
      std::string lkg = opts_.last_good ? opts_.last_good(svc.name) : "";
      if (!lkg.empty()) {
        auto info = local(lkg);
        if (info && *info) {
          auto s = use_local(**info, lkg, "");
          s.stale = true;
          s.note = "registry unreachable (" + resolved.error().message +
                   "); running the last-known-good image " + short_id(lkg);
          return s;
        }
      }
      auto info = local(svc.image);
      if (info && *info) {
        auto s = use_local(**info, svc.image, "");
        s.stale = true;
        s.note = "registry unreachable (" + resolved.error().message + "); using the local image " +
                 short_id((*info)->id);
        return s;
      }
      return fail(context(resolved.error(), "no local image of " + svc.image + " to fall back on"));
    }
    digest = resolved->digest;
  }
  std::string by_digest = name + "@" + digest;

  // 2. Already local? Then no pull at all.
  auto have = local(by_digest);
  if (!have) return fail(context(have.error(), "image " + by_digest));
  if (!*have) {
    engine::PullSlots::Held slot(pulls);
    // 3. Room for it? (And is the registry's manifest what its digest says?)
    ImageRef pinned = *ref;
    pinned.digest = digest;
    if (auto room = check_room(pinned, *provider, svc.image); !room) return fail(room.error());
    // 4. Pull by digest; a 401 renews the credentials once.
    bool renewed = false;
    auto pull_once = [&]() -> Result<void> {
      auto cred = (*provider)->get(false);
      if (!cred) return fail(cred.error());
      engine::PullOptions po = opts_.pull;
      po.registry_auth = cred->anonymous() ? "" : x_registry_auth(*cred);
      auto r = engine_.pull_image(name, digest, po, [&](const engine::PullProgress& p) {
        if (progress) progress(svc.name, p.percent);
      });
      if (!r && r.error().kind == ErrorKind::auth && !renewed) {
        renewed = true;
        auto fresh = (*provider)->get(true);
        if (!fresh) return fail(fresh.error());
        po.registry_auth = fresh->anonymous() ? "" : x_registry_auth(*fresh);
        r = engine_.pull_image(name, digest, po, [&](const engine::PullProgress& p) {
          if (progress) progress(svc.name, p.percent);
        });
      }
      return r;
    };
    spdlog::info("{}: pulling {}", svc.name, by_digest);
    auto pulled = with_retries(pull_once);
    if (!pulled) {
      std::string hint;
      if ((*provider)->is_ecr() && pulled.error().kind == ErrorKind::auth)
        hint = " (the instance role needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer)";
      return fail(Error{pulled.error().kind,
                        "pull " + svc.image + " (" + short_id(digest) + ") from " + ref->registry +
                            ": " + pulled.error().message + hint,
                        pulled.error().http_status});
    }
    st.pulled = true;
    have = local(by_digest);
    if (!have) return fail(context(have.error(), "image " + by_digest));
    if (!*have)
      return fail("image " + by_digest + " is absent after a successful pull",
                  ErrorKind::not_found);
    // Keep `docker images` readable: the requested tag points at what berth runs.
    if (!ref->tag.empty()) (void)engine_.tag_image(by_digest, name, ref->tag);
  }
  return use_local(**have, by_digest, digest);
}

Result<void> RegistryImageSource::check_room(const ImageRef& pinned, AuthProvider* provider,
                                             const std::string& image) {
  auto size = client_.image_size(pinned, provider);
  // Content that fails verification (digest mismatch, over 4 MiB, nested too deep) is not
  // pulled; a registry that cannot say the size (unreachable, no sizes) is no obstacle.
  if (!size && size.error().kind == ErrorKind::invalid_input)
    return fail(context(size.error(), "image " + image + " not pulled"));
  if (!size || *size <= 0) return {};
  auto free = engine_.data_root_free_bytes();
  if (!free || !*free) return {};
  auto need = static_cast<std::int64_t>(static_cast<double>(*size) * opts_.space_factor);
  if (**free < need)
    return fail("not enough space to pull " + image + ": it needs about " + human_bytes(need) +
                    " in the Docker data root, " + human_bytes(**free) +
                    " is free (nothing was changed)",
                ErrorKind::generic);
  return {};
}

}  // namespace berth::registry
