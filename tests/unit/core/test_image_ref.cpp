#include <catch2/catch.hpp>

#include "core/image_ref.hpp"

using berth::parse_image_ref;

TEST_CASE("parse_image_ref normalises docker.io names", "[image_ref]") {
  auto r = parse_image_ref("busybox");
  REQUIRE(r);
  CHECK(r->registry == "docker.io");
  CHECK(r->repository == "library/busybox");
  CHECK(r->tag == "latest");
  CHECK(r->familiar_name() == "busybox");
  CHECK(r->str() == "busybox:latest");

  auto u = parse_image_ref("team/app:1.2");
  REQUIRE(u);
  CHECK(u->repository == "team/app");
  CHECK(u->tag == "1.2");
}

TEST_CASE("parse_image_ref reads registry hosts, ports, tags and digests", "[image_ref]") {
  auto e = parse_image_ref("123456789012.dkr.ecr.us-east-2.amazonaws.com/msd-metrics:3f2c9e1");
  REQUIRE(e);
  CHECK(e->registry == "123456789012.dkr.ecr.us-east-2.amazonaws.com");
  CHECK(e->repository == "msd-metrics");
  CHECK(e->tag == "3f2c9e1");

  const std::string d = "sha256:" + std::string(64, 'a');
  auto l = parse_image_ref("127.0.0.1:5000/a/b@" + d);
  REQUIRE(l);
  CHECK(l->registry == "127.0.0.1:5000");
  CHECK(l->repository == "a/b");
  CHECK(l->tag.empty());
  CHECK(l->digest == d);
  CHECK(l->str() == "127.0.0.1:5000/a/b@" + d);

  auto both = parse_image_ref("localhost/x:v1@" + d);
  REQUIRE(both);
  CHECK(both->registry == "localhost");
  CHECK(both->tag == "v1");
  CHECK(both->digest == d);
}

TEST_CASE("parse_image_ref rejects invalid references with the reason", "[image_ref]") {
  auto up = parse_image_ref("Busybox");
  REQUIRE_FALSE(up);
  CHECK(up.error().message ==
        "invalid image reference \"Busybox\": repository name must be lowercase");
  CHECK_FALSE(parse_image_ref(""));
  CHECK_FALSE(parse_image_ref("a b"));
  CHECK_FALSE(parse_image_ref("repo:"));
  CHECK_FALSE(parse_image_ref("repo:-bad"));
  CHECK_FALSE(parse_image_ref("repo@sha256:abc"));
  CHECK_FALSE(parse_image_ref("host:5000/"));
  CHECK_FALSE(parse_image_ref("a//b"));
  CHECK_FALSE(parse_image_ref("a/b_-c"));
  CHECK_FALSE(parse_image_ref("-a/b"));
}
