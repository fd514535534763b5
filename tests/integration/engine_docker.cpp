// DockerEngine against the real dockerd on /var/run/docker.sock (shared: every object this test
// creates is named t-engine-... and removed again).
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "../support/skip.hpp"
#include "engine/docker_engine.hpp"
#include "engine_test_util.hpp"
#include "net/http.hpp"

using berth::ErrorKind;
using berth::engine::DockerEngine;
using nlohmann::json;
using namespace std::chrono_literals;
using tengine::sh;
using tengine::uniq;

namespace {

// The busybox test image, built once per process and removed at exit.
struct TestImage {
  std::string name = "t-engine-busybox:" + uniq();
  bool ok = false;
  TestImage() {
    auto dir = tengine::busybox_context("img", "LABEL org.berth.test=engine\n");
    ok = sh("DOCKER_BUILDKIT=0 docker build -q -t " + name + " " + dir.string() +
            " >/dev/null 2>&1") == 0;
    std::filesystem::remove_all(dir);
  }
  ~TestImage() { sh("docker rmi -f " + name + " >/dev/null 2>&1"); }
};

const std::string& image() {
  static TestImage img;
  REQUIRE(img.ok);
  return img.name;
}

// Removes what a test created, even when it fails half-way.
struct Cleanup {
  std::vector<std::string> containers, networks, volumes, images;
  ~Cleanup() {
    for (const auto& c : containers) sh("docker rm -f " + c + " >/dev/null 2>&1");
    for (const auto& n : networks) sh("docker network rm " + n + " >/dev/null 2>&1");
    for (const auto& v : volumes) sh("docker volume rm -f " + v + " >/dev/null 2>&1");
    for (const auto& i : images) sh("docker rmi -f " + i + " >/dev/null 2>&1");
  }
};

std::string project() {
  return "t-engine-" + uniq();
}

json container_body(const std::vector<std::string>& cmd, const std::string& service = "web") {
  return {{"Image", image()},
          {"Cmd", cmd},
          {"Labels",
           {{"com.docker.compose.project", project()}, {"com.docker.compose.service", service}}},
          {"HostConfig", {{"NetworkMode", "none"}}}};
}

const std::vector<std::string> kSleep = {"/bin/busybox", "sleep", "3600"};
// PID 1 ignores SIGTERM (no handler) and exits 42 on SIGUSR1.
const std::vector<std::string> kTrapUsr1 = {
    "/bin/busybox", "sh", "-c", "trap 'exit 42' USR1; while true; do /bin/busybox sleep 0.1; done"};

// Events recorded by a stream_events thread.
struct EventLog {
  std::mutex mu;
  std::vector<berth::EngineEvent> events;
  void add(const berth::EngineEvent& ev) {
    std::lock_guard lk(mu);
    events.push_back(ev);
  }
  bool has(const std::string& action, const std::string& id) {
    std::lock_guard lk(mu);
    for (const auto& ev : events)
      if (ev.action == action && ev.id == id) return true;
    return false;
  }
};

// The stream is live once an event of this test's project comes through: a marker container is
// created and removed until its "destroy" arrives (bounded, so a broken stream fails here
// instead of hanging); then the log is cleared. A fixed sleep "to let the stream subscribe"
// missed the first events on a loaded machine.
void await_subscribed(DockerEngine& e, EventLog& log) {
  const std::string marker = project() + "-marker-1";
  bool live = tengine::eventually(
      [&] {
        auto id = e.create_container(marker, container_body(kSleep, "marker"));
        if (!id) return false;
        (void)e.remove_container(*id, true, true);
        return tengine::eventually([&] { return log.has("destroy", *id); },
                                   std::chrono::milliseconds(2000));
      },
      std::chrono::seconds(60));
  REQUIRE(live);
  std::lock_guard lk(log.mu);
  log.events.clear();
}

}  // namespace

TEST_CASE("engine: ping negotiates the API version and the flavour", "[engine][docker]") {
  DockerEngine e("/var/run/docker.sock");
  auto v = e.ping();
  REQUIRE(v);
  // dockerd 20.10 offers 1.41; a newer daemon is capped at ours.
  CHECK((*v == "1.41" || *v == DockerEngine::kMaxApiVersion));
  CHECK(e.api_version() == *v);
  CHECK(e.flavour() == "docker");
  auto free = e.data_root_free_bytes();
  REQUIRE(free);
  REQUIRE(free->has_value());
  CHECK(**free > 0);
}

TEST_CASE("engine: connection and DOCKER_HOST errors are clear", "[engine][docker]") {
  auto missing = berth::engine::make_docker_engine("unix:///tmp/t-engine-no-such.sock");
  auto r = missing->ping();
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == ErrorKind::unavailable);
  CHECK(r.error().message.starts_with(
      "docker: cannot connect to unix:///tmp/t-engine-no-such.sock: "));
  auto l = missing->list_containers({});
  REQUIRE_FALSE(l);
  CHECK(l.error().message.find("(ping)") != std::string::npos);

  auto tcp = berth::engine::make_docker_engine("tcp://127.0.0.1:2375");
  auto t = tcp->inspect_container("x");
  REQUIRE_FALSE(t);
  CHECK(t.error().kind == ErrorKind::config);
  CHECK(t.error().message.find("only unix sockets are supported") != std::string::npos);

  ::setenv("DOCKER_HOST", "unix:///tmp/t-engine-env.sock", 1);
  auto env = berth::engine::make_docker_engine();
  ::unsetenv("DOCKER_HOST");
  auto er = env->ping();
  REQUIRE_FALSE(er);
  CHECK(er.error().message.find("unix:///tmp/t-engine-env.sock") != std::string::npos);
}

TEST_CASE("engine: container lifecycle", "[engine][docker]") {
  DockerEngine e("/var/run/docker.sock");
  Cleanup cleanup;
  const std::string name = "t-engine-" + uniq() + "-web-1";
  const std::string renamed = name + "-renamed";
  cleanup.containers = {name, renamed};

  auto id = e.create_container(name, container_body(kTrapUsr1));
  REQUIRE(id);
  CHECK(id->size() == 64);

  auto dup = e.create_container(name, container_body(kSleep));
  REQUIRE_FALSE(dup);
  CHECK(dup.error().kind == ErrorKind::conflict);
  CHECK(dup.error().http_status == 409);
  CHECK(dup.error().message.starts_with("docker: create container " + name + ": Conflict."));
  CHECK(dup.error().message.ends_with("(HTTP 409)"));

  auto created = e.inspect_container(name);
  REQUIRE(created);
  CHECK(created->state == "created");
  CHECK(created->started_at.empty());

  REQUIRE(e.start_container(*id));
  REQUIRE(e.start_container(*id));  // 304: already started is fine

  auto c = e.inspect_container(*id);
  REQUIRE(c);
  CHECK(c->id == *id);
  CHECK(c->name == name);
  CHECK(c->state == "running");
  CHECK(c->health.empty());
  CHECK(c->image == image());
  auto img = e.inspect_image(image());
  REQUIRE(img);
  REQUIRE(img->has_value());
  CHECK(c->image_id == (*img)->id);
  CHECK(c->labels.at("com.docker.compose.project") == project());
  CHECK(c->labels.at("org.berth.test") == "engine");  // from the image
  CHECK_FALSE(c->started_at.empty());
  CHECK(c->networks == std::vector<std::string>{"none"});

  SECTION("list with label filters") {
    auto all = e.list_containers({"com.docker.compose.project=" + project()});
    REQUIRE(all);
    REQUIRE(all->size() == 1);
    CHECK(all->front().id == *id);
    CHECK(all->front().name == name);
    CHECK(all->front().state == "running");
    CHECK(all->front().image_id == (*img)->id);
    auto both = e.list_containers(
        {"com.docker.compose.project=" + project(), "com.docker.compose.service=web"});
    REQUIRE(both);
    CHECK(both->size() == 1);
    auto none = e.list_containers(
        {"com.docker.compose.project=" + project(), "com.docker.compose.service=db"});
    REQUIRE(none);
    CHECK(none->empty());
    auto bare = e.list_containers(
        {"com.docker.compose.service", "com.docker.compose.project=" + project()});
    REQUIRE(bare);
    CHECK(bare->size() == 1);
  }

  SECTION("stop with a signal, rename, restart, stop after the timeout, remove") {
    REQUIRE(e.stop_container(*id, 10, "SIGUSR1"));
    auto stopped = e.inspect_container(*id);
    REQUIRE(stopped);
    CHECK(stopped->state == "exited");
    CHECK(stopped->exit_code == 42);        // our signal, not SIGKILL after 10 s
    REQUIRE(e.stop_container(*id, 1, ""));  // 304: already stopped is fine

    REQUIRE(e.rename_container(*id, renamed));
    auto r = e.inspect_container(renamed);
    REQUIRE(r);
    CHECK(r->name == renamed);
    auto old = e.inspect_container(name);
    REQUIRE_FALSE(old);
    CHECK(old.error().kind == ErrorKind::not_found);
    CHECK(old.error().message.starts_with("docker: inspect container " + name +
                                          ": No such container"));

    REQUIRE(e.start_container(*id));
    REQUIRE(e.stop_container(*id, 1, ""));  // SIGTERM is ignored by PID 1: killed after 1 s
    auto killed = e.inspect_container(*id);
    REQUIRE(killed);
    CHECK(killed->exit_code == 137);  // SIGKILL after the timeout, not the (ignored) SIGTERM

    auto kill_stopped = e.kill_container(*id, "SIGKILL");
    REQUIRE_FALSE(kill_stopped);
    CHECK(kill_stopped.error().kind == ErrorKind::conflict);

    REQUIRE(e.remove_container(*id, false, true));
    auto gone = e.inspect_container(*id);
    REQUIRE_FALSE(gone);
    CHECK(gone.error().kind == ErrorKind::not_found);
    CHECK(gone.error().http_status == 404);
  }

  SECTION("kill, wait, force remove") {
    REQUIRE(e.kill_container(*id, "SIGKILL"));
    auto code = e.wait_container(*id, "not-running", 10);
    REQUIRE(code);
    CHECK(*code == 137);
    REQUIRE(e.start_container(*id));
    auto running_rm = e.remove_container(*id, false, false);
    REQUIRE_FALSE(running_rm);
    CHECK(running_rm.error().kind == ErrorKind::conflict);
    REQUIRE(e.remove_container(*id, true, true));
    CHECK_FALSE(e.inspect_container(*id));
  }
}

TEST_CASE("engine: wait returns the exit code and times out", "[engine][docker]") {
  DockerEngine e("/var/run/docker.sock");
  Cleanup cleanup;
  const std::string name = "t-engine-" + uniq() + "-job-1";
  cleanup.containers = {name};
  auto id = e.create_container(name, container_body({"/bin/busybox", "sh", "-c", "exit 7"}));
  REQUIRE(id);
  REQUIRE(e.start_container(*id));
  auto code = e.wait_container(*id, "not-running", 10);
  REQUIRE(code);
  CHECK(*code == 7);
  auto c = e.inspect_container(*id);
  REQUIRE(c);
  CHECK(c->state == "exited");
  CHECK(c->exit_code == 7);
  CHECK_FALSE(c->finished_at.empty());

  // next-exit on a container that is stopped and never started again: times out.
  auto timed_out = e.wait_container(*id, "next-exit", 1);
  REQUIRE_FALSE(timed_out);
  CHECK(timed_out.error().kind == ErrorKind::timeout);
  CHECK(timed_out.error().message ==
        "docker: wait for container " + *id + ": not next-exit within 1s");

  // removed: returns once the container is gone.
  std::thread rm([&] {
    std::this_thread::sleep_for(200ms);
    sh("docker rm " + name + " >/dev/null 2>&1");
  });
  auto removed = e.wait_container(*id, "removed", 10);
  rm.join();
  REQUIRE(removed);
  CHECK(*removed == 7);
}

TEST_CASE("engine: health status transitions", "[engine][docker]") {
  DockerEngine e("/var/run/docker.sock");
  Cleanup cleanup;
  const std::string name = "t-engine-" + uniq() + "-health-1";
  cleanup.containers = {name};
  // The test moves the container between healthy and unhealthy itself (docker exec creates and
  // removes /ok) instead of a script racing the probes on a loaded machine. The start period
  // keeps it "starting" until the first probe succeeds.
  json body = container_body(kSleep);
  body["Healthcheck"] = {
      {"Test", {"CMD", "/bin/busybox", "sh", "-c", "echo probe says no; /bin/busybox test -e /ok"}},
      {"Interval", 200000000},
      {"Timeout", 10000000000},
      {"StartPeriod", 600000000000},
      {"Retries", 1}};
  auto id = e.create_container(name, body);
  REQUIRE(id);
  REQUIRE(e.start_container(*id));

  std::vector<std::string> seen;
  auto health_becomes = [&](const std::string& want) {
    return tengine::eventually(
        [&] {
          auto c = e.inspect_container(*id);
          if (!c) return false;
          if (seen.empty() || seen.back() != c->health) seen.push_back(c->health);
          return c->health == want;
        },
        60s);
  };
  CHECK(health_becomes("starting"));
  REQUIRE(sh("docker exec " + name + " /bin/busybox touch /ok") == 0);
  CHECK(health_becomes("healthy"));
  REQUIRE(sh("docker exec " + name + " /bin/busybox rm /ok") == 0);
  CHECK(health_becomes("unhealthy"));
  INFO("health sequence seen: " << json(seen).dump());
  CHECK(seen == std::vector<std::string>{"starting", "healthy", "unhealthy"});
  auto c = e.inspect_container(*id);
  REQUIRE(c);
  CHECK(c->health_output == "probe says no");
  auto l = e.list_containers({"com.docker.compose.project=" + project()});
  REQUIRE(l);
  REQUIRE(l->size() == 1);
  CHECK(l->front().health == "unhealthy");
  REQUIRE(e.remove_container(*id, true, true));
}

TEST_CASE("engine: networks and volumes", "[engine][docker]") {
  DockerEngine e("/var/run/docker.sock");
  Cleanup cleanup;
  const std::string net = project() + "_default";
  const std::string vol = project() + "_data";
  cleanup.networks = {net};
  cleanup.volumes = {vol};
  const std::map<std::string, std::string> labels = {{"com.docker.compose.project", project()},
                                                     {"com.docker.compose.network", "default"}};

  auto nid = e.create_network(net, labels);
  REQUIRE(nid);
  auto dup = e.create_network(net, labels);
  REQUIRE_FALSE(dup);
  CHECK(dup.error().kind == ErrorKind::conflict);
  CHECK(dup.error().message.starts_with("docker: create network " + net + ": "));
  auto nets = e.list_networks({"com.docker.compose.project=" + project()});
  REQUIRE(nets);
  REQUIRE(nets->size() == 1);
  CHECK(nets->front().name == net);
  CHECK(nets->front().id == *nid);
  CHECK(nets->front().labels == labels);

  // A container on the network reports it.
  const std::string cname = project() + "-net-1";
  cleanup.containers = {cname};
  json body = container_body(kSleep);
  body["HostConfig"]["NetworkMode"] = net;
  auto cid = e.create_container(cname, body);
  REQUIRE(cid);
  auto c = e.inspect_container(*cid);
  REQUIRE(c);
  CHECK(c->networks == std::vector<std::string>{net});
  REQUIRE(e.remove_container(*cid, true, false));

  REQUIRE(e.remove_network(net));
  auto gone = e.remove_network(net);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().kind == ErrorKind::not_found);
  nets = e.list_networks({"com.docker.compose.project=" + project()});
  REQUIRE(nets);
  CHECK(nets->empty());

  const std::map<std::string, std::string> vlabels = {{"com.docker.compose.project", project()},
                                                      {"com.docker.compose.volume", "data"}};
  REQUIRE(e.create_volume(vol, vlabels));
  REQUIRE(e.create_volume(vol, vlabels));  // creating an existing volume is not an error
  auto vols = e.list_volumes({"com.docker.compose.project=" + project()});
  REQUIRE(vols);
  REQUIRE(vols->size() == 1);
  CHECK(vols->front().name == vol);
  CHECK(vols->front().labels == vlabels);
  REQUIRE(e.remove_volume(vol, false));
  auto vgone = e.remove_volume(vol, false);
  REQUIRE_FALSE(vgone);
  CHECK(vgone.error().kind == ErrorKind::not_found);
}

TEST_CASE("engine: events stream sees start and die and ends on a stop request",
          "[engine][docker]") {
  DockerEngine e("/var/run/docker.sock");
  REQUIRE(e.ping());
  Cleanup cleanup;
  const std::string name = project() + "-ev-1";
  cleanup.containers = {name, project() + "-marker-1"};

  EventLog log;
  std::stop_source stop;
  berth::Result<void> result;
  std::atomic<bool> ended{false};
  std::thread t([&] {
    result = e.stream_events(
        {"com.docker.compose.project=" + project()},
        [&](const berth::EngineEvent& ev) { log.add(ev); }, stop.get_token());
    ended = true;
  });
  await_subscribed(e, log);

  // Unrelated containers (other label) must not show up.
  const std::string other = "t-engine-" + uniq() + "-other-1";
  cleanup.containers.push_back(other);
  json other_body = container_body(kSleep);
  other_body["Labels"]["com.docker.compose.project"] = "t-engine-other-" + uniq();
  REQUIRE(e.create_container(other, other_body));

  auto id = e.create_container(name, container_body({"/bin/busybox", "sh", "-c", "exit 3"}));
  REQUIRE(id);
  REQUIRE(e.start_container(*id));
  REQUIRE(e.wait_container(*id, "not-running", 10));

  CHECK(tengine::eventually([&] { return log.has("start", *id) && log.has("die", *id); }, 60s));
  {
    std::lock_guard lk(log.mu);
    for (const auto& ev : log.events) {
      CHECK(ev.type == "container");
      CHECK(ev.id == *id);
      if (ev.action == "die") CHECK(ev.attributes.at("exitCode") == "3");
      if (ev.action == "start") CHECK(ev.attributes.at("name") == name);
    }
  }

  // Idle stream: a stop request ends it (the bound only catches a stream that never ends).
  stop.request_stop();
  CHECK(tengine::eventually([&] { return ended.load(); }, 60s));
  t.join();
  CHECK(result);
}

TEST_CASE("engine: events stream has health changes but not the health checks' exec events",
          "[engine][docker]") {
  DockerEngine e("/var/run/docker.sock");
  REQUIRE(e.ping());
  Cleanup cleanup;
  const std::string name = project() + "-hc-1";
  cleanup.containers = {name, project() + "-marker-1"};

  EventLog log;
  std::stop_source stop;
  berth::Result<void> result;
  std::thread t([&] {
    result = e.stream_events(
        {"com.docker.compose.project=" + project()},
        [&](const berth::EngineEvent& ev) { log.add(ev); }, stop.get_token());
  });
  await_subscribed(e, log);

  json body = container_body(kSleep);
  body["Healthcheck"] = {{"Test", {"CMD", "/bin/busybox", "true"}},
                         {"Interval", 100'000'000},
                         {"Timeout", 1'000'000'000},
                         {"Retries", 3}};
  auto id = e.create_container(name, body);
  REQUIRE(id);
  REQUIRE(e.start_container(*id));
  // "health_status" in the filter matches Docker's "health_status: healthy" by prefix.
  CHECK(tengine::eventually([&] { return log.has("health_status: healthy", *id); }, 60s));
  // Several more checks run (every 100 ms): none of them is an event. Waiting for a few more
  // exec'd checks in the container's health log makes sure they happened.
  CHECK(tengine::eventually(
      [&] {
        auto n = tengine::sh_out("docker inspect -f '{{len .State.Health.Log}}' " + *id);
        return n.rfind("3", 0) == 0 || n.rfind("4", 0) == 0 || n.rfind("5", 0) == 0;
      },
      60s));
  stop.request_stop();
  t.join();
  CHECK(result);
  std::lock_guard lk(log.mu);
  for (const auto& ev : log.events) CHECK_FALSE(ev.action.starts_with("exec_"));
}

TEST_CASE("engine: images: inspect, tag, list, remove", "[engine][docker]") {
  DockerEngine e("/var/run/docker.sock");
  Cleanup cleanup;
  const std::string tagged_repo = "t-engine-tagged-" + uniq();
  cleanup.images = {tagged_repo + ":v1"};

  auto missing = e.inspect_image("t-engine-never-built:nope");
  REQUIRE(missing);
  CHECK_FALSE(missing->has_value());

  auto img = e.inspect_image(image());
  REQUIRE(img);
  REQUIRE(img->has_value());
  const auto& info = **img;
  CHECK(info.id.starts_with("sha256:"));
  CHECK(std::find(info.repo_tags.begin(), info.repo_tags.end(), image()) != info.repo_tags.end());
  CHECK(info.size > 500000);  // busybox
  CHECK(info.labels.at("org.berth.test") == "engine");
  CHECK_FALSE(info.has_healthcheck);

  REQUIRE(e.tag_image(image(), tagged_repo, "v1"));
  auto tagged = e.inspect_image(tagged_repo + ":v1");
  REQUIRE(tagged);
  REQUIRE(tagged->has_value());
  CHECK((*tagged)->id == info.id);

  auto listed = e.list_images({"org.berth.test=engine"});
  REQUIRE(listed);
  bool found = false;
  for (const auto& i : *listed)
    if (i.id == info.id) found = true;
  CHECK(found);

  REQUIRE(e.remove_image(tagged_repo + ":v1", false));
  auto after = e.inspect_image(tagged_repo + ":v1");
  REQUIRE(after);
  CHECK_FALSE(after->has_value());
  auto again = e.remove_image(tagged_repo + ":v1", false);
  REQUIRE_FALSE(again);
  CHECK(again.error().kind == ErrorKind::not_found);

  // An image with a healthcheck says so.
  auto dir = tengine::busybox_context(
      "hc", "HEALTHCHECK --interval=1s CMD [\"/bin/busybox\", \"true\"]\n");
  const std::string hc = "t-engine-hc-" + uniq() + ":1";
  cleanup.images.push_back(hc);
  REQUIRE(sh("DOCKER_BUILDKIT=0 docker build -q -t " + hc + " " + dir.string() +
             " >/dev/null 2>&1") == 0);
  std::filesystem::remove_all(dir);
  auto hci = e.inspect_image(hc);
  REQUIRE(hci);
  REQUIRE(hci->has_value());
  CHECK((*hci)->has_healthcheck);
}

namespace {

// docker-registry (distribution) on a free 127.0.0.1 port, no auth, temp storage.
struct LocalRegistry {
  std::filesystem::path dir = tengine::temp_dir("registry");
  int port = tengine::free_port();
  std::string pid;
  bool ok = false;
  std::string host() const { return "127.0.0.1:" + std::to_string(port); }
  LocalRegistry() {
    tengine::write_file(dir / "config.yml",
                        "version: 0.1\nlog:\n  level: error\nstorage:\n"
                        "  filesystem:\n    rootdirectory: " +
                            (dir / "data").string() + "\nhttp:\n  addr: " + host() + "\n");
    pid = tengine::sh_out("docker-registry serve " + (dir / "config.yml").string() + " >" +
                          (dir / "log").string() + " 2>&1 & echo $!");
    berth::net::Client client;
    ok = tengine::eventually(
        [&] {
          berth::net::Request req;
          req.url = "http://" + host() + "/v2/";
          req.timeout_ms = 1000;
          auto r = client.perform(req);
          return r && r->status == 200;
        },
        10000ms);
  }
  ~LocalRegistry() {
    if (!pid.empty()) sh("kill " + pid + " 2>/dev/null");
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

TEST_CASE("engine: pull from a local registry", "[engine][docker]") {
  if (sh("command -v docker-registry >/dev/null") != 0)
    BERTH_SKIP("docker-registry is not installed");
  LocalRegistry reg;
  REQUIRE(reg.ok);
  DockerEngine e("/var/run/docker.sock");
  Cleanup cleanup;
  const std::string repo = reg.host() + "/t-engine-pull";
  const std::string ref = repo + ":1";
  cleanup.images = {ref};

  // An image with a layer of its own, pushed, then removed locally so the pull downloads it.
  auto dir = tengine::busybox_context("pull", "COPY payload /payload\n");
  REQUIRE(sh("head -c 3000000 /dev/urandom > " + (dir / "payload").string()) == 0);
  REQUIRE(sh("DOCKER_BUILDKIT=0 docker build -q -t " + ref + " " + dir.string() +
             " >/dev/null 2>&1") == 0);
  std::filesystem::remove_all(dir);
  REQUIRE(sh("docker push -q " + ref + " >/dev/null 2>&1") == 0);
  REQUIRE(sh("docker rmi -f " + ref + " >/dev/null 2>&1") == 0);
  auto before = e.inspect_image(ref);
  REQUIRE(before);
  REQUIRE_FALSE(before->has_value());

  std::vector<berth::engine::PullProgress> seen;
  auto r =
      e.pull_image(repo, "1", {}, [&](const berth::engine::PullProgress& p) { seen.push_back(p); });
  REQUIRE(r);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.back().percent == 100);
  CHECK(seen.back().image == ref);
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i].percent >= seen[i - 1].percent);

  auto pulled = e.inspect_image(ref);
  REQUIRE(pulled);
  REQUIRE(pulled->has_value());
  REQUIRE((*pulled)->repo_digests.size() == 1);
  const std::string digest_ref = (*pulled)->repo_digests.front();
  CHECK(digest_ref.starts_with(repo + "@sha256:"));
  const std::string digest = digest_ref.substr(digest_ref.find('@') + 1);

  // By digest (already present: "Image is up to date"), still 100.
  seen.clear();
  REQUIRE(e.pull_image(repo, digest, {}, [&](const auto& p) { seen.push_back(p); }));
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.back().percent == 100);
  CHECK(seen.back().image == repo + "@" + digest);
  cleanup.images.push_back(repo + "@" + digest);

  // Unknown tag and unknown repository: not found, named.
  auto nope = e.pull_image(repo, "nope", {}, nullptr);
  REQUIRE_FALSE(nope);
  CHECK(nope.error().kind == ErrorKind::not_found);
  CHECK(nope.error().message.starts_with("docker: pull " + repo + ":nope: "));
  CHECK(nope.error().message.find("not found") != std::string::npos);
  auto norepo = e.pull_image(reg.host() + "/t-engine-no-such-repo", "1", {}, nullptr);
  REQUIRE_FALSE(norepo);
  CHECK(norepo.error().kind == ErrorKind::not_found);

  // A registry that does not answer: a clear, retryable error (not a hang).
  auto dead =
      e.pull_image("127.0.0.1:" + std::to_string(tengine::free_port()) + "/x", "1", {}, nullptr);
  REQUIRE_FALSE(dead);
  CHECK(dead.error().retryable());
  CHECK(dead.error().message.find("connection refused") != std::string::npos);
}
