// Reads berth.toml (and the env files it names) from the real file system and hands the text to
// the pure parser in config/config.hpp.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "config/config.hpp"

namespace berth::config {

// Reads a whole regular file of at most kMaxConfigBytes. Refuses directories, FIFOs, devices
// and larger files. On failure returns nullopt and a short reason in *why
// ("No such file or directory", "not a regular file", "larger than 1 MiB (2000000 bytes)").
std::optional<std::string> read_small_file(const std::string& path, std::string* why);
// The same, also giving the file's st_mode.
std::optional<std::string> read_small_file(const std::string& path, std::string* why, mode_t* mode);

// The FileReader the daemon uses (env files): relative paths are resolved against `config_dir`;
// the same limits as read_small_file apply. A file group or others may write is refused ("mode
// 0666: writable by group/others, refused (chmod go-w PATH)"); one others may read is read with
// a warning.
FileReader make_file_reader(const std::string& config_dir);

// Reads and parses the configuration at `path`. A file that cannot be read, is not a regular
// file or is larger than 1 MiB yields one diagnostic without a position ("PATH: ..."). Relative
// paths in the file are resolved against the absolute directory of `path`; messages name `path`
// as given. Never throws.
ParseOutcome load_config_file(const std::string& path);

}  // namespace berth::config
