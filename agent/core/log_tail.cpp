#include "core/log_tail.hpp"

#include <algorithm>

#include "core/status.hpp"

namespace berth {

namespace {

bool looks_multiplexed(std::string_view raw) {
  if (raw.size() < 8) return false;
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(raw[i]); };
  return b(0) <= 2 && b(1) == 0 && b(2) == 0 && b(3) == 0;
}

}  // namespace

std::string demux_docker_log(std::string_view raw) {
  if (!looks_multiplexed(raw)) return std::string(raw);
  std::string out;
  std::size_t pos = 0;
  while (pos + 8 <= raw.size()) {
    auto b = [&](std::size_t i) {
      return static_cast<std::size_t>(static_cast<unsigned char>(raw[i]));
    };
    std::size_t len = (b(pos + 4) << 24) | (b(pos + 5) << 16) | (b(pos + 6) << 8) | b(pos + 7);
    pos += 8;
    std::size_t take = std::min(len, raw.size() - pos);
    out.append(raw.substr(pos, take));
    pos += take;
  }
  return out;
}

std::string tail_lines(std::string_view text, std::size_t max_lines, std::size_t max_bytes) {
  std::string clean;
  clean.reserve(text.size());
  for (char ch : text)
    if (ch != '\r') clean.push_back(ch);
  while (!clean.empty() && clean.back() == '\n') clean.pop_back();
  if (max_lines == 0 || clean.empty()) return {};
  // The start of the last max_lines lines.
  std::size_t start = clean.size();
  for (std::size_t n = 0; n < max_lines; ++n) {
    auto nl = start == 0 ? std::string::npos : clean.rfind('\n', start - 1);
    if (nl == std::string::npos) {
      start = 0;
      break;
    }
    start = nl;
  }
  if (start > 0) ++start;  // after the newline
  std::string_view kept = std::string_view(clean).substr(start);
  if (kept.size() > max_bytes) {
    std::string_view last = kept.substr(kept.size() - max_bytes);
    auto nl = last.find('\n');
    if (nl != std::string_view::npos && nl + 1 < last.size()) {
      last = last.substr(nl + 1);  // whole lines
    } else {
      std::size_t skip = 0;  // the end of one long line: not from inside a UTF-8 sequence
      while (skip < last.size() && (static_cast<unsigned char>(last[skip]) & 0xC0) == 0x80) ++skip;
      last = last.substr(skip);
    }
    kept = last;
  }
  return clean_text(kept, max_bytes);
}

}  // namespace berth
