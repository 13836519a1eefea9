// A small BMP decoder (Debian has no BMP library of its own): 1/4/8/16/24/32 bpp, BI_RGB, BI_BITFIELDS,
// RLE4/RLE8, bottom-up and top-down. Every offset is checked against the buffer; BMPs that embed a
// JPEG or PNG are refused, as are other compressions.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/expected.hpp"
#include "render/raster.hpp"

namespace mugai::render {

// An RGB raster; width × height above `max_pixels` is refused before anything is allocated.
Expected<Raster> decode_bmp(std::string_view untrusted, std::uint64_t max_pixels);

}  // namespace mugai::render
