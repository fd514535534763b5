// berth.toml -> Config. Every error is collected (the walk never stops at the first one) and
// reported as "FILE:LINE:COL: key.path: what is wrong (what was expected)".
#include "config/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>

#include "config/config_walk.hpp"
#include "core/duration.hpp"
#include "core/graph.hpp"
#include "core/image_ref.hpp"
#include "core/url.hpp"
#include "util/strings.hpp"

namespace berth::config {

using namespace detail;

namespace {

std::optional<std::pair<int, int>> find_deep_key(std::string_view t) {
  int line = 1;
  size_t line_start = 0;
  int dots = 0;
  bool after_segment = false;
  size_t i = 0;
  auto newline = [&](size_t at_nl) {
    ++line;
    line_start = at_nl + 1;
  };
  auto skip_to = [&](size_t end) {  // skip [i, end), counting newlines
    for (size_t k = i; k < end && k < t.size(); ++k)
      if (t[k] == '\n') newline(k);
    i = end;
  };
  auto is_key_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  };
  auto segment = [&]() {
    if (after_segment) dots = 0;  // two segments without a dot: a new chain
    after_segment = true;
  };
  while (i < t.size()) {
    char c = t[i];
    if (c == '#') {
      auto nl = t.find('\n', i);
      i = nl == std::string_view::npos ? t.size() : nl;
      continue;
    }
    if (c == '"' || c == '\'') {
      bool multi = t.substr(i, 3) == (c == '"' ? "\"\"\"" : "'''");
      if (multi) {
        const std::string_view close = c == '"' ? "\"\"\"" : "'''";
        size_t k = i + 3;
        while (k < t.size() && t.substr(k, 3) != close) k += (c == '"' && t[k] == '\\') ? 2 : 1;
        skip_to(std::min(t.size(), k + 3));
        dots = 0;
        after_segment = false;
        continue;
      }
      size_t k = i + 1;
      while (k < t.size() && t[k] != c && t[k] != '\n') {
        if (c == '"' && t[k] == '\\') ++k;
        ++k;
      }
      i = k < t.size() && t[k] == c ? k + 1 : k;
      segment();
      continue;
    }
    if (is_key_char(c)) {
      while (i < t.size() && is_key_char(t[i])) ++i;
      segment();
      continue;
    }
    if (c == '.') {
      if (after_segment) {
        if (++dots >= kMaxKeyDepth)
          return std::make_pair(line, static_cast<int>(i - line_start) + 1);
        after_segment = false;
      } else {
        dots = 0;
      }
      ++i;
      continue;
    }
    if (c == ' ' || c == '\t') {
      ++i;
      continue;
    }
    if (c == '\n') newline(i);
    dots = 0;
    after_segment = false;
    ++i;
  }
  return std::nullopt;
}

void walk(Ctx& c, const toml::table& root, Config& cfg) {
  check_keys(c, root, "", {"agent", "aws", "dashboard", "registries", "services"});
  if (auto* n = root.get("agent")) parse_agent(c, *n, cfg.agent);
  if (auto* n = root.get("aws")) parse_aws(c, *n, cfg.aws);
  if (auto* n = root.get("dashboard")) parse_dashboard(c, *n, cfg.dashboard);
  if (auto* n = root.get("registries")) {
    if (auto* t = get_table(c, *n, "registries"))
      for (auto&& [k, v] : *t) parse_registry(c, k, v, cfg.registries);
  }
  std::map<std::string, ServiceExtra> extra;
  if (auto* n = root.get("services")) {
    if (auto* t = get_table(c, *n, "services")) {
      for (auto&& [k, v] : *t) {
        std::string name(k.str());
        if (!valid_service_name(name))
          c.err(k.source().begin, join("services", name),
                quote(name) +
                    " is not a valid service name (expected letters, digits, \"_\", "
                    "\".\" or \"-\", starting with a letter or digit, at most 63)");
        parse_service(c, name, v, cfg.services[name], extra[name]);
      }
    }
  }
  check_dependencies(c, cfg.services, extra);
  check_ports(c, cfg.services, extra);
  check_preflight(c, cfg.services, extra);
  // ECR hosts that images use without a [registries] table get an implicit auth = "ecr" entry.
  for (const auto& [name, s] : cfg.services) {
    (void)name;
    if (s.image.empty()) continue;
    auto ref = parse_image_ref(s.image);
    if (!ref || cfg.registries.count(ref->registry)) continue;
    if (auto e = ecr_host(ref->registry)) {
      RegistrySettings r;
      r.host = ref->registry;
      r.auth = RegistryAuth::ecr;
      r.account = e->account;
      r.region = e->region;
      cfg.registries[r.host] = r;
    }
  }
}

std::string dir_of(const std::string& path) {
  auto sl = path.rfind('/');
  if (sl == std::string::npos) return "";
  if (sl == 0) return "/";
  return path.substr(0, sl);
}

}  // namespace

std::string to_string(const Diagnostic& d) {
  if (d.line <= 0) return d.file + ": " + d.message;
  return d.file + ":" + std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + d.message;
}

ParseOutcome parse_config(std::string_view text, const std::string& path, const FileReader& read,
                          std::string_view base_dir) {
  ParseOutcome out;
  try {
    Ctx c;
    c.file = path;
    c.dir = base_dir.empty() ? dir_of(path) : std::string(base_dir);
    c.read = &read;
    Config cfg;
    cfg.path = path;
    cfg.dir = c.dir;
    if (text.size() > kMaxConfigBytes) {
      c.add(0, 0,
            "the configuration is larger than 1 MiB (" + std::to_string(text.size()) +
                " bytes; expected a small TOML file)");
    } else if (auto deep = find_deep_key(text)) {
      c.add(deep->first, deep->second,
            "keys are nested more than " + std::to_string(kMaxKeyDepth) +
                " levels deep (expected a berth configuration)");
    } else {
      std::optional<toml::table> root;
      try {
        root = toml::parse(text, std::string_view(path));
      } catch (const toml::parse_error& e) {
        std::string desc = clean(e.description());
        if (!desc.empty())
          desc[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(desc[0])));
        c.add(static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column),
              "invalid TOML: " + desc);
      }
      if (root) walk(c, *root, cfg);
    }
    std::stable_sort(c.diags.begin(), c.diags.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    if (c.dropped)
      c.diags.push_back(Diagnostic{
          path, 0, 0,
          std::to_string(c.dropped) + " more error" + (c.dropped == 1 ? "" : "s") + " not shown"});
    out.diagnostics = std::move(c.diags);
    if (out.diagnostics.empty()) out.config = std::move(cfg);
  } catch (const std::exception& e) {
    out.config.reset();
    out.diagnostics.push_back(Diagnostic{
        path, 0, 0, "internal error while reading the configuration: " + clean(e.what())});
  } catch (...) {
    out.config.reset();
    out.diagnostics.push_back(
        Diagnostic{path, 0, 0, "internal error while reading the configuration"});
  }
  return out;
}

}  // namespace berth::config
