// Which labels berth trusts when it reads a container back from Docker (pure).
//
// Docker merges an image's labels into its containers' labels, and anyone with the socket can
// create a container carrying the project's label. So berth writes every label it owns on every
// container (empty when not applicable: an image's com.docker.compose.depends_on can then never
// show through), and signs them with org.berth.labels-hash = sha256 of their canonical JSON.
// Reading back:
//   verified  the hash matches: berth created this container, its labels are berth's.
//   legacy    no hash, but org.berth.managed=true, a config hash and org.berth.version: created by
//             a berth from before the hash. Accepted as berth's (same trust as before the
//             upgrade); its next recreate writes the hash.
//   foreign   anything else (no hash and not legacy, or a hash that does not match): not berth's.
//             Reported, never removed or stopped unless [agent] remove_foreign = true, and none
//             of its labels is read (a service name, a depends_on).
// The hash detects labels berth did not write (inherited from an image, added by another tool);
// it is not a secret MAC: whoever can use the Docker socket is root on the host anyway.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace berth {

// The labels berth owns on a container (naming.hpp), in a fixed order.
const std::vector<std::string>& owned_labels();

// sha256 hex over the owned labels in `labels` (absent ones count as absent).
std::string labels_hash(const std::map<std::string, std::string>& labels);

// Sets every owned label that is missing to "" and adds kLabelsHash: the last step of a create
// body's labels (a JSON object of strings).
void sign_labels(nlohmann::json& labels);

enum class Ownership { verified, legacy, foreign };
Ownership ownership(const std::map<std::string, std::string>& labels);
const char* to_string(Ownership o);

}  // namespace berth
