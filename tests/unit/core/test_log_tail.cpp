// The last log lines of a failed container: Docker's multiplexed log stream and the bounds.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "core/log_tail.hpp"

using namespace berth;

namespace {

std::string frame(char stream, const std::string& payload) {
  std::string h(8, '\0');
  h[0] = stream;
  auto n = payload.size();
  h[4] = static_cast<char>((n >> 24) & 0xff);
  h[5] = static_cast<char>((n >> 16) & 0xff);
  h[6] = static_cast<char>((n >> 8) & 0xff);
  h[7] = static_cast<char>(n & 0xff);
  return h + payload;
}

}  // namespace

TEST_CASE("log tail: multiplexed frames are joined, a TTY stream is kept as is", "[log_tail]") {
  std::string raw = frame(1, "starting\n") + frame(2, "fatal: no config\n");
  CHECK(demux_docker_log(raw) == "starting\nfatal: no config\n");
  CHECK(demux_docker_log("plain tty output\n") == "plain tty output\n");
  CHECK(demux_docker_log("") == "");
  // A truncated last frame keeps what arrived.
  std::string cut = frame(1, "abc\n") + frame(1, "defghij").substr(0, 11);
  CHECK(demux_docker_log(cut) == "abc\ndef");
  // A frame of 300 bytes (length in more than one byte).
  std::string big(300, 'x');
  CHECK(demux_docker_log(frame(1, big)) == big);
}

TEST_CASE("log tail: the last 20 lines, at most 4 KiB, clean text", "[log_tail]") {
  std::string text;
  for (int i = 1; i <= 30; ++i) text += "line " + std::to_string(i) + "\r\n";
  std::string t = tail_lines(text);
  CHECK(t.starts_with("line 11\n"));
  CHECK(t.ends_with("line 30"));
  CHECK(std::count(t.begin(), t.end(), '\n') == 19);
  CHECK(tail_lines("one line") == "one line");
  CHECK(tail_lines("a\nb\nc\n", 2) == "b\nc");
  CHECK(tail_lines("") == "");
  CHECK(tail_lines("\n\n\n") == "");

  // 20 long lines: whole lines up to 4 KiB.
  std::string longer;
  for (int i = 0; i < 20; ++i) longer += std::string(500, static_cast<char>('a' + i)) + "\n";
  std::string lt = tail_lines(longer);
  CHECK(lt.size() <= kLogTailBytes);
  CHECK(lt.ends_with(std::string(500, 't')));
  CHECK(lt.find('\n') == 500);  // starts at a line start

  // One huge line: its end, not from inside a UTF-8 sequence.
  std::string huge;
  for (int i = 0; i < 3000; ++i) huge += "\xc3\xa9";  // é
  std::string ht = tail_lines(huge);
  CHECK(ht.size() <= kLogTailBytes);
  CHECK(ht.starts_with("\xc3\xa9"));
  // Invalid UTF-8 is replaced.
  CHECK(tail_lines("bad \xff byte") == "bad \xEF\xBF\xBD byte");
}
