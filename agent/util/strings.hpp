// Small text helpers every layer uses (pure: core may include this header). One of each, so
// that no adapter carries its own copy.
#pragma once

#include <string>
#include <string_view>

namespace berth {

// ASCII lower case (header names, hostnames, booleans, units); other bytes unchanged.
std::string to_lower(std::string_view s);

// RFC 3986 percent-encoding: unreserved characters (ALPHA / DIGIT / "-" / "." / "_" / "~") and
// the characters in `keep` stay, every other byte becomes %XX (upper-case hex).
std::string percent_encode(std::string_view s, std::string_view keep = {});

}  // namespace berth
