#include "config/config_loader.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "util/result.hpp"

namespace berth::config {

namespace {

std::string errno_text(int e) {
  return berth::errno_text(e);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::optional<std::string> read_small_file(const std::string& path, std::string* why) {
  return read_small_file(path, why, nullptr);
}

std::optional<std::string> read_small_file(const std::string& path, std::string* why,
                                           mode_t* mode) {
  std::string ignored;
  if (!why) why = &ignored;
  if (path.find('\0') != std::string::npos) {
    *why = "the path contains a NUL character";
    return std::nullopt;
  }
  // O_NONBLOCK: opening a FIFO must not hang; it is refused below.
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (f.fd < 0) {
    *why = errno_text(errno);
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    *why = errno_text(errno);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    *why = S_ISDIR(st.st_mode) ? "is a directory, not a regular file" : "not a regular file";
    return std::nullopt;
  }
  if (mode) *mode = st.st_mode;
  if (st.st_size > static_cast<off_t>(kMaxConfigBytes)) {
    *why = "larger than 1 MiB (" + std::to_string(st.st_size) + " bytes)";
    return std::nullopt;
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[16384];
  while (true) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      *why = errno_text(errno);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxConfigBytes) {  // grew while we read
      *why = "larger than 1 MiB";
      return std::nullopt;
    }
  }
  return out;
}

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

FileReader make_file_reader(const std::string& config_dir) {
  return [config_dir](const std::string& path, std::string* why) -> std::optional<std::string> {
    std::string full = path;
    if (!path.empty() && path.front() != '/' && !config_dir.empty())
      full = config_dir + (config_dir.back() == '/' ? "" : "/") + path;
    mode_t mode = 0;
    auto text = read_small_file(full, why, &mode);
    if (text) {
      // An env file holds the services' settings and often secrets: whoever may write it
      // chooses what the containers get; whoever may read it sees the secrets.
      if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
        if (why)
          *why = "mode " + mode_text(mode) + ": writable by group/others, refused (chmod go-w " +
                 full + ")";
        return std::nullopt;
      }
      if ((mode & S_IROTH) != 0)
        spdlog::warn(
            "env file {} has mode {}: readable by others; it may hold secrets (chmod "
            "o-r {})",
            full, mode_text(mode), full);
      return text;
    }
    if (why && full != path) *why += " (" + full + ")";
    return text;
  };
}

ParseOutcome load_config_file(const std::string& path) {
  ParseOutcome out;
  try {
    std::string why;
    auto text = read_small_file(path, &why);
    if (!text) {
      out.diagnostics.push_back(Diagnostic{path, 0, 0, "cannot read the configuration: " + why});
      return out;
    }
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(path, ec);
    std::string dir =
        ec ? std::filesystem::path(path).parent_path().string() : abs.parent_path().string();
    dir = normalize_path(dir.empty() ? "." : dir);
    return parse_config(*text, path, make_file_reader(dir), dir);
  } catch (const std::exception& e) {
    out.config.reset();
    out.diagnostics.push_back(
        Diagnostic{path, 0, 0, std::string("cannot read the configuration: ") + e.what()});
  }
  return out;
}

}  // namespace berth::config
