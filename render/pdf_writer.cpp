// The image PDF writer. Every byte of the output is produced here from numbers, pixels and code points;
// text reaches the file only as hex codes of our own fonts and as UTF-16BE in their ToUnicode CMaps.
//
// Encoding per page, measured on text and scanned pages at 150 dpi (see tests/bench/render_bench.sh):
// pages of text and graphics have few distinct values and long flat runs, so 16 levels per component
// (4 bits; antialiased glyph edges still read the same) under Flate are smaller than JPEG, and sharper; photographic pages (scans, photos) are JPEG. Gray pages (every
// pixel's channels within kGrayTolerance) are stored as one channel either way.
#include "render/pdf_writer.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "common/utf8.hpp"
#include "render/encode.hpp"

namespace mugai::render {
namespace {

constexpr int kGrayTolerance = 6;
// A page is photographic when more than this share of horizontally adjacent samples differ after the
// reduction to 16 levels. Measured at 150 dpi: text pages 0.1–11 % (pdkids.pdf, the dense IRS form
// prefilled_f1040.pdf), clean and binarized scans under 1 %, a full-page photo 35 %. A page with a small
// photo on it stays Flate: its text stays sharp, the photo shows 16 levels per channel.
constexpr double kPhotographicShare = 0.2;
constexpr std::uint32_t kFirstPageObject = 4;  // 1 catalog, 2 page tree, 3 the empty glyph procedure
constexpr std::size_t kCodesPerFont = 256;

std::string num(double v) {
  std::array<char, 32> buf{};
  if (!std::isfinite(v)) v = 0;
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::fixed, 2);
  std::string s(buf.data(), r.ptr);
  // "12.50" → "12.5", "3.00" → "3": shorter content streams.
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

std::string ref(std::uint32_t object) { return std::to_string(object) + " 0 R"; }

// Row by row without a branch per pixel, so the compiler vectorizes it; stops at the first coloured row.
bool is_gray(const Raster& r) {
  if (r.channels == 1) return true;
  const std::size_t stride = std::size_t{r.width} * 3;
  for (std::uint32_t y = 0; y < r.height; ++y) {
    const std::uint8_t* p = r.pixels.data() + y * stride;
    unsigned colour = 0;
    for (std::size_t x = 0; x < stride; x += 3) {
      colour |= static_cast<unsigned>(p[x] - p[x + 1] + kGrayTolerance) > 2 * kGrayTolerance;
      colour |= static_cast<unsigned>(p[x + 1] - p[x + 2] + kGrayTolerance) > 2 * kGrayTolerance;
    }
    if (colour != 0) return false;
  }
  return true;
}

// One channel of a gray page kept in three: the green one.
Raster to_gray(const Raster& r) {
  if (r.channels == 1) return r;
  Raster g{r.width, r.height, 1, {}};
  g.pixels.resize(std::size_t{r.width} * r.height);
  for (std::size_t i = 0; i < g.pixels.size(); ++i) g.pixels[i] = r.pixels[3 * i + 1];
  return g;
}

// 8 bits to 16 levels, rounded.
constexpr auto kLevel16 = [] {
  std::array<std::uint8_t, 256> t{};
  for (unsigned v = 0; v < 256; ++v) t[v] = static_cast<std::uint8_t>((v * 15 + 127) / 255);
  return t;
}();

// Samples of a row as stored: every channel of an RGB page, only green (offset 1, step 3) of a gray
// page still held as RGB.
struct Samples {
  std::size_t first, step, count;
};
Samples samples_of(const Raster& r, bool gray) {
  if (gray && r.channels == 3) return {1, 3, r.width};
  return {0, 1, std::size_t{r.width} * r.channels};
}

bool photographic(const Raster& r, bool gray) {
  const Samples s = samples_of(r, gray);
  const std::size_t stride = std::size_t{r.width} * r.channels;
  const std::size_t neighbour = gray ? s.step : 3;  // the same channel of the pixel to the left
  std::uint64_t pairs = 0, differ = 0;
  for (std::uint32_t y = 0; y < r.height; y += 4) {  // every fourth row is enough to tell
    const std::uint8_t* p = r.pixels.data() + y * stride;
    for (std::size_t x = s.first + neighbour; x < stride; x += s.step) {
      ++pairs;
      differ += kLevel16[p[x]] != kLevel16[p[x - neighbour]];
    }
  }
  return pairs > 0 && static_cast<double>(differ) > kPhotographicShare * static_cast<double>(pairs);
}

// 4 bits per sample, rows padded to whole bytes, high nibble first (PDF's packing). No PNG predictor:
// on text pages it made the Flate stream larger, not smaller (pdkids.pdf page 1: 116 KB vs 109 KB).
std::string pack4(const Raster& r, bool gray) {
  const Samples s = samples_of(r, gray);
  const std::size_t stride = std::size_t{r.width} * r.channels;
  const std::size_t row = (s.count + 1) / 2;
  std::string out(row * r.height, '\0');
  for (std::uint32_t y = 0; y < r.height; ++y) {
    const std::uint8_t* p = r.pixels.data() + y * stride + s.first;
    char* o = out.data() + y * row;
    if (s.step == 3) {  // the common case (a gray page rendered as RGB), kept apart so it stays a tight loop
      for (std::size_t i = 0; i + 1 < s.count; i += 2) {
        o[i / 2] = static_cast<char>(kLevel16[p[i * 3]] << 4 | kLevel16[p[i * 3 + 3]]);
      }
      if (s.count % 2 == 1) o[s.count / 2] = static_cast<char>(kLevel16[p[(s.count - 1) * 3]] << 4);
      continue;
    }
    for (std::size_t i = 0; i < s.count; i += 2) {
      const unsigned hi = kLevel16[p[i * s.step]];
      const unsigned lo = i + 1 < s.count ? kLevel16[p[(i + 1) * s.step]] : 0;
      o[i / 2] = static_cast<char>(hi << 4 | lo);
    }
  }
  return out;
}

void hex_byte(std::string& s, unsigned v) {
  constexpr std::string_view digits = "0123456789ABCDEF";
  s.push_back(digits[(v >> 4) & 0xF]);
  s.push_back(digits[v & 0xF]);
}

// UTF-16BE of one code point, surrogate pairs above U+FFFF, as CMap hex.
std::string utf16_hex(char32_t cp) {
  std::string s;
  const auto unit = [&](unsigned u) {
    hex_byte(s, u >> 8);
    hex_byte(s, u & 0xFF);
  };
  if (cp >= 0x10000) {
    const unsigned v = static_cast<unsigned>(cp) - 0x10000;
    unit(0xD800 + (v >> 10));
    unit(0xDC00 + (v & 0x3FF));
  } else {
    unit(static_cast<unsigned>(cp));
  }
  return s;
}

std::string to_unicode_cmap(const std::vector<char32_t>& code_points) {
  std::string s =
      "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
      "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
      "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<00> <FF>\nendcodespacerange\n";
  for (std::size_t i = 0; i < code_points.size(); i += 100) {  // at most 100 entries per block
    const std::size_t n = std::min<std::size_t>(100, code_points.size() - i);
    s += std::to_string(n) + " beginbfchar\n";
    for (std::size_t k = i; k < i + n; ++k) {
      s += "<";
      hex_byte(s, static_cast<unsigned>(k));
      s += "> <" + utf16_hex(code_points[k]) + ">\n";
    }
    s += "endbfchar\n";
  }
  s += "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n";
  return s;
}

std::vector<char32_t> code_points(std::string_view utf8_text) {
  std::vector<char32_t> out;
  for (std::size_t i = 0; i < utf8_text.size();) {
    const std::size_t n = utf8::sequence_length(utf8_text, i);
    if (n == 0) {
      ++i;
      continue;
    }
    out.push_back(utf8::code_point(utf8_text, i, n));
    i += n;
  }
  return out;
}

}  // namespace

PdfWriter::PdfWriter(unsigned jpeg_quality) : jpeg_quality_(jpeg_quality) {
  out_ = "%PDF-1.7\n%\xE2\xE3\xCF\xD3\n";
  offsets_.assign(kFirstPageObject, 0);
  write_stream(3, "", "500 0 d0");
}

std::uint32_t PdfWriter::begin_object() {
  offsets_.push_back(0);
  return static_cast<std::uint32_t>(offsets_.size() - 1);
}

void PdfWriter::write_stream(std::uint32_t object, const std::string& dict, const std::string& data) {
  offsets_[object] = out_.size();
  out_ += std::to_string(object) + " 0 obj\n<< " + dict + " /Length " + std::to_string(data.size()) + " >>\nstream\n";
  out_ += data;
  out_ += "\nendstream\nendobj\n";
}

std::pair<std::size_t, std::uint8_t> PdfWriter::code_for(char32_t cp) {
  if (const auto it = codes_.find(cp); it != codes_.end()) return it->second;
  if (fonts_.empty() || fonts_.back().code_points.size() == kCodesPerFont) {
    Font f;
    f.object = begin_object();
    begin_object();  // its ToUnicode CMap
    begin_object();  // its FontDescriptor
    fonts_.push_back(std::move(f));
  }
  Font& f = fonts_.back();
  const std::pair<std::size_t, std::uint8_t> code{fonts_.size() - 1, static_cast<std::uint8_t>(f.code_points.size())};
  f.code_points.push_back(cp);
  codes_.emplace(cp, code);
  return code;
}

// Each word starts at its box's leading edge on a baseline a fifth of its height above the bottom (the
// fonts' FontBBox puts the descent there), in a font size of the box's height, scaled horizontally (Tz)
// so that its glyphs span the box: search hits and selections cover the words seen. The glyphs are half an
// em wide because text extractors guess a Type3 font's scale from a glyph's width against 0.5 em
// (poppler's TextOutputDev); the FontDescriptor's ascent and descent give the box its height.
std::string PdfWriter::text_layer(const std::vector<TextBox>& boxes, double scale, double page_height_pt,
                                  std::vector<std::size_t>& fonts_used) {
  std::string s;
  if (boxes.empty()) return s;
  s += "BT\n3 Tr\n";
  std::size_t current_font = SIZE_MAX;
  double current_size = -1;
  for (const TextBox& b : boxes) {
    const std::vector<char32_t> cps = code_points(b.text);
    if (cps.empty()) continue;
    // In PDF space (y up): the box's edges, and the word's extent along and across its reading direction.
    const double left = b.x * scale, right = (b.x + b.width) * scale;
    const double top = page_height_pt - b.y * scale, bottom = page_height_pt - (b.y + b.height) * scale;
    const bool upright = b.rotation % 2 == 0;
    const double size = std::max(1.0, upright ? top - bottom : right - left);
    const double length = std::max(0.0, upright ? right - left : top - bottom);
    const double tz = std::clamp(200 * length / (static_cast<double>(cps.size()) * size), 1.0, 10000.0);
    // Tm = [advance, up, origin on the baseline]: turned words are written turned, so extractors read
    // vertical and rotated text in its order instead of glyphs squeezed onto one spot.
    const std::string matrix = b.rotation == 1   ? "0 -1 1 0 " + num(left + size / 5) + " " + num(top)
                               : b.rotation == 2 ? "-1 0 0 -1 " + num(right) + " " + num(top - size / 5)
                               : b.rotation == 3 ? "0 1 -1 0 " + num(right - size / 5) + " " + num(bottom)
                                                 : "1 0 0 1 " + num(left) + " " + num(bottom + size / 5);
    s += num(tz) + " Tz " + matrix + " Tm\n";
    for (std::size_t i = 0; i < cps.size();) {
      const std::size_t font = code_for(cps[i]).first;
      if (font != current_font || size != current_size) {
        s += "/F" + std::to_string(font) + " " + num(size) + " Tf\n";
        current_font = font;
        current_size = size;
        if (std::find(fonts_used.begin(), fonts_used.end(), font) == fonts_used.end()) fonts_used.push_back(font);
      }
      s += "<";
      for (; i < cps.size() && code_for(cps[i]).first == font; ++i) hex_byte(s, code_for(cps[i]).second);
      s += "> Tj\n";
    }
  }
  s += "ET\n";
  return s;
}

Status PdfWriter::add_page(const Raster& raster, const std::vector<TextBox>& boxes, double dpi) {
  if (finished_) return Error{"pdf writer: already finished"};
  if (raster.width == 0 || raster.height == 0 || (raster.channels != 1 && raster.channels != 3) ||
      raster.pixels.size() != std::size_t{raster.width} * raster.height * raster.channels) {
    return Error{"pdf writer: malformed raster"};
  }
  if (!(dpi > 0) || !std::isfinite(dpi)) return Error{"pdf writer: resolution must be positive"};
  const bool gray = is_gray(raster);
  const bool photo = photographic(raster, gray);
  const std::string image_dict = "/Type /XObject /Subtype /Image /Width " + std::to_string(raster.width) + " /Height " +
                                 std::to_string(raster.height) + " /ColorSpace " + (gray ? "/DeviceGray" : "/DeviceRGB");
  const std::uint32_t image = begin_object();
  if (photo) {
    auto jpeg = encode_jpeg(gray ? to_gray(raster) : raster, jpeg_quality_);
    if (!jpeg) return jpeg.error();
    write_stream(image, image_dict + " /BitsPerComponent 8 /Filter /DCTDecode", *jpeg);
  } else {
    // Level 1: on text pages levels 3 and 6 saved 5–15 % more for 1.2–3× the time.
    auto flate = deflate(pack4(raster, gray), 1);
    if (!flate) return flate.error();
    write_stream(image, image_dict + " /BitsPerComponent 4 /Filter /FlateDecode", *flate);
  }
  encodings_.push_back(photo ? PageEncoding::Jpeg : PageEncoding::Flate4);

  const double scale = 72 / dpi;
  const double w_pt = raster.width * scale, h_pt = raster.height * scale;
  std::vector<std::size_t> fonts_used;
  const std::string content =
      "q " + num(w_pt) + " 0 0 " + num(h_pt) + " 0 0 cm /Im0 Do Q\n" + text_layer(boxes, scale, h_pt, fonts_used);
  auto packed = deflate(content, 6);
  if (!packed) return packed.error();
  const std::uint32_t contents = begin_object();
  write_stream(contents, "/Filter /FlateDecode", *packed);

  std::string fonts;
  for (const std::size_t f : fonts_used) fonts += " /F" + std::to_string(f) + " " + ref(fonts_[f].object);
  const std::uint32_t page = begin_object();
  offsets_[page] = out_.size();
  out_ += std::to_string(page) + " 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 " + num(w_pt) + " " + num(h_pt) +
          "] /Resources << /XObject << /Im0 " + ref(image) + " >>" + (fonts.empty() ? "" : " /Font <<" + fonts + " >>") +
          " >> /Contents " + ref(contents) + " >>\nendobj\n";
  pages_.push_back(page);
  return Ok{};
}

Expected<std::string> PdfWriter::finish() {
  if (finished_) return Error{"pdf writer: already finished"};
  if (pages_.empty()) return Error{"pdf writer: no pages"};
  finished_ = true;
  for (const Font& f : fonts_) {
    const std::size_t n = f.code_points.size();
    std::string names, procs, widths;
    for (std::size_t i = 0; i < n; ++i) {
      names += " /g" + std::to_string(i);
      procs += " /g" + std::to_string(i) + " 3 0 R";
      widths += i ? " 500" : "500";
    }
    offsets_[f.object] = out_.size();
    out_ += std::to_string(f.object) +
            " 0 obj\n<< /Type /Font /Subtype /Type3 /FontBBox [0 -200 500 800] /FontMatrix [0.001 0 0 0.001 0 0]"
            " /CharProcs <<" + procs + " >> /Encoding << /Type /Encoding /Differences [0" + names +
            "] >> /FirstChar 0 /LastChar " + std::to_string(n - 1) + " /Widths [" + widths +
            "] /Resources << >> /ToUnicode " + ref(f.object + 1) + " /FontDescriptor " + ref(f.object + 2) + " >>\nendobj\n";
    write_stream(f.object + 1, "", to_unicode_cmap(f.code_points));
    offsets_[f.object + 2] = out_.size();
    out_ += std::to_string(f.object + 2) +
            " 0 obj\n<< /Type /FontDescriptor /FontName /MugaiText /Flags 4 /FontBBox [0 -200 500 800] /ItalicAngle 0"
            " /Ascent 800 /Descent -200 /CapHeight 700 /StemV 0 >>\nendobj\n";
  }
  offsets_[1] = out_.size();
  out_ += "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n";
  offsets_[2] = out_.size();
  std::string kids;
  for (const std::uint32_t p : pages_) kids += (kids.empty() ? "" : " ") + ref(p);
  out_ += "2 0 obj\n<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages_.size()) + " >>\nendobj\n";
  const std::size_t xref = out_.size();
  out_ += "xref\n0 " + std::to_string(offsets_.size()) + "\n0000000000 65535 f \n";
  for (std::size_t i = 1; i < offsets_.size(); ++i) {
    std::array<char, 24> line{};
    std::snprintf(line.data(), line.size(), "%010zu 00000 n \n", offsets_[i]);
    out_ += line.data();
  }
  out_ += "trailer\n<< /Size " + std::to_string(offsets_.size()) + " /Root 1 0 R >>\nstartxref\n" +
          std::to_string(xref) + "\n%%EOF\n";
  return std::move(out_);
}

}  // namespace mugai::render
