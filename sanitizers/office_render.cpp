// The office_render sanitizer: an Office or OpenDocument file becomes the PDF LibreOffice makes of it
// (through the policy's DocumentConverter, in a sandbox of its own), and that PDF, untrusted like any
// other, goes through render_pdf_document: the recipient gets pixels and text only. The format comes
// from the detected type (kOfficeTypes), never the name; macros never run and linked content is never
// fetched (the converter's profile and sandbox see to that).
#include <string>

#include "sanitizers/pdf_render.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

// "見積書.xlsx" is shown as "見積書.pdf"; a name without an extension gets ".pdf" from the walk.
std::string pdf_name(std::string_view filename) {
  const auto dot = filename.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::string(filename);
  return std::string(filename.substr(0, dot)) + ".pdf";
}

class OfficeRender final : public Sanitizer {
 public:
  std::string_view name() const override { return "office_render"; }

  Decision sanitize(std::string_view untrusted_decoded, const PartInfo& info) const override {
    const std::string_view type = info.detected_type;
    if (type == kEncryptedOffice)
      return Decision::remove("password-protected document: it cannot be opened without its password");
    std::string_view format;
    for (const auto& office : kOfficeTypes) {
      if (office.detected_type == type) format = office.format;
    }
    if (format.empty())
      return Decision::remove("not an Office document LibreOffice is trusted to open (" + std::string(type) + ")");
    if (info.converter == nullptr) return Decision::remove("no document converter here (office documents need the gateway's LibreOffice)");
    auto pdf = info.converter->to_pdf(untrusted_decoded, format);
    if (!pdf) {
      Decision d = Decision::remove(pdf.error().message);
      d.retry_later = pdf.error().kind == DocumentConverter::kUnavailable;
      return d;
    }
    Decision d = render_pdf_document(*pdf, info, pdf_name(info.filename));
    const std::string converted = "converted from " + std::string(format) + " by LibreOffice";
    d.reason = d.reason.empty() ? converted : converted + "; " + d.reason;
    return d;
  }
};

}  // namespace

std::unique_ptr<Sanitizer> make_office_render() { return std::make_unique<OfficeRender>(); }

}  // namespace mugai::sanitize
