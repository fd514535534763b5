// Replays the seed corpus (tests/fuzz/corpus/<target>/) and every saved crash
// (tests/fuzz/regressions/<target>/) through a fuzz entry point, in the normal unit-test build:
// the cheap regression mode CI runs on every build, without libFuzzer or clang.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"

namespace berth::fuzz {

inline std::vector<std::filesystem::path> replay_files(const std::string& kind,
                                                       const std::string& target) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  fs::path dir = fs::path(BERTH_SOURCE_DIR) / "tests" / "fuzz" / kind / target;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().filename().string().front() != '.')
      files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// Returns the number of inputs replayed from the corpus and the regressions.
inline std::size_t replay(const std::string& target,
                          const std::function<void(std::string_view)>& entry) {
  throw_on_violation = true;
  std::size_t n = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    for (const auto& path : replay_files(kind, target)) {
      std::ifstream in(path, std::ios::binary);
      REQUIRE(in);
      std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      INFO("input: " << path.string());
      CHECK_NOTHROW(entry(data));
      ++n;
    }
  }
  return n;
}

}  // namespace berth::fuzz
