#pragma once

namespace berth::cli {

// Exit codes (DESIGN.md): 0 ok, 1 failed to converge, 2 usage, 78 configuration error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitConfig = 78;

int main(int argc, char** argv);

}  // namespace berth::cli
