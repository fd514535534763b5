// [agent], [aws], [dashboard] and [registries."HOST"] (config_walk.hpp).
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

namespace berth::config::detail {

void parse_agent(Ctx& c, const toml::node& node, AgentSettings& a) {
  const std::string path = "agent";
  auto* t = get_table(c, node, path);
  if (!t) return;
  check_keys(c, *t, path,
             {"project", "config_version", "update_interval", "pull_concurrency",
              "pull_inactivity_timeout", "retry_max", "remove_foreign"});
  if (auto* n = t->get("project")) {
    std::string p = join(path, "project");
    if (auto s = get_str(c, *n, p)) {
      std::string norm = normalize_project_name(*s);
      if (norm.empty())
        c.err(*n, p,
              quote(*s) +
                  " has no letters or digits (expected e.g. \"msd\"; only a-z, 0-9, _ and "
                  "- are kept)");
      else if (norm.size() > 63)
        c.err(*n, p, quote(*s) + " is longer than 63 characters (expected a short name)");
      else
        a.project = norm;
    }
  }
  if (auto* n = t->get("config_version")) {
    std::string p = join(path, "config_version");
    if (auto s = get_str(c, *n, p)) {
      if (s->size() > 128)
        c.err(*n, p, "longer than 128 characters (expected a short version like \"2026.11.1\")");
      else
        a.config_version = *s;
    }
  }
  if (auto* n = t->get("update_interval"))
    if (auto d = get_duration_min(c, *n, join(path, "update_interval"), Millis{1000}, true,
                                  "expected \"0\" (never) or at least \"1s\", e.g. \"15m\""))
      a.update_interval = *d;
  if (auto* n = t->get("pull_concurrency"))
    if (auto v = get_int_range(c, *n, join(path, "pull_concurrency"), 1, 16))
      a.pull_concurrency = static_cast<int>(*v);
  if (auto* n = t->get("pull_inactivity_timeout"))
    if (auto d = get_duration_min(c, *n, join(path, "pull_inactivity_timeout"), Millis{1000}, false,
                                  "expected at least \"1s\", e.g. \"2m\""))
      a.pull_inactivity_timeout = *d;
  if (auto* n = t->get("retry_max"))
    if (auto d = get_duration_min(c, *n, join(path, "retry_max"), Millis{5000}, false,
                                  "expected at least \"5s\", e.g. \"2m\""))
      a.retry_max = *d;
  if (auto* n = t->get("remove_foreign"))
    if (auto b = get_bool(c, *n, join(path, "remove_foreign"))) a.remove_foreign = *b;
}

bool valid_region(std::string_view r) {
  if (r.empty() || r.size() > 32) return false;
  for (char ch : r)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) return false;
  return std::isalpha(static_cast<unsigned char>(r.front())) &&
         std::isdigit(static_cast<unsigned char>(r.back())) &&
         r.find('-') != std::string_view::npos;
}

std::optional<std::string> get_region(Ctx& c, const toml::node& n, const std::string& path) {
  auto s = get_str(c, n, path);
  if (s && !valid_region(*s)) {
    c.err(n, path, quote(*s) + " is not an AWS region (expected e.g. \"us-east-2\")");
    return std::nullopt;
  }
  return s;
}

void parse_aws(Ctx& c, const toml::node& node, AwsSettings& a) {
  const std::string path = "aws";
  auto* t = get_table(c, node, path);
  if (!t) return;
  check_keys(c, *t, path, {"region"});
  if (auto* n = t->get("region"))
    if (auto r = get_region(c, *n, join(path, "region"))) a.region = *r;
}

std::optional<std::string> get_file_path(Ctx& c, const toml::node& n, const std::string& path) {
  auto s = get_nonempty(c, n, path, "a file path, e.g. \"/etc/berth/token\"");
  if (!s) return s;
  if (s->find('\0') != std::string::npos) {
    c.err(n, path, "contains a NUL character (expected a file path)");
    return std::nullopt;
  }
  return resolve(c, *s);
}

void parse_dashboard(Ctx& c, const toml::node& node, std::optional<DashboardSettings>& out) {
  const std::string path = "dashboard";
  auto* t = get_table(c, node, path);
  if (!t) return;
  DashboardSettings d;
  check_keys(c, *t, path, {"url", "token_file", "ca_file", "desired_url", "heartbeat"});
  if (auto* n = t->get("url")) {
    std::string p = join(path, "url");
    if (auto s = get_str(c, *n, p))
      if (check_url(c, *n, p, *s, true, true)) d.url = *s;
  } else {
    c.err(t->source().begin, path,
          "missing required key \"url\" (expected e.g. url = "
          "\"https://dash.example.com/api/servers/{instance_id}/containers\")");
  }
  if (auto* n = t->get("desired_url")) {
    std::string p = join(path, "desired_url");
    if (auto s = get_str(c, *n, p))
      if (check_url(c, *n, p, *s, true, true)) d.desired_url = *s;
  }
  if (auto* n = t->get("token_file"))
    if (auto s = get_file_path(c, *n, join(path, "token_file"))) d.token_file = *s;
  if (auto* n = t->get("ca_file"))
    if (auto s = get_file_path(c, *n, join(path, "ca_file"))) d.ca_file = *s;
  if (auto* n = t->get("heartbeat"))
    if (auto v = get_duration_min(c, *n, join(path, "heartbeat"), Millis{1000}, false,
                                  "expected at least \"1s\", e.g. \"60s\""))
      d.heartbeat = *v;
  out = std::move(d);
}

// ---------------------------------------------------------------- [registries."HOST"]

// 123456789012.dkr.ecr.us-east-2.amazonaws.com (also ecr-fips, .amazonaws.com.cn)
std::optional<EcrHost> ecr_host(std::string_view host) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= host.size()) {
    auto d = host.find('.', i);
    parts.push_back(host.substr(i, d == std::string_view::npos ? std::string_view::npos : d - i));
    if (d == std::string_view::npos) break;
    i = d + 1;
  }
  if (parts.size() < 6 || parts.size() > 7) return std::nullopt;
  if (parts[0].size() != 12 || !std::all_of(parts[0].begin(), parts[0].end(),
                                            [](char ch) { return ch >= '0' && ch <= '9'; }))
    return std::nullopt;
  if (parts[1] != "dkr" || (parts[2] != "ecr" && parts[2] != "ecr-fips")) return std::nullopt;
  if (parts[4] != "amazonaws" || parts[5] != "com") return std::nullopt;
  if (parts.size() == 7 && parts[6] != "cn") return std::nullopt;
  if (!valid_region(parts[3])) return std::nullopt;
  return EcrHost{std::string(parts[0]), std::string(parts[3])};
}

bool valid_registry_host(std::string_view h) {
  if (h.empty() || h.size() > 255) return false;
  for (char ch : h)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == ':' ||
          ch == '[' || ch == ']'))
      return false;
  return true;
}

void parse_registry(Ctx& c, const toml::key& k, const toml::node& node,
                    std::map<std::string, RegistrySettings>& out) {
  std::string host(k.str());
  const std::string path = join("registries", host);
  if (host.find("://") != std::string::npos || host.find('/') != std::string::npos) {
    c.err(k.source().begin, path,
          quote(host) +
              " is a URL, not a registry host (expected e.g. \"127.0.0.1:5000\" or "
              "\"123456789012.dkr.ecr.us-east-2.amazonaws.com\")");
    return;
  }
  if (!valid_registry_host(host)) {
    c.err(k.source().begin, path,
          quote(host) +
              " is not a registry host (expected HOST or HOST:PORT, e.g. "
              "\"127.0.0.1:5000\")");
    return;
  }
  auto* t = get_table(c, node, path);
  if (!t) return;
  check_keys(c, *t, path,
             {"auth", "username", "password_file", "account", "region", "config_file", "insecure"});
  RegistrySettings r;
  r.host = host;
  auto ecr = ecr_host(host);
  r.auth = ecr ? RegistryAuth::ecr : RegistryAuth::none;
  std::string auth_name = ecr ? "ecr" : "none";
  if (auto* n = t->get("auth")) {
    std::string p = join(path, "auth");
    if (auto s = get_str(c, *n, p)) {
      if (*s == "none")
        r.auth = RegistryAuth::none;
      else if (*s == "basic")
        r.auth = RegistryAuth::basic;
      else if (*s == "ecr")
        r.auth = RegistryAuth::ecr;
      else if (*s == "docker-config")
        r.auth = RegistryAuth::docker_config;
      else {
        c.err(*n, p,
              quote(*s) +
                  " is not an auth method (expected \"none\", \"basic\", \"ecr\" or "
                  "\"docker-config\")");
        return;
      }
      auth_name = *s;
    }
  }
  // Keys that only mean something for one auth method.
  struct Only {
    const char* key;
    RegistryAuth auth;
    const char* name;
  };
  for (const Only& o :
       {Only{"username", RegistryAuth::basic, "basic"},
        Only{"password_file", RegistryAuth::basic, "basic"},
        Only{"account", RegistryAuth::ecr, "ecr"}, Only{"region", RegistryAuth::ecr, "ecr"},
        Only{"config_file", RegistryAuth::docker_config, "docker-config"}}) {
    if (auto* kk = key_of(*t, o.key); kk && r.auth != o.auth)
      c.err(kk->source().begin, join(path, o.key),
            std::string("only used with auth = \"") + o.name + "\" (this registry has auth = \"" +
                auth_name + "\")");
  }
  if (auto* n = t->get("insecure"))
    if (auto b = get_bool(c, *n, join(path, "insecure"))) r.insecure = *b;
  switch (r.auth) {
    case RegistryAuth::basic: {
      if (auto* n = t->get("username")) {
        if (auto s = get_nonempty(c, *n, join(path, "username"), "a user name")) r.username = *s;
      } else {
        c.err(t->source().begin, path, "auth = \"basic\" needs \"username\" and \"password_file\"");
      }
      if (auto* n = t->get("password_file")) {
        if (auto s = get_file_path(c, *n, join(path, "password_file"))) r.password_file = *s;
      } else if (t->get("username")) {
        c.err(t->source().begin, path, "auth = \"basic\" needs \"username\" and \"password_file\"");
      }
      break;
    }
    case RegistryAuth::ecr: {
      if (ecr) {
        r.account = ecr->account;
        r.region = ecr->region;
      }
      if (auto* n = t->get("account")) {
        std::string p = join(path, "account");
        if (auto s = get_str(c, *n, p)) {
          bool digits = s->size() == 12 && std::all_of(s->begin(), s->end(), [](char ch) {
                          return ch >= '0' && ch <= '9';
                        });
          if (!digits)
            c.err(*n, p, quote(*s) + " is not an AWS account id (expected 12 digits)");
          else if (ecr && *s != ecr->account)
            c.err(*n, p,
                  quote(*s) + " does not match the account in the registry host (expected \"" +
                      ecr->account + "\")");
          else
            r.account = *s;
        }
      }
      if (auto* n = t->get("region"))
        if (auto s = get_region(c, *n, join(path, "region"))) r.region = *s;
      break;
    }
    case RegistryAuth::docker_config:
      if (auto* n = t->get("config_file"))
        if (auto s = get_file_path(c, *n, join(path, "config_file"))) r.config_file = *s;
      break;
    case RegistryAuth::none:
      break;
  }
  out[host] = std::move(r);
}

// ---------------------------------------------------------------- services

// clang-format off

}  // namespace berth::config::detail
