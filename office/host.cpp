// config::Office → OfficeLimits and the converter (see host.hpp).
#include "office/host.hpp"

#include "sanitizers/sanitizer.hpp"

namespace mugai::office {

OfficeLimits limits_of(const config::Office& cfg) {
  OfficeLimits limits;
  limits.timeout = cfg.timeout;
  limits.memory = cfg.memory;
  limits.max_output = cfg.max_output;
  if (!cfg.program.empty()) limits.soffice = cfg.program;
  if (!cfg.bwrap.empty()) limits.bwrap = cfg.bwrap;
  return limits;
}

std::function<Expected<std::string>(std::string_view, std::string_view)> converter(const config::Office& cfg) {
  return [limits = limits_of(cfg)](std::string_view document, std::string_view format) -> Expected<std::string> {
    auto pdf = convert_to_pdf(document, format, limits);
    if (pdf) return pdf;
    const int kind = pdf.error().kind == kHostFailure ? sanitize::DocumentConverter::kUnavailable
                                                      : sanitize::DocumentConverter::kRefused;
    return Error{pdf.error().message, kind};
  };
}

}  // namespace mugai::office
