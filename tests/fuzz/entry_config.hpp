// Fuzz entry point: berth.toml -> parse_config (TOML, validation, env files through a fixed
// in-memory reader) and, for a valid configuration, everything the daemon derives from it
// without I/O: the effective spec, the container create body and config hash, the dependency
// order and the plan against nothing and against the converged state.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "config/config.hpp"
#include "core/container_spec.hpp"
#include "core/duration.hpp"
#include "core/graph.hpp"
#include "core/image_ref.hpp"
#include "core/label_trust.hpp"
#include "core/naming.hpp"
#include "core/planner.hpp"
#include "fuzz_common.hpp"

namespace berth::fuzz {

// Appears only in the env files the reader serves: a diagnostic must never show it.
inline constexpr std::string_view kEnvSecret = "s3cr3t-fuzz-value";

inline const config::FileReader& fixed_env_reader() {
  static const std::map<std::string, std::string> files = {
      {"app.env",
       "# comment\nA=1\nB=\"two words\\n\"\nexport C='lit $x'\nD= spaced # c\n"
       "SECRET=s3cr3t-fuzz-value\n"},
      {"/etc/berth/abs.env", "ABS=1\r\nEMPTY=\n"},
      {"sub/more.env", "\xEF\xBB\xBFMORE=yes\n"},
      {"bad.env", "A=1\nSECRET s3cr3t-fuzz-value\n"},
      {"utf8.env", "A=s3cr3t-fuzz-value\xff\n"},
      {"quote.env", "Q=\"s3cr3t-fuzz-value\n"},
  };
  static const config::FileReader reader = [](const std::string& path,
                                              std::string* why) -> std::optional<std::string> {
    auto it = files.find(path);
    if (it != files.end()) return it->second;
    if (why) *why = "No such file or directory";
    return std::nullopt;
  };
  return reader;
}

// Checks on one successfully parsed configuration.
inline void check_config(const Config& cfg) {
  std::map<std::string, std::vector<std::string>> edges;
  for (const auto& [name, spec] : cfg.services) {
    BERTH_FUZZ_CHECK(!name.empty() && spec.name == name, "service name");
    BERTH_FUZZ_CHECK(parse_image_ref(spec.image).has_value(),
                     "a valid configuration has valid image references");
    auto& deps = edges[name];
    for (const auto& d : spec.depends_on) {
      BERTH_FUZZ_CHECK(cfg.services.count(d.service) == 1, "depends_on names a known service");
      deps.push_back(d.service);
    }
  }
  BERTH_FUZZ_CHECK(!find_cycle(edges), "a valid configuration has no dependency cycle");
  auto order = topological_order(edges);
  BERTH_FUZZ_CHECK(order.size() == cfg.services.size(), "start order lists every service");
  std::set<std::string> placed;
  for (const auto& n : order) {
    for (const auto& d : edges[n])
      BERTH_FUZZ_CHECK(placed.count(d) == 1, "dependencies start first");
    placed.insert(n);
  }

  // What engine/lifecycle.cpp does with the configuration (Lifecycle::desired), minus Docker.
  SpecContext ctx;
  ctx.project = cfg.agent.project;
  ctx.config_path = "/etc/berth/fuzz.toml";
  TargetState desired;
  desired.project = cfg.agent.project;
  Observed converged;
  for (const auto& [name, spec] : cfg.services) {
    // Canonical JSON must serialise (dump throws on invalid UTF-8).
    (void)config::effective_spec_json(spec).dump();
    nlohmann::json body = container_body(spec, ctx);
    TargetService ds;
    ds.name = name;
    ds.config_hash = config_hash(body);
    BERTH_FUZZ_CHECK(ds.config_hash == config_hash(container_body(spec, ctx)),
                     "config hash is deterministic");
    ds.uses_project_network = spec.network_mode.empty();
    for (const auto& v : spec.volumes)
      if (v.type == VolumeMount::Type::named)
        ds.named_volumes.push_back(naming::volume_name(desired.project, v.source));
    auto ref = parse_image_ref(spec.image);
    ResolvedImage img;
    img.digest = "sha256:" + std::string(64, 'd');
    img.image_id = "sha256:" + std::string(64, 'e');
    img.run_ref = ref ? ref->name() + "@" + img.digest : spec.image;
    ds.image_id = img.image_id;
    ds.body = finalize_body(std::move(body), ds.config_hash, img, spec.image);
    (void)ds.body.dump();

    ContainerInfo c;
    c.id = "id-" + name;
    c.name = naming::container_name(desired.project, name);
    // The labels Docker reports back: exactly what berth wrote (signed by finalize_body).
    for (const auto& [k, v] : ds.body["Labels"].items())
      if (v.is_string()) c.labels[k] = v.get<std::string>();
    BERTH_FUZZ_CHECK(ownership(c.labels) == Ownership::verified,
                     "the labels berth writes verify when read back");
    c.state = "running";
    c.networks = {naming::network_name(desired.project)};
    converged.containers.push_back(std::move(c));
    for (const auto& v : ds.named_volumes) converged.volumes.push_back({v, {}});
    desired.services[name] = std::move(ds);
  }
  converged.networks.push_back({"nid", naming::network_name(desired.project), {}});

  Plan fresh = make_plan(desired, Observed{});
  for (const auto& [name, _] : cfg.services) {
    auto it = fresh.services.find(name);
    BERTH_FUZZ_CHECK(it != fresh.services.end() && it->second.action &&
                         it->second.action->type == ActionType::create,
                     "nothing observed: every service is created");
  }
  (void)fresh.describe();
  Plan again = make_plan(desired, converged);
  BERTH_FUZZ_CHECK(again.empty(), "the converged state plans nothing");
}

inline void config(std::string_view text) {
  auto out = config::parse_config(text, "fuzz.toml", fixed_env_reader(), "/etc/berth");
  BERTH_FUZZ_CHECK(out.config.has_value() == out.diagnostics.empty(),
                   "config is set exactly when there are no diagnostics");
  BERTH_FUZZ_CHECK(out.ok() == out.config.has_value(), "ok()");
  BERTH_FUZZ_CHECK(out.diagnostics.size() <= config::kMaxDiagnostics + 1,
                   "at most kMaxDiagnostics + 1 diagnostics");
  const bool secret_in_text = text.find(kEnvSecret) != std::string_view::npos;
  for (std::size_t i = 0; i < out.diagnostics.size(); ++i) {
    const auto& d = out.diagnostics[i];
    std::string line = config::to_string(d);
    BERTH_FUZZ_CHECK(d.file == "fuzz.toml", "diagnostics name the file: " + line);
    BERTH_FUZZ_CHECK(d.line >= 0 && d.column >= 0, "positions are not negative: " + line);
    BERTH_FUZZ_CHECK(!d.message.empty(), "diagnostics say something");
    BERTH_FUZZ_CHECK(printable(line), "diagnostics are printable UTF-8: " + line);
    BERTH_FUZZ_CHECK(secret_in_text || line.find(kEnvSecret) == std::string::npos,
                     "env file contents never appear in diagnostics");
    const bool last_summary = i + 1 == out.diagnostics.size() && d.line == 0 && i > 0;
    if (i > 0 && !last_summary) {
      const auto& p = out.diagnostics[i - 1];
      BERTH_FUZZ_CHECK(std::tie(p.line, p.column) <= std::tie(d.line, d.column),
                       "diagnostics are sorted by position");
    }
  }
  if (out.config) check_config(*out.config);

  // The small building blocks, on the raw text (cheap; they take single values in practice).
  if (text.size() <= 256) {
    if (auto d = parse_duration(text)) {
      BERTH_FUZZ_CHECK(d->count() >= 0, "durations are not negative");
      auto back = parse_duration(format_duration(*d));
      BERTH_FUZZ_CHECK(back && *back == *d, "format_duration round-trips");
    }
    std::string norm = config::normalize_path(text);
    BERTH_FUZZ_CHECK(config::normalize_path(norm) == norm, "normalize_path is idempotent");
    if (auto sig = config::normalize_signal(text))
      BERTH_FUZZ_CHECK(config::normalize_signal(*sig) == sig, "normalize_signal is idempotent");
    (void)config::parse_byte_size(text);
    (void)config::is_ipv4(text);
    (void)config::is_ipv6(text);
    std::string proj = config::normalize_project_name(text);
    BERTH_FUZZ_CHECK(config::normalize_project_name(proj) == proj,
                     "normalize_project_name is idempotent");
  }
  if (auto words = config::split_command(text)) (void)words->size();
  if (auto vars = config::parse_env_file(text)) {
    for (const auto& [k, v] : *vars) BERTH_FUZZ_CHECK(!k.empty(), "env file names are not empty");
  } else {
    BERTH_FUZZ_CHECK(printable(vars.error().message), "env file errors are printable");
  }
}

}  // namespace berth::fuzz
