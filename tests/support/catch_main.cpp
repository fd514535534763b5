// main() of berth's Catch2 test binaries: Catch2's own, with both of its strictness checks always
// on, so that a test cannot pass having run nothing (tests/README.md):
//   NoTests       a run whose test spec matches no test case fails (exit 2). catch_discover_tests
//                 registers one ctest test per name; a name it mangled (Catch2 v2's CMake script
//                 splits names at ';') matched nothing and passed.
//   NoAssertions  a test case that ran no assertion fails (a skip records one: BERTH_SKIP).
// Catch2 v2 takes a single -w option on the command line, hence here rather than as
// catch_discover_tests EXTRA_ARGS.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (int rc = session.applyCommandLine(argc, argv); rc != 0) return rc;
  auto& data = session.configData();
  data.warnings = static_cast<Catch::WarnAbout::What>(data.warnings | Catch::WarnAbout::NoTests |
                                                      Catch::WarnAbout::NoAssertions);
  return session.run();
}
