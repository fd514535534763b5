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
