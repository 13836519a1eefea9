// Rendering with poppler-cpp. Poppler parses hostile bytes here and nowhere else; what leaves is copied
// out of its objects into plain values (Raster, TextBox) before the callback sees it.
#include "render/pdf_render.hpp"

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page-renderer.h>
#include <poppler-page.h>

#include <climits>
#include <cmath>
#include <memory>

#include "common/utf8.hpp"

namespace mugai::render {
namespace {

// A page with more words than this keeps only the first ones in its text layer (and says so).
constexpr std::size_t kMaxBoxesPerPage = 50'000;

std::uint64_t pixels_at(double pt, double dpi) { return static_cast<std::uint64_t>(std::floor(pt * dpi / 72 + 0.5)); }

// Poppler reports every oddity of a hostile file on stderr; the outcome says what matters.
void quiet_poppler() {
  static const bool once = [] {
    poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr);
    return true;
  }();
  (void)once;
}

// Text as the body and the text layer take it: valid UTF-8, no control characters (C0, DEL, C1) at all.
std::string clean_text(const poppler::ustring& u) {
  const poppler::byte_array bytes = u.to_utf8();
  const std::string_view in(bytes.data(), bytes.size());
  std::string out;
  for (std::size_t i = 0; i < in.size();) {
    const std::size_t n = utf8::sequence_length(in, i);
    if (n == 0) {
      ++i;
      continue;
    }
    const char32_t cp = utf8::code_point(in, i, n);
    if (cp >= 0x20 && !(cp >= 0x7F && cp <= 0x9F)) out.append(in.substr(i, n));
    i += n;
  }
  return out;
}

// The last page poppler can reach: /Count is the file's claim (poppler already caps it at the number of
// objects), so the real length is searched for; pages exist as a prefix of the tree.
unsigned real_page_count(const poppler::document& doc) {
  const int claimed = doc.pages();
  if (claimed <= 0) return 0;
  const auto exists = [&](int index) { return std::unique_ptr<poppler::page>(doc.create_page(index)) != nullptr; };
  if (exists(claimed - 1)) return static_cast<unsigned>(claimed);
  int lo = 0, hi = claimed - 1;  // pages [0, lo) exist, page hi does not
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (exists(mid)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return static_cast<unsigned>(lo);
}

Raster to_raster(const poppler::image& img) {
  Raster r;
  r.width = static_cast<std::uint32_t>(img.width());
  r.height = static_cast<std::uint32_t>(img.height());
  r.channels = 3;
  const std::size_t row = std::size_t{r.width} * 3;
  r.pixels.reserve(row * r.height);  // appended row by row: no zero-filling of megabytes first
  const char* src = img.const_data();
  for (std::uint32_t y = 0; y < r.height; ++y) {
    const auto* line = reinterpret_cast<const std::uint8_t*>(src + std::size_t{y} * img.bytes_per_row());
    r.pixels.insert(r.pixels.end(), line, line + row);
  }
  return r;
}

std::string page_name(unsigned index) { return "page " + std::to_string(index + 1); }

}  // namespace

double fitting_dpi(double width_pt, double height_pt, double dpi, std::uint64_t max_pixels) {
  if (!(width_pt > 0) || !(height_pt > 0) || !std::isfinite(width_pt) || !std::isfinite(height_pt)) return 0;
  const auto fits = [&](double d) {
    const std::uint64_t w = pixels_at(width_pt, d), h = pixels_at(height_pt, d);
    return w > 0 && h > 0 && w <= INT_MAX && h <= INT_MAX && static_cast<double>(w) * static_cast<double>(h) <= static_cast<double>(max_pixels);
  };
  if (fits(dpi)) return dpi;
  // The area grows with dpi², so the square root gets close; rounding may need a step down more.
  double d = std::floor(dpi * std::sqrt(static_cast<double>(max_pixels) / (width_pt * dpi / 72 * (height_pt * dpi / 72))));
  while (d >= kMinDpi && !fits(d)) d -= 1;
  return d >= kMinDpi ? d : 0;
}

Expected<PdfSummary> render_pdf(std::string_view untrusted_pdf, const PdfLimits& limits,
                                const std::function<Status(RenderedPage&&)>& on_page) {
  quiet_poppler();
  if (untrusted_pdf.size() > static_cast<std::size_t>(INT_MAX)) return Error{"broken PDF: larger than 2 GiB"};
  const std::unique_ptr<poppler::document> doc(
      poppler::document::load_from_raw_data(untrusted_pdf.data(), static_cast<int>(untrusted_pdf.size())));
  if (!doc) return Error{"broken PDF: poppler cannot read its structure"};
  // Before anything else: on a locked document poppler has no catalog, and pages() crashes.
  if (doc->is_locked()) return Error{"password-protected PDF"};
  PdfSummary sum;
  sum.pages = real_page_count(*doc);
  if (sum.pages == 0) return Error{"broken PDF: no page could be found in its page tree"};
  const unsigned todo = std::min(sum.pages, limits.max_pages);
  sum.left_out = sum.pages - todo;

  poppler::page_renderer renderer;
  renderer.set_render_hints(poppler::page_renderer::antialiasing | poppler::page_renderer::text_antialiasing);
  renderer.set_image_format(poppler::image::format_rgb24);
  renderer.set_paper_color(0xffffffff);
  for (unsigned i = 0; i < todo; ++i) {
    const std::unique_ptr<poppler::page> page(doc->create_page(static_cast<int>(i)));
    if (!page) {
      sum.notes.push_back(page_name(i) + " left out: it cannot be read");
      continue;
    }
    const poppler::rectf box = page->page_rect(poppler::crop_box);
    const auto o = page->orientation();
    const bool turned = o == poppler::page::landscape || o == poppler::page::seascape;
    const double w_pt = turned ? box.height() : box.width(), h_pt = turned ? box.width() : box.height();
    const double dpi = fitting_dpi(w_pt, h_pt, limits.dpi, limits.max_pixels);
    if (dpi == 0) {
      sum.notes.push_back(page_name(i) + " left out: its size (" + std::to_string(static_cast<long long>(w_pt / 72)) +
                          " × " + std::to_string(static_cast<long long>(h_pt / 72)) + " inches) is absurd");
      continue;
    }
    if (dpi != limits.dpi) {
      sum.notes.push_back(page_name(i) + " rendered at " + std::to_string(static_cast<int>(dpi)) + " dpi instead of " +
                          std::to_string(limits.dpi) + " (render.max_pixels)");
    }
    const poppler::image img = renderer.render_page(page.get(), dpi, dpi);
    const std::uint64_t want_w = pixels_at(w_pt, dpi), want_h = pixels_at(h_pt, dpi);
    // Poppler sizes the bitmap itself; anything but the size checked above is refused.
    if (!img.is_valid() || img.format() != poppler::image::format_rgb24 || img.width() <= 0 || img.height() <= 0 ||
        static_cast<std::uint64_t>(img.width()) > want_w + 1 || static_cast<std::uint64_t>(img.height()) > want_h + 1 ||
        static_cast<std::uint64_t>(img.width()) * static_cast<std::uint64_t>(img.height()) > limits.max_pixels) {
      sum.notes.push_back(page_name(i) + " left out: it could not be rendered");
      continue;
    }
    RenderedPage out;
    out.dpi = dpi;
    out.index = i;
    out.pages = sum.pages;
    out.raster = to_raster(img);
    const double scale = dpi / 72;
    const std::vector<poppler::text_box> words = page->text_list();
    if (words.size() > kMaxBoxesPerPage) {
      sum.notes.push_back(page_name(i) + ": only the first " + std::to_string(kMaxBoxesPerPage) + " words are searchable");
    }
    for (std::size_t w = 0; w < words.size() && w < kMaxBoxesPerPage; ++w) {
      const poppler::text_box& word = words[w];
      TextBox b;
      b.text = clean_text(word.text());
      if (b.text.empty()) continue;
      const poppler::rectf r = word.bbox();
      b.x = r.x() * scale;
      b.y = r.y() * scale;
      b.width = r.width() * scale;
      b.height = r.height() * scale;
      b.space_after = word.has_space_after();
      b.rotation = static_cast<unsigned>(word.rotation()) % 4;
      out.boxes.push_back(std::move(b));
    }
    ++sum.rendered;
    if (auto st = on_page(std::move(out)); !st) return st.error();
  }
  if (sum.rendered == 0) {
    std::string why;
    for (const auto& n : sum.notes) why += (why.empty() ? "" : "; ") + n;
    return Error{"no page could be rendered: " + why};
  }
  return sum;
}

}  // namespace mugai::render
