// Issue 22: berth trusts only the labels it wrote (org.berth.labels-hash); containers of the
// project it did not create are reported and left alone.
#include <catch2/catch.hpp>

#include "core/container_spec.hpp"
#include "core/label_trust.hpp"
#include "core/naming.hpp"
#include "core/planner.hpp"

using namespace berth;

namespace {

// What Docker reports for a container berth created from `svc`: the image's labels, overridden by
// the create body's labels (Docker merges them that way).
std::map<std::string, std::string> created(const ServiceSpec& svc,
                                           const std::map<std::string, std::string>& image_labels) {
  SpecContext ctx;
  ctx.project = "p";
  auto body = container_body(svc, ctx);
  auto hash = config_hash(body);
  body = finalize_body(std::move(body), hash, ResolvedImage{"r@sha256:1", "sha256:img", ""}, "r");
  std::map<std::string, std::string> labels = image_labels;
  for (const auto& [k, v] : body["Labels"].items()) labels[k] = v.get<std::string>();
  return labels;
}

ContainerInfo container(const std::string& name, std::map<std::string, std::string> labels) {
  ContainerInfo c;
  c.id = "id-" + name;
  c.name = name;
  c.labels = std::move(labels);
  c.state = "running";
  c.networks = {"p_default"};
  return c;
}

}  // namespace

TEST_CASE("labels berth writes verify, and an image's depends_on cannot show through", "[labels]") {
  ServiceSpec web;
  web.name = "web";
  web.image = "r";
  // The image carries a compose depends_on label and berth labels of its own.
  auto labels = created(web, {{labels::kDependsOn, "db:service_started:false"},
                              {labels::kLabelsHash, "forged"},
                              {"org.opencontainers.image.title", "web"}});
  CHECK(ownership(labels) == Ownership::verified);
  CHECK(labels.at(labels::kDependsOn).empty());  // berth wrote "" over the image's
  CHECK(labels.at(labels::kLabelsHash) == labels_hash(labels));
  // Labels outside berth's own do not matter.
  labels["org.opencontainers.image.title"] = "changed";
  CHECK(ownership(labels) == Ownership::verified);
  // Changing one of berth's labels afterwards breaks the hash.
  labels[labels::kDependsOn] = "web:service_started:false";
  CHECK(ownership(labels) == Ownership::foreign);
}

TEST_CASE("ownership: legacy containers of an older berth, foreign ones", "[labels]") {
  std::map<std::string, std::string> legacy{{labels::kProject, "p"},
                                            {labels::kService, "web"},
                                            {labels::kManaged, "true"},
                                            {labels::kConfigHash, "abc"},
                                            {labels::kAgentVersion, "0.1.0"}};
  CHECK(ownership(legacy) == Ownership::legacy);
  auto no_version = legacy;
  no_version.erase(labels::kAgentVersion);
  CHECK(ownership(no_version) == Ownership::foreign);
  // docker compose / docker run --label com.docker.compose.project=p
  CHECK(ownership({{labels::kProject, "p"}, {labels::kService, "web"}}) == Ownership::foreign);
  CHECK(ownership({}) == Ownership::foreign);
}

TEST_CASE("planner: a foreign container is reported, not removed, unless remove_foreign",
          "[labels][planner]") {
  TargetState d;
  d.project = "p";
  TargetService s;
  s.name = "web";
  s.config_hash = "h";
  d.services["web"] = s;
  Observed o;
  o.networks.push_back({"nid", "p_default", {}});
  std::map<std::string, std::string> ours{{labels::kProject, "p"},
                                          {labels::kService, "web"},
                                          {labels::kConfigHash, "h"},
                                          {labels::kOneoff, "False"}};
  ours[labels::kLabelsHash] = labels_hash(ours);
  o.containers.push_back(container("p-web-1", ours));
  // Someone ran: docker run --label com.docker.compose.project=p --label ...service=gone
  o.containers.push_back(
      container("intruder", {{labels::kProject, "p"}, {labels::kService, "gone"}}));

  Plan plan = make_plan(d, o);
  CHECK(plan.empty());
  CHECK(plan.cleanup.empty());
  REQUIRE(plan.foreign.size() == 1);
  CHECK(plan.foreign[0].type == ActionType::keep_foreign);
  CHECK(plan.foreign[0].container_name == "intruder");
  CHECK(plan.describe() ==
        std::vector<std::string>{
            "keep foreign container intruder: has the project label but was not created by "
            "berth (its labels do not verify); left alone (set [agent] remove_foreign = true to "
            "remove such containers)"});
  REQUIRE(plan.services["web"].current);
  CHECK_FALSE(plan.services["web"].action);

  d.remove_foreign = true;
  Plan removing = make_plan(d, o);
  CHECK(removing.foreign.empty());
  REQUIRE(removing.cleanup.size() == 1);
  CHECK(removing.cleanup[0].type == ActionType::remove_foreign);
  CHECK(removing.cleanup[0].container_id == "id-intruder");
}
