// Internal to render/: the per-format decoders behind decode_image() and the two steps they share
// (the size bound before allocation, alpha onto white). Each decoder takes bytes whose signature
// sniff_image() recognised, and returns an RGB or gray Raster or a reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/expected.hpp"
#include "render/image_decode.hpp"
#include "render/raster.hpp"

namespace mugai::render::detail {

// Refuses an empty size or one above `max_pixels`, naming the size and the limit.
Status check_pixels(std::string_view format, std::uint64_t width, std::uint64_t height, std::uint64_t max_pixels);

// RGBA rows (`stride` bytes apart) to RGB composed onto white; `premultiplied` when the colour is
// already multiplied by alpha (libtiff's RGBA interface).
Raster compose_on_white(std::uint32_t width, std::uint32_t height, const std::uint8_t* rgba, std::size_t stride,
                        bool premultiplied = false);

Expected<DecodedImage> decode_jpeg(std::string_view untrusted, std::uint64_t max_pixels);
Expected<DecodedImage> decode_png(std::string_view untrusted, std::uint64_t max_pixels);
Expected<DecodedImage> decode_gif(std::string_view untrusted, std::uint64_t max_pixels);
Expected<DecodedImage> decode_tiff(std::string_view untrusted, std::uint64_t max_pixels);
Expected<DecodedImage> decode_webp(std::string_view untrusted, std::uint64_t max_pixels);

}  // namespace mugai::render::detail
