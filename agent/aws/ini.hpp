// The INI dialect of ~/.aws/credentials and ~/.aws/config (as botocore's configparser reads it).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace berth::aws {

using IniSection = std::map<std::string, std::string>;  // keys lower-cased
using IniFile = std::map<std::string, IniSection>;      // by section name, as written

// [section] headers, `key = value` (or `key: value`) lines, full-line comments starting with
// '#' or ';', blank lines. Indented lines continue the previous value (nested sections such as
// `s3 =\n  max_concurrent_requests = 10` are kept as text). Values are trimmed; inline comments
// are not stripped (botocore does not either). Keys before any section and lines that are
// neither are errors: "PATH:LINE: expected 'key = value' or '[section]'".
Result<IniFile> parse_ini(std::string_view text, const std::string& path);

}  // namespace berth::aws
