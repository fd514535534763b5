// The last log lines of a container, for the error and the report of a container that failed
// (pure: the Engine API's bytes in, bounded text out).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace berth {

inline constexpr std::size_t kLogTailLines = 20;
inline constexpr std::size_t kLogTailBytes = 4096;

// GET /containers/{id}/logs answers a multiplexed stream (8-byte frame headers: stream 0/1/2,
// three zero bytes, big-endian length) unless the container has a TTY (raw bytes). Returns the
// payload either way; a truncated last frame keeps what arrived.
std::string demux_docker_log(std::string_view raw);

// The last `max_lines` lines of `text`, at most `max_bytes` bytes (cut at a line start, or
// inside the first kept line on a UTF-8 boundary), without a trailing newline. Carriage
// returns are dropped; invalid UTF-8 is replaced.
std::string tail_lines(std::string_view text, std::size_t max_lines = kLogTailLines,
                       std::size_t max_bytes = kLogTailBytes);

}  // namespace berth
