// PDF rendering and the image-PDF writer: hostile documents written here in PDF syntax (page-count bomb,
// a 200-inch page, nested and cyclic forms, a broken xref, a ZIP polyglot, an encrypted file made by qpdf)
// each end bounded, rendered or refused with a reason; the writer's output read back by poppler itself
// (an independent reader of what we wrote) gives the same words, Japanese and beyond the BMP included.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "render/pdf_render.hpp"
#include "render/pdf_writer.hpp"
#include "render/prepare.hpp"
#include "common/utf8.hpp"
#include "sanitizers/codec.hpp"
#include "sanitizers/pipeline.hpp"
#include "tests/sanitizers/helpers.hpp"
#include "tests/temp_dir.hpp"

// Under -DMUGAI_SANITIZE=address: fontconfig leaves 288 bytes unreachable once per process on the first CJK
// font lookup (fuzz/pdf_render.cpp says how that was measured); only that library's leaks are suppressed.
extern "C" const char* __lsan_default_suppressions() { return "leak:libfontconfig.so\n"; }

namespace mugai::render::test {
namespace {

using Clock = std::chrono::steady_clock;

// A PDF of the given objects (object i + 1 is objects[i]; 1 is the catalog) with a correct xref.
std::string pdf_of(const std::vector<std::string>& objects) {
  std::string out = "%PDF-1.4\n";
  std::vector<std::size_t> offsets;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const std::size_t xref = out.size();
  out += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (const std::size_t o : offsets) {
    char line[24];
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", o);
    out += line;
  }
  return out + "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
}

std::string stream(const std::string& dict, const std::string& data) {
  return "<< " + dict + " /Length " + std::to_string(data.size()) + " >>\nstream\n" + data + "\nendstream";
}

const std::string kHelvetica = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";

// One page of `media` showing `content` with /F1 = font.
std::string one_page(const std::string& content, const std::string& font = kHelvetica,
                     const std::string& media = "[0 0 612 792]", const std::string& extra_objects_page = "",
                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> objects = {
      "<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
      "<< /Type /Page /Parent 2 0 R /MediaBox " + media + " /Resources << /Font << /F1 5 0 R >>" + extra_objects_page +
          " >> /Contents 4 0 R >>",
      stream("", content), font};
  objects.insert(objects.end(), extra.begin(), extra.end());
  return pdf_of(objects);
}

// A non-embedded Japanese font, as Japanese office software writes it: the reader must bring glyphs.
const std::string kHeisei = "<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiMin-W3 /Encoding /UniJIS-UCS2-H "
                            "/DescendantFonts [6 0 R] >>";
const std::vector<std::string> kHeiseiParts = {
    "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiMin-W3 /CIDSystemInfo << /Registry (Adobe) /Ordering "
    "(Japan1) /Supplement 2 >> /FontDescriptor 7 0 R /DW 1000 >>",
    "<< /Type /FontDescriptor /FontName /HeiseiMin-W3 /Flags 6 /FontBBox [0 -141 1000 859] /ItalicAngle 0 /Ascent "
    "859 /Descent -141 /CapHeight 700 /StemV 80 >>"};

std::string japanese_page(const std::string& ucs2_hex) {
  return one_page("BT /F1 48 Tf 72 650 Td <" + ucs2_hex + "> Tj ET", kHeisei, "[0 0 612 792]", "", kHeiseiParts);
}

struct Rendered {
  Expected<PdfSummary> summary = Error{"not run"};
  std::vector<RenderedPage> pages;
};

Rendered render(std::string_view pdf, const PdfLimits& limits = {}) {
  REQUIRE(prepare());
  Rendered r;
  r.summary = render_pdf(pdf, limits, [&](RenderedPage&& p) {
    r.pages.push_back(std::move(p));
    return Status{Ok{}};
  });
  return r;
}

std::string words(const RenderedPage& p) {
  std::string s;
  for (const auto& b : p.boxes) s += (s.empty() ? "" : " ") + b.text;
  return s;
}

std::string rewrite(const std::vector<RenderedPage>& pages, std::vector<PageEncoding>* encodings = nullptr) {
  PdfWriter w(80);
  for (const auto& p : pages) REQUIRE(w.add_page(p.raster, p.boxes, p.dpi));
  if (encodings) *encodings = w.encodings();
  auto out = w.finish();
  REQUIRE(out);
  return *out;
}

bool has(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

// Every key that would make a PDF do or carry more than pixels and text.
void check_inert(std::string_view pdf) {
  for (const char* key : {"/JavaScript", "/JS", "/OpenAction", "/AA", "/Launch", "/EmbeddedFile", "/AcroForm", "/URI",
                          "/Annots", "/Metadata", "/FontFile", "/XFA", "/Names"}) {
    CHECK_MESSAGE(!has(pdf, key), key);
  }
}

}  // namespace

TEST_CASE("fitting_dpi: the wanted dpi when it fits, the largest lower one that does, 0 for an absurd page") {
  CHECK(fitting_dpi(612, 792, 150, 40'000'000) == 150);
  const double d = fitting_dpi(200 * 72, 200 * 72, 150, 40'000'000);
  CHECK(d < 150);
  CHECK(d >= 31);
  const double side = std::floor(200 * d + 0.5);
  CHECK(side * side <= 40'000'000);
  CHECK(fitting_dpi(1e7, 1e7, 150, 40'000'000) == 0);
  CHECK(fitting_dpi(0, 792, 150, 40'000'000) == 0);
  CHECK(fitting_dpi(-5, 792, 150, 40'000'000) == 0);
}

TEST_CASE("a text page: pixels at the dpi, words in pixel coordinates, and the rewritten PDF reads the same") {
  const std::string pdf = one_page("BT /F1 24 Tf 72 700 Td (Hello mugai world) Tj ET");
  const Rendered r = render(pdf);
  REQUIRE(r.summary);
  REQUIRE(r.pages.size() == 1);
  const RenderedPage& p = r.pages[0];
  CHECK(p.raster.width == 1275);
  CHECK(p.raster.height == 1650);
  CHECK(words(p) == "Hello mugai world");
  // 72 pt from the left at 150 dpi is 150 px; the baseline 92 pt from the top is 191.7 px.
  CHECK(p.boxes[0].x == doctest::Approx(150).epsilon(0.02));
  CHECK(p.boxes[0].y < 192);
  CHECK(p.boxes[0].y + p.boxes[0].height > 180);

  std::vector<PageEncoding> enc;
  const std::string out = rewrite(r.pages, &enc);
  CHECK(enc == std::vector<PageEncoding>{PageEncoding::Flate4});
  check_inert(out);
  const Rendered back = render(out);
  REQUIRE(back.summary);
  REQUIRE(back.pages.size() == 1);
  CHECK(back.pages[0].raster.width == 1275);
  CHECK(back.pages[0].raster.height == 1650);
  CHECK(words(back.pages[0]) == "Hello mugai world");
  // The invisible words sit where the visible ones were.
  CHECK(back.pages[0].boxes[0].x == doctest::Approx(p.boxes[0].x).epsilon(0.02));
  CHECK(back.pages[0].boxes[0].y == doctest::Approx(p.boxes[0].y).epsilon(0.02));
  CHECK(back.pages[0].boxes[0].height == doctest::Approx(p.boxes[0].height).epsilon(0.02));
}

TEST_CASE("Japanese with a non-embedded font: real glyphs (two characters differ), real text, round trip") {
  const Rendered a = render(japanese_page("65E5672C8A9E"));  // 日本語
  REQUIRE(a.summary);
  CHECK(words(a.pages[0]) == "日本語");
  const Rendered b = render(japanese_page("8A9E672C65E5"));  // 語本日
  REQUIRE(b.summary);
  // Tofu would draw the same box for every character; real glyphs differ.
  CHECK(a.pages[0].raster.pixels != b.pages[0].raster.pixels);
  std::size_t dark = 0;
  for (const auto v : a.pages[0].raster.pixels) dark += v < 128;
  CHECK(dark > 1000);
  const Rendered back = render(rewrite(a.pages));
  REQUIRE(back.summary);
  CHECK(words(back.pages[0]) == "日本語");
}

TEST_CASE("the writer: characters beyond the BMP, more than 256 distinct ones, empty pages, bad input") {
  Raster white{200, 100, 1, std::vector<std::uint8_t>(200 * 100, 255)};
  std::string many;
  for (char32_t c = 0x4E00; c < 0x4E00 + 600; ++c) utf8::append(many, c);  // 600 distinct kanji: three fonts
  std::vector<TextBox> boxes = {{"𠮟る𩸽", 10, 10, 60, 20, false}, {many, 10, 50, 180, 10, false}};
  PdfWriter w(80);
  REQUIRE(w.add_page(white, boxes, 72));
  REQUIRE(w.add_page(white, {}, 72));
  CHECK_FALSE(w.add_page(Raster{10, 10, 3, {}}, {}, 72));  // pixels missing
  CHECK_FALSE(w.add_page(white, {}, 0));
  auto out = w.finish();
  REQUIRE(out);
  CHECK_FALSE(w.finish());
  check_inert(*out);
  CHECK(has(*out, "/Subtype /Type3"));
  CHECK(has(*out, "<00> <D842DF9F>"));  // 𠮟 U+20B9F as a surrogate pair
  const Rendered back = render(*out);
  REQUIRE(back.summary);
  REQUIRE(back.pages.size() == 2);
  CHECK(back.pages[0].raster.width == 417);  // 200 px at 72 dpi are 200 pt, read back at 150 dpi
  std::string got;
  for (const auto& b : back.pages[0].boxes) got += b.text;
  CHECK(got == "𠮟る𩸽" + many);
  CHECK(back.pages[1].boxes.empty());
}

TEST_CASE("a photographic page is JPEG, a gray text page one channel of 16 levels") {
  Raster photo{300, 200, 3, {}};
  photo.pixels.resize(300 * 200 * 3);
  std::uint32_t seed = 1;
  for (auto& v : photo.pixels) {
    seed = seed * 1103515245u + 12345u;
    v = static_cast<std::uint8_t>(seed >> 24);
  }
  PdfWriter w(80);
  REQUIRE(w.add_page(photo, {}, 150));
  const Rendered text = render(one_page("BT /F1 24 Tf 72 700 Td (Plain text) Tj ET"));
  REQUIRE(w.add_page(text.pages[0].raster, text.pages[0].boxes, 150));
  CHECK(w.encodings() == std::vector<PageEncoding>{PageEncoding::Jpeg, PageEncoding::Flate4});
  const auto out = w.finish();
  REQUIRE(out);
  CHECK(has(*out, "/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode"));
  CHECK(has(*out, "/ColorSpace /DeviceGray /BitsPerComponent 4 /Filter /FlateDecode"));
}

TEST_CASE("rotated pages come out turned, with their words where they are seen") {
  const std::string pdf = pdf_of({"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                  "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Rotate 90 /Resources << "
                                  "/Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
                                  stream("", "BT /F1 24 Tf 72 700 Td (Turned) Tj ET"), kHelvetica});
  const Rendered r = render(pdf);
  REQUIRE(r.summary);
  CHECK(r.pages[0].raster.width == 1650);
  CHECK(r.pages[0].raster.height == 1275);
  CHECK(words(r.pages[0]) == "Turned");
  for (const auto& b : r.pages[0].boxes) {
    CHECK(b.x >= 0);
    CHECK(b.x + b.width <= 1650);
    CHECK(b.y + b.height <= 1275);
  }
}

TEST_CASE("page-count bomb: 100000 pages in the tree, the first max_pages rendered, the rest counted") {
  std::vector<std::string> objects = {"<< /Type /Catalog /Pages 2 0 R >>", ""};
  std::string kids;
  for (int i = 0; i < 100'000; ++i) {
    kids += std::to_string(i + 3) + " 0 R ";
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>");
  }
  objects[1] = "<< /Type /Pages /Kids [" + kids + "] /Count 100000 >>";
  const auto t0 = Clock::now();
  const Rendered r = render(pdf_of(objects), PdfLimits{72, 40'000'000, 5});
  CHECK(Clock::now() - t0 < std::chrono::seconds(20));
  REQUIRE(r.summary);
  CHECK(r.summary->pages == 100'000);
  CHECK(r.summary->rendered == 5);
  CHECK(r.summary->left_out == 99'995);
  CHECK(r.pages.size() == 5);
}

TEST_CASE("a /Count beyond the number of objects: poppler finds no page, and the PDF is refused as broken") {
  const std::string pdf = pdf_of({"<< /Type /Catalog /Pages 2 0 R >>",
                                  "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 213804087 >>",
                                  "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>",
                                  "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] >>"});
  const Rendered r = render(pdf);
  REQUIRE_FALSE(r.summary);
  CHECK(r.summary.error().message == "broken PDF: no page could be found in its page tree");
}

TEST_CASE("a 200 × 200 inch page is rendered at the resolution that fits max_pixels, and that is noted") {
  const Rendered r = render(one_page("BT /F1 720 Tf 72 7000 Td (Big) Tj ET", kHelvetica, "[0 0 14400 14400]"));
  REQUIRE(r.summary);
  REQUIRE(r.pages.size() == 1);
  const Raster& px = r.pages[0].raster;
  CHECK(std::uint64_t{px.width} * px.height <= 40'000'000);
  CHECK(px.width > 6000);
  CHECK(r.pages[0].dpi < 150);
  REQUIRE(r.summary->notes.size() == 1);
  CHECK(has(r.summary->notes[0], "page 1 rendered at 31 dpi instead of 150 (render.max_pixels)"));
  // Absurd: even 9 dpi would cross the cap (poppler itself clamps boxes to 14400 pt, so ask for less).
  const Rendered absurd = render(one_page("", kHelvetica, "[0 0 14400 14400]"), PdfLimits{150, 10'000, 10});
  CHECK_FALSE(absurd.summary);
  CHECK(has(absurd.summary.error().message, "is absurd"));
}

TEST_CASE("deeply nested and cyclic Form XObjects end, bounded in time") {
  std::vector<std::string> objects = {"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << "
                                      "/X 5 0 R >> >> /Contents 4 0 R >>",
                                      stream("", "/X Do")};
  // Form i draws form i + 1; the last draws the first: a cycle. Poppler stops at a nesting depth of its
  // own. (A form drawing the next one twice is a fan-out bomb, 2^depth draws, that poppler does not bound:
  // only the worker's deadline ends it; see the report of issue 10.)
  constexpr int kDepth = 5000;
  for (int i = 0; i < kDepth; ++i) {
    const int next = i + 1 < kDepth ? 6 + i : 5;
    objects.push_back(stream("/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /XObject << /X " +
                                 std::to_string(next) + " 0 R >> >>",
                             "0 0 1 1 re f /X Do"));
  }
  const auto t0 = Clock::now();
  const Rendered r = render(pdf_of(objects));
  CHECK(Clock::now() - t0 < std::chrono::seconds(20));
  REQUIRE(r.summary);
  CHECK(r.pages.size() == 1);
}

TEST_CASE("a broken xref is reconstructed; bytes that are no PDF are refused as broken") {
  std::string pdf = one_page("BT /F1 24 Tf 72 700 Td (Reconstructed) Tj ET");
  const auto xref = pdf.find("xref\n");
  for (std::size_t i = pdf.find("0000000", xref + 30); i < pdf.find("trailer"); ++i) {
    if (pdf[i] >= '0' && pdf[i] <= '9') pdf[i] = '7';  // every offset wrong
  }
  const Rendered r = render(pdf);
  REQUIRE(r.summary);
  CHECK(words(r.pages[0]) == "Reconstructed");

  for (const std::string& junk : {std::string(), std::string("%PDF-1.4\n%%EOF\n"), std::string(5000, '\xFF'),
                                 std::string("PK\x03\x04 not a pdf at all")}) {
    const Rendered bad = render(junk);
    REQUIRE_FALSE(bad.summary);
    CHECK(bad.summary.error().message.starts_with("broken PDF"));
  }
}

TEST_CASE("a PDF/ZIP polyglot: only the rendering of what poppler reads as the PDF comes out") {
  const std::string zip = std::string("PK\x03\x04\x14\0\0\0\0\0", 10) + std::string(20, '\0') + "evil.exeMZ";
  const std::string pdf = one_page("BT /F1 24 Tf 72 700 Td (Polyglot) Tj ET") + zip;
  const Rendered r = render(pdf);
  REQUIRE(r.summary);
  CHECK(words(r.pages[0]) == "Polyglot");
  const std::string out = rewrite(r.pages);
  CHECK_FALSE(has(out, "PK\x03\x04"));
  CHECK_FALSE(has(out, "evil"));
}

TEST_CASE("a password-protected PDF (qpdf --encrypt) is refused as such") {
  if (std::system("qpdf --version >/dev/null 2>&1") != 0) {
    MESSAGE("skipped: qpdf is not installed");
    return;
  }
  const mugai::test::TempDir dir;
  const std::string plain = dir.path() + "/plain.pdf", locked = dir.path() + "/locked.pdf";
  std::ofstream(plain, std::ios::binary) << one_page("BT /F1 24 Tf 72 700 Td (Secret) Tj ET");
  REQUIRE(std::system(("qpdf --encrypt user owner 256 -- " + plain + " " + locked).c_str()) == 0);
  std::stringstream bytes;
  bytes << std::ifstream(locked, std::ios::binary).rdbuf();
  const Rendered r = render(bytes.str());
  REQUIRE_FALSE(r.summary);
  CHECK(r.summary.error().message == "password-protected PDF");
}

TEST_CASE("pdf_render through the pipeline: named .pdf, the text under a heading, notes in the notice") {
  using namespace mugai::sanitize;
  using mugai::sanitize::test::test_context;
  REQUIRE(prepare());
  const auto message = [](const std::string& name, const std::string& pdf) {
    const std::string b64 = base64_encode(pdf);
    return "From: a@sender.example\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
           "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
           "--b\r\nContent-Type: application/pdf; name=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
           b64 + "\r\n--b--\r\n";
  };
  const MessageContext ctx = test_context();
  Policy policy;
  const Outcome out = sanitize_message(message("invoice", japanese_page("898B7A4D66F8")), ctx, policy);  // 見積書
  REQUIRE(out.verdict == Outcome::Verdict::Sanitized);
  CHECK(has(out.message, "name=\"invoice.pdf\""));
  CHECK(has(out.report_json, "\"decision\":\"replaced\""));
  CHECK(has(out.report_json, "1 of 1 page(s) rendered at up to 150 dpi"));

  // Three pages, two allowed, 1 KiB of text: both cuts are noted.
  std::string lines = "BT /F1 10 Tf 72 700 Td 12 TL ";
  for (int i = 0; i < 60; ++i) lines += "(Line of text number " + std::to_string(i) + ") ' ";
  lines += "ET";
  const std::string page = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 6 0 R >> "
                           ">> /Contents 7 0 R >>";
  const std::string three = pdf_of({"<< /Type /Catalog /Pages 2 0 R >>",
                                    "<< /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] /Count 3 >>", page, page, page,
                                    kHelvetica, stream("", lines)});
  policy.render.max_pages = 2;
  policy.render.max_text = 1024;
  const Outcome cut = sanitize_message(message("見積書.pdf", three), ctx, policy);
  REQUIRE(cut.verdict == Outcome::Verdict::Sanitized);
  CHECK(has(cut.report_json, "2 of 3 page(s) rendered at up to 150 dpi; 1 page(s) after page 2 left out "
                             "(render.max_pages); text cut at 1024 bytes (render.max_text)"));
}

// A converter standing in for LibreOffice (office/ has the real one, tests/office its tests): what
// office_render does with each kind of answer.
class FixedConverter final : public mugai::sanitize::DocumentConverter {
 public:
  explicit FixedConverter(mugai::Expected<std::string> answer) : answer_(std::move(answer)) {}
  mugai::Expected<std::string> to_pdf(std::string_view, std::string_view format) const override {
    formats.emplace_back(format);
    return answer_;
  }
  mutable std::vector<std::string> formats;

 private:
  mugai::Expected<std::string> answer_;
};

TEST_CASE("office_render: the converter's PDF is rendered, its refusal removes the part, its absence retries") {
  using namespace mugai::sanitize;
  using mugai::sanitize::test::test_context;
  REQUIRE(prepare());
  // RTF is what libmagic detects from the first bytes alone, whatever the declared type says.
  const std::string message =
      "From: a@sender.example\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
      "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
      "--b\r\nContent-Type: application/octet-stream; name=\"estimate.doc\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      base64_encode("{\\rtf1\\ansi Estimate 2026\\par}") + "\r\n--b--\r\n";
  const MessageContext ctx = test_context();
  Policy policy;

  const Outcome none = sanitize_message(message, ctx, policy);
  REQUIRE(none.verdict == Outcome::Verdict::Sanitized);
  CHECK(has(none.report_json, "no document converter here"));

  const FixedConverter converts(one_page("BT /F1 24 Tf 72 700 Td (Estimate 2026) Tj ET"));
  policy.converter = &converts;
  const Outcome out = sanitize_message(message, ctx, policy);
  REQUIRE(out.verdict == Outcome::Verdict::Sanitized);
  CHECK(converts.formats == std::vector<std::string>{"rtf"});
  CHECK(has(out.message, "name=\"estimate.pdf\""));
  CHECK(has(out.message, "Estimate 2026"));
  CHECK(has(out.report_json, "converted from rtf by LibreOffice; 1 of 1 page(s) rendered"));
  CHECK(has(out.report_json, "\"sanitizer\":\"office_render\""));

  const FixedConverter refuses(mugai::Error{"LibreOffice crashed (signal 11)", DocumentConverter::kRefused});
  policy.converter = &refuses;
  const Outcome removed = sanitize_message(message, ctx, policy);
  REQUIRE(removed.verdict == Outcome::Verdict::Sanitized);
  REQUIRE(removed.quarantine);
  CHECK(removed.quarantine->parts.at(0).reason == "LibreOffice crashed (signal 11)");

  // The host, not the document, failed: nothing is held or delivered; the gateway tries again later.
  const FixedConverter unavailable(mugai::Error{"cannot start bubblewrap: No such file", DocumentConverter::kUnavailable});
  policy.converter = &unavailable;
  const Outcome later = sanitize_message(message, ctx, policy);
  CHECK(later.verdict == Outcome::Verdict::Failed);
  CHECK(later.reason == "part 1.2: cannot start bubblewrap: No such file");
  CHECK_FALSE(later.quarantine);
  CHECK(later.message.empty());

  // A PDF that is not one is as untrusted as any other: removed by the renderer, saying why.
  const FixedConverter garbage(std::string("%PDF-1.4 not really"));
  policy.converter = &garbage;
  const Outcome broken = sanitize_message(message, ctx, policy);
  REQUIRE(broken.quarantine);
  CHECK(has(broken.quarantine->parts.at(0).reason, "PDF"));
}

}  // namespace mugai::render::test
