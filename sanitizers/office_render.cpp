// The office_render sanitizer: an Office or OpenDocument file becomes the PDF LibreOffice makes of it
// (through the policy's DocumentConverter, in a sandbox of its own), and that PDF, untrusted like any
// other, goes through render_pdf_document: the recipient gets pixels and text only. The format comes
// from the detected type, never the name; macros never run and linked content is never fetched (the
// converter's profile and sandbox see to that).
#include <array>
#include <string>
#include <utility>

#include "sanitizers/detect.hpp"
#include "sanitizers/pdf_render.hpp"
#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {
namespace {

// libmagic 5.44's names. It has none for the macro-enabled OOXML forms (docm, xlsm, pptm): they are
// detected as their plain forms and converted as such (their macros never run: see office/convert.cpp).
constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kFormats{{
    {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"},
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
    {"application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"},
    {"application/msword", "doc"},
    {"application/vnd.ms-excel", "xls"},
    {"application/vnd.ms-powerpoint", "ppt"},
    {"application/vnd.oasis.opendocument.text", "odt"},
    {"application/vnd.oasis.opendocument.spreadsheet", "ods"},
    {"application/vnd.oasis.opendocument.presentation", "odp"},
    {"text/rtf", "rtf"},
    {"application/rtf", "rtf"},
}};

// An encrypted OOXML file is a compound file libmagic calls "CDFV2 Encrypted".
constexpr std::string_view kEncrypted = "application/encrypted";

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
    const std::string type = detect_type(untrusted_decoded);
    if (type == kEncrypted) return Decision::remove("password-protected document: it cannot be opened without its password");
    std::string_view format;
    for (const auto& [t, f] : kFormats) {
      if (t == type) format = f;
    }
    if (format.empty()) return Decision::remove("not an Office document LibreOffice is trusted to open (" + type + ")");
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
