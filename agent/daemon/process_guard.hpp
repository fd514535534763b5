// berth's own process while it holds secrets (ECR tokens, AWS keys, the dashboard token).
#pragma once

#include "util/result.hpp"

namespace berth::daemon {

// prctl(PR_SET_DUMPABLE, 0): no core dump of berth's memory, /proc/PID/{mem,environ,maps} owned
// by root, no ptrace attach by the same user. Called by `run` and `up` before any secret is read.
// berth.service also sets LimitCORE=0 (a crash never writes a core file).
Result<void> make_non_dumpable();

// True when the process is dumpable (tests, `berth version` when asked about it).
bool is_dumpable();

}  // namespace berth::daemon
