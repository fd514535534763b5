// libFuzzer target: see entry_env_file.hpp. Built with -DBERTH_FUZZ=ON (clang); run by
// scripts/fuzz.
#include <cstddef>
#include <cstdint>

#include "entry_env_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  berth::fuzz::env_file_input(berth::fuzz::as_text(data, size));
  return 0;
}
