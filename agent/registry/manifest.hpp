// Registry v2 (OCI distribution) manifest lookups: tag -> digest without pulling, and the
// download size of an image for the free-space check.
//
// Scheme: https, except plain http when the registry is configured `insecure = true` or its host
// is a loopback address (localhost, 127.0.0.0/8, [::1], with or without a port) - the same
// hosts Docker itself treats as insecure registries by default.
//
// Auth: the provider's credential is sent as Basic auth up front (ECR and htpasswd registries
// accept it directly). A registry that answers 401 with a `Bearer realm=...,service=...`
// challenge (Docker Hub, GHCR, Harbor, ...) gets the token flow: GET realm?service=&scope=
// repository:<repo>:pull with the Basic credential (anonymous when there is none); tokens are
// cached per host and scope until they expire. A 401 on Basic renews the credential once
// (AuthProvider::get(true): a fresh ECR token) and retries.
//
// Connections are kept alive per registry host (a small pool of libcurl handles), so checking
// N services in one registry costs one TLS handshake, not N.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/common.hpp"
#include "core/image_ref.hpp"
#include "core/url.hpp"
#include "registry/auth.hpp"
#include "util/result.hpp"

namespace berth::registry {

// The Accept header for manifest requests: indexes first, then single manifests.
inline constexpr const char* kManifestAccept =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

struct ResolvedDigest {
  std::string digest;      // "sha256:<64 hex>": what `docker pull` records in RepoDigests
  std::string media_type;  // of the top-level manifest or index ("" for a pinned digest)
  std::int64_t size = -1;  // bytes of that manifest, -1 when unknown
  bool from_body = false;  // computed from the GET body (no Docker-Content-Digest on HEAD)
};

struct Platform {
  std::string os = "linux";
  std::string architecture;  // "amd64", "arm64", ...
  std::string variant;       // "" = any
  static Platform host();    // the platform berth was built for
};

// One parsed WWW-Authenticate challenge (the first one in the header).
struct Challenge {
  std::string scheme;                         // lower-case: "basic", "bearer"
  std::map<std::string, std::string> params;  // lower-case keys: realm, service, scope
};
std::optional<Challenge> parse_www_authenticate(std::string_view header);

// A Retry-After header in delta-seconds ("7"): the seconds, capped at 300; 0 for an empty,
// malformed or HTTP-date value (the caller's own backoff applies then).
int retry_after_seconds(std::string_view header);

// Exact loopback hosts (core/url.hpp): registries Docker itself treats as insecure by default.
using url::is_loopback_host;
// "https://<host>" or "http://<host>" (see the scheme rule above).
std::string registry_base_url(const std::string& host, bool insecure);

// A Bearer challenge's realm gets the registry credentials (Basic) and hands out the token:
// it must be https, or plain http to the registry's own loopback host when `registry_base` is
// itself plain http on loopback. Anything else: Error{invalid_input} naming the realm.
Result<void> check_bearer_realm(std::string_view realm, std::string_view registry_base);

// Sums config + layer sizes of an image manifest (JSON); error for anything else.
Result<std::int64_t> manifest_download_size(std::string_view manifest_json);
// From an index/manifest list: the digest of the manifest for `platform`; error lists what the
// index offers.
Result<std::string> select_platform_manifest(std::string_view index_json, const Platform& platform);

struct RegistryClientOptions {
  long connect_timeout_ms = 5000;
  long timeout_ms = 30000;
  std::string ca_file;  // extra CA bundle
  Platform platform = Platform::host();
  aws::Clock clock;  // bearer token expiry; empty = system clock
};

// Thread-safe: concurrent lookups use separate pooled connections.
class RegistryClient {
 public:
  explicit RegistryClient(RegistryClientOptions options = {});
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  // Tag -> digest: HEAD /v2/<repo>/manifests/<tag>, Docker-Content-Digest; when the HEAD gives
  // no usable digest, GET and sha256 of the exact body. A reference pinned by digest is returned
  // as is (no request). `auth` may be null (anonymous). Errors name the image and registry:
  //   not_found   "manifest unknown: <image> not found in <registry>"
  //   auth (401)  "registry <registry> rejected the credentials from <provider> for <image>..."
  //   auth (403)  "access to <image> denied by <registry> (HTTP 403) (the instance role needs
  //               ecr:BatchGetImage)" (hint for ECR)
  //   throttled   429;  unavailable: 5xx or "registry <registry> unreachable at <url>: ..."
  Result<ResolvedDigest> resolve_digest(const ImageRef& ref, AuthProvider* auth);

  // Compressed download size (config + layers) of the image for options.platform: GETs the
  // manifest, and for an index the platform's manifest; -1 when the manifest lists no sizes.
  // Every manifest fetched by digest must hash to that digest, and none may be nested deeper
  // than kMaxJsonDepth or be larger than 4 MiB: such content is an Error{invalid_input}.
  Result<std::int64_t> image_size(const ImageRef& ref, AuthProvider* auth);

  // Number of HTTP requests sent, and of new connections they opened (tests, benchmarks).
  int requests() const;
  int connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience wrappers over one process-wide RegistryClient.
Result<ResolvedDigest> resolve_digest(const ImageRef& ref, AuthProvider* auth);
Result<std::int64_t> image_size(const ImageRef& ref, AuthProvider* auth);

}  // namespace berth::registry
