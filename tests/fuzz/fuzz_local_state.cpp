// libFuzzer target: see entry_local_state.hpp. Built with -DBERTH_FUZZ=ON (clang); run by
// scripts/fuzz.
#include <cstddef>
#include <cstdint>

#include "entry_local_state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  berth::fuzz::local_state(berth::fuzz::as_text(data, size));
  return 0;
}
