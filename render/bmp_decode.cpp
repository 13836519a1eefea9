// BMP, written here because Debian ships no BMP library: every field is read through bounds-checked
// helpers, sizes are computed in 64 bits, RLE runs are clipped to the image (a run past a row's end or
// below the last row writes nothing), and anything unusual is refused with a reason.
#include "render/bmp_decode.hpp"

#include <array>
#include <bit>
#include <string>
#include <vector>

#include "render/image_codecs.hpp"

namespace mugai::render {
namespace {

enum Compression : std::uint32_t { kRgb = 0, kRle8 = 1, kRle4 = 2, kBitfields = 3, kJpeg = 4, kPng = 5, kAlphaBitfields = 6 };

std::uint32_t u16(std::string_view b, std::size_t at) {
  return static_cast<unsigned char>(b[at]) | (static_cast<unsigned char>(b[at + 1]) << 8);
}
std::uint32_t u32(std::string_view b, std::size_t at) {
  return u16(b, at) | (u16(b, at + 2) << 16);
}

// One channel of a BI_BITFIELDS pixel scaled to 8 bits; a mask's lowest set bit is its shift.
struct Channel {
  std::uint32_t mask = 0;
  int shift = 0;
  std::uint64_t max = 0;
  explicit Channel(std::uint32_t m) : mask(m) {
    if (m == 0) return;
    shift = std::countr_zero(m);
    max = m >> shift;
  }
  std::uint8_t operator()(std::uint32_t px) const {
    if (max == 0) return 0;
    return static_cast<std::uint8_t>(((px & mask) >> shift) * 255 / max);
  }
};

Error bmp_error(std::string what) { return Error{"BMP: " + std::move(what)}; }

// RLE8/RLE4 into palette indices, rows bottom-up as stored. Stops at end of bitmap, at the end of the
// data, or below the last row; an absolute run cut off by the end of the data is truncation.
Status decode_rle(std::string_view d, bool rle4, std::uint32_t w, std::uint32_t h, std::vector<std::uint8_t>& idx) {
  std::uint64_t x = 0, y = 0;
  std::size_t i = 0;
  const auto put = [&](std::uint8_t v) {
    if (x < w && y < h) idx[y * w + x] = v;
    ++x;
  };
  while (i + 1 < d.size() && y < h) {
    const auto count = static_cast<unsigned char>(d[i]);
    const auto value = static_cast<unsigned char>(d[i + 1]);
    i += 2;
    if (count > 0) {  // a run of `count` pixels
      const std::uint64_t n = x < w ? std::min<std::uint64_t>(count, w - x) : 0;  // the rest falls off the row
      for (std::uint64_t k = 0; k < n; ++k) put(rle4 ? (k % 2 == 0 ? value >> 4 : value & 0x0F) : value);
      x += count - n;
      continue;
    }
    if (value == 0) {  // end of line
      x = 0;
      ++y;
    } else if (value == 1) {  // end of bitmap
      break;
    } else if (value == 2) {  // delta
      if (i + 1 >= d.size()) return bmp_error("truncated RLE data");
      x += static_cast<unsigned char>(d[i]);
      y += static_cast<unsigned char>(d[i + 1]);
      i += 2;
    } else {  // absolute: `value` literal pixels, padded to 16 bits
      const std::size_t bytes = rle4 ? (value + 1) / 2 : value;
      if (i + bytes > d.size()) return bmp_error("truncated RLE data");
      for (unsigned k = 0; k < value; ++k) {
        const auto byte = static_cast<unsigned char>(d[i + (rle4 ? k / 2 : k)]);
        put(rle4 ? (k % 2 == 0 ? byte >> 4 : byte & 0x0F) : byte);
      }
      i += bytes + (bytes % 2);
    }
  }
  return Ok{};
}

}  // namespace

Expected<Raster> decode_bmp(std::string_view b, std::uint64_t max_pixels) {
  if (b.size() < 18 || !b.starts_with("BM")) return bmp_error("not a BMP file");
  const std::uint32_t data_offset = u32(b, 10);
  const std::uint32_t header = u32(b, 14);
  const bool core = header == 12;  // OS/2 1.x BITMAPCOREHEADER: 16-bit sizes, 3-byte palette entries
  if (!core && header != 40 && header != 52 && header != 56 && header != 64 && header != 108 && header != 124) {
    return bmp_error("unknown header size " + std::to_string(header));
  }
  if (14 + std::uint64_t{header} > b.size()) return bmp_error("truncated header");
  std::int64_t width = 0, height = 0;
  std::uint32_t planes = 0, bpp = 0, compression = kRgb, colours_used = 0;
  if (core) {
    width = u16(b, 18);
    height = u16(b, 20);
    planes = u16(b, 22);
    bpp = u16(b, 24);
  } else {
    width = static_cast<std::int32_t>(u32(b, 18));
    height = static_cast<std::int32_t>(u32(b, 22));
    planes = u16(b, 26);
    bpp = u16(b, 28);
    compression = u32(b, 30);
    colours_used = u32(b, 46);
  }
  // OS/2 2.x numbers its own compressions 3 (Huffman 1D) and 4 (RLE24), neither of them supported.
  if (header == 64 && compression > kRle4) return bmp_error("OS/2 compression " + std::to_string(compression) + " is not supported");
  if (compression == kJpeg || compression == kPng) {
    return bmp_error(std::string("embeds a ") + (compression == kJpeg ? "JPEG" : "PNG") +
                     " (BI_JPEG/BI_PNG), which is not decoded; send the picture as a JPEG or PNG file");
  }
  if (compression > kAlphaBitfields) return bmp_error("unknown compression " + std::to_string(compression));
  const bool top_down = height < 0;
  if (top_down) height = -height;  // from int32: no overflow in 64 bits
  if (width <= 0 || height <= 0) return bmp_error("width and height must be positive");
  if (auto st = detail::check_pixels("BMP", static_cast<std::uint64_t>(width), static_cast<std::uint64_t>(height), max_pixels);
      !st) {
    return st.error();
  }
  if (planes != 1) return bmp_error("planes must be 1, not " + std::to_string(planes));
  const bool rle = compression == kRle8 || compression == kRle4;
  const bool bitfields = compression == kBitfields || compression == kAlphaBitfields;
  if ((compression == kRle8 && bpp != 8) || (compression == kRle4 && bpp != 4) ||
      (bitfields && bpp != 16 && bpp != 32) ||
      (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)) {
    return bmp_error(std::to_string(bpp) + " bits per pixel with compression " + std::to_string(compression) +
                     " is not a valid combination");
  }
  if (rle && top_down) return bmp_error("an RLE bitmap cannot be top-down");

  // Masks: in the header from V2 (52 bytes) on, else right after a 40-byte header.
  std::size_t after_header = 14 + header;
  std::array<std::uint32_t, 4> masks{};  // R, G, B, A
  if (bitfields) {
    const std::size_t count = header == 40 ? (compression == kAlphaBitfields ? 4 : 3) : (header >= 56 ? 4 : 3);
    if (14 + 40 + count * 4 > b.size()) return bmp_error("truncated colour masks");
    for (std::size_t k = 0; k < count; ++k) masks[k] = u32(b, 14 + 40 + k * 4);
    if (header == 40) after_header += count * 4;
  } else if (bpp == 16) {
    masks = {0x7C00, 0x03E0, 0x001F, 0};
  } else if (bpp == 32) {
    masks = {0xFF0000, 0xFF00, 0xFF, 0};  // the fourth byte of BI_RGB is reserved, not alpha
  }

  // Palette (≤ 8 bpp): colours_used entries, or all 2^bpp; an index beyond it is black.
  std::array<std::array<std::uint8_t, 3>, 256> palette{};
  if (bpp <= 8) {
    const std::uint64_t entries = std::min<std::uint64_t>(colours_used != 0 ? colours_used : (1u << bpp), 1u << bpp);
    const std::size_t entry = core ? 3 : 4;
    if (after_header + entries * entry > b.size()) return bmp_error("truncated palette");
    for (std::size_t k = 0; k < entries; ++k) {
      const std::size_t at = after_header + k * entry;  // stored B, G, R
      palette[k] = {static_cast<std::uint8_t>(b[at + 2]), static_cast<std::uint8_t>(b[at + 1]),
                    static_cast<std::uint8_t>(b[at])};
    }
  }
  if (data_offset >= b.size()) return bmp_error("the pixel data offset lies beyond the file");
  const std::string_view data = b.substr(data_offset);

  const auto w = static_cast<std::uint32_t>(width);
  const auto h = static_cast<std::uint32_t>(height);
  Raster r;
  r.width = w;
  r.height = h;
  r.channels = 3;
  r.pixels.resize(std::size_t{w} * h * 3);
  const auto set = [&](std::uint32_t x, std::uint32_t stored_row, std::array<std::uint8_t, 3> rgb) {
    const std::uint32_t y = top_down ? stored_row : h - 1 - stored_row;
    std::uint8_t* px = &r.pixels[(std::size_t{y} * w + x) * 3];
    px[0] = rgb[0];
    px[1] = rgb[1];
    px[2] = rgb[2];
  };

  if (rle) {
    std::vector<std::uint8_t> idx(std::size_t{w} * h, 0);
    if (auto st = decode_rle(data, compression == kRle4, w, h, idx); !st) return st.error();
    for (std::uint32_t row = 0; row < h; ++row) {
      for (std::uint32_t x = 0; x < w; ++x) set(x, row, palette[idx[std::size_t{row} * w + x]]);
    }
    return r;
  }

  const std::uint64_t row_bytes = (std::uint64_t{w} * bpp + 31) / 32 * 4;
  if (row_bytes * h > data.size()) {
    return bmp_error("truncated pixel data (" + std::to_string(data.size()) + " bytes, " +
                     std::to_string(row_bytes * h) + " needed)");
  }
  const Channel red(masks[0]), green(masks[1]), blue(masks[2]), alpha(masks[3]);
  // An alpha mask counts only when some pixel uses it: many writers leave it zero everywhere.
  bool any_alpha = false;
  std::vector<std::uint8_t> alphas;
  if (masks[3] != 0) alphas.resize(std::size_t{w} * h);
  for (std::uint32_t row = 0; row < h; ++row) {
    const std::string_view line = data.substr(row * row_bytes, row_bytes);
    for (std::uint32_t x = 0; x < w; ++x) {
      if (bpp <= 8) {
        const std::uint64_t bit = std::uint64_t{x} * bpp;
        const auto byte = static_cast<unsigned char>(line[bit / 8]);
        const unsigned index = (byte >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
        set(x, row, palette[index]);
      } else if (bpp == 24) {
        const std::size_t at = std::size_t{x} * 3;
        set(x, row, {static_cast<std::uint8_t>(line[at + 2]), static_cast<std::uint8_t>(line[at + 1]),
                     static_cast<std::uint8_t>(line[at])});
      } else {
        const std::uint32_t px = bpp == 16 ? u16(line, std::size_t{x} * 2) : u32(line, std::size_t{x} * 4);
        set(x, row, {red(px), green(px), blue(px)});
        if (!alphas.empty()) {
          const std::uint32_t y = top_down ? row : h - 1 - row;
          alphas[std::size_t{y} * w + x] = alpha(px);
          any_alpha = any_alpha || alpha(px) != 0;
        }
      }
    }
  }
  if (any_alpha) {
    for (std::size_t i = 0; i < alphas.size(); ++i) {
      for (int c = 0; c < 3; ++c) {
        std::uint8_t& v = r.pixels[i * 3 + c];
        v = static_cast<std::uint8_t>((v * alphas[i] + 255 * (255 - alphas[i]) + 127) / 255);
      }
    }
  }
  return r;
}

}  // namespace mugai::render
