// One [services.NAME] table, key group by key group (config_walk.hpp).
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

namespace {

void parse_service_image(Ctx& c, const toml::table& t, const std::string& path, ServiceSpec& s,
                         const toml::node& node) {
  auto P = [&](std::string_view k) { return join(path, k); };
  if (auto* n = t.get("image")) {
    if (auto v = get_str(c, *n, P("image"))) {
      auto ref = parse_image_ref(*v);
      if (!ref) {
        bool printable = std::all_of(v->begin(), v->end(), [](char ch) {
          return static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7f;
        });
        c.err(*n, P("image"),
              printable && v->size() <= 300 ? ref.error().message
                                            : "invalid image reference " + quote(*v) +
                                                  ": contains whitespace or a non-ASCII character");
      } else {
        s.image = *v;
      }
    }
  } else {
    c.err(node.source().begin, path,
          "missing required key \"image\" (expected e.g. image = "
          "\"123456789012.dkr.ecr.us-east-2.amazonaws.com/app:latest\")");
  }

  for (const char* key : {"command", "entrypoint"}) {
    auto* n = t.get(key);
    if (!n) continue;
    std::string p = P(key);
    auto& dest = std::string_view(key) == "command" ? s.command : s.entrypoint;
    if (auto* str = n->as_string()) {
      auto words = split_command(str->get());
      if (words)
        dest = *words;
      else
        c.err(*n, p, quote(str->get()) + ": " + words.error().message);
    } else if (auto items = get_str_list(c, *n, p, false)) {
      std::vector<std::string> v;
      for (auto& it : *items) v.push_back(it.value);
      dest = v;
    }
  }
}

// services.NAME: env_file, environment (env_file first, environment wins).
void parse_service_env(Ctx& c, const toml::table& t, const std::string& path, ServiceSpec& s) {
  auto P = [&](std::string_view k) { return join(path, k); };
  // env_file first, environment wins.
  if (auto* n = t.get("env_file")) {
    std::string p = P("env_file");
    if (auto items = get_str_list(c, *n, p, true)) {
      for (auto& it : *items) {
        if (it.value.empty()) {
          c.err(*it.node, it.path, "empty path (expected e.g. \"app.env\")");
          continue;
        }
        if (it.value.find('\0') != std::string::npos) {
          c.err(*it.node, it.path, "contains a NUL character (expected a file path)");
          continue;
        }
        std::string norm = normalize_path(it.value);
        if (it.value.front() != '/' && (norm == ".." || norm.starts_with("../"))) {
          c.err(*it.node, it.path,
                quote(it.value) +
                    " is outside the configuration directory (expected a path inside it, or an "
                    "absolute path)");
          continue;
        }
        s.env_file.push_back(norm);
        auto found = c.files.find(norm);
        if (found == c.files.end()) {
          std::string why;
          std::optional<std::string> text;
          if (c.read && *c.read)
            text = (*c.read)(norm, &why);
          else
            why = "no file reader";
          if (!text && why.empty()) why = "unreadable";
          found = c.files.emplace(norm, std::make_pair(std::move(text), why)).first;
        }
        const auto& [text, why] = found->second;
        if (!text) {
          c.err(*it.node, it.path, "cannot read " + quote(it.value) + ": " + clean(why));
          continue;
        }
        // The reader the daemon uses refuses larger files; a custom reader must not matter.
        if (text->size() > kMaxConfigBytes) {
          c.err(*it.node, it.path,
                quote(it.value) + " is larger than 1 MiB (" + std::to_string(text->size()) +
                    " bytes; expected a small env file)");
          continue;
        }
        // Every service gets its own copy of the variables: bound the total, or one large file
        // named by many services takes gigabytes (and minutes) to load.
        if (text->size() > kMaxEnvFileBytesTotal - std::min(c.env_bytes, kMaxEnvFileBytesTotal)) {
          c.err(*it.node, it.path,
                quote(it.value) + ": the env files of all services add up to more than " +
                    std::to_string(kMaxEnvFileBytesTotal / (1024 * 1024)) +
                    " MiB (expected small env files)");
          continue;
        }
        c.env_bytes += text->size();
        auto vars = parse_env_file(*text);
        if (!vars) {
          c.err(*it.node, it.path, quote(it.value) + ", " + vars.error().message);
          continue;
        }
        for (auto& [k, v] : *vars) s.environment[k] = v;
      }
    }
  }
  if (auto* n = t.get("environment")) {
    std::vector<std::tuple<std::string, std::string, Pos, std::string>> kv;
    parse_kv(c, *n, P("environment"), true, kv);
    for (auto& [k, v, pos, p] : kv) {
      if (k.empty())
        c.err(pos, p, "empty variable name (expected \"KEY=VALUE\")");
      else if (k.find('=') != std::string::npos || k.find('\0') != std::string::npos)
        c.err(pos, p, "variable name " + quote(k) + " contains \"=\" or NUL (expected a name)");
      else if (v.find('\0') != std::string::npos)
        c.err(pos, p, "the value contains a NUL character");
      else
        s.environment[k] = v;
    }
  }
}

// services.NAME: ports.
void parse_service_ports(Ctx& c, const toml::table& t, const std::string& path, ServiceSpec& s,
                         ServiceExtra& x) {
  auto P = [&](std::string_view k) { return join(path, k); };
  if (auto* n = t.get("ports")) {
    std::string p = P("ports");
    x.ports_pos = n->source().begin;
    if (auto* arr = n->as_array()) {
      for (size_t i = 0; i < arr->size(); ++i) {
        const toml::node& e = *arr->get(i);
        std::string ep = at(p, i);
        PortMapping m;
        if (auto* iv = e.as_integer()) {
          if (iv->get() < 1 || iv->get() > 65535) {
            c.err(e, ep, std::to_string(iv->get()) + " is out of range (expected a port 1..65535)");
            continue;
          }
          m.container_port = static_cast<std::uint16_t>(iv->get());
        } else if (auto* sv = e.as_string()) {
          if (auto err = parse_port(sv->get(), m)) {
            c.err(e, ep, *err);
            continue;
          }
        } else {
          c.type_err(e, ep, "a string like \"8080:80\" or a port number");
          continue;
        }
        s.ports.push_back(m);
        x.ports.push_back(PortRef{e.source().begin, ep});
      }
    } else {
      c.type_err(*n, p, "an array of strings like \"8080:80\"");
    }
  }
}

// services.NAME: volumes, tmpfs (one target each).
void parse_service_mounts(Ctx& c, const toml::table& t, const std::string& path, ServiceSpec& s) {
  auto P = [&](std::string_view k) { return join(path, k); };
  std::map<std::string, std::string> targets;  // mount target -> where it was set
  if (auto* n = t.get("volumes")) {
    if (auto items = get_str_list(c, *n, P("volumes"), false)) {
      for (auto& it : *items) {
        VolumeMount v;
        if (auto err = parse_volume(c, it.value, v)) {
          c.err(*it.node, it.path, *err);
          continue;
        }
        auto [where, fresh] = targets.emplace(v.target, it.path);
        if (!fresh) {
          c.err(
              *it.node, it.path,
              "the container path " + quote(v.target) + " is already mounted by " + where->second);
          continue;
        }
        s.volumes.push_back(v);
      }
    }
  }
  if (auto* n = t.get("tmpfs")) {
    if (auto items = get_str_list(c, *n, P("tmpfs"), true)) {
      for (auto& it : *items) {
        std::string_view v = it.value;
        auto colon = v.find(':');
        std::string_view dir = v.substr(0, colon);
        std::string_view opts = colon == std::string_view::npos ? "" : v.substr(colon + 1);
        if (dir.empty() || dir.front() != '/') {
          c.err(*it.node, it.path,
                quote(it.value) +
                    " is not an absolute path (expected e.g. \"/run\" or "
                    "\"/tmp:size=64m\")");
          continue;
        }
        if (std::any_of(opts.begin(), opts.end(),
                        [](char ch) { return static_cast<unsigned char>(ch) <= ' '; }) ||
            (colon != std::string_view::npos && opts.empty())) {
          c.err(*it.node, it.path,
                quote(it.value) +
                    " has malformed options (expected e.g. \"/tmp:size=64m,mode=1777\")");
          continue;
        }
        std::string target = normalize_path(dir);
        auto [where, fresh] = targets.emplace(target, it.path);
        if (!fresh) {
          c.err(*it.node, it.path,
                "the container path " + quote(target) + " is already mounted by " + where->second);
          continue;
        }
        s.tmpfs.push_back(colon == std::string_view::npos ? target
                                                          : target + ":" + std::string(opts));
      }
    }
  }
}

// services.NAME: restart, stop_signal, stop_grace_period, user, working_dir.
void parse_service_process(Ctx& c, const toml::table& t, const std::string& path, ServiceSpec& s) {
  auto P = [&](std::string_view k) { return join(path, k); };
  if (auto* n = t.get("restart")) {
    if (auto v = get_str(c, *n, P("restart"))) {
      std::string_view r = *v;
      bool good = r == "no" || r == "always" || r == "unless-stopped" || r == "on-failure";
      if (!good && r.starts_with("on-failure:")) {
        std::string_view num = r.substr(11);
        good = !num.empty() && num.size() <= 6 &&
               std::all_of(num.begin(), num.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      }
      if (good)
        s.restart = *v;
      else
        c.err(*n, P("restart"),
              quote(*v) +
                  " is not a restart policy (expected \"no\", \"always\", "
                  "\"on-failure\", \"on-failure:N\" or \"unless-stopped\")");
    }
  }
  if (auto* n = t.get("stop_signal")) {
    std::optional<std::string> text;
    if (auto* iv = n->as_integer())
      text = std::to_string(iv->get());
    else
      text = get_str(c, *n, P("stop_signal"));
    if (text) {
      if (auto sig = normalize_signal(*text))
        s.stop_signal = *sig;
      else
        c.err(*n, P("stop_signal"),
              quote(*text) +
                  " is not a signal (expected e.g. \"SIGTERM\", \"SIGINT\", \"TERM\" or 15)");
    }
  }
  if (auto* n = t.get("stop_grace_period"))
    if (auto d = get_duration(c, *n, P("stop_grace_period"))) s.stop_grace_period = *d;
  if (auto* n = t.get("user"))
    if (auto v = get_nonempty(c, *n, P("user"), "a user name or UID[:GID], e.g. \"1000:1000\""))
      s.user = *v;
  if (auto* n = t.get("working_dir")) {
    if (auto v = get_str(c, *n, P("working_dir"))) {
      if (v->empty() || v->front() != '/')
        c.err(*n, P("working_dir"), quote(*v) + " is not absolute (expected e.g. \"/app\")");
      else
        s.working_dir = *v;
    }
  }
}

// services.NAME: labels, logging.
void parse_service_metadata(Ctx& c, const toml::table& t, const std::string& path, ServiceSpec& s) {
  auto P = [&](std::string_view k) { return join(path, k); };
  if (auto* n = t.get("labels")) {
    std::vector<std::tuple<std::string, std::string, Pos, std::string>> kv;
    parse_kv(c, *n, P("labels"), false, kv);
    for (auto& [k, v, pos, p] : kv) {
      bool reserved = false;
      for (const auto& pre : kReservedLabelPrefixes)
        if (k.starts_with(pre)) {
          c.err(pos, p,
                "the \"" + pre +
                    "\" prefix is reserved for berth (expected your own, e.g. "
                    "\"com.example.team\")");
          reserved = true;
        }
      if (reserved) continue;
      if (k.empty())
        c.err(pos, p, "empty label name (expected \"NAME=VALUE\")");
      else
        s.labels[k] = v;
    }
  }
  if (auto* n = t.get("logging")) {
    std::string p = P("logging");
    if (auto* lt = get_table(c, *n, p)) {
      check_keys(c, *lt, p, {"driver", "options"});
      if (auto* d = lt->get("driver"))
        if (auto v = get_nonempty(c, *d, join(p, "driver"), "e.g. \"journald\" or \"json-file\""))
          s.logging.driver = *v;
      if (auto* o = lt->get("options")) {
        std::string op = join(p, "options");
        if (auto* ot = get_table(c, *o, op))
          for (auto&& [k, v] : *ot)
            if (auto sv = get_scalar_text(c, v, join(op, k.str())))
              s.logging.options[std::string(k.str())] = *sv;
      }
    }
  }
}

// services.NAME: network_mode, extra_hosts.
void parse_service_network(Ctx& c, const toml::table& t, const std::string& path, ServiceSpec& s,
                           ServiceExtra& x) {
  auto P = [&](std::string_view k) { return join(path, k); };
  if (auto* n = t.get("network_mode")) {
    x.network_mode_pos = n->source().begin;
    if (auto v = get_str(c, *n, P("network_mode"))) {
      if (*v == "host" || *v == "none" || *v == "bridge")
        s.network_mode = *v;
      else
        c.err(*n, P("network_mode"),
              quote(*v) +
                  (v->starts_with("service:") || v->starts_with("container:")
                       ? " is not supported"
                       : " is not a network mode") +
                  " (expected \"host\", \"none\" or \"bridge\"; leave it out for the project "
                  "network)");
    }
  }
  if (auto* n = t.get("extra_hosts")) {
    std::string p = P("extra_hosts");
    auto add = [&](const toml::node& at_node, const std::string& ep, std::string_view host,
                   std::string_view ip, const std::string& shown) {
      bool host_ok = !host.empty() && std::none_of(host.begin(), host.end(), [](char ch) {
        return static_cast<unsigned char>(ch) <= ' ' || ch == ':' || ch == '=' || ch == '/';
      });
      if (!host_ok) {
        c.err(at_node, ep,
              shown +
                  " has no valid host name (expected \"HOST:IP\", e.g. \"db.internal:10.0.0.5\")");
        return;
      }
      if (!is_ipv4(ip) && !is_ipv6(ip) && ip != "host-gateway") {
        c.err(at_node, ep,
              shown + ": " + quote(ip) +
                  " is not an IP address (expected \"HOST:IP\", e.g. \"db.internal:10.0.0.5\", or "
                  "\"host-gateway\")");
        return;
      }
      s.extra_hosts.push_back(std::string(host) + ":" + std::string(ip));
    };
    if (auto* et = n->as_table()) {
      for (auto&& [k, v] : *et) {
        std::string ep = join(p, k.str());
        if (auto ip = get_str(c, v, ep)) add(v, ep, k.str(), *ip, quote(k.str()));
      }
    } else if (auto items = get_str_list(c, *n, p, false)) {
      for (auto& it : *items) {
        std::string_view e = it.value;
        auto sep = e.find_first_of(":=");
        if (sep == std::string_view::npos) {
          c.err(*it.node, it.path,
                quote(e) + " is not HOST:IP (expected e.g. \"db.internal:10.0.0.5\")");
          continue;
        }
        add(*it.node, it.path, e.substr(0, sep), e.substr(sep + 1), quote(e));
      }
    }
  }
}

// services.NAME: cap_add, cap_drop, mem_limit, cpus.
void parse_service_limits(Ctx& c, const toml::table& t, const std::string& path, ServiceSpec& s) {
  auto P = [&](std::string_view k) { return join(path, k); };
  if (auto* n = t.get("cap_add")) parse_caps(c, *n, P("cap_add"), s.cap_add);
  if (auto* n = t.get("cap_drop")) parse_caps(c, *n, P("cap_drop"), s.cap_drop);
  if (auto* n = t.get("mem_limit")) {
    std::string p = P("mem_limit");
    std::optional<std::int64_t> bytes;
    std::string shown;
    if (auto* iv = n->as_integer()) {
      bytes = iv->get();
      shown = std::to_string(iv->get());
    } else if (auto* sv = n->as_string()) {
      shown = quote(sv->get());
      bytes = parse_byte_size(sv->get());
      if (!bytes)
        c.err(*n, p,
              shown + " is not a size (expected e.g. \"512m\", \"1g\" or a number of bytes)");
    } else {
      c.type_err(*n, p, "a size string like \"512m\" or a number of bytes");
    }
    if (bytes) {
      if (*bytes < 6 * 1024 * 1024)
        c.err(*n, p,
              shown +
                  " is below Docker's minimum of 6 MiB (expected e.g. \"512m\" or \"1g\"; a "
                  "bare number is bytes)");
      else
        s.mem_limit = *bytes;
    }
  }
  if (auto* n = t.get("cpus")) {
    std::string p = P("cpus");
    std::optional<double> v;
    if (auto* fv = n->as_floating_point())
      v = fv->get();
    else if (auto* iv = n->as_integer())
      v = static_cast<double>(iv->get());
    else if (auto* sv = n->as_string()) {
      // compose files often quote it: cpus = "0.5"
      double d = 0;
      const std::string& str = sv->get();
      auto r = std::from_chars(str.data(), str.data() + str.size(), d);
      if (r.ec == std::errc() && r.ptr == str.data() + str.size())
        v = d;
      else
        c.err(*n, p, quote(str) + " is not a number (expected e.g. 0.5 or 2)");
    } else {
      c.type_err(*n, p, "a number");
    }
    if (v) {
      if (!std::isfinite(*v) || *v <= 0 || *v > 1024)
        c.err(*n, p, fmt_double(*v) + " is not a CPU count (expected more than 0, e.g. 0.5 or 2)");
      else
        s.cpus = *v;
    }
  }
}

// services.NAME: ulimits.
void parse_service_ulimits(Ctx& c, const toml::table& t, const std::string& path, ServiceSpec& s) {
  auto P = [&](std::string_view k) { return join(path, k); };
  if (auto* n = t.get("ulimits")) {
    std::string p = P("ulimits");
    if (auto* ut = get_table(c, *n, p)) {
      for (auto&& [k, v] : *ut) {
        std::string lim(k.str());
        std::string up = join(p, lim);
        if (std::find(kUlimits.begin(), kUlimits.end(), lim) == kUlimits.end()) {
          std::string msg = quote(lim) + " is not a ulimit";
          if (auto sug = closest(lim, kUlimits))
            msg += " (did you mean \"" + *sug + "\"?)";
          else
            msg += " (expected e.g. \"nofile\", \"nproc\" or \"memlock\")";
          c.err(k.source().begin, up, msg);
          continue;
        }
        Ulimit u;
        const std::int64_t max = std::int64_t{1} << 62;
        if (v.is_integer()) {
          auto iv = get_int_range(c, v, up, -1, max);
          if (!iv) continue;
          u.soft = u.hard = *iv;
        } else if (auto* lt = v.as_table()) {
          check_keys(c, *lt, up, {"soft", "hard"});
          auto* sn = lt->get("soft");
          auto* hn = lt->get("hard");
          if (!sn || !hn) {
            c.err(v, up,
                  "needs both \"soft\" and \"hard\" (expected e.g. { soft = 1024, hard = 4096 })");
            continue;
          }
          auto sv = get_int_range(c, *sn, join(up, "soft"), -1, max);
          auto hv = get_int_range(c, *hn, join(up, "hard"), -1, max);
          if (!sv || !hv) continue;
          auto eff = [](std::int64_t l) { return l < 0 ? INT64_MAX : l; };
          if (eff(*sv) > eff(*hv)) {
            c.err(v, up,
                  "the soft limit " + std::to_string(*sv) + " is above the hard limit " +
                      std::to_string(*hv) + " (expected soft <= hard)");
            continue;
          }
          u.soft = *sv;
          u.hard = *hv;
        } else {
          c.type_err(v, up, "an integer or a table { soft, hard }");
          continue;
        }
        s.ulimits[lim] = u;
      }
    }
  }
}

}  // namespace

void parse_service(Ctx& c, const std::string& name, const toml::node& node, ServiceSpec& s,
                   ServiceExtra& x) {
  const std::string path = join("services", name);
  s.name = name;
  s.position = Position{static_cast<int>(node.source().begin.line),
                        static_cast<int>(node.source().begin.column)};
  auto* t = get_table(c, node, path);
  if (!t) return;
  check_keys(c, *t, path, kServiceKeys, kUnsupportedServiceKeys);
  auto P = [&](std::string_view k) { return join(path, k); };
  parse_service_image(c, *t, path, s, node);
  parse_service_env(c, *t, path, s);
  parse_service_ports(c, *t, path, s, x);
  parse_service_mounts(c, *t, path, s);
  if (auto* n = t->get("depends_on")) parse_depends(c, *n, P("depends_on"), s, x);
  if (auto* n = t->get("healthcheck")) parse_healthcheck(c, *n, P("healthcheck"), s.healthcheck);
  if (auto* n = t->get("probe")) parse_probe(c, *n, P("probe"), s.probe);
  parse_service_process(c, *t, path, s);
  parse_service_metadata(c, *t, path, s);
  parse_service_network(c, *t, path, s, x);
  parse_service_limits(c, *t, path, s);
  parse_service_ulimits(c, *t, path, s);
  parse_service_agent_keys(c, *t, path, s, x);
}

}  // namespace berth::config::detail
