// Fuzz entry point: what the Docker Engine API sends back (core/jsonstream.hpp). The input is a
// byte stream as it arrives on the socket (/images/create, /events) or one response body
// (inspect, list). Checks:
//   - JsonSplitter yields the same values whatever the chunk boundaries (whole, byte by byte,
//     pseudo-random chunks) and never buffers more than its limit;
//   - PullProgressAggregator's percent stays in 0..100 and never decreases;
//   - the event parser and the decoders accept every value without throwing;
//   - a list body decodes into an Observed state the planner handles.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/jsonstream.hpp"
#include "core/naming.hpp"
#include "core/planner.hpp"
#include "fuzz_common.hpp"

namespace berth::fuzz {

// Small, so that the "object too large" path is reachable with fuzz-sized inputs.
inline constexpr std::size_t kSplitterLimit = 4096;

// One splitter output, comparable: the compact JSON or "E:" + the error message.
inline std::vector<std::string> split_stream(std::string_view data,
                                             const std::vector<std::size_t>& cuts,
                                             std::vector<nlohmann::json>* objects) {
  jsonstream::JsonSplitter s(kSplitterLimit);
  std::vector<std::string> out;
  auto drain = [&] {
    while (auto v = s.next()) {
      if (*v) {
        BERTH_FUZZ_CHECK((*v)->is_object(), "the splitter yields objects");
        out.push_back((*v)->dump());
        if (objects) objects->push_back(std::move(**v));
      } else {
        BERTH_FUZZ_CHECK(v->error().kind == ErrorKind::invalid_input, "splitter error kind");
        out.push_back("E:" + v->error().message);
      }
    }
  };
  std::size_t prev = 0;
  for (std::size_t cut : cuts) {
    s.feed(data.substr(prev, cut - prev));
    BERTH_FUZZ_CHECK(s.pending_bytes() <= kSplitterLimit + 1, "the splitter's buffer is bounded");
    drain();
    prev = cut;
  }
  s.feed(data.substr(prev));
  BERTH_FUZZ_CHECK(s.pending_bytes() <= kSplitterLimit + 1, "the splitter's buffer is bounded");
  drain();
  s.finish();
  drain();
  BERTH_FUZZ_CHECK(s.pending_bytes() == 0, "finish() leaves nothing pending");
  return out;
}

inline void decode_one(const nlohmann::json& j) {
  if (auto ev = jsonstream::parse_event(j))
    BERTH_FUZZ_CHECK(!ev->type.empty() && !ev->action.empty(), "events have a type and action");
  if (auto c = jsonstream::decode_container_inspect(j)) {
    BERTH_FUZZ_CHECK(!c->id.empty(), "inspected containers have an id");
    BERTH_FUZZ_CHECK(c->health_output.size() <= 1000, "health output is truncated");
  }
  if (auto c = jsonstream::decode_container_list_item(j))
    BERTH_FUZZ_CHECK(!c->id.empty(), "listed containers have an id");
  if (auto i = jsonstream::decode_image_inspect(j))
    BERTH_FUZZ_CHECK(!i->id.empty(), "images have an id");
  if (auto n = jsonstream::decode_network(j))
    BERTH_FUZZ_CHECK(!n->name.empty(), "networks have a name");
  if (auto v = jsonstream::decode_volume(j))
    BERTH_FUZZ_CHECK(!v->name.empty(), "volumes have a name");
}

// A fixed desired state for planning against hostile observations.
inline const TargetState& fuzz_target_stack() {
  static const TargetState d = [] {
    TargetState s;
    s.project = "t-engine-cap";
    for (const char* n : {"web", "db", "t-engine-cap2"}) {
      TargetService ds;
      ds.name = n;
      ds.config_hash = "h-" + std::string(n);
      ds.image_id = "sha256:9d8dd70e9ee320513cdc60debcd142511b5bbe59c2fc714cdff620dd393ca943";
      ds.named_volumes = {naming::volume_name(s.project, "data")};
      ds.oneshot = std::string(n) == "db";
      s.services[n] = ds;
    }
    return s;
  }();
  return d;
}

inline void jsonstream_input(std::string_view data) {
  // 1. Stream splitting, three ways.
  std::vector<nlohmann::json> objects;
  auto whole = split_stream(data, {}, &objects);
  Rng rng(data);
  std::vector<std::size_t> cuts;
  for (std::size_t pos = 0; pos < data.size();) {
    pos += rng.between(1, 64);
    if (pos < data.size()) cuts.push_back(pos);
  }
  BERTH_FUZZ_CHECK(split_stream(data, cuts, nullptr) == whole,
                   "random chunk boundaries do not change the values");
  if (data.size() <= 2048) {
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < data.size(); ++i) every.push_back(i);
    BERTH_FUZZ_CHECK(split_stream(data, every, nullptr) == whole,
                     "byte-by-byte feeding does not change the values");
  }

  // 2. Pull progress over the stream; every object through every decoder.
  jsonstream::PullProgressAggregator agg;
  int last = 0;
  for (const auto& o : objects) {
    agg.feed(o);
    BERTH_FUZZ_CHECK(agg.percent() >= 0 && agg.percent() <= 100, "percent in 0..100");
    BERTH_FUZZ_CHECK(agg.percent() >= last, "percent never decreases");
    last = agg.percent();
    decode_one(o);
  }
  if (agg.error()) (void)jsonstream::classify_pull_error(*agg.error());

  // 3. The input as one response body: inspect object or list array.
  nlohmann::json body = nlohmann::json::parse(data.begin(), data.end(), nullptr, false);
  if (!body.is_discarded()) {
    decode_one(body);
    if (body.is_array()) {
      Observed observed;
      for (const auto& item : body) {
        decode_one(item);
        if (auto c = jsonstream::decode_container_list_item(item))
          observed.containers.push_back(std::move(*c));
        if (auto n = jsonstream::decode_network(item)) observed.networks.push_back(std::move(*n));
        if (auto v = jsonstream::decode_volume(item)) observed.volumes.push_back(std::move(*v));
      }
      Plan plan = make_plan(fuzz_target_stack(), observed);
      for (const auto& [name, sp] : plan.services) {
        BERTH_FUZZ_CHECK(fuzz_target_stack().services.count(name) == 1,
                         "the plan only has configured services");
        if (sp.current)
          BERTH_FUZZ_CHECK(sp.current->name == naming::container_name("t-engine-cap", name),
                           "a service's current container has its name");
      }
      for (const auto& a : plan.cleanup) {
        BERTH_FUZZ_CHECK(!a.container_id.empty(), "cleanup acts on a container id");
        BERTH_FUZZ_CHECK(a.type != ActionType::remove_foreign,
                         "a container berth did not create is never removed by default");
      }
      (void)plan.describe();
    }
  }

  // 4. The small text helpers, on the raw bytes.
  std::string msg = jsonstream::error_message_from_body(data);
  BERTH_FUZZ_CHECK(body.is_object() || msg.size() <= 500, "raw error bodies are truncated");
  (void)jsonstream::classify_pull_error(data);
  (void)jsonstream::health_from_status_text(data);
  if (data.size() <= 64) {
    if (auto v = jsonstream::parse_api_version(data))
      BERTH_FUZZ_CHECK(v->first >= 0 && v->second >= 0, "API versions are not negative");
    auto n = jsonstream::negotiate_api_version(data, "1.41");
    BERTH_FUZZ_CHECK(jsonstream::parse_api_version(n).has_value() || n == "1.41",
                     "negotiation yields a version");
    if (auto p = jsonstream::socket_path_from_docker_host(data))
      BERTH_FUZZ_CHECK(!p->empty(), "socket paths are not empty");
  }
}

}  // namespace berth::fuzz
