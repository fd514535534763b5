// Docker image references: the distribution reference grammar with docker.io normalisation.
#pragma once

#include <string>
#include <string_view>

#include "util/result.hpp"

namespace berth {

struct ImageRef {
  std::string registry;    // "docker.io", "127.0.0.1:5000", "1234.dkr.ecr.us-east-2.amazonaws.com"
  std::string repository;  // "library/busybox", "msd-logs", "team/app"
  std::string tag;         // "" when only a digest was given; "latest" by default otherwise
  std::string digest;      // "sha256:<64 hex>" or ""

  // registry/repository ("docker.io/library/busybox")
  std::string name() const { return registry + "/" + repository; }
  // The name Docker itself uses in RepoTags/RepoDigests ("busybox", "127.0.0.1:5000/app").
  std::string familiar_name() const;
  // name:tag, name@digest or name:tag@digest
  std::string str() const;
  // The tag shown to people: the tag, else the short digest.
  std::string display_tag() const;
  // The registry API host ("registry-1.docker.io" for docker.io).
  std::string api_host() const;
};

// Errors read like: invalid image reference "Foo/bar": repository name must be lowercase
Result<ImageRef> parse_image_ref(std::string_view text);

bool is_valid_digest(std::string_view digest);

}  // namespace berth
