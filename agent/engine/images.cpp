#include "engine/images.hpp"

#include "core/image_ref.hpp"

namespace berth::engine {

Result<ImageStatus> LocalImageSource::ensure(const ServiceSpec& svc,
                                             const ImageProgressFn& progress, PullSlots& pulls) {
  auto ref = parse_image_ref(svc.image);
  if (!ref) return fail(ref.error());
  ImageStatus st;
  st.requested = svc.image;
  auto info = engine_.inspect_image(svc.image);
  if (!info) return fail(context(info.error(), "image " + svc.image));
  if (!*info) {
    if (svc.pull_policy == PullPolicy::never)
      return fail("image " + svc.image + " is not present locally and pull_policy is \"never\"",
                  ErrorKind::not_found);
    std::string tag = ref->digest.empty() ? ref->tag : ref->digest;
    PullSlots::Held slot(pulls);
    auto pulled =
        engine_.pull_image(ref->familiar_name(), tag, PullOptions{}, [&](const PullProgress& p) {
          if (progress) progress(svc.name, p.percent);
        });
    if (!pulled) return fail(context(pulled.error(), "pull " + svc.image));
    st.pulled = true;
    info = engine_.inspect_image(svc.image);
    if (!info) return fail(context(info.error(), "image " + svc.image));
    if (!*info)
      return fail("image " + svc.image + " is still absent after a successful pull",
                  ErrorKind::not_found);
  }
  st.image.image_id = (*info)->id;
  st.image.run_ref = svc.image;
  st.image.digest = ref->digest;
  return st;
}

}  // namespace berth::engine
