// The one interface every sanitizer implements, and the registry that finds them by name. A
// sanitizer sees one decoded leaf part and turns it into plain UTF-8 text, replaces it with safe
// artefacts (a rendering), or removes it with a reason; it never fails open: the pipeline checks
// what it returns again before anything of it is delivered. Adding one = a new file defining
// make_<name>() + one line in registry.cpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace mugai::sanitize {

// The short names of the formats a DocumentConverter takes.
inline constexpr std::array<std::string_view, 13> kOfficeFormats{"docx", "xlsx", "pptx", "docm", "xlsm", "pptm", "doc",
                                                                 "xls",  "ppt",  "odt",  "ods",  "odp",  "rtf"};

// The detected types office_render converts, with the format each is converted as: the default rules'
// office_render types (with kEncryptedOffice) and office_render's own reading of them. libmagic 5.44 has
// no names for the macro-enabled OOXML forms (docm, xlsm, pptm): they are detected as their plain forms
// and converted as such (their macros never run: see office/convert.cpp).
struct OfficeType {
  std::string_view detected_type;
  std::string_view format;
};
inline constexpr std::array<OfficeType, 11> kOfficeTypes{{
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
// An encrypted OOXML file, a compound file libmagic calls "CDFV2 Encrypted": office_render removes it
// as password-protected.
inline constexpr std::string_view kEncryptedOffice = "application/encrypted";

// Turns an office document into a PDF in a process of its own (LibreOffice in a sandbox). Sanitizers
// start no process: whoever may (the gateway, mugaictl) provides this, and the worker reaches it over
// its channel. The PDF that comes back is as untrusted as the document.
class DocumentConverter {
 public:
  // Error kinds of to_pdf().
  enum Kind : int {
    kRefused = 1,      // this document cannot be converted (timeout, crash, no PDF, password): remove it
    kUnavailable = 2,  // the host could not run the converter at all: the message is tried again later
  };
  virtual ~DocumentConverter() = default;
  // `format` is one of kOfficeFormats.
  virtual Expected<std::string> to_pdf(std::string_view document, std::string_view format) const = 0;
};

// How renderers turn documents and images into pixels ([render] in the config, config/README.md).
struct RenderSettings {
  unsigned dpi = 150;                      // page resolution
  std::uint64_t max_pixels = 40'000'000;   // width × height of one page or image, checked before decoding
  unsigned max_pages = 100;                // pages rendered per document; the rest are left out, and noted
  std::size_t max_text = 256 * 1024;       // bytes of a document's extracted text put into the body
  unsigned jpeg_quality = 80;              // of photographic pages and re-encoded photos
};

struct PartInfo {
  std::string_view path;           // "1.2"
  std::string_view declared_type;  // lowercase "type/subtype"
  std::string_view charset;        // as declared, may be empty
  std::string_view filename;       // raw, may be empty
  RenderSettings render{};         // the policy's
  const DocumentConverter* converter = nullptr;  // the policy's; none: office documents are removed
  std::string_view detected_type;  // from the content (libmagic), as the walk detected it
};

// A safe file that takes a part's place in the delivered message, e.g. a PDF rebuilt from pixels.
struct Artefact {
  std::string bytes;
  std::string content_type;  // lowercase "type/subtype"; must be one of kArtefactTypes
  std::string filename;      // UTF-8 name to show; the pipeline makes it safe for display and headers
};

// The only types an artefact may have, with the extension an unnamed one gets. The pipeline also
// checks that the bytes' detected type (libmagic) is the declared one.
struct ArtefactType {
  std::string_view content_type;
  std::string_view extension;
};
inline constexpr std::array<ArtefactType, 3> kArtefactTypes{{
    {"application/pdf", ".pdf"},
    {"image/png", ".png"},
    {"image/jpeg", ".jpg"},
}};

struct Decision {
  enum class Action { KeepText, Replace, Remove };
  Action action = Action::Remove;
  // KeepText: valid UTF-8, LF line ends, no other controls but TAB. Replace: optional text of the
  // same kind for the body (e.g. the text extracted from a rendered document).
  std::string text;
  std::vector<Artefact> artefacts;    // Replace: one or more
  std::string reason;                 // Remove: why; otherwise an optional note (e.g. unknown charset)
  std::size_t replacement_chars = 0;  // U+FFFD inserted for undecodable bytes
  std::size_t dropped_controls = 0;
  unsigned pages = 0;                 // Replace by a renderer: pages (or images) rendered, for the metrics
  // Remove only: not the part's fault, the host could not run what it needs (no converter could be
  // started). Nothing is decided; the whole message is tried again later (sanitize.max_attempts).
  bool retry_later = false;

  static Decision keep(std::string text) {
    Decision d;
    d.action = Action::KeepText;
    d.text = std::move(text);
    return d;
  }
  static Decision replace(std::vector<Artefact> artefacts, std::string text = {}) {
    Decision d;
    d.action = Action::Replace;
    d.artefacts = std::move(artefacts);
    d.text = std::move(text);
    return d;
  }
  static Decision remove(std::string reason) {
    Decision d;
    d.reason = std::move(reason);
    return d;
  }
};

class Sanitizer {
 public:
  virtual ~Sanitizer() = default;
  virtual std::string_view name() const = 0;
  virtual Decision sanitize(std::string_view untrusted_decoded, const PartInfo& info) const = 0;
};

// One factory per sanitizer file.
std::unique_ptr<Sanitizer> make_text_plain();
std::unique_ptr<Sanitizer> make_strip();
std::unique_ptr<Sanitizer> make_pdf_render();    // PDFs → an image PDF with a text layer (pdf_render.cpp)
std::unique_ptr<Sanitizer> make_image_render();  // images → fresh PNG/JPEG from pixels (image_render.cpp)
std::unique_ptr<Sanitizer> make_office_render(); // Office documents → PDF (DocumentConverter) → pdf_render

// The registered sanitizer called `name` with the default policy's settings, or nullptr. Instances
// live for the whole program. policy.hpp has the lookup that takes the policy's settings.
const Sanitizer* find_sanitizer(std::string_view name);

}  // namespace mugai::sanitize
