// libFuzzer target: see entry_retry_after.hpp. Built with -DBERTH_FUZZ=ON (clang); run by
// scripts/fuzz.
#include <cstddef>
#include <cstdint>

#include "entry_retry_after.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  berth::fuzz::retry_after_input(berth::fuzz::as_text(data, size));
  return 0;
}
