// Who is reporting: the EC2 identity from IMDSv2 (instance id, region, AZ, instance type),
// the hostname, an app-specific machine id and the boot id. Minimal and self-contained: the
// full IMDS credential client lives in aws/.
#pragma once

#include <optional>
#include <string>

#include "core/status.hpp"
#include "util/result.hpp"

namespace berth::report {

struct HostInfoOptions {
  // IMDS base URL; unset = $AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254.
  std::optional<std::string> imds_endpoint;
  // unset = $AWS_EC2_METADATA_DISABLED ("true", case-insensitive, disables).
  std::optional<bool> imds_disabled;
  long imds_timeout_ms = 1000;  // connect and total, per request
  std::string boot_id_path = "/proc/sys/kernel/random/boot_id";
};

// The IMDSv2 identity document: PUT /latest/api/token, then
// GET /latest/dynamic/instance-identity/document. Errors name the endpoint.
struct Ec2Identity {
  std::string instance_id, region, availability_zone, instance_type;
};
Result<Ec2Identity> fetch_ec2_identity(const std::string& endpoint, long timeout_ms);

// Never fails: fields it cannot learn stay empty (logged at debug). The machine id is
// systemd's application-specific id for berth (sd_id128_get_machine_app_specific), not the raw
// /etc/machine-id, which systemd asks not to expose.
HostInfo gather_host_info(const HostInfoOptions& options = {});

}  // namespace berth::report
