// The TOML walk's messages and typed accessors (config_walk.hpp).
#include "config/config_walk.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>

#include "core/duration.hpp"
#include "core/graph.hpp"
#include "core/image_ref.hpp"
#include "core/url.hpp"
#include "util/strings.hpp"

namespace berth::config::detail {

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
std::string quote(std::string_view s, size_t max) {
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

// The closest candidate when it is plausibly a typo.
std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& cands) {
  if (word.size() > 64) return std::nullopt;
  std::string w = to_lower(word);
  size_t best = SIZE_MAX;
  std::string pick;
  for (const auto& c : cands) {
    size_t d = edit_distance(w, to_lower(c));
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

void check_keys(Ctx& c, const toml::table& t, const std::string& path,
                const std::vector<std::string>& known,
                const std::vector<Unsupported>& unsupported) {
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

}  // namespace berth::config::detail
