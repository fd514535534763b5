#include "util/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "util/result.hpp"

namespace berth {

namespace {

std::string errno_text(int err) {
  return berth::errno_text(err);
}

tl::unexpected<Error> io_fail(const std::string& what, const std::string& path, int err) {
  return fail(what + " " + path + ": " + errno_text(err), ErrorKind::generic);
}

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_;
};

}  // namespace

Result<void> fsync_dir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return io_fail("open directory", dir, errno);
  if (::fsync(fd.get()) != 0) return io_fail("fsync directory", dir, errno);
  return {};
}

Result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  static std::atomic<unsigned> counter{0};
  std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (fd.get() < 0) return io_fail("create", tmp, errno);
  auto cleanup_fail = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());
    return io_fail(what, tmp, err);
  };
  if (::fchmod(fd.get(), mode) != 0) return cleanup_fail("chmod", errno);
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return cleanup_fail("write", errno);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return cleanup_fail("fsync", errno);
  if (::close(fd.release()) != 0) return cleanup_fail("close", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_fail("rename to", path, err);
  }
  return fsync_dir(parent_dir(path));
}

Result<std::optional<std::string>> read_file(const std::string& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return io_fail("open", path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_fail("stat", path, errno);
  if (!S_ISREG(st.st_mode)) return fail(path + ": not a regular file", ErrorKind::invalid_input);
  if (static_cast<std::size_t>(st.st_size) > max_bytes)
    return fail(path + ": larger than " + std::to_string(max_bytes) + " bytes",
                ErrorKind::invalid_input);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_fail("read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes)
      return fail(path + ": larger than " + std::to_string(max_bytes) + " bytes",
                  ErrorKind::invalid_input);
  }
  return std::optional<std::string>(std::move(out));
}

Result<void> ensure_dir(const std::string& path, mode_t mode) {
  if (path.empty()) return fail("ensure_dir: empty path", ErrorKind::invalid_input);
  std::string cur;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    bool last = pos == std::string::npos || pos + 1 == path.size();
    // Directories created on the way are as private as the last one (the state directory's
    // report/spool must not leave report/ world-readable); existing ones are left alone.
    if (::mkdir(cur.c_str(), last ? mode : (mode | S_IRWXU)) != 0 && errno != EEXIST)
      return io_fail("create directory", cur, errno);
    if (last) break;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return io_fail("stat", path, errno);
  if (!S_ISDIR(st.st_mode)) return fail(path + ": not a directory", ErrorKind::invalid_input);
  if ((st.st_mode & 07777) != mode && ::chmod(path.c_str(), mode) != 0)
    return io_fail("chmod", path, errno);
  return {};
}

Result<void> remove_file_durable(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return {};
    return io_fail("remove", path, errno);
  }
  return fsync_dir(parent_dir(path));
}

Result<std::vector<std::string>> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return io_fail("open directory", dir, errno);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace berth
