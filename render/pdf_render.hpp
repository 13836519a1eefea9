// PDF pages to pixels and positioned text (poppler-cpp), the only things of a document that leave this
// file: each page's Raster and its TextBoxes, handed to a callback one page at a time, sized against the
// pixel cap before poppler allocates anything. Errors (locked, broken, nothing renderable) are values.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "render/raster.hpp"

namespace mugai::render {

struct PdfLimits {
  unsigned dpi = 150;                     // wanted resolution
  std::uint64_t max_pixels = 40'000'000;  // width × height of one page, checked before rendering
  unsigned max_pages = 100;               // pages rendered; the rest are counted and left out
};

// One rendered page. Text boxes are in the raster's pixel coordinates (origin top left), in reading order.
struct RenderedPage {
  Raster raster;
  std::vector<TextBox> boxes;
  double dpi = 0;      // what it was rendered at: page size in points = pixels × 72 / dpi
  unsigned index = 0;  // in the document, from 0
  unsigned pages = 0;  // in the document
};

// What happened to the document, for the notice.
struct PdfSummary {
  unsigned pages = 0;     // in the document's page tree (as far as poppler can reach pages)
  unsigned rendered = 0;  // handed to the callback
  unsigned left_out = 0;  // beyond max_pages
  std::vector<std::string> notes;  // lowered resolutions, refused pages
};

// Renders the first max_pages pages of `untrusted_pdf` at limits.dpi (lower where the pixel cap needs it)
// and calls on_page for each; an error from on_page stops the work and is returned. Errors: "password-
// protected PDF", "broken PDF: ..." and "no page could be rendered: ...". Not thread-safe: one document
// per process at a time (poppler's lazily initialised globals; DESIGN.md).
Expected<PdfSummary> render_pdf(std::string_view untrusted_pdf, const PdfLimits& limits,
                                const std::function<Status(RenderedPage&&)>& on_page);

// The resolution at which a page of w × h points (already rotated) fits max_pixels: `dpi` itself when it
// fits, else the largest lower one; 0 when even kMinDpi does not fit (an absurd page).
inline constexpr double kMinDpi = 9;
double fitting_dpi(double width_pt, double height_pt, double dpi, std::uint64_t max_pixels);

}  // namespace mugai::render
