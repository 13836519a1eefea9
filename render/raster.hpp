// The only thing that crosses from a renderer (which parsed hostile bytes) to a writer (which never
// sees them): plain pixels, and for documents the text with its positions. Everything is a value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mugai::render {

// Tightly packed rows, top to bottom: `channels` bytes per pixel, 1 = 8-bit gray, 3 = 8-bit RGB.
struct Raster {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t channels = 3;
  std::vector<std::uint8_t> pixels;  // width * height * channels
};

// A run of text on a rendered page, in the page's pixel coordinates (origin top left).
struct TextBox {
  std::string text;  // UTF-8, one word or glyph run
  double x = 0, y = 0, width = 0, height = 0;
  bool space_after = false;
  unsigned rotation = 0;  // reading direction in quarter turns clockwise: 1 top to bottom (vertical writing)
};

}  // namespace mugai::render
