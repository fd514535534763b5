#include "report/token.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "util/atomic_file.hpp"
#include "util/result.hpp"

namespace berth::report {

namespace {

constexpr std::size_t kMaxSecret = 64 * 1024;

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// A secret file others may write (they choose the token) or read (they learn it).
std::optional<std::string> mode_problem(mode_t mode) {
  if ((mode & (S_IWGRP | S_IWOTH)) != 0) return "writable by group/others";
  if ((mode & (S_IRGRP | S_IROTH)) != 0) return "readable by group/others";
  return std::nullopt;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace

Result<std::string> read_secret_file(const std::string& path, const std::string& what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return fail(what + " " + path + ": " + berth::errno_text(err),
                err == EACCES ? ErrorKind::auth : ErrorKind::config);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(what + " " + path + ": " + berth::errno_text(err), ErrorKind::config);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(what + " " + path + ": not a regular file", ErrorKind::config);
  }
  if (auto bad = mode_problem(st.st_mode)) {
    ::close(fd);
    return fail(what + " " + path + " has mode " + mode_text(st.st_mode) + ": " + *bad +
                    " (chmod 600 " + path + ")",
                ErrorKind::config);
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxSecret) {
    ::close(fd);
    return fail(what + " " + path + ": larger than 64 KiB", ErrorKind::config);
  }
  std::string data;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fail(what + " " + path + ": " + berth::errno_text(err), ErrorKind::config);
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxSecret) break;
  }
  ::close(fd);
  std::size_t b = 0, e = data.size();
  while (b < e && is_space(data[b])) ++b;
  while (e > b && is_space(data[e - 1])) --e;
  std::string token = data.substr(b, e - b);
  // Wipe the untrimmed copy.
  std::fill(data.begin(), data.end(), '\0');
  if (token.empty()) return fail(what + " " + path + ": empty", ErrorKind::config);
  for (char c : token) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7f)
      return fail(what + " " + path + ": contains whitespace or control characters",
                  ErrorKind::config);
  }
  return token;
}

namespace {

// The systemd credential's path when there is a usable one, else "". systemd reads
// /etc/berth/dashboard.token as root and hands it to the unprivileged service. berth.service
// sets an empty default credential (SetCredential=) for hosts without the file: empty means
// "not configured here", so token_file applies.
std::string credential_path() {
  const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
  if (!creds || !*creds) return "";
  std::string path = std::string(creds) + "/dashboard-token";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  // Only whitespace (berth.service's SetCredential= default) = no credential on this host.
  if (st.st_size <= 2) {
    auto raw = read_file(path, 16);
    if (raw && *raw && (*raw)->find_first_not_of(" \t\r\n") == std::string::npos) return "";
  }
  return path;
}

}  // namespace

Result<void> check_dashboard_token_file(const DashboardSettings& settings) {
  if (settings.token_file.empty() || !credential_path().empty()) return {};
  const std::string& path = settings.token_file;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  if (auto bad = mode_problem(st.st_mode))
    return fail("dashboard token file " + path + " has mode " + mode_text(st.st_mode) + ": " +
                    *bad + " (chmod 600 " + path + ")",
                ErrorKind::config);
  return {};
}

Result<std::string> read_dashboard_token(const DashboardSettings& settings) {
  if (auto cred = credential_path(); !cred.empty())
    return read_secret_file(cred, "dashboard token credential");
  if (!settings.token_file.empty())
    return read_secret_file(settings.token_file, "dashboard token file");
  return std::string();
}

TokenProvider make_token_provider(const DashboardSettings& settings) {
  return [settings] { return read_dashboard_token(settings); };
}

}  // namespace berth::report
