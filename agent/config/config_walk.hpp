// Inside agent/config: the TOML walk shared by its files. The context that collects every
// diagnostic (Ctx), the typed accessors that report a wrong type and return nullopt, the text
// helpers for messages, and one parser per part of berth.toml:
//   config_walk.cpp      messages and typed accessors
//   parse_settings.cpp   [agent], [aws], [dashboard], [registries."HOST"]
//   parse_values.cpp     the values inside a service (ports, volumes, healthcheck, depends_on...)
//   parse_service.cpp    one [services.NAME] table, key group by key group
//   cross_checks.cpp     checks across services (dependencies, cycles, ports, preflight)
//   config.cpp           the walk of the whole file and the public parse_config
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/duration.hpp"

namespace berth::config::detail {

using Pos = toml::source_position;

// Keys nested deeper than this are refused before toml++ sees them (its tables are destroyed
// recursively: ~50 000 levels overflow an 8 MiB stack).
constexpr int kMaxKeyDepth = 64;
constexpr const char* kDurationHint = "expected e.g. \"500ms\", \"10s\", \"1m30s\"";

void append_escaped(std::string& out, std::string_view s);
std::string quote(std::string_view s, size_t max = 80);
std::string clean(std::string_view s);
bool is_bare_key(std::string_view k);
std::string key_text(std::string_view k);
std::string join(const std::string& base, std::string_view key);
std::string at(const std::string& base, size_t i);
std::string type_name(toml::node_type t);
size_t edit_distance(std::string_view a, std::string_view b);
std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& cands);
std::string one_of(const std::vector<std::string>& items);
std::string fmt_double(double v);

// ---------------------------------------------------------------- the walk

struct DepRef {
  std::string name;
  Pos pos;
  std::string path;
};
struct PortRef {
  Pos pos;
  std::string path;
};
// Positions the cross-service checks need, parallel to ServiceSpec.
struct ServiceExtra {
  bool has_depends = false;
  Pos depends_pos;
  std::string depends_path;
  std::vector<DepRef> deps;
  std::vector<PortRef> ports;  // parallel to spec.ports
  Pos ports_pos;
  std::optional<Pos> strategy_pos;
  Pos network_mode_pos;
};

struct Ctx {
  std::string file;
  std::string dir;
  const FileReader* read = nullptr;
  std::vector<Diagnostic> diags;
  size_t dropped = 0;
  std::map<std::string, std::pair<std::optional<std::string>, std::string>> files;
  // Bytes of env files merged into services so far (a file counts once per service using it).
  size_t env_bytes = 0;

  bool full() const { return diags.size() >= kMaxDiagnostics; }
  void add(int line, int col, std::string msg) {
    if (full()) {
      ++dropped;
      return;
    }
    diags.push_back(Diagnostic{file, line, col, std::move(msg)});
  }
  void err(const Pos& p, const std::string& path, const std::string& msg) {
    add(static_cast<int>(p.line), static_cast<int>(p.column),
        path.empty() ? msg : path + ": " + msg);
  }
  void err(const toml::node& n, const std::string& path, const std::string& msg) {
    err(n.source().begin, path, msg);
  }
  void type_err(const toml::node& n, const std::string& path, const std::string& expected) {
    err(n, path, "expected " + expected + ", got " + type_name(n.type()));
  }
};

struct Item {
  std::string value;
  const toml::node* node;
  std::string path;
};

struct Unsupported {
  const char* key;
  const char* why;
};

// ---------------------------------------------------------------- typed accessors

std::optional<std::string> get_str(Ctx& c, const toml::node& n, const std::string& path);
std::optional<std::string> get_nonempty(Ctx& c, const toml::node& n, const std::string& path,
                                        const std::string& example);
std::optional<std::int64_t> get_int(Ctx& c, const toml::node& n, const std::string& path);
std::optional<std::int64_t> get_int_range(Ctx& c, const toml::node& n, const std::string& path,
                                          std::int64_t lo, std::int64_t hi);
std::optional<bool> get_bool(Ctx& c, const toml::node& n, const std::string& path);
std::optional<Millis> get_duration(Ctx& c, const toml::node& n, const std::string& path);
std::optional<Millis> get_duration_min(Ctx& c, const toml::node& n, const std::string& path,
                                       Millis min, bool zero_ok, const std::string& hint);
const toml::table* get_table(Ctx& c, const toml::node& n, const std::string& path);
std::optional<std::string> get_scalar_text(Ctx& c, const toml::node& n, const std::string& path);
std::optional<std::vector<Item>> get_str_list(Ctx& c, const toml::node& n, const std::string& path,
                                              bool allow_single);
void check_keys(Ctx& c, const toml::table& t, const std::string& path,
                const std::vector<std::string>& known,
                const std::vector<Unsupported>& unsupported = {});
const toml::key* key_of(const toml::table& t, std::string_view name);
std::string resolve(const Ctx& c, const std::string& p);
std::string shown_url(const std::string& url);
bool check_url(Ctx& c, const toml::node& n, const std::string& path, const std::string& raw_url,
               bool placeholders, bool tls);

// ---------------------------------------------------------------- parsers

void parse_agent(Ctx& c, const toml::node& node, AgentSettings& a);
bool valid_region(std::string_view r);
std::optional<std::string> get_region(Ctx& c, const toml::node& n, const std::string& path);
void parse_aws(Ctx& c, const toml::node& node, AwsSettings& a);
std::optional<std::string> get_file_path(Ctx& c, const toml::node& n, const std::string& path);
void parse_dashboard(Ctx& c, const toml::node& node, std::optional<DashboardSettings>& out);
bool valid_registry_host(std::string_view h);
struct EcrHost {
  std::string account;
  std::string region;
};

std::optional<EcrHost> ecr_host(std::string_view host);

void parse_registry(Ctx& c, const toml::key& k, const toml::node& node,
                    std::map<std::string, RegistrySettings>& out);

extern const std::vector<std::string> kServiceKeys;
extern const std::vector<Unsupported> kUnsupportedServiceKeys;
extern const char* kPortHint;
extern const char* kVolumeHint;
extern const std::vector<std::string> kCapabilities;
extern const std::vector<std::string> kUlimits;
extern const std::vector<std::string> kReservedLabelPrefixes;

std::optional<std::uint16_t> port_number(std::string_view s);
std::optional<std::string> parse_port(std::string_view text, PortMapping& m);
bool valid_volume_name(std::string_view s);
std::optional<std::string> parse_volume(const Ctx& c, std::string_view text, VolumeMount& v);
void parse_caps(Ctx& c, const toml::node& n, const std::string& path,
                std::vector<std::string>& out);
void parse_kv(Ctx& c, const toml::node& n, const std::string& path, bool is_env,
              std::vector<std::tuple<std::string, std::string, Pos, std::string>>& out);
void parse_healthcheck(Ctx& c, const toml::node& node, const std::string& path,
                       std::optional<Healthcheck>& out);
void parse_probe(Ctx& c, const toml::node& node, const std::string& path,
                 std::optional<Probe>& out);
void parse_depends(Ctx& c, const toml::node& node, const std::string& path, ServiceSpec& s,
                   ServiceExtra& x);
bool valid_service_name(std::string_view s);
void parse_service_agent_keys(Ctx& c, const toml::table& tbl, const std::string& path,
                              ServiceSpec& s, ServiceExtra& x);

void parse_service(Ctx& c, const std::string& name, const toml::node& node, ServiceSpec& s,
                   ServiceExtra& x);

void check_dependencies(Ctx& c, const std::map<std::string, ServiceSpec>& services,
                        const std::map<std::string, ServiceExtra>& extra);
void check_preflight(Ctx& c, const std::map<std::string, ServiceSpec>& services,
                     const std::map<std::string, ServiceExtra>& extra);
void check_ports(Ctx& c, const std::map<std::string, ServiceSpec>& services,
                 const std::map<std::string, ServiceExtra>& extra);

}  // namespace berth::config::detail
