#include "core/local_state.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace berth {

bool LocalState::is_quarantined(const std::string& service, const std::string& image_id) const {
  auto it = services.find(service);
  if (it == services.end() || image_id.empty()) return false;
  return std::any_of(it->second.quarantined.begin(), it->second.quarantined.end(),
                     [&](const Quarantine& q) { return q.image_id == image_id; });
}

void LocalState::record_good(const std::string& service, const ImageRecord& img) {
  auto& r = services[service];
  if (r.last_good.image_id == img.image_id) {
    r.last_good = img;
    return;
  }
  if (!r.last_good.image_id.empty()) r.previous = r.last_good;
  r.last_good = img;
  // A digest that now runs healthy is no longer quarantined.
  std::erase_if(r.quarantined, [&](const Quarantine& q) { return q.image_id == img.image_id; });
}

void LocalState::quarantine(const std::string& service, const Quarantine& q) {
  auto& r = services[service];
  std::erase_if(r.quarantined, [&](const Quarantine& x) { return x.image_id == q.image_id; });
  r.quarantined.push_back(q);
  if (r.quarantined.size() > 10) r.quarantined.erase(r.quarantined.begin());
}

void LocalState::record_pulled(const std::string& service, const std::string& image_id) {
  auto& p = services[service].pulled;
  if (std::find(p.begin(), p.end(), image_id) == p.end()) p.push_back(image_id);
}

std::vector<std::string> LocalState::prunable(const std::string& service) const {
  std::vector<std::string> out;
  auto it = services.find(service);
  if (it == services.end()) return out;
  const auto& r = it->second;
  for (const auto& id : r.pulled)
    if (id != r.last_good.image_id && id != r.previous.image_id) out.push_back(id);
  return out;
}

void LocalState::forget_pulled(const std::string& service, const std::string& image_id) {
  auto it = services.find(service);
  if (it == services.end()) return;
  std::erase(it->second.pulled, image_id);
}

namespace {

nlohmann::json img_json(const ImageRecord& i) {
  return {{"image_id", i.image_id}, {"digest", i.digest}, {"ref", i.ref}, {"at", i.at}};
}

ImageRecord img_from(const nlohmann::json& j) {
  ImageRecord i;
  if (!j.is_object()) return i;
  i.image_id = j.value("image_id", "");
  i.digest = j.value("digest", "");
  i.ref = j.value("ref", "");
  i.at = j.value("at", "");
  return i;
}

// An int field: out-of-range or fractional numbers (a hand-edited file) are refused instead of
// converted (a double outside int's range is undefined behaviour in the conversion).
int int_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_integer()) {
    if (it->is_number_unsigned()) {
      auto u = it->get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
        return static_cast<int>(u);
    } else {
      auto v = it->get<std::int64_t>();
      if (v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max())
        return static_cast<int>(v);
    }
  } else if (it->is_number_float()) {
    double d = it->get<double>();
    if (d >= std::numeric_limits<int>::min() && d <= std::numeric_limits<int>::max() &&
        d == static_cast<double>(static_cast<int>(d)))
      return static_cast<int>(d);
  }
  throw std::invalid_argument(std::string("\"") + key + "\" is not a small integer");
}

}  // namespace

nlohmann::json to_json(const LocalState& s) {
  nlohmann::json services = nlohmann::json::object();
  for (const auto& [name, r] : s.services) {
    nlohmann::json q = nlohmann::json::array();
    for (const auto& x : r.quarantined)
      q.push_back(
          {{"image_id", x.image_id}, {"digest", x.digest}, {"at", x.at}, {"reason", x.reason}});
    services[name] = {{"last_good", img_json(r.last_good)},
                      {"previous", img_json(r.previous)},
                      {"quarantined", q},
                      {"pulled", r.pulled}};
  }
  nlohmann::json intents = nlohmann::json::array();
  for (const auto& i : s.intents)
    intents.push_back({{"service", i.service},
                       {"step", i.step},
                       {"what", i.what},
                       {"old_container", i.old_container},
                       {"at", i.at}});
  return {{"version", 1}, {"services", services}, {"intents", intents}};
}

Result<LocalState> parse_local_state(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail("state.json is not a JSON object", ErrorKind::invalid_input);
  LocalState s;
  try {
    if (j.contains("services") && j["services"].is_object()) {
      for (const auto& [name, r] : j["services"].items()) {
        if (!r.is_object()) continue;
        ServiceRecord rec;
        if (r.contains("last_good")) rec.last_good = img_from(r["last_good"]);
        if (r.contains("previous")) rec.previous = img_from(r["previous"]);
        if (r.contains("quarantined") && r["quarantined"].is_array())
          for (const auto& q : r["quarantined"])
            if (q.is_object())
              rec.quarantined.push_back({q.value("image_id", ""), q.value("digest", ""),
                                         q.value("at", ""), q.value("reason", "")});
        if (r.contains("pulled") && r["pulled"].is_array())
          for (const auto& p : r["pulled"])
            if (p.is_string()) rec.pulled.push_back(p.get<std::string>());
        s.services[name] = rec;
      }
    }
    if (j.contains("intents") && j["intents"].is_array())
      for (const auto& i : j["intents"])
        if (i.is_object())
          s.intents.push_back({i.value("service", ""), int_field(i, "step"), i.value("what", ""),
                               i.value("old_container", ""), i.value("at", "")});
  } catch (const nlohmann::json::exception& e) {
    return fail(std::string("state.json: ") + e.what(), ErrorKind::invalid_input);
  } catch (const std::invalid_argument& e) {
    return fail(std::string("state.json: ") + e.what(), ErrorKind::invalid_input);
  }
  return s;
}

}  // namespace berth
