// libFuzzer target: see entry_image_ref.hpp. Built with -DBERTH_FUZZ=ON (clang); run by
// scripts/fuzz.
#include <cstddef>
#include <cstdint>

#include "entry_image_ref.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  berth::fuzz::image_ref(berth::fuzz::as_text(data, size));
  return 0;
}
