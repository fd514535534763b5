#include "core/desired.hpp"

#include <algorithm>
#include <vector>

#include "core/image_ref.hpp"
#include "core/untrusted_json.hpp"

namespace berth {

namespace {

bool is_tag_char(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
    return true;
  return !first && (c == '.' || c == '-');
}

bool valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  for (std::size_t i = 0; i < tag.size(); ++i)
    if (!is_tag_char(tag[i], i == 0)) return false;
  return true;
}

// What an image reference accepts (core/image_ref.hpp): a pin must make a valid reference, and
// the engine pulls sha256 digests only.
bool valid_digest(std::string_view d) {
  return is_valid_digest(d);
}

std::string quote_text(std::string_view s) {
  constexpr std::size_t kMax = 80;
  std::size_t cut = std::min(s.size(), kMax);
  // Never cut a UTF-8 sequence (the text is valid UTF-8: it comes from parsed JSON).
  while (cut < s.size() && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  std::string out = "\"";
  for (char c : s.substr(0, cut)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  if (s.size() > cut) out += "...";
  return out + "\"";
}

// A key from the document as shown in messages: as is when it is short printable ASCII (service
// names are), else quoted like a value (control characters from a hostile peer never reach a log).
std::string key_text(std::string_view s) {
  bool plain = !s.empty() && s.size() <= 80 && std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '"';
  });
  return plain ? std::string(s) : quote_text(s);
}

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

}  // namespace

Result<DesiredState> parse_desired(std::string_view json,
                                   const std::set<std::string>& known_services) {
  auto parsed = parse_json(json);
  if (!parsed) return fail("desired state: " + parsed.error().message, ErrorKind::invalid_input);
  const nlohmann::json& doc = *parsed;
  if (!doc.is_object())
    return fail("desired state: expected a JSON object", ErrorKind::invalid_input);

  // Every problem is listed, up to kMaxProblems: the document comes from a remote peer and the
  // message must stay a log line.
  constexpr std::size_t kMaxProblems = 20;
  std::vector<std::string> problems;
  std::size_t dropped = 0;
  auto add = [&](std::string problem) {
    if (problems.size() < kMaxProblems)
      problems.push_back(std::move(problem));
    else
      ++dropped;
  };
  DesiredState state;
  for (const auto& [key, value] : doc.items()) {
    if (key != "schema" && key != "services")
      add(quote_text(key) + ": unknown key (expected schema, services)");
  }
  auto schema = doc.find("schema");
  if (schema == doc.end() || !schema->is_string()) {
    add("schema: missing (expected \"" + std::string(kDesiredSchema) + "\")");
  } else if (schema->get<std::string>() != kDesiredSchema) {
    add("schema: unsupported " + quote_text(schema->get<std::string>()) + " (expected \"" +
        std::string(kDesiredSchema) + "\")");
  }
  auto services = doc.find("services");
  if (services == doc.end() || !services->is_object()) {
    add("services: missing or not an object");
  } else {
    for (const auto& [name, pin] : services->items()) {
      std::string where = "services." + key_text(name);
      if (!known_services.contains(name)) {
        add(where + ": unknown service (known: " + join(known_services) + ")");
        continue;
      }
      if (pin.is_null()) continue;  // explicitly unpinned
      if (!pin.is_object()) {
        add(where + ": expected {\"tag\": ...} or {\"digest\": ...} or null");
        continue;
      }
      DesiredPin p;
      bool bad = false;
      for (const auto& [k, v] : pin.items()) {
        if (k != "tag" && k != "digest") {
          add(where + "." + key_text(k) + ": unknown key (expected tag or digest)");
          bad = true;
        } else if (!v.is_string()) {
          add(where + "." + key_text(k) + ": expected a string");
          bad = true;
        } else if (k == "tag") {
          p.tag = v.get<std::string>();
          if (!valid_tag(p.tag)) {
            add(where + ".tag: invalid tag " + quote_text(p.tag) +
                " (expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
            bad = true;
          }
        } else {
          p.digest = v.get<std::string>();
          if (!valid_digest(p.digest)) {
            add(where + ".digest: invalid digest " + quote_text(p.digest) +
                " (expected sha256:<64 lower-case hex>)");
            bad = true;
          }
        }
      }
      if (bad) continue;
      if (p.tag.empty() == p.digest.empty()) {
        add(where + ": expected exactly one of tag or digest");
        continue;
      }
      state.services[name] = std::move(p);
    }
  }
  if (!problems.empty()) {
    std::string msg = "desired state: ";
    for (std::size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    if (dropped) msg += "; and " + std::to_string(dropped) + " more";
    return fail(std::move(msg), ErrorKind::invalid_input);
  }
  return state;
}

nlohmann::json to_json(const DesiredState& state) {
  nlohmann::json services = nlohmann::json::object();
  for (const auto& [name, pin] : state.services) {
    if (!pin.digest.empty())
      services[name] = {{"digest", pin.digest}};
    else
      services[name] = {{"tag", pin.tag}};
  }
  return {{"schema", kDesiredSchema}, {"services", std::move(services)}};
}

std::string describe(const DesiredPin& pin) {
  return pin.digest.empty() ? "tag " + pin.tag : "digest " + pin.digest;
}

std::vector<PinOutcome> apply_pins(Config& cfg, const DesiredState& pins) {
  std::vector<PinOutcome> out;
  for (const auto& [name, pin] : pins.services) {
    auto it = cfg.services.find(name);
    if (it == cfg.services.end()) continue;
    auto ref = parse_image_ref(it->second.image);
    if (!ref) continue;
    PinOutcome o{name, pin, false, ""};
    if (!ref->digest.empty() && !it->second.allow_remote_pin && ref->digest != pin.digest) {
      o.message = "pin of " + name + " to " + describe(pin) + " refused: berth.toml pins " + name +
                  " to digest " + ref->digest + " (set allow_remote_pin = true in " + "[services." +
                  name + "] to let the dashboard re-pin it)";
      out.push_back(std::move(o));
      continue;
    }
    if (!pin.digest.empty()) {
      ref->tag.clear();
      ref->digest = pin.digest;
    } else {
      ref->tag = pin.tag;
      ref->digest.clear();
    }
    it->second.image = ref->str();
    o.applied = true;
    o.message = name + " pinned to " + describe(pin) + " (" + it->second.image + ")";
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace berth
