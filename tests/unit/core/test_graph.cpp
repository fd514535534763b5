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

TEST_CASE("find_cycles: every cycle once, from its smallest name, and a long chain is fine",
          "[graph]") {
  std::map<std::string, std::vector<std::string>> e{{"b", {"a"}}, {"a", {"b", "x"}},  {"c", {"d"}},
                                                    {"d", {"c"}}, {"self", {"self"}}, {"e", {"a"}}};
  using C = std::vector<std::vector<std::string>>;
  CHECK(berth::find_cycles(e) == C{{"a", "b"}, {"c", "d"}, {"self"}});
  CHECK(berth::find_cycles({{"a", {"b"}}, {"b", {}}}).empty());
  std::map<std::string, std::vector<std::string>> chain;
  for (int i = 0; i < 20000; ++i) chain["s" + std::to_string(i)] = {"s" + std::to_string(i + 1)};
  chain["s20000"] = {"s0"};
  auto cycles = berth::find_cycles(chain);
  REQUIRE(cycles.size() == 1);
  CHECK(cycles[0].size() == 20001);
  CHECK(cycles[0].front() == "s0");
}
