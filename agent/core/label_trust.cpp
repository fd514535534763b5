#include "core/label_trust.hpp"

#include "core/naming.hpp"
#include "core/sha256.hpp"

namespace berth {

const std::vector<std::string>& owned_labels() {
  static const std::vector<std::string> keys = {
      labels::kProject,     labels::kService, labels::kNumber,    labels::kOneoff,
      labels::kConfigHash,  labels::kImage,   labels::kDependsOn, labels::kConfigFiles,
      labels::kWorkingDir,  labels::kManaged, labels::kRequested, labels::kDigest,
      labels::kAgentVersion};
  return keys;
}

std::string labels_hash(const std::map<std::string, std::string>& labels) {
  nlohmann::json owned = nlohmann::json::object();
  for (const auto& k : owned_labels())
    if (auto it = labels.find(k); it != labels.end()) owned[k] = it->second;
  return sha256_hex(owned.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void sign_labels(nlohmann::json& labels) {
  std::map<std::string, std::string> flat;
  for (const auto& k : owned_labels()) {
    if (!labels.contains(k)) labels[k] = "";
    const auto& v = labels[k];
    flat[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  labels[labels::kLabelsHash] = labels_hash(flat);
}

Ownership ownership(const std::map<std::string, std::string>& labels) {
  auto get = [&](const char* k) -> const std::string* {
    auto it = labels.find(k);
    return it == labels.end() ? nullptr : &it->second;
  };
  if (const std::string* hash = get(labels::kLabelsHash))
    return *hash == labels_hash(labels) ? Ownership::verified : Ownership::foreign;
  const std::string* managed = get(labels::kManaged);
  const std::string* config_hash = get(labels::kConfigHash);
  const std::string* version = get(labels::kAgentVersion);
  if (managed && *managed == "true" && config_hash && !config_hash->empty() && version &&
      !version->empty())
    return Ownership::legacy;
  return Ownership::foreign;
}

const char* to_string(Ownership o) {
  switch (o) {
    case Ownership::verified:
      return "verified";
    case Ownership::legacy:
      return "created before labels were hashed";
    case Ownership::foreign:
      return "not created by berth";
  }
  return "?";
}

}  // namespace berth
