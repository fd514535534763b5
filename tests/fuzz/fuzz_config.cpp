// libFuzzer target: see entry_config.hpp. Built with -DBERTH_FUZZ=ON (clang); run by scripts/fuzz.
#include <cstddef>
#include <cstdint>

#include "entry_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  berth::fuzz::config(berth::fuzz::as_text(data, size));
  return 0;
}
