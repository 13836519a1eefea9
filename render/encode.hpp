// Encoders from pixels to the artefact formats: fresh files built only from a Raster, so nothing of
// an original (metadata, trailing bytes, chunks) can be carried over. Errors come back as values.
#pragma once

#include <string>
#include <string_view>

#include "common/expected.hpp"
#include "render/raster.hpp"

namespace mugai::render {

// Baseline JPEG (libjpeg-turbo), 4:2:0 for RGB; quality 1..100.
Expected<std::string> encode_jpeg(const Raster& raster, unsigned quality);
// 8-bit gray or RGB PNG: IHDR, one IDAT, IEND; no ancillary chunk at all.
Expected<std::string> encode_png(const Raster& raster);
// zlib stream (RFC 1950) of `bytes`, as PDF's FlateDecode reads it.
Expected<std::string> deflate(std::string_view bytes, int level = 9);

}  // namespace mugai::render
