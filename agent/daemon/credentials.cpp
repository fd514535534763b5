#include "daemon/credentials.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "util/result.hpp"

namespace berth::daemon {
namespace {

constexpr std::size_t kMaxCredentialSize = 64 * 1024;

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0' || c == '\v' || c == '\f';
}

}  // namespace

Result<std::optional<std::string>> read_credential_from(const std::string& directory,
                                                        const std::string& id) {
  if (directory.empty()) return std::optional<std::string>{};
  const std::string path = directory + "/" + id;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return fail("cannot read credential " + path + ": " + berth::errno_text(errno));
  }
  std::string data;
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    data.append(buf, static_cast<std::size_t>(in.gcount()));
    if (data.size() > kMaxCredentialSize) {
      return fail("credential " + path + " is larger than 64 KiB", ErrorKind::invalid_input);
    }
  }
  if (in.bad()) return fail("cannot read credential " + path + ": read error");
  std::size_t begin = 0;
  std::size_t end = data.size();
  while (begin < end && is_blank(data[begin])) ++begin;
  while (end > begin && is_blank(data[end - 1])) --end;
  if (begin == end) return std::optional<std::string>{};
  return std::optional<std::string>{data.substr(begin, end - begin)};
}

Result<std::optional<std::string>> read_credential(const std::string& id) {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  return read_credential_from(dir != nullptr ? dir : "", id);
}

}  // namespace berth::daemon
