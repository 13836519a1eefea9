// The pdf_render sanitizer: a PDF becomes a fresh image PDF with an invisible text layer, and its text
// goes into the body. The renderer (poppler) hands over pixels and positioned words only; the writer,
// which never sees the original bytes, builds the file from them. Nothing renderable: removed, saying why.
#include <string>

#include "sanitizers/pdf_render.hpp"

#include "render/pdf_render.hpp"
#include "render/pdf_writer.hpp"

namespace mugai::sanitize {
namespace {

// The body text of the rendered pages, in the renderer's reading order: a line break where the next word
// does not continue the line (it starts lower, or back to the left), a space where poppler saw one or a
// gap. Cut at max_text bytes on a character boundary.
class BodyText {
 public:
  explicit BodyText(std::size_t max) : max_(max) {}

  // A document of several pages gets a heading per page.
  void add_page(const render::RenderedPage& page) {
    if (page.pages > 1) append((text_.empty() ? "" : "\n") + std::string("── ") + std::to_string(page.index + 1) +
                         " ページ / page " + std::to_string(page.index + 1) + " ──\n");
    const auto& boxes = page.boxes;
    for (std::size_t i = 0; i < boxes.size(); ++i) {
      append(boxes[i].text);
      if (i + 1 == boxes.size()) {
        append("\n");
        break;
      }
      const render::TextBox& a = boxes[i];
      const render::TextBox& b = boxes[i + 1];
      const double overlap = std::min(a.y + a.height, b.y + b.height) - std::max(a.y, b.y);
      const bool same_line = overlap >= 0.5 * std::min(a.height, b.height) && b.x >= a.x;
      if (!same_line) {
        append("\n");
      } else if (a.space_after || b.x - (a.x + a.width) > 0.3 * std::min(a.height, b.height)) {
        append(" ");
      }
    }
  }

  bool cut() const { return cut_; }
  std::string take() { return std::move(text_); }

 private:
  void append(std::string_view s) {
    if (cut_) return;
    if (text_.size() + s.size() <= max_) {
      text_ += s;
      return;
    }
    std::size_t n = max_ - text_.size();
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not inside a character
    text_ += s.substr(0, n);
    cut_ = true;
  }

  std::size_t max_;
  std::string text_;
  bool cut_ = false;
};

class PdfRender final : public Sanitizer {
 public:
  std::string_view name() const override { return "pdf_render"; }

  Decision sanitize(std::string_view untrusted_decoded, const PartInfo& info) const override {
    return render_pdf_document(untrusted_decoded, info, std::string(info.filename));
  }
};

}  // namespace

Decision render_pdf_document(std::string_view untrusted_pdf, const PartInfo& info, std::string filename) {
  const RenderSettings& settings = info.render;
  render::PdfWriter writer(settings.jpeg_quality);
  BodyText text(settings.max_text);
  const render::PdfLimits limits{settings.dpi, settings.max_pixels, settings.max_pages};
  auto summary = render::render_pdf(untrusted_pdf, limits, [&](render::RenderedPage&& page) {
    text.add_page(page);
    return writer.add_page(page.raster, page.boxes, page.dpi);
  });
  if (!summary) return Decision::remove(summary.error().message);
  auto pdf = writer.finish();
  if (!pdf) return Decision::remove("rendering failed: " + pdf.error().message);
  std::string body = text.take();
  // The walk makes the name safe and adds ".pdf" when it does not end so: 見積書.pdf stays, invoice
  // becomes invoice.pdf.
  Decision d = Decision::replace({Artefact{std::move(*pdf), "application/pdf", std::move(filename)}},
                                 std::move(body));
  std::string notes = std::to_string(summary->rendered) + " of " + std::to_string(summary->pages) +
                      " page(s) rendered at up to " + std::to_string(settings.dpi) + " dpi";
  if (summary->left_out > 0) {
    notes += "; " + std::to_string(summary->left_out) + " page(s) after page " + std::to_string(settings.max_pages) +
             " left out (render.max_pages)";
  }
  for (const auto& n : summary->notes) notes += "; " + n;
  if (text.cut()) notes += "; text cut at " + std::to_string(settings.max_text) + " bytes (render.max_text)";
  d.reason = std::move(notes);
  d.pages = summary->rendered;
  return d;
}

std::unique_ptr<Sanitizer> make_pdf_render() { return std::make_unique<PdfRender>(); }

}  // namespace mugai::sanitize
