#include "daemon/process_guard.hpp"

#include <sys/prctl.h>

#include <cerrno>

namespace berth::daemon {

Result<void> make_non_dumpable() {
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return fail("prctl(PR_SET_DUMPABLE, 0): " + errno_text(errno));
  return {};
}

bool is_dumpable() {
  return ::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1;
}

}  // namespace berth::daemon
