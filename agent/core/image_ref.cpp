#include "core/image_ref.hpp"

#include <cctype>

namespace berth {

namespace {

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool is_hex_lower(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*; separator := [_.] | __ | [-]+
bool valid_path_component(std::string_view s) {
  if (s.empty() || !is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
  size_t i = 0;
  while (i < s.size()) {
    if (is_lower_alnum(s[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && !is_lower_alnum(s[j])) ++j;
    std::string_view sep = s.substr(i, j - i);
    bool ok = sep == "." || sep == "_" || sep == "__" ||
              sep.find_first_not_of('-') == std::string_view::npos;
    if (!ok) return false;
    i = j;
  }
  return true;
}

// domain := component ('.' component)* (':' port)?; also IPv6 in brackets.
bool valid_domain(std::string_view s) {
  if (s.empty()) return false;
  std::string_view host = s;
  auto colon = s.rfind(':');
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return false;
    host = s.substr(0, close + 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || rest.size() == 1) return false;
      for (char c : rest.substr(1))
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
  }
  if (colon != std::string_view::npos) {
    std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port)
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    host = s.substr(0, colon);
  }
  size_t start = 0;
  while (start <= host.size()) {
    auto dot = host.find('.', start);
    std::string_view comp =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (comp.empty() || !is_alnum(comp.front()) || !is_alnum(comp.back())) return false;
    for (char c : comp)
      if (!is_alnum(c) && c != '-') return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return is_alnum(c) || c == '_'; };
  if (!word(t.front())) return false;
  for (char c : t)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

}  // namespace

bool is_valid_digest(std::string_view d) {
  if (!d.starts_with("sha256:")) return false;
  std::string_view hex = d.substr(7);
  if (hex.size() != 64) return false;
  for (char c : hex)
    if (!is_hex_lower(c)) return false;
  return true;
}

Result<ImageRef> parse_image_ref(std::string_view text) {
  auto bad = [&](const std::string& why) {
    std::string shown(text.substr(0, 300));
    return fail("invalid image reference \"" + shown + "\": " + why, ErrorKind::invalid_input);
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 512) return bad("longer than 512 characters");
  for (char c : text)
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
      return bad("contains whitespace or a non-ASCII character");

  ImageRef ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    std::string_view digest = rest.substr(at + 1);
    if (!is_valid_digest(digest))
      return bad("digest must be sha256: followed by 64 lowercase hex digits");
    ref.digest = std::string(digest);
    rest = rest.substr(0, at);
  }
  // A tag is after the last ':' that follows the last '/'.
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    std::string_view tag = rest.substr(colon + 1);
    if (!valid_tag(tag))
      return bad("tag \"" + std::string(tag) +
                 "\" is not valid (letters, digits, _ . -, at most 128, not starting with . or -)");
    ref.tag = std::string(tag);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad("missing repository name");

  std::string_view domain;
  std::string_view path = rest;
  if (auto first = rest.find('/'); first != std::string_view::npos) {
    std::string_view cand = rest.substr(0, first);
    if (cand.find('.') != std::string_view::npos || cand.find(':') != std::string_view::npos ||
        cand == "localhost" || cand.front() == '[') {
      domain = cand;
      path = rest.substr(first + 1);
    } else {
      for (char c : cand)
        if (std::isupper(static_cast<unsigned char>(c)))
          return bad("repository name must be lowercase");
    }
  }
  if (!domain.empty() && !valid_domain(domain))
    return bad("registry host \"" + std::string(domain) + "\" is not valid");
  if (path.empty()) return bad("missing repository name");
  size_t start = 0;
  while (true) {
    auto sl = path.find('/', start);
    std::string_view comp =
        path.substr(start, sl == std::string_view::npos ? std::string_view::npos : sl - start);
    for (char c : comp)
      if (std::isupper(static_cast<unsigned char>(c)))
        return bad("repository name must be lowercase");
    if (!valid_path_component(comp))
      return bad("repository path component \"" + std::string(comp) +
                 "\" is not valid (lowercase letters, digits and single separators . _ __ -)");
    if (sl == std::string_view::npos) break;
    start = sl + 1;
  }
  // Docker Hub under any of its names: "busybox", "docker.io/busybox" and
  // "index.docker.io/busybox" all mean docker.io/library/busybox.
  if (domain.empty() || domain == "docker.io" || domain == "index.docker.io") {
    ref.registry = "docker.io";
    ref.repository = std::string(path);
    if (path.find('/') == std::string_view::npos) ref.repository = "library/" + ref.repository;
  } else {
    ref.registry = std::string(domain);
    ref.repository = std::string(path);
  }
  if (ref.name().size() > 255) return bad("repository name longer than 255 characters");
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::string ImageRef::familiar_name() const {
  if (registry == "docker.io") {
    // Only official images lose the prefix ("library/busybox" -> "busybox"); Docker keeps
    // "library/a/b" as is, and so must berth for the name to parse back to the same repository.
    if (repository.starts_with("library/") && repository.find('/', 8) == std::string::npos)
      return repository.substr(8);
    // A first component that reads as a registry host ("docker.io/my.org/app") keeps the
    // registry, or the short name would name another registry when parsed (or pulled) again.
    std::string first = repository.substr(0, repository.find('/'));
    if (repository.find('/') != std::string::npos &&
        (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
         first == "localhost"))
      return registry + "/" + repository;
    return repository;
  }
  return registry + "/" + repository;
}

std::string ImageRef::str() const {
  std::string s = familiar_name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string ImageRef::display_tag() const {
  if (!tag.empty()) return tag;
  if (digest.size() > 19) return digest.substr(0, 19);
  return digest;
}

std::string ImageRef::api_host() const {
  if (registry == "docker.io") return "registry-1.docker.io";
  return registry;
}

}  // namespace berth
