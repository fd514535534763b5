// libFuzzer target: see entry_jsonstream.hpp. Built with -DBERTH_FUZZ=ON (clang); run by
// scripts/fuzz.
#include <cstddef>
#include <cstdint>

#include "entry_jsonstream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  berth::fuzz::jsonstream_input(berth::fuzz::as_text(data, size));
  return 0;
}
