// The dashboard bearer token: from [dashboard].token_file, else the systemd credential
// "dashboard-token" ($CREDENTIALS_DIRECTORY/dashboard-token). The value is never logged and
// never part of an error message.
#pragma once

#include <functional>
#include <string>

#include "core/model.hpp"
#include "util/result.hpp"

namespace berth::report {

// Returns the token, "" when neither a token file nor the credential is configured.
// A token file that group or others may read is refused with
// "dashboard token file PATH has mode 0644: readable by group/others (chmod 600 PATH)", and one
// group or others may write with "...: writable by group/others (chmod 600 PATH)".
// Surrounding whitespace is trimmed; an empty file or a token with inner whitespace or control
// characters is an error.
using TokenProvider = std::function<Result<std::string>()>;

// Reads one secret file with the checks above (regular file, <= 64 KiB, mode & 066 == 0).
// `what` names it in messages ("dashboard token file").
Result<std::string> read_secret_file(const std::string& path, const std::string& what);

// token_file if set; else $CREDENTIALS_DIRECTORY/dashboard-token if it exists; else "".
Result<std::string> read_dashboard_token(const DashboardSettings& settings);

// For `berth run` and `berth check-config`: the token file berth would read (the systemd
// credential takes precedence and is not checked) must not be readable or writable by
// group/others; that is
// refused as a configuration error (exit 78) instead of failing every report later. A missing
// file is not an error here: reports wait (spooled) until it appears.
Result<void> check_dashboard_token_file(const DashboardSettings& settings);

// A provider that re-reads the token on every call (so a rotated token is picked up).
TokenProvider make_token_provider(const DashboardSettings& settings);

}  // namespace berth::report
