#pragma once

#include <string>
#include <string_view>

namespace berth {

// Lower-case hex SHA-256 (OpenSSL's libcrypto; no hand-written crypto).
std::string sha256_hex(std::string_view data);

}  // namespace berth
