#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/model.hpp"

namespace berth::cli {

struct Options {
  std::string command;
  std::string config;
  std::string state_dir;
  std::string project;
  bool json = false;
  bool volumes = false;
  bool dry_run = false;
  std::vector<std::string> positional;

  std::string config_path() const;
  std::string state_path() const;
};

// Loads the config; on errors prints every FILE:LINE:COL message and sets *exit_code = 78.
std::optional<Config> load_or_report(const std::string& path, int* exit_code);

int cmd_check_config(const Options& o);
int cmd_up(const Options& o);
int cmd_down(const Options& o);
int cmd_status(const Options& o);
int cmd_run(const Options& o);
int cmd_control(const Options& o);

}  // namespace berth::cli
