// Fuzz entry point: image references (parse_image_ref) and their round trip through str().
#pragma once

#include <string>
#include <string_view>

#include "core/image_ref.hpp"
#include "fuzz_common.hpp"

namespace berth::fuzz {

inline void image_ref(std::string_view text) {
  auto ref = parse_image_ref(text);
  if (!ref) {
    BERTH_FUZZ_CHECK(ref.error().kind == ErrorKind::invalid_input, "errors are invalid_input");
    BERTH_FUZZ_CHECK(ref.error().message.starts_with("invalid image reference \""),
                     "errors name the reference");
    BERTH_FUZZ_CHECK(ref.error().message.size() <= 1024, "errors are short");
    return;
  }
  BERTH_FUZZ_CHECK(!ref->registry.empty() && !ref->repository.empty(),
                   "a parsed reference has a registry and a repository");
  BERTH_FUZZ_CHECK(!ref->tag.empty() || !ref->digest.empty(), "a tag or a digest");
  BERTH_FUZZ_CHECK(ref->digest.empty() || is_valid_digest(ref->digest), "the digest is valid");
  BERTH_FUZZ_CHECK(printable(ref->str()), "str() is printable");
  (void)ref->display_tag();
  BERTH_FUZZ_CHECK(!ref->api_host().empty(), "api_host");

  // Round trip: what berth prints (and what Docker shows) parses back to the same fields.
  const std::string s = ref->str();
  auto again = parse_image_ref(s);
  BERTH_FUZZ_CHECK(again.has_value(), "str() parses again: " + s);
  BERTH_FUZZ_CHECK(again->registry == ref->registry, "round trip keeps the registry: " + s);
  BERTH_FUZZ_CHECK(again->repository == ref->repository, "round trip keeps the repository: " + s);
  BERTH_FUZZ_CHECK(again->tag == ref->tag, "round trip keeps the tag: " + s);
  BERTH_FUZZ_CHECK(again->digest == ref->digest, "round trip keeps the digest: " + s);
  BERTH_FUZZ_CHECK(again->str() == s, "str() is a fixed point: " + s);

  // The fully qualified name parses to the same fields too (what berth hands to Docker).
  std::string full = ref->name();
  if (!ref->tag.empty()) full += ":" + ref->tag;
  if (!ref->digest.empty()) full += "@" + ref->digest;
  auto qualified = parse_image_ref(full);
  BERTH_FUZZ_CHECK(qualified.has_value(), "name() parses: " + full);
  BERTH_FUZZ_CHECK(qualified->registry == ref->registry &&
                       qualified->repository == ref->repository && qualified->tag == ref->tag &&
                       qualified->digest == ref->digest,
                   "name() keeps the fields: " + full);
}

}  // namespace berth::fuzz
