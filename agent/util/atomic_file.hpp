// Durable small-file I/O for berth's state directory: every write is atomic (temp file in the
// same directory, fsync, rename, fsync of the directory), so a crash or power loss leaves
// either the old or the new content, never a torn file.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace berth {

// Replace `path` with `data` atomically; the file gets exactly `mode` (umask ignored).
// The temp file is "<path>.tmp.<pid>.<n>" and is removed on failure.
Result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0600);

// Whole file, or nullopt when it does not exist. Larger than max_bytes is an error.
Result<std::optional<std::string>> read_file(const std::string& path, std::size_t max_bytes);

// mkdir -p; the last component gets `mode` (an existing directory is chmod'ed to it), the
// components it creates on the way `mode | 0700`.
Result<void> ensure_dir(const std::string& path, mode_t mode = 0700);

// unlink + fsync of the directory; a missing file is not an error.
Result<void> remove_file_durable(const std::string& path);

// fsync a directory (after renames/unlinks in it).
Result<void> fsync_dir(const std::string& dir);

// Names (not paths) of the entries of a directory, sorted; "." and ".." excluded.
Result<std::vector<std::string>> list_dir(const std::string& dir);

}  // namespace berth
