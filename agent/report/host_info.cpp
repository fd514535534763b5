#include "report/host_info.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/untrusted_json.hpp"
#include "core/url.hpp"
#include "net/http.hpp"
#include "util/atomic_file.hpp"
#include "util/strings.hpp"

namespace berth::report {

namespace {

// berth's application id for sd_id128_get_machine_app_specific (random, fixed forever).
constexpr sd_id128_t kBerthAppId =
    SD_ID128_MAKE(6b, 1e, 3a, 52, 0c, 94, 4f, 7d, 9a, 61, 2e, 8b, d4, 05, 73, c2);

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

bool env_true(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return false;
  return to_lower(v) == "true";
}

std::string json_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

}  // namespace

Result<Ec2Identity> fetch_ec2_identity(const std::string& endpoint, long timeout_ms) {
  std::string base = endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  net::Client client;
  net::Request put;
  put.method = "PUT";
  put.url = base + "/latest/api/token";
  put.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "60"}};
  put.connect_timeout_ms = timeout_ms;
  put.timeout_ms = timeout_ms;
  put.body_limit = net::kImdsLimit;
  auto token = client.perform(put);
  if (!token) return fail(context(token.error(), "IMDSv2 token"));
  if (token->status != 200)
    return fail("IMDSv2 token " + url::for_log(put.url) + ": HTTP " + std::to_string(token->status),
                ErrorKind::unavailable, static_cast<int>(token->status));
  net::Request get;
  get.url = base + "/latest/dynamic/instance-identity/document";
  get.headers = {{"X-aws-ec2-metadata-token", trim(token->body)}};
  get.connect_timeout_ms = timeout_ms;
  get.timeout_ms = timeout_ms;
  get.body_limit = net::kImdsLimit;
  auto doc = client.perform(get);
  if (!doc) return fail(context(doc.error(), "IMDS identity document"));
  if (doc->status != 200)
    return fail(
        "IMDS identity document " + url::for_log(get.url) + ": HTTP " + std::to_string(doc->status),
        ErrorKind::unavailable, static_cast<int>(doc->status));
  auto j = parse_json_or_discarded(doc->body);
  if (j.is_discarded() || !j.is_object())
    return fail("IMDS identity document " + url::for_log(get.url) + ": not a JSON object",
                ErrorKind::invalid_input);
  Ec2Identity id{json_string(j, "instanceId"), json_string(j, "region"),
                 json_string(j, "availabilityZone"), json_string(j, "instanceType")};
  if (id.instance_id.empty())
    return fail("IMDS identity document " + url::for_log(get.url) + ": no instanceId",
                ErrorKind::invalid_input);
  return id;
}

HostInfo gather_host_info(const HostInfoOptions& options) {
  HostInfo h;
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) == 0) h.hostname = name;

  sd_id128_t mid;
  if (sd_id128_get_machine_app_specific(kBerthAppId, &mid) == 0) {
    char buf[SD_ID128_STRING_MAX];
    h.machine_id = sd_id128_to_string(mid, buf);
  } else {
    spdlog::debug("host info: no machine id (/etc/machine-id unreadable)");
  }

  auto boot = read_file(options.boot_id_path, 128);
  if (boot && *boot) {
    h.boot_id = trim(**boot);
  } else {
    spdlog::debug("host info: no boot id from {}", options.boot_id_path);
  }

  bool disabled = options.imds_disabled.value_or(env_true("AWS_EC2_METADATA_DISABLED"));
  if (!disabled) {
    std::string endpoint;
    if (options.imds_endpoint) {
      endpoint = *options.imds_endpoint;
    } else if (const char* e = std::getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"); e && *e) {
      endpoint = e;
    } else {
      endpoint = "http://169.254.169.254";
    }
    auto id = fetch_ec2_identity(endpoint, options.imds_timeout_ms);
    if (id) {
      h.instance_id = id->instance_id;
      h.region = id->region;
      h.availability_zone = id->availability_zone;
      h.instance_type = id->instance_type;
    } else {
      spdlog::info("host info: not on EC2 or IMDS unreachable ({}); using hostname {}",
                   id.error().message, h.hostname);
    }
  }
  return h;
}

}  // namespace berth::report
