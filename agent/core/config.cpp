// berth.toml -> Config. Every error is collected (the walk never stops at the first one) and
// reported as "FILE:LINE:COL: key.path: what is wrong (what was expected)".
#include "core/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>

#include "core/duration.hpp"
#include "core/image_ref.hpp"
#include "core/url.hpp"

namespace berth::config {

namespace {

using Pos = toml::source_position;

// Keys nested deeper than this are refused before toml++ sees them (its tables are destroyed
// recursively: ~50 000 levels overflow an 8 MiB stack).
constexpr int kMaxKeyDepth = 64;
constexpr const char* kDurationHint = "expected e.g. \"500ms\", \"10s\", \"1m30s\"";

// ---------------------------------------------------------------- text for messages

void append_escaped(std::string& out, std::string_view s) {
  size_t i = 0;
  auto hex = [](unsigned v, int digits) {
    static const char* d = "0123456789abcdef";
    std::string h;
    for (int k = digits - 1; k >= 0; --k) h += d[(v >> (4 * k)) & 0xF];
    return h;
  };
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n') {
      out += "\\n";
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u" + hex(c, 4);
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // Copy a well-formed UTF-8 sequence; escape C1 controls and stray bytes.
      size_t n = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      bool ok = n > 0 && i + n <= s.size();
      for (size_t k = 1; ok && k < n; ++k)
        ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
      if (ok && n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
        out += "\\u" + hex(static_cast<unsigned char>(s[i + 1]), 4);
        i += 2;
      } else if (ok) {
        out.append(s.substr(i, n));
        i += n;
      } else {
        out += "\\x" + hex(c, 2);
        ++i;
      }
    }
  }
}

// "text" with escapes, shortened to about `max` bytes.
std::string quote(std::string_view s, size_t max = 80) {
  std::string out = "\"";
  if (s.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    append_escaped(out, s.substr(0, cut));
    out += "...";
  } else {
    append_escaped(out, s);
  }
  return out + "\"";
}

std::string clean(std::string_view s) {
  std::string out;
  append_escaped(out, s.substr(0, 500));
  return out;
}

bool is_bare_key(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

// A key in a message: as written when it is a short bare key, else quoted and shortened (a
// megabyte-long key must not make a megabyte-long message).
std::string key_text(std::string_view k) {
  return is_bare_key(k) && k.size() <= 64 ? std::string(k) : quote(k, 64);
}
std::string join(const std::string& base, std::string_view key) {
  return base.empty() ? key_text(key) : base + "." + key_text(key);
}
std::string at(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

std::string type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::array:
      return "array";
    case toml::node_type::table:
      return "table";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    default:
      return "nothing";
  }
}

// Optimal string alignment distance (a transposition counts as one edit).
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The closest candidate when it is plausibly a typo.
std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& cands) {
  if (word.size() > 64) return std::nullopt;
  std::string w = lower(word);
  size_t best = SIZE_MAX;
  std::string pick;
  for (const auto& c : cands) {
    size_t d = edit_distance(w, lower(c));
    if (d < best) {
      best = d;
      pick = c;
    }
  }
  size_t limit = word.size() <= 3 ? 1 : word.size() <= 5 ? 2 : 3;
  if (best == 0 || best <= limit) return pick;
  return std::nullopt;
}

std::string one_of(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += i + 1 == items.size() ? " or " : ", ";
    out += "\"" + items[i] + "\"";
  }
  return out;
}

std::string fmt_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// ---------------------------------------------------------------- key-depth pre-scan

// Finds a dotted key (or a float/date, harmless) chain with more than kMaxKeyDepth parts,
// outside strings and comments. Returns its 1-based line and column.
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

// ---- typed accessors: report and return nullopt on the wrong type

std::optional<std::string> get_str(Ctx& c, const toml::node& n, const std::string& path) {
  if (auto* v = n.as_string()) return v->get();
  c.type_err(n, path, "a string");
  return std::nullopt;
}

// A string that must not be empty.
std::optional<std::string> get_nonempty(Ctx& c, const toml::node& n, const std::string& path,
                                        const std::string& example) {
  auto s = get_str(c, n, path);
  if (s && s->empty()) {
    c.err(n, path, "empty string (expected " + example + ")");
    return std::nullopt;
  }
  return s;
}

std::optional<std::int64_t> get_int(Ctx& c, const toml::node& n, const std::string& path) {
  if (auto* v = n.as_integer()) return v->get();
  c.type_err(n, path, "an integer");
  return std::nullopt;
}

std::optional<std::int64_t> get_int_range(Ctx& c, const toml::node& n, const std::string& path,
                                          std::int64_t lo, std::int64_t hi) {
  auto v = get_int(c, n, path);
  if (v && (*v < lo || *v > hi)) {
    c.err(n, path,
          std::to_string(*v) + " is out of range (expected " + std::to_string(lo) + ".." +
              std::to_string(hi) + ")");
    return std::nullopt;
  }
  return v;
}

std::optional<bool> get_bool(Ctx& c, const toml::node& n, const std::string& path) {
  if (auto* v = n.as_boolean()) return v->get();
  c.type_err(n, path, "a boolean (true or false)");
  return std::nullopt;
}

std::optional<Millis> get_duration(Ctx& c, const toml::node& n, const std::string& path) {
  auto* v = n.as_string();
  if (!v) {
    c.err(n, path,
          "expected a duration string (e.g. \"500ms\", \"10s\", \"1m30s\"), got " +
              type_name(n.type()));
    return std::nullopt;
  }
  auto d = parse_duration(v->get());
  if (!d) c.err(n, path, quote(v->get()) + " is not a duration (" + kDurationHint + ")");
  return d;
}

// A duration with a lower bound (Millis{0} allowed separately when zero_ok).
std::optional<Millis> get_duration_min(Ctx& c, const toml::node& n, const std::string& path,
                                       Millis min, bool zero_ok, const std::string& hint) {
  auto d = get_duration(c, n, path);
  if (!d) return d;
  if (*d < min && !(zero_ok && d->count() == 0)) {
    c.err(n, path, quote(n.as_string()->get()) + " is too short (" + hint + ")");
    return std::nullopt;
  }
  return d;
}

const toml::table* get_table(Ctx& c, const toml::node& n, const std::string& path) {
  if (auto* t = n.as_table()) return t;
  c.type_err(n, path, "a table");
  return nullptr;
}

// String/number/boolean -> text (environment values, labels, logging options).
std::optional<std::string> get_scalar_text(Ctx& c, const toml::node& n, const std::string& path) {
  if (auto* s = n.as_string()) return s->get();
  if (auto* i = n.as_integer()) return std::to_string(i->get());
  if (auto* f = n.as_floating_point()) return fmt_double(f->get());
  if (auto* b = n.as_boolean()) return std::string(b->get() ? "true" : "false");
  c.type_err(n, path, "a string, number or boolean");
  return std::nullopt;
}

struct Item {
  std::string value;
  const toml::node* node;
  std::string path;
};

// A string, or an array of strings (when allow_single); bad elements are reported and skipped.
std::optional<std::vector<Item>> get_str_list(Ctx& c, const toml::node& n, const std::string& path,
                                              bool allow_single) {
  if (allow_single)
    if (auto* s = n.as_string()) return std::vector<Item>{Item{s->get(), &n, path}};
  auto* arr = n.as_array();
  if (!arr) {
    c.type_err(n, path, allow_single ? "a string or an array of strings" : "an array of strings");
    return std::nullopt;
  }
  std::vector<Item> out;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    std::string p = at(path, i);
    if (auto* s = e.as_string())
      out.push_back(Item{s->get(), &e, p});
    else
      c.type_err(e, p, "a string");
  }
  return out;
}

struct Unsupported {
  const char* key;
  const char* why;
};

void check_keys(Ctx& c, const toml::table& t, const std::string& path,
                const std::vector<std::string>& known,
                const std::vector<Unsupported>& unsupported = {}) {
  for (auto&& [k, v] : t) {
    (void)v;
    std::string_view key = k.str();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string p = join(path, key);
    bool handled = false;
    for (const auto& u : unsupported)
      if (key == u.key) {
        c.err(k.source().begin, p, std::string("not supported by berth (") + u.why + ")");
        handled = true;
      }
    if (handled) continue;
    std::string msg = "unknown key";
    if (auto s = closest(key, known))
      msg += " (did you mean \"" + *s + "\"?)";
    else if (known.size() <= 8)
      msg += " (expected one of " + one_of(known) + ")";
    else
      msg += " (see docs/configuration.md for the keys of this table)";
    c.err(k.source().begin, p, msg);
  }
}

const toml::key* key_of(const toml::table& t, std::string_view name) {
  auto it = t.find(name);
  return it == t.end() ? nullptr : &it->first;
}

std::string resolve(const Ctx& c, const std::string& p) {
  if (!p.empty() && p.front() == '/') return normalize_path(p);
  if (c.dir.empty()) return normalize_path(p);
  return normalize_path(c.dir + "/" + p);
}

// ---- URLs

// The URL for messages: url::for_log (no user-info, query or fragment: they may be secrets).
std::string shown_url(const std::string& url) {
  return quote(url::for_log(url));
}

// `tls`: the URL carries a bearer token or decides what runs (the dashboard's): https, or plain
// http only to an exact loopback host.
bool check_url(Ctx& c, const toml::node& n, const std::string& path, const std::string& raw_url,
               bool placeholders, bool tls) {
  const std::string shown = shown_url(raw_url);
  const std::string& url = raw_url;
  std::string_view u = url;
  std::string_view rest;
  if (u.starts_with("https://"))
    rest = u.substr(8);
  else if (u.starts_with("http://"))
    rest = u.substr(7);
  else {
    c.err(n, path,
          shown + " is not an http(s) URL (expected e.g. \"https://dash.example.com/...\")");
    return false;
  }
  if (rest.empty() || rest.front() == '/') {
    c.err(n, path, shown + " has no host (expected e.g. \"https://dash.example.com/...\")");
    return false;
  }
  if (tls && url::classify(url) == url::Transport::plain_http) {
    c.err(n, path,
          shown + " is plain http to " + quote(url::split(url).host) +
              ": the bearer token and the pins would travel in clear (expected https://, or "
              "http:// only to a loopback host: 127.0.0.0/8, [::1] or localhost)");
    return false;
  }
  for (char ch : url)
    if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f) {
      c.err(n, path, shown + " contains whitespace or control characters (expected a URL)");
      return false;
    }
  size_t i = 0;
  while ((i = url.find_first_of("{}", i)) != std::string::npos) {
    if (url[i] == '}' || !placeholders) {
      c.err(n, path,
            shown + " has a stray \"" + url[i] + "\" (expected placeholders " +
                (placeholders ? "{instance_id}, {hostname} or {project})" : "none)"));
      return false;
    }
    auto close = url.find('}', i);
    std::string name = close == std::string::npos ? "" : url.substr(i + 1, close - i - 1);
    if (name != "instance_id" && name != "hostname" && name != "project") {
      c.err(n, path,
            shown + " has an unknown placeholder " +
                quote(close == std::string::npos ? url.substr(i) : url.substr(i, close - i + 1)) +
                " (expected {instance_id}, {hostname} or {project})");
      return false;
    }
    i = close + 1;
  }
  return true;
}

// ---------------------------------------------------------------- [agent] [aws] [dashboard]

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

struct EcrHost {
  std::string account;
  std::string region;
};

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
const std::vector<std::string> kServiceKeys = {
    "image", "command", "entrypoint", "environment", "env_file", "ports", "volumes", "depends_on",
    "healthcheck", "probe", "restart", "stop_signal", "stop_grace_period", "user", "working_dir",
    "labels", "logging", "network_mode", "extra_hosts", "cap_add", "cap_drop", "mem_limit",
    "cpus", "ulimits", "tmpfs", "pull_policy", "health_timeout", "update_strategy",
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

  if (auto* n = t->get("image")) {
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
    auto* n = t->get(key);
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

  // env_file first, environment wins.
  if (auto* n = t->get("env_file")) {
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
  if (auto* n = t->get("environment")) {
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

  if (auto* n = t->get("ports")) {
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

  std::map<std::string, std::string> targets;  // mount target -> where it was set
  if (auto* n = t->get("volumes")) {
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
  if (auto* n = t->get("tmpfs")) {
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

  if (auto* n = t->get("depends_on")) parse_depends(c, *n, P("depends_on"), s, x);
  if (auto* n = t->get("healthcheck")) parse_healthcheck(c, *n, P("healthcheck"), s.healthcheck);
  if (auto* n = t->get("probe")) parse_probe(c, *n, P("probe"), s.probe);

  if (auto* n = t->get("restart")) {
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
  if (auto* n = t->get("stop_signal")) {
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
  if (auto* n = t->get("stop_grace_period"))
    if (auto d = get_duration(c, *n, P("stop_grace_period"))) s.stop_grace_period = *d;
  if (auto* n = t->get("user"))
    if (auto v = get_nonempty(c, *n, P("user"), "a user name or UID[:GID], e.g. \"1000:1000\""))
      s.user = *v;
  if (auto* n = t->get("working_dir")) {
    if (auto v = get_str(c, *n, P("working_dir"))) {
      if (v->empty() || v->front() != '/')
        c.err(*n, P("working_dir"), quote(*v) + " is not absolute (expected e.g. \"/app\")");
      else
        s.working_dir = *v;
    }
  }
  if (auto* n = t->get("labels")) {
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
  if (auto* n = t->get("logging")) {
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
  if (auto* n = t->get("network_mode")) {
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
  if (auto* n = t->get("extra_hosts")) {
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
  if (auto* n = t->get("cap_add")) parse_caps(c, *n, P("cap_add"), s.cap_add);
  if (auto* n = t->get("cap_drop")) parse_caps(c, *n, P("cap_drop"), s.cap_drop);
  if (auto* n = t->get("mem_limit")) {
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
  if (auto* n = t->get("cpus")) {
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
  if (auto* n = t->get("ulimits")) {
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
  parse_service_agent_keys(c, *t, path, s, x);
}

// ---------------------------------------------------------------- cross-service checks

void check_dependencies(Ctx& c, const std::map<std::string, ServiceSpec>& services,
                        const std::map<std::string, ServiceExtra>& extra) {
  std::string defined;
  size_t k = 0;
  for (const auto& [name, s] : services) {
    (void)s;
    if (k == 10) {
      defined += ", ...";
      break;
    }
    defined += (k++ ? ", " : "") + quote(name);
  }
  for (const auto& [name, x] : extra)
    for (const auto& d : x.deps)
      if (!services.count(d.name))
        c.err(d.pos, d.path,
              "unknown service " + quote(d.name) +
                  " (expected one of the services defined here: " + defined + ")");

  // Cycles: iterative DFS (a dependency chain can be thousands long), each cycle once.
  std::map<std::string, int> color;  // 0 white, 1 on stack, 2 done
  std::set<std::string> reported;
  for (const auto& [root, rs] : services) {
    (void)rs;
    if (color[root] != 0) continue;
    std::vector<std::pair<std::string, size_t>> stack{{root, 0}};
    color[root] = 1;
    while (!stack.empty()) {
      auto& [u, next] = stack.back();
      const auto& deps = services.at(u).depends_on;
      if (next >= deps.size()) {
        color[u] = 2;
        stack.pop_back();
        continue;
      }
      const std::string v = deps[next++].service;
      if (!services.count(v)) continue;
      int cv = color[v];
      if (cv == 0) {
        color[v] = 1;
        stack.emplace_back(v, 0);
      } else if (cv == 1) {
        std::vector<std::string> cyc;
        size_t from = 0;
        while (stack[from].first != v) ++from;
        for (size_t i = from; i < stack.size(); ++i) cyc.push_back(stack[i].first);
        auto mn = std::min_element(cyc.begin(), cyc.end());
        std::rotate(cyc.begin(), mn, cyc.end());
        std::string text;
        for (const auto& n : cyc) text += n + " -> ";
        text += cyc.front();
        if (reported.insert(text).second) {
          if (cyc.size() > 10) {  // keep the message readable
            text.clear();
            for (size_t i = 0; i < 8; ++i) text += cyc[i] + " -> ";
            text += "... -> " + cyc.back() + " -> " + cyc.front() + " (" +
                    std::to_string(cyc.size()) + " services)";
          }
          const auto& x = extra.at(cyc.front());
          c.err(x.depends_pos, x.depends_path, "dependency cycle " + text);
        }
      }
    }
  }
}

// preflight runs the new container beside the old one and swaps only when it is healthy: a
// service that has nothing to check cannot use it. The image's own HEALTHCHECK is not known
// when the configuration is read, so the check must be in the configuration.
void check_preflight(Ctx& c, const std::map<std::string, ServiceSpec>& services,
                     const std::map<std::string, ServiceExtra>& extra) {
  for (const auto& [name, s] : services) {
    const auto& x = extra.at(name);
    if (s.update_strategy != UpdateStrategy::preflight || !x.strategy_pos) continue;
    bool has_check = s.probe || (s.healthcheck && !s.healthcheck->disable);
    if (!has_check)
      c.err(*x.strategy_pos, join(join("services", name), "update_strategy"),
            "\"preflight\" needs a health check to judge the new container, and this service "
            "has none (expected a healthcheck or a probe in [services." +
                name + "], or \"stop-first\")");
    else if (is_job(s))
      c.err(*x.strategy_pos, join(join("services", name), "update_strategy"),
            "\"preflight\" is for services that keep running; this one is a job (restart \"" +
                s.restart + "\") (expected \"stop-first\")");
    else if (s.network_mode == "host")
      c.err(*x.strategy_pos, join(join("services", name), "update_strategy"),
            "\"preflight\" runs the new container beside the old one, and with network_mode = "
            "\"host\" both would need the same ports (expected \"stop-first\", or a network of "
            "its own)");
  }
}

void check_ports(Ctx& c, const std::map<std::string, ServiceSpec>& services,
                 const std::map<std::string, ServiceExtra>& extra) {
  struct Published {
    const PortMapping* m;
    const PortRef* ref;
  };
  std::vector<Published> all;
  for (const auto& [name, s] : services) {
    const auto& x = extra.at(name);
    if (!s.ports.empty() && (s.network_mode == "host" || s.network_mode == "none")) {
      c.err(x.ports_pos, join(join("services", name), "ports"),
            "cannot publish ports with network_mode = \"" + s.network_mode +
                "\" (expected no ports, or leave network_mode out)");
      continue;
    }
    for (size_t i = 0; i < s.ports.size() && i < x.ports.size(); ++i) {
      if (s.ports[i].host_port != 0) all.push_back(Published{&s.ports[i], &x.ports[i]});
    }
    if (s.update_strategy == UpdateStrategy::start_first && x.strategy_pos) {
      for (size_t i = 0; i < s.ports.size() && i < x.ports.size(); ++i)
        if (s.ports[i].host_port != 0) {
          c.err(*x.strategy_pos, join(join("services", name), "update_strategy"),
                "\"start-first\" cannot be used with the fixed host port " +
                    std::to_string(s.ports[i].host_port) + " (" + x.ports[i].path +
                    "): the old and the new container would both need it (expected "
                    "\"stop-first\", or a container port only, e.g. \"80\")");
          break;
        }
    }
  }
  // In file order, so the second mention of a host port is the one reported.
  std::stable_sort(all.begin(), all.end(), [](const Published& a, const Published& b) {
    return std::tie(a.ref->pos.line, a.ref->pos.column) <
           std::tie(b.ref->pos.line, b.ref->pos.column);
  });
  // (protocol, host port) -> (host ip, where)
  std::map<std::pair<std::string, int>, std::vector<std::pair<std::string, std::string>>> used;
  auto wildcard = [](const std::string& ip) { return ip.empty() || ip == "0.0.0.0" || ip == "::"; };
  for (const auto& p : all) {
    const PortMapping& m = *p.m;
    auto& list = used[{m.protocol, m.host_port}];
    bool clash = false;
    for (const auto& [ip, where] : list)
      if (ip == m.host_ip || wildcard(ip) || wildcard(m.host_ip)) {
        c.err(p.ref->pos, p.ref->path,
              "host port " + std::to_string(m.host_port) + "/" + m.protocol +
                  " is already published by " + where + " (expected each host port once)");
        clash = true;
        break;
      }
    if (!clash) list.emplace_back(m.host_ip, p.ref->path);
  }
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
