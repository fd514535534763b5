// systemd credentials ($CREDENTIALS_DIRECTORY, LoadCredential= in berth.service).
#pragma once

#include <optional>
#include <string>

#include "util/result.hpp"

namespace berth::daemon {

// The credential `id` from $CREDENTIALS_DIRECTORY, leading/trailing whitespace and NULs removed.
// nullopt when there is no credentials directory, no such credential, or it is empty after
// trimming: berth.service declares `SetCredential=dashboard-token:\n` as the fallback for a
// missing /etc/berth/dashboard.token (systemd 252 would otherwise refuse to start the unit), so
// an empty credential means "not configured here", and the caller falls back to token_file.
// An error only when the file exists but cannot be read or exceeds 64 KiB; messages name the
// path, never the content.
Result<std::optional<std::string>> read_credential(const std::string& id);
// Same with an explicit directory ("" = none), for tests.
Result<std::optional<std::string>> read_credential_from(const std::string& directory,
                                                        const std::string& id);

}  // namespace berth::daemon
