#include <spdlog/spdlog.h>
#include <syslog.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "util/journal_sink.hpp"
#include "util/logging.hpp"

using namespace berth::log;

TEST_CASE("valid_field_name follows sd_journal_send rules", "[logging]") {
  CHECK(valid_field_name("BERTH_SERVICE"));
  CHECK(valid_field_name("CONTAINER_ID"));
  CHECK(valid_field_name("X2"));
  CHECK_FALSE(valid_field_name(""));
  CHECK_FALSE(valid_field_name("_PID"));
  CHECK_FALSE(valid_field_name("berth_service"));
  CHECK_FALSE(valid_field_name("BERTH-SERVICE"));
  CHECK_FALSE(valid_field_name("2X"));
  CHECK_FALSE(valid_field_name("MESSAGE"));
  CHECK_FALSE(valid_field_name("PRIORITY"));
  CHECK_FALSE(valid_field_name("SYSLOG_IDENTIFIER"));
  CHECK_FALSE(valid_field_name("CODE_LINE"));
}

TEST_CASE("LogFields scopes nest, override and unwind", "[logging]") {
  REQUIRE(current_log_fields().empty());
  {
    LogFields outer{{kFieldService, "web"}, {kFieldOperation, "pull"}, {"bad name", "x"}};
    auto f = current_log_fields();
    REQUIRE(f.size() == 2);
    CHECK(f[0] == LogField{"BERTH_SERVICE", "web"});
    CHECK(f[1] == LogField{"BERTH_OPERATION", "pull"});
    {
      LogFields inner{{kFieldOperation, "create"}, {kFieldContainer, "abc123"}};
      f = current_log_fields();
      REQUIRE(f.size() == 3);
      CHECK(f[1] == LogField{"BERTH_OPERATION", "create"});
      CHECK(f[2] == LogField{"CONTAINER_ID", "abc123"});
    }
    f = current_log_fields();
    REQUIRE(f.size() == 2);
    CHECK(f[1].second == "pull");
  }
  CHECK(current_log_fields().empty());
}

TEST_CASE("format_fields_compact uses short names and quotes when needed", "[logging]") {
  CHECK(format_fields_compact({}) == "");
  CHECK(format_fields_compact({{kFieldService, "web"}, {kFieldOperation, "pull"}}) ==
        "service=web op=pull");
  CHECK(format_fields_compact({{kFieldImage, "r/x:1"},
                               {kFieldDigest, "sha256:ab"},
                               {kFieldContainer, "c1"},
                               {"OTHER_FIELD", "a b"},
                               {"EMPTY", ""},
                               {"Q", "say \"hi\""}}) ==
        "image=r/x:1 digest=sha256:ab container=c1 other_field=\"a b\" empty=\"\" "
        "q=\"say \\\"hi\\\"\"");
}

TEST_CASE("journal priority follows spdlog's systemd_sink table", "[logging]") {
  CHECK(journal_priority(spdlog::level::trace) == LOG_DEBUG);
  CHECK(journal_priority(spdlog::level::debug) == LOG_DEBUG);
  CHECK(journal_priority(spdlog::level::info) == LOG_INFO);
  CHECK(journal_priority(spdlog::level::warn) == LOG_WARNING);
  CHECK(journal_priority(spdlog::level::err) == LOG_ERR);
  CHECK(journal_priority(spdlog::level::critical) == LOG_CRIT);
  CHECK(journal_priority(spdlog::level::off) == LOG_INFO);
}

TEST_CASE("build_journal_fields: base fields, location, structured fields", "[logging]") {
  SECTION("without a source location") {
    auto f =
        build_journal_fields(spdlog::level::warn, "pull failed", "berth",
                             {{kFieldService, "web"}, {"_BAD", "x"}, {kFieldOperation, "pull"}});
    REQUIRE(f == std::vector<std::string>{"MESSAGE=pull failed", "PRIORITY=4",
                                          "SYSLOG_IDENTIFIER=berth", "BERTH_SERVICE=web",
                                          "BERTH_OPERATION=pull"});
    auto iov = to_iovecs(f);
    REQUIRE(iov.size() == f.size());
    CHECK(iov[0].iov_len == std::strlen("MESSAGE=pull failed"));
    CHECK(std::string(static_cast<const char*>(iov[3].iov_base), iov[3].iov_len) ==
          "BERTH_SERVICE=web");
  }
  SECTION("with a source location, multi-line message kept whole") {
    spdlog::source_loc loc{"engine.cpp", 42, "pull"};
    auto f = build_journal_fields(spdlog::level::err, "a\nb", "berth", {}, loc);
    REQUIRE(f == std::vector<std::string>{"MESSAGE=a\nb", "PRIORITY=3", "SYSLOG_IDENTIFIER=berth",
                                          "CODE_FILE=engine.cpp", "CODE_LINE=42",
                                          "CODE_FUNC=pull"});
  }
}

TEST_CASE("MemorySink records level, message and the fields of the logging thread", "[logging]") {
  LogCapture capture;
  spdlog::info("no fields");
  {
    LogFields f{{kFieldService, "web"}, {kFieldOperation, "pull"}};
    spdlog::warn("pulling {}", "img:1");
  }
  auto r = capture.sink().records();
  REQUIRE(r.size() == 2);
  CHECK(r[0].level == spdlog::level::info);
  CHECK(r[0].message == "no fields");
  CHECK(r[0].fields.empty());
  CHECK(r[1].level == spdlog::level::warn);
  CHECK(r[1].message == "pulling img:1");
  CHECK(r[1].field("BERTH_SERVICE") == "web");
  CHECK(r[1].field("BERTH_OPERATION") == "pull");
  CHECK(r[1].field("BERTH_IMAGE") == "");
  CHECK(capture.sink().count(spdlog::level::warn) == 1);
}

TEST_CASE("log target and level parsing", "[logging]") {
  CHECK(parse_log_target("auto") == LogTarget::automatic);
  CHECK(parse_log_target("journal") == LogTarget::journal);
  CHECK(parse_log_target("stderr") == LogTarget::console);
  CHECK_FALSE(parse_log_target("syslog"));
  CHECK(resolve_log_target(LogTarget::automatic, true) == LogTarget::journal);
  CHECK(resolve_log_target(LogTarget::automatic, false) == LogTarget::console);
  CHECK(resolve_log_target(LogTarget::console, true) == LogTarget::console);
  CHECK(resolve_log_target(LogTarget::journal, false) == LogTarget::journal);
  CHECK(parse_log_level("debug") == spdlog::level::debug);
  CHECK(parse_log_level("warning") == spdlog::level::warn);
  CHECK(parse_log_level("error") == spdlog::level::err);
  CHECK(parse_log_level("off") == spdlog::level::off);
  CHECK_FALSE(parse_log_level("verbose"));
}

namespace {
// Runs f with fd 2 redirected to a temporary file and returns what was written.
template <typename F>
std::string capture_stderr(F&& f) {
  char path[] = "/tmp/berth-test-stderr-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  std::fflush(stderr);
  int saved = ::dup(2);
  ::dup2(fd, 2);
  f();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  ::unlink(path);
  return ss.str();
}
}  // namespace

TEST_CASE("console sink appends the fields, and prefixes priorities under a journal stream",
          "[logging]") {
  auto previous = spdlog::default_logger();
  ::unsetenv("SPDLOG_LEVEL");
  SECTION("terminal format") {
    ::unsetenv("JOURNAL_STREAM");
    auto out = capture_stderr([] {
      setup_logging(LogTarget::console, "info");
      LogFields f{{kFieldService, "web"}, {kFieldOperation, "pull"}};
      spdlog::info("pulled");
      spdlog::debug("hidden");
    });
    CHECK(out.find(" info pulled service=web op=pull\n") != std::string::npos);
    CHECK(out.find("hidden") == std::string::npos);
  }
  SECTION("stderr connected to the journal") {
    ::setenv("JOURNAL_STREAM", "8:1234", 1);
    auto out = capture_stderr([] {
      setup_logging(LogTarget::console, "info");
      spdlog::warn("careful");
      LogFields f{{kFieldService, "db"}};
      spdlog::error("broken");
    });
    ::unsetenv("JOURNAL_STREAM");
    CHECK(out == "<4>careful\n<3>broken service=db\n");
  }
  spdlog::set_default_logger(previous);
}

TEST_CASE("setup_logging honours SPDLOG_LEVEL and rejects unknown levels", "[logging]") {
  auto previous = spdlog::default_logger();
  ::unsetenv("JOURNAL_STREAM");
  ::setenv("SPDLOG_LEVEL", "debug", 1);
  setup_logging(LogTarget::console, "warn");
  ::unsetenv("SPDLOG_LEVEL");
  CHECK(spdlog::default_logger()->name() == "berth");
  CHECK(spdlog::default_logger()->level() == spdlog::level::debug);
  auto out = capture_stderr([] { setup_logging(LogTarget::console, "nonsense"); });
  CHECK(spdlog::default_logger()->level() == spdlog::level::info);
  CHECK(out.find("unknown log level 'nonsense', using info") != std::string::npos);
  spdlog::set_default_logger(previous);
}
