// The values inside a service table: ports, volumes, capabilities, key=value lists, healthcheck,
// probe, depends_on and berth's own per-service keys (config_walk.hpp).
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

const std::vector<std::string> kServiceKeys = {"image",
                                               "command",
                                               "entrypoint",
                                               "environment",
                                               "env_file",
                                               "ports",
                                               "volumes",
                                               "depends_on",
                                               "healthcheck",
                                               "probe",
                                               "restart",
                                               "stop_signal",
                                               "stop_grace_period",
                                               "user",
                                               "working_dir",
                                               "labels",
                                               "logging",
                                               "network_mode",
                                               "extra_hosts",
                                               "cap_add",
                                               "cap_drop",
                                               "mem_limit",
                                               "cpus",
                                               "ulimits",
                                               "tmpfs",
                                               "pull_policy",
                                               "health_timeout",
                                               "update_strategy",
                                               "allow_remote_pin"};
// clang-format on

const std::vector<Unsupported> kUnsupportedServiceKeys = {
    {"build", "berth runs images from a registry; build and push them elsewhere"},
    {"container_name", "containers are named <project>-<service>-1"},
    {"networks", "services share the project network; see network_mode"},
    {"deploy", "use restart, mem_limit and cpus"},
    {"scale", "berth runs one container per service"},
    {"profiles", "every service in the file is run"},
    {"secrets", "mount files with volumes"},
    {"configs", "mount files with volumes"},
    {"links", "services reach each other by name on the project network"},
    {"external_links", "services reach each other by name on the project network"},
    {"expose", "use ports to publish; containers on the project network reach each other"},
};

const char* kPortHint =
    "expected e.g. \"8080:80\", \"127.0.0.1:8080:80\" or \"80\", optionally followed by \"/udp\"";

std::optional<std::uint16_t> port_number(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  int v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + (ch - '0');
  }
  if (v < 1 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

// "[IP:]HOST:CONTAINER[/proto]" | "CONTAINER[/proto]"; returns the error text (without path).
std::optional<std::string> parse_port(std::string_view text, PortMapping& m) {
  std::string shown = quote(text);
  std::string_view s = text;
  if (auto sl = s.rfind('/'); sl != std::string_view::npos) {
    std::string_view proto = s.substr(sl + 1);
    if (proto != "tcp" && proto != "udp")
      return shown + ": unknown protocol " + quote(proto) + " (expected \"tcp\" or \"udp\")";
    m.protocol = std::string(proto);
    s = s.substr(0, sl);
  }
  std::string ip;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':' ||
        !is_ipv6(s.substr(1, close - 1)))
      return shown +
             " is not HOST:CONTAINER (expected an IPv6 address in brackets, e.g. "
             "\"[::1]:8080:80\")";
    ip = std::string(s.substr(1, close - 1));
    s = s.substr(close + 2);
  }
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (true) {
    auto col = s.find(':', i);
    parts.push_back(s.substr(i, col == std::string_view::npos ? std::string_view::npos : col - i));
    if (col == std::string_view::npos) break;
    i = col + 1;
  }
  if (!ip.empty()) {
    if (parts.size() != 2) return shown + " is not [IP]:HOST:CONTAINER (" + kPortHint + ")";
    parts.insert(parts.begin(), std::string_view());
  }
  if (parts.size() > 3) return shown + " is not HOST:CONTAINER (" + kPortHint + ")";
  if (parts.size() == 3 && ip.empty()) {
    if (!is_ipv4(parts[0]))
      return shown + " is not HOST:CONTAINER (" + quote(parts[0]) + " is not an IP address; " +
             kPortHint + ")";
    ip = std::string(parts[0]);
  }
  std::string_view host = parts.size() >= 2 ? parts[parts.size() - 2] : std::string_view();
  std::string_view cont = parts.back();
  for (auto p : {host, cont})
    if (p.find('-') != std::string_view::npos)
      return shown + ": port ranges are not supported (expected one port per entry)";
  auto check = [&](std::string_view p, std::uint16_t& out) -> std::optional<std::string> {
    bool digits = !p.empty() && p.size() <= 10 &&
                  std::all_of(p.begin(), p.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (!digits)
      return shown + " is not HOST:CONTAINER (" + quote(p) + " is not a port number; " + kPortHint +
             ")";
    auto v = port_number(p);
    if (!v) return shown + ": port " + std::string(p) + " is out of range (expected 1..65535)";
    out = *v;
    return std::nullopt;
  };
  if (auto e = check(cont, m.container_port)) return e;
  if (parts.size() == 2 || (parts.size() == 3 && !host.empty()))
    if (auto e = check(host, m.host_port)) return e;
  m.host_ip = ip;
  return std::nullopt;
}

const char* kVolumeHint =
    "expected \"NAME:/path\", \"/host/path:/path\", \"./dir:/path\" or \"/path\", optionally "
    "followed by \":ro\"";

bool valid_volume_name(std::string_view s) {
  if (s.empty() || s.size() > 200 || !std::isalnum(static_cast<unsigned char>(s.front())))
    return false;
  for (char ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '.' && ch != '-')
      return false;
  return true;
}

std::optional<std::string> parse_volume(const Ctx& c, std::string_view text, VolumeMount& v) {
  std::string shown = quote(text);
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (true) {
    auto col = text.find(':', i);
    parts.push_back(
        text.substr(i, col == std::string_view::npos ? std::string_view::npos : col - i));
    if (col == std::string_view::npos) break;
    i = col + 1;
  }
  auto is_mode = [](std::string_view m) { return m == "ro" || m == "rw"; };
  std::string_view src, dst, mode;
  if (parts.size() == 1) {
    dst = parts[0];
  } else if (parts.size() == 2) {
    if (!parts[0].empty() && parts[0].front() == '/' &&
        (is_mode(parts[1]) || parts[1].find('/') == std::string_view::npos)) {
      dst = parts[0];
      mode = parts[1];
    } else {
      src = parts[0];
      dst = parts[1];
    }
  } else if (parts.size() == 3) {
    src = parts[0];
    dst = parts[1];
    mode = parts[2];
  } else {
    return shown + " is not a volume (" + kVolumeHint + ")";
  }
  if (!mode.empty() || parts.size() == 3) {
    if (!is_mode(mode))
      return shown + ": unsupported mode " + quote(mode) + " (expected \"ro\" or \"rw\")";
    v.read_only = mode == "ro";
  }
  if (dst.empty() || dst.front() != '/')
    return shown + ": the container path " + quote(dst) + " is not absolute (" + kVolumeHint + ")";
  v.target = normalize_path(dst);
  if (v.target == "/") return shown + ": cannot mount over \"/\" (expected a directory below it)";
  if (parts.size() == 1 || src.empty()) {
    if (parts.size() != 1 && parts.size() != 2)
      return shown + " has an empty source (" + kVolumeHint + ")";
    if (!src.empty() || (parts.size() == 2 && mode.empty()))
      return shown + " has an empty source (" + kVolumeHint + ")";
    v.type = VolumeMount::Type::anonymous;
    v.source.clear();
    return std::nullopt;
  }
  if (src.front() == '/') {
    v.type = VolumeMount::Type::bind;
    v.source = normalize_path(src);
  } else if (src == "." || src == ".." || src.starts_with("./") || src.starts_with("../")) {
    v.type = VolumeMount::Type::bind;
    v.source = resolve(c, std::string(src));
  } else if (src.front() == '~') {
    return shown +
           ": \"~\" is not expanded (expected an absolute path or one starting with "
           "\"./\")";
  } else if (valid_volume_name(src)) {
    v.type = VolumeMount::Type::named;
    v.source = std::string(src);
  } else {
    return shown + ": " + quote(src) +
           " is not a volume name (expected letters, digits, \"_\", \".\" or \"-\", or a path "
           "starting with \"/\" or \"./\")";
  }
  return std::nullopt;
}

// clang-format off
const std::vector<std::string> kCapabilities = {
    "ALL", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE",
    "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE"};
// clang-format on

const std::vector<std::string> kUlimits = {
    "as",   "core",   "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue",
    "nice", "nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack"};

void parse_caps(Ctx& c, const toml::node& n, const std::string& path,
                std::vector<std::string>& out) {
  auto items = get_str_list(c, n, path, false);
  if (!items) return;
  for (auto& it : *items) {
    std::string up;
    for (char ch : it.value) up += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (up.starts_with("CAP_")) up = up.substr(4);
    if (std::find(kCapabilities.begin(), kCapabilities.end(), up) == kCapabilities.end()) {
      std::string msg = quote(it.value) + " is not a Linux capability";
      if (auto s = closest(up, kCapabilities))
        msg += " (did you mean \"" + *s + "\"?)";
      else
        msg += " (expected e.g. \"NET_ADMIN\", \"SYS_TIME\" or \"ALL\")";
      c.err(*it.node, it.path, msg);
      continue;
    }
    if (std::find(out.begin(), out.end(), up) == out.end()) out.push_back(up);
  }
}

// "K=V" entries or a table; used by environment and labels.
void parse_kv(Ctx& c, const toml::node& n, const std::string& path, bool is_env,
              std::vector<std::tuple<std::string, std::string, Pos, std::string>>& out) {
  if (auto* t = n.as_table()) {
    for (auto&& [k, v] : *t) {
      std::string p = join(path, k.str());
      if (auto s = get_scalar_text(c, v, p))
        out.emplace_back(std::string(k.str()), *s, k.source().begin, p);
    }
    return;
  }
  if (auto* arr = n.as_array()) {
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& e = *arr->get(i);
      std::string p = at(path, i);
      auto s = get_str(c, e, p);
      if (!s) continue;
      auto eq = s->find('=');
      if (eq == std::string::npos) {
        if (is_env) {
          c.err(e, p,
                quote(*s) +
                    " has no value (expected \"KEY=VALUE\"; berth does not pass its own "
                    "environment through)");
          continue;
        }
        out.emplace_back(*s, "", e.source().begin, p);
        continue;
      }
      out.emplace_back(s->substr(0, eq), s->substr(eq + 1), e.source().begin, p);
    }
    return;
  }
  c.type_err(n, path, "a table or an array of \"KEY=VALUE\" strings");
}

void parse_healthcheck(Ctx& c, const toml::node& node, const std::string& path,
                       std::optional<Healthcheck>& out) {
  auto* t = get_table(c, node, path);
  if (!t) return;
  check_keys(c, *t, path, {"test", "interval", "timeout", "start_period", "retries", "disable"});
  Healthcheck h;
  if (auto* n = t->get("test")) {
    std::string p = join(path, "test");
    if (auto* s = n->as_string()) {
      if (s->get().empty())
        c.err(*n, p, "empty command (expected e.g. \"curl -f http://127.0.0.1/\")");
      else
        h.test = {"CMD-SHELL", s->get()};
    } else if (auto items = get_str_list(c, *n, p, true)) {
      std::vector<std::string> v;
      for (auto& it : *items) v.push_back(it.value);
      if (v.empty()) {
        c.err(*n, p,
              "empty array (expected [\"CMD\", \"program\", ...], [\"CMD-SHELL\", \"...\"] or "
              "[\"NONE\"])");
      } else if (v[0] != "CMD" && v[0] != "CMD-SHELL" && v[0] != "NONE") {
        c.err(
            *n, p,
            "the first element is " + quote(v[0]) +
                " (expected \"CMD\", \"CMD-SHELL\" or \"NONE\", e.g. [\"CMD\", \"wget\", \"-qO-\", "
                "\"http://127.0.0.1/\"])");
      } else if (v[0] == "CMD-SHELL" && v.size() != 2) {
        c.err(*n, p, "[\"CMD-SHELL\", ...] takes exactly one command string");
      } else if (v[0] == "CMD" && v.size() < 2) {
        c.err(*n, p, "[\"CMD\"] needs a program (expected [\"CMD\", \"program\", \"arg\", ...])");
      } else if (v[0] == "NONE" && v.size() != 1) {
        c.err(*n, p, "[\"NONE\"] takes no arguments");
      } else {
        h.test = v;
        if (v[0] == "NONE") h.disable = true;
      }
    }
  }
  if (auto* n = t->get("interval"))
    if (auto d = get_duration(c, *n, join(path, "interval"))) h.interval = *d;
  if (auto* n = t->get("timeout"))
    if (auto d = get_duration(c, *n, join(path, "timeout"))) h.timeout = *d;
  if (auto* n = t->get("start_period"))
    if (auto d = get_duration(c, *n, join(path, "start_period"))) h.start_period = *d;
  if (auto* n = t->get("retries"))
    if (auto v = get_int_range(c, *n, join(path, "retries"), 0, 1000))
      h.retries = static_cast<int>(*v);
  if (auto* n = t->get("disable"))
    if (auto b = get_bool(c, *n, join(path, "disable"))) {
      if (*b) {
        h.disable = true;
        h.test = {"NONE"};
      }
    }
  out = std::move(h);
}

void parse_probe(Ctx& c, const toml::node& node, const std::string& path,
                 std::optional<Probe>& out) {
  auto* t = get_table(c, node, path);
  if (!t) return;
  check_keys(c, *t, path, {"http", "tcp", "interval", "timeout", "retries", "start_period"});
  Probe pr;
  bool ok = true;
  auto* http = t->get("http");
  auto* tcp = t->get("tcp");
  if ((http == nullptr) == (tcp == nullptr)) {
    c.err(t->source().begin, path,
          "needs exactly one of \"http\" or \"tcp\" (expected e.g. http = "
          "\"http://127.0.0.1:8080/health\" or tcp = \"127.0.0.1:5432\")");
    ok = false;
  }
  if (http) {
    std::string p = join(path, "http");
    if (auto s = get_str(c, *http, p)) {
      std::string_view u = *s;
      bool good = u.starts_with("http://") && u.size() > 7 && u[7] != '/' &&
                  std::none_of(u.begin(), u.end(), [](char ch) {
                    return static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f;
                  });
      if (!good) {
        c.err(*http, p,
              quote(*s) +
                  " is not an http:// URL (expected e.g. \"http://127.0.0.1:8080/health\"; "
                  "the probe speaks plain HTTP)");
        ok = false;
      } else {
        pr.http = *s;
      }
    } else {
      ok = false;
    }
  }
  if (tcp) {
    std::string p = join(path, "tcp");
    if (auto s = get_str(c, *tcp, p)) {
      std::string_view v = *s;
      auto colon = v.rfind(':');
      std::string_view host = colon == std::string_view::npos ? v : v.substr(0, colon);
      bool good = colon != std::string_view::npos && !host.empty() &&
                  port_number(v.substr(colon + 1)).has_value() &&
                  std::none_of(host.begin(), host.end(), [](char ch) {
                    return static_cast<unsigned char>(ch) <= ' ' || ch == '/';
                  });
      if (good && host.front() == '[')
        good = host.back() == ']' && is_ipv6(host.substr(1, host.size() - 2));
      else if (good && host.find(':') != std::string_view::npos)
        good = false;
      if (!good) {
        c.err(*tcp, p, quote(*s) + " is not HOST:PORT (expected e.g. \"127.0.0.1:5432\")");
        ok = false;
      } else {
        pr.tcp = *s;
      }
    } else {
      ok = false;
    }
  }
  if (auto* n = t->get("interval"))
    if (auto d = get_duration_min(c, *n, join(path, "interval"), Millis{1}, false,
                                  "expected more than 0, e.g. \"5s\""))
      pr.interval = *d;
  if (auto* n = t->get("timeout"))
    if (auto d = get_duration_min(c, *n, join(path, "timeout"), Millis{1}, false,
                                  "expected more than 0, e.g. \"2s\""))
      pr.timeout = *d;
  if (auto* n = t->get("start_period"))
    if (auto d = get_duration(c, *n, join(path, "start_period"))) pr.start_period = *d;
  if (auto* n = t->get("retries"))
    if (auto v = get_int_range(c, *n, join(path, "retries"), 1, 1000))
      pr.retries = static_cast<int>(*v);
  if (ok) out = std::move(pr);
}

void parse_depends(Ctx& c, const toml::node& node, const std::string& path, ServiceSpec& s,
                   ServiceExtra& x) {
  x.has_depends = true;
  x.depends_pos = node.source().begin;
  x.depends_path = path;
  std::set<std::string> seen;
  auto add = [&](const std::string& name, Pos pos, const std::string& p, Dependency d) {
    if (!seen.insert(name).second) {
      c.err(pos, p, quote(name) + " is listed twice (expected each service once)");
      return;
    }
    d.service = name;
    s.depends_on.push_back(d);
    x.deps.push_back(DepRef{name, pos, p});
  };
  const std::string cond_hint =
      "expected \"service_started\", \"service_healthy\" or \"service_completed_successfully\"";
  auto condition = [&](const toml::node& n,
                       const std::string& p) -> std::optional<DependsCondition> {
    auto v = get_str(c, n, p);
    if (!v) return std::nullopt;
    if (*v == "service_started") return DependsCondition::started;
    if (*v == "service_healthy") return DependsCondition::healthy;
    if (*v == "service_completed_successfully") return DependsCondition::completed_successfully;
    c.err(n, p, quote(*v) + " is not a condition (" + cond_hint + ")");
    return std::nullopt;
  };
  if (auto* arr = node.as_array()) {
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& e = *arr->get(i);
      std::string p = at(path, i);
      if (auto v = get_str(c, e, p)) add(*v, e.source().begin, p, Dependency{});
    }
    return;
  }
  auto* t = node.as_table();
  if (!t) {
    c.type_err(node, path, "an array of service names or a table");
    return;
  }
  for (auto&& [k, v] : *t) {
    std::string name(k.str());
    std::string p = join(path, name);
    Dependency d;
    if (v.is_string()) {
      auto cond = condition(v, p);
      if (!cond) continue;
      d.condition = *cond;
    } else if (auto* dt = v.as_table()) {
      check_keys(c, *dt, p, {"condition", "restart", "required"});
      if (auto* n = dt->get("condition")) {
        auto cond = condition(*n, join(p, "condition"));
        if (!cond) continue;
        d.condition = *cond;
      }
      if (auto* n = dt->get("restart"))
        if (auto b = get_bool(c, *n, join(p, "restart"))) d.restart = *b;
      if (auto* n = dt->get("required"))
        if (auto b = get_bool(c, *n, join(p, "required"))) d.required = *b;
    } else {
      c.type_err(v, p, "a condition string or a table");
      continue;
    }
    add(name, k.source().begin, p, d);
  }
}

bool valid_service_name(std::string_view s) {
  if (s.empty() || s.size() > 63 || !std::isalnum(static_cast<unsigned char>(s.front())))
    return false;
  for (char ch : s)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-'))
      return false;
  return true;
}

const std::vector<std::string> kReservedLabelPrefixes = {"com.docker.compose.", "org.berth."};

// berth's own per-service keys: how it pulls, waits and updates, and who may pin the image.
void parse_service_agent_keys(Ctx& c, const toml::table& tbl, const std::string& path,
                              ServiceSpec& s, ServiceExtra& x) {
  const toml::table* t = &tbl;
  auto P = [&](std::string_view k) { return join(path, k); };
  if (auto* n = t->get("pull_policy")) {
    if (auto v = get_str(c, *n, P("pull_policy"))) {
      if (*v == "always")
        s.pull_policy = PullPolicy::always;
      else if (*v == "missing" || *v == "if_not_present")
        s.pull_policy = PullPolicy::missing;
      else if (*v == "never")
        s.pull_policy = PullPolicy::never;
      else
        c.err(*n, P("pull_policy"),
              quote(*v) +
                  (*v == "build" ? " is not supported: berth does not build images"
                                 : " is not a pull policy") +
                  " (expected \"always\", \"missing\" or \"never\")");
    }
  }
  if (auto* n = t->get("health_timeout"))
    if (auto d = get_duration_min(c, *n, P("health_timeout"), Millis{1}, false,
                                  "expected more than 0, e.g. \"2m\""))
      s.health_timeout = *d;
  if (auto* n = t->get("update_strategy")) {
    if (auto v = get_str(c, *n, P("update_strategy"))) {
      if (*v == "stop-first")
        s.update_strategy = UpdateStrategy::stop_first;
      else if (*v == "start-first" || *v == "preflight") {
        s.update_strategy =
            *v == "preflight" ? UpdateStrategy::preflight : UpdateStrategy::start_first;
        x.strategy_pos = n->source().begin;
      } else
        c.err(*n, P("update_strategy"),
              quote(*v) +
                  " is not an update strategy (expected \"stop-first\", \"start-first\" or "
                  "\"preflight\")");
    }
  }
  if (auto* n = t->get("allow_remote_pin"))
    if (auto b = get_bool(c, *n, P("allow_remote_pin"))) s.allow_remote_pin = *b;
}

// services.NAME: image, command, entrypoint.

}  // namespace berth::config::detail
