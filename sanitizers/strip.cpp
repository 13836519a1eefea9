// The fallback sanitizer: removes whatever no converter can render yet. Always safe, never keeps bytes.
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

class Strip final : public Sanitizer {
 public:
  std::string_view name() const override { return "strip"; }
  Decision sanitize(std::string_view, const PartInfo& info) const override {
    if (info.declared_type.starts_with("text/")) return Decision::remove("text part removed by policy");
    return Decision::remove("attachment removed (rendering to images is not available yet)");
  }
};

}  // namespace

std::unique_ptr<Sanitizer> make_strip() { return std::make_unique<Strip>(); }

}  // namespace mugai::sanitize
