// Shared by the libFuzzer targets (tests/fuzz/fuzz_*.cpp) and the replay unit tests
// (tests/unit/*/test_fuzz_*.cpp), which run the same entry points on the seed corpus and the
// regression inputs in every normal build.
//
// An entry point feeds one input to a parser and checks properties of the result. A violated
// property aborts under libFuzzer (a crash with a reproducer file) and throws
// std::logic_error in the replay tests (Catch2 reports the message and the file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace berth::fuzz {

// Set by the replay tests; libFuzzer runs keep the default (abort).
inline bool throw_on_violation = false;

[[noreturn]] inline void violated(const std::string& what) {
  if (throw_on_violation) throw std::logic_error("fuzz property violated: " + what);
  std::fprintf(stderr, "berth fuzz property violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Text a terminal or the journal shows as is: valid UTF-8 without C0 controls or DEL.
inline bool printable(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return false;
  }
  return valid_utf8(s);
}

// Deterministic pseudo-random numbers derived from the input itself, so that corpus files stay
// plain documents (no control prefix) and a reproducer replays identically.
class Rng {
 public:
  explicit Rng(std::string_view seed) {
    for (char c : seed) state_ = (state_ ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    if (state_ == 0) state_ = 1;
  }
  std::uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  // Uniform-ish in [lo, hi].
  std::size_t between(std::size_t lo, std::size_t hi) {
    return lo + static_cast<std::size_t>(next() % (hi - lo + 1));
  }

 private:
  std::uint64_t state_ = 0xcbf29ce484222325ULL;
};

}  // namespace berth::fuzz

#define BERTH_FUZZ_CHECK(cond, what)                                          \
  do {                                                                        \
    if (!(cond)) ::berth::fuzz::violated(std::string(what) + " [" #cond "]"); \
  } while (0)
