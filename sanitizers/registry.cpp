// Sanitizers by name: the single table to extend when a sanitizer is added.
#include <array>
#include <utility>

#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

using Factory = std::unique_ptr<Sanitizer> (*)();

constexpr std::array<std::pair<std::string_view, Factory>, 2> kFactories{{
    {"text_plain", &make_text_plain},
    {"strip", &make_strip},
}};

}  // namespace

const Sanitizer* find_sanitizer(std::string_view name) {
  // Built once, thread-safely, on first use; sanitizers are stateless so sharing them is fine.
  static const auto instances = [] {
    std::array<std::unique_ptr<Sanitizer>, kFactories.size()> all;
    for (std::size_t i = 0; i < kFactories.size(); ++i) all[i] = kFactories[i].second();
    return all;
  }();
  for (std::size_t i = 0; i < kFactories.size(); ++i) {
    if (kFactories[i].first == name) return instances[i].get();
  }
  return nullptr;
}

std::string_view sanitizer_for_type(std::string_view declared_type) {
  return declared_type == "text/plain" ? "text_plain" : "strip";
}

}  // namespace mugai::sanitize
