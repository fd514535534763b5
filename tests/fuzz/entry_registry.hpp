// Fuzz entry point: what registries, ECR and the AWS configuration files say to berth. The pure
// parsers of agent/aws and agent/registry get the same bytes:
//   ECR GetAuthorizationToken response and token, AWS JSON errors, WWW-Authenticate challenges,
//   image manifests and indexes, the IMDS role-credentials and identity documents, Docker's
//   config.json, ~/.aws INI files, ISO 8601 times, ECR host names, and the X-Registry-Auth
//   encoding (round trip). Secrets from a document never appear in an error message.
// Links berth_agent.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "aws/common.hpp"
#include "aws/ecr.hpp"
#include "aws/imds.hpp"
#include "aws/ini.hpp"
#include "core/image_ref.hpp"
#include "fuzz_common.hpp"
#include "net/http.hpp"
#include "registry/auth.hpp"
#include "registry/manifest.hpp"

namespace berth::fuzz {

// Host names come from image references (at most 512 bytes) and [registries."HOST"] keys.
inline constexpr std::size_t kMaxHostBytes = 1024;
// The password in the seed docker config.json files ("alice:" + this, base64 in "auth").
inline constexpr std::string_view kFuzzPassword = "pa55-fuzz-word";

inline void registry_input(std::string_view text) {
  // ECR GetAuthorizationToken: a token never appears in an error message.
  if (auto a = aws::parse_authorization_response(text)) {
    BERTH_FUZZ_CHECK(!a->username.empty() && !a->password.empty(),
                     "an authorization has a username and a password");
  } else {
    BERTH_FUZZ_CHECK(a.error().kind == ErrorKind::invalid_input, "ECR response errors");
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object() && j.contains("authorizationData") && j["authorizationData"].is_array() &&
        !j["authorizationData"].empty() && j["authorizationData"][0].is_object()) {
      const auto& d = j["authorizationData"][0];
      if (d.contains("authorizationToken") && d["authorizationToken"].is_string()) {
        auto tok = d["authorizationToken"].get<std::string>();
        if (tok.size() >= 8)
          BERTH_FUZZ_CHECK(a.error().message.find(tok) == std::string::npos,
                           "the token is not in the error");
        if (auto up = aws::decode_authorization_token(tok); up && up->second.size() >= 8)
          BERTH_FUZZ_CHECK(a.error().message.find(up->second) == std::string::npos,
                           "the password is not in the error");
      }
    }
  }
  if (auto up = aws::decode_authorization_token(text)) {
    BERTH_FUZZ_CHECK(!up->first.empty() && !up->second.empty(), "USER:PASSWORD, both set");
    BERTH_FUZZ_CHECK(up->first.find(':') == std::string::npos, "split at the first ':'");
  }
  {
    auto [type, message] = aws::parse_aws_error(text, text.substr(0, 64));
    BERTH_FUZZ_CHECK(type.find('#') == std::string::npos && type.find(':') == std::string::npos,
                     "the error type has no namespace");
    (void)message;
  }

  // WWW-Authenticate.
  if (auto ch = registry::parse_www_authenticate(text)) {
    BERTH_FUZZ_CHECK(!ch->scheme.empty(), "a challenge has a scheme");
    for (const auto& [k, v] : ch->params) {
      BERTH_FUZZ_CHECK(!k.empty(), "challenge parameter names are not empty");
      for (char c : k)
        BERTH_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "challenge parameter names are lower case");
    }
  }

  // Manifests and indexes.
  if (auto size = registry::manifest_download_size(text))
    BERTH_FUZZ_CHECK(*size >= 0, "download sizes are not negative");
  registry::Platform amd64;
  amd64.architecture = "amd64";
  (void)registry::select_platform_manifest(text, amd64);
  registry::Platform armv7;
  armv7.architecture = "arm";
  armv7.variant = "v7";
  (void)registry::select_platform_manifest(text, armv7);

  // IMDS documents (the role credentials carry secrets).
  if (auto c = aws::parse_role_credentials(text, "fuzz-role")) {
    BERTH_FUZZ_CHECK(!c->access_key_id.empty() && !c->secret_access_key.empty(),
                     "role credentials have a key pair");
    BERTH_FUZZ_CHECK(c->source == "instance role fuzz-role", "role credentials name the source");
  } else {
    auto j = nlohmann::json::parse(text, nullptr, false);
    for (const char* secret : {"SecretAccessKey", "Token"})
      if (j.is_object() && j.contains(secret) && j[secret].is_string() &&
          j[secret].get<std::string>().size() >= 8)
        BERTH_FUZZ_CHECK(c.error().message.find(j[secret].get<std::string>()) == std::string::npos,
                         std::string("the ") + secret + " is not in the error");
  }
  if (auto id = aws::parse_identity_document(text))
    BERTH_FUZZ_CHECK(!id->region.empty() && !id->instance_id.empty(), "identity fields");

  // Docker's config.json (auth = "docker_config"): the password never appears in an error.
  for (const char* host : {"127.0.0.1:5000", "docker.io"}) {
    auto cred = registry::parse_docker_config(text, host, "registry fuzz: docker config f");
    if (cred) {
      BERTH_FUZZ_CHECK(cred->server_address == host, "the credential names its registry");
    } else {
      BERTH_FUZZ_CHECK(cred.error().message.starts_with("registry fuzz: docker config f: "),
                       "docker config errors say which file");
      BERTH_FUZZ_CHECK(cred.error().message.find(kFuzzPassword) == std::string::npos,
                       "the password is not in the error");
    }
  }

  // ~/.aws/credentials and ~/.aws/config.
  if (auto ini = aws::parse_ini(text, "fuzz.ini")) {
    for (const auto& [name, section] : *ini) {
      BERTH_FUZZ_CHECK(!name.empty(), "section names are not empty");
      for (const auto& [k, v] : section)
        for (char c : k) BERTH_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "INI keys are lower-cased");
    }
  } else {
    BERTH_FUZZ_CHECK(ini.error().message.starts_with("fuzz.ini:"), "INI errors name the file");
  }

  // Short values: times, hosts, the X-Registry-Auth round trip.
  if (text.size() <= 64) (void)aws::parse_iso8601(text);
  if (text.size() <= kMaxHostBytes) {
    if (auto host = aws::parse_ecr_host(text)) {
      BERTH_FUZZ_CHECK(host->account.size() == 12, "ECR accounts have 12 digits");
      BERTH_FUZZ_CHECK(!host->region.empty(), "ECR hosts name a region");
    }
    (void)registry::is_loopback_host(text);
    (void)registry::registry_base_url(std::string(text), false);
  }
  if (text.size() <= 4096) {
    auto half = text.size() / 2;
    registry::RegistryCredential cred;
    cred.username = std::string(text.substr(0, half));
    cred.password = std::string(text.substr(half));
    cred.server_address = "127.0.0.1:5000";
    if (valid_utf8(cred.username) && valid_utf8(cred.password)) {
      std::string header = registry::x_registry_auth(cred);
      for (char c : header)
        BERTH_FUZZ_CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '=',
                         "X-Registry-Auth is base64url");
      auto raw = net::base64_decode(header);
      BERTH_FUZZ_CHECK(raw.has_value(), "X-Registry-Auth decodes");
      auto j = nlohmann::json::parse(*raw, nullptr, false);
      BERTH_FUZZ_CHECK(j.is_object(), "X-Registry-Auth is a JSON object");
      BERTH_FUZZ_CHECK(j.value("username", std::string("?")) == cred.username &&
                           j.value("password", std::string("?")) == cred.password &&
                           j.value("serveraddress", std::string("?")) == cred.server_address,
                       "X-Registry-Auth round-trips");
    }
    std::string redacted = aws::redact(std::string(text), {"SECRETKEY", "tok3n"});
    BERTH_FUZZ_CHECK(redacted.find("SECRETKEY") == std::string::npos &&
                         redacted.find("tok3n") == std::string::npos,
                     "redact removes every occurrence");
  }
}

}  // namespace berth::fuzz
