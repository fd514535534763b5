// systemd/org.berth.Agent1.conf on a private bus configured like Debian's system bus
// (/usr/share/dbus-1/system.conf: deny own, deny method calls by default), with unprivileged
// clients run through setpriv. Needs root, dbus-daemon, busctl and setpriv; skipped otherwise.
#include <pwd.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "../../support/skip.hpp"
#include "daemon/dbus_client.hpp"
#include "daemon/dbus_service.hpp"
#include "private_bus.hpp"
#include "util/logging.hpp"

using namespace berth::daemon;
using berth_test::PrivateBus;
using berth_test::wait_until;

namespace {

const char* kSystemConf = "/usr/share/dbus-1/system.conf";
const char* kNobody = "65534";  // stands in for the berth user
const char* kStranger = "1";    // "daemon": any other unprivileged user (dbus-daemon
                                // refuses connections from uids without a passwd entry)

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Debian's system bus configuration, listening on @ADDRESS@, without forking, user switching,
// service activation or the host's policy directories, plus berth's policy at `policy_path`.
std::string system_like_config(const std::string& policy_path) {
  std::string conf = read_file(kSystemConf);
  const char* drop[] = {R"(<user>[^<]*</user>)",
                        R"(<fork/>)",
                        R"(<pidfile>[^<]*</pidfile>)",
                        R"(<syslog/>)",
                        R"(<standard_system_servicedirs/>)",
                        R"(<servicehelper>[^<]*</servicehelper>)",
                        R"(<includedir>[^<]*</includedir>)",
                        R"(<include[^>]*>[^<]*</include>)"};
  for (const char* re : drop) conf = std::regex_replace(conf, std::regex(re), "");
  conf = std::regex_replace(conf, std::regex(R"(<listen>[^<]*</listen>)"),
                            "<listen>@ADDRESS@</listen>");
  conf = std::regex_replace(conf, std::regex(R"(</busconfig>\s*$)"),
                            "<include>" + policy_path + "</include>\n</busconfig>\n");
  return conf;
}

struct Run {
  int status;
  std::string output;
};

// busctl as an unprivileged uid (no supplementary groups).
Run busctl_as(const std::string& uid, const std::string& address, const std::string& args) {
  const std::string cmd = "setpriv --reuid=" + uid + " --regid=" + uid +
                          " --clear-groups timeout 10 busctl --address=" + address + " " + args +
                          " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  return Run{::pclose(p), out};
}

class NullHandler : public DbusHandler {
 public:
  void request_update() override { ++updates; }
  void request_reload() override {}
  berth::Result<void> request_restart(const std::string&) override { return {}; }
  int updates = 0;
};

}  // namespace

TEST_CASE("D-Bus policy: everyone reads, only root acts, root and berth own", "[dbus][policy]") {
  if (::geteuid() != 0 || ::access(kSystemConf, R_OK) != 0 ||
      ::access("/usr/bin/busctl", X_OK) != 0 || ::access("/usr/bin/setpriv", X_OK) != 0 ||
      !berth_test::have_dbus_daemon() || ::getpwuid(1) == nullptr || ::getpwuid(65534) == nullptr)
    BERTH_SKIP("needs root, dbus-daemon, busctl, setpriv, users 1 and 65534 and " << kSystemConf);
  berth::log::LogCapture logs;
  // The shipped policy with the berth user replaced by uid 65534, which exists everywhere.
  char tmpl[] = "/tmp/berth-policy-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string policy_path = std::string(tmpl) + "/org.berth.Agent1.conf";
  std::string policy = read_file(
      (std::filesystem::path(BERTH_SOURCE_DIR) / "systemd" / "org.berth.Agent1.conf").string());
  REQUIRE(policy.find("user=\"berth\"") != std::string::npos);
  policy = std::regex_replace(policy, std::regex("user=\"berth\""), "user=\"nobody\"");
  std::ofstream(policy_path) << policy;

  PrivateBus bus(system_like_config(policy_path));
  bus.start();
  const std::string addr = bus.address();
  const std::string obj = "org.berth.Agent1 /org/berth/Agent1";

  SECTION("root owns the name; others read but may not act") {
    NullHandler handler;
    DbusService service(handler, addr,
                        DbusOptions{std::chrono::milliseconds(50), std::chrono::milliseconds(200)});
    DbusSnapshot snap;
    snap.state = "healthy";
    snap.services = {{"web", "", "", "", "running", "healthy", "up_to_date", ""}};
    snap.status_json = "{\"state\":\"healthy\"}";
    service.publish(snap);
    service.start();
    REQUIRE(wait_until([&] { return service.connected(); }));

    auto status = busctl_as(kStranger, addr, "call " + obj + " org.berth.Agent1 Status");
    CHECK(status.status == 0);
    CHECK(status.output == "s \"{\\\"state\\\":\\\"healthy\\\"}\"\n");
    auto prop = busctl_as(kStranger, addr, "get-property " + obj + " org.berth.Agent1 State");
    CHECK(prop.status == 0);
    CHECK(prop.output == "s \"healthy\"\n");
    auto all =
        busctl_as(kStranger, addr,
                  "call " + obj + " org.freedesktop.DBus.Properties GetAll s org.berth.Agent1");
    CHECK(all.status == 0);
    auto intro = busctl_as(kStranger, addr, "introspect " + obj);
    CHECK(intro.status == 0);
    CHECK(intro.output.find(".RestartService") != std::string::npos);

    for (const std::string& call :
         {std::string("Update"), std::string("Reload"), std::string("RestartService s web")}) {
      for (const char* who : {kStranger, kNobody}) {
        auto denied = busctl_as(who, addr, "call " + obj + " org.berth.Agent1 " + call);
        INFO(who << " " << call << ": " << denied.output);
        CHECK(denied.status != 0);
        CHECK(denied.output.find("Access denied") != std::string::npos);
      }
    }
    CHECK(handler.updates == 0);
    CHECK(dbus_call_update(addr));  // root may
    CHECK(handler.updates == 1);
    service.stop();
  }

  SECTION("the berth user may own the name, other users may not") {
    const std::string request =
        "call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus RequestName su "
        "org.berth.Agent1 0";
    auto stranger = busctl_as(kStranger, addr, request);
    INFO(stranger.output);
    CHECK(stranger.status != 0);
    CHECK(stranger.output.find("Access denied") != std::string::npos);
    auto berth_user = busctl_as(kNobody, addr, request);
    INFO(berth_user.output);
    CHECK(berth_user.status == 0);
    CHECK(berth_user.output == "u 1\n");  // DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
  }

  bus.stop();
  std::filesystem::remove_all(tmpl);
}
