// Issue 22: env files and the dashboard token file that group/others may write are refused; an
// env file others may read is read with a warning.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/config_loader.hpp"
#include "core/model.hpp"
#include "report/token.hpp"

using namespace berth;
namespace fs = std::filesystem;

namespace {

struct Dir {
  fs::path path;
  Dir() {
    std::string tmpl = (fs::temp_directory_path() / "berth-modes-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& text, mode_t mode) const {
    auto p = (path / name).string();
    std::ofstream(p) << text;
    REQUIRE(::chmod(p.c_str(), mode) == 0);
    return p;
  }
};

std::vector<std::string> diagnostics(const std::string& config) {
  auto o = config::load_config_file(config);
  std::vector<std::string> out;
  for (const auto& d : o.diagnostics) out.push_back(config::to_string(d));
  return out;
}

}  // namespace

TEST_CASE("env files: group/other-writable refused at FILE:LINE:COL, 0644 accepted",
          "[config][hardening]") {
  Dir d;
  const std::string toml =
      "[services.web]\nimage = \"127.0.0.1:5000/web:1\"\nenv_file = [\"app.env\"]\n";
  auto cfg = d.write("berth.toml", toml, 0644);
  d.write("app.env", "SECRET=x\n", 0664);
  auto diags = diagnostics(cfg);
  REQUIRE(diags.size() == 1);
  CHECK(diags[0] == cfg + ":3:13: services.web.env_file[0]: cannot read \"app.env\": mode 0664: " +
                        "writable by group/others, refused (chmod go-w " +
                        (d.path / "app.env").string() + ")");
  CHECK(diags[0].find("SECRET") == std::string::npos);
  d.write("app.env", "SECRET=x\n", 0602);
  CHECK(diagnostics(cfg).size() == 1);
  d.write("app.env", "SECRET=x\n", 0644);  // readable by others: a warning, not an error
  CHECK(diagnostics(cfg).empty());
  d.write("app.env", "SECRET=x\n", 0600);
  auto ok = config::load_config_file(cfg);
  REQUIRE(ok.ok());
  CHECK(ok.config->services.at("web").environment.at("SECRET") == "x");
}

TEST_CASE("dashboard token file: group/other-writable refused", "[token][hardening]") {
  Dir d;
  DashboardSettings s;
  s.token_file = d.write("token", "tok-0123456789\n", 0620);
  auto r = report::read_dashboard_token(s);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "dashboard token file " + s.token_file +
                                 " has mode 0620: writable by group/others (chmod 600 " +
                                 s.token_file + ")");
  CHECK_FALSE(report::check_dashboard_token_file(s));
  d.write("token", "tok-0123456789\n", 0600);
  CHECK(report::read_dashboard_token(s).value() == "tok-0123456789");
  CHECK(report::check_dashboard_token_file(s));
}
