// One PDF to what a recipient may receive, for pdf_render and for office_render (which renders the PDF
// LibreOffice made): a fresh image PDF with an invisible text layer, the text for the body, and a note
// of what was rendered and what left out; or removal, saying why. The PDF's bytes are untrusted.
#pragma once

#include <string>
#include <string_view>

#include "sanitizers/sanitizer.hpp"

namespace mugai::sanitize {

// `filename` is the name the rendered PDF is shown under.
Decision render_pdf_document(std::string_view untrusted_pdf, const PartInfo& info, std::string filename);

}  // namespace mugai::sanitize
