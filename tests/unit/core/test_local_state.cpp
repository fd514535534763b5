#include <catch2/catch.hpp>

#include "core/local_state.hpp"

using namespace berth;

TEST_CASE("local state: good, previous, quarantine and prune", "[state]") {
  LocalState s;
  s.record_pulled("web", "sha256:a");
  s.record_good("web", {"sha256:a", "sha256:da", "r:1", "t1"});
  s.record_pulled("web", "sha256:b");
  s.quarantine("web", {"sha256:b", "sha256:db", "t2", "unhealthy"});
  CHECK(s.is_quarantined("web", "sha256:b"));
  CHECK_FALSE(s.is_quarantined("web", "sha256:a"));
  s.record_pulled("web", "sha256:c");
  s.record_good("web", {"sha256:c", "sha256:dc", "r:1", "t3"});
  CHECK(s.services["web"].previous.image_id == "sha256:a");
  CHECK(s.prunable("web") == std::vector<std::string>{"sha256:b"});

  auto back = parse_local_state(to_json(s).dump());
  REQUIRE(back);
  CHECK(back->services["web"].last_good == s.services["web"].last_good);
  CHECK(back->is_quarantined("web", "sha256:b"));
  CHECK(back->services["web"].pulled.size() == 3);
}

TEST_CASE("local state: a digest that runs healthy leaves quarantine", "[state]") {
  LocalState s;
  s.quarantine("web", {"sha256:b", "", "t", "x"});
  s.record_good("web", {"sha256:b", "", "", "t2"});
  CHECK_FALSE(s.is_quarantined("web", "sha256:b"));
}

TEST_CASE("local state: malformed documents are errors, not exceptions", "[state]") {
  CHECK_FALSE(parse_local_state("not json"));
  CHECK_FALSE(parse_local_state("[1,2]"));
  auto odd = parse_local_state(R"({"services":{"a":{"last_good":5,"pulled":[1,"x"]}}})");
  REQUIRE(odd);
  CHECK(odd->services["a"].pulled == std::vector<std::string>{"x"});
}
