// The same DockerEngine against Podman's Docker-compatible service: a private
// `podman system service` on a temporary socket, reached through DOCKER_HOST=unix://...
// Skipped (with a message) when podman is not installed.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>

#include "../support/skip.hpp"
#include "engine/docker_engine.hpp"
#include "engine_test_util.hpp"

using berth::ErrorKind;
using nlohmann::json;
using namespace std::chrono_literals;
using tengine::sh;
using tengine::uniq;

namespace {

struct PodmanService {
  std::filesystem::path dir = tengine::temp_dir("podman");
  std::string socket = "/tmp/berth-podman-" + uniq() + ".sock";
  std::string env;  // prefix for podman CLI calls
  std::string image = "t-engine-busybox:" + uniq();
  std::string pid;
  bool ok = false;
  std::string why;

  PodmanService() {
    tengine::write_file(dir / "containers.conf", "[containers]\ndefault_ulimits = []\n");
    env = "CONTAINERS_CONF=" + (dir / "containers.conf").string() + " ";
    pid = tengine::sh_out(env + "podman system service --time=0 unix://" + socket + " >" +
                          (dir / "service.log").string() + " 2>&1 & echo $!");
    if (!tengine::eventually([&] { return std::filesystem::exists(socket); }, 60s)) {
      why = "podman system service did not create " + socket;
      return;
    }
    // A busybox image imported from a tar (no registry needed).
    std::filesystem::create_directories(dir / "rootfs/bin");
    std::filesystem::copy_file("/bin/busybox", dir / "rootfs/bin/busybox");
    if (sh("tar -C " + (dir / "rootfs").string() + " -cf " + (dir / "img.tar").string() + " bin") !=
            0 ||
        sh(env + "podman import -q --change 'CMD [\"/bin/busybox\", \"sleep\", \"3600\"]' " +
           (dir / "img.tar").string() + " " + image + " >/dev/null 2>&1") != 0) {
      why = "podman import failed";
      return;
    }
    ok = true;
  }
  ~PodmanService() {
    sh(env + "podman rm -f -a --filter label=com.docker.compose.project=t-engine-" + uniq() +
       " >/dev/null 2>&1");
    sh(env + "podman rmi -f " + image + " >/dev/null 2>&1");
    if (!pid.empty()) sh("kill " + pid + " 2>/dev/null");
    std::error_code ec;
    std::filesystem::remove(socket, ec);
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

TEST_CASE("engine: basic lifecycle against podman's docker-compatible socket", "[engine][podman]") {
  if (sh("command -v podman >/dev/null 2>&1") != 0)
    BERTH_SKIP("podman is not installed (apt-get install podman to run this test)");
  PodmanService svc;
  INFO("podman service log: " << tengine::sh_out("cat " + (svc.dir / "service.log").string()));
  REQUIRE(svc.ok);

  ::setenv("DOCKER_HOST", ("unix://" + svc.socket).c_str(), 1);
  auto e = berth::engine::make_docker_engine();
  ::unsetenv("DOCKER_HOST");

  REQUIRE(tengine::eventually([&] { return bool(e->ping()); }, 60s));
  auto v = e->ping();
  REQUIRE(v);
  CHECK(*v == "1.41");
  CHECK(e->flavour() == "podman");

  const std::string project = "t-engine-" + uniq();
  const std::string name = project + "-web-1";
  json body = {
      {"Image", svc.image},
      {"Cmd",
       {"/bin/busybox", "sh", "-c",
        "trap 'exit 42' USR1; while true; do /bin/busybox sleep 0.1; done"}},
      {"Labels", {{"com.docker.compose.project", project}, {"com.docker.compose.service", "web"}}},
      {"HostConfig", {{"NetworkMode", "host"}}}};
  auto id = e->create_container(name, body);
  REQUIRE(id);

  auto dup = e->create_container(name, body);
  REQUIRE_FALSE(dup);
  CHECK(dup.error().message.starts_with("podman: create container " + name + ": "));

  REQUIRE(e->start_container(*id));
  auto c = e->inspect_container(name);
  REQUIRE(c);
  CHECK(c->id == *id);
  CHECK(c->name == name);
  CHECK(c->state == "running");
  CHECK(c->labels.at("com.docker.compose.project") == project);
  CHECK_FALSE(c->image_id.empty());
  CHECK_FALSE(c->started_at.empty());

  auto listed = e->list_containers({"com.docker.compose.project=" + project});
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().id == *id);
  CHECK(listed->front().name == name);
  CHECK(listed->front().state == "running");

  // API 1.41: the signal is sent with kill, then stop.
  REQUIRE(e->stop_container(*id, 10, "SIGUSR1"));
  auto stopped = e->inspect_container(*id);
  REQUIRE(stopped);
  CHECK(stopped->state == "exited");
  CHECK(stopped->exit_code == 42);

  REQUIRE(e->remove_container(*id, true, true));
  auto gone = e->inspect_container(*id);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().kind == ErrorKind::not_found);
  CHECK(gone.error().http_status == 404);
}
