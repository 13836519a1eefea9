// The fallback sanitizer: removes whatever the policy does not convert or render. Always safe, never keeps bytes.
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

class Strip final : public Sanitizer {
 public:
  std::string_view name() const override { return "strip"; }
  Decision sanitize(std::string_view, const PartInfo& info) const override {
    if (info.declared_type.starts_with("text/")) return Decision::remove("text part removed by policy");
    // An SVG looks like an image but is an XML document that can run scripts and open links.
    if (info.declared_type == "image/svg+xml") return Decision::remove("SVG removed by policy (a script-capable XML document, not pixels)");
    return Decision::remove("attachment removed by policy");
  }
};

}  // namespace

std::unique_ptr<Sanitizer> make_strip() { return std::make_unique<Strip>(); }

}  // namespace mugai::sanitize
