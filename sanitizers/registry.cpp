// Sanitizers by name: the single table to extend when a sanitizer is added. Each factory receives
// the policy's settings it may depend on; one instance per setting is built once and shared
// (sanitizers are stateless).
#include <array>
#include <utility>

#include "sanitizers/html_text.hpp"
#include "sanitizers/policy.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

using Factory = std::unique_ptr<Sanitizer> (*)(LinkPolicy);

constexpr std::array<std::pair<std::string_view, Factory>, 6> kFactories{{
    {"text_plain", [](LinkPolicy) { return make_text_plain(); }},
    {"html_text", [](LinkPolicy links) { return make_html_text(links); }},
    {"strip", [](LinkPolicy) { return make_strip(); }},
    {"pdf_render", [](LinkPolicy) { return make_pdf_render(); }},
    {"image_render", [](LinkPolicy) { return make_image_render(); }},
    {"office_render", [](LinkPolicy) { return make_office_render(); }},
}};

constexpr std::array<LinkPolicy, 3> kLinkPolicies{LinkPolicy::Keep, LinkPolicy::Defang, LinkPolicy::Remove};

}  // namespace

const Sanitizer* find_sanitizer(std::string_view name, LinkPolicy links) {
  // Built once, thread-safely, on first use.
  static const auto instances = [] {
    std::array<std::array<std::unique_ptr<Sanitizer>, kLinkPolicies.size()>, kFactories.size()> all;
    for (std::size_t i = 0; i < kFactories.size(); ++i) {
      for (std::size_t l = 0; l < kLinkPolicies.size(); ++l) all[i][l] = kFactories[i].second(kLinkPolicies[l]);
    }
    return all;
  }();
  for (std::size_t i = 0; i < kFactories.size(); ++i) {
    if (kFactories[i].first != name) continue;
    for (std::size_t l = 0; l < kLinkPolicies.size(); ++l) {
      if (kLinkPolicies[l] == links) return instances[i][l].get();
    }
  }
  return nullptr;
}

const Sanitizer* find_sanitizer(std::string_view name) { return find_sanitizer(name, Policy{}.links); }

const Sanitizer* find_sanitizer(const Policy& policy, std::string_view name) {
  for (const Sanitizer* s : policy.added_sanitizers) {
    if (s != nullptr && s->name() == name) return s;
  }
  return find_sanitizer(name, policy.links);
}

std::vector<std::string_view> sanitizer_names() {
  std::vector<std::string_view> names;
  for (const auto& f : kFactories) names.push_back(f.first);
  return names;
}

}  // namespace mugai::sanitize
