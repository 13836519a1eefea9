// Fuzz target: arbitrary bytes as a PDF through render_pdf() with small limits (the first byte picks
// them), each page into PdfWriter. Oracle: no page beyond max_pages or max_pixels, rasters of the size
// they claim, words valid UTF-8 without control characters, and a finished file that starts "%PDF-",
// ends "%%EOF" and holds none of the keys that make a PDF act or carry more than pixels and text.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fontconfig_leak.hpp"
#include "fuzz/fuzz_input.hpp"
#include "fuzz/oracle.hpp"
#include "render/pdf_render.hpp"
#include "render/pdf_writer.hpp"
#include "render/prepare.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mugai::fuzz::fail;
  namespace render = mugai::render;
  static const bool prepared = render::prepare().has_value();
  if (!prepared) fail("render::prepare() failed");
  mugai::fuzz::FuzzInput in(data, size);
  const std::uint8_t choice = in.byte();
  // Small enough that a page is fast: at most 3 pages of at most 250,000 pixels, 18..72 dpi.
  const render::PdfLimits limits{18u + (choice & 0x3u) * 18u, 10'000u + (choice >> 2 & 0x7u) * 30'000u,
                                 1u + (choice >> 5) % 3u};
  render::PdfWriter writer(60);
  auto summary = render::render_pdf(in.rest(), limits, [&](render::RenderedPage&& page) {
    const render::Raster& r = page.raster;
    if (std::uint64_t{r.width} * r.height > limits.max_pixels) fail("page over max_pixels");
    if (r.pixels.size() != std::size_t{r.width} * r.height * r.channels) fail("raster size mismatch");
    if (page.index >= limits.max_pages) fail("page beyond max_pages");
    for (const auto& b : page.boxes) {
      if (!mugai::fuzz::valid_utf8(b.text)) fail("word is not valid UTF-8", b.text);
      for (const char c : b.text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) fail("control character in a word", b.text);
      }
    }
    return writer.add_page(page.raster, page.boxes, page.dpi);
  });
  if (!summary) return 0;
  if (summary->rendered > limits.max_pages || summary->rendered == 0) fail("rendered page count out of bounds");
  auto pdf = writer.finish();
  if (!pdf) fail("the writer refused the renderer's pages", pdf.error().message);
  const std::string_view out = *pdf;
  if (!out.starts_with("%PDF-") || !out.ends_with("%%EOF\n")) fail("output is not framed as a PDF");
  constexpr std::array<std::string_view, 11> kForbidden = {"/JavaScript", "/JS", "/OpenAction", "/AA", "/Launch",
                                                          "/EmbeddedFile", "/AcroForm", "/URI", "/Annots",
                                                          "/Metadata", "/FontFile"};
  for (const auto key : kForbidden) {
    if (out.find(key) != std::string_view::npos) fail("forbidden key in the output", key);
  }
  return 0;
}
