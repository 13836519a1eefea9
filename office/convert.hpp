// Office documents to PDF: one LibreOffice process per document, inside a bubblewrap sandbox with no
// network, macros disabled, bounded time, memory and output. Thread-safe; every call cleans up after itself.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace mugai::office {

inline constexpr int kDocumentRefused = 1;  // Error::kind: this document cannot be converted (its fault): remove it
inline constexpr int kHostFailure = 2;      // Error::kind: the host could not run the converter: try later

struct OfficeLimits {
  std::chrono::seconds timeout{30};    // wall clock for the whole conversion; then the process group is SIGKILLed
  std::uint64_t memory = 2ull << 30;   // RLIMIT_AS of soffice (LibreOffice needs ~200 MB resident, far more virtual)
  std::size_t max_output = 64ull << 20;  // largest PDF read back; larger: kDocumentRefused
  std::string soffice = "/usr/lib/libreoffice/program/soffice";  // what Debian 12's /usr/bin/soffice points to
  std::string bwrap = "/usr/bin/bwrap";
};

// `format` is the short name of the detected type: one of docx xlsx pptx docm xlsm pptm doc xls ppt odt ods odp rtf.
// Returns the PDF bytes (checked to start with "%PDF-"), or an Error with kind kDocumentRefused / kHostFailure and a
// message fit for a recipient's notice.
Expected<std::string> convert_to_pdf(std::string_view document, std::string_view format, const OfficeLimits& limits);

// Whether convert_to_pdf accepts `format` (each has the LibreOffice import filter it is forced to, never
// guessed by LibreOffice from content); its test holds this to sanitize::kOfficeFormats, what a worker may ask for.
bool known_format(std::string_view format);

}  // namespace mugai::office
