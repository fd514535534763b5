#include <catch2/catch.hpp>

#include "core/graph.hpp"

TEST_CASE("find_cycle names the cycle", "[graph]") {
  std::map<std::string, std::vector<std::string>> e{
      {"a", {"b"}}, {"b", {"c"}}, {"c", {"a"}}, {"d", {}}};
  auto c = berth::find_cycle(e);
  REQUIRE(c);
  CHECK(*c == std::vector<std::string>{"a", "b", "c", "a"});
  CHECK_FALSE(berth::find_cycle({{"a", {"b"}}, {"b", {}}}));
}

TEST_CASE("topological_order puts dependencies first", "[graph]") {
  std::map<std::string, std::vector<std::string>> e{
      {"web", {"db", "cache"}}, {"db", {}}, {"cache", {"db"}}};
  auto o = berth::topological_order(e);
  CHECK(o == std::vector<std::string>{"db", "cache", "web"});
}

TEST_CASE("stop_waves: dependants first, a cycle does not hang", "[graph]") {
  using W = std::vector<std::vector<std::string>>;
  std::map<std::string, std::vector<std::string>> e{
      {"web", {"db", "cache"}}, {"db", {}}, {"cache", {"db"}}, {"lone", {}}};
  CHECK(berth::stop_waves(e) == W{{"lone", "web"}, {"cache"}, {"db"}});
  // a -> b -> a (labels berth did not write): stopped together after their dependant.
  std::map<std::string, std::vector<std::string>> cyc{
      {"a", {"b"}}, {"b", {"a"}}, {"c", {"a"}}, {"self", {"self"}}, {"x", {"unknown"}}};
  CHECK(berth::stop_waves(cyc) == W{{"c", "self", "x"}, {"a", "b"}});
  CHECK(berth::stop_waves({}).empty());
}
