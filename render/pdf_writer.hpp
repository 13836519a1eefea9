// Writes a fresh image PDF from pixels and positioned text only: its inputs are Raster and TextBox values,
// never a document's bytes, so nothing of an original (scripts, actions, forms, annotations, links,
// embedded files, metadata, fonts) can be carried over. Each page is one image and an invisible text layer
// (render mode 3) in Type3 fonts whose glyphs draw nothing, so the output holds no font program at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/expected.hpp"
#include "render/raster.hpp"

namespace mugai::render {

// How a page's pixels were stored, chosen from the pixels (see pdf_writer.cpp).
enum class PageEncoding { Jpeg, Flate4 };

class PdfWriter {
 public:
  explicit PdfWriter(unsigned jpeg_quality);

  // Appends one page of raster's size at `dpi` (page size in points = pixels × 72 / dpi) with `boxes`
  // (pixel coordinates, origin top left) as its text layer. Pages are encoded as they come, so only one
  // raster is alive at a time.
  Status add_page(const Raster& raster, const std::vector<TextBox>& boxes, double dpi);
  // The finished file. The writer is spent afterwards.
  Expected<std::string> finish();

  std::size_t pages() const { return pages_.size(); }
  std::size_t bytes() const { return out_.size(); }
  const std::vector<PageEncoding>& encodings() const { return encodings_; }

 private:
  struct Font {
    std::uint32_t object = 0;  // its ToUnicode stream is object + 1, its FontDescriptor object + 2
    std::vector<char32_t> code_points;  // code i shows code_points[i]
  };
  std::uint32_t begin_object();
  void write_stream(std::uint32_t object, const std::string& dict, const std::string& data);
  // The font and code that stand for `cp` in the text layer, made on first use.
  std::pair<std::size_t, std::uint8_t> code_for(char32_t cp);
  std::string text_layer(const std::vector<TextBox>& boxes, double scale, double page_height_pt,
                         std::vector<std::size_t>& fonts_used);

  unsigned jpeg_quality_;
  std::string out_;
  std::vector<std::size_t> offsets_;  // by object number; 0 = not written yet
  std::vector<std::uint32_t> pages_;  // page objects
  std::vector<PageEncoding> encodings_;
  std::vector<Font> fonts_;
  std::unordered_map<char32_t, std::pair<std::size_t, std::uint8_t>> codes_;  // code point → font, code
  bool finished_ = false;
};

}  // namespace mugai::render
