#include <catch2/catch.hpp>

#include "core/label_trust.hpp"
#include "core/naming.hpp"
#include "core/planner.hpp"

using namespace berth;

namespace {

TargetService svc(const std::string& name, const std::string& hash = "h1",
                  const std::string& image = "sha256:img1") {
  TargetService s;
  s.name = name;
  s.config_hash = hash;
  s.image_id = image;
  return s;
}

ContainerInfo ctr(const std::string& project, const std::string& service,
                  const std::string& hash = "h1", const std::string& image = "sha256:img1",
                  const std::string& state = "running") {
  ContainerInfo c;
  c.id = "id-" + service;
  c.name = naming::container_name(project, service);
  c.labels = {{labels::kProject, project},
              {labels::kService, service},
              {labels::kConfigHash, hash},
              {labels::kImage, image},
              {labels::kOneoff, "False"}};
  c.labels[labels::kLabelsHash] = labels_hash(c.labels);  // created by berth
  c.state = state;
  c.networks = {naming::network_name(project)};
  return c;
}

TargetState three() {
  TargetState d;
  d.project = "p";
  for (auto n : {"db", "api", "web"}) d.services[n] = svc(n);
  return d;
}

Observed converged() {
  Observed o;
  o.networks.push_back({"nid", "p_default", {}});
  for (auto n : {"db", "api", "web"}) o.containers.push_back(ctr("p", n));
  return o;
}

}  // namespace

TEST_CASE("planner: nothing observed -> network and every container created", "[planner]") {
  auto plan = make_plan(three(), Observed{});
  REQUIRE(plan.infra.size() == 1);
  CHECK(plan.infra[0].type == ActionType::create_network);
  CHECK(plan.infra[0].target == "p_default");
  for (auto n : {"db", "api", "web"}) {
    REQUIRE(plan.services[n].action);
    CHECK(plan.services[n].action->type == ActionType::create);
    CHECK(plan.services[n].action->container_name == std::string("p-") + n + "-1");
  }
}

TEST_CASE("planner: converged stack -> no action", "[planner]") {
  auto obs = converged();
  auto plan = make_plan(three(), obs);
  CHECK(plan.empty());
  CHECK(plan.describe().empty());
}

TEST_CASE("planner: changed spec or image recreates only that service", "[planner]") {
  auto d = three();
  d.services["api"].config_hash = "h2";
  d.services["web"].image_id = "sha256:img2";
  auto obs = converged();
  auto plan = make_plan(d, obs);
  CHECK_FALSE(plan.services["db"].action);
  REQUIRE(plan.services["api"].action);
  CHECK(plan.services["api"].action->type == ActionType::recreate);
  CHECK(plan.services["api"].action->reason == "configuration changed");
  REQUIRE(plan.services["web"].action);
  CHECK(plan.services["web"].action->reason == "image changed");
}

TEST_CASE("planner: stopped container is started, one-shot done is left alone", "[planner]") {
  auto d = three();
  d.services["db"].oneshot = true;
  auto obs = converged();
  obs.containers[0].state = "exited";  // db, exit 0, oneshot
  obs.containers[1].state = "exited";  // api
  obs.containers[1].exit_code = 137;
  auto plan = make_plan(d, obs);
  CHECK_FALSE(plan.services["db"].action);
  REQUIRE(plan.services["api"].action);
  CHECK(plan.services["api"].action->type == ActionType::start);
  CHECK(plan.services["api"].action->reason == "not running (exited 137)");
}

TEST_CASE("planner: removed service is an orphan, leftovers are recovered", "[planner]") {
  auto d = three();
  d.services.erase("web");
  auto obs = converged();
  auto next = ctr("p", "api");
  next.id = "next-id";
  next.name = naming::next_name("p", "api");
  obs.containers.push_back(next);
  auto plan = make_plan(d, obs);
  REQUIRE(plan.cleanup.size() == 2);
  CHECK(plan.cleanup[0].type == ActionType::remove_orphan);
  CHECK(plan.cleanup[0].container_name == "p-web-1");
  CHECK(plan.cleanup[1].type == ActionType::recover);
  CHECK(plan.cleanup[1].container_id == "next-id");
}

TEST_CASE("planner: running container off the project network is recreated", "[planner]") {
  auto obs = converged();
  obs.containers[2].networks = {"bridge"};
  auto plan = make_plan(three(), obs);
  REQUIRE(plan.services["web"].action);
  CHECK(plan.services["web"].action->reason == "not attached to p_default");
}

TEST_CASE("planner: named volumes are created once", "[planner]") {
  auto d = three();
  d.services["db"].named_volumes = {"p_data"};
  d.services["api"].named_volumes = {"p_data"};
  auto plan = make_plan(d, converged());
  REQUIRE(plan.infra.size() == 1);
  CHECK(plan.infra[0].type == ActionType::create_volume);
  CHECK(plan.infra[0].target == "p_data");
}
