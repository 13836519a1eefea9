// Images of hostile origin to plain pixels: JPEG, PNG, GIF, TIFF, WebP and BMP, each read from memory by
// its own library (BMP by bmp_decode.hpp), with the size from the header bounded before any pixel is
// allocated. What comes out is a Raster (gray or RGB, alpha composed onto white) and nothing else.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/expected.hpp"
#include "render/raster.hpp"

namespace mugai::render {

enum class ImageFormat { Jpeg, Png, Gif, Tiff, Webp, Bmp };

// "JPEG", "PNG", ...: for reasons and reports.
std::string_view image_format_name(ImageFormat format);

// The format by its leading signature (not by name or declared type), or nullopt.
std::optional<ImageFormat> sniff_image(std::string_view bytes);

struct DecodedImage {
  Raster raster;
  ImageFormat format = ImageFormat::Png;
  // The file holds more than the picture decoded (an animation's later frames, a TIFF's later pages).
  bool more_frames = false;
};

// Decodes the first frame or page. A header whose width × height exceeds `max_pixels` is refused
// before decoding, with a reason naming both; truncated or corrupt data and unsupported variants are
// refused with a reason, never delivered half-read.
Expected<DecodedImage> decode_image(std::string_view untrusted, std::uint64_t max_pixels);

}  // namespace mugai::render
